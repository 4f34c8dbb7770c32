"""heron: local-first observability for LLM applications.

The SDK's public surface (see ``docs/sdk.md``). Importing :mod:`heron` is cheap: it loads the
OpenTelemetry API and the SDK modules, never the server, store or their dependencies.
"""

from __future__ import annotations

from typing import Any

from heron.sdk.client import (
    HeronClient,
    flush,
    get_client,
    init,
    shutdown,
    start_generation,
    start_observation,
    start_span,
    update_current_trace,
)
from heron.sdk.config import Config, ConfigError
from heron.sdk.context import get_current_observation_id, get_current_trace_id
from heron.sdk.observe import observe
from heron.sdk.spans import Observation

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "HeronClient",
    "Observation",
    "__version__",
    "check",
    "feedback",
    "flush",
    "get_client",
    "get_current_observation_id",
    "get_current_trace_id",
    "init",
    "instrument_openai",
    "observe",
    "run_experiment",
    "score",
    "shutdown",
    "start_generation",
    "start_observation",
    "start_span",
    "uninstrument_openai",
    "update_current_trace",
]


def score(
    *,
    name: str,
    value: float | int | bool | str,
    trace_id: str | None = None,
    observation_id: str | None = None,
    session_id: str | None = None,
    comment: str | None = None,
    data_type: str | None = None,
    id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> str | None:
    """Send a score (in the background) to ``POST {host}/api/scores``.

    ``data_type`` (NUMERIC, BOOLEAN, CATEGORICAL, TEXT) is inferred from ``value`` when
    absent; re-sending an ``id`` updates that score. Returns the score id, or ``None`` when
    heron is not initialised or the score is invalid (logged and counted in
    ``get_client().failed_scores``). Never raises."""
    from heron.sdk.client import active_client

    client = active_client()
    if client is None:
        return None
    return client.score(
        name=name,
        value=value,
        trace_id=trace_id,
        observation_id=observation_id,
        session_id=session_id,
        comment=comment,
        data_type=data_type,
        id=id,
        metadata=metadata,
    )


def feedback(
    trace_id: str,
    *,
    value: bool | float | int | str = True,
    name: str = "user_feedback",
    comment: str | None = None,
    observation_id: str | None = None,
    id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> str | None:
    """Record a user's explicit feedback on a trace: a score named ``name`` (``user_feedback``
    by default; a bool is BOOLEAN thumbs up/down, a number NUMERIC such as ``user_rating``
    1-5, a string CATEGORICAL), with the user's ``comment``. The same path as
    :func:`score` (background, never raises); returns the score id or ``None``. For feedback
    given in the browser, see ``static/feedback.js`` (docs/feedback.md)."""
    return score(
        name=name,
        value=value,
        trace_id=trace_id,
        observation_id=observation_id,
        comment=comment,
        id=id,
        metadata=metadata,
    )


def instrument_openai() -> bool:
    """Record every call of the official ``openai`` client (sync and async) as a
    generation / embedding observation. Idempotent; ``False`` if openai is not installed."""
    from heron.sdk.openai import instrument

    return instrument()


def uninstrument_openai() -> None:
    """Undo :func:`instrument_openai`."""
    from heron.sdk.openai import uninstrument

    uninstrument()


def run_experiment(
    dataset: str,
    task: Any,
    *,
    evaluators: Any = (),
    run_name: str | None = None,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    max_concurrency: int = 8,
    progress: bool = True,
) -> Any:
    """Run ``task`` (sync or async) on every active item of ``dataset``, score the outputs
    with ``evaluators`` and record a dataset run; returns an ``ExperimentResult``. See
    :func:`heron.sdk.experiments.run_experiment` and ``docs/experiments.md``."""
    from heron.sdk.experiments import run_experiment as run

    return run(
        dataset,
        task,
        evaluators=evaluators,
        run_name=run_name,
        description=description,
        metadata=metadata,
        max_concurrency=max_concurrency,
        progress=progress,
    )


def check(name: str, **args: Any) -> Any:
    """One of heron's built-in code checks as an experiment evaluator:
    ``heron.check("equals")``, ``heron.check("similarity", threshold=0.8)``."""
    from heron.sdk.experiments import check as make

    return make(name, **args)
