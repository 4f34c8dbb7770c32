"""The detectors' measured quality: floors on the labelled set (tuned on) and the held-out set
(never tuned on). Figures: python bench/feedback.py --quality; docs/feedback.md."""

from __future__ import annotations

import pytest

from heron.feedback import DETECTORS
from tests.feedback.labelled import evaluate, load

PRECISION = 0.85
RECALL = 0.75


@pytest.fixture(scope="module")
def labelled():
    return evaluate(load("labelled.jsonl"))


@pytest.fixture(scope="module")
def holdout():
    return evaluate(load("holdout.jsonl"))


def test_sets_are_big_enough():
    labelled, holdout = load("labelled.jsonl"), load("holdout.jsonl")
    assert len(labelled) >= 300 and len(holdout) >= 100
    for convs in (labelled, holdout):
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
