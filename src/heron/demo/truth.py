"""The ground truth of the demo's user behaviour: which trace shows which implicit feedback,
and which earlier answer it reacts to, so detectors can be checked against what was planted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from heron.demo.model import SIGNALS, DemoConfig, DemoTrace
from heron.demo.workload import iter_traces


@dataclass(frozen=True, slots=True)
class PlantedLabel:
    """One user turn and what it does.

    ``kind`` is a signal (:data:`heron.demo.model.SIGNALS`: retry, rephrase, disagreement,
    frustration, abandonment; ``positive``) or a behaviour that is none of them
    (:data:`heron.demo.model.NEGATIVE_BEHAVIOURS`: question, follow_up,
    clarification_reply, thanks, resolved_end). ``trace_id`` is the trace whose input holds
    the user's message; ``reacted_to`` the earlier trace whose answer the message reacts to
    (None for a session's first message). Abandonment and resolved_end are about the
    session's last user turn: ``trace_id`` and ``reacted_to`` are both that trace, the answer
    after which the user left.
    """

    kind: str
    trace_id: str
    reacted_to: str | None
    session_id: str
    user_id: str

    @property
    def positive(self) -> bool:
        return self.kind in SIGNALS


def labels_of(traces: Iterable[DemoTrace]) -> list[PlantedLabel]:
    """The labels of already generated traces (see :func:`planted_labels`)."""
    out: list[PlantedLabel] = []
    for t in traces:
        if t.behaviour is None or t.behaviour == "escalate":
            continue  # a background job, or a calm request for a human (neither)
        tid = t.trace_id_hex
        out.append(PlantedLabel(t.behaviour, tid, t.reacts_to, t.session_id, t.user_id))
        if t.abandoned:
            out.append(PlantedLabel("abandonment", tid, tid, t.session_id, t.user_id))
        elif t.last_user_turn and t.outcome == "good":
            out.append(PlantedLabel("resolved_end", tid, tid, t.session_id, t.user_id))
    return out


def planted_labels(config: DemoConfig) -> list[PlantedLabel]:
    """Every user turn of the workload of ``config`` labelled with its behaviour, in trace
    order; deterministic like the workload (same config, same labels)."""
    return labels_of(iter_traces(config))
