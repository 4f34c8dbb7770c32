"""Langfuse's read API, comments and the annotation reads on both backends: DuckDB
(EmbeddedStore, a real file) and the cluster (ClusterStore on the chdb HTTP shim and a real
PostgreSQL). The same traces, scores, comments and queues go to both; every method must
answer the same on both (pages, totals, orders, cursors, filters, field groups, 404s), and
each answer is checked against what it must be. A project per test (created on each store:
their ids differ, and are mapped where an answer names one)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from heron.errors import BadRequest, Conflict, NotFound
from heron.model import ObservationRecord, TraceUpdate
from heron.query import parse_filters
from heron.query.langfuse import langfuse_filters
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore
from heron.store.analysis import NoteQuery
from heron.store.cluster import ClusterStore
from heron.store.comments import CommentFilter
from heron.store.reads import encode_cursor

T0 = 1_760_000_000_000_000  # µs: 2025-10-09T08:53:20Z
S = 1_000_000


@dataclass
class Both:
    """One project on each store, written alike; :meth:`same` calls a method on both."""

    duck: EmbeddedStore
    cluster: ClusterStore
    pd: str  # the project's id on DuckDB
    pc: str  # on the cluster

    def each(self) -> list[tuple[Any, str]]:
        return [(self.duck, self.pd), (self.cluster, self.pc)]

    def write(self, observations: list[dict], updates: list[dict]) -> None:
        for store, p in self.each():
            store.write_batch(
                [ObservationRecord(project_id=p, **o) for o in observations],
                [TraceUpdate(project_id=p, **u) for u in updates],
            )

    def scores(self, scores: list[dict]) -> None:
        for store, p in self.each():
            store.write_scores([ScoreRecord(project_id=p, **s) for s in scores])

    def same(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """The answer of ``method`` (project first), asserted identical on both stores (the
        cluster's project id read as DuckDB's)."""
        a = getattr(self.duck, method)(self.pd, *args, **kwargs)
        b = getattr(self.cluster, method)(self.pc, *args, **kwargs)
        b, a = _swap(b, self.pc, self.pd), _swap(a, self.pd, self.pd)
        assert b == a, f"{method}: {_diff(a, b)}"
        return a

    def raises(self, exc: type[Exception], method: str, *args: Any) -> str:
        messages = []
        for store, p in self.each():
            with pytest.raises(exc) as caught:
                getattr(store, method)(p, *args)
            messages.append(str(caught.value))
        assert messages[0] == messages[1]
        return messages[0]


def _diff(a: Any, b: Any, path: str = "") -> str:
    """Where two answers first differ (for the assertion's message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k, "<missing>") != b.get(k, "<missing>"):
                return _diff(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{path}.{k}")
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _diff(x, y, f"{path}[{i}]")
    return f"{path}: DuckDB {a!r}, cluster {b!r}"


def _swap(value: Any, old: str, new: str) -> Any:
    """``value`` with project id ``old`` read as ``new``, and without ``updated_at``."""
    if isinstance(value, str):
        return new if value == old else value
    if isinstance(value, dict):  # when each store wrote a row differs: not compared
        return {k: _swap(v, old, new) for k, v in value.items() if k != "updated_at"}
    if isinstance(value, list | tuple):
        return type(value)(_swap(v, old, new) for v in value)
    return value


@pytest.fixture
def both(duck: EmbeddedStore, cluster: ClusterStore) -> Both:
    name = "p-" + uuid.uuid4().hex[:8]
    pair = Both(duck, cluster, duck.create_project(name)["id"], cluster.create_project(name)["id"])
    write_story(pair)
    return pair


def write_story(b: Both) -> None:
    """Five traces t0..t4 ten seconds apart (t4 newest), each a root span and a generation:
    names chat (even) and search (odd), users u0/u1, sessions s1 (t0, t1), s2 (t2), none
    (t3, t4), environment prod but t4 heron-exp (heron's own: hidden unless asked for),
    tags, metadata; latency grows with i. Scores on
    t0, t1 (trace) and t0's generation."""
    observations, updates = [], []
    for i in range(5):
        tid, start = f"t{i}", T0 + i * 10 * S
        observations += [
            {"id": f"r{i}", "trace_id": tid, "parent_id": None, "type": "span",
             "name": "chat" if i % 2 == 0 else "search", "start_us": start,
             "end_us": start + (i + 1) * S, "input": f'{{"q": "question {i}"}}',
             "output": f"answer {i}"},
            {"id": f"g{i}", "trace_id": tid, "parent_id": f"r{i}", "type": "generation",
             "name": "llm", "start_us": start + S // 10, "end_us": start + S // 2,
             "completion_start_us": start + S // 5, "model": "gpt-4o" if i < 3 else "claude",
             "model_parameters": {"temperature": 0.5}, "usage": {"input": 10 * i, "output": 5},
             "cost": {"total": 0.001 * (i + 1)}, "metadata": {"step": i}, "input": "prompt",
             "output": "completion", "level": "ERROR" if i == 3 else "DEFAULT",
             "prompt_name": "p1" if i == 1 else None, "prompt_version": 2 if i == 1 else None},
        ]  # fmt: skip
        updates.append(
            {"trace_id": tid, "is_root": True, "name": "chat" if i % 2 == 0 else "search",
             "user_id": f"u{i % 2}", "session_id": {0: "s1", 1: "s1", 2: "s2"}.get(i),
             "release": "v1" if i < 2 else "v2", "version": "1.0",
             "environment": "heron-exp" if i == 4 else "prod",
             "tags": ["vip"] if i < 2 else ["free"],
             "metadata": {"tier": "gold" if i < 2 else "basic"},
             "input": f'{{"q": "question {i}"}}', "output": f"answer {i}", "public": i == 0}
        )  # fmt: skip
    b.write(observations, updates)
    at = datetime(2025, 10, 9, 9, 0, tzinfo=UTC)
    b.scores(
        [
            {"id": "sc0", "trace_id": "t0", "observation_id": None, "session_id": None,
             "name": "quality", "value": 0.2, "string_value": None, "data_type": "NUMERIC",
             "source": "ANNOTATION", "comment": "meh", "author": "ann", "timestamp": at,
             "metadata": None, "environment": "prod", "config_id": "c1", "queue_id": "q1"},
            {"id": "sc1", "trace_id": "t1", "observation_id": None, "session_id": None,
             "name": "quality", "value": 0.9, "string_value": None, "data_type": "NUMERIC",
             "source": "ANNOTATION", "comment": None, "author": "bob",
             "timestamp": at.replace(minute=1), "metadata": None, "environment": "prod",
             "config_id": "c1", "queue_id": "q1"},
            {"id": "sc2", "trace_id": "t0", "observation_id": "g0", "session_id": None,
             "name": "why", "value": None, "string_value": "the model looped",
             "data_type": "TEXT", "source": "API", "comment": None, "author": None,
             "timestamp": at.replace(minute=2), "metadata": None, "environment": "prod"},
            {"id": "sc3", "trace_id": "t0", "observation_id": None, "session_id": None,
             "name": "quality", "value": 0.4, "string_value": None, "data_type": "NUMERIC",
             "source": "ANNOTATION", "comment": "later", "author": "ann",
             "timestamp": at.replace(minute=3), "metadata": None, "environment": "prod",
             "config_id": "c2", "queue_id": "q1"},
        ]
    )  # fmt: skip


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


# -- Langfuse's trace reads --------------------------------------------------------------------


def test_trace_page_orders_pages_and_totals(both: Both) -> None:
    rows, total = both.same("langfuse_trace_page", [], None, 1, 10, False)
    assert ids(rows) == ["t3", "t2", "t1", "t0"] and total == 4  # t4's environment is hidden
    first = rows[-1]
    assert first["observation_ids"] == ["r0", "g0"] and first["score_ids"] == ["sc0", "sc2", "sc3"]
    assert first["timestamp"] == datetime(2025, 10, 9, 8, 53, 20) and "input" not in first
    assert first["tags"] == ["vip"] and first["public"] is True
    rows, total = both.same("langfuse_trace_page", [], "latency.asc", 2, 2, True)
    assert ids(rows) == ["t2", "t3"] and total == 4
    assert rows[0]["input"] == '{"q": "question 2"}' and rows[0]["output"] == "answer 2"
    for order in ("name.asc", "userId.desc", "sessionId.asc", "totalCost.desc", "id.asc"):
        both.same("langfuse_trace_page", [], order, 1, 10, False)
    rows, _ = both.same("langfuse_trace_page", [], "sessionId.desc", 1, 10, False)
    assert ids(rows) == ["t2", "t1", "t0", "t3"]  # no session last
    assert both.same("langfuse_trace_page", [], "timestamp.desc", 9, 10, False) == ([], 4)
    assert "orderBy" in both.raises(BadRequest, "langfuse_trace_page", [], "nope.asc", 1, 5, False)


def test_trace_page_filters_in_langfuse_terms(both: Both) -> None:
    def page(raw: str) -> list[str]:
        return ids(both.same("langfuse_trace_page", langfuse_filters(raw), None, 1, 50, False)[0])

    assert page('[{"type":"string","column":"name","operator":"=","value":"chat"}]') == [
        "t2",
        "t0",
    ]
    assert page('[{"type":"arrayOptions","column":"traceTags","operator":"all of",'
                '"value":["vip"]}]') == ["t1", "t0"]  # fmt: skip
    assert page('[{"type":"stringObject","column":"metadata","key":"tier","operator":"=",'
                '"value":"basic"}]') == ["t3", "t2"]  # fmt: skip
    assert page('[{"type":"number","column":"latency","operator":">=","value":3}]') == [
        "t3",
        "t2",
    ]
    assert page(
        '[{"type":"string","column":"environment","operator":"=","value":"heron-exp"}]'
    ) == ["t4"]
    assert page('[{"type":"string","column":"userId","operator":"=","value":"u1"}]') == [
        "t3",
        "t1",
    ]
    assert page('[{"type":"datetime","column":"timestamp","operator":">=",'
                '"value":"2025-10-09T08:53:40Z"}]') == ["t3", "t2"]  # fmt: skip
    assert page('[{"type":"string","column":"model","operator":"=","value":"claude"}]') == ["t3"]
    assert page('[{"type":"numberObject","column":"scores","key":"quality","operator":">",'
                '"value":0.5}]') == ["t1"]  # fmt: skip


def test_trace_detail_and_its_observations(both: Both) -> None:
    trace, observations = both.same("langfuse_trace", "t1")
    assert trace["id"] == "t1" and trace["session_id"] == "s1" and trace["output"] == "answer 1"
    assert [o["id"] for o in observations] == ["r1", "g1"]
    gen = observations[1]
    assert gen["trace_name"] == "search" and gen["user_id"] == "u1" and gen["prompt_version"] == 2
    assert gen["completion_start_time"] == datetime(2025, 10, 9, 8, 53, 30, 200000)
    assert gen["input"] == "prompt" and gen["usage"]["input"] == 10
    assert (
        both.raises(NotFound, "langfuse_trace", "nope") == "trace 'nope' not found in this project"
    )


def test_a_trace_of_another_project_is_not_found(both: Both, duck, cluster) -> None:
    other = Both(duck, cluster, duck.create_project("x")["id"], cluster.create_project("x")["id"])
    other.raises(NotFound, "langfuse_trace", "t0")
    other.raises(NotFound, "langfuse_observation", "g0")
    assert other.same("langfuse_trace_page", [], None, 1, 10, True) == ([], 0)
    assert other.same("langfuse_observation_scan", [], 10, None, True, True) == ([], None)
    assert other.same("langfuse_session_traces", "s1") == []
    assert other.same("observation_trace_id", "g0") is None
    assert other.same("scores_by_ids", ["sc0"]) == {}


# -- observations ------------------------------------------------------------------------------


def test_observation_page_and_one_observation(both: Both) -> None:
    rows, total = both.same("langfuse_observation_page", [], 1, 3)
    assert total == 8 and ids(rows) == ["g3", "r3", "g2"]  # t4 hidden
    rows, total = both.same(
        "langfuse_observation_page", parse_filters([{"column": "type", "operator": "=",
                                                      "value": "generation"}]), 2, 2,
    )  # fmt: skip
    assert total == 4 and ids(rows) == ["g1", "g0"]
    one = both.same("langfuse_observation", "g2")
    assert one["trace_id"] == "t2" and one["model"] == "gpt-4o" and one["output"] == "completion"
    assert one["session_id"] == "s2" and one["environment"] == "prod"
    assert "observation 'x' not found" in both.raises(NotFound, "langfuse_observation", "x")


def test_observation_scan_pages_with_cursors_and_field_groups(both: Both) -> None:
    seen, cursor = [], None
    for _ in range(5):
        rows, cursor = both.same("langfuse_observation_scan", [], 3, cursor, False, True)
        seen += ids(rows)
        assert all("input" not in r and r["tags"] for r in rows)
        if cursor is None:
            break
    assert seen == ["g3", "r3", "g2", "r2", "g1", "r1", "g0", "r0"]
    rows, _ = both.same("langfuse_observation_scan", [], 2, None, True, False)
    assert rows[0]["input"] == "prompt" and "tags" not in rows[0]
    # a cursor from one backend pages the other
    _, cursor = both.duck.langfuse_observation_scan(both.pd, [], 4, None, False, False)
    rows, _ = both.cluster.langfuse_observation_scan(both.pc, [], 4, cursor, False, False)
    assert ids(rows) == ["g1", "r1", "g0", "r0"]
    root = langfuse_filters('[{"type":"boolean","column":"isRootObservation","operator":"=",'
                            '"value":true}]')  # fmt: skip
    rows, cursor = both.same("langfuse_observation_scan", root, 10, None, False, False)
    assert ids(rows) == ["r3", "r2", "r1", "r0"] and cursor is None
    both.raises(BadRequest, "langfuse_observation_scan", [], 2, "garbage", False, False)
    huge = encode_cursor(1e30, "z")  # forged: past every start time, not a 500
    assert ids(both.same("langfuse_observation_scan", [], 2, huge, False, False)[0]) == [
        "g3",
        "r3",
    ]


# -- sessions ----------------------------------------------------------------------------------


def test_session_page_and_a_sessions_traces(both: Both) -> None:
    rows, total = both.same("langfuse_session_page", [], (None, None), 1, 10)
    assert total == 2 and [r["id"] for r in rows] == ["s2", "s1"]
    assert rows[1] == {"id": "s1", "created_at": datetime(2025, 10, 9, 8, 53, 20),
                       "environment": "prod"}  # fmt: skip
    rows, total = both.same(
        "langfuse_session_page", [], (datetime(2025, 10, 9, 8, 53, 30), None), 1, 10
    )
    assert [r["id"] for r in rows] == ["s2"] and total == 1
    assert both.same("langfuse_session_page", [], (None, None), 2, 1)[0][0]["id"] == "s1"
    traces = both.same("langfuse_session_traces", "s1")
    assert ids(traces) == ["t0", "t1"] and traces[0]["input"] == '{"q": "question 0"}'
    assert both.same("langfuse_session_traces", "none") == []


# -- scores the annotation views read ----------------------------------------------------------


def test_annotation_score_reads(both: Both) -> None:
    assert both.same("observation_trace_id", "g2") == "t2"
    assert both.same("observation_trace_id", "nope") is None
    by_id = both.same("scores_by_ids", ["sc0", "sc2", "nope"])
    assert by_id == {
        "sc0": {"config_id": "c1", "value": 0.2, "string_value": None, "data_type": "NUMERIC"},
        "sc2": {"config_id": None, "value": None, "string_value": "the model looped",
                "data_type": "TEXT"},
    }  # fmt: skip
    rows = both.same("queue_scores", "q1", ["c1"])
    assert [(r["author"], r["value"], r["item"]) for r in rows] == [
        ("ann", 0.2, ("t0", None, None)),
        ("bob", 0.9, ("t1", None, None)),
    ]
    labels = both.same("human_labels", "quality", "ANNOTATION")
    assert [(r["trace_id"], r["value"], r["comment"]) for r in labels] == [
        ("t0", 0.4, "later"),  # the latest on t0
        ("t1", 0.9, None),
    ]
    assert both.same("human_labels", "quality", "API") == []


# -- comments ----------------------------------------------------------------------------------


def _comment(both: Both, *args: Any) -> tuple[dict, dict]:
    """A comment created on both stores; the two answers (ids and times differ), compared
    without them."""
    a = both.duck.create_comment(both.pd, *args)
    b = both.cluster.create_comment(both.pc, *args)
    assert _plain(_swap(b, both.pc, both.pd)) == _plain(a)
    return a, b


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return {k: v for k, v in value.items() if k not in ("id", "createdAt", "updatedAt")}


def test_comments_create_read_list_update_delete(both: Both) -> None:
    a, b = _comment(both, "TRACE", "t0", "first", "u1")
    assert a["traceId"] == "t0" and a["objectType"] == "TRACE" and a["authorUserId"] == "u1"
    assert a["createdAt"] == a["updatedAt"]
    _comment(both, "OBSERVATION", "g1", "on a span", "u2")
    obs, _ = _comment(both, "OBSERVATION", "g2", "hinted", None, "t2")
    assert obs["traceId"] == "t2"
    sess, _ = _comment(both, "SESSION", "s1", "a session note", "u1")
    assert sess["traceId"] is None
    assert both.cluster.get_comment(both.pc, b["id"]) == b
    assert both.cluster.get_comment(both.pd, b["id"]) is None  # another project

    def page(f: CommentFilter | None, n: int = 1, limit: int = 50) -> tuple[list, int]:
        da = both.duck.list_comments(both.pd, f or CommentFilter(), n, limit)
        cl = both.cluster.list_comments(both.pc, f or CommentFilter(), n, limit)
        assert (_plain(_swap(cl[0], both.pc, both.pd)), cl[1]) == (_plain(da[0]), da[1])
        return [r["content"] for r in cl[0]], cl[1]

    assert page(None) == (["a session note", "hinted", "on a span", "first"], 4)
    assert page(None, 2, 3) == (["first"], 4)
    assert page(CommentFilter(object_type="OBSERVATION")) == (["hinted", "on a span"], 2)
    assert page(CommentFilter(trace_id="t0")) == (["first"], 1)
    assert page(CommentFilter(author_user_id="u1", object_id="s1")) == (["a session note"], 1)

    for store, p, c in ((both.duck, both.pd, a), (both.cluster, both.pc, b)):
        edited = store.update_comment(p, c["id"], "edited")
        assert edited["content"] == "edited" and edited["createdAt"] == c["createdAt"]
        assert edited["updatedAt"] >= c["updatedAt"] and edited["authorUserId"] == "u1"
        assert store.update_comment(p, "nope", "x") is None
        assert store.delete_comment(p, c["id"]) is True
        assert store.delete_comment(p, c["id"]) is False  # deleted: never found again
        assert store.get_comment(p, c["id"]) is None
        assert store.update_comment(p, c["id"], "back?") is None
    assert page(None)[1] == 3 and "edited" not in page(None)[0]
    assert page(CommentFilter(trace_id="t0")) == ([], 0)


def test_comments_on_missing_objects_are_404s_naming_them(both: Both) -> None:
    assert "trace 'nope'" in both.raises(NotFound, "create_comment", "TRACE", "nope", "x", None)
    both.raises(NotFound, "create_comment", "OBSERVATION", "g1", "x", None, "t0")  # wrong hint
    both.raises(NotFound, "create_comment", "SESSION", "s9", "x", None)
    both.raises(BadRequest, "create_comment", "PROMPT", "p", "x", None)


def test_analysis_notes_read_comments_and_text_scores(both: Both) -> None:
    _comment(both, "TRACE", "t1", "slow answer", None)
    _comment(both, "OBSERVATION", "g0", "wrong tool", None)
    _comment(both, "TRACE", "t2", "   ", None)  # blank: not a note
    _comment(both, "SESSION", "s1", "session only", None)  # no trace: not a note

    def notes(q: NoteQuery) -> list[tuple[str, str]]:
        a = both.duck.analysis_notes(both.pd, q, 100)
        b = both.cluster.analysis_notes(both.pc, q, 100)
        assert [n[1:] for n in a] == [n[1:] for n in b]
        return [n[1:] for n in b]

    everything = NoteQuery("comments", None, None, None, [])
    assert notes(everything) == [("t1", "slow answer"), ("t0", "wrong tool")]
    chat = NoteQuery("comments", None, None, None, parse_filters([
        {"column": "name", "operator": "=", "value": "chat"}]))  # fmt: skip
    assert notes(chat) == [("t0", "wrong tool")]
    late = NoteQuery("comments", None, datetime(2025, 10, 9, 8, 53, 25), None, [])
    assert notes(late) == [("t1", "slow answer")]
    assert notes(NoteQuery("scores", "why", None, None, [])) == [("t0", "the model looped")]
    assert notes(NoteQuery("scores", "other", None, None, [])) == []


# -- annotation queues: filling from traces and finishing items --------------------------------


def _queue(both: Both, name: str) -> tuple[str, str]:
    spec = {"name": name, "score_config_ids": []}
    qd = both.duck.create_annotation_queue(both.pd, spec)["id"]
    qc = both.cluster.create_annotation_queue(both.pc, spec)["id"]
    return qd, qc


def test_queue_fill_samples_alike_and_skips_queued_traces(both: Both) -> None:
    qd, qc = _queue(both, "fill")

    def fill(*args: Any, **kw: Any) -> tuple[list[str], int]:
        a = both.duck.queue_fill_traces(both.pd, qd, *args, **kw)
        b = both.cluster.queue_fill_traces(both.pc, qc, *args, **kw)
        assert a == b
        return b

    assert fill([], 10) == (["t3", "t2", "t1", "t0"], 4)
    vip = parse_filters([{"column": "tags", "operator": "contains", "value": "vip"}])
    assert fill(vip, 10) == (["t1", "t0"], 2)
    random7 = fill([], 3, "random", 7)
    assert len(random7[0]) == 3 and random7 == fill([], 3, "random", 7)
    assert sorted(fill([], 4, "random", 8)[0]) == ["t0", "t1", "t2", "t3"]
    stratified = fill([], 4, "stratified", 1, "release")
    assert {both.duck.get_trace(both.pd, t)["release"] for t in stratified[0][:2]} == {"v1", "v2"}
    assert fill([], 10, "lowest_scores", 0, None, "quality") == (["t0", "t1"], 2)
    both.duck.add_queue_items(both.pd, qd, [("TRACE", "t3"), ("TRACE", "t1")])
    both.cluster.add_queue_items(both.pc, qc, [("TRACE", "t3"), ("TRACE", "t1")])
    assert fill([], 10) == (["t2", "t0"], 2)
    with pytest.raises(NotFound):
        both.cluster.queue_fill_traces(both.pc, "nope", [], 10)
    with pytest.raises(NotFound):
        both.cluster.queue_fill_traces(both.pc, "fill", [], 10)  # a name is not an id


def test_finishing_items_with_notes(both: Both) -> None:
    qd, qc = _queue(both, "finish")
    results: list[list[Any]] = []
    for store, p, q in ((both.duck, both.pd, qd), (both.cluster, both.pc, qc)):
        store.add_queue_items(p, q, [("TRACE", "t0"), ("TRACE", "t1"), ("OBSERVATION", "g2")])
        first = store.claim_queue_item(p, q, "ann")
        note_id = f"note-{first['id']}"
        target = ("TRACE", first["object_id"], first["object_id"])
        nxt = store.finish_queue_item(p, q, first["id"], "ann", (note_id, target, "looks off"))
        assert store.annotation_note(p, note_id) == "looks off"
        assert store.list_comments(p, CommentFilter(trace_id="t0"), 1, 10)[1] == 1
        # again with another text: the same note edited, not a second one
        store.reopen_queue_item(p, q, first["id"], "ann")
        store.finish_queue_item(p, q, first["id"], "ann", (note_id, target, "edited"))
        assert store.annotation_note(p, note_id) == "edited"
        assert store.list_comments(p, CommentFilter(trace_id="t0"), 1, 10)[1] == 1
        # a blank note removes it
        store.reopen_queue_item(p, q, first["id"], "ann")
        last = store.finish_queue_item(p, q, first["id"], "ann", (note_id, target, " "))
        assert store.annotation_note(p, note_id) is None
        store.finish_queue_item(p, q, nxt["id"], "ann", (f"note-{nxt['id']}", target, "x"))
        store.delete_annotation_note(p, f"note-{nxt['id']}")
        assert store.annotation_note(p, f"note-{nxt['id']}") is None
        progress = store.queue_progress(p, q)
        results.append([first["object_id"], nxt["object_id"], last["object_id"], progress])
    assert results[0] == results[1]
    assert results[0][:2] == ["t0", "t1"] and results[0][3]["completed"] == 2


def test_finishing_an_item_another_annotator_holds_writes_nothing(both: Both) -> None:
    qd, qc = _queue(both, "held")
    for store, p, q in ((both.duck, both.pd, qd), (both.cluster, both.pc, qc)):
        store.add_queue_items(p, q, [("TRACE", "t0")])
        held = store.claim_queue_item(p, q, "bob")
        note = (f"note-{held['id']}", ("TRACE", "t0", "t0"), "mine")
        with pytest.raises(Conflict):
            store.finish_queue_item(p, q, held["id"], "ann", note)
        assert store.annotation_note(p, note[0]) is None  # the note is not stored either
        assert store.queue_progress(p, q)["completed"] == 0


def test_routing_of_these_methods(cluster: ClusterStore) -> None:
    route: Callable[[str], str] = cluster.route
    for name in ("langfuse_trace", "langfuse_observation_scan", "create_comment",
                 "list_comments", "annotation_note", "human_labels", "analysis_notes",
                 "queue_scores", "scores_by_ids", "observation_trace_id"):  # fmt: skip
        assert route(name) == "events", name
    assert route("queue_fill_traces") == route("finish_queue_item") == "cluster"
