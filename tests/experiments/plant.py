"""Plant experiment runs through heron's real paths: each item's trace as OTLP spans, its
scores through ``POST /api/public/scores``, the dataset rows with :mod:`tests.experiments.rows`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson

from heron.store import EmbeddedStore
from tests.experiments import rows
from tests.support.otlp import T0_NS, new_span_id, new_trace_id, request, span

PB = {"Content-Type": "application/x-protobuf"}


@dataclass
class Outcome:
    """One dataset item run once: its trace's figures, output and scores."""

    item: str
    latency_ms: float = 1000.0
    cost: float = 0.001
    tokens: int = 100
    output: Any = "an answer"
    scores: dict[str, float | bool | str] = field(default_factory=dict)
    own_output: Any = None  # the run item's output, when its client reported one


def post_traces(client: Any, outcomes: list[Outcome]) -> list[tuple[str, str]]:
    """One trace per outcome (a root span and a generation carrying usage and cost): the
    (trace id, root span id) of each."""
    spans, ids = [], []
    for k, o in enumerate(outcomes):
        tid, root = new_trace_id(), new_span_id()
        start = T0_NS + k * 1_000_000
        spans.append(
            span(
                tid,
                root,
                "experiment-item",
                start_ns=start,
                duration_ms=o.latency_ms,
                attributes={"input.value": o.item, "output.value": _text(o.output)},
            )
        )
        spans.append(span(tid, new_span_id(), "chat", parent=root, start_ns=start,
                          duration_ms=min(o.latency_ms, 10.0),
                          attributes={"gen_ai.operation.name": "chat",
                                      "gen_ai.request.model": "experiment-model",
                                      "gen_ai.usage.input_tokens": o.tokens,
                                      "gen_ai.usage.output_tokens": 0,
                                      "gen_ai.usage.cost": o.cost}))  # fmt: skip
        ids.append((tid.hex(), root.hex()))
    for at in range(0, len(spans), 4000):
        r = client.post("/v1/traces", content=request(spans[at : at + 4000]).SerializeToString(),
                        headers=PB)  # fmt: skip
        assert r.status_code == 200, r.text
    return ids


def post_scores(client: Any, trace_ids: list[str], outcomes: list[Outcome]) -> None:
    scores = []
    for tid, o in zip(trace_ids, outcomes, strict=True):
        for name, value in o.scores.items():
            data_type = ("BOOLEAN" if isinstance(value, bool)
                         else "CATEGORICAL" if isinstance(value, str) else "NUMERIC")  # fmt: skip
            scores.append({"traceId": tid, "name": name, "value": value, "dataType": data_type})
    for at in range(0, len(scores), 1000):
        r = client.post("/api/public/scores", content=orjson.dumps(scores[at : at + 1000]))
        assert r.status_code in (201, 202), r.text


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def plant_run(
    client: httpx.Client | Any,
    store: EmbeddedStore,
    project_id: str,
    dataset_id: str,
    name: str,
    outcomes: list[Outcome],
    version: datetime | None = None,
) -> tuple[str, list[tuple[str, str]]]:
    """A run ``name`` of the dataset with one run item per outcome: the run's id and each
    outcome's (trace id, root span id)."""
    traced = post_traces(client, outcomes)
    trace_ids = [t for t, _ in traced]
    post_scores(client, trace_ids, outcomes)
    run_id = rows.add_run(store, project_id, dataset_id, name)
    rows.add_run_items(
        store, project_id, run_id,
        [(o.item, t, o.own_output, version) for o, t in zip(outcomes, trace_ids, strict=True)],
    )  # fmt: skip
    return run_id, traced
