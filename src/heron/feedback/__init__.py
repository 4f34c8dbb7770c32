"""Implicit feedback: what users' behaviour in a session says about the answers they got.

Pure functions over a session's traces (no store, no server): :func:`detect_session` returns
:class:`Detection` values that the runner stores as scores. See docs/feedback.md.
"""

from heron.feedback.detect import VERSION, detect_session
from heron.feedback.extract import answer_text, user_message
from heron.feedback.model import (
    DETECTORS,
    Detection,
    FeedbackConfig,
    FeedbackConfigError,
    Turn,
)

__all__ = [
    "DETECTORS",
    "VERSION",
    "Detection",
    "FeedbackConfig",
    "FeedbackConfigError",
    "Turn",
    "answer_text",
    "detect_session",
    "user_message",
]
