"""`heron demo` loads the workload through the real OTLP path into its own data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from heron.demo import SCORE_NAMES
from heron.query.metrics import parse_metrics_query
from heron.store import EmbeddedStore, ListQuery
from tests.support.server import free_port


def test_demo_loads_and_is_idempotent(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    args = [
        sys.executable,
        "-m",
        "heron.cli",
        "demo",
        "--traces",
        "300",
        "--days",
        "3",
        "--no-serve",
        "--port",
        str(free_port()),
        "--data-dir",
        str(data),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    out = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Loaded" in out.stdout and "secret key" in out.stdout

    again = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env)
    assert again.returncode == 0 and "already loaded" in again.stdout

    store = EmbeddedStore(data / "heron.duckdb")
    try:
        [project] = store.list_projects()
        traces = store.list_traces(project["id"], ListQuery(limit=1000)).data
        assert len(traces) == 300
        assert sum(t["error_count"] > 0 for t in traces) > 0
        assert any(t["session_id"] for t in traces) and any(t["total_cost"] for t in traces)
        assert len({t["release"] for t in traces} - {None}) >= 2
        feedback = store.metrics(
            project["id"],
            parse_metrics_query(
                {
                    "view": "scores",
                    "dimensions": [{"field": "name"}],
                    "metrics": [{"measure": "count", "aggregation": "count"}],
                    "fromTimestamp": "2000-01-01T00:00:00Z",
                    "toTimestamp": "2100-01-01T00:00:00Z",
                }
            ),
        )
        # thumbs, ratings, copies and accepts, all through the score API; the runner's
        # implicit-feedback scores beside them (tests/implicit/test_demo.py checks those)
        assert set(SCORE_NAMES) <= {r["name"] for r in feedback}
        assert {r["name"] for r in feedback} - set(SCORE_NAMES) <= {
            "implicit_retry", "implicit_rephrase", "implicit_disagreement",
            "implicit_frustration", "implicit_abandonment",
        }  # fmt: skip
        assert all(r["count_count"] > 0 for r in feedback)
    finally:
        store.close()
