"""Inter-annotator agreement, checked against scikit-learn's Cohen's kappa as a reference."""

from __future__ import annotations

import math
import warnings
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from heron.annotation.agreement import (
    NOT_ENOUGH,
    ONE_CATEGORY,
    Rating,
    agreement,
    cohen_kappa,
    config_agreement,
)


def _reference(a: list, b: list, weights: str | None = None) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on 0/0 and answers NaN
        return float(cohen_kappa_score(a, b, weights=weights))


def _same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, abs_tol=1e-9)


pairs = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
    )
)


@settings(max_examples=300, deadline=None)
@given(pairs)
def test_nominal_kappa_matches_sklearn(ab: tuple[list[int], list[int]]) -> None:
    a, b = ab
    assert _same(cohen_kappa(a, b), _reference(a, b))


@settings(max_examples=300, deadline=None)
@given(pairs)
def test_quadratic_weighted_kappa_matches_sklearn(ab: tuple[list[int], list[int]]) -> None:
    a, b = ab
    floats = ([x * 1.5 for x in a], [y * 1.5 for y in b])  # NUMERIC values are floats
    assert _same(cohen_kappa(*floats, weighted=True), _reference(a, b, "quadratic"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["good", "bad", "unsure"]), min_size=2, max_size=30), st.data())
def test_categorical_labels_and_two_raters(a: list[str], data: st.DataObject) -> None:
    b = data.draw(st.lists(st.sampled_from(["good", "bad"]), min_size=len(a), max_size=len(a)))
    ratings = [Rating(i, "ann", x) for i, x in enumerate(a)] + [
        Rating(i, "bob", y) for i, y in enumerate(b)
    ]
    found = agreement(ratings, "CATEGORICAL")
    assert found["items"] == len(a) and found["raters"] == 2
    same = sum(x == y for x, y in zip(a, b, strict=True))
    assert found["percentAgreement"] == pytest.approx(same / len(a))
    expected = _reference(a, b)
    if math.isnan(expected):
        assert found["kappa"] is None and found["reason"] == ONE_CATEGORY
    else:
        assert found["kappa"] == pytest.approx(expected)
    assert found["weightedKappa"] is None


def test_three_raters_give_the_mean_of_pairwise_kappas() -> None:
    values = {
        "a": [1, 0, 1, 1, 0, 1, 0, 0],
        "b": [1, 0, 0, 1, 0, 1, 1, 0],
        "c": [1, 1, 1, 1, 0, 0, 0, 0],
    }
    ratings = [Rating(i, r, v) for r, vs in values.items() for i, v in enumerate(vs)]
    found = agreement(ratings, "BOOLEAN")
    kappas = [_reference(values[u], values[v]) for u, v in combinations(values, 2)]
    assert found["kappa"] == pytest.approx(sum(kappas) / 3)
    pairs_ = list(combinations(values, 2))
    agreeing = sum(values[u][i] == values[v][i] for u, v in pairs_ for i in range(8))
    assert found["percentAgreement"] == pytest.approx(agreeing / 24)
    assert found["items"] == 8 and found["raters"] == 3


def test_numeric_reports_nominal_and_weighted_kappa() -> None:
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 5.0]
    b = [1.0, 2.0, 4.0, 4.0, 4.0, 5.0]
    ratings = [Rating(i, "x", v) for i, v in enumerate(a)] + [
        Rating(i, "y", v) for i, v in enumerate(b)
    ]
    found = agreement(ratings, "NUMERIC")
    assert found["kappa"] == pytest.approx(_reference(a, b))
    assert found["weightedKappa"] == pytest.approx(_reference(a, b, "quadratic"))
    assert found["weightedKappa"] > found["kappa"]  # near misses count as partly agreeing


def test_edge_cases_answer_instead_of_crashing() -> None:
    assert agreement([], "BOOLEAN")["reason"] == NOT_ENOUGH
    # every item rated by one person only: no overlap
    alone = [Rating(i, "a" if i % 2 else "b", 1.0) for i in range(10)]
    found = agreement(alone, "BOOLEAN")
    assert found["items"] == 0 and found["kappa"] is None and found["reason"] == NOT_ENOUGH
    # one shared item: a percentage, but no kappa yet
    one = [Rating("t", "a", 1.0), Rating("t", "b", 0.0)]
    found = agreement(one, "BOOLEAN")
    assert found["percentAgreement"] == 0.0 and found["kappa"] is None
    assert found["reason"] == NOT_ENOUGH
    # one category only: full agreement, kappa undefined
    same = [Rating(i, r, "ok") for i in range(5) for r in ("a", "b")]
    found = agreement(same, "CATEGORICAL")
    assert found["percentAgreement"] == 1.0 and found["kappa"] is None
    assert found["reason"] == ONE_CATEGORY
    assert agreement(same, "TEXT")["reason"] == "no agreement for TEXT scores"
    with pytest.raises(ValueError):
        cohen_kappa([], [])


def test_a_later_rating_replaces_an_earlier_one() -> None:
    ratings = [Rating(1, "a", 1), Rating(1, "b", 0), Rating(1, "b", 1), Rating(2, "a", 0)]
    ratings += [Rating(2, "b", 0)]
    found = agreement(ratings, "BOOLEAN")
    assert found["percentAgreement"] == 1.0 and found["kappa"] == pytest.approx(1.0)


def test_config_agreement_reads_scores_per_config() -> None:
    configs = [
        {"id": "c1", "name": "correct", "dataType": "BOOLEAN"},
        {"id": "c2", "name": "tone", "dataType": "CATEGORICAL"},
        {"id": "c3", "name": "note", "dataType": "TEXT"},
    ]
    scores = []
    for i, (x, y) in enumerate([(1, 1), (0, 0), (1, 0), (0, 0)]):
        scores += [
            {"config_id": "c1", "author": "a", "item": i, "value": float(x)},
            {"config_id": "c1", "author": "b", "item": i, "value": float(y)},
            {"config_id": "c2", "author": "a", "item": i, "string_value": "calm", "value": 0.0},
            {"config_id": "other", "author": "b", "item": i, "value": 1.0},
            {"config_id": "c1", "author": None, "item": i, "value": 1.0},  # no rater: ignored
        ]
    found = config_agreement(configs, scores)
    assert [f["name"] for f in found] == ["correct", "tone", "note"]
    assert found[0]["items"] == 4 and found[0]["percentAgreement"] == 0.75
    assert found[0]["kappa"] == pytest.approx(_reference([1, 0, 1, 0], [1, 0, 0, 0]))
    assert found[1]["items"] == 0 and found[1]["reason"] == NOT_ENOUGH
    assert found[2]["kappa"] is None
