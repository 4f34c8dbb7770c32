"""The detectors' measured quality: floors on the labelled, dev and fresh sets (tuned on),
the held-out set (seen once) and the fresh2 set (written before version 4 and never tuned on).
Figures: python bench/feedback.py --quality; docs/feedback.md."""

from __future__ import annotations

import pytest

from heron.implicit import DETECTORS
from tests.implicit.labelled import evaluate, load

PRECISION = 0.85
RECALL = 0.75


@pytest.fixture(scope="module")
def labelled():
    return evaluate(load("labelled.jsonl"))


@pytest.fixture(scope="module")
def holdout():
    return evaluate(load("holdout.jsonl"))


# the fresh set as first scored with detector version 3 (2026-12-06), rounded down: a change
# that loses ground fails (version 4 was trained on it, so these are floors, not estimates)
FRESH_FLOORS = {  # detector: (precision, recall)
    "implicit_retry": (1.00, 0.85),
    "implicit_rephrase": (0.64, 0.75),
    "implicit_disagreement": (0.93, 0.70),
    "implicit_frustration": (1.00, 0.75),
    "implicit_abandonment": (1.00, 0.90),
}

# the fresh2 set as scored once with version 4 (2026-12-06), rounded down: the one measure
# never tuned on; disagreement and rephrase recall are far under the target there
FRESH2_FLOORS = {  # detector: (precision, recall)
    "implicit_retry": (1.00, 1.00),
    "implicit_rephrase": (0.85, 0.73),
    "implicit_disagreement": (0.77, 0.46),
    "implicit_frustration": (1.00, 0.90),
    "implicit_abandonment": (1.00, 0.87),
}


def test_sets_are_big_enough():
    labelled, holdout, fresh = load("labelled.jsonl"), load("holdout.jsonl"), load("fresh.jsonl")
    fresh2 = load("fresh2.jsonl")
    assert len(labelled) >= 300 and len(holdout) >= 100 and len(fresh) >= 150
    assert len(fresh2) >= 150
    for convs in (fresh, fresh2):
        labels = [lab for conv in convs for lab in conv["labels"]]
        assert sum(lab["name"] == "implicit_disagreement" for lab in labels) >= 40
    for convs in (labelled, holdout, fresh, fresh2):
        names = {lab["name"] for conv in convs for lab in conv["labels"]}
        assert names == set(DETECTORS)
        assert sum(not conv["labels"] for conv in convs) >= len(convs) // 5  # negatives


@pytest.mark.parametrize("name", DETECTORS)
def test_labelled_floors(labelled, name):
    score = labelled[name]
    assert score.tp + score.fn >= 30, "too few labels to measure"
    assert score.precision >= PRECISION, score.errors[:10]
    assert score.recall >= RECALL, score.errors[:10]


@pytest.mark.parametrize("name", DETECTORS)
def test_holdout_precision(holdout, name):
    # recall on the held-out set is reported, not asserted at the target: disagreement
    # phrased as a plain fact ("it was still raw") is below it (docs/feedback.md)
    assert holdout[name].precision >= PRECISION, holdout[name].errors[:10]
    assert holdout[name].recall >= 0.6, holdout[name].errors[:10]


@pytest.mark.parametrize("name", DETECTORS)
def test_fresh_floors(name):
    score = evaluate(load("fresh.jsonl"))[name]
    precision, recall = FRESH_FLOORS[name]
    assert score.precision >= precision, score.errors[:10]
    assert score.recall >= recall, score.errors[:10]


def test_dev_disagreement():
    # the development set was written for disagreement stated as a fact (docs/feedback.md)
    score = evaluate(load("dev.jsonl"))["implicit_disagreement"]
    assert score.tp + score.fn >= 40
    assert score.precision >= PRECISION and score.recall >= RECALL, score.errors[:10]


@pytest.mark.parametrize("name", DETECTORS)
def test_fresh2_floors(name):
    # figures only, not the conversations it misses: the set is not for tuning
    score = evaluate(load("fresh2.jsonl"))[name]
    precision, recall = FRESH2_FLOORS[name]
    assert score.precision >= precision, f"{score.precision:.3f}"
    assert score.recall >= recall, f"{score.recall:.3f}"
