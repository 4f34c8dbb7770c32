"""The heron client (tracer, export, scores) and the process-wide client behind the module
functions (:func:`init`, :func:`get_client`, :func:`flush`, :func:`shutdown`, ...).

Not initialised: if ``HERON_SECRET_KEY`` is set, the first use initialises from the
environment; otherwise every function is a no-op that returns quickly and never raises.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from opentelemetry import trace as otel_trace

from heron.sdk import attributes as A
from heron.sdk import context as tctx
from heron.sdk.config import ENV_SECRET_KEY, Config, Mask
from heron.sdk.spans import NOOP, Observation, begin

log = logging.getLogger("heron")

__all__ = [
    "HeronClient",
    "active_client",
    "flush",
    "get_client",
    "init",
    "shutdown",
    "start_generation",
    "start_observation",
    "start_span",
    "update_current_trace",
]


class HeronClient:
    """Sends spans (and scores) to one heron server. Create with :func:`heron.init`."""

    def __init__(
        self,
        config: Config,
        *,
        tracer_provider: Any = None,
        span_exporter: Any = None,
    ) -> None:
        self.config = config
        self.enabled = config.enabled
        self._closed = False
        self._scores: Any = None
        self._scores_lock = threading.Lock()
        self.processor: Any = None
        self.tracer_provider: Any = None
        if not self.enabled:
            self.tracer: Any = otel_trace.NoOpTracer()
            return
        if not config.secret_key and span_exporter is None:
            log.warning("heron: no secret key (HERON_SECRET_KEY); the server will refuse spans")
        from heron import __version__
        from heron.sdk.export import HeronSpanProcessor, make_exporter

        exporter = span_exporter or make_exporter(
            config.traces_endpoint, config.headers, config.timeout
        )
        self.processor = HeronSpanProcessor(
            exporter, config.max_queue_size, config.max_batch_size, config.flush_interval
        )
        if tracer_provider is None:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

            resource: dict[str, Any] = {"telemetry.sdk.heron.version": __version__}
            if config.release:
                resource[A.RELEASE] = config.release
            if config.environment:
                resource[A.ENVIRONMENT] = config.environment
            tracer_provider = TracerProvider(
                sampler=ParentBased(TraceIdRatioBased(config.sample_rate)),
                resource=Resource.create(resource),
                shutdown_on_exit=False,
            )
            self._owns_provider = True
        else:
            if config.sample_rate != 1.0:
                log.warning("heron: sample_rate is ignored with a shared tracer_provider")
            self._owns_provider = False
            self.processor.span_attributes = {
                k: v
                for k, v in ((A.RELEASE, config.release), (A.ENVIRONMENT, config.environment))
                if v
            }
        tracer_provider.add_span_processor(self.processor)
        self.tracer_provider = tracer_provider
        self.tracer = tracer_provider.get_tracer("heron", __version__)

    # ---- counters ----------------------------------------------------------------------

    @property
    def dropped_spans(self) -> int:
        """Spans lost: queue full (heron down or slow) or export failed after retries."""
        return self.processor.dropped_spans if self.processor is not None else 0

    @property
    def exported_spans(self) -> int:
        return self.processor.exported_spans if self.processor is not None else 0

    @property
    def failed_scores(self) -> int:
        """Scores refused locally, refused by the server or lost after retries."""
        return self._scores.failed if self._scores is not None else 0

    # ---- observations ------------------------------------------------------------------

    def start_observation(
        self,
        name: str,
        as_type: str = "span",
        *,
        parent: Observation | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Mapping[str, Any] | None = None,
        model: str | None = None,
        model_parameters: Mapping[str, Any] | None = None,
        usage: Any = None,
        cost: Any = None,
        level: str | None = None,
        status_message: str | None = None,
        completion_start_time: datetime | float | str | None = None,
        prompt_name: str | None = None,
        prompt_version: int | None = None,
    ) -> Observation:
        """Start an observation (child of ``parent`` or of the current span). Use it with
        ``with`` (current while inside, ended on exit) or call ``.end()``."""
        if not self.enabled or self._closed:
            return NOOP
        try:
            if as_type not in A.TYPES:
                log.warning("heron: unknown as_type %r, using 'span'", as_type)
                as_type = "span"
            attrs: dict[str, Any] = {A.OBS_TYPE: as_type}
            if model is not None:
                attrs[A.REQUEST_MODEL] = str(model)
            span, ctx = begin(self, str(name), attrs, parent._ctx if parent else None)
            obs = Observation(self, span, ctx, as_type)
            obs.update(
                input=input,
                output=output,
                metadata=metadata,
                model_parameters=model_parameters,
                usage=usage,
                cost=cost,
                level=level,
                status_message=status_message,
                completion_start_time=completion_start_time,
                prompt_name=prompt_name,
                prompt_version=prompt_version,
            )
            return obs
        except Exception:
            log.warning("heron: could not start observation %r", name, exc_info=True)
            return NOOP

    # ---- scores ------------------------------------------------------------------------

    def score(self, **fields: Any) -> str | None:
        """Queue a score for sending; see :func:`heron.score`."""
        if not self.enabled or self._closed:
            return None
        if self._scores is None:
            with self._scores_lock:
                if self._scores is None:
                    from heron.sdk.scores import ScoreSender

                    self._scores = ScoreSender(self.config)
        return self._scores.submit(**fields)

    # ---- lifecycle ---------------------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> bool:
        """Send everything queued (spans, then scores) now. ``False`` on timeout."""
        ok = True
        try:
            if self.processor is not None and not self._closed:
                ok = self.processor.force_flush(int(timeout * 1000))
            if self._scores is not None:
                ok = self._scores.flush(timeout) and ok
        except Exception:
            log.warning("heron: flush failed", exc_info=True)
            return False
        return ok

    def shutdown(self) -> None:
        """Flush and stop the background threads. Idempotent; the client is unusable after."""
        if self._closed:
            return
        try:
            if self.processor is not None:
                self.processor.shutdown(self.config.timeout)  # flushes first
            if self._scores is not None:
                self._scores.shutdown()
            if self._owns_provider and self.tracer_provider is not None:
                self.tracer_provider.shutdown()
        except Exception:
            log.warning("heron: shutdown failed", exc_info=True)
        finally:
            self._closed = True

    _owns_provider = False


# ---- the process-wide client ---------------------------------------------------------------

_lock = threading.Lock()
_client: HeronClient | None = None  # the initialised client (enabled or not)
_active: HeronClient | None = None  # the client the hot paths use: enabled, not shut down
_env_checked = False
_atexit_registered = False
_DISABLED = HeronClient(Config(enabled=False))


def init(
    host: str | None = None,
    public_key: str | None = None,
    secret_key: str | None = None,
    *,
    enabled: bool | None = None,
    sample_rate: float | None = None,
    environment: str | None = None,
    release: str | None = None,
    mask: Mask | None = None,
    max_field_bytes: int | None = None,
    max_queue_size: int | None = None,
    max_batch_size: int | None = None,
    flush_interval: float | None = None,
    timeout: float | None = None,
    tracer_provider: Any = None,
    span_exporter: Any = None,
) -> HeronClient:
    """Configure heron for this process and return the client.

    Arguments win over ``HERON_*`` environment variables, which win over defaults. Pass
    ``tracer_provider`` to add heron's processor to an existing OpenTelemetry provider
    instead of creating one. Calling ``init`` again shuts the previous client down first.
    Raises :class:`heron.ConfigError` for invalid values (the only place heron raises)."""
    global _client, _active, _env_checked, _atexit_registered
    config = Config.resolve(
        host=host,
        public_key=public_key,
        secret_key=secret_key,
        enabled=enabled,
        sample_rate=sample_rate,
        environment=environment,
        release=release,
        mask=mask,
        max_field_bytes=max_field_bytes,
        max_queue_size=max_queue_size,
        max_batch_size=max_batch_size,
        flush_interval=flush_interval,
        timeout=timeout,
    )
    client = HeronClient(config, tracer_provider=tracer_provider, span_exporter=span_exporter)
    with _lock:
        old, _client = _client, client
        _active = client if client.enabled else None
        _env_checked = True
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
    if old is not None:
        log.info("heron: init() called again; the previous client is shut down")
        old.shutdown()
    return client


def active_client() -> HeronClient | None:
    """The enabled client, initialising from the environment on first use; else ``None``."""
    if _active is not None:
        return _active
    if _env_checked:
        return None
    return _init_from_env()


def _init_from_env() -> HeronClient | None:
    global _env_checked
    with _lock:
        if _env_checked:
            return _active
        _env_checked = True
    if not os.environ.get(ENV_SECRET_KEY):
        return None
    try:
        return init()
    except Exception:
        log.warning("heron: initialising from the environment failed", exc_info=True)
        return None


def get_client() -> HeronClient:
    """The process-wide client; a disabled one when heron is not initialised."""
    active_client()
    return _client if _client is not None else _DISABLED


def flush(timeout: float = 30.0) -> bool:
    """Send all queued spans and scores now (blocks up to ``timeout`` seconds)."""
    c = _client
    return c.flush(timeout) if c is not None else True


def shutdown() -> None:
    """Flush and stop the client and forget it: a later :func:`init` starts afresh (and
    the environment is consulted again on next use). Idempotent."""
    global _client, _active, _env_checked
    with _lock:
        c, _client, _active, _env_checked = _client, None, None, False
    if c is not None:
        c.shutdown()


def _at_exit() -> None:
    c = _client
    if c is not None:
        c.shutdown()


def start_observation(name: str, as_type: str = "span", **fields: Any) -> Observation:
    """Start an observation of any type; see :meth:`HeronClient.start_observation`."""
    c = active_client()
    return c.start_observation(name, as_type, **fields) if c is not None else NOOP


def start_span(name: str, **fields: Any) -> Observation:
    """Start a span observation; ``with heron.start_span("step") as span: ...``."""
    return start_observation(name, "span", **fields)


def start_generation(
    name: str,
    *,
    model: str | None = None,
    input: Any = None,
    model_parameters: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Observation:
    """Start a generation (an LLM call); ``with heron.start_generation(...) as gen:``."""
    return start_observation(
        name, "generation", model=model, input=input, model_parameters=model_parameters, **fields
    )


def update_current_trace(
    *,
    name: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    tags: Sequence[str] | None = None,
    release: str | None = None,
    version: str | None = None,
    environment: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    input: Any = None,
    output: Any = None,
    public: bool | None = None,
) -> None:
    """Set attributes of the current trace: on the current span and on every span started
    in this trace afterwards (tags accumulate, other values are replaced). Never raises."""
    c = active_client()
    if c is None:
        return
    try:
        span = otel_trace.get_current_span()
        if not span.is_recording():
            return
        attrs = tctx.trace_attributes(
            c.config.max_field_bytes,
            c.config.mask,
            name=name,
            user_id=user_id,
            session_id=session_id,
            tags=tags,
            release=release,
            version=version,
            environment=environment,
            metadata=metadata,
            input=input,
            output=output,
            public=public,
        )
        if not attrs:
            return
        state = tctx.state_for(span.get_span_context().trace_id)
        tctx.merge_trace_attributes(state, attrs)
        span.set_attributes(state.attributes)
    except Exception:
        log.warning("heron: update_current_trace failed", exc_info=True)
