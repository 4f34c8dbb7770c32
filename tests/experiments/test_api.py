"""The experiment comparison API on a real store: runs planted through OTLP and the scores
API, compared per score and measure, summarised, and shown item by item."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from heron.compare import paired
from tests.experiments import rows
from tests.experiments.conftest import App
from tests.experiments.plant import Outcome, plant_run, post_scores, post_traces
from tests.support.server import CONSISTENT

DATASET = "support/qa"  # a slash: the route takes it as it is, or as %2F
BASE = "/api/datasets/support%2Fqa/runs"


@dataclass
class Planted:
    base: list[Outcome]
    cand: list[Outcome]
    base_traces: list[tuple[str, str]]
    cand_traces: list[tuple[str, str]]
    base_id: str
    cand_id: str


@pytest.fixture(scope="module")
def planted(app: App) -> Planted:
    """100 items; the candidate run misses 5 and has 2 the baseline lacks. The candidate is
    more accurate and faster, but gets a quarter of the correct answers wrong and
    hallucinates more; cost and tokens are the same."""
    rng = np.random.default_rng(11)
    ds = rows.add_dataset(app.store, app.project_id, DATASET)
    ids = [f"item-{i:03d}" for i in range(102)]
    version = rows.add_items(
        app.store, app.project_id, ds, [(i, {"question": i}, {"answer": i}) for i in ids]
    )
    base = [
        Outcome(i, latency_ms=1000 + 100 * float(rng.normal()), cost=0.002, tokens=500,
                output={"answer": f"base {i}"},
                scores={"accuracy": float(rng.uniform(0.3, 0.9)),
                        "correct": bool(rng.random() < 0.7),
                        "hallucination": float(rng.uniform(0, 0.3)), "topic": "billing"})
        for i in ids[:100]
    ]  # fmt: skip
    cand = []
    for o in base[:95]:
        correct = bool(o.scores["correct"]) and rng.random() >= 0.25
        scores = {
            "accuracy": float(o.scores["accuracy"]) + 0.1 + 0.05 * float(rng.normal()),
            "correct": correct,
            "hallucination": float(o.scores["hallucination"]) + 0.05,
        }
        cand.append(replace(o, latency_ms=o.latency_ms - 200, output=f"cand {o.item}",
                            scores=scores))  # fmt: skip
    cand[0] = replace(cand[0], own_output={"answer": "reported by the client"})
    cand += [Outcome(i, scores={"accuracy": 0.5}) for i in ids[100:]]
    base_id, base_traces = plant_run(
        app.client, app.store, app.project_id, ds, "prompt-v1", base, version
    )
    cand_id, cand_traces = plant_run(
        app.client, app.store, app.project_id, ds, "prompt-v2", cand, version
    )
    return Planted(base, cand, base_traces, cand_traces, base_id, cand_id)


def _compare(app: App, **params: str) -> dict:
    r = app.client.get(
        f"{BASE}/compare", params={"baseline": "prompt-v1", "candidate": "prompt-v2", **params}
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_compare_finds_each_planted_change(app: App, planted: Planted) -> None:
    answer = _compare(app)
    assert answer["pairs"] == {"paired": 95, "only_baseline": 5, "only_candidate": 2}
    assert answer["baseline"]["items"] == 100 and answer["candidate"]["items"] == 97
    by = {r["name"]: r for r in answer["rows"]}
    assert [r["name"] for r in answer["rows"]] == [
        "accuracy", "correct", "hallucination", "latency", "cost", "tokens",
    ]  # fmt: skip
    assert "topic" not in by  # categorical scores are shown per item, not tested
    expected = {
        "accuracy": ("improved", "higher", "paired bootstrap"),
        "correct": ("regressed", "higher", "McNemar exact"),
        "hallucination": ("regressed", "lower", "paired bootstrap"),  # lower is better
        "latency": ("improved", "lower", "paired bootstrap"),
        "cost": ("no_significant_change", "lower", "paired bootstrap"),
        "tokens": ("no_significant_change", "lower", "paired bootstrap"),
    }
    for name, (verdict, direction, test) in expected.items():
        row = by[name]
        assert (row["verdict"], row["direction"], row["test"]) == (verdict, direction, test)
        assert row["n_pairs"] == 95
        assert row["ci_low"] <= row["difference"] <= row["ci_high"]
        assert row["p_value"] <= row["p_adjusted"] <= 1
        # the verdict agrees with the interval
        excludes = row["ci_low"] > 0 or row["ci_high"] < 0
        assert row["significant"] == (excludes and row["p_adjusted"] < 0.05)


def test_compare_numbers_are_the_paired_statistics_of_the_planted_values(
    app: App, planted: Planted
) -> None:
    by = {r["name"]: r for r in _compare(app)["rows"]}
    b = np.array([o.scores["accuracy"] for o in planted.base[:95]], dtype=float)
    c = np.array([o.scores["accuracy"] for o in planted.cand[:95]], dtype=float)
    e = paired.paired_bootstrap(b, c)
    row = by["accuracy"]
    assert row["difference"] == pytest.approx(float(np.mean(c - b)), abs=1e-12)
    assert (row["ci_low"], row["ci_high"], row["p_value"]) == pytest.approx(
        (e.ci_low, e.ci_high, e.p_value), abs=1e-12
    )
    assert row["replicates"] == 10_000
    lost = sum(
        bool(x.scores["correct"]) and not y.scores["correct"]
        for x, y in zip(planted.base[:95], planted.cand[:95], strict=True)
    )
    assert by["correct"]["discordant"] == {"gained": 0, "lost": lost}
    assert by["correct"]["difference"] == pytest.approx(-lost / 95)
    latency = by["latency"]
    assert latency["difference"] == pytest.approx(-200, abs=0.01)
    assert latency["baseline"] == pytest.approx(
        np.mean([o.latency_ms for o in planted.base[:95]]), abs=0.01
    )


def test_same_seed_same_answer_and_alpha_changes_the_interval(app: App, planted: Planted) -> None:
    assert _compare(app) == _compare(app)
    wide = {r["name"]: r for r in _compare(app, alpha="0.01")["rows"]}["accuracy"]
    narrow = {r["name"]: r for r in _compare(app)["rows"]}["accuracy"]
    assert wide["ci_low"] < narrow["ci_low"] and wide["ci_high"] > narrow["ci_high"]


def test_named_directions_override_the_name_rule(app: App, planted: Planted) -> None:
    by = {
        r["name"]: r
        for r in _compare(app, lower_is_better="accuracy", higher_is_better="hallucination")["rows"]
    }
    assert by["accuracy"]["verdict"] == "regressed" and by["accuracy"]["direction"] == "lower"
    assert by["hallucination"]["verdict"] == "improved"


def test_swapping_the_runs_flips_every_difference(app: App, planted: Planted) -> None:
    forward = {r["name"]: r for r in _compare(app)["rows"]}
    backward = {
        r["name"]: r for r in _compare(app, baseline="prompt-v2", candidate="prompt-v1")["rows"]
    }
    for name, row in forward.items():
        other = backward[name]
        assert other["difference"] == pytest.approx(-row["difference"], abs=1e-9)
        assert other["p_value"] == pytest.approx(row["p_value"])
        flipped = {"improved": "regressed", "regressed": "improved"}
        assert other["verdict"] == flipped.get(row["verdict"], row["verdict"])


def test_summary_gives_each_runs_aggregates(app: App, planted: Planted) -> None:
    rows.add_run_score(app.store, app.project_id, planted.cand_id, "pass_rate", 0.8)
    r = app.client.get(f"{BASE}/summary", params={"runs": "prompt-v1,prompt-v2"})
    assert r.status_code == 200, r.text
    base, cand = r.json()["runs"]
    assert (base["name"], base["items"], cand["items"]) == ("prompt-v1", 100, 97)
    metrics = {m["name"]: m for m in base["metrics"]}
    accuracy = [float(o.scores["accuracy"]) for o in planted.base]
    assert metrics["accuracy"]["value"] == pytest.approx(np.mean(accuracy))
    assert metrics["accuracy"]["n"] == 100 and metrics["accuracy"]["stat"] == "mean"
    low, high = metrics["accuracy"]["ci_low"], metrics["accuracy"]["ci_high"]
    half = 1.984 * np.std(accuracy, ddof=1) / 10  # t(0.975, 99) * sd / sqrt(100)
    assert (high - low) / 2 == pytest.approx(half, rel=1e-3)
    correct = metrics["correct"]
    assert correct["stat"] == "rate" and correct["value"] == pytest.approx(
        np.mean([bool(o.scores["correct"]) for o in planted.base])
    )
    assert correct["ci_low"] < correct["value"] < correct["ci_high"]
    assert metrics["latency"]["unit"] == "ms" and metrics["latency"]["n"] == 100
    assert [s["name"] for s in cand["run_scores"]] == ["pass_rate"] and not base["run_scores"]


def test_items_come_worst_first_side_by_side(app: App, planted: Planted) -> None:
    r = app.client.get(f"{BASE}/items", params={"runs": "prompt-v1,prompt-v2", "limit": 100})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["meta"] == {"page": 1, "limit": 100, "totalItems": 102, "totalPages": 2}
    data = answer["data"]
    changes = [d["change"] for d in data if d["change"] is not None]
    assert changes == sorted(changes) and len(changes) == 95
    worst = data[0]
    assert "correct" in worst["differences"][0]["worse"]  # a correct answer lost
    assert data[94]["change"] is not None and data[95]["change"] is None  # unpaired last
    first = next(d for d in data if d["item_id"] == "item-000")
    assert first["item"]["input"] == {"question": "item-000"}
    assert first["item"]["expected_output"] == {"answer": "item-000"}
    base_run, cand_run = first["runs"]
    assert base_run["output"] == {"answer": "base item-000"}  # the trace's output
    assert cand_run["output"] == {"answer": "reported by the client"}  # the run item's own
    assert base_run["scores"]["topic"] == "billing"
    assert cand_run["trace_id"] == planted.cand_traces[0][0]
    diff = first["differences"][0]
    assert diff["latency"] == pytest.approx(-200, abs=0.01)
    assert diff["scores"]["accuracy"] == pytest.approx(
        planted.cand[0].scores["accuracy"] - planted.base[0].scores["accuracy"]
    )
    page2 = app.client.get(
        f"{BASE}/items", params={"runs": "prompt-v1,prompt-v2", "limit": 100, "page": 2}
    ).json()["data"]
    assert {d["item_id"] for d in page2} | {d["item_id"] for d in data[95:]} == {
        f"item-{i:03d}" for i in range(95, 102)
    }
    assert all(not d["runs"][0]["present"] for d in page2 if d["item_id"] >= "item-100")


def test_a_score_on_the_traces_observation_counts_for_the_item(app: App, planted: Planted) -> None:
    trace, root = planted.cand_traces[3]
    r = app.client.post(
        "/api/public/scores",
        json={"traceId": trace, "observationId": root, "name": "judge", "value": 0.25},
    )
    assert r.status_code == 201, r.text
    items = app.client.get(
        f"{BASE}/items", params={"runs": "prompt-v1,prompt-v2", "limit": 100}
    ).json()["data"]
    item = next(d for d in items if d["item_id"] == "item-003")
    assert item["runs"][1]["scores"]["judge"] == 0.25


def test_the_latest_run_item_of_an_item_counts(app: App) -> None:
    ds = rows.add_dataset(app.store, app.project_id, "reruns")
    items = [(f"r-{i:02d}", i, i) for i in range(30)]
    old = rows.add_items(app.store, app.project_id, ds, items)
    outcomes = [Outcome(i, scores={"score": 1.0}) for i, _, _ in items]
    plant_run(app.client, app.store, app.project_id, ds, "a", outcomes, old)
    new = rows.add_items(app.store, app.project_id, ds, [("r-00", "changed", "changed")])
    run_b, _ = plant_run(app.client, app.store, app.project_id, ds, "b", outcomes, old)
    rerun = [Outcome("r-00", scores={"score": 0.0})]  # r-00 again, on its new version
    trace = post_traces(app.client, rerun)[0][0]
    post_scores(app.client, [trace], rerun)
    rows.add_run_items(app.store, app.project_id, run_b, [("r-00", trace, None, new)])
    r = app.client.get(
        "/api/datasets/reruns/runs/compare", params={"baseline": "a", "candidate": "b"}
    )
    row = next(x for x in r.json()["rows"] if x["name"] == "score")
    assert row["n_pairs"] == 30 and row["difference"] == pytest.approx(-1 / 30)
    items = app.client.get("/api/datasets/reruns/runs/items", params={"runs": "a,b"}).json()
    first = items["data"][0]
    assert first["item_id"] == "r-00" and first["versions_differ"]
    assert first["item"]["input"] == 0  # the version the baseline ran against
    assert first["runs"][0]["item_version"] != first["runs"][1]["item_version"]


def test_runs_of_another_project_are_not_seen(app: App, planted: Planted) -> None:
    other = app.store.create_project("experiments-other")["id"]
    key = app.store.create_key(other)
    headers = {"Authorization": f"Bearer {key['secret_key']}", **CONSISTENT}
    r = app.client.get(
        f"{BASE}/compare",
        params={"baseline": "prompt-v1", "candidate": "prompt-v2"},
        headers=headers,
    )
    assert r.status_code == 404 and "support/qa" in r.json()["error"]["message"]
    ds = rows.add_dataset(app.store, other, DATASET)
    rows.add_run(app.store, other, ds, "prompt-v1")
    r = app.client.get(f"{BASE}/summary", params={"runs": "prompt-v1"}, headers=headers)
    assert r.status_code == 200 and r.json()["runs"][0]["items"] == 0


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("compare", {"baseline": "prompt-v1"}, 400, "candidate: required"),
        ("compare", {"candidate": "prompt-v1"}, 400, "baseline: required"),
        ("compare", {"baseline": "prompt-v1", "candidate": "prompt-v1"}, 400, "same run"),
        ("compare", {"baseline": "prompt-v1", "candidate": "nope"}, 404, "has no run 'nope'"),
        ("compare", {"baseline": "prompt-v1", "candidate": "prompt-v2", "alpha": "0.9"}, 400,
         "alpha: between"),
        ("compare", {"baseline": "prompt-v1", "candidate": "prompt-v2", "alpha": "nan"}, 400,
         "alpha"),
        ("compare", {"baseline": "prompt-v1", "candidate": "prompt-v2", "alpha": "x"}, 400,
         "alpha"),
        ("compare", {"baseline": "prompt-v1", "candidate": "prompt-v2", "seed": "-1"}, 400,
         "seed"),
        ("compare", {"baseline": "prompt-v1", "candidate": "prompt-v2",
                     "lower_is_better": "a", "higher_is_better": "a"}, 400, "in both"),
        ("summary", {}, 400, "runs: required"),
        ("summary", {"runs": "prompt-v1,,prompt-v2"}, 400, "empty run name"),
        ("summary", {"runs": "prompt-v1,prompt-v1"}, 400, "named twice"),
        ("summary", {"runs": ",".join(f"r{i}" for i in range(11))}, 400, "at most 10"),
        ("summary", {"runs": "prompt-v1,ghost"}, 404, "has no run 'ghost'"),
        ("items", {"runs": "prompt-v1", "limit": "0"}, 400, "limit"),
        ("items", {"runs": "prompt-v1", "page": "0"}, 400, "page"),
    ],
)  # fmt: skip
def test_bad_requests_are_named(
    app: App, planted: Planted, path: str, params: dict, status: int, message: str
) -> None:
    r = app.client.get(f"{BASE}/{path}", params=params)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]


def test_a_missing_dataset_is_a_404_naming_it(app: App) -> None:
    r = app.client.get("/api/datasets/no-such/runs/items", params={"runs": "a"})
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "dataset 'no-such' not found in this project"


def test_repeated_runs_parameters_take_names_whole(app: App) -> None:
    ds = rows.add_dataset(app.store, app.project_id, "commas")
    rows.add_run(app.store, app.project_id, ds, "run, with a comma")
    r = app.client.get(
        "/api/datasets/commas/runs/summary", params=[("runs", "run, with a comma"), ("runs", "x")]
    )
    assert r.status_code == 404 and r.json()["error"]["message"].endswith("has no run 'x'")
    r = app.client.get("/api/datasets/commas/runs/summary", params={"runs": "run, with a comma"})
    assert r.status_code == 404  # one value: split at the comma


def test_a_read_only_key_may_compare(app: App, planted: Planted) -> None:
    key = app.store.create_key(app.project_id, scope="read")
    r = app.client.get(
        f"{BASE}/compare",
        params={"baseline": "prompt-v1", "candidate": "prompt-v2"},
        headers={"Authorization": f"Bearer {key['secret_key']}"},
    )
    assert r.status_code == 200


def test_runs_without_common_items_or_with_unicode_ids(app: App) -> None:
    ds = rows.add_dataset(app.store, app.project_id, "disjoint")
    ids = ["Zebra", "apple", "äpfel", "é", "日本", "a b"]
    version = rows.add_items(app.store, app.project_id, ds, [(i, i, None) for i in ids])
    left = [Outcome(i, scores={"score": 1.0, "ok": True}) for i in ids[:3]]
    right = [Outcome(i, scores={"score": 0.0, "ok": False}) for i in ids[3:]]
    plant_run(app.client, app.store, app.project_id, ds, "left", left, version)
    plant_run(app.client, app.store, app.project_id, ds, "right", right, version)
    rows.add_run(app.store, app.project_id, ds, "empty")
    r = app.client.get(
        "/api/datasets/disjoint/runs/compare", params={"baseline": "left", "candidate": "right"}
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["pairs"] == {"paired": 0, "only_baseline": 3, "only_candidate": 3}
    for row in answer["rows"]:
        assert (row["verdict"], row["n_pairs"], row["difference"]) == ("insufficient_data", 0, None)
    r = app.client.get(
        "/api/datasets/disjoint/runs/compare", params={"baseline": "left", "candidate": "empty"}
    )
    assert r.status_code == 200 and r.json()["pairs"]["only_baseline"] == 3
    items = app.client.get(
        "/api/datasets/disjoint/runs/items", params={"runs": "left,right,empty"}
    ).json()["data"]
    assert sorted(d["item_id"] for d in items) == sorted(ids)
    for d in items:
        present = [run["present"] for run in d["runs"]]
        assert present == [d["item_id"] in ids[:3], d["item_id"] in ids[3:], False]
        assert d["change"] is None and d["differences"] == []
        score = next(run["scores"]["score"] for run in d["runs"] if run["present"])
        assert score == (1.0 if d["item_id"] in ids[:3] else 0.0)
