"""The PostgreSQL foundation: migrations (once, under a lock), the DuckDB-shaped cursor, and
the test server that must never outlive its tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from heron.errors import BadRequest
from heron.store.postgres import PostgresControl
from heron.store.postgres.connect import connect
from heron.store.postgres.cursor import PgCursor, translate
from heron.store.postgres.migrations import MIGRATIONS, migrate, schema_version
from heron.store.postgres.schema import CONTROL_TABLES
from tests.support.postgres import pg_bin

ROOT = Path(__file__).resolve().parents[2]


def _tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def test_migrations_apply_once(postgres_url: str) -> None:
    with connect(postgres_url) as conn:
        assert schema_version(conn) == 0
        assert migrate(conn) == list(range(1, len(MIGRATIONS) + 1))
        tables = _tables(conn)
        assert migrate(conn) == []
        assert _tables(conn) == tables
        assert schema_version(conn) == len(MIGRATIONS)
    created = [  # every migration's tables (the first one's are CONTROL_TABLES)
        line.split()[2]
        for ddl in MIGRATIONS
        for line in ddl.splitlines()
        if line.startswith("CREATE TABLE ")
    ]
    assert set(CONTROL_TABLES) <= set(created)
    assert sorted([*created, "heron_schema_migrations"]) == tables
    assert {"projects", "api_keys", "users", "datasets", "runner_jobs"} <= set(tables)


def test_a_new_migration_applies_alone(postgres_url: str) -> None:
    with connect(postgres_url) as conn:
        migrate(conn)
        extra = (*MIGRATIONS, "ALTER TABLE projects ADD COLUMN note TEXT;")
        assert migrate(conn, extra) == [len(extra)]
        assert migrate(conn, extra) == []
        conn.execute("SELECT note FROM projects")


def test_a_failed_migration_leaves_nothing(postgres_url: str) -> None:
    with connect(postgres_url) as conn:
        bad = (*MIGRATIONS, "CREATE TABLE half (x INT); SELECT no_such_function();")
        with pytest.raises(psycopg.errors.UndefinedFunction):
            migrate(conn, bad)
        assert schema_version(conn) == 0
        assert _tables(conn) == []


def test_concurrent_migrators_end_with_one_schema(postgres_url: str) -> None:
    """Replicas starting at once: one applies, the others wait on the lock and apply
    nothing, none fails (without the lock the second CREATE TABLE would)."""
    conns = [connect(postgres_url) for _ in range(3)]
    barrier = threading.Barrier(len(conns))
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def run(conn: psycopg.Connection) -> None:
        barrier.wait()
        try:
            applied.append(migrate(conn))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        assert sorted(applied) == [[], [], list(range(1, len(MIGRATIONS) + 1))]
        rows = conns[0].execute("SELECT version FROM heron_schema_migrations").fetchall()
        assert rows == [(v,) for v in range(1, len(MIGRATIONS) + 1)]
    finally:
        for c in conns:
            c.close()


@pytest.mark.parametrize(
    ("duck", "pg"),
    [
        ("SELECT 1 WHERE a = ? AND b = ?", "SELECT 1 WHERE a = %s AND b = %s"),
        ("SELECT '?', \"a?\" FROM t WHERE x = ?", "SELECT '?', \"a?\" FROM t WHERE x = %s"),
        ("SELECT 'it''s ?' || ?", "SELECT 'it''s ?' || %s"),
        ("SELECT x % 2, 'a%' FROM t WHERE y LIKE ?", "SELECT x %% 2, 'a%%' FROM t WHERE y LIKE %s"),
        ("SELECT ? -- why?\n, ?", "SELECT %s -- why?\n, %s"),
        ("SELECT /* ? */ ?", "SELECT /* ? */ %s"),
    ],
)
def test_placeholders_are_translated_outside_literals(duck: str, pg: str) -> None:
    assert translate(duck) == pg


def test_cursor_answers_as_duckdb(postgres_url: str) -> None:
    with connect(postgres_url) as conn, conn.cursor() as raw:
        cur = PgCursor(raw)
        cur.execute("CREATE TABLE t (k TEXT, v JSONB, n BIGINT)")
        # a write without RETURNING reads back its row count, as on DuckDB
        insert = "INSERT INTO t VALUES (?, ?, ?), ('b%', NULL, 2)"
        assert cur.execute(insert, ["a?", '{"x": [1]}', 1]).fetchone() == (2,)
        assert cur.execute("UPDATE t SET n = n + 1 WHERE k LIKE 'b%'").fetchall() == [(1,)]
        assert cur.description is None
        # JSON comes back as text, sums of integers as int and averages as float
        assert cur.execute("SELECT k, v FROM t WHERE k = ?", ["a?"]).fetchone() == (
            "a?",
            '{"x": [1]}',
        )
        assert cur.execute("SELECT sum(n), avg(n) FROM t").fetchone() == (4, 2.0)
        assert [d[0] for d in cur.description] == ["sum", "avg"]
        assert cur.execute("SELECT k FROM t ORDER BY k").fetchmany(1) == [("a?",)]
        assert cur.fetchmany(5) == [("b%",)]
        assert cur.execute("DELETE FROM t WHERE k = ? RETURNING n", ["b%"]).fetchall() == [(3,)]
        cur.executemany("INSERT INTO t (k, n) VALUES (?, ?)", [("c", 5), ("d", 6)])
        assert cur.execute("SELECT count(*) FROM t").fetchone() == (3,)


def test_the_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A pytest killed outright (SIGKILL: no finalizer, no atexit) leaves no server."""
    pg_bin()  # fails without PostgreSQL, as the fixtures do
    script = (
        "import os, sys, time\n"
        "from tests.support.postgres import PostgresServer\n"
        "s = PostgresServer().start()\n"
        "print(s.proc.pid, s.start_seconds, s.root, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, cwd=ROOT, text=True
    )
    try:
        assert proc.stdout is not None
        pid_text, seconds, root = proc.stdout.readline().split()
        pid = int(pid_text)
        assert float(seconds) < 20
        os.kill(pid, 0)  # the server runs
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 15
    while _alive(pid):
        assert time.monotonic() < deadline, f"postgres {pid} outlived its parent"
        time.sleep(0.1)
    shutil.rmtree(root)  # what a killed run leaves: a directory in the temp dir, no process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) is dead too
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[1][0] != "Z"


def test_a_nul_character_is_a_bad_request_naming_it(postgres_url: str) -> None:
    """PostgreSQL cannot store NUL in text: a 400 that says so, never a 500."""
    store = PostgresControl(postgres_url, pool_size=1)
    try:
        with pytest.raises(BadRequest, match="NUL character"):
            store.create_project("bad\x00name")
        pid = store.create_project("fine")["id"]
        with pytest.raises(BadRequest, match="NUL character"):
            store.rename_project(pid, "still\x00bad")
        assert [p["name"] for p in store.list_projects()] == ["fine"]  # nothing half-written
    finally:
        store.close()
