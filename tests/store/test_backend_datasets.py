"""Dataset runs, run items and experiment results side by side: DuckDB (EmbeddedStore, a real
file) and the cluster backend (ClusterStore: runs in PostgreSQL, run items in ClickHouse on
the chdb HTTP server). The same calls go to both; every answer must be the same (ids that are
random or times that are the write's are compared by what they stand for), and each is also
checked against what it must be, including the paired comparison of two runs
(:func:`heron.experiments.compare.compare_runs`) and the run items Langfuse experiment spans
make in the batch's write."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pytest

from heron.datasets.from_traces import Selection
from heron.datasets.spec import DatasetSpec, ItemSpec, RunItemSpec
from heron.errors import NotFound, QueryTimeout
from heron.experiments.compare import Options, compare_runs, summarize_runs
from heron.model import ObservationRecord, TraceUpdate
from heron.query import parse_filters
from heron.scores import ScoreRecord
from heron.store import EmbeddedStore
from heron.store.cluster import ClusterStore, open_cluster
from heron.store.dataset_runs import experiment_run_id
from heron.store.experiment_reads import ITEM_FIELDS, ExperimentQuery

T0 = 1_760_000_000_000_000  # µs
S = 1_000_000
X = "langfuse.experiment."


@pytest.fixture
def both(duck: EmbeddedStore, cluster: ClusterStore) -> dict[str, Any]:
    return {"duckdb": duck, "cluster": cluster}


def same(both: dict[str, Any], call: Callable[[Any, str], Any]) -> Any:
    """``call(store, project)`` on both backends (a new project each), its answers equal
    once the ids that differ by project (the project's, its datasets', its runs', derived
    from them) are named; returns DuckDB's so named, as JSON values."""
    answers = {}
    for name, store in both.items():
        project = store.create_project("p-" + uuid.uuid4().hex[:10])["id"]
        answers[name] = _named(call(store, project), store, project)
    if answers["duckdb"] != answers["cluster"]:
        a, b = (json.dumps(answers[k], indent=1, sort_keys=True).splitlines() for k in answers)
        pytest.fail("\n".join(difflib.unified_diff(a, b, "duckdb", "cluster", lineterm="")))
    return answers["duckdb"]


def _named(answer: Any, store: Any, project: str) -> Any:
    text = orjson.dumps(_nan_free(answer), default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    names = {project: "P"}
    for ds in store.list_datasets(project, 1, 100)[0]:
        names[ds["id"]] = f"D:{ds['name']}"
        for run in store.list_dataset_runs(project, ds["id"], 1, 100)[0]:
            names[run["id"]] = f"R:{run['name']}"
    for raw, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(raw, name)
    return orjson.loads(text)


def span(project: str, trace: str, oid: str, parent: str | None = None, **kw: Any) -> Any:
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


def score(project: str, trace: str | None, name: str, value: Any, **kw: Any) -> ScoreRecord:
    data_type = kw.pop("data_type", "NUMERIC")
    return ScoreRecord(
        project_id=project,
        id=f"{trace}/{name}/{value}",
        trace_id=trace,
        observation_id=None,
        session_id=None,
        name=name,
        value=None if data_type == "CATEGORICAL" else value,
        string_value=value if data_type == "CATEGORICAL" else None,
        data_type=data_type,
        source="API",
        comment=None,
        author=None,
        timestamp=kw.pop("timestamp", datetime(2025, 10, 9, 12)),
        metadata=None,
        environment="default",
        **kw,
    )


def dataset(store: Any, project: str, name: str = "qa", n: int = 3) -> dict[str, Any]:
    found = store.create_dataset(project, DatasetSpec(name=name))
    store.put_dataset_items(
        project,
        name,
        [ItemSpec(id=f"item-{i}", input={"q": i}, expected_output=f"a{i}") for i in range(n)],
    )
    return found


def trace(store: Any, project: str, tid: str, start: int, latency_s: float, **kw: Any) -> None:
    output = kw.pop("output", '"answer"')
    store.write_batch(
        [
            span(
                project,
                tid,
                tid + "-root",
                start_us=start,
                end_us=start + int(latency_s * S),
                input='{"q": 1}',
                output=output,
                cost={"total": kw.pop("cost", 0.5)},
                usage={"total": kw.pop("tokens", 10)},
                **kw,
            )
        ],
        [TraceUpdate(project_id=project, trace_id=tid, input='{"q": 1}', output=output)],
    )


def versions(store: Any, project: str) -> dict[str, str]:
    """Each item's current version (what a run item records), by item id."""
    return {f"item-{i}": store.get_dataset_item(project, f"item-{i}")["version"] for i in range(3)}


def stable(run_item: dict[str, Any], store: Any, project: str) -> dict[str, Any]:
    """A run item without its random id and write times, its item version as whether it
    is the item's current one."""
    out = {k: v for k, v in run_item.items() if k not in ("id", "createdAt", "updatedAt")}
    out["datasetItemVersion"] = (
        run_item["datasetItemVersion"] == versions(store, project)[run_item["datasetItemId"]]
    )
    return out


def stable_run(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k not in ("createdAt", "updatedAt", "datasetId")}


# -- runs and run items through the API ----------------------------------------------------------


def test_run_items_through_the_api_are_one_per_run_and_item(both: dict[str, Any]) -> None:
    def call(store: Any, p: str) -> Any:
        ds = dataset(store, p)
        for k in range(3):
            trace(store, p, f"t{k}", T0 + k * S, 1.0)
        first = store.create_dataset_run_item(
            p, RunItemSpec(run_name="r1", dataset_item_id="item-0", trace_id="t0",
                           run_description="first", metadata={"m": 1}, output={"o": 0}),
            "t0",
        )  # fmt: skip
        store.create_dataset_run_item(
            p, RunItemSpec(run_name="r1", dataset_item_id="item-1", trace_id="t1"), "t1"
        )
        # sent again with another trace: the same run item, replaced (its id kept)
        again = store.create_dataset_run_item(
            p, RunItemSpec(run_name="r1", dataset_item_id="item-0", trace_id="t2"), "t2"
        )
        assert again["id"] == first["id"] and again["traceId"] == "t2"
        assert again["output"] is None  # replaced whole, as on DuckDB
        run = store.get_dataset_run(p, ds["id"], "r1")
        assert run["id"] == experiment_run_id(p, ds["id"], "r1")  # the SDK v5's id
        by_id = store.get_dataset_run_by_id(p, run["id"])
        put = store.put_dataset_run_item(p, run["id"], "item-2", "t2", "t2-root", None, [1, 2])
        listed, total = store.list_dataset_run_items(p, run["id"], 1, 2)
        rest, _ = store.list_dataset_run_items(p, run["id"], 2, 2)
        runs, count = store.list_dataset_runs(p, ds["id"], 1, 10)
        described = store.ensure_dataset_run(p, ds["id"], "r1", "second", None)
        store.ensure_dataset_run(p, ds["id"], "r0")
        newest_first, _ = store.list_dataset_runs(p, ds["id"], 1, 10)
        full = store.get_dataset_run(p, ds["id"], "r1")
        return {
            "first": stable(first, store, p),
            "run": stable_run({**run, "datasetRunItems": None}),
            "items": [stable(x, store, p) for x in run["datasetRunItems"]],
            "by_id": stable_run(by_id),
            "put": stable(put, store, p),
            "page": ([stable(x, store, p) for x in listed], total),
            "page2": [stable(x, store, p) for x in rest],
            "runs": ([stable_run(r) for r in runs], count),
            "described": (described["description"], described["metadata"]),
            "newest_first": [(r["name"], r["runItemCount"]) for r in newest_first],
            "full": [stable(x, store, p) for x in full["datasetRunItems"]],
            "expected": store.run_item_expected_outputs(p, ["t0", "t1", "t2", "nope"]),
        }

    got = same(both, call)
    assert got["first"]["output"] == {"o": 0} and got["first"]["datasetItemVersion"]
    assert [x["datasetItemId"] for x in got["items"]] == ["item-0", "item-1"]
    assert got["page"][1] == 3 and len(got["page"][0]) == 2 and len(got["page2"]) == 1
    assert got["runs"][0][0]["runItemCount"] == 3 and got["runs"][1] == 1
    assert got["runs"][0][0]["description"] == "first" and got["runs"][0][0]["metadata"] == {"m": 1}
    assert got["described"] == ["second", {"m": 1}]
    assert got["newest_first"] == [["r0", 0], ["r1", 3]]
    assert got["full"][-1]["output"] == [1, 2] and got["full"][-1]["observationId"] == "t2-root"
    # t2 ran item-0 and item-2: the latest run item of the trace wins
    assert got["expected"] == {"t1": "a1", "t2": "a2"}


def test_run_item_errors_are_the_same(both: dict[str, Any]) -> None:
    def call(store: Any, p: str) -> Any:
        ds = dataset(store, p)
        out = []
        for attempt in (
            lambda: store.put_dataset_run_item(p, "no-run", "item-0", None),
            lambda: store.create_dataset_run_item(
                p, RunItemSpec(run_name="r", dataset_item_id="nope"), None
            ),
            lambda: store.experiment_runs(p, "qa", ["missing"]),
            lambda: store.experiment_runs(p, "no-dataset", ["x"]),
        ):
            with pytest.raises(NotFound) as caught:
                attempt()
            out.append(caught.value.message)
        assert store.get_dataset_run(p, ds["id"], "none") is None
        assert store.list_dataset_run_items(p, "none", 1, 10) == ([], 0)
        assert store.delete_dataset_run(p, ds["id"], "none") is False
        return out

    messages = same(both, call)
    assert "not found" in messages[0] and "'missing'" in messages[2]


def test_deleting_a_run_deletes_its_items_and_a_new_run_of_its_name_starts_empty(
    both: dict[str, Any],
) -> None:
    def call(store: Any, p: str) -> Any:
        ds = dataset(store, p)
        trace(store, p, "t0", T0, 1.0)
        for item in ("item-0", "item-1"):
            store.create_dataset_run_item(p, RunItemSpec("r", item), "t0")
        run_id = store.get_dataset_run(p, ds["id"], "r")["id"]
        assert store.delete_dataset_run(p, ds["id"], "r") is True
        gone = store.get_dataset_run(p, ds["id"], "r"), store.get_dataset_run_by_id(p, run_id)
        made = store.ensure_dataset_run(p, ds["id"], "r")
        return {
            "gone": gone,
            "same_id": made["id"] == run_id,
            "items": store.list_dataset_run_items(p, run_id, 1, 10),
            "run": len(store.get_dataset_run(p, ds["id"], "r")["datasetRunItems"]),
            "expected": store.run_item_expected_outputs(p, ["t0"]),
        }

    assert same(both, call) == {
        "gone": [None, None],
        "same_id": True,
        "items": [[], 0],
        "run": 0,
        "expected": {},
    }


# -- Langfuse experiment spans -------------------------------------------------------------------


def experiment_span(
    p: str, tid: str, item: str, start: int, dataset_id: str | None, **meta: Any
) -> Any:
    metadata = {
        X + "id": "exp-1",
        X + "name": "nightly",
        X + "item.id": item,
        X + "item.root_observation_id": tid + "-root",
        **({X + "dataset.id": dataset_id} if dataset_id else {}),
        **meta,
    }
    return span(
        p, tid, tid + "-root", start_us=start, end_us=start + S, metadata=metadata, output='"ok"'
    )


def test_experiment_spans_make_a_run_and_its_items_idempotently(both: dict[str, Any]) -> None:
    def call(store: Any, p: str) -> Any:
        ds = dataset(store, p)
        store.write_batch(
            [
                experiment_span(p, "ta", "item-0", T0, ds["id"], **{X + "description": "d"}),
                experiment_span(p, "tb", "item-1", T0 + S, ds["id"]),
            ],
            [],
        )
        run = store.get_dataset_run(p, ds["id"], "nightly")
        # the same spans again (a client retry, a journal replay): nothing changes
        store.write_batch([experiment_span(p, "ta", "item-0", T0, ds["id"])], [])
        again = store.get_dataset_run(p, ds["id"], "nightly")
        assert again == run  # not even a time
        # item-0 run again later: the newer trace is linked; a late span of the old one is not
        store.write_batch([experiment_span(p, "tc", "item-0", T0 + 5 * S, ds["id"])], [])
        store.write_batch(
            [span(p, "ta", "ta-child", "ta-root", start_us=T0 + S, metadata={
                X + "id": "exp-1", X + "item.id": "item-0",
                X + "item.root_observation_id": "ta-root", X + "dataset.id": ds["id"]})],
            [],
        )  # fmt: skip
        # an experiment on local data: a run without a dataset, found by its id
        store.write_batch(
            [experiment_span(p, "td", "local-1", T0, None, **{X + "id": "exp-local"})], []
        )
        final = store.get_dataset_run(p, ds["id"], "nightly")
        return {
            "run": stable_run({**run, "datasetRunItems": None}),
            "items": sorted(
                (stable(x, store, p) for x in run["datasetRunItems"]),
                key=lambda x: x["datasetItemId"],  # one batch: same time, ids random
            ),
            "final": sorted(
                (stable(x, store, p) for x in final["datasetRunItems"]),
                key=lambda x: x["datasetItemId"],
            ),
            "local_items": [
                {k: v for k, v in x.items() if k not in ("id", "createdAt", "updatedAt")}
                for x in store.list_dataset_run_items(p, "exp-local", 1, 10)[0]
            ],
        }

    got = same(both, call)
    assert got["run"]["id"] == "R:nightly" and got["run"]["description"] == "d"
    assert [(x["datasetItemId"], x["traceId"], x["observationId"]) for x in got["items"]] == [
        ("item-0", "ta", "ta-root"),
        ("item-1", "tb", "tb-root"),
    ]
    assert all(x["datasetItemVersion"] for x in got["items"])
    assert {x["datasetItemId"]: x["traceId"] for x in got["final"]} == {
        "item-0": "tc",
        "item-1": "tb",
    }
    assert [(x["datasetItemId"], x["traceId"]) for x in got["local_items"]] == [("local-1", "td")]


# -- experiment results and the comparison of two runs -------------------------------------------


def plant_runs(store: Any, p: str) -> dict[str, Any]:
    """Two runs of three items: latency, cost, tokens and scores differ between them."""
    ds = dataset(store, p, "bench")
    plan = {
        "base": [(1.0, 0.5, 10, 0.5, True, "good"), (2.0, 0.25, 20, 0.75, False, "bad"),
                 (3.0, 0.5, 30, 1.0, True, "good")],
        "cand": [(0.5, 0.25, 10, 1.0, True, "good"), (1.0, 0.25, 20, 1.0, True, "good"),
                 (1.5, 0.125, 30, 0.5, False, "bad")],
    }  # fmt: skip
    for run, rows in plan.items():
        for k, (lat, cost, tokens, acc, ok, label) in enumerate(rows):
            tid = f"{run}-{k}"
            start = T0 + k * S + (S // 3 if run == "cand" else 0)
            trace(store, p, tid, start, lat, cost=cost, tokens=tokens, output=f'"{tid}"')
            own = {"own": tid} if k == 0 else None  # an output the client reported
            store.create_dataset_run_item(p, RunItemSpec(run, f"item-{k}", output=own), tid)
            store.write_scores(
                [
                    score(p, tid, "accuracy", acc),
                    score(p, tid, "accuracy", acc / 2),  # two values of one name: averaged
                    score(p, tid, "ok", 1.0 if ok else 0.0, data_type="BOOLEAN"),
                    score(p, tid, "verdict", label, data_type="CATEGORICAL"),
                ]
            )
    store.write_scores([score(p, None, "run-f1", 0.75, dataset_run_id=experiment_run_id(
        p, ds["id"], "cand"))])  # fmt: skip
    return ds


def results_view(runs: list[Any]) -> list[Any]:
    out = []
    for r in runs:
        head = dataclasses.asdict(r)
        head.pop("created_at")
        head.pop("id")
        head["versions"] = [v is not None for v in r.versions]
        for key in ("item_ids", "latency", "cost", "tokens"):
            head[key] = np.asarray(head[key]).tolist()
        head["scores"] = {
            "/".join(k): (c["values"].tolist(), c["labels"]) for k, c in head["scores"].items()
        }
        out.append(head)
    return _nan_free(out)


def _nan_free(value: Any) -> Any:
    """NaN as a marker (NaN != NaN would fail equal answers)."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: _nan_free(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_free(v) for v in value]
    return value


def test_experiment_results_and_the_paired_comparison_are_the_same(
    both: dict[str, Any],
) -> None:
    def call(store: Any, p: str) -> Any:
        ds = plant_runs(store, p)
        runs = store.experiment_runs(p, "bench", ["base", "cand"])
        run_ids = [r.id for r in runs]
        assert run_ids == [experiment_run_id(p, ds["id"], n) for n in ("base", "cand")]
        compared = compare_runs("bench", runs[0], runs[1], Options(seed=3))
        scores = store.experiment_run_scores(p, run_ids)
        summary = summarize_runs("bench", runs, scores, Options())
        details = store.experiment_items(p, "bench", run_ids, ["item-0", "item-2", "nope"])
        for rows in details["items"].values():
            for row in rows:
                row["valid_from"] = row["valid_from"] is not None
        for s in [s for ss in scores.values() for s in ss]:
            s["timestamp"] = s["timestamp"].isoformat()
        return {
            "results": results_view(runs),
            "compared": _scrub(compared),
            "summary": _scrub(summary),
            "scores": scores,
            "details": {
                "items": details["items"],
                "outputs": {f"{r}/{i}": v for (r, i), v in sorted(details["outputs"].items())},
            },
        }

    got = same(both, call)
    base, cand = got["results"]
    assert base["item_ids"] == ["item-0", "item-1", "item-2"]
    assert base["latency"] == [1000.0, 2000.0, 3000.0] and cand["cost"] == [0.25, 0.25, 0.125]
    assert base["scores"]["accuracy/NUMERIC"][0] == [0.375, 0.5625, 0.75]
    assert base["scores"]["ok/BOOLEAN"][0] == [1.0, 0.0, 1.0]
    assert base["scores"]["verdict/CATEGORICAL"][1] == ["good", "bad", "good"]
    rows = {(r["name"], r["kind"]): r for r in got["compared"]["rows"]}
    assert rows[("latency", "measure")]["n_pairs"] == 3
    assert got["scores"]["R:cand"][0]["value"] == 0.75 and got["scores"]["R:base"] == []
    assert got["details"]["outputs"]["R:cand/item-2"]["output"] == '"cand-2"'  # the trace's
    assert got["details"]["outputs"]["R:cand/item-0"]["output"] == {"own": "cand-0"}
    assert got["summary"]["runs"][1]["items"] == 3
    assert sorted(got["details"]["items"]) == ["item-0", "item-2"]


# -- /api/public/experiments and /experiment-items ----------------------------------------------


def test_experiment_runs_past_their_time_limit_are_cancelled_on_the_cluster(
    cluster: ClusterStore,
) -> None:
    p = cluster.create_project("p-" + uuid.uuid4().hex[:10])["id"]
    plant_runs(cluster, p)
    assert len(cluster.experiment_runs(p, "bench", ["base", "cand"])) == 2
    cluster.events.query_timeout_s = 0.0001  # ClickHouse cancels it at its first check
    try:
        with pytest.raises(QueryTimeout, match=r"reading the experiment runs ran longer than"):
            cluster.experiment_runs(p, "bench", ["base", "cand"])
    finally:
        cluster.events.query_timeout_s = None


def test_experiment_lists_are_the_same(both: dict[str, Any]) -> None:
    def call(store: Any, p: str) -> Any:
        plant_runs(store, p)
        q = ExperimentQuery(from_start=datetime(2020, 1, 1), limit=1,
                            fields=frozenset({"core", "metadata", "scores"}))  # fmt: skip
        first = store.list_experiments(p, q)
        second = store.list_experiments(p, dataclasses.replace(q, after=first[0]["_after"]))
        named = store.list_experiments(
            p, dataclasses.replace(q, limit=5, filters=parse_filters('[{"column": "name", '
                                                                     '"operator": "=", '
                                                                     '"value": "cand"}]'))
        )  # fmt: skip
        iq = ExperimentQuery(from_start=datetime(2020, 1, 1), limit=4,
                             fields=frozenset(ITEM_FIELDS))  # fmt: skip
        items = store.list_experiment_items(p, iq)
        later = store.list_experiment_items(p, dataclasses.replace(iq, after=items[-2]["_after"]))
        none = store.list_experiments(p, dataclasses.replace(q, from_start=datetime(2100, 1, 1)))
        return _scrub([first, second, named, items, later, none])

    first, second, named, items, later, none = same(both, call)
    assert len(first) == 2 and first[0]["name"] in ("base", "cand")
    assert {second[0]["name"], first[0]["name"]} == {"base", "cand"}
    assert [e["name"] for e in named] == ["cand"] and named[0]["scores"][0]["value"] == 0.75
    assert [(i["experimentName"], i["experimentItemId"]) for i in items] == [
        ("cand", "item-2"), ("base", "item-2"), ("cand", "item-1"), ("base", "item-1"),
        ("cand", "item-0"),
    ]  # fmt: skip
    assert items[0]["expectedOutput"] == "a2" and items[0]["output"] == "cand-2"
    assert [i["traceId"] for i in later] == ["cand-0", "base-0"] and none == []


def _scrub(value: Any) -> Any:
    """Random ids (run items') and write times out of a nested answer."""
    if isinstance(value, dict):
        item = "experimentItemId" in value  # an experiment item: its id is its run item's
        return {
            k: _scrub(v)
            for k, v in value.items()
            if k not in ("createdAt", "updatedAt", "created_at", "experimentItemVersion")
            and not (item and k in ("id", "_after"))
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# -- dataset items from traces ----------------------------------------------------------------


def test_dataset_items_from_traces_are_the_same(both: dict[str, Any]) -> None:
    def call(store: Any, p: str) -> Any:
        store.create_dataset(p, DatasetSpec(name="prod"))
        for k in range(4):
            store.write_batch(
                [span(p, f"t{k}", f"t{k}-root", start_us=T0 + k * S, input=f'{{"k": {k}}}',
                      output=f'"out {k}"', metadata={"m": k})],
                [TraceUpdate(project_id=p, trace_id=f"t{k}", name="chat" if k % 2 else "other",
                             input=f'{{"k": {k}}}', output=f'"out {k}"')],
            )  # fmt: skip
        chat = Selection(filters=parse_filters('[{"column": "name", "operator": "=", '
                                               '"value": "chat"}]'), limit=10)  # fmt: skip
        out = [store.dataset_items_from_traces(p, "prod", chat)]
        out.append(store.dataset_items_from_traces(p, "prod", chat))  # again: all skipped
        out.append(
            store.dataset_items_from_traces(p, "prod", Selection(trace_ids=["t0", "t1"], limit=2))
        )
        out.append(
            store.dataset_items_from_traces(
                p, "prod", Selection(observation_ids=["t2-root", "t2-root"], limit=2)
            )
        )
        with pytest.raises(NotFound) as caught:
            store.dataset_items_from_traces(p, "prod", Selection(trace_ids=["zz"], limit=1))
        out.append(caught.value.message)
        items, total = store.list_dataset_items(p, _all_items(store, p, "prod"), 1, 50)
        out.append(total)
        out.append(
            sorted(
                [i["sourceTraceId"], i["sourceObservationId"], i["input"], i["expectedOutput"],
                 i["metadata"]]
                for i in items
            )
        )  # fmt: skip
        return out

    got = same(both, call)
    assert got[:4] == [
        {"created": 2, "skipped": 0},
        {"created": 0, "skipped": 2},
        {"created": 1, "skipped": 1},
        {"created": 1, "skipped": 1},
    ]
    assert "'zz'" in got[4] and got[5] == 4
    assert got[6] == [
        ["t0", None, {"k": 0}, '"out 0"', None],  # a trace's output as stored (text)
        ["t1", None, {"k": 1}, '"out 1"', None],
        ["t2", "t2-root", {"k": 2}, '"out 2"', {"m": 2}],  # the observation's
        ["t3", None, {"k": 3}, '"out 3"', None],
    ]


def _all_items(store: Any, project: str, name: str) -> Any:
    from heron.store.datasets import ItemFilter

    return ItemFilter(dataset_id=store.get_dataset(project, name)["id"])


def test_an_experiment_attribute_with_a_nul_never_refuses_the_span(cluster: ClusterStore) -> None:
    """PostgreSQL keeps no NUL in text: the cluster drops it from the run's name rather than
    refusing (and so quarantining) spans DuckDB stores."""
    p = cluster.create_project("p-" + uuid.uuid4().hex[:10])["id"]
    ds = dataset(cluster, p)
    cluster.write_batch(
        [experiment_span(p, "tn", "item-0", T0, ds["id"], **{X + "name": "night\x00ly"})], []
    )
    run = cluster.get_dataset_run(p, ds["id"], "nightly")
    assert [x["traceId"] for x in run["datasetRunItems"]] == ["tn"]


def test_two_replicas_recording_one_run_at_once_make_one_run_and_one_item_per_item(
    cluster_urls: tuple[str, str], cluster: ClusterStore, tmp_path: Any
) -> None:
    """Run items of one run sent through two replicas at the same instant: the project's
    dataset lock makes them take turns, so the run is created once (no 409) and each item
    has one run item, its id kept by every later write."""
    other = open_cluster(*cluster_urls, tmp_path / "replica-b")
    try:
        p = cluster.create_project("p-" + uuid.uuid4().hex[:10])["id"]
        ds = dataset(cluster, p)
        for k in range(8):
            trace(cluster, p, f"t{k}", T0 + k * S, 1.0)
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def send(k: int) -> None:
            store = cluster if k % 2 else other
            try:
                barrier.wait(10)
                store.create_dataset_run_item(p, RunItemSpec("race", f"item-{k % 3}"), f"t{k}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors[:2]
        runs, total = cluster.list_dataset_runs(p, ds["id"], 1, 10)
        assert total == 1 and runs[0]["runItemCount"] == 3
        items = other.get_dataset_run(p, ds["id"], "race")["datasetRunItems"]
        assert sorted(x["datasetItemId"] for x in items) == ["item-0", "item-1", "item-2"]
        sent = {f"item-{k % 3}": set() for k in range(8)}
        for k in range(8):
            sent[f"item-{k % 3}"].add(f"t{k}")
        assert all(x["traceId"] in sent[x["datasetItemId"]] for x in items)
    finally:
        other.close()
