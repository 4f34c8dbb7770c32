"""Implicit (only-positive) scores compared as rates over every record of each cohort, on a
real store: expected rates are counted from the rows written here."""

from __future__ import annotations

from datetime import datetime

import pytest

from heron.compare import parse_compare_query
from heron.model import ObservationRecord, TraceUpdate
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore

T0 = 1_760_000_000_000_000  # 2025-10-09T08:53:20Z in µs
N = 60  # traces per release
# release -> (traces with implicit_retry, with implicit_copy, with a thumbs up, thumbs down)
PLAN = {"v1": (6, 10, 20, 5), "v2": (30, 25, 20, 5)}


def tid(release: str, i: int) -> str:
    return f"{release}-{i}".encode().hex().ljust(32, "0")


def write(store: EmbeddedStore, project: str, plan: dict[str, tuple[int, int, int, int]]) -> None:
    records, updates, scores = [], [], []
    for r, (release, (retry, copy, up, down)) in enumerate(plan.items()):
        for i in range(N):
            trace = tid(release, i)
            start = T0 + (r * N + i) * 60_000_000
            records.append(
                ObservationRecord(project_id=project, id=trace[:16], trace_id=trace,
                                  parent_id=None, type="generation", name="llm",
                                  start_us=start, end_us=start + 500_000, model="m")
            )  # fmt: skip
            updates.append(
                TraceUpdate(project_id=project, trace_id=trace, is_root=True, name="chat",
                            release=release)
            )  # fmt: skip
            named = [("implicit_retry", 1.0)] if i < retry else []
            named += [("implicit_copy", 1.0)] if i < copy else []
            if i < up + down:
                named.append(("user_feedback", 1.0 if i < up else 0.0))
            for name, value in named:
                scores.append(
                    ScoreRecord(project, f"{trace}-{name}", trace, None, None, name, value,
                                None, "BOOLEAN", "API", None, None, datetime(2025, 10, 9), None,
                                None)
                )  # fmt: skip
    store.write_batch(records, updates)
    store.write_scores(scores)


@pytest.fixture
def seeded(store: EmbeddedStore) -> EmbeddedStore:
    write(store, "p1", PLAN)
    # another project, same trace ids, every trace retried: must never count in p1
    write(store, "p2", {"v1": (N, N, 0, 0), "v2": (N, N, 0, 0)})
    return store


def compare(store: EmbeddedStore, project: str = "p1") -> dict[str, dict]:
    query = parse_compare_query(
        {"field": "release", "baseline_value": "v1", "candidate_value": "v2"}
    )
    return {m["metric"]: m for m in store.compare(project, query)["metrics"]}


def test_implicit_rates_are_over_every_record(seeded: EmbeddedStore) -> None:
    metrics = compare(seeded)
    retry = metrics["scores.implicit_retry"]
    assert retry["baseline"] == pytest.approx(PLAN["v1"][0] / N)
    assert retry["candidate"] == pytest.approx(PLAN["v2"][0] / N)
    assert retry["difference"] == pytest.approx((PLAN["v2"][0] - PLAN["v1"][0]) / N)
    assert (retry["n_baseline"], retry["n_candidate"]) == (N, N)
    assert retry["direction"] == "lower"
    assert retry["verdict"] == "worse" and retry["significant"]
    assert retry["method"] in ("two-proportion z", "fisher")
    copy = metrics["scores.implicit_copy"]
    assert (copy["baseline"], copy["candidate"]) == pytest.approx(
        (PLAN["v1"][1] / N, PLAN["v2"][1] / N)
    )
    assert copy["direction"] == "higher"
    assert copy["verdict"] == "better" and copy["significant"]


def test_explicit_boolean_scores_stay_rates_among_the_rated(seeded: EmbeddedStore) -> None:
    feedback = compare(seeded)["scores.user_feedback"]
    up, down = PLAN["v1"][2], PLAN["v1"][3]
    assert feedback["baseline"] == pytest.approx(up / (up + down))
    assert feedback["n_baseline"] == up + down
    assert feedback["direction"] == "higher"


def test_other_projects_implicit_scores_never_count(seeded: EmbeddedStore) -> None:
    metrics = compare(seeded, "p2")
    assert metrics["scores.implicit_retry"]["baseline"] == 1.0
    assert metrics["scores.implicit_retry"]["verdict"] == "insufficient_data"  # no non-events
    assert "scores.user_feedback" not in metrics


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("implicit_retry", -1),
        ("implicit_rephrase", -1),
        ("implicit_disagreement", -1),
        ("implicit_frustration", -1),
        ("implicit_abandonment", -1),
        ("implicit_copy", 1),
        ("implicit_accept", 1),
        ("implicit_something_new", 0),
    ],
)
def test_implicit_directions(name: str, direction: int) -> None:
    from heron.compare.engine import implicit_direction, is_implicit

    assert implicit_direction(name) == direction
    assert is_implicit(name, "BOOLEAN") and not is_implicit(name, "NUMERIC")
    assert not is_implicit("user_feedback", "BOOLEAN")
