"""The ClickHouse writer's shortcuts and the events tables' layout (migration 3).

The writer skips its full ``FINAL`` reads when what it would read is known from key-only
reads: a batch's spans that were never stored have nothing to merge with, and a trace whose
only stored rows are the batch's spans has the aggregates of the batch. Each shortcut is
checked on the case it skips and on the cases it must not skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from heron.model import ObservationRecord, TraceUpdate
from heron.query.metrics import parse_metrics_query
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore, ListQuery
from heron.store.arrow import observations_table
from heron.store.clickhouse import ClickHouseEvents, writes
from heron.store.clickhouse.client import connect
from heron.store.clickhouse.metrics import has_hidden_traces
from heron.store.clickhouse.migrations import migrate
from heron.store.clickhouse.schema import MIGRATIONS
from heron.store.scores import ScoreFilter
from tests.support.chdb_server import ChdbServer

T0 = 1_760_000_000_000_000  # µs
S = 1_000_000


class Recording:
    """The real clickhouse-connect client, with the SELECTs it was asked to run noted."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.selects: list[str] = []

    def query(self, sql: str, *args: Any, **kw: Any) -> Any:
        self.selects.append(sql)
        return self._client.query(sql, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def finals(self) -> list[str]:
        return [s for s in self.selects if "FINAL" in s]


@pytest.fixture(scope="module")
def ch(chdb_server: ChdbServer) -> Iterator[ClickHouseEvents]:
    client = connect(chdb_server.database_url("clickhouse_speed"))
    migrate(client)
    yield ClickHouseEvents(client)
    client.close()


@pytest.fixture
def project() -> str:
    return "p-" + uuid.uuid4().hex[:12]


def span(p: str, trace: str, oid: str, parent: str | None, start: int, **kw: Any) -> Any:
    return ObservationRecord(
        project_id=p,
        id=oid,
        trace_id=trace,
        parent_id=parent,
        type=kw.pop("type", "span"),
        name=oid,
        start_us=T0 + start * S,
        end_us=T0 + kw.pop("end", start + 1) * S,
        **kw,
    )


def write(ch: ClickHouseEvents, spans: list[Any], updates: list[Any] = (), **kw: Any) -> Recording:
    """One batch through the writer, on a recording client; returns the client."""
    client = Recording(ch.client)
    now = ch._version()
    writes.write_batch(client, observations_table(spans, now), list(updates), now, **kw)  # type: ignore[arg-type]
    return client


def test_a_new_trace_is_written_without_a_final_read(ch: ClickHouseEvents, project: str) -> None:
    t = uuid.uuid4().hex
    gen = {"type": "generation", "model": "m1", "usage": {"input": 10, "output": 5}}
    client = write(
        ch,
        [
            span(project, t, "root", None, 0, end=9),
            span(project, t, "a", "root", 2, cost={"total": 0.25}, **gen),
            span(project, t, "b", "root", 1, level="ERROR"),
        ],
    )
    assert client.finals() == []  # neither the merge read nor the aggregates' read
    got = ch.get_trace(project, t)
    want = {
        "observation_count": 3,
        "error_count": 1,
        "level": "ERROR",
        "latency_ms": 9000.0,
        "total_cost": 0.25,
        "input_tokens": 10,
        "output_tokens": 5,
        "models": ["m1"],
        "root_observation_id": "root",
    }
    assert {k: got[k] for k in want} == want


def test_a_resent_span_is_still_read_and_merged(ch: ClickHouseEvents, project: str) -> None:
    t = uuid.uuid4().hex
    write(ch, [span(project, t, "root", None, 0, end=5, model="m1")])
    client = write(ch, [span(project, t, "root", None, 0, end=7, level="WARNING")])
    assert len(client.finals()) == 2  # the span merged, the trace's aggregates read
    got = ch.get_trace(project, t)
    assert (got["observation_count"], got["latency_ms"], got["models"], got["level"]) == (
        1,
        7000.0,
        ["m1"],  # the first version's model, kept by the merge
        "WARNING",
    )


def test_a_growing_trace_reads_its_stored_spans(ch: ClickHouseEvents, project: str) -> None:
    t = uuid.uuid4().hex
    write(ch, [span(project, t, "a", "root", 3, end=4)])
    client = write(ch, [span(project, t, "root", None, 0, end=5)])
    assert len(client.finals()) == 1  # no span to merge; the aggregates read all the spans
    got = ch.get_trace(project, t)
    assert (got["observation_count"], got["latency_ms"], got["root_observation_id"]) == (
        2,
        5000.0,
        "root",
    )


def test_a_stored_trace_row_without_spans_is_merged(ch: ClickHouseEvents, project: str) -> None:
    t = uuid.uuid4().hex
    write(ch, [], [TraceUpdate(project_id=project, trace_id=t, name="named", timestamp_us=T0)])
    client = write(ch, [span(project, t, "root", None, 0, end=2)])
    assert len(client.finals()) == 1  # the stored row's attributes are read
    got = ch.get_trace(project, t)
    assert (got["name"], got["observation_count"], got["latency_ms"]) == ("named", 1, 2000.0)


def test_another_writers_spans_after_the_insert_are_counted(
    ch: ClickHouseEvents, project: str
) -> None:
    """A second writer adds a span of the same new trace between this writer's insert and
    its aggregates (as a replica without the trace lock can): the batch alone is not the
    trace, so the aggregates are read, and the row this writer wins with counts both."""
    t = uuid.uuid4().hex

    def clock() -> int:  # read after this writer's insert, before its aggregates
        write(ch, [span(project, t, "late", "root", 20, end=30)])
        return ch._version()

    client = write(ch, [span(project, t, "root", None, 0, end=10)], clock=clock)
    assert len(client.finals()) == 1
    got = ch.get_trace(project, t)
    assert (got["observation_count"], got["latency_ms"], got["root_observation_id"]) == (
        2,
        30000.0,
        "root",
    )


def _score(p: str, sid: str, trace: str, value: float, minute: int) -> ScoreRecord:
    return ScoreRecord(
        project_id=p,
        id=sid,
        trace_id=trace,
        observation_id=None,
        session_id=None,
        name="quality",
        value=value,
        string_value=None,
        data_type="NUMERIC",
        source="API",
        comment=None,
        author=None,
        timestamp=datetime(2025, 10, 9, 9, minute, tzinfo=UTC),
        metadata={},
        environment="prod",
    )


def _reads(events: ClickHouseEvents, p: str, traces: list[str]) -> list[Any]:
    return [
        *(events.get_trace(p, t) for t in traces),
        events.get_session(p, "s-1"),
        events.list_traces(p, ListQuery(limit=100)).data,
        events.list_sessions(p, ListQuery(limit=100)).data,
        events.list_scores(p, ScoreFilter(trace_id=traces[0]), 1, 100),
        *(events.metrics(p, parse_metrics_query({**_WINDOW, **q})) for q in _METRICS),
    ]


_WINDOW = {"fromTimestamp": "2025-10-01T00:00:00Z", "toTimestamp": "2025-11-01T00:00:00Z"}
_METRICS: list[dict[str, Any]] = [
    {"view": "traces", "dimensions": [{"field": "name"}, {"field": "environment"}],
     "metrics": [{"measure": "count", "aggregation": "count"}]},
    {"view": "observations", "dimensions": [{"field": "providedModelName"}],
     "metrics": [{"measure": "count", "aggregation": "count"}]},
    {"view": "scores-numeric", "dimensions": [{"field": "name"}],
     "metrics": [{"measure": "value", "aggregation": "avg"}]},
]  # fmt: skip


def test_migration_3_reads_what_version_2_stored_identically(
    chdb_server: ChdbServer, project: str
) -> None:
    """Data of a version-2 database reads the same once the skip indexes are added and the
    low-cardinality columns converted (lists, details, sessions, scores, metrics), including
    a score moved to another trace and a trace moved to another session by a later version
    (rows in two parts: an index that ruled out the newer one must not let the older win)."""
    client = connect(chdb_server.database_url("clickhouse_speed_v2"))
    migrate(client, migrations=MIGRATIONS[:2])
    events = ClickHouseEvents(client)
    t1, t2, t3 = (uuid.uuid4().hex for _ in range(3))
    for t, session in ((t1, "s-1"), (t2, "s-1"), (t3, "s-2")):
        events.write_batch(
            [span(project, t, "root", None, 0, end=3, model=f"m-{session}")],
            [
                TraceUpdate(
                    project_id=project,
                    trace_id=t,
                    session_id=session,
                    name=f"n-{session}",
                    environment="prod" if t != t3 else None,
                )
            ],
        )
    events.write_scores([_score(project, "q1", t1, 0.5, 1), _score(project, "q2", t1, 1.0, 2)])
    events.write_scores([_score(project, "q2", t2, 0.25, 3)])  # q2 moves to t2
    events.write_batch([], [TraceUpdate(project_id=project, trace_id=t2, session_id="s-2")])
    before = _reads(events, project, [t1, t2, t3])
    assert before[-3:] == [
        [
            {"name": "n-s-1", "environment": "prod", "count_count": 2},
            {"name": "n-s-2", "environment": None, "count_count": 1},
        ],
        [
            {"providedModelName": "m-s-1", "count_count": 2},
            {"providedModelName": "m-s-2", "count_count": 1},
        ],
        [{"name": "quality", "avg_value": 0.375}],
    ]
    assert [s["id"] for s in before[0]["scores"]] == ["q1"]
    assert [t["id"] for t in before[3]["traces"]] == [t1]

    assert migrate(client, migrations=MIGRATIONS[:3]) == [3]
    assert _reads(events, project, [t1, t2, t3]) == before
    indexes = client.query(
        "SELECT table, name FROM system.data_skipping_indices "
        "WHERE database = currentDatabase() ORDER BY table, name"
    ).result_rows
    assert [tuple(r) for r in indexes] == [
        ("scores", "scores_trace_id"),
        ("traces", "traces_session_id"),
    ]
    types = client.query(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
        "AND type LIKE 'LowCardinality%' AND table IN ('observations', 'traces', 'scores') "
        "ORDER BY table, name"
    ).result_rows
    assert [tuple(r) for r in types] == [
        ("observations", "level", "LowCardinality(String)"),
        ("observations", "model", "LowCardinality(Nullable(String))"),
        ("observations", "type", "LowCardinality(String)"),
        ("scores", "data_type", "LowCardinality(String)"),
        ("scores", "name", "LowCardinality(String)"),
        ("scores", "source", "LowCardinality(String)"),
        ("traces", "environment", "LowCardinality(Nullable(String))"),
        ("traces", "level", "LowCardinality(String)"),
        ("traces", "name", "LowCardinality(Nullable(String))"),
    ]
    client.close()


_OBSERVATION_COST = {
    **_WINDOW,
    "view": "observations",
    "dimensions": [{"field": "name"}],
    "metrics": [{"measure": "count", "aggregation": "count"}],
}


@pytest.mark.parametrize("hidden", [False, True])
def test_observation_metrics_leave_out_heron_traces(
    ch: ClickHouseEvents, duck: EmbeddedStore, project: str, hidden: bool
) -> None:
    """Observation metrics skip the test for heron's own traces when the project has none,
    and keep it when it has one: the same rows as DuckDB's either way."""
    batch = [span(project, "a" * 32, "mine", None, 0), span(project, "b" * 32, "judge", None, 0)]
    updates = [
        TraceUpdate(project_id=project, trace_id="a" * 32, environment="prod"),
        TraceUpdate(
            project_id=project, trace_id="b" * 32, environment="heron-judge" if hidden else "dev"
        ),
    ]
    for store in (ch, duck):
        store.write_batch(batch, updates)
    q = parse_metrics_query(_OBSERVATION_COST)
    got = ch.metrics(project, q)
    assert got == duck.metrics(project, q)
    names = ["mine"] if hidden else ["judge", "mine"]
    assert [r["name"] for r in got] == names
    assert has_hidden_traces(ch.client, project) is hidden
