"""The implicit-feedback detectors as a runner task (``feedback``), on by default.

For each changed session the runner hands over its traces in time order; the task turns them
into :class:`Turn` values, runs :func:`detect_session` with the project's settings (stored per
project, defaults when none) and returns each detection as a BOOLEAN score (value 1, source
EVAL) on the trace the user reacted to. Score ids are deterministic per (task, version,
project, session, detector, trace), so a re-run or a backfill upserts. While a session is
inside its idle timeout, the task asks the runner to judge it again when the timeout passes
(abandonment). See docs/feedback.md, "How detection runs".
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from heron.feedback.detect import VERSION, detect_session
from heron.feedback.model import FeedbackConfig, Turn
from heron.runner.task import Outcome, Target

if TYPE_CHECKING:
    from heron.store import Store

NAME = "feedback"
SETTINGS_TTL_S = 2.0  # a settings change reaches the running detectors within this long


def config_of(settings: dict[str, Any] | None) -> FeedbackConfig:
    """A project's config from its stored settings (None: the defaults)."""
    return FeedbackConfig() if settings is None else FeedbackConfig.from_settings(settings)


def _io(text: Any) -> Any:
    """Inputs and outputs are stored as text; JSON text is the JSON it holds (as the API
    returns it)."""
    if not isinstance(text, str) or not text or text[0] not in "[{":
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def turns_of(traces: list[dict[str, Any]]) -> list[Turn]:
    """A session's traces (runner rows) as the detectors' turns."""
    return [
        Turn(
            trace_id=t["id"],
            timestamp=t["start_time"],
            input=_io(t["input"]),
            output=_io(t["output"]),
            level=t["level"],
            latency_ms=t["latency_ms"],
        )
        for t in traces
        if t["start_time"] is not None
    ]


class FeedbackTask:
    """The runner task ``feedback``: implicit-feedback detections of a session as scores."""

    name = NAME
    version = VERSION  # the detectors' version: a change in judgement re-keys the work
    scope = "session"
    fields = ("input", "output", "level", "latency_ms")

    def __init__(self, store: Store | None = None) -> None:
        self._store = store
        self._configs: dict[str, tuple[float, FeedbackConfig]] = {}
        self._lock = threading.Lock()

    def bind(self, store: Store) -> None:
        """The store the project settings are read from (the runner calls this)."""
        self._store = store
        with self._lock:
            self._configs.clear()

    def config(self, project_id: str) -> FeedbackConfig:
        """The project's settings, read again at most every :data:`SETTINGS_TTL_S`."""
        now = time.monotonic()
        with self._lock:
            cached = self._configs.get(project_id)
        if cached is not None and now - cached[0] < SETTINGS_TTL_S:
            return cached[1]
        stored = self._store.feedback_settings(project_id) if self._store is not None else None
        config = config_of(stored)
        with self._lock:
            self._configs[project_id] = (now, config)
        return config

    def run(self, target: Target, now: datetime) -> Outcome:
        config = self.config(target.project_id)
        turns = turns_of(target.traces)
        if not turns or not config.enabled:
            return Outcome()
        times = {t.trace_id: t.timestamp for t in turns}
        scores = []
        for d in detect_session(turns, config, now):
            reacting = d.metadata.get("reacting_trace_id")
            scores.append(
                target.score(
                    d.name,
                    1,
                    data_type="BOOLEAN",
                    trace_id=d.trace_id,
                    comment=d.comment,
                    metadata=d.metadata,
                    # when the user reacted (abandonment: the abandoned trace), not "now":
                    # a re-run writes the same row
                    timestamp=times.get(reacting) or times[d.trace_id],
                )
            )
        recheck = None
        if "implicit_abandonment" in config.enabled:
            due = turns[-1].timestamp + timedelta(seconds=config.idle_timeout_s)
            if due > now:
                recheck = due + timedelta(seconds=1)
        return Outcome(scores, recheck_at=recheck)
