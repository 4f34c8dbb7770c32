"""Post the demo workload to a heron server over OTLP/HTTP (protobuf)."""

from __future__ import annotations

import gzip as gzip_lib
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from heron.demo.batching import generate
from heron.demo.model import DemoConfig
from heron.demo.progress import root_spans
from heron.demo.scores import demo_scores, send_scores

RETRY_STATUS = frozenset({429, 502, 503, 504})
MAX_RETRY_WAIT_S = 30.0


@dataclass(frozen=True)
class SendStats:
    requests: int  # requests accepted by the server
    spans: int  # spans in those requests
    rejected_spans: int  # partial_success.rejected_spans reported by the server
    seconds: float
    retries: int = 0  # retried attempts (429/502/503/504 or connection errors)
    scores: int = 0  # scores posted after the spans (thumbs, ratings, copies, accepts)


class SendError(RuntimeError):
    """The server refused a request (a 4xx other than 429, or retries were exhausted)."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def _retry_after(resp: httpx.Response, attempt: int) -> float:
    value = resp.headers.get("retry-after")
    wait = None
    if value:
        try:
            wait = float(value)
        except ValueError:
            try:
                wait = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                wait = None
    if wait is None:
        wait = 0.1 * 2**attempt
    return min(max(wait, 0.0), MAX_RETRY_WAIT_S)


def _post(
    client: httpx.Client, url: str, headers: dict[str, str], body: bytes, max_retries: int
) -> tuple[int, int]:
    """Posts one request, retrying transient failures; returns (rejected spans, retries)."""
    attempt = 0
    while True:
        try:
            resp = client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            if attempt >= max_retries:
                raise SendError(f"POST {url} failed after {attempt} retries: {exc!r}") from exc
            time.sleep(min(0.1 * 2**attempt, MAX_RETRY_WAIT_S))
            attempt += 1
            continue
        if resp.status_code in RETRY_STATUS and attempt < max_retries:
            time.sleep(_retry_after(resp, attempt))
            attempt += 1
            continue
        if resp.status_code >= 400:
            text = resp.text
            raise SendError(
                f"POST {url} -> {resp.status_code}: {text[:2000]}", resp.status_code, text
            )
        rejected = 0
        if resp.content and "json" not in resp.headers.get("content-type", ""):
            try:
                parsed = ExportTraceServiceResponse.FromString(resp.content)
                rejected = parsed.partial_success.rejected_spans
            except Exception:  # a server answering something else is not our problem here
                rejected = 0
        return rejected, attempt


def span_count(req: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def send_requests(
    requests: Iterable[ExportTraceServiceRequest],
    base_url: str,
    secret_key: str,
    *,
    concurrency: int = 2,
    progress: Callable[[int], None] | None = None,
    client: httpx.Client | None = None,
    max_retries: int = 8,
    gzip: bool = False,
    timeout: float = 60.0,
    trace_progress: Callable[[int], None] | None = None,
) -> SendStats:
    """Posts ``requests`` to ``{base_url}/v1/traces`` with ``concurrency`` requests in flight.

    ``progress`` is called (from the calling thread) with the number of spans of each accepted
    request, ``trace_progress`` likewise with its number of root spans (traces completed).
    429/502/503/504 are retried up to ``max_retries`` times, honouring Retry-After
    (capped at 30 s); any other 4xx/5xx raises :class:`SendError` with the response text.
    """
    url = base_url.rstrip("/") + "/v1/traces"
    headers = {
        "Content-Type": "application/x-protobuf",
        "Authorization": f"Bearer {secret_key}",
        "User-Agent": "heron-demo",
    }
    if gzip:
        headers["Content-Encoding"] = "gzip"
    concurrency = max(1, concurrency)
    own = client is None
    if client is None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.Client(timeout=timeout, limits=limits)
    n_req = n_spans = n_rejected = n_retries = 0
    started = time.perf_counter()
    inflight: deque[tuple[Future[tuple[int, int]], int, int]] = deque()

    def collect() -> None:
        nonlocal n_req, n_spans, n_rejected, n_retries
        fut, n, roots = inflight.popleft()
        rejected, retries = fut.result()
        n_req += 1
        n_spans += n
        n_rejected += rejected
        n_retries += retries
        if progress is not None:
            progress(n)
        if trace_progress is not None:
            trace_progress(roots)

    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="heron-demo") as pool:
            try:
                for req in requests:
                    body = req.SerializeToString()
                    if gzip:
                        body = gzip_lib.compress(body, compresslevel=1)
                    fut = pool.submit(_post, client, url, headers, body, max_retries)
                    inflight.append((fut, span_count(req), root_spans(req)))
                    while len(inflight) > concurrency:
                        collect()
                while inflight:
                    collect()
            except BaseException:
                for fut, _, _ in inflight:
                    fut.cancel()
                raise
    finally:
        if own:
            client.close()
    return SendStats(n_req, n_spans, n_rejected, time.perf_counter() - started, n_retries)


def send(
    config: DemoConfig,
    base_url: str,
    secret_key: str,
    *,
    concurrency: int = 2,
    progress: Callable[[int], None] | None = None,
    client: httpx.Client | None = None,
    max_retries: int = 8,
    gzip: bool = False,
    trace_progress: Callable[[int], None] | None = None,
) -> SendStats:
    """Generates the workload of ``config`` and posts it to a heron server: its spans over
    OTLP, then the users' feedback as scores."""
    config = config.resolved()  # one "now" for the spans and the scores
    own = client is None
    if client is None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.Client(timeout=60.0, limits=limits)
    try:
        stats = send_requests(
            generate(config),
            base_url,
            secret_key,
            concurrency=concurrency,
            progress=progress,
            client=client,
            max_retries=max_retries,
            gzip=gzip,
            trace_progress=trace_progress,
        )
        scores = send_scores(demo_scores(config), base_url, secret_key, client)
    finally:
        if own:
            client.close()
    return replace(stats, scores=scores)
