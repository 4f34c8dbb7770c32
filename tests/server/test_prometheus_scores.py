"""GET /metrics: a project's score series (counts, true BOOLEANs, sums of values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from heron.server.app import create_app
from heron.server.llmseries import MAX_LABEL_CHARS, label_value
from tests.conftest import make_settings
from tests.server.test_prometheus import (
    PROJECT_FAMILIES,
    Samples,
    as_admin,
    health,
    metrics,
    series,
)
from tests.support.server import CONSISTENT, SECRET_KEY

TRACE = "a" * 32


def post_scores(client: TestClient, scores: list[dict[str, Any]], **headers: str) -> None:
    body = [{"traceId": TRACE, **s} for s in scores]
    r = client.post("/api/scores", json=body, headers=headers)
    assert r.status_code == 202, r.text  # every score stored


def sample(samples: Samples, metric: str, labels: dict[str, str]) -> float:
    """A sample's value (the helper of test_prometheus takes labels as keywords, and this
    family's label ``name`` would clash with its argument)."""
    return samples[(metric, frozenset(labels.items()))]


def labels(name: str, source: str, data_type: str, project: str = "test") -> dict[str, str]:
    return {"project": project, "name": name, "source": source, "data_type": data_type}


def test_score_series_of_known_scores(client: TestClient) -> None:
    post_scores(
        client,
        [
            *({"name": "user_feedback", "value": v} for v in (True, True, True, False, False)),
            *({"name": "user_rating", "value": v} for v in (1, 4, 5, 2.5)),
            {"name": "implicit_retry", "value": True, "source": "EVAL"},
            {"name": "implicit_retry", "value": 1, "dataType": "BOOLEAN", "source": "EVAL"},
            {"name": "tone", "value": "polite"},
            {"name": "note", "value": "long answer", "dataType": "TEXT"},
            {"name": "user_rating", "value": -3, "source": "my-pipeline"},  # not Langfuse's
            {"id": "r1", "name": "quality", "value": 1, "source": "EVAL"},
        ],
    )
    # A score replaced through its id counts once, with its last value.
    post_scores(client, [{"id": "r1", "name": "quality", "value": 0.25, "source": "EVAL"}])
    m = metrics(client)

    fb = labels("user_feedback", "API", "BOOLEAN")
    assert sample(m, "heron_scores_total", fb) == 5
    assert sample(m, "heron_scores_true_total", fb) == 3
    assert sample(m, "heron_score_value_count", fb) == 5
    assert sample(m, "heron_score_value_sum", fb) == 3

    rating = labels("user_rating", "API", "NUMERIC")
    assert sample(m, "heron_scores_total", rating) == 4
    assert sample(m, "heron_score_value_count", rating) == 4
    assert sample(m, "heron_score_value_sum", rating) == pytest.approx(12.5)
    assert (("heron_scores_true_total", frozenset(rating.items()))) not in m
    other_source = labels("user_rating", "other", "NUMERIC")
    assert sample(m, "heron_scores_total", other_source) == 1
    assert sample(m, "heron_score_value_sum", other_source) == -3

    retry = labels("implicit_retry", "EVAL", "BOOLEAN")
    assert sample(m, "heron_scores_total", retry) == 2
    assert sample(m, "heron_scores_true_total", retry) == 2

    quality = labels("quality", "EVAL", "NUMERIC")
    assert sample(m, "heron_scores_total", quality) == 1
    assert sample(m, "heron_score_value_sum", quality) == 0.25

    for name, data_type in (("tone", "CATEGORICAL"), ("note", "TEXT")):
        text_labels = labels(name, "API", data_type)
        assert sample(m, "heron_scores_total", text_labels) == 1
        assert ("heron_score_value_count", frozenset(text_labels.items())) not in m
    assert sum(series(m, "heron_scores_total").values()) == 15
    assert len(series(m, "heron_scores_true_total")) == 2
    assert len(series(m, "heron_score_value_count")) == 5


def test_other_projects_scores_are_not_shown(client: TestClient) -> None:
    store = client.app.state.heron.store  # type: ignore[attr-defined]
    other = store.create_project("other")
    their_auth = {"Authorization": f"Bearer {store.create_key(other['id'])['secret_key']}"}
    post_scores(client, [{"name": "user_feedback", "value": True}])
    post_scores(
        client,
        [{"name": "secret_metric", "value": 7}, {"name": "user_feedback", "value": False}],
        **their_auth,
    )

    text = client.get("/metrics").text
    assert "secret_metric" not in text and 'project="other"' not in text
    mine = metrics(client)
    assert series(mine, "heron_scores_total") == {
        frozenset(labels("user_feedback", "API", "BOOLEAN").items()): 1
    }
    assert sample(mine, "heron_scores_true_total", labels("user_feedback", "API", "BOOLEAN")) == 1

    theirs = metrics(client, **their_auth)
    fb = labels("user_feedback", "API", "BOOLEAN", project="other")
    assert sample(theirs, "heron_scores_total", fb) == 1
    assert sample(theirs, "heron_scores_true_total", fb) == 0
    secret = labels("secret_metric", "API", "NUMERIC", project="other")
    assert sample(theirs, "heron_score_value_sum", secret) == 7
    assert len(series(theirs, "heron_scores_total")) == 2

    # The operator's health scrape carries no project's scores.
    r = client.get("/metrics", headers=as_admin(client))
    assert "heron_score" not in r.text and "user_feedback" not in r.text
    assert not series(health(client), "heron_scores_total")


def by_name(samples: Samples) -> dict[str, float]:
    """heron_scores_total summed by name (over sources and data types)."""
    out: dict[str, float] = {}
    for k, v in series(samples, "heron_scores_total").items():
        out[dict(k)["name"]] = out.get(dict(k)["name"], 0) + v
    return out


def test_score_names_are_capped_per_project(tmp_path: Path) -> None:
    with TestClient(
        create_app(make_settings(tmp_path, prometheus_max_label_values=3)), headers=CONSISTENT
    ) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        # score-i is sent 6 - i times; and 300 names once each, which must not show.
        post_scores(c, [{"name": f"score-{i}", "value": i} for i in range(6) for _ in range(6 - i)])
        post_scores(c, [{"name": f"spray-{i:03}", "value": True} for i in range(300)])
        m = metrics(c)
        counts = by_name(m)
        assert counts == {"score-0": 6, "score-1": 5, "score-2": 4, "other": 3 + 2 + 1 + 300}
        numeric_other = labels("other", "API", "NUMERIC")
        assert sample(m, "heron_score_value_sum", numeric_other) == 3 * 3 + 4 * 2 + 5 * 1
        assert sample(m, "heron_scores_true_total", labels("other", "API", "BOOLEAN")) == 300
        assert sample(m, "heron_score_value_sum", labels("score-2", "API", "NUMERIC")) == 8

        # Admitted names stay; a newcomer, even the most frequent, joins "other".
        post_scores(c, [{"name": "newcomer", "value": 1} for _ in range(20)])
        post_scores(c, [{"name": "score-2", "value": 1}])
        counts = by_name(metrics(c))
        assert counts == {"score-0": 6, "score-1": 5, "score-2": 5, "other": 306 + 20}

        # The store answers in bounded rows however many names there are.
        st = c.app.state.heron  # type: ignore[attr-defined]
        assert st.store.score_totals("no-such-project", [], 3, MAX_LABEL_CHARS) == []
        project_id = st.store.project_by_name("test")["id"]
        rows = st.store.score_totals(project_id, ["score-2"], 1, MAX_LABEL_CHARS)
        assert {r.name for r in rows} == {"newcomer", "score-2", None}  # the top 1, the kept
        assert sum(r.count for r in rows) == 6 + 5 + 5 + 3 + 2 + 1 + 300 + 20
        assert len(rows) == 4  # newcomer, score-2 (NUMERIC); None (NUMERIC, BOOLEAN)


HOSTILE = [
    'evil"} 1\n# TYPE evil counter\nevil_total 1',
    "back\\slash\\n\\",
    "tab\tcarriage\rreturn",
    "nul\x00byte",
    "emoji 👍🏽 rtl \u202e مرحبا",
    'label="x",project="other"',
]


def test_hostile_score_names_cannot_break_the_exposition(client: TestClient) -> None:
    long_ascii = "L" * 200  # the longest name a score may have
    combining = "e\u0301" * 80  # 160 code points: cut inside a pair, as Python slices
    twins = ["T" * 150 + "-one", "T" * 150 + "-two"]  # the same first 128 characters
    names = [*HOSTILE, long_ascii, combining, *twins]
    post_scores(client, [{"name": n, "value": True} for n in names])
    r = client.get("/metrics")
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert set(families) == PROJECT_FAMILIES  # nothing injected
    counts: dict[str, float] = {}
    for s in families["heron_scores"].samples:
        assert set(s.labels) == {"project", "name", "source", "data_type"}
        assert s.labels["project"] == "test"
        counts[s.labels["name"]] = s.value
    for name in HOSTILE:
        assert counts[name] == 1, name
    assert counts[label_value(long_ascii)] == 1
    assert len(label_value(long_ascii)) == MAX_LABEL_CHARS
    assert label_value(long_ascii).endswith("…")
    assert counts[label_value(combining)] == 1  # the store cut it where Python does
    assert counts[label_value(twins[0])] == 2
    assert len(counts) == len(HOSTILE) + 3
    assert max(len(line) for line in r.text.splitlines()) < 1000
