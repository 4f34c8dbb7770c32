"""The chdb HTTP server as a plain clickhouse-connect client sees it, several processes on one
engine, and the ClickHouse backend's client URL and migrations."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import clickhouse_connect
import httpx
import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from heron.model import ObservationRecord
from heron.store import ListQuery
from heron.store.clickhouse import ClickHouseEvents
from heron.store.clickhouse.client import ClickHouseURLError, connect, parse_url
from heron.store.clickhouse.migrations import applied_versions, migrate
from heron.store.clickhouse.schema import MIGRATIONS
from tests.support.chdb_server import ChdbServer

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_760_000_000_000_000


def test_a_plain_client_queries_inserts_and_gets_errors(chdb_server: ChdbServer) -> None:
    for compress in (True, False):  # lz4-compressed insert bodies (the default), and none
        c = clickhouse_connect.get_client(
            host="127.0.0.1",
            port=chdb_server.port,
            username="default",
            password="",
            compress=compress,
        )
        assert c.ping()
        db = f"plain_{int(compress)}"
        c.command(f"CREATE DATABASE IF NOT EXISTS {db}")
        c.command(
            f"CREATE TABLE IF NOT EXISTS {db}.t (k String, v Nullable(Float64), "
            "m Map(String, Int64), at DateTime64(6, 'UTC'), tags Array(String)) "
            "ENGINE = MergeTree ORDER BY k"
        )
        c.insert(
            f"{db}.t",
            [["a", 1.5, {"x": 1}, datetime(2025, 1, 2, 3, 4, 5, 678901), ["q"]]],
            column_names=["k", "v", "m", "at", "tags"],
        )
        c.insert_arrow(
            f"{db}.t",
            pa.table(
                {
                    "k": ["b"],
                    "v": pa.array([None], pa.float64()),
                    "m": pa.array([[("y", 2)]], pa.map_(pa.string(), pa.int64())),
                    "at": pa.array([T0], pa.timestamp("us")),
                    "tags": [["r", "s"]],
                }
            ),
        )
        rows = c.query(
            f"SELECT k, v, m, toUnixTimestamp64Micro(at), tags FROM {db}.t "
            "WHERE k != {skip:String} ORDER BY k",
            parameters={"skip": "it's not"},
        ).result_rows
        assert rows == [
            ("a", 1.5, {"x": 1}, 1_735_787_045_678_901, ["q"]),
            ("b", None, {"y": 2}, T0, ["r", "s"]),
        ]
        assert c.query("SELECT {n:UInt32} + 1", parameters={"n": 41}).result_rows == [(42,)]
        with pytest.raises(DatabaseError, match="UNKNOWN_TABLE") as caught:
            c.query(f"SELECT * FROM {db}.missing")
        assert caught.value.code == 60
        c.close()


def test_settings_hold_for_their_request_only(chdb_server: ChdbServer) -> None:
    c = clickhouse_connect.get_client(host="127.0.0.1", port=chdb_server.port)
    asked = c.query("SELECT getSetting('max_block_size')", settings={"max_block_size": 1234})
    assert asked.result_rows == [(1234,)]
    assert c.query("SELECT getSetting('max_block_size')").result_rows != [(1234,)]
    c.close()


_REPLICA = textwrap.dedent(
    """
    import json, sys
    from heron.model import ObservationRecord
    from heron.store import ListQuery
    from heron.store.clickhouse import ClickHouseEvents
    from heron.store.clickhouse.client import connect

    url, project, step = sys.argv[1:4]
    events = ClickHouseEvents(connect(url))
    if step == "write":
        events.write_batch([ObservationRecord(
            project_id=project, id="span", trace_id="t" * 32, parent_id=None, type="span",
            name="first", start_us={t0}, end_us={t0} + 1000, input="from the other process",
        )], [])
    page = events.list_observations(project, ListQuery())
    print(json.dumps([[o["id"], o["name"], o["end_time"]] for o in page.data]))
    """
).replace("{t0}", str(T0))


def _replica(url: str, project: str, step: str) -> list[list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", _REPLICA, url, project, step],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def test_two_processes_share_one_engine(chdb_server: ChdbServer) -> None:
    url = chdb_server.database_url("replicas")
    client = connect(url)
    migrate(client)
    events = ClickHouseEvents(client)
    project = "replicas"

    # another process writes a span: this one reads it
    assert _replica(url, project, "write") == [["span", "first", "2025-10-09T08:53:20.001000Z"]]
    (seen,) = events.list_observations(project, ListQuery()).data
    assert seen["name"] == "first"

    # the same span through this process, with more fields: one span, merged, seen there too
    events.write_batch(
        [
            ObservationRecord(
                project_id=project,
                id="span",
                trace_id="t" * 32,
                parent_id=None,
                type="span",
                name="second",
                start_us=T0,
                end_us=T0 + 5000,
                output="done",
            )
        ],
        [],
    )
    assert _replica(url, project, "read") == [["span", "second", "2025-10-09T08:53:20.005000Z"]]
    trace = events.get_trace(project, "t" * 32)
    assert trace["observation_count"] == 1 and trace["latency_ms"] == 5.0
    (span,) = trace["observations"]
    assert (span["input"], span["output"]) == ("from the other process", "done")
    client.close()


def test_migrations_run_once_under_the_lock(chdb_server: ChdbServer) -> None:
    client = connect(chdb_server.database_url("migrations"))
    taken: list[str] = []

    @contextmanager
    def lock() -> Iterator[None]:
        taken.append("lock")
        yield

    assert migrate(client, lock) == [m.version for m in MIGRATIONS]
    assert migrate(client, lock) == []  # idempotent: nothing left to do
    assert taken == ["lock", "lock"]
    assert applied_versions(client) == {m.version for m in MIGRATIONS}
    tables = {r[0] for r in client.query("SHOW TABLES").result_rows}
    assert {"observations", "traces", "scores", "heron_schema_migrations"} <= tables
    client.close()


def test_urls_name_the_connection() -> None:
    assert parse_url("http://u:p%40ss@ch.internal:8124/events") == {
        "host": "ch.internal",
        "port": 8124,
        "username": "u",
        "password": "p@ss",
        "database": "events",
        "secure": False,
    }
    secure = parse_url("clickhouses://ch.example.com")
    assert (secure["port"], secure["secure"], secure["database"]) == (8443, True, "default")
    assert parse_url("clickhouse://h")["username"] == "default"
    for bad, words in [
        ("postgres://h/db", "scheme"),
        ("http:///db", "host"),
        ("http://h/a/b", "one database"),
    ]:
        with pytest.raises(ClickHouseURLError, match=words):
            parse_url(bad)


def test_raw_http_as_clickhouse_answers_it(chdb_server: ChdbServer) -> None:
    """The protocol without the client: ping, GET and POST queries, inserts with inline
    data, compressed bodies, errors with their code header."""
    base = f"http://127.0.0.1:{chdb_server.port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/ping").text == "Ok.\n"
        got = http.get("/", params={"query": "SELECT 1 + {n:UInt8}", "param_n": "2"})
        assert (got.status_code, got.text, got.headers["X-ClickHouse-Format"]) == (
            200,
            "3\n",
            "TabSeparated",
        )
        assert got.headers["X-ClickHouse-Timezone"] and got.headers["X-ClickHouse-Query-Id"]
        http.post("/", content="CREATE DATABASE IF NOT EXISTS raw")
        http.post(
            "/",
            params={"database": "raw"},
            content="CREATE TABLE IF NOT EXISTS t (a UInt32, b String) ENGINE = Memory",
        )
        # the query in the URL, the data in the body; then both in the body, gzip-compressed
        http.post("/", params={"query": "INSERT INTO raw.t FORMAT CSV"}, content="1,x\n2,y\n")
        body = gzip.compress(b"INSERT INTO raw.t (a, b) FORMAT TSV\n3\tz\n")
        http.post("/", content=body, headers={"Content-Encoding": "gzip"})
        got = http.post(
            "/", params={"database": "raw"}, content="SELECT a, b FROM t ORDER BY a FORMAT CSV"
        )
        assert got.text == '1,"x"\n2,"y"\n3,"z"\n'
        assert json.loads(got.headers["X-ClickHouse-Summary"])["read_rows"] == "3"
        bad = http.post("/", content="SELEC 1")
        assert bad.status_code == 500 and bad.headers["X-ClickHouse-Exception-Code"] == "62"
        assert bad.text.startswith("Code: 62. DB::Exception:")
        assert http.post("/", content="").status_code == 400
