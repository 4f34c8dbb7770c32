"""Two small, real runner tasks for the tests (loaded by ``HERON_RUNNER_TASKS`` in servers
the tests start): a session's turn count, and abandonment judged by idle time."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from heron.runner import Outcome, Target


@dataclass
class SessionTurns:
    """``session_turns``: how many traces the session has; ``multi_turn`` when more than one.
    ``HERON_TEST_TASK_DELAY_S`` slows each run (to stop a server in the middle of a job)."""

    name: str = "turns"
    version: str = "1"
    scope: str = "session"
    fields: tuple[str, ...] = ("name",)
    delay_s: float = field(
        default_factory=lambda: float(os.environ.get("HERON_TEST_TASK_DELAY_S", "0"))
    )

    def run(self, target: Target, now: datetime) -> Outcome:
        if self.delay_s:
            time.sleep(self.delay_s)
        scores = [target.score("session_turns", len(target.traces))]
        if len(target.traces) > 1:  # a score that appears, then disappears when it no longer holds
            scores.append(target.score("multi_turn", True, data_type="BOOLEAN"))
        return Outcome(scores)


@dataclass
class Abandoned:
    """``abandoned`` (1) once the session's last trace is older than the idle timeout;
    until then 0 and a re-check when the timeout will have passed."""

    idle_s: float = 2.0
    name: str = "abandon"
    version: str = "1"
    scope: str = "session"
    fields: tuple[str, ...] = ("end_time",)

    def run(self, target: Target, now: datetime) -> Outcome:
        last = max(t["end_time"] or t["start_time"] for t in target.traces)
        quiet_until = last + timedelta(seconds=self.idle_s)
        if now >= quiet_until:
            return Outcome([target.score("abandoned", 1)])
        return Outcome([target.score("abandoned", 0)], recheck_at=quiet_until)


@dataclass
class TraceWords:
    """A trace-scoped task: ``name_length`` of each trace."""

    name: str = "words"
    version: str = "1"
    scope: str = "trace"
    fields: tuple[str, ...] = ("name",)

    def run(self, target: Target, now: datetime) -> Outcome:
        return Outcome([target.score("name_length", len(target.traces[0]["name"] or ""))])


def all_tasks() -> list:
    return [SessionTurns(), Abandoned(), TraceWords()]
