"""The values the detectors take and give: turns of a session, detections, per-project settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from heron.errors import BadRequest

DETECTORS = (
    "implicit_retry",
    "implicit_rephrase",
    "implicit_disagreement",
    "implicit_frustration",
    "implicit_abandonment",
)
# extra_markers keys: the marker-driven detectors, plus "refusal" (answers that do not answer)
MARKER_KINDS = ("implicit_disagreement", "implicit_frustration", "refusal")
MAX_EXTRA_MARKERS = 50


class FeedbackConfigError(BadRequest):
    """A feedback setting heron will not use: the message names it."""


@dataclass(frozen=True)
class Turn:
    """One trace of a session, in time order."""

    trace_id: str
    timestamp: datetime  # naive UTC
    input: Any
    output: Any
    level: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class Detection:
    """One implicit signal: ``trace_id`` is the trace whose answer the user reacted to."""

    name: str
    trace_id: str
    comment: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class FeedbackConfig:
    """One project's detector settings; the defaults turn every detector on."""

    enabled: frozenset[str] = frozenset(DETECTORS)
    idle_timeout_s: float = 1800.0
    # retry: normalised texts at least this similar (rapidfuzz ratio, 0-100) within the window
    retry_similarity: float = 88.0
    retry_window_s: float = 900.0
    # rephrase: cosine similarity of the two requests, lower when the answer between failed
    rephrase_similarity: float = 0.65
    rephrase_similarity_after_failure: float = 0.15
    rephrase_window_s: float = 900.0
    # an answer this unlike its request counts as not answering it (rephrase context)
    unrelated_answer_similarity: float = 0.18
    # an answer slower than this counts as failing the user (retry context, comments)
    slow_ms: float = 30000.0
    extra_markers: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    user_path: str | None = None
    answer_path: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.enabled) - set(DETECTORS)
        if unknown:
            raise FeedbackConfigError(
                f"unknown detector {sorted(unknown)[0]!r}; known: {', '.join(DETECTORS)}"
            )
        for name in ("idle_timeout_s", "retry_window_s", "rephrase_window_s", "slow_ms"):
            if not getattr(self, name) > 0:
                raise FeedbackConfigError(f"{name} must be a positive number of seconds")
        if not 0 <= self.retry_similarity <= 100:
            raise FeedbackConfigError("retry_similarity must be between 0 and 100")
        for name in (
            "rephrase_similarity",
            "rephrase_similarity_after_failure",
            "unrelated_answer_similarity",
        ):
            if not -1 <= getattr(self, name) <= 1:
                raise FeedbackConfigError(f"{name} must be between -1 and 1")
        for kind, patterns in self.extra_markers.items():
            if kind not in MARKER_KINDS:
                raise FeedbackConfigError(
                    f"extra_markers: unknown kind {kind!r}; known: {', '.join(MARKER_KINDS)}"
                )
            if isinstance(patterns, str) or len(patterns) > MAX_EXTRA_MARKERS:
                raise FeedbackConfigError(
                    f"extra_markers[{kind!r}] must be a list of at most "
                    f"{MAX_EXTRA_MARKERS} patterns"
                )
        # fail now, not in the runner: patterns compile and paths parse
        from heron.implicit.extract import parse_path
        from heron.implicit.markers import compiled_extra

        compiled_extra(self.extra_markers_key())
        for name in ("user_path", "answer_path"):
            value = getattr(self, name)
            if value is not None:
                parse_path(value)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> FeedbackConfig:
        """From JSON-shaped settings (lists where the config has sets and tuples); omitted
        keys keep their defaults; an unknown key or a wrong type raises."""
        if not isinstance(settings, Mapping):
            raise FeedbackConfigError("feedback settings must be an object")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in settings.items():
            if key not in known:
                raise FeedbackConfigError(
                    f"unknown feedback setting {key!r}; known: {', '.join(known)}"
                )
            values[key] = _setting(key, value)
        return cls(**values)

    def to_settings(self) -> dict[str, Any]:
        """The JSON-shaped settings :meth:`from_settings` reads back."""
        out = asdict(self)
        out["enabled"] = sorted(self.enabled)
        out["extra_markers"] = {k: list(v) for k, v in self.extra_markers.items()}
        return out

    def extra_markers_key(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple(sorted((k, tuple(v)) for k, v in self.extra_markers.items()))


def _setting(key: str, value: Any) -> Any:
    if key == "enabled":
        if not isinstance(value, list | tuple | set | frozenset) or not all(
            isinstance(v, str) for v in value
        ):
            raise FeedbackConfigError("enabled must be a list of detector names")
        return frozenset(value)
    if key == "extra_markers":
        if not isinstance(value, Mapping) or not all(
            isinstance(v, list | tuple) and all(isinstance(p, str) for p in v)
            for v in value.values()
        ):
            raise FeedbackConfigError("extra_markers must map a kind to a list of patterns")
        return {str(k): tuple(v) for k, v in value.items()}
    if key in ("user_path", "answer_path"):
        if value is not None and not isinstance(value, str):
            raise FeedbackConfigError(f"{key} must be a string or null")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeedbackConfigError(f"{key} must be a number")
    return float(value)
