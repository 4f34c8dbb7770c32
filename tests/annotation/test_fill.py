"""Filling a queue: from a trace filter (newest, random with a seed, stratified by a column,
lowest scores first), from an issue's signals, bounded, with a dry run; on a real store."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from heron.annotation.fill import MAX_FILL, parse_fill, run_fill
from heron.errors import BadRequest, NotFound
from heron.model import ObservationRecord, TraceUpdate
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore
from heron.store.signals import Signal

START = 1_764_000_000_000_000  # 2025-11-24T16:00:00Z in microseconds
MODELS = ("gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o", "claude", "llama")  # gpt-4o 4 of 6


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory):
    """60 traces t00..t59 a minute apart (t59 newest); model by MODELS, release r1/r2,
    names chat (even) / search (odd); quality scores on t00..t09 (t05 lowest)."""
    s = EmbeddedStore(tmp_path_factory.mktemp("fill") / "heron.duckdb")
    pid = s.create_project("one")["id"]
    other = s.create_project("two")["id"]
    observations, updates = [], []
    for i in range(60):
        tid = f"t{i:02d}"
        name = "chat" if i % 2 == 0 else "search"
        start = START + i * 60_000_000
        observations.append(ObservationRecord(
            project_id=pid, id=f"o{i:02d}", trace_id=tid, parent_id=None, type="generation",
            name=name, start_us=start, end_us=start + 1_000_000, model=MODELS[i % 6],
        ))  # fmt: skip
        release = "r1" if i < 30 else "r2"
        updates.append(TraceUpdate(project_id=pid, trace_id=tid, is_root=True, name=name,
                                   release=release, user_id=f"u{i % 3}"))  # fmt: skip
    s.write_batch(observations, updates)
    s.write_scores([
        ScoreRecord(pid, f"s{i}", f"t{i:02d}", None, None, "quality", float(abs(i - 5)), None,
                    "NUMERIC", "API", None, None, datetime(2026, 1, 1), None, None)
        for i in range(10)
    ])  # fmt: skip
    yield s, pid, other
    s.close()


def queue(s: EmbeddedStore, pid: str, name: str) -> str:
    return s.create_annotation_queue(pid, {"name": name, "score_config_ids": []})["id"]


def objects(s: EmbeddedStore, pid: str, q: str) -> list[str]:
    rows, _ = s.list_queue_items(pid, q, limit=1000)
    return [r["object_id"] for r in rows]


def test_filter_fill_counts_first_then_adds_newest_first(db) -> None:
    s, pid, _ = db
    q = queue(s, pid, "newest")
    body = {"filter": [{"column": "name", "operator": "=", "value": "chat"}], "limit": 5}
    dry = run_fill(s, pid, q, parse_fill({**body, "dry_run": True}))
    assert dry == {"dry_run": True, "matching": 30, "selected": 5, "added": 0}
    assert objects(s, pid, q) == []
    done = run_fill(s, pid, q, parse_fill(body))
    assert done["added"] == 5
    assert objects(s, pid, q) == ["t58", "t56", "t54", "t52", "t50"]
    # a second fill takes the next ones: what the queue holds is no candidate again
    again = run_fill(s, pid, q, parse_fill({**body, "dry_run": True}))
    assert again["matching"] == 25
    run_fill(s, pid, q, parse_fill(body))
    assert objects(s, pid, q)[5:] == ["t48", "t46", "t44", "t42", "t40"]


def test_time_range_and_model_filter(db) -> None:
    s, pid, _ = db
    q = queue(s, pid, "range")
    body = {
        "from": "2025-11-24T16:10:00Z", "to": "2025-11-24T16:19:00Z",
        "filter": '[{"column": "model", "operator": "contains", "value": "claude"}]',
        "limit": 100,
    }  # fmt: skip
    out = run_fill(s, pid, q, parse_fill(body))
    assert out["matching"] == 2 and sorted(objects(s, pid, q)) == ["t10", "t16"]


def test_random_sample_is_reproducible_with_its_seed(db) -> None:
    s, pid, _ = db
    picks = []
    for name, seed in (("r1", 7), ("r2", 7), ("r3", 8)):
        q = queue(s, pid, name)
        run_fill(s, pid, q, parse_fill({"sample": "random", "seed": seed, "limit": 10}))
        picks.append(objects(s, pid, q))
    assert picks[0] == picks[1] and len(set(picks[0])) == 10
    assert picks[0] != picks[2]
    newest = [f"t{i}" for i in range(59, 49, -1)]
    assert picks[0] != newest  # not simply the newest


def test_stratified_sample_takes_every_value_in_turn(db) -> None:
    s, pid, _ = db
    q = queue(s, pid, "strata")
    run_fill(s, pid, q, parse_fill({"sample": "stratified", "by": "model", "limit": 9}))
    models = Counter(MODELS[int(t[1:]) % 6] for t in objects(s, pid, q))
    assert models == {"gpt-4o": 3, "claude": 3, "llama": 3}  # not 6/1.5/1.5 as the traffic
    q2 = queue(s, pid, "by-release")
    run_fill(s, pid, q2, parse_fill({"sample": "stratified", "by": "release", "limit": 4}))
    assert Counter("r1" if int(t[1:]) < 30 else "r2" for t in objects(s, pid, q2)) == {
        "r1": 2, "r2": 2,
    }  # fmt: skip


def test_lowest_scores_first(db) -> None:
    s, pid, _ = db
    q = queue(s, pid, "lowest")
    out = run_fill(s, pid, q, parse_fill({"sample": "lowest_scores", "score": "quality",
                                          "limit": 3}))  # fmt: skip
    assert out["matching"] == 10  # only traces with the score
    assert objects(s, pid, q)[0] == "t05" and set(objects(s, pid, q)[1:]) == {"t04", "t06"}


def test_issue_fill_takes_the_issues_traces_latest_first(db) -> None:
    s, pid, _ = db
    signals = [
        Signal(pid, f"g{n}", "errors", "high", tid, None, None, datetime(2026, 1, 1, 0, n),
               "boom", "issue-1", "fp-1", None, None, None)
        for n, tid in enumerate(["t03", "t07", "t03", "t09"])
    ]  # fmt: skip
    s.write_signals(signals, {})
    q = queue(s, pid, "from-issue")
    dry = run_fill(s, pid, q, parse_fill({"issueId": "issue-1", "dry_run": True}))
    assert (dry["matching"], dry["selected"]) == (3, 3)
    run_fill(s, pid, q, parse_fill({"issueId": "issue-1", "limit": 2}))
    assert objects(s, pid, q) == ["t09", "t03"]


def test_issue_fill_and_scoping(db) -> None:
    s, pid, other = db
    q = queue(s, pid, "issue")
    with pytest.raises(NotFound):  # another project's issue
        run_fill(s, other, queue(s, other, "their-issue"), parse_fill({"issueId": "issue-1"}))
    with pytest.raises(NotFound):
        run_fill(s, pid, q, parse_fill({"issueId": "nope"}))
    with pytest.raises(NotFound):  # another project's queue
        run_fill(s, other, q, parse_fill({"limit": 1}))
    theirs = queue(s, other, "theirs")
    assert run_fill(s, other, theirs, parse_fill({"limit": 10}))["matching"] == 0


def test_single_objects(db) -> None:
    s, pid, _ = db
    q = queue(s, pid, "single")
    body = {"items": [{"objectType": "trace", "objectId": "t01"},
                      {"objectType": "SESSION", "objectId": "sess"}]}  # fmt: skip
    assert run_fill(s, pid, q, parse_fill(body))["added"] == 2
    assert run_fill(s, pid, q, parse_fill(body))["added"] == 0  # no duplicates


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": MAX_FILL + 1}, "limit: between 1 and 10,000"),
        ({"limit": 0}, "limit: between 1"),
        ({"limit": "5"}, "limit: expected a whole number"),
        ({"sample": "best"}, "sample: one of newest, random, stratified, lowest_scores"),
        ({"sample": "stratified"}, "by: a stratified sample needs a column"),
        ({"sample": "stratified", "by": "input"}, "by: a stratified sample needs a column"),
        ({"sample": "random", "by": "model"}, "by: only a stratified sample"),
        ({"sample": "lowest_scores"}, "score: lowest_scores needs"),
        ({"filter": "[{"}, "filter: invalid JSON"),
        ({"from": "yesterday"}, "from"),
        ({"what": 1}, "what: unknown field"),
        ({"dry_run": "yes"}, "dry_run: expected true or false"),
        ({"issueId": "i", "sample": "random"}, "sample: a fill from an issue takes"),
        ({"items": []}, "items: expected a non-empty list"),
        ({"items": [{"objectType": "SPAN", "objectId": "x"}]}, "items[0].objectType: one of"),
        (
            {"items": [{"objectType": "TRACE", "objectId": "x"}] * (MAX_FILL + 1)},
            "items: at most 10,000",
        ),
        ([], "body: expected a JSON object"),
    ],
)
def test_bad_fills_name_the_problem(body: object, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_fill(body)
    assert message in caught.value.message


def test_unknown_filter_column_is_a_400(db) -> None:
    s, pid, _ = db
    q = queue(s, pid, "bad-column")
    with pytest.raises(BadRequest) as caught:
        run_fill(s, pid, q, parse_fill({"filter": [{"column": "nope", "operator": "=",
                                                    "value": 1}]}))  # fmt: skip
    assert "unknown column 'nope'" in caught.value.message
