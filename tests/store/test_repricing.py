"""Re-pricing stored observations: the same costs and trace totals as if the price had
been there at ingest; client costs, other models and other projects untouched."""

from __future__ import annotations

import copy
from pathlib import Path

from heron.cost import PriceBook, PriceEntry, load_builtin_prices
from heron.ingest.costing import cost_function
from heron.ingest.decoding import apply_costs
from heron.model import ObservationRecord
from heron.store import EmbeddedStore

DAY_US = 86_400_000_000
T0 = 1_760_000_000_000_000  # 2025-10-09
MODEL = "acme-private-7b"
ENTRY = {
    "id": "acme",
    "model_name": MODEL,
    "match_pattern": "^acme-private-7b$",
    "prices": {"input": 1e-06, "output": 3e-06, "cached_input": 1e-07},
}
LATER = {
    **ENTRY,
    "id": "acme-2026",
    "start_date": "2025-10-12",
    "prices": {"input": 2e-06, "output": 5e-06},
}


def records(project: str) -> list[ObservationRecord]:
    """Ten traces of four generations: the model (over days, so two prices apply), one with
    a client cost, one of a built-in model, one of another unpriced model."""
    out = []
    for t in range(10):
        tid = f"{project[:1]}{t:031x}"
        at = T0 + t * DAY_US // 2
        root = ObservationRecord(project, f"{t:015x}0", tid, None, "span", "root", at)
        out.append(root)
        for g in range(3):
            out.append(
                ObservationRecord(
                    project,
                    f"{t:015x}{g + 1}",
                    tid,
                    root.id,
                    "generation",
                    "llm",
                    at + g,
                    model=MODEL,
                    usage={
                        "input": 1000 + 37 * t + g,
                        "output": 211 * g + 5,
                        "cached_input": 100 * g,
                    },
                )
            )
        out.append(
            ObservationRecord(
                project,
                f"{t:015x}7",
                tid,
                root.id,
                "generation",
                "llm",
                at,
                model=MODEL,
                usage={"input": 10, "output": 10},
                cost={"total": 0.5},
                cost_from_client=True,
            )
        )
        out.append(
            ObservationRecord(
                project,
                f"{t:015x}8",
                tid,
                root.id,
                "generation",
                "llm",
                at,
                model="gpt-4o-mini",
                usage={"input": 500, "output": 40},
            )
        )
        out.append(
            ObservationRecord(
                project,
                f"{t:015x}9",
                tid,
                root.id,
                "generation",
                "llm",
                at,
                model="other-unpriced",
                usage={"input": 5, "output": 5},
            )
        )
    return out


def book(*entries: dict) -> PriceBook:
    return PriceBook(
        load_builtin_prices(), [PriceEntry.from_dict(e, source="project") for e in entries]
    )


def snapshot(store: EmbeddedStore, project: str) -> tuple[dict, dict]:
    cur = store.cursor()
    obs = {
        r[0]: (r[1], r[2], r[3])
        for r in cur.execute(
            "SELECT id, total_cost, cost_source, cost FROM observations WHERE project_id = ?",
            [project],
        ).fetchall()
    }
    traces = dict(
        cur.execute("SELECT id, total_cost FROM traces WHERE project_id = ?", [project]).fetchall()
    )
    return obs, traces


def ingest(store: EmbeddedStore, recs: list[ObservationRecord], prices: PriceBook) -> None:
    recs = copy.deepcopy(recs)
    apply_costs(recs, prices)
    store.write_batch(recs, [])


def test_reprice_equals_ingest_with_the_price(tmp_path: Path) -> None:
    prices = book(ENTRY, LATER)
    expected_store = EmbeddedStore(tmp_path / "expected.duckdb")
    ingest(expected_store, records("p1"), prices)
    expected = snapshot(expected_store, "p1")
    expected_store.close()

    store = EmbeddedStore(tmp_path / "heron.duckdb")
    ingest(store, records("p1"), book())
    ingest(store, records("p2"), book())
    before_p2 = snapshot(store, "p2")
    unpriced = {m["model"]: m["observations"] for m in store.unpriced_models("p1")}
    assert unpriced == {MODEL: 30, "other-unpriced": 10}

    seen: list[tuple[int, int]] = []
    n = store.reprice(
        "p1", [MODEL], cost_function(prices), lambda d, t: seen.append((d, t)), chunk=7
    )
    assert n == 30  # the 30 unpriced generations; the client-cost ones are not counted
    assert seen[0] == (0, 30) and seen[-1] == (30, 30) and len(seen) == 1 + 5

    got_obs, got_traces = snapshot(store, "p1")
    exp_obs, exp_traces = expected
    for oid, (cost, source, parts) in exp_obs.items():
        assert got_obs[oid][1] == source, oid
        if oid.endswith("9"):
            assert got_obs[oid][0] is None  # another model: still unpriced
            continue
        assert got_obs[oid][0] == cost, oid
        assert got_obs[oid][2] == parts, oid
    client = [v for k, v in got_obs.items() if k.endswith("7")]
    assert all(c == (0.5, "client", {"total": 0.5}) for c in client)
    # both prices applied: the observations before and after 2025-10-12
    per_token = {round(v[2]["input"] / 1, 12) for k, v in got_obs.items() if k[-1] in "123"}
    assert len(per_token) > 10
    for tid, total in exp_traces.items():
        assert abs(got_traces[tid] - total) <= 1e-12 * total, tid
        assert got_traces[tid] > 0.5  # the client cost (0.5) plus the computed ones
    assert snapshot(store, "p2") == before_p2  # another project: untouched
    assert {m["model"] for m in store.unpriced_models("p1")} == {"other-unpriced"}

    # again (idempotent), and with the price gone the computed costs go, the client's stay
    assert store.reprice("p1", [MODEL], cost_function(prices)) == 30
    assert snapshot(store, "p1")[1] == got_traces
    assert store.reprice("p1", [MODEL], cost_function(book())) == 30
    obs_after, traces_after = snapshot(store, "p1")
    assert all(v == (None, None, None) for k, v in obs_after.items() if k[-1] in "123")
    assert all(v[1] == "client" for k, v in obs_after.items() if k.endswith("7"))
    assert all(t > 0.5 for t in traces_after.values())  # client 0.5 + gpt-4o-mini
    store.close()
