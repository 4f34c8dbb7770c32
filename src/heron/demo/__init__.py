"""Synthetic but realistic LLM-app telemetry: the support assistant of "Acme Cloud".

``generate(DemoConfig(...))`` yields OTLP ExportTraceServiceRequests, ``send`` posts them to a
heron server (then the users' feedback as scores), ``iter_traces`` gives the scenario objects
with the facts tests check, ``planted_labels`` the ground truth of the users' implicit
feedback (retries, rephrases, disagreement, frustration, abandonment and the turns that are
none of them).
"""

from heron.demo.batching import generate, generate_timed
from heron.demo.model import (
    ABANDON_RATE,
    INCIDENT_DURATION_US,
    INCIDENT_ERROR_RATE,
    INCIDENT_FRACTION,
    LLM_ERROR_RATE,
    LLM_LATENCY_FACTOR,
    NEGATIVE_BEHAVIOURS,
    OTHER_LLM_ERROR_RATE,
    PROMPT_NAME,
    PROMPT_NEW_VERSION,
    PROMPT_OLD_VERSION,
    PROMPT_SWITCH_FRACTION,
    RELEASES,
    ROUTE_CONVENTION,
    ROUTE_SERVICE,
    ROUTES,
    SIGNALS,
    THUMBS_DOWN_RATE,
    DemoConfig,
    DemoSpan,
    DemoTrace,
    DemoUser,
    prompt_version_at,
)
from heron.demo.scores import (
    ACCEPT_SCORE,
    COPY_SCORE,
    FEEDBACK_SCORE,
    RATING_SCORE,
    SCORE_NAMES,
    demo_scores,
)
from heron.demo.send import SendError, SendStats, send, send_requests
from heron.demo.truth import PlantedLabel, labels_of, planted_labels
from heron.demo.workload import iter_traces

__all__ = [
    "ABANDON_RATE",
    "ACCEPT_SCORE",
    "COPY_SCORE",
    "FEEDBACK_SCORE",
    "INCIDENT_DURATION_US",
    "INCIDENT_ERROR_RATE",
    "INCIDENT_FRACTION",
    "LLM_ERROR_RATE",
    "LLM_LATENCY_FACTOR",
    "NEGATIVE_BEHAVIOURS",
    "OTHER_LLM_ERROR_RATE",
    "PROMPT_NAME",
    "PROMPT_NEW_VERSION",
    "PROMPT_OLD_VERSION",
    "PROMPT_SWITCH_FRACTION",
    "RATING_SCORE",
    "RELEASES",
    "ROUTES",
    "ROUTE_CONVENTION",
    "ROUTE_SERVICE",
    "SCORE_NAMES",
    "SIGNALS",
    "THUMBS_DOWN_RATE",
    "DemoConfig",
    "DemoSpan",
    "DemoTrace",
    "DemoUser",
    "PlantedLabel",
    "SendError",
    "SendStats",
    "demo_scores",
    "generate",
    "generate_timed",
    "iter_traces",
    "labels_of",
    "planted_labels",
    "prompt_version_at",
    "send",
    "send_requests",
]
