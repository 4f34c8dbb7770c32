"""``GET /metrics``: heron's health and the caller's LLM series, in the Prometheus format.

Who scrapes decides what is shown. The server-wide health series (ingest, queue, journal,
store, logins, process), which reveal the volume of every project, need the admin token or
``HERON_PROMETHEUS_TOKEN``; an API key sees only its own project's series: its LLM and score
series, computed from the store at scrape time (:mod:`heron.store.llmstats`,
:mod:`heron.store.scorestats`) with label values capped per project
(:mod:`heron.server.llmseries`), and its accepted spans.

The health series live in one :class:`~prometheus_client.CollectorRegistry` per app, never
the library's global one, so many apps can run in one process (the tests do). See
docs/prometheus.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from heron import __version__
from heron.ingest.stats import LatencyHistogram
from heron.server import schemas
from heron.server.admin import bearer_is
from heron.server.api import caller
from heron.server.consistency import read_view
from heron.server.llmseries import (
    MAX_LABEL_CHARS,
    SCORE_NAME,
    Totals,
    llm_families,
    score_families,
)
from heron.server.state import ServerState, state_of
from heron.settings import Settings
from heron.store.scorestats import ScoreTotals

# A trace without a root span counts once nothing was written to it for this long.
SETTLE = timedelta(seconds=60)

# Listed up front so every series exists (at 0) from the first scrape: alerts on rate()
# need the series before the first failure.
STATUS_CLASSES = ("2xx", "4xx", "5xx")
REQUEST_REASONS = (
    "bad_request",
    "internal_error",
    "overloaded",
    "payload_too_large",
    "storage_unavailable",
    "unauthorized",
    "unsupported_media_type",
)
SPAN_REASONS = ("invalid", "overloaded", "journal_error")
MIN_TOKEN_CHARS = 24


class HealthCollector(Collector):
    """heron's own series, read from the running server's counters at scrape time."""

    def __init__(self, state: Callable[[], ServerState]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        st = self._state()
        ingest, pipe = st.ingest_stats, st.pipeline.stats
        info = InfoMetricFamily("heron_build", "heron version")
        info.add_metric([], {"version": __version__})
        yield info

        requests = CounterMetricFamily(
            "heron_ingest_requests",
            "OTLP export requests answered, by HTTP status class",
            labels=["status_class"],
        )
        for cls in STATUS_CLASSES:
            requests.add_metric([cls], ingest.requests[cls])
        yield requests
        rejected = CounterMetricFamily(
            "heron_ingest_rejected_requests",
            "OTLP export requests refused, by reason (the error code in the response)",
            labels=["reason"],
        )
        for reason in REQUEST_REASONS:  # lookups only: the event loop may be adding keys
            rejected.add_metric([reason], ingest.rejected_requests[reason])
        yield rejected

        yield _counter(
            "heron_ingest_spans_received", "Spans in decoded requests", ingest.spans_received
        )
        yield _counter(
            "heron_ingest_spans_accepted",
            "Spans durable in the journal (acknowledged to the client)",
            ingest.spans_accepted,
        )
        spans_rejected = CounterMetricFamily(
            "heron_ingest_spans_rejected",
            "Spans not accepted: invalid (reported in partial_success), overloaded (queue "
            "full, 503), journal_error (journal write failed)",
            labels=["reason"],
        )
        for reason in SPAN_REASONS:
            spans_rejected.add_metric([reason], ingest.rejected_spans[reason])
        yield spans_rejected

        yield _gauge(
            "heron_ingest_queue_spans",
            "Accepted spans not yet applied to the store",
            st.pipeline.queued_spans,
        )
        yield _gauge(
            "heron_ingest_queue_limit_spans",
            "Queued spans beyond which ingest answers 503",
            st.pipeline.max_queued_spans,
        )
        yield _gauge(
            "heron_journal_backlog_records",
            "Journal records acknowledged but not yet applied to the store",
            st.pipeline.backlog,
        )
        yield _histogram(
            "heron_journal_write_seconds",
            "Journal append + fdatasync per group commit",
            pipe.journal_seconds,
        )
        yield _histogram(
            "heron_store_apply_seconds", "Store transaction per applied group", pipe.apply_seconds
        )
        yield _counter("heron_store_commits", "Store transactions committed", pipe.commits)
        yield _counter(
            "heron_store_failed_commits",
            "Store transactions that failed (the journal keeps their data)",
            pipe.failed_commits,
        )
        yield _counter(
            "heron_store_applied_spans", "Spans written to the store", pipe.applied_spans
        )
        yield _gauge("heron_store_size_bytes", "Store size on disk", st.store.size_bytes())
        yield _gauge(
            "heron_quarantined_spans",
            "Spans the store refused, kept in journal/quarantine/ (heron journal replay)",
            st.pipeline.quarantine.spans(),
        )
        yield _project_spans(st, [(p["id"], p["name"]) for p in st.store.list_projects()])

        guard = st.login_guard
        logins = CounterMetricFamily(
            "heron_web_logins",
            "Web UI password logins by outcome: ok, failed (wrong email or password), limited "
            "(429, too many failures), busy (503, every hash slot taken)",
            labels=["result"],
        )
        for result, n in guard.outcomes.items():
            logins.add_metric([result], n)
        yield logins
        yield _gauge(
            "heron_web_login_hashes_running", "Password hashes running now", guard.hashes.active
        )
        yield _gauge(
            "heron_web_login_hashes_max_running",
            "Most password hashes that ran at once since the start",
            guard.hashes.peak,
        )


def _project_spans(st: ServerState, projects: list[tuple[str, str]]) -> CounterMetricFamily:
    counts = st.ingest_stats.project_spans_accepted  # lookups only: the loop may add keys
    family = CounterMetricFamily(
        "heron_project_spans_accepted",
        "Spans of the project durable in the journal (acknowledged), since the start",
        labels=["project"],
    )
    for project_id, name in projects:
        family.add_metric([name or project_id], counts[project_id])
    return family


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _histogram(name: str, doc: str, h: LatencyHistogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, buckets=h.cumulative(), sum_value=h.total)


def health_registry(state: Callable[[], ServerState]) -> CollectorRegistry:
    """The app's own registry: heron's health plus the process and Python collectors."""
    registry = CollectorRegistry()
    registry.register(HealthCollector(state))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def check_token(settings: Settings) -> None:
    """A configured ``HERON_PROMETHEUS_TOKEN`` must be long enough to resist guessing."""
    token = settings.prometheus_token
    if token is not None and len(token.strip()) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"HERON_PROMETHEUS_TOKEN must have at least {MIN_TOKEN_CHARS} characters "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def is_operator(request: Request, st: ServerState) -> bool:
    """Whether the request carries the admin token or the Prometheus token."""
    return bearer_is(request, st.admin_token, st.settings.prometheus_token)


router = APIRouter(tags=["monitoring"], responses={401: {"model": schemas.Error}})


@router.get(
    "/metrics",
    summary="Prometheus metrics (server health with the admin token; else the key's project)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Exposition text"}},
)
async def prometheus_metrics(request: Request) -> Response:
    """The Prometheus text exposition. With the admin token or ``HERON_PROMETHEUS_TOKEN``:
    the ``heron_*`` health series and the process series. With an API key: the LLM series
    and accepted spans of the key's project (label ``project``), and nothing server-wide."""
    st = state_of(request)
    operator = is_operator(request, st)
    project_id = None if operator else caller(request).project_id
    # No wait unless asked: a scrape must answer within its timeout while the store is
    # behind (the LLM totals are then a moment old, never wrong; the lag is in the headers).
    await read_view(request)
    if project_id is None:
        body = await run_in_threadpool(generate_latest, st.prometheus)
    else:
        body = await run_in_threadpool(_exposition, st, project_id)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _exposition(st: ServerState, project_id: str) -> bytes:
    calls, traces = st.llm_totals.get(project_id, lambda: _totals(st, project_id))
    project = next((p["name"] for p in st.store.list_projects() if p["id"] == project_id), "")
    scores = st.score_totals.get(project_id, lambda: _score_totals(st, project_id))
    label = project or project_id
    families = list(llm_families(label, project_id, calls, traces, st.label_cap))
    families.extend(score_families(label, project_id, scores, st.label_cap))
    families.append(_project_spans(st, [(project_id, project)]))
    return generate_latest(_Fixed(families))


def _totals(st: ServerState, project_id: str) -> Totals:
    settled_before = (datetime.now(UTC) - SETTLE).replace(tzinfo=None)
    calls = st.store.model_call_totals(project_id, settled_before)
    return calls, st.store.trace_totals(project_id, settled_before)


def _score_totals(st: ServerState, project_id: str) -> list[ScoreTotals]:
    # The names already shown, and enough of the most frequent to fill the cap: the store
    # sums every other name into one row, however many the project has.
    cap = st.label_cap
    keep = cap.admitted(project_id, SCORE_NAME)
    return st.store.score_totals(project_id, keep, cap.max_values, MAX_LABEL_CHARS)


class _Fixed(Collector):
    """Already computed families, in the shape ``generate_latest`` reads."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)
