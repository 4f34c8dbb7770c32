"""Synthetic but realistic LLM-app telemetry: the support assistant of "Acme Cloud".

``generate(DemoConfig(...))`` yields OTLP ExportTraceServiceRequests, ``send`` posts them to a
heron server (then the users' feedback as scores), ``iter_traces`` gives the scenario objects
with the facts tests check.
"""

from heron.demo.batching import generate, generate_timed
from heron.demo.model import (
    ABANDON_RATE,
    INCIDENT_DURATION_US,
    INCIDENT_ERROR_RATE,
    INCIDENT_FRACTION,
    LLM_ERROR_RATE,
    LLM_LATENCY_FACTOR,
    OTHER_LLM_ERROR_RATE,
    PROMPT_NAME,
    PROMPT_NEW_VERSION,
    PROMPT_OLD_VERSION,
    PROMPT_SWITCH_FRACTION,
    RELEASES,
    REPHRASE_RATE,
    ROUTE_CONVENTION,
    ROUTE_SERVICE,
    ROUTES,
    THUMBS_DOWN_RATE,
    DemoConfig,
    DemoSpan,
    DemoTrace,
    DemoUser,
    prompt_version_at,
)
from heron.demo.scores import FEEDBACK_SCORE, feedback_scores
from heron.demo.send import SendError, SendStats, send, send_requests
from heron.demo.workload import iter_traces

__all__ = [
    "ABANDON_RATE",
    "FEEDBACK_SCORE",
    "INCIDENT_DURATION_US",
    "INCIDENT_ERROR_RATE",
    "INCIDENT_FRACTION",
    "LLM_ERROR_RATE",
    "LLM_LATENCY_FACTOR",
    "OTHER_LLM_ERROR_RATE",
    "PROMPT_NAME",
    "PROMPT_NEW_VERSION",
    "PROMPT_OLD_VERSION",
    "PROMPT_SWITCH_FRACTION",
    "RELEASES",
    "REPHRASE_RATE",
    "ROUTES",
    "ROUTE_CONVENTION",
    "ROUTE_SERVICE",
    "THUMBS_DOWN_RATE",
    "DemoConfig",
    "DemoSpan",
    "DemoTrace",
    "DemoUser",
    "SendError",
    "SendStats",
    "feedback_scores",
    "generate",
    "generate_timed",
    "iter_traces",
    "prompt_version_at",
    "send",
    "send_requests",
]
