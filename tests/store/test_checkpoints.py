"""DuckDB checkpoints by itself while a server ingests: the write-ahead log stays bounded.

A query result left open keeps its transaction open, and DuckDB then refuses every
checkpoint: the log grows until shutdown, a restart replays all of it, and a damaged log
costs everything since start (see heron/store/cursor.py).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from fastapi.testclient import TestClient

from heron.scores import ScoreRecord
from heron.server.app import create_app
from heron.settings import Settings
from heron.store import EmbeddedStore
from heron.store.recovery import wal_path
from tests.support.otlp import genai_trace, request
from tests.support.server import SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}


def _ingest(settings: Settings, idle_read: str | None = None) -> tuple[int, int]:
    """Send about 4 MB of spans with a 1 MB checkpoint threshold; (file, log) bytes after.

    ``idle_read``: a one-row query a request thread runs before it goes idle."""
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        store = client.app.state.heron.store  # type: ignore[attr-defined]
        store.cursor().execute("SET GLOBAL checkpoint_threshold = '1MB'")
        idle = threading.Event()
        if idle_read:

            def reader() -> None:
                assert store.cursor().execute(idle_read).fetchone() is not None
                idle.wait(30)

            thread = threading.Thread(target=reader)
            thread.start()
        try:
            for _ in range(15):
                _, spans = genai_trace(n_children=100)
                body = request(spans).SerializeToString()
                assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
            applied = client.get("/api/traces", params={"limit": 1, "consistent": "true"})
            assert applied.headers["X-Heron-Consistent"] == "true"
            time.sleep(0.2)
            wal = wal_path(store.path)
            return store.path.stat().st_size, wal.stat().st_size if wal.exists() else 0
        finally:
            idle.set()


def _assert_checkpointed(sizes: tuple[int, int]) -> None:
    file_bytes, wal_bytes = sizes
    assert file_bytes > 2 * 1024 * 1024, "never checkpointed into the file"
    # a checkpoint empties the log: at most a threshold's worth plus one batch is left
    assert wal_bytes < 1.5 * 1024 * 1024, f"write-ahead log at {wal_bytes} bytes"


def test_the_write_ahead_log_is_checkpointed_under_ingest(settings: Settings) -> None:
    _assert_checkpointed(_ingest(settings))


def test_and_after_a_restart(settings: Settings) -> None:
    _ingest(settings)
    # the server opens an existing store now (the schema check reads one row)
    _assert_checkpointed(_ingest(settings))


def test_and_while_a_request_thread_idles_after_a_one_row_read(settings: Settings) -> None:
    _assert_checkpointed(_ingest(settings, idle_read="SELECT public_key FROM api_keys"))


def test_a_checkpoint_waits_for_a_score_write_on_the_writers_connection(
    store: EmbeddedStore,
) -> None:
    """The pipeline's periodic checkpoint and a score write (the API's, the runner's) share
    the writer's connection: unserialised, a write met "connection is busy", its ROLLBACK
    too, and the connection was left in a broken transaction that failed every write after
    it (seen as 500s from POST /api/scores on a server up for more than a minute)."""
    now = datetime(2026, 1, 1)
    stop = threading.Event()
    failures: list[BaseException] = []

    def checkpoints() -> None:
        while not stop.is_set():
            try:
                store.checkpoint()
            except BaseException as exc:  # every failure is the finding
                failures.append(exc)

    thread = threading.Thread(target=checkpoints)
    thread.start()
    try:
        for i in range(150):
            score = ScoreRecord("p1", f"s{i}", f"{i:032x}", None, None, "quality", 1.0, None,
                                "NUMERIC", "API", None, None, now, None, None)  # fmt: skip
            store.write_scores([score])
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert store.cursor().execute("SELECT count(*) FROM scores").fetchone() == (150,)
