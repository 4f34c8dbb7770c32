"""The write path on a real DuckDB file: merges, out-of-order arrival, exact aggregates."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from heron.model import ObservationRecord, TraceUpdate
from heron.query.metrics import parse_metrics_query
from heron.store import EmbeddedStore, ListQuery
from heron.store.schema import MIGRATIONS

T0 = 1_760_000_000_000_000  # µs
TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER = "1" * 32


def obs(oid: str, parent: str | None = None, **kw: object) -> ObservationRecord:
    base: dict[str, object] = {
        "project_id": kw.pop("project_id", "p1"),
        "id": oid,
        "trace_id": kw.pop("trace_id", TRACE),
        "parent_id": parent,
        "type": "span",
        "name": oid,
        "start_us": T0,
    }
    base.update(kw)
    return ObservationRecord(**base)  # type: ignore[arg-type]


def upd(**kw: object) -> TraceUpdate:
    base: dict[str, object] = {"project_id": "p1", "trace_id": TRACE}
    base.update(kw)
    return TraceUpdate(**base)  # type: ignore[arg-type]


def trace_row(store: EmbeddedStore, project: str = "p1") -> dict:
    return store.get_trace(project, TRACE)


def test_aggregates_are_exact_across_batches(store: EmbeddedStore) -> None:
    # children first (as a BatchSpanProcessor sends them), root in a later request
    store.write_batch(
        [
            obs(
                "a" * 16,
                "r" * 16,
                type="generation",
                model="gpt-4o",
                start_us=T0 + 100_000,
                end_us=T0 + 900_000,
                usage={"input": 100, "output": 20, "total": 120},
                cost={"input": 0.001, "output": 0.002, "total": 0.003},
            ),
            obs(
                "b" * 16,
                "r" * 16,
                type="tool",
                start_us=T0 + 950_000,
                end_us=T0 + 1_200_000,
                level="ERROR",
                status_message="boom",
            ),
        ],
        [upd(user_id="u1", session_id="s1")],
    )
    t = trace_row(store)
    assert t["observation_count"] == 2
    assert t["name"] is None  # root not here yet, but the trace is readable
    assert t["error_count"] == 1 and t["level"] == "ERROR"

    store.write_batch(
        [obs("r" * 16, None, name="support-chat", end_us=T0 + 2_000_000, input="hi")],
        [upd(is_root=True, name="support-chat", input="hi", output="hello")],
    )
    t = trace_row(store)
    assert t["name"] == "support-chat"
    assert t["observation_count"] == 3
    assert t["latency_ms"] == pytest.approx(2000.0)
    assert t["total_cost"] == pytest.approx(0.003)
    assert (t["input_tokens"], t["output_tokens"], t["total_tokens"]) == (100, 20, 120)
    assert t["models"] == ["gpt-4o"]
    assert t["user_id"] == "u1" and t["session_id"] == "s1"
    assert t["input"] == "hi" and t["output"] == "hello"
    assert t["root_observation_id"] == "r" * 16
    [root] = t["observations"]
    assert {c["id"] for c in root["children"]} == {"a" * 16, "b" * 16}


def test_resent_span_does_not_duplicate_and_later_version_merges(store: EmbeddedStore) -> None:
    start = obs(
        "a" * 16,
        None,
        type="generation",
        model="gpt-4o",
        input="question",
        usage={"input": 10},
        metadata={"k": 1},
    )
    store.write_batch([start], [upd(is_root=True, name="a" * 16)])
    store.write_batch([start], [])  # exact re-send
    update = obs(
        "a" * 16, None, end_us=T0 + 500_000, output="answer", usage={"output": 5}, metadata={"j": 2}
    )
    result = store.write_batch([update], [])
    assert result.merged == 1
    t = trace_row(store)
    assert t["observation_count"] == 1
    [o] = t["observations"]
    assert o["type"] == "generation"  # a plain "span" update does not demote the type
    assert (o["input"], o["output"]) == ("question", "answer")
    assert o["usage"] == {"input": 10, "output": 5, "total": 15}
    assert o["metadata"] == {"k": 1, "j": 2}
    assert o["latency_ms"] == pytest.approx(500.0)
    assert t["latency_ms"] == pytest.approx(500.0)
    assert t["total_tokens"] == 15


def test_same_span_twice_in_one_batch_merges(store: EmbeddedStore) -> None:
    store.write_batch(
        [obs("a" * 16, None, input="x"), obs("a" * 16, None, output="y", end_us=T0 + 10)], []
    )
    [o] = trace_row(store)["observations"]
    assert (o["input"], o["output"]) == ("x", "y")


def test_explicit_trace_name_beats_root_span_name(store: EmbeddedStore) -> None:
    store.write_batch([obs("c" * 16, "r" * 16)], [upd(name="checkout-flow")])
    store.write_batch([obs("r" * 16, None)], [upd(is_root=True, name="POST /chat")])
    assert trace_row(store)["name"] == "checkout-flow"


def test_trace_attributes_merge_tags_and_metadata(store: EmbeddedStore) -> None:
    store.write_batch([obs("a" * 16)], [upd(tags=["x", "y"], metadata={"a": 1}, release="1.0")])
    store.write_batch([obs("b" * 16)], [upd(tags=["y", "z"], metadata={"b": 2})])
    t = trace_row(store)
    assert t["tags"] == ["x", "y", "z"]
    assert t["metadata"] == {"a": 1, "b": 2}
    assert t["release"] == "1.0"


def test_trace_input_kept_when_later_batch_has_none(store: EmbeddedStore) -> None:
    store.write_batch([obs("r" * 16)], [upd(is_root=True, input="in", output="out")])
    store.write_batch([obs("c" * 16, "r" * 16)], [upd(user_id="u")])
    t = trace_row(store)
    assert (t["input"], t["output"], t["user_id"]) == ("in", "out", "u")


def test_projects_are_isolated(store: EmbeddedStore) -> None:
    store.write_batch([obs("a" * 16, project_id="p1")], [upd(name="one")])
    store.write_batch(
        [obs("a" * 16, project_id="p2", name="other")],
        [TraceUpdate(project_id="p2", trace_id=TRACE, name="two")],
    )
    assert trace_row(store, "p1")["name"] == "one"
    assert trace_row(store, "p2")["name"] == "two"
    assert len(store.list_traces("p1", ListQuery()).data) == 1
    assert trace_row(store, "p1")["observation_count"] == 1


def test_failed_batch_rolls_back(store: EmbeddedStore) -> None:
    bad = obs("a" * 16, type=None)  # NOT NULL violation
    with pytest.raises(Exception):  # noqa: B017
        store.write_batch([obs("b" * 16), bad], [])
    assert store.list_traces("p1", ListQuery()).data == []


def test_data_survives_reopen(tmp_path) -> None:
    path = tmp_path / "h.duckdb"
    s = EmbeddedStore(path)
    s.write_batch([obs("a" * 16)], [upd(name="kept")])
    s.close()
    s = EmbeddedStore(path)
    try:
        assert trace_row(s)["name"] == "kept"
    finally:
        s.close()


def test_same_span_id_in_two_traces_stays_two_observations(store: EmbeddedStore) -> None:
    other = "1" * 32
    store.write_batch([obs("a" * 16, name="x"), obs("a" * 16, trace_id=other, name="y")], [])
    store.write_batch([obs("a" * 16, trace_id=other, name="y2")], [])
    assert [o["name"] for o in trace_row(store)["observations"]] == ["x"]
    assert [o["name"] for o in store.get_trace("p1", other)["observations"]] == ["y2"]


# Observation rows hold their trace's scalar attributes, kept in step by the write path.

COLUMNS = "trace_name, user_id, session_id, release, version, environment"


def stored(store: EmbeddedStore, project: str = "p1", trace: str = TRACE) -> dict[str, tuple]:
    rows = (
        store.cursor()
        .execute(
            f"SELECT id, {COLUMNS} FROM observations WHERE project_id = ? AND trace_id = ?",
            [project, trace],
        )
        .fetchall()
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def test_children_stored_before_the_root_get_its_name(store: EmbeddedStore) -> None:
    store.write_batch(
        [obs("a" * 16, "r" * 16), obs("b" * 16, "r" * 16)],
        [upd(user_id="u1", session_id="s1", environment="production")],
    )
    assert set(stored(store).values()) == {(None, "u1", "s1", None, None, "production")}

    store.write_batch(
        [obs("r" * 16, None)], [upd(is_root=True, name="support-chat", release="2.0")]
    )
    want = ("support-chat", "u1", "s1", "2.0", None, "production")
    assert stored(store) == {"a" * 16: want, "b" * 16: want, "r" * 16: want}


def test_a_trace_update_without_observations_updates_stored_ones(store: EmbeddedStore) -> None:
    store.write_batch([obs("a" * 16), obs("b" * 16, "a" * 16)], [upd(name="chat", release="1")])
    store.write_batch([obs("c" * 16, trace_id=OTHER)], [upd(trace_id=OTHER, name="other")])
    # as the Langfuse ingestion API's trace-create sends it: attributes only
    store.write_batch([], [upd(release="2", version="v7", user_id="u9")])
    assert set(stored(store).values()) == {("chat", "u9", None, "2", "v7", None)}
    assert set(stored(store, trace=OTHER).values()) == {("other", None, None, None, None, None)}


def test_resent_and_merged_observations_keep_the_attributes(store: EmbeddedStore) -> None:
    store.write_batch([obs("a" * 16, input="q")], [upd(name="chat", user_id="u1")])
    # re-sent in a batch that also changes the trace: merged row and the rest agree
    store.write_batch(
        [obs("a" * 16, output="answer"), obs("b" * 16, "a" * 16)], [upd(user_id="u2")]
    )
    assert set(stored(store).values()) == {("chat", "u2", None, None, None, None)}
    assert len(stored(store)) == 2


def test_projects_keep_their_own_attributes(store: EmbeddedStore) -> None:
    store.write_batch([obs("a" * 16, project_id="p1")], [upd(name="one", user_id="u1")])
    store.write_batch(
        [obs("a" * 16, project_id="p2")],
        [TraceUpdate(project_id="p2", trace_id=TRACE, name="two", user_id="u2")],
    )
    store.write_batch([], [upd(user_id="u3")])
    assert stored(store, "p1") == {"a" * 16: ("one", "u3", None, None, None, None)}
    assert stored(store, "p2") == {"a" * 16: ("two", "u2", None, None, None, None)}


def test_metrics_group_observations_by_a_root_that_came_last(store: EmbeddedStore) -> None:
    store.write_batch([obs(f"{i:016x}", "r" * 16) for i in range(3)], [upd(release="9")])
    store.write_batch([obs("r" * 16, None)], [upd(is_root=True, name="rag")])
    q = parse_metrics_query(
        {
            "view": "observations",
            "dimensions": [{"field": "traceName"}, {"field": "release"}],
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "filters": [{"column": "release", "operator": "=", "value": "9", "type": "string"}],
            "fromTimestamp": "2025-01-01T00:00:00Z",
            "toTimestamp": "2026-01-01T00:00:00Z",
        }
    )
    assert store.metrics("p1", q) == [{"traceName": "rag", "release": "9", "count_count": 4}]


def test_migration_fills_the_columns_of_an_older_store(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for ddl in MIGRATIONS[:6]:
        con.execute(ddl)
    con.execute("INSERT INTO meta VALUES ('schema_version', '6')")
    now = datetime(2025, 6, 1)  # naive UTC, as stored
    for project, trace, name in (("p1", TRACE, "chat"), ("p2", TRACE, "rag"), ("p1", OTHER, None)):
        con.execute(
            "INSERT INTO traces (project_id, id, name, user_id, release, start_time, "
            "observation_count, error_count, level, updated_at) "
            "VALUES (?, ?, ?, ?, '1.0', ?, 1, 0, 'DEFAULT', ?)",
            [project, trace, name, f"user-{project}", now, now],
        )
        con.execute(
            "INSERT INTO observations (project_id, id, trace_id, type, name, start_time, level, "
            "updated_at) VALUES (?, 'a', ?, 'span', 'step', ?, 'DEFAULT', ?)",
            [project, trace, now, now],
        )
    con.close()

    s = EmbeddedStore(path)
    try:
        assert stored(s, "p1") == {"a": ("chat", "user-p1", None, "1.0", None, None)}
        assert stored(s, "p2") == {"a": ("rag", "user-p2", None, "1.0", None, None)}
        assert stored(s, "p1", OTHER) == {"a": (None, "user-p1", None, "1.0", None, None)}
    finally:
        s.close()


def test_many_traces_changed_in_one_batch(store: EmbeddedStore) -> None:
    traces = [f"{i:032x}" for i in range(1, 21)]  # more than are updated one by one
    store.write_batch(
        [obs(f"{i:016x}", "f" * 16, trace_id=t) for i, t in enumerate(traces)],
        [upd(trace_id=t, user_id="u") for t in traces],
    )
    store.write_batch([], [upd(trace_id=t, name=f"route-{t[-2:]}") for t in traces])
    for t in traces:
        assert set(stored(store, trace=t).values()) == {(f"route-{t[-2:]}", "u", *[None] * 4)}


def test_a_trace_with_its_own_time_exists_before_any_observation(store: EmbeddedStore) -> None:
    # a Langfuse trace-create: attributes and a time, no observation
    store.write_batch([], [upd(name="chat", timestamp_us=T0 + 5_000_000)])
    store.write_batch([], [upd(user_id="u1", timestamp_us=T0 + 9_000_000)])  # a later one
    trace = trace_row(store)
    assert (trace["name"], trace["user_id"], trace["observation_count"]) == ("chat", "u1", 0)
    assert trace["timestamp"] == "2025-10-09T08:53:25.000000Z"  # the earliest it was given
    store.write_batch([obs("a" * 16, start_us=T0 + 7_000_000)], [])
    trace = trace_row(store)
    assert (trace["name"], trace["observation_count"]) == ("chat", 1)
    assert trace["timestamp"] == "2025-10-09T08:53:27.000000Z"  # its observation's now


def test_an_update_without_a_start_and_its_create_merge(store: EmbeddedStore) -> None:
    """A Langfuse update event (start 0) before its create: stored starting at its end, then
    the create's start wins; a merge brings model and usage together and is priced."""
    priced: list[str] = []

    def price(r: ObservationRecord) -> dict[str, float] | None:
        priced.append(r.id)
        return {"input": 0.5, "output": 0.25, "total": 0.75}

    late = obs(
        "g" * 16, start_us=0, end_us=T0 + 2_000_000, usage={"input": 5, "output": 2, "total": 7}
    )
    store.write_batch([late], [], price=price)
    (stored,) = trace_row(store)["observations"]
    assert stored["start_time"] == stored["end_time"] == "2025-10-09T08:53:22.000000Z"
    assert stored["cost"] == {} and priced == []  # no model yet: nothing to price
    store.write_batch([obs("g" * 16, start_us=T0, name="llm", model="gpt-4o")], [], price=price)
    (merged,) = trace_row(store)["observations"]
    assert (merged["name"], merged["model"], merged["start_time"]) == (
        "llm", "gpt-4o", "2025-10-09T08:53:20.000000Z",
    )  # fmt: skip
    assert merged["usage"] == {"input": 5, "output": 2, "total": 7}
    assert merged["cost"] == {"input": 0.5, "output": 0.25, "total": 0.75} and priced == ["g" * 16]
    assert trace_row(store)["total_cost"] == 0.75
    # a client's cost is never replaced
    paid = {"total": 9.0}
    store.write_batch([obs("c" * 16, model="gpt-4o", cost=paid, cost_from_client=True)], [])
    store.write_batch([obs("c" * 16, usage={"input": 1})], [], price=price)
    client = next(o for o in trace_row(store)["observations"] if o["id"] == "c" * 16)
    assert client["cost"] == paid and priced == ["g" * 16]
