"""LLM totals for the Prometheus export, straight from the store: settling and merging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from heron.model import ObservationRecord, TraceUpdate
from heron.store import EmbeddedStore

T0 = 1_760_000_000_000_000
TID = "b" * 32


def call(oid: str, parent: str | None, **fields: object) -> ObservationRecord:
    values: dict = {"usage": {"input": 10, "output": 2}, **fields}
    return ObservationRecord(
        project_id="p", id=oid, trace_id=TID, parent_id=parent, type="generation",
        name="chat", start_us=T0, end_us=T0 + 400_000, model="gpt-4o", **values,
    )  # fmt: skip


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_rootless_trace_counts_once_nothing_was_written_to_it(store: EmbeddedStore) -> None:
    store.write_batch([call("c" * 16, "f" * 16)], [TraceUpdate("p", TID, name="route")])
    assert store.model_call_totals("p", now() - timedelta(minutes=1)) == []
    assert store.trace_totals("p", now() - timedelta(minutes=1)) == []

    # Last written before the cut-off: settled, counted with its name.
    [totals] = store.model_call_totals("p", now() + timedelta(seconds=1))
    assert totals.labels == ("gpt-4o", "route")
    assert (totals.count, totals.input_tokens, totals.output_tokens) == (1, 10, 2)
    assert totals.timed == 1 and totals.latency_sum_s == 0.4
    assert totals.buckets[:4] == (0, 0, 1, 1)  # 0.1, 0.25, 0.5, 1.0
    [traces] = store.trace_totals("p", now() + timedelta(seconds=1))
    assert (traces.labels, traces.count) == (("route",), 1)
    assert store.model_call_totals("other-project", now() + timedelta(seconds=1)) == []


def test_root_settles_at_once_and_a_resent_call_is_merged(store: EmbeddedStore) -> None:
    root = ObservationRecord(project_id="p", id="r" * 16, trace_id=TID, parent_id=None,
                             type="span", name="support", start_us=T0,
                             end_us=T0 + 900_000)  # fmt: skip
    store.write_batch([root, call("c" * 16, "r" * 16)], [TraceUpdate("p", TID, is_root=True,
                                                                      name="support")])  # fmt: skip
    # The call sent again, now with its final usage and an error.
    store.write_batch(
        [call("c" * 16, "r" * 16, level="ERROR", usage={"input": 30, "output": 5})], []
    )
    [totals] = store.model_call_totals("p", now() - timedelta(hours=1))
    assert totals.labels == ("gpt-4o", "support")
    assert (totals.count, totals.errors, totals.input_tokens, totals.output_tokens) == (1, 1, 30, 5)
    [traces] = store.trace_totals("p", now() - timedelta(hours=1))
    assert (traces.count, traces.errors, traces.latency_sum_s) == (1, 1, 0.9)
