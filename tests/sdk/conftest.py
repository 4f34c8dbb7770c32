"""Fixtures of the SDK tests: a clean global heron client per test, and a client initialised
against a real ``heron serve`` process (``live_server``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import heron
from tests.support.server import PUBLIC_KEY, SECRET_KEY, HeronProcess


@pytest.fixture(autouse=True)
def _fresh_heron(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No HERON_* variables from the developer's shell; no client before or after a test."""
    for var in ("HERON_HOST", "HERON_PUBLIC_KEY", "HERON_SECRET_KEY", "HERON_SAMPLE_RATE"):
        monkeypatch.delenv(var, raising=False)
    heron.shutdown()
    yield
    heron.uninstrument_openai()
    heron.shutdown()


@pytest.fixture
def hr(live_server: HeronProcess) -> heron.HeronClient:
    """heron initialised against the live server."""
    return heron.init(
        host=live_server.url, public_key=PUBLIC_KEY, secret_key=SECRET_KEY, flush_interval=0.2
    )


def read_trace(server: HeronProcess, trace_id: str | None) -> dict[str, Any]:
    """Flush, then read one trace back through the API, asking for consistency (after
    ``heron.flush()`` returns, the spans are acknowledged; ``consistent=true`` reads them)."""
    assert trace_id is not None
    assert heron.flush(10)
    r = httpx.get(
        f"{server.url}/api/traces/{trace_id}",
        params={"consistent": "true"},
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def observations(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every observation of a trace tree by name (children nested as ``children``)."""
    out: dict[str, dict[str, Any]] = {}

    def walk(nodes: list[dict[str, Any]]) -> None:
        for n in nodes:
            out[n["name"]] = n
            walk(n["children"])

    walk(trace["observations"])
    return out


def child_names(obs: dict[str, Any]) -> list[str]:
    return sorted(c["name"] for c in obs["children"])


@pytest.fixture(scope="package")
def live_server(shared_server: HeronProcess) -> HeronProcess:
    """The run's shared server (``shared_server``; a start costs ~3.5 s of CPU): these tests
    each read back only their own traces, by id or by a name or user no other test sends."""
    return shared_server
