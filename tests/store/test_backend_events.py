"""The events backends side by side: DuckDB (EmbeddedStore, a real file) and ClickHouse
(ClickHouseEvents through clickhouse-connect to the chdb HTTP server). The same batches go to
both (spans re-sent, children before parents, a span re-sent with more fields, a trace over
several batches); every read must answer the same (ids, order, aggregates, filters, pages),
and each answer is also checked against what it must be."""

from __future__ import annotations

import dataclasses
import math
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from heron.errors import NotFound
from heron.model import ObservationRecord, TraceUpdate
from heron.query import parse_filters
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore, ListQuery
from heron.store import scores as score_rows
from heron.store.clickhouse import ClickHouseEvents, score_reads
from heron.store.clickhouse.client import connect
from heron.store.clickhouse.migrations import migrate
from heron.store.clickhouse.schema import MIGRATIONS
from heron.store.scores import ScoreFilter
from tests.support.chdb_server import ChdbServer

T0 = 1_760_000_000_000_000  # µs
S = 1_000_000  # one second in µs


@pytest.fixture(scope="module")
def ch(chdb_server: ChdbServer) -> Iterator[ClickHouseEvents]:
    client = connect(chdb_server.database_url("backend_events"))
    migrate(client)
    yield ClickHouseEvents(client)
    client.close()


@pytest.fixture(params=["duckdb", "clickhouse"])
def backend(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("duck" if request.param == "duckdb" else "ch")


@pytest.fixture
def project() -> str:
    return "p-" + uuid.uuid4().hex[:12]


def obs(project: str, trace: str, oid: str, parent: str | None = None, **kw: Any) -> Any:
    base: dict[str, Any] = {
        "project_id": project,
        "id": oid,
        "trace_id": trace,
        "parent_id": parent,
        "type": "span",
        "name": oid,
        "start_us": T0,
    }
    base.update(kw)
    return ObservationRecord(**base)


def upd(project: str, trace: str, **kw: Any) -> TraceUpdate:
    return TraceUpdate(project_id=project, trace_id=trace, **kw)


def write_story(store: Any, p: str) -> None:
    """One trace over four batches, as real clients send it."""
    t = "a" * 32
    # children first (a BatchSpanProcessor flushes them before the root ends)
    store.write_batch(
        [
            obs(
                p,
                t,
                "gen",
                "root",
                type="generation",
                model="gpt-4o",
                start_us=T0 + S // 10,
                end_us=T0 + 9 * S // 10,
                usage={"input": 100, "output": 20, "total": 120},
                cost={"input": 0.001, "output": 0.002, "total": 0.003},
            ),
            obs(
                p,
                t,
                "tool",
                "root",
                type="tool",
                start_us=T0 + S,
                end_us=T0 + 12 * S // 10,
                level="ERROR",
                status_message="boom",
            ),
        ],
        [upd(p, t, user_id="u1", session_id="s1")],
    )
    # the root, with the trace's name, input and output
    store.write_batch(
        [obs(p, t, "root", None, name="support-chat", end_us=T0 + 2 * S, input="hi")],
        [
            upd(p, t, is_root=True, name="support-chat", input="hi", output='{"a": 1}'),
            upd(p, t, tags=["vip"], metadata={"tier": "gold", "n": 3}),
        ],
    )
    # the generation again, with more fields (a later version: output, a later end, usage)
    store.write_batch(
        [
            obs(
                p,
                t,
                "gen",
                "root",
                type="generation",
                start_us=T0 + S // 10,
                end_us=T0 + 3 * S,
                output="the answer",
                metadata={"k": "v"},
                usage={"output": 40},
                cost={"input": 0.001, "output": 0.004, "total": 0.005},
            )
        ],
        [upd(p, t, release="r2", tags=["beta"])],
    )
    # the same span twice in one batch, and a re-send of an unchanged one
    store.write_batch(
        [
            obs(p, t, "dup", "root", start_us=T0 + S // 2),
            obs(p, t, "dup", "root", start_us=T0 + S // 2, end_us=T0 + S, input="x"),
            obs(p, t, "root", None, name="support-chat", end_us=T0 + 2 * S, input="hi"),
        ],
        [],
    )
    # traces without spans (Langfuse trace-create): one with its own time, one without
    store.write_batch([], [upd(p, "b" * 32, name="bare", timestamp_us=T0 - S, user_id="u9")])
    store.write_batch([], [upd(p, "c" * 32, name="no time, no spans")])


def write_many(store: Any, p: str) -> None:
    """Twelve traces varied in every filtered column, in two batches."""
    for half in (0, 1):
        observations, updates = [], []
        for i in range(half * 6, half * 6 + 6):
            t = f"{i:032x}"
            start = T0 + i * 60 * S
            observations.append(
                obs(
                    p,
                    t,
                    f"root{i}",
                    None,
                    name=f"job-{i % 3}",
                    start_us=start,
                    end_us=start + (i + 1) * S // 4,
                    level=("ERROR", "WARNING", "DEFAULT", "DEBUG")[i % 4],
                )
            )
            observations.append(
                obs(
                    p,
                    t,
                    f"llm{i}",
                    f"root{i}",
                    type="generation",
                    model=("gpt-4o", "claude")[i % 2],
                    start_us=start + 1000,
                    end_us=start + 2000 + i,
                    usage={"input": 10 * i, "output": i, "total": 11 * i},
                    cost={"total": 0.01 * (i % 5)} if i % 4 else {},
                    input=f"question {i}",
                )
            )
            updates.append(
                upd(
                    p,
                    t,
                    is_root=True,
                    name=f"job-{i % 3}",
                    user_id=f"user-{i % 4}",
                    session_id=f"s-{i % 2}",
                    release=("v1", "v2", None)[i % 3],
                    environment="heron-evaluation" if i == 11 else ("prod", "dev")[i % 2],
                    tags=[["a"], ["a", "b"], []][i % 3],
                    metadata={"i": i, "team": ("x", "y")[i % 2]},
                )
            )
        store.write_batch(observations, updates)


def _close(value: Any) -> Any:
    """Floats rounded (sums may add in another order), the rest as it is."""
    if isinstance(value, float):
        return float(f"{value:.12g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _close(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_close(v) for v in value]
    return value


def pages(store: Any, method: str, p: str, **kw: Any) -> list[list[dict[str, Any]]]:
    """Every page of a list, following the cursors."""
    out, cursor = [], None
    while True:
        page = getattr(store, method)(p, ListQuery(cursor=cursor, **kw))
        out.append(_close(page.data))
        cursor = page.next_cursor
        if cursor is None:
            return out


# -- each backend alone: the answers must be these ---------------------------------------------


def test_story_trace_is_merged_and_exact(backend: Any, project: str) -> None:
    write_story(backend, project)
    t = backend.get_trace(project, "a" * 32)
    assert t["name"] == "support-chat" and t["user_id"] == "u1" and t["release"] == "r2"
    assert t["tags"] == ["vip", "beta"] and t["metadata"] == {"tier": "gold", "n": 3}
    assert t["input"] == "hi" and t["output"] == {"a": 1}
    assert t["observation_count"] == 4  # gen, tool, root, dup: re-sends never duplicate
    assert t["error_count"] == 1 and t["level"] == "ERROR"
    assert t["latency_ms"] == 3000.0  # T0 .. the generation's later end
    assert t["total_cost"] == pytest.approx(0.005)  # the re-sent cost, not 0.003 + 0.005
    assert (t["input_tokens"], t["output_tokens"], t["total_tokens"]) == (100, 40, 140)
    assert t["models"] == ["gpt-4o"] and t["root_observation_id"] == "root"
    (root,) = t["observations"]
    assert [c["id"] for c in root["children"]] == ["gen", "dup", "tool"]
    gen = root["children"][0]
    assert gen["output"] == "the answer" and gen["model"] == "gpt-4o"  # merged field by field
    assert gen["usage"] == {"input": 100, "output": 40, "total": 140}
    assert root["children"][1]["input"] == "x"  # the two versions in one batch merged

    bare = backend.get_trace(project, "b" * 32)
    assert (bare["timestamp"], bare["observation_count"], bare["level"]) == (
        "2025-10-09T08:53:19.000000Z",
        0,
        "DEFAULT",
    )
    assert bare["latency_ms"] is None and bare["observations"] == []
    with pytest.raises(NotFound):
        backend.get_trace(project, "c" * 32)  # nothing to show yet


def test_filters_pick_the_right_traces(backend: Any, project: str) -> None:
    write_many(backend, project)

    def ids(filters: list[dict[str, Any]]) -> list[int]:
        q = ListQuery(filters=parse_filters(filters), order_by="timestamp.asc", limit=100)
        data = backend.list_traces(project, q).data
        assert backend.count_traces(project, q) == len(data)
        return [int(d["id"], 16) for d in data]

    assert ids([]) == list(range(11))  # heron-evaluation's trace hidden
    assert ids([{"column": "name", "operator": "=", "value": "job-1"}]) == [1, 4, 7, 10]
    assert ids([{"column": "user_id", "operator": "in", "value": ["user-0", "user-3"]}]) == [
        0,
        3,
        4,
        7,
        8,
    ]
    assert ids([{"column": "release", "operator": "!=", "value": "v1"}]) == [1, 4, 7, 10]
    assert ids([{"column": "environment", "operator": "=", "value": "heron-evaluation"}]) == [11]
    assert ids([{"column": "tags", "operator": "contains", "value": "b"}]) == [1, 4, 7, 10]
    assert ids([{"column": "tags", "operator": "is null"}]) == [2, 5, 8]
    assert ids([{"column": "latency_ms", "operator": ">", "value": 2000}]) == [8, 9, 10]
    assert ids([{"column": "total_cost", "operator": ">=", "value": 0.03}]) == [3, 9]
    assert ids([{"column": "level", "operator": "=", "value": "ERROR"}]) == [0, 4, 8]
    assert ids([{"column": "metadata.team", "operator": "=", "value": "y"}]) == [1, 3, 5, 7, 9]
    assert ids([{"column": "session_id", "operator": "=", "value": "s-0"}]) == [0, 2, 4, 6, 8, 10]
    since, until = "2025-10-09T09:00:00Z", "2025-10-09T09:05:00Z"  # T0 is 08:53:20
    assert ids(
        [
            {"column": "timestamp", "operator": ">=", "value": since},
            {"column": "timestamp", "operator": "<", "value": until},
        ]
    ) == [7, 8, 9, 10]
    q = ListQuery(search="QUESTION 5")
    assert [d["id"] for d in backend.list_traces(project, q).data] == [f"{5:032x}"]


def test_pages_follow_the_order(backend: Any, project: str) -> None:
    write_many(backend, project)
    by_latency = pages(backend, "list_traces", project, order_by="latency.desc", limit=4)
    assert [len(p) for p in by_latency] == [4, 4, 3]
    latencies = [t["latency_ms"] for p in by_latency for t in p]
    assert latencies == sorted(latencies, reverse=True) and latencies[0] == 2750.0
    observations = pages(backend, "list_observations", project, order_by="timestamp", limit=5)
    flat = [o["id"] for p in observations for o in p]
    assert len(flat) == len(set(flat)) == 22


# -- both backends: the same answers --------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(duck: EmbeddedStore, ch: ClickHouseEvents) -> str:
    """One project holding the same story and traces in both backends (read-only tests)."""
    p = "p-" + uuid.uuid4().hex[:12]
    for store in (duck, ch):
        write_story(store, p)
        write_many(store, p)
        store.write_scores(scores(p, 0.2))
        store.write_scores(scores(p, 0.9))  # the same ids again: replaced, not added
    return p


def scores(p: str, quality: float) -> list[ScoreRecord]:
    """Numeric, boolean and categorical scores on a few traces and an observation."""
    out = []
    for i in (1, 2, 5):
        for second, (name, kind, value, label) in enumerate(
            [
                ("quality", "NUMERIC", quality * i, None),
                ("helpful", "BOOLEAN", float(i % 2), None),
                ("topic", "CATEGORICAL", None, f"topic-{i}"),
            ]
        ):
            out.append(
                ScoreRecord(
                    project_id=p,
                    id=f"{name}-{i}",
                    trace_id=f"{i:032x}",
                    observation_id=f"llm{i}" if name == "topic" else None,
                    session_id=None,
                    name=name,
                    value=value,
                    string_value=label,
                    data_type=kind,
                    source="API",
                    comment=None,
                    author=None,
                    timestamp=datetime(2025, 10, 9, 9, i, second, tzinfo=UTC),
                    metadata={"i": i},
                    environment="prod",
                )
            )
    return out


_QUERIES: list[dict[str, Any]] = [
    {},
    {"order_by": "timestamp.asc", "limit": 3},
    {"order_by": "latency.asc", "limit": 4},
    {"order_by": "cost.desc", "limit": 5},
    {"order_by": "tokens.desc", "limit": 2},
    {"filters": [{"column": "model", "operator": "=", "value": "claude"}]},
    {"filters": [{"column": "has_error", "operator": "=", "value": True}]},
    {"filters": [{"column": "user_id", "operator": "not in", "value": ["user-1"]}], "limit": 3},
    {"filters": [{"column": "prompt_name", "operator": "is null"}]},
    {"filters": [{"column": "observation_count", "operator": ">", "value": 2}]},
    {"search": "answer"},
    {"filters": [{"column": "name", "operator": "starts with", "value": "JOB-"}]},
    {"filters": [{"column": "name", "operator": "not contains", "value": "2"}]},
    {"filters": [{"column": "release", "operator": "is not null"}]},
    {"filters": [{"column": "release", "operator": "not in", "value": ["v2"]}]},
    {"filters": [{"column": "models", "operator": "in", "value": ["claude", "x"]}]},
    {"filters": [{"column": "tags", "operator": "not in", "value": ["b"]}]},
    {"filters": [{"column": "error_count", "operator": "in", "value": [1, 2]}]},
    {"filters": [{"column": "end_time", "operator": "<=", "value": 1_760_000_300}]},
    {"filters": [{"column": "input", "operator": "contains", "value": "h"}]},
    {"filters": [{"column": "id", "operator": "=", "value": "a" * 32}]},
    {"filters": [{"column": "prompt_version", "operator": "!=", "value": 3}]},
    {"filters": [{"column": "metadata.i", "operator": "in", "value": ["3", "4"]}]},
    {"filters": [{"column": "metadata.tier", "operator": "is not null"}]},
    {"filters": [{"column": "scores.quality", "operator": ">", "value": 1}]},
    {"filters": [{"column": "scores.topic", "operator": "=", "value": "topic-2"}]},
    {"filters": [{"column": "scores.helpful", "operator": "is null"}]},
]


@pytest.mark.parametrize("query", _QUERIES, ids=str)
def test_trace_lists_match(
    duck: EmbeddedStore, ch: ClickHouseEvents, shared: str, query: dict
) -> None:
    p = shared
    kw = {**query, "filters": parse_filters(query.get("filters"))}
    assert pages(ch, "list_traces", p, **kw) == pages(duck, "list_traces", p, **kw)
    q = ListQuery(filters=kw["filters"], search=kw.get("search"))
    assert ch.count_traces(p, q) == duck.count_traces(p, q) > 0


_OBSERVATION_QUERIES: list[dict[str, Any]] = [
    {"limit": 7},
    {"order_by": "latency.desc", "limit": 6},
    {"filters": [{"column": "type", "operator": "=", "value": "generation"}]},
    {"filters": [{"column": "user_id", "operator": "=", "value": "user-2"}]},
    {"filters": [{"column": "tags", "operator": "contains", "value": "a"}], "limit": 4},
    {"filters": [{"column": "latency_ms", "operator": "<", "value": 1.005}]},
    {"filters": [{"column": "metadata.k", "operator": "=", "value": "v"}]},
    {"search": "question 1"},
    {"filters": [{"column": "scores.topic", "operator": "is not null"}]},
    {"filters": [{"column": "model", "operator": "!=", "value": "claude"}]},
    {"filters": [{"column": "level", "operator": "in", "value": ["ERROR", "WARNING"]}]},
    {"filters": [{"column": "time_to_first_token_ms", "operator": "is null"}], "limit": 9},
    {"filters": [{"column": "environment", "operator": "=", "value": "heron-evaluation"}]},
    {"filters": [{"column": "trace_name", "operator": "=", "value": "support-chat"}]},
    {"filters": [{"column": "start_time", "operator": ">", "value": "2025-10-09T09:00:00"}]},
    {"filters": [{"column": "total_tokens", "operator": ">=", "value": 55}]},
]


@pytest.mark.parametrize("query", _OBSERVATION_QUERIES, ids=str)
def test_observation_lists_match(
    duck: EmbeddedStore, ch: ClickHouseEvents, shared: str, query: dict
) -> None:
    p = shared
    kw = {**query, "filters": parse_filters(query.get("filters"))}
    got = pages(ch, "list_observations", p, **kw)
    assert got == pages(duck, "list_observations", p, **kw)
    assert got[0]


_GROUP_QUERIES: list[dict[str, Any]] = [
    {},
    {"order_by": "first_seen.asc", "limit": 1},
    {"order_by": "traces.desc", "limit": 2},
    {"order_by": "cost.asc", "limit": 3},
    {"order_by": "errors.desc"},
    {"order_by": "tokens.desc", "limit": 2},
    {"filters": [{"column": "name", "operator": "=", "value": "job-1"}]},
    {"search": "question"},
]


@pytest.mark.parametrize("method", ["list_sessions", "list_users"])
@pytest.mark.parametrize("query", _GROUP_QUERIES, ids=str)
def test_sessions_and_users_match(
    duck: EmbeddedStore, ch: ClickHouseEvents, shared: str, method: str, query: dict
) -> None:
    kw = {**query, "filters": parse_filters(query.get("filters"))}
    got = pages(ch, method, shared, **kw)
    assert got == pages(duck, method, shared, **kw)
    assert got[0]


def test_sessions_and_users_add_up(ch: ClickHouseEvents, shared: str) -> None:
    (sessions,) = pages(ch, "list_sessions", shared, order_by="first_seen.asc")
    assert [(s["id"], s["trace_count"], s["user_ids"]) for s in sessions] == [
        ("s-0", 6, ["user-0", "user-2"]),
        ("s1", 1, ["u1"]),  # the story's trace: first seen at T0 too, then by id
        ("s-1", 5, ["user-1", "user-3"]),  # the eleventh trace (s-1) is heron's own
    ]
    (users,) = pages(ch, "list_users", shared, order_by="traces.desc")
    assert {u["id"]: u["trace_count"] for u in users} == {
        "user-0": 3,
        "user-1": 3,
        "user-2": 3,
        "user-3": 2,
        "u1": 1,
        "u9": 1,
    }
    scored = {u["id"]: u["scores"] for u in users}
    assert scored["user-1"] == {"helpful": 1.0, "quality": pytest.approx(2.7)}  # traces 1, 5
    session = ch.get_session(shared, "s-1")
    assert session["trace_count"] == 6 and session["user_ids"] == ["user-1", "user-3"]
    with pytest.raises(NotFound):
        ch.get_session(shared, "nope")


def test_session_details_match(duck: EmbeddedStore, ch: ClickHouseEvents, shared: str) -> None:
    for session_id in ("s1", "s-0", "s-1"):
        assert _close(ch.get_session(shared, session_id)) == _close(
            duck.get_session(shared, session_id)
        )


def test_user_days_match(duck: EmbeddedStore, ch: ClickHouseEvents, shared: str) -> None:
    since = datetime(2025, 10, 9)
    for user in ("user-1", "u1", "nobody"):
        got = ch.user_days(shared, user, since)
        assert _close(got) == _close(duck.user_days(shared, user, since))
    assert ch.user_days(shared, "user-1", since) == [
        {
            "day": "2025-10-09",
            "traces": 3,
            "cost": pytest.approx(0.05),  # traces 1, 5 and 9: 0.01 + 0 + 0.04
            "scores": {"helpful": 1.0, "quality": pytest.approx(2.7)},
        }
    ]
    assert ch.user_days(shared, "user-1", datetime(2025, 10, 10)) == []


def test_trace_details_match(duck: EmbeddedStore, ch: ClickHouseEvents, shared: str) -> None:
    p = shared
    got = ch.get_trace(p, f"{5:032x}")["scores"]
    assert [(s["name"], s["value"], s["string_value"]) for s in got] == [
        ("quality", 4.5, None),  # the second write replaced the first (0.2 * 5)
        ("helpful", 1.0, None),
        ("topic", None, "topic-5"),
    ]
    for trace_id in ["a" * 32, "b" * 32, f"{2:032x}", f"{3:032x}", f"{5:032x}", f"{11:032x}"]:
        assert _close(ch.get_trace(p, trace_id)) == _close(duck.get_trace(p, trace_id))


def test_other_projects_are_not_read(
    duck: EmbeddedStore, ch: ClickHouseEvents, shared: str
) -> None:
    p = shared
    for store in (duck, ch):
        assert store.list_traces("elsewhere", ListQuery()).data == []
        with pytest.raises(Exception, match="not found"):
            store.get_trace("elsewhere", "a" * 32)
    assert len(ch.list_traces(p, ListQuery(limit=100)).data) == 13  # the story's two + 11


def test_reads_from_many_threads_agree(ch: ClickHouseEvents, shared: str) -> None:
    """One ClickHouseEvents serves a server's request threads at once (no session to lock)."""
    q = ListQuery(order_by="cost.desc", limit=5)
    want = ch.list_traces(shared, q).data
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: ch.list_traces(shared, q).data, range(16)))
    assert got == [want] * 16 and len(want) == 5


_SCORE_FILTERS: list[dict[str, Any]] = [
    {},
    {"name": "quality"},
    {"user_id": "user-1"},
    {"trace_tags": ["a", "b"]},
    {"from_timestamp": datetime(2025, 10, 9, 9, 2), "to_timestamp": datetime(2025, 10, 9, 9, 5)},
    {"environments": ["prod", "default"]},
    {"operator": ">", "value": 1.0},
    {"score_ids": ["quality-1", "topic-5", "nope"]},
    {"trace_id": f"{2:032x}"},
    {"observation_id": "llm5", "data_type": "CATEGORICAL"},
    {"source": "API", "any_of": {"name": ["quality", "topic"], "string_value": ["topic-1"]}},
    {"any_of": {"value": [1.0, 4.5]}},
    {"value_min": 0.5, "value_max": 2.0},
    {"after": (datetime(2025, 10, 9, 9, 2, 0), "quality-2")},
]


def _stored(value: Any) -> Any:
    """Score items without when each backend stored them (its own clock), checking that a
    score replaced keeps when it was first stored."""
    if isinstance(value, tuple):
        return tuple(_stored(v) for v in value)
    if isinstance(value, list):
        return [_stored(v) for v in value]
    if isinstance(value, dict) and "createdAt" in value:
        assert value["createdAt"] < value["updatedAt"]  # written twice (see `shared`)
        return {k: v for k, v in value.items() if k not in ("createdAt", "updatedAt")}
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("spec", _SCORE_FILTERS, ids=str)
def test_score_lists_match(
    duck: EmbeddedStore, ch: ClickHouseEvents, shared: str, spec: dict
) -> None:
    f = ScoreFilter(**spec)
    want = _stored(duck.list_scores(shared, f, 1, 100))
    assert _stored(ch.list_scores(shared, f, 1, 100)) == want and want[1] > 0
    for page in (1, 2, 3):  # pages of two, newest first
        got = _stored(ch.list_scores(shared, f, page, 2))
        assert got == _stored(duck.list_scores(shared, f, page, 2))
    assert _stored(ch.scan_scores(shared, f, 3)) == _stored(duck.scan_scores(shared, f, 3))


def test_score_items_match(duck: EmbeddedStore, ch: ClickHouseEvents, shared: str) -> None:
    item = _stored(ch.get_score(shared, "quality-5"))
    assert item == _stored(duck.get_score(shared, "quality-5"))
    assert item is not None and item["value"] == 4.5  # the second write's value
    assert item["trace"] == {"userId": "user-1", "tags": [], "environment": "dev",
                             "sessionId": "s-1"}  # fmt: skip
    assert ch.get_score(shared, "nope") is None and ch.get_score("elsewhere", "quality-5") is None
    traces = [f"{i:032x}" for i in (1, 2, 5, 7)]
    want = score_rows.scores_by(duck.cursor(), shared, "trace_id", traces, 2)
    got = score_reads.scores_by(ch.client, shared, "trace_id", traces, 2)
    assert _stored(got) == _stored(want) and [len(v) for v in got.values()] == [2, 2, 2]


def test_deleted_scores_are_never_read(backend: Any, project: str) -> None:
    backend.write_scores(scores(project, 0.5))
    backend.write_scores(scores(project, 0.7))  # a second version of each
    assert backend.delete_score(project, "quality-2") is True
    assert backend.delete_score(project, "quality-2") is False
    assert backend.delete_score("elsewhere", "quality-1") is False
    assert backend.get_score(project, "quality-2") is None
    names = [s["id"] for s in backend.list_scores(project, ScoreFilter(name="quality"), 1, 50)[0]]
    assert names == ["quality-5", "quality-1"]
    q = ListQuery(filters=parse_filters([{"column": "scores.quality", "operator": "is not null"}]))
    assert backend.count_traces(project, q) == 0  # no trace written: the filter alone
    backend.write_scores(scores(project, 0.1)[:1])  # written again after the delete: back
    assert backend.get_score(project, "quality-1")["value"] == pytest.approx(0.1)


def _sorted_totals(rows: list[Any]) -> list[Any]:
    return sorted((_close(dataclasses.asdict(r)) for r in rows), key=repr)


def test_prometheus_totals_match(
    duck: EmbeddedStore, ch: ClickHouseEvents, shared: str, project: str
) -> None:
    later = datetime(2100, 1, 1)
    for store in (duck, ch):  # a trace whose root has not arrived: settled only when quiet
        store.write_batch(
            [obs(project, "9" * 32, "call", "root?", type="generation", model="m", end_us=T0 + S)],
            [],
        )
        store.write_scores(scores(project, 0.3))
    for p in (shared, project):
        for settled in (datetime(2000, 1, 1), later):
            want = _sorted_totals(duck.model_call_totals(p, settled))
            assert _sorted_totals(ch.model_call_totals(p, settled)) == want
            want = _sorted_totals(duck.trace_totals(p, settled))
            assert _sorted_totals(ch.trace_totals(p, settled)) == want
    assert [r.labels for r in ch.model_call_totals(project, datetime(2000, 1, 1))] == []
    assert [r.labels for r in ch.model_call_totals(project, later)] == [("m", None)]
    calls = {r.labels: r for r in ch.model_call_totals(shared, later)}
    assert calls[("gpt-4o", "support-chat")].output_tokens == 40  # the re-sent usage
    assert calls[("claude", "job-1")].count == 2  # traces 1 and 7
    for keep, top, chars in (((), 10, 60), (("topic",), 1, 60), ((), 0, 4), (("quality",), 1, 3)):
        want = _sorted_totals(duck.score_totals(shared, keep, top, chars))
        assert _sorted_totals(ch.score_totals(shared, keep, top, chars)) == want and want
    helpful = [r for r in ch.score_totals(shared, (), 10, 60) if r.name == "helpful"]
    assert [(r.count, r.valued, r.true) for r in helpful] == [(3, 3, 2)]  # replaced, not added


# -- ClickHouse only: replicas --------------------------------------------------------------------


def test_a_replica_with_a_fast_clock_does_not_win_later_writes(
    ch: ClickHouseEvents, project: str
) -> None:
    t = "f" * 32
    ch.write_batch([obs(project, t, "s", None, input="first")], [upd(project, t, name="one")])
    # the same rows as a replica whose clock runs an hour ahead would have written them
    for table, key in (("observations", "trace_id"), ("traces", "id")):
        ch.client.command(
            f"INSERT INTO {table} SELECT * REPLACE (row_version + 3600000000 AS row_version) "
            f"FROM {table} FINAL WHERE project_id = {{p:String}} AND {key} = {{t:String}}",
            parameters={"p": project, "t": t},
        )
    ch.write_batch([obs(project, t, "s", None, output="second")], [upd(project, t, name="two")])
    trace = ch.get_trace(project, t)
    (span,) = trace["observations"]
    assert (trace["name"], span["input"], span["output"]) == ("two", "first", "second")


def test_a_trace_lock_makes_simultaneous_replicas_merge_every_field(
    chdb_server: ChdbServer, ch: ClickHouseEvents, project: str
) -> None:
    """Two replicas (two clients) send versions of one span at once, each with its own
    metadata keys: under the trace lock (PostgreSQL's advisory lock in production; a lock
    shared by the two here) every key is kept."""
    held = threading.Lock()
    taken: list[list[tuple[str, str]]] = []

    @contextmanager
    def trace_lock(keys: Sequence[tuple[str, str]]) -> Iterator[None]:
        with held:
            taken.append(list(keys))
            yield

    url = chdb_server.database_url("backend_events")
    replicas = [ClickHouseEvents(connect(url), trace_lock) for _ in range(2)]
    t = "e" * 32

    def send(n: int) -> None:
        replica = replicas[n % 2]
        replica.write_batch([obs(project, t, "s", None, metadata={f"k{n}": n})], [])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(24)))
    (span,) = ch.get_trace(project, t)["observations"]
    assert span["metadata"] == {f"k{n}": n for n in range(24)}
    assert taken == [[(project, t)]] * 24
    for replica in replicas:
        replica.client.close()


# -- stored trace aggregates ----------------------------------------------------------------------


def scattered_trace(p: str, t: str) -> list[tuple[list[Any], list[TraceUpdate]]]:
    """One trace's spans over nine batches as a scattered agent sends them: children before
    their parents, later spans before earlier ones, re-sends (unchanged, with more fields,
    with another level), a span twice in one batch, and the root last."""
    gen = {"type": "generation", "model": "gpt-4o"}
    claude = {"type": "generation", "model": "claude"}
    return [
        ([obs(p, t, "c3", "b", start_us=T0 + 3 * S, end_us=T0 + 4 * S)], []),
        (
            [
                obs(
                    p,
                    t,
                    "g1",
                    "a",
                    start_us=T0 + S,
                    end_us=T0 + 2 * S,
                    **gen,
                    usage={"input": 10, "output": 5, "total": 15},
                    cost={"total": 0.01},
                ),
                obs(p, t, "g2", "b", start_us=T0 + 5 * S // 2, **claude),
            ],
            [upd(p, t, user_id="u-late", tags=["x"])],
        ),
        ([obs(p, t, "c3", "b", start_us=T0 + 3 * S, end_us=T0 + 4 * S)], []),  # unchanged
        (
            [
                obs(
                    p,
                    t,
                    "g2",
                    "b",
                    start_us=T0 + 5 * S // 2,
                    end_us=T0 + 9 * S,
                    **claude,
                    level="ERROR",
                    usage={"input": 7, "output": 3},
                    cost={"total": 0.02},
                ),
                obs(p, t, "d", "a", start_us=T0 + S // 2, level="WARNING"),
            ],
            [],
        ),
        ([obs(p, t, "b", "a", start_us=T0 + 2 * S, end_us=T0 + 10 * S)], []),
        (
            [  # g1 again: a later end and a new cost; d twice in the batch, the second ended
                obs(
                    p,
                    t,
                    "g1",
                    "a",
                    start_us=T0 + S,
                    end_us=T0 + 11 * S,
                    **gen,
                    cost={"total": 0.03},
                ),
                obs(p, t, "d", "a", start_us=T0 + S // 2),
                obs(p, t, "d", "a", start_us=T0 + S // 2, end_us=T0 + S),
            ],
            [],
        ),
        ([obs(p, t, "g2", "b", start_us=T0 + 5 * S // 2, level="DEBUG")], []),  # not ERROR now
        ([obs(p, t, "early", "a", start_us=T0 - 3 * S, end_us=T0 - 2 * S)], []),
        (
            [obs(p, t, "a", None, name="agent", start_us=T0, end_us=T0 + 6 * S, input="go")],
            [upd(p, t, is_root=True, name="agent", input="go", output="done")],
        ),
    ]


def test_aggregates_of_a_scattered_trace_are_duckdbs_after_each_batch(
    duck: EmbeddedStore, ch: ClickHouseEvents, project: str
) -> None:
    t = "5" * 32
    q = ListQuery(order_by="timestamp.asc")
    for n, (spans, updates) in enumerate(scattered_trace(project, t)):
        for store in (duck, ch):
            store.write_batch(spans, updates)
        want = _close(duck.get_trace(project, t))
        assert _close(ch.get_trace(project, t)) == want, f"after batch {n}"
        assert pages(ch, "list_traces", project) == pages(duck, "list_traces", project)
        assert ch.count_traces(project, q) == duck.count_traces(project, q) == 1
    got = ch.get_trace(project, t)
    assert got["observation_count"] == 7  # c3, g1, g2, d, b, early, a: each once
    assert got["root_observation_id"] == "a" and got["name"] == "agent"
    assert got["timestamp"] == "2025-10-09T08:53:17.000000Z"  # the early span's start
    assert got["latency_ms"] == 14000.0  # T0 - 3 s .. g1's later end, T0 + 11 s
    assert got["total_cost"] == pytest.approx(0.05)  # g1's re-sent 0.03, not 0.01 + 0.03
    assert (got["input_tokens"], got["output_tokens"], got["total_tokens"]) == (17, 8, 25)
    # g2's ERROR replaced by its re-sent DEBUG (a level other than DEFAULT wins): d's WARNING
    assert (got["level"], got["error_count"], got["models"]) == ("WARNING", 0, ["claude", "gpt-4o"])
    assert (got["user_id"], got["tags"]) == ("u-late", ["x"])


class _HeldInsert:
    """A clickhouse-connect client whose first observations insert waits for ``go``
    (a replica stalled between the start of its batch and its insert)."""

    def __init__(self, client: Any) -> None:
        self.client, self.arrived, self.go = client, threading.Event(), threading.Event()

    def insert_arrow(self, table: str, *args: Any, **kw: Any) -> Any:
        if table == "observations" and not self.go.is_set():
            self.arrived.set()
            assert self.go.wait(30)
        return self.client.insert_arrow(table, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_replicas_without_a_lock_keep_the_latest_aggregates(
    chdb_server: ChdbServer, ch: ClickHouseEvents, project: str
) -> None:
    """Replica B starts a batch (its clock read), stalls before inserting its span; replica A
    writes another span of the trace meanwhile, reading only its own. B's trace row must win,
    though B's batch started first: its version is taken once its span is in (past its clock
    then and past A's stored row's version)."""
    url = chdb_server.database_url("backend_events")
    held = _HeldInsert(connect(url))
    a, b = ClickHouseEvents(connect(url)), ClickHouseEvents(held)  # type: ignore[arg-type]
    t = "d" * 32
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(b.write_batch, [obs(project, t, "b", "a", end_us=T0 + 2 * S)], [])
        assert held.arrived.wait(30)
        a.write_batch([obs(project, t, "a", None, end_us=T0 + S)], [])
        assert ch.get_trace(project, t)["observation_count"] == 1  # A saw only its span
        held.go.set()
        late.result()
    got = ch.get_trace(project, t)
    assert (got["observation_count"], got["latency_ms"], got["root_observation_id"]) == (
        2,
        2000.0,
        "a",
    )
    a.client.close()
    held.client.close()


def test_a_stale_trace_row_heals_at_the_next_write(ch: ClickHouseEvents, project: str) -> None:
    """A lost race without the lock (a row from an older read winning) is repaired by the
    next write touching the trace, whatever it brings."""
    t = "c" * 32
    ch.write_batch([obs(project, t, "r", None, end_us=T0 + S), obs(project, t, "k", "r")], [])
    ch.client.command(  # the row a replica that read before "k" arrived would have won with
        "INSERT INTO traces SELECT * REPLACE (1 AS observation_count, row_version + 1 AS "
        "row_version) FROM traces FINAL WHERE project_id = {p:String} AND id = {t:String}",
        parameters={"p": project, "t": t},
    )
    assert ch.get_trace(project, t)["observation_count"] == 1
    ch.write_batch([], [upd(project, t, tags=["later"])])  # no span: a trace update
    got = ch.get_trace(project, t)
    assert (got["observation_count"], got["tags"], got["latency_ms"]) == (2, ["later"], 1000.0)


def test_the_migration_computes_the_aggregates_of_existing_traces(
    chdb_server: ChdbServer, ch: ClickHouseEvents, shared: str
) -> None:
    """A database of migration 1 (trace rows without aggregates) migrated to 2: its traces
    read as those written with the aggregates stored."""
    client = connect(chdb_server.database_url("backend_events_v1"))
    migrate(client, migrations=MIGRATIONS[:1])
    for table in ("observations", "traces", "scores"):
        columns = ", ".join(  # the columns of migration 1 (later ones add some)
            r[0]
            for r in client.query(
                "SELECT name FROM system.columns WHERE database = currentDatabase() "
                "AND table = {t:String} ORDER BY position",
                parameters={"t": table},
            ).result_rows
        )
        client.command(  # the shared project's rows as migration 1's tables hold them
            f"INSERT INTO {table} SELECT {columns} FROM backend_events.{table} FINAL "
            "WHERE project_id = {p:String}",
            parameters={"p": shared},
        )
    assert migrate(client, migrations=MIGRATIONS[:2]) == [2]
    old = ClickHouseEvents(client)
    for trace_id in ["a" * 32, "b" * 32, f"{3:032x}", f"{5:032x}"]:
        assert old.get_trace(shared, trace_id) == ch.get_trace(shared, trace_id)
    q = ListQuery(order_by="latency.desc", limit=100)
    assert old.list_traces(shared, q).data == ch.list_traces(shared, q).data
    assert len(old.list_traces(shared, q).data) == 13
    client.close()
