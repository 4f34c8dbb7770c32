"""heron's one background runner: tasks re-judged when their sessions or traces change, when
a re-check is due, and in backfill jobs. See docs/runner.md.

Wiring a task in (the implicit-feedback detectors, say) takes a class with ``name``,
``version``, ``scope``, ``fields`` and ``run(target, now) -> Outcome`` (:class:`Task`), and
its ``module:attribute`` in the ``HERON_RUNNER_TASKS`` setting.
"""

from heron.runner.engine import Runner, configured, utcnow
from heron.runner.task import Outcome, Periodic, Target, Task, load_tasks, score_id

__all__ = [
    "Outcome",
    "Periodic",
    "Runner",
    "Target",
    "Task",
    "configured",
    "load_tasks",
    "score_id",
    "utcnow",
]
