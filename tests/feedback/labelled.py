"""Loading the labelled conversations and scoring the detectors on them (tests and bench)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from heron.feedback import DETECTORS, FeedbackConfig, Turn, detect_session

DATA = Path(__file__).parent / "data"
START = datetime(2026, 3, 2, 9, 0, 0)
IDLE_AFTER = timedelta(hours=2)  # "ended": judged this long after the last trace
OPEN_AFTER = timedelta(seconds=120)  # still open: judged soon after it


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open() as f:
        return [json.loads(line) for line in f if line.strip()]


def _shape(k: int, history: list[dict[str, Any]], user: str, answer: str | None) -> tuple:
    """The turn's input and output in one of the shapes heron stores, by conversation."""
    style = k % 4
    if style == 0:
        return user, answer
    if style == 1:  # OpenAI chat with the history, response object
        messages = [*history, {"role": "user", "content": user}]
        out = (
            None
            if answer is None
            else {"choices": [{"message": {"role": "assistant", "content": answer}}]}
        )
        return messages, out
    if style == 2:  # GenAI messages with parts
        msg = [{"role": "user", "parts": [{"type": "text", "content": user}]}]
        out = (
            None
            if answer is None
            else [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
        )
        return msg, out
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": [{"type": "text", "text": user}]},
    ]
    return {"messages": messages}, None if answer is None else {
        "role": "assistant",
        "content": answer,
    }


def turns_of(k: int, conv: dict[str, Any]) -> tuple[list[Turn], datetime]:
    turns, history = [], []
    for i, row in enumerate(conv["turns"]):
        inp, out = _shape(k, history, row["user"], row["answer"])
        history += [
            {"role": "user", "content": row["user"]},
            {"role": "assistant", "content": row["answer"] or ""},
        ]
        turns.append(
            Turn(
                trace_id=f"{conv['id']}-{i}",
                timestamp=START + timedelta(seconds=row["t"]),
                input=inp,
                output=out,
                level=row["level"],
                latency_ms=row.get("latency_ms"),
            )
        )
    now = turns[-1].timestamp + (IDLE_AFTER if conv["ended"] else OPEN_AFTER)
    return turns, now


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def evaluate(
    convs: Iterable[dict[str, Any]], config: FeedbackConfig | None = None
) -> dict[str, Score]:
    """Per detector: detections matched to the labels by (conversation, turn, name)."""
    config = config or FeedbackConfig()
    scores = {name: Score() for name in DETECTORS}
    for k, conv in enumerate(convs):
        turns, now = turns_of(k, conv)
        index = {t.trace_id: i for i, t in enumerate(turns)}
        got = {(index[d.trace_id], d.name): d for d in detect_session(turns, config, now)}
        want = {(lab["turn"], lab["name"]) for lab in conv["labels"]}
        for key in got.keys() | want:
            s = scores[key[1]]
            if key in got and key in want:
                s.tp += 1
            elif key in got:
                s.fp += 1
                s.errors.append(
                    f"FP {conv['id']} {conv.get('pattern', '')} turn {key[0]}: {got[key].comment}"
                )
            else:
                s.fn += 1
                where = f"{conv['id']} {conv.get('pattern', '')} turn {key[0]}"
                s.errors.append(f"FN {where}: {_turn_text(conv, key[0])}")
    return scores


def _turn_text(conv: dict[str, Any], i: int) -> str:
    turns = conv["turns"]
    nxt = turns[i + 1]["user"] if i + 1 < len(turns) else "(end)"
    return f"{turns[i]['user']!r} -> {turns[i]['answer']!r} -> {nxt!r}"
