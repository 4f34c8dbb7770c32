"""``heron migrate-data``: copy an embedded store (a data directory's DuckDB file) into the
cluster backends, control data into PostgreSQL and events into ClickHouse.

The source is opened read-only; a server running on it holds DuckDB's lock, which is refused
with a message saying so. Both backends are migrated first (as ``heron serve`` does).

- **The journal first**: batches a server acknowledged but had not applied to the DuckDB file
  (a server killed with ``kill -9``) are in the data directory's journal. They are applied to
  the file first, exactly as ``heron serve`` does at start (:func:`apply_journal`), so nothing
  acknowledged is left behind; the file is written only then.

- **Control data**: every PostgreSQL table of heron's that the DuckDB file also has, the
  columns both have, except what only means something to one embedded store (``meta``: its
  schema version and journal position; ``runner_*``: the positions of its change feed). Each
  table is copied in one PostgreSQL transaction that also records it as done
  (``meta``: ``migrate-data:<table>``), so an interrupted run leaves whole tables or none
  and a re-run skips the tables done (``ON CONFLICT DO NOTHING`` besides).
- **Events**: every ClickHouse table of heron's that the DuckDB file also has (traces,
  observations, scores, and the event tables later migrations add), in chunks of DuckDB row
  ids. A row's ``row_version`` is its ``updated_at`` (else ``created_at``) in µs, so a copy
  again is the same version, one row after ``FINAL``, and never beats a newer write made on
  the cluster; ``retention_days`` is its project's (retention by TTL, see
  :mod:`heron.store.clickhouse.retention`); a trace's ``own_time`` is its start. After each
  chunk the table's last row id copied is recorded in PostgreSQL's ``meta``, and a re-run
  continues after it.

Migrate into fresh databases, before replicas start on them: a project a replica created
(``HERON_INIT_PROJECT``) beside the source's would be a second project of that name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError as ClickHouseDown

from heron.store.schema import MIGRATIONS as DUCKDB_MIGRATIONS

DB_FILE = "heron.duckdb"
JOURNAL_DIR = "journal"  # the server's write-ahead journal, beside the DuckDB file
MARK = "migrate-data:"  # + table: PostgreSQL meta keys of the progress
# Tables of one embedded store only (see the module docstring).
SKIP = frozenset({"meta", "heron_schema_migrations", "runner_cursors", "runner_work", "runner_due"})
CHUNK_ROWS = 50_000

Progress = Callable[[str, int, int], None]  # (table, rows done, rows in all)


class MigrationError(Exception):
    """What stops a migration, said plainly (the CLI prints it and exits 1)."""


@dataclass
class Report:
    """Rows copied by table (this run; tables already done count 0)."""

    control: dict[str, int]
    events: dict[str, int]
    skipped: list[str]  # tables done by an earlier run
    journal: int = 0  # acknowledged batches applied from the journal first
    journal_gaps: list[dict[str, Any]] = field(default_factory=list)  # records it lost


def open_source(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """The data directory's DuckDB file, read-only; refused when missing, in use by a server,
    or of another schema version than this heron's."""
    if not data_dir.is_dir():
        raise MigrationError(f"{data_dir}: no such directory")
    path = data_dir / DB_FILE
    if not path.is_file():
        raise MigrationError(f"{path}: no heron database in {data_dir}")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        if "lock" in str(exc).lower() or "different configuration" in str(exc):
            raise MigrationError(
                f"{path} is in use (a heron server runs on it?): stop the server first"
            ) from None
        raise MigrationError(f"{path}: {exc}") from None
    version = _one(con, "SELECT max(value::INTEGER) FROM meta WHERE key = 'schema_version'")
    version, wanted = int(version or 0), len(DUCKDB_MIGRATIONS)
    if version != wanted:
        con.close()
        raise MigrationError(
            f"{path} is at schema version {version}, this heron reads {wanted}: "
            + (
                f"run `heron serve --data-dir {data_dir}` once (it migrates) and stop it"
                if version < wanted
                else "use the heron version that wrote it"
            )
        )
    return con


def journal_ahead(data_dir: Path, con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the data directory's journal holds records past what the store applied."""
    from heron.ingest.journal import Journal
    from heron.ingest.pipeline import APPLIED_KEY

    directory = data_dir / JOURNAL_DIR
    if not any(directory.glob("*.log")):
        return False
    applied = int(_one(con, "SELECT max(value) FROM meta WHERE key = ?", [APPLIED_KEY]) or 0)
    journal = Journal(directory)  # as a server opens it: a torn last record is cut
    journal.close()
    return journal.last_seq > applied


def apply_journal(data_dir: Path) -> tuple[int, list[dict[str, Any]]]:
    """Apply the journal's records the store has not applied, as ``heron serve`` does at
    start (:meth:`heron.ingest.pipeline.WritePipeline.recover`); returns how many, and the
    acknowledged records it found unreadable (a damaged journal: ``heron serve`` logs them)."""
    from heron.ingest.journal import Journal
    from heron.ingest.pipeline import WritePipeline
    from heron.store import EmbeddedStore

    try:
        store = EmbeddedStore(data_dir / DB_FILE)
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        raise MigrationError(f"{data_dir / DB_FILE}: cannot apply its journal: {exc}") from None
    try:
        journal = Journal(data_dir / JOURNAL_DIR)
        try:
            pipeline = WritePipeline(store, journal)
            return pipeline.recover(), pipeline.gaps
        finally:
            journal.close()
    finally:
        store.close()


@contextmanager
def reachable(what: str) -> Iterator[None]:
    """A backend that cannot be reached as a MigrationError naming it."""
    try:
        yield
    except (psycopg.OperationalError, ClickHouseDown) as exc:
        raise MigrationError(f"{what} cannot be reached: {exc}") from None


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The one value of a one-row query (the result read to its end)."""
    return con.execute(sql, params or []).fetchall()[0][0]


def _duck_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return {name: kind for name, kind in rows}


def _duck_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {r[0] for r in rows}


def _select(columns: list[str], kinds: dict[str, str]) -> str:
    # JSON as its text: what both targets store
    return ", ".join(
        f'CAST("{c}" AS VARCHAR) AS "{c}"' if kinds[c] == "JSON" else f'"{c}"' for c in columns
    )


# -- control data: PostgreSQL ---------------------------------------------------------------


def control_tables(pg: psycopg.Connection, source: set[str]) -> list[str]:
    """heron's PostgreSQL tables the source also has (by name)."""
    rows = pg.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows if r[0] in source and r[0] not in SKIP]


def _pg_columns(pg: psycopg.Connection, table: str) -> list[str]:
    rows = pg.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = %s ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def _mark(pg: psycopg.Connection, table: str) -> str | None:
    row = pg.execute("SELECT value FROM meta WHERE key = %s", [MARK + table]).fetchone()
    return row[0] if row else None


def _set_mark(pg: psycopg.Connection, table: str, value: str) -> None:
    pg.execute(
        "INSERT INTO meta (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        [MARK + table, value],
    )


def check_fresh(pg: psycopg.Connection, con: duckdb.DuckDBPyConnection) -> None:
    """Refuse a PostgreSQL holding projects the source has not (a replica started first)."""
    ours = {r[0] for r in con.execute("SELECT id FROM projects").fetchall()}
    theirs = pg.execute("SELECT id, name FROM projects").fetchall()
    strangers = sorted(name for pid, name in theirs if pid not in ours)
    if strangers:
        raise MigrationError(
            "PostgreSQL already holds projects that are not in the source "
            f"({', '.join(strangers)}): migrate into fresh databases, before heron serve "
            "runs on them"
        )


def copy_control(
    pg: psycopg.Connection, con: duckdb.DuckDBPyConnection, progress: Progress, skipped: list[str]
) -> dict[str, int]:
    """Copy every control table (see the module docstring); returns rows copied by table."""
    copied: dict[str, int] = {}
    for table in control_tables(pg, _duck_tables(con)):
        kinds = _duck_columns(con, table)
        columns = [c for c in _pg_columns(pg, table) if c in kinds]
        total = int(_one(con, f'SELECT count(*) FROM "{table}"'))
        if _mark(pg, table) == "done":
            skipped.append(table)
            progress(table, total, total)
            continue
        names = ", ".join(f'"{c}"' for c in columns)
        insert = (
            f'INSERT INTO "{table}" ({names}) VALUES ({", ".join(["%s"] * len(columns))}) '
            "ON CONFLICT DO NOTHING"
        )
        done = 0
        with pg.transaction():
            result = con.execute(f'SELECT {_select(columns, kinds)} FROM "{table}"')
            while rows := result.fetchmany(5000):
                with pg.cursor() as cur:
                    cur.executemany(insert, rows)
                done += len(rows)
                progress(table, done, total)
            _set_mark(pg, table, "done")
        progress(table, total, total)
        copied[table] = done
    return copied


# -- events: ClickHouse ---------------------------------------------------------------------


def event_tables(client: Client, source: set[str]) -> list[str]:
    """heron's ClickHouse tables the source also has, ``traces`` last (a trace row read
    before its spans would show a trace without them while the copy runs)."""
    rows = client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree%'"
    ).result_rows
    names = sorted(r[0] for r in rows if r[0] in source and r[0] not in SKIP)
    return sorted(names, key=lambda n: n == "traces")


def _ch_columns(client: Client, table: str) -> dict[str, str]:
    rows = client.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
        "AND table = {t:String} ORDER BY position",
        parameters={"t": table},
    ).result_rows
    return {name: kind for name, kind in rows}


def _as_us(column: pa.ChunkedArray) -> pa.Array:
    return pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64())


def _chunk_for_insert(
    chunk: pa.Table, target: dict[str, str], retention: dict[str, int]
) -> pa.Table:
    """A source chunk with the target's own columns filled (see the module docstring)."""
    now_us = int(datetime.now(UTC).timestamp() * 1_000_000)
    if "row_version" in target and "row_version" not in chunk.column_names:
        when = next((c for c in ("updated_at", "created_at") if c in chunk.column_names), None)
        if when is None:
            version = pa.array([now_us] * chunk.num_rows, pa.int64())
        else:
            version = pc.fill_null(_as_us(chunk.column(when)), now_us)
        chunk = chunk.append_column("row_version", pc.cast(version, pa.uint64()))
    if "retention_days" in target and "project_id" in chunk.column_names:
        days = [retention.get(p, 0) for p in chunk.column("project_id").to_pylist()]
        chunk = chunk.append_column("retention_days", pa.array(days, pa.uint16()))
    if "own_time" in target and "own_time" not in chunk.column_names:
        chunk = chunk.append_column("own_time", chunk.column("start_time"))
    return chunk


def copy_events(
    pg: psycopg.Connection,
    client: Client,
    con: duckdb.DuckDBPyConnection,
    progress: Progress,
    skipped: list[str],
    max_rows: int | None = None,
) -> dict[str, int]:
    """Copy every event table in chunks of row ids (see the module docstring); with
    ``max_rows``, stop once that many rows were copied (a run cut short, for tests)."""
    retention = {
        pid: int(days or 0)
        for pid, days in con.execute("SELECT id, retention_days FROM projects").fetchall()
    }
    copied: dict[str, int] = {}
    budget = max_rows
    for table in event_tables(client, _duck_tables(con)):
        kinds = _duck_columns(con, table)
        target = _ch_columns(client, table)
        columns = [c for c in target if c in kinds]
        total = int(_one(con, f'SELECT count(*) FROM "{table}"'))
        top = _one(con, f'SELECT max(rowid) FROM "{table}"')
        mark = _mark(pg, table)
        after = int(mark) if mark is not None else -1
        if top is None or after >= top:
            skipped.append(table)
            progress(table, total, total)
            continue
        done = int(_one(con, f'SELECT count(*) FROM "{table}" WHERE rowid <= ?', [after]))
        progress(table, done, total)
        copied[table] = 0
        while after < top:
            if budget is not None and budget <= 0:
                return copied
            upto = after + CHUNK_ROWS
            chunk = con.sql(
                f'SELECT {_select(columns, kinds)} FROM "{table}" WHERE rowid > ? AND rowid <= ?',
                params=[after, upto],
            ).to_arrow_table()
            if chunk.num_rows:
                client.insert_arrow(table, _chunk_for_insert(chunk, target, retention))
            with pg.transaction():
                _set_mark(pg, table, str(upto))
            after = upto
            done += chunk.num_rows
            copied[table] += chunk.num_rows
            if budget is not None:
                budget -= chunk.num_rows
            progress(table, done, total)
    return copied


def migrate_data(
    data_dir: Path,
    clickhouse_url: str,
    postgres_url: str,
    progress: Progress = lambda table, done, total: None,
    max_rows: int | None = None,
) -> Report:
    """Copy the embedded store of ``data_dir`` into the cluster backends (see the module
    docstring); ``max_rows`` cuts the event copy short (a resumable stop, for tests)."""
    from heron.store.clickhouse.client import ClickHouseURLError
    from heron.store.clickhouse.client import connect as ch_connect
    from heron.store.clickhouse.migrations import migrate as ch_migrate
    from heron.store.cluster import migration_lock
    from heron.store.postgres.connect import connect as pg_connect
    from heron.store.postgres.migrations import migrate as pg_migrate

    con = open_source(data_dir)
    journal, gaps = 0, []
    if journal_ahead(data_dir, con):
        con.close()
        journal, gaps = apply_journal(data_dir)
        con = open_source(data_dir)
    try:
        with reachable("PostgreSQL"), pg_connect(postgres_url) as pg:
            pg_migrate(pg)
            pg.autocommit = True
            try:
                with reachable("ClickHouse"):
                    client = ch_connect(clickhouse_url)
            except ClickHouseURLError as exc:
                raise MigrationError(str(exc)) from None
            try:
                with reachable("ClickHouse"):
                    ch_migrate(client, lock=lambda: migration_lock(postgres_url))
                    check_fresh(pg, con)
                    skipped: list[str] = []
                    control = copy_control(pg, con, progress, skipped)
                    events = copy_events(pg, client, con, progress, skipped, max_rows)
            finally:
                client.close()
    finally:
        con.close()
    return Report(control, events, skipped, journal, gaps)
