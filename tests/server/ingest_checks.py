"""Helpers of the ingest hardening tests: one in-process app with a logged-in admin and an
API key, posting OTLP, and reading what was stored back through every read route."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, login
from tests.support.server import SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
CONSISTENT = {"consistent": "true"}  # read-your-writes, should it become opt-in


@contextmanager
def open_app(data: Path, **overrides: Any) -> Iterator[TestClient]:
    """The app in process (real store file, real pipeline): API calls carry the test key,
    web pages the admin's session cookie."""
    settings = make_settings(
        data, init_admin_email=ADMIN, init_admin_password=PASSWORD, **overrides
    )
    with TestClient(create_app(settings)) as c:  # a server error raises here, with its trace
        assert login(c, ADMIN, PASSWORD).status_code == 303
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


def post_protobuf(c: TestClient, body: bytes) -> httpx.Response:
    return c.post("/v1/traces", content=body, headers=PB)


def post_json(c: TestClient, body: bytes) -> httpx.Response:
    return c.post("/v1/traces", content=body, headers=JSON)


def rejected_spans(r: httpx.Response) -> tuple[int, str]:
    """``partial_success`` of a 200 ingest answer: (rejected spans, error message)."""
    if r.headers["content-type"].startswith("application/json"):
        partial = r.json().get("partialSuccess") or {}
        return int(partial.get("rejectedSpans") or 0), partial.get("errorMessage", "")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    msg = ExportTraceServiceResponse.FromString(r.content)
    return msg.partial_success.rejected_spans, msg.partial_success.error_message


def get_ok(c: TestClient, url: str, **params: Any) -> httpx.Response:
    r = c.get(url, params={**CONSISTENT, **params})
    assert r.status_code == 200, f"GET {url}: {r.status_code} {r.text[:500]}"
    return r


def observation_ids(trace: dict[str, Any]) -> set[str]:
    """Ids of every observation in a trace's tree."""
    out: set[str] = set()
    todo = list(trace["observations"])
    while todo:
        o = todo.pop()
        out.add(o["id"])
        todo.extend(o.get("children") or [])
    return out


def check_readable(c: TestClient, spans: dict[str, set[str]], web: bool = True) -> None:
    """Every read route answers 200, and every span of ``spans`` (trace id -> span ids) is in
    its trace; ``web``: the trace pages render too."""
    get_ok(c, "/api/traces", limit=100)
    get_ok(c, "/api/observations", limit=100)
    get_ok(c, "/api/sessions")
    get_ok(c, "/api/users")
    for trace_id, span_ids in spans.items():
        trace = get_ok(c, f"/api/traces/{trace_id}").json()
        missing = span_ids - observation_ids(trace)
        assert not missing, f"trace {trace_id}: acknowledged spans missing: {sorted(missing)}"
        if web:
            get_ok(c, f"/traces/{trace_id}")
    if web:
        get_ok(c, "/traces")
