"""`heron prices`: through the running server, and directly on a data directory."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from heron.model import ObservationRecord
from heron.store import EmbeddedStore
from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import ServerProject
from tests.test_cli import heron

MODEL = "acme-cli-llm"


def test_prices_through_the_running_server(server_project: ServerProject) -> None:
    project = server_project.name
    data = str(server_project.data_dir)
    tid = new_trace_id()
    spans = [
        span(
            tid,
            new_span_id(),
            f"g{i}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": MODEL,
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 100 * i,
            },
        )
        for i in range(1, 4)
    ]
    h = {**server_project.auth, "Content-Type": "application/x-protobuf"}
    url = server_project.url
    assert httpx.post(url + "/v1/traces", content=request(spans).SerializeToString(), headers=h)
    trace_url = url + f"/api/traces/{tid.hex()}?consistent=true"
    assert httpx.get(trace_url, headers=server_project.auth).json()["total_cost"] is None

    out = heron("prices", "unpriced", "--project", project, "--data-dir", data)
    assert out.returncode == 0, out.stderr + out.stdout
    assert MODEL in out.stdout and "3" in out.stdout
    bad = heron("prices", "add", MODEL, "--project", project, "--data-dir", data)
    assert bad.returncode == 1 and "--input" in bad.stdout
    bad = heron("prices", "add", MODEL, "--input", "1", "--pattern", "(?=x)",
                "--project", project, "--data-dir", data)  # fmt: skip
    assert bad.returncode == 1 and "lookahead" in bad.stdout
    out = heron("prices", "add", MODEL, "--input", "2", "--output", "4",
                "--project", project, "--data-dir", data)  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    assert f"Re-priced 3 observations of {MODEL}" in out.stdout
    trace = httpx.get(trace_url, headers=server_project.auth).json()
    expected = sum(1000 * 2e-06 + 100 * i * 4e-06 for i in range(1, 4))
    assert trace["total_cost"] == pytest.approx(expected, rel=1e-12)

    listing = heron("prices", "list", "--project", project, "--data-dir", data)
    assert listing.returncode == 0 and MODEL in listing.stdout and "gpt-4o" not in listing.stdout
    assert "gpt-4o" in heron("prices", "list", "--builtin", "--project", project,
                             "--data-dir", data).stdout  # fmt: skip
    again = heron("prices", "reprice", MODEL, "--project", project, "--data-dir", data)
    assert again.returncode == 0 and "Re-priced 3 observations" in again.stdout
    missing = heron("prices", "unpriced", "--project", "nope", "--data-dir", data)
    assert missing.returncode == 1 and "not found" in missing.stdout


def test_prices_without_a_server(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert heron("projects", "create", "solo", "--data-dir", str(data)).returncode == 0
    store = EmbeddedStore(data / "heron.duckdb")
    pid = store.project_by_name("solo")["id"]
    store.write_batch(
        [ObservationRecord(pid, "a" * 16, "b" * 32, None, "generation", "g", 1_760_000_000_000_000,
                           model=MODEL, usage={"input": 500, "output": 50})],
        [],
    )  # fmt: skip
    store.close()
    out = heron("prices", "add", MODEL, "--input", "1", "--output", "10", "--project", "solo",
                "--data-dir", str(data))  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    assert "Re-priced 1 observations" in out.stdout
    store = EmbeddedStore(data / "heron.duckdb")
    try:
        trace = store.get_trace(pid, "b" * 32)
        assert trace["total_cost"] == pytest.approx(500e-06 + 500e-06)
    finally:
        store.close()
    out = heron("prices", "unpriced", "--project", "solo", "--data-dir", str(data))
    assert out.returncode == 0 and MODEL not in out.stdout
