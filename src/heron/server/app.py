"""The FastAPI application: ingest, read API, admin, health, web UI."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from heron import __version__
from heron.bootstrap import bootstrap, bootstrap_users
from heron.errors import HeronError, NotOnCluster, Overloaded, RateLimited
from heron.ingest.costing import Pricing
from heron.ingest.decoding import Decoder
from heron.ingest.journal import Journal
from heron.ingest.pipeline import WritePipeline
from heron.runner import Runner, configured, load_tasks
from heron.server import (
    admin,
    admin_prices,
    annotation_agreement,  # issue 16: inter-annotator agreement
    api,
    apidocs,
    channels,
    compare,
    dashboards,
    evaluators,
    experiments_compare,  # issue 17: experiment runs compared
    health,
    implicit_api,
    ingestion,
    langfuse_reads,
    metrics,
    models,
    otlp,
    prometheus,
    quarantine,
    runner,
    score_configs,
    score_reads,
    scores,
    settings_api,
    trace_deletion,
    web,
)
from heron.server import alerts as alerts_api
from heron.server import alignment as alignment_api  # issue 16: evaluators from labels
from heron.server import annotation_queues as queue_routes  # issue 16: annotation queues
from heron.server import comments as comments_api  # issue 16: comments
from heron.server import datasets as datasets_api  # issue 17: datasets
from heron.server import error_analysis as error_analysis_api  # issue 16: error analysis
from heron.server import experiments as experiments_api  # issue 17: experiments
from heron.server import signals as signal_routes  # issue 15: rules, issues, signals
from heron.server.auth import Authenticator
from heron.server.bodies import BodyTimeout
from heron.server.consistency import LagHeaders
from heron.server.feedback import FeedbackCors, FeedbackPolicy
from heron.server.llmseries import LabelCap
from heron.server.login_guard import LoginGuard
from heron.server.ratelimit import RateLimiter
from heron.server.repricing import Repricer
from heron.server.responses import JSON
from heron.server.retention import RetentionTask
from heron.server.security_headers import SecurityHeaders
from heron.server.state import ServerState
from heron.server.unexpected import UnexpectedErrors
from heron.server.web.errors import error_page, wants_html
from heron.settings import Settings
from heron.store import Store
from heron.store.backend import open_store

log = logging.getLogger("heron.server")

SERVER_FILE = "server.json"
# On the cluster backend, how stale a replica's copies of what other replicas may change
# are allowed to be: API keys (a key revoked elsewhere is refused here within this time),
# project prices, browser-feedback settings.
SHARED_MAX_AGE_S = 5.0


def write_server_file(settings: Settings) -> str:
    """Tell local CLI commands where this server is; returns the fresh admin token.

    The file is readable by its owner only: whoever can read the data directory may
    administer the server (they could open the store file anyway).
    """
    token = secrets.token_urlsafe(32)
    path = settings.data_dir / SERVER_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "url": f"http://{settings.host}:{settings.port}",
        "pid": os.getpid(),
        "admin_token": token,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(info))
    return token


def remove_server_file(settings: Settings) -> None:
    (settings.data_dir / SERVER_FILE).unlink(missing_ok=True)


def _runner(store: Store, settings: Settings) -> Runner:
    """The background runner (on the cluster backend, one of several sharing leases)."""
    tasks = load_tasks(settings.runner_tasks or "")
    return configured(Runner(store, tasks, lease_s=settings.runner_lease_s), settings)


def create_app(
    settings: Settings,
    store: Store | None = None,
    on_keys_created: Callable[[list[dict[str, str]]], None] | None = None,
    on_users_created: Callable[[list[dict[str, Any]]], None] | None = None,
) -> FastAPI:
    """Build the app. Without ``store`` it opens (and at shutdown closes) the one the settings
    name (:func:`heron.store.backend.open_store`)."""
    prometheus.check_token(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = store is None
        st_store = store if store is not None else open_store(settings)
        created = bootstrap(st_store, settings)
        if created and on_keys_created:
            on_keys_created(created)
        users = bootstrap_users(st_store, settings)
        if users and on_users_created:
            on_users_created(users)
        shared_max_age = SHARED_MAX_AGE_S if settings.cluster else None
        pricing = Pricing(st_store, max_age_s=shared_max_age)
        pipeline = WritePipeline(
            st_store,
            Journal(settings.data_dir / "journal"),
            max_queued_spans=settings.queue_spans,
            window_s=settings.commit_window_ms / 1000,
            checkpoint_s=settings.checkpoint_seconds,
            max_lag_s=settings.ready_max_lag_seconds,
            price=pricing.price,
        )
        replayed = pipeline.recover()
        if replayed:
            log.warning("replayed %d journal records into the store", replayed)
        decoder = Decoder(settings.ingest_workers)
        decoder.start()
        auth = Authenticator(st_store, RateLimiter(settings), max_age_s=shared_max_age)
        auth.refresh()
        feedback_policy = FeedbackPolicy(st_store, max_age_s=shared_max_age)
        feedback_policy.refresh()
        app.state.heron = ServerState(
            settings=settings,
            store=st_store,
            pipeline=pipeline,
            auth=auth,
            pricing=pricing,
            decoder=decoder,
            admin_token=write_server_file(settings),
            feedback=feedback_policy,
            created_keys=created,
            label_cap=LabelCap(settings.prometheus_max_label_values),
            prometheus=prometheus.health_registry(lambda: app.state.heron),
            login_guard=LoginGuard(settings.login_hash_concurrency),
            retention=RetentionTask(st_store, settings.retention_interval_s),
            repricer=Repricer(st_store),
            runner=_runner(st_store, settings),
        )
        pipeline.start()
        app.state.heron.retention.start()
        app.state.heron.runner.start()
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.heron.runner.stop)
            await app.state.heron.retention.stop()
            await asyncio.to_thread(app.state.heron.repricer.stop)
            pipeline.stop()
            decoder.stop()
            remove_server_file(settings)
            if own:
                st_store.close()

    app = FastAPI(
        title="heron",
        version=__version__,
        summary="Local-first observability for LLM applications.",
        default_response_class=JSON,
        lifespan=lifespan,
        docs_url=None,  # served by apidocs, from local files
        redoc_url=None,
    )

    @app.exception_handler(HeronError)
    async def heron_error(request: Request, exc: HeronError) -> Response:
        if isinstance(exc, NotOnCluster) and wants_html(request):  # a page, on the cluster
            return error_page(request, exc.status_code, exc.message)
        retry = isinstance(exc, Overloaded | RateLimited)
        headers = {"Retry-After": str(exc.retry_after)} if retry else None
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        problems = getattr(exc, "problems", None)
        if problems:  # a configuration document: every problem with its path
            error["problems"] = [{"path": p, "message": m} for p, m in problems]
        return JSON({"error": error}, exc.status_code, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            problems.append(f"{where}: {err.get('msg')}")
        if wants_html(request):
            return error_page(request, 400, "Bad request: " + "; ".join(problems))
        return JSON({"error": {"code": "bad_request", "message": "; ".join(problems)}}, 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_html(request):
            return error_page(request, exc.status_code)
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = f"not found: no route for {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return JSON(
            {"error": {"code": f"http_{exc.status_code}", "message": message}},
            exc.status_code,
            getattr(exc, "headers", None),
        )

    app.include_router(apidocs.router)
    app.include_router(health.router)
    app.include_router(quarantine.router)
    app.include_router(otlp.router)
    app.include_router(api.router)
    app.include_router(trace_deletion.router)
    app.include_router(models.router)
    app.include_router(scores.router)
    app.include_router(score_reads.router)
    app.include_router(score_configs.router)
    app.include_router(metrics.router)
    app.include_router(dashboards.router)
    app.include_router(prometheus.router)
    app.include_router(compare.router)
    app.include_router(admin.router)
    app.include_router(admin_prices.router)
    app.include_router(runner.router)
    app.include_router(evaluators.router)
    app.include_router(implicit_api.router)
    app.include_router(settings_api.router)
    app.include_router(channels.router)  # notification channels (heron.signals)
    app.include_router(signal_routes.router)  # trace rules, issues, signals (heron.signals)
    app.include_router(alerts_api.router)  # issue 15: alerts on aggregates
    app.include_router(comments_api.router)  # issue 16: comments
    app.include_router(alignment_api.router)  # issue 16: drafts from labels, alignment
    app.include_router(error_analysis_api.router)  # issue 16: error analysis

    app.include_router(queue_routes.router)  # issue 16: annotation queues
    app.include_router(annotation_agreement.router)  # issue 16: inter-annotator agreement
    app.include_router(datasets_api.router)  # issue 17: datasets
    app.include_router(experiments_compare.router)  # issue 17: experiment runs compared
    app.include_router(ingestion.router)  # issue 17: Langfuse batch ingestion
    app.include_router(langfuse_reads.router)  # issue 17: Langfuse read API
    app.include_router(experiments_api.router)  # issue 17: experiments
    web.install(app)
    app.add_middleware(UnexpectedErrors)  # inside SecurityHeaders: a 500 gets them too
    app.add_middleware(FeedbackCors)  # outside UnexpectedErrors: a 500 names the origin too
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        BodyTimeout, idle_s=settings.body_idle_timeout_s, total_s=settings.body_timeout_s
    )
    app.add_middleware(LagHeaders)
    return app
