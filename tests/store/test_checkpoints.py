"""DuckDB checkpoints by itself while a server ingests: the write-ahead log stays bounded.

A read result left open on a store cursor keeps its transaction open, and DuckDB then
refuses every checkpoint: the log grows until shutdown, restarts replay all of it, and a
damaged log costs everything since start. (Seen with the apply thread's first read.)
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from heron.server.app import create_app
from heron.settings import Settings
from heron.store.recovery import wal_path
from tests.support.otlp import genai_trace, request
from tests.support.server import SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}


def test_the_write_ahead_log_is_checkpointed_under_ingest(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        store = client.app.state.heron.store  # type: ignore[attr-defined]
        store.cursor().execute("SET GLOBAL checkpoint_threshold = '1MB'")
        for _ in range(15):
            _, spans = genai_trace(n_children=100)
            body = request(spans).SerializeToString()
            assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
        assert client.get("/api/traces", params={"limit": 1}).status_code == 200  # all applied
        time.sleep(0.2)
        wal = wal_path(store.path)
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        # about 4 MB of spans went in: several checkpoints' worth
        assert store.path.stat().st_size > 2 * 1024 * 1024, "never checkpointed into the file"
        assert wal_bytes < 1.5 * 1024 * 1024, f"write-ahead log at {wal_bytes} bytes"
