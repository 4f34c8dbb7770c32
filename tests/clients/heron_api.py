"""Helpers shared by the third-party client tests: an OTLP pipeline into a live heron, reads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Tracer

from tests.support.fake_openai import FakeOpenAI
from tests.support.server import CONSISTENT, SECRET_KEY, HeronProcess

AUTH_HEADERS = {"Authorization": f"Bearer {SECRET_KEY}", **CONSISTENT}


def otlp_provider(
    server: HeronProcess,
    *,
    exporter: SpanExporter | None = None,
    resource: dict[str, Any] | None = None,
) -> TracerProvider:
    """A TracerProvider (not the global one) exporting to `server` with a BatchSpanProcessor."""
    if exporter is None:
        exporter = OTLPSpanExporter(
            endpoint=server.url + "/v1/traces",
            headers=AUTH_HEADERS,
            compression=Compression.Gzip,
        )
    provider = TracerProvider(resource=Resource.create(resource or {"service.name": "chat-app"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def flush(provider: TracerProvider) -> None:
    assert provider.force_flush(10_000), "spans were not exported in time"


def hex_trace_id(span: Any) -> str:
    return format(span.get_span_context().trace_id, "032x")


def hex_span_id(span: Any) -> str:
    return format(span.get_span_context().span_id, "016x")


def get_trace(server: HeronProcess, trace_id: str, observations: int, timeout: float = 10) -> dict:
    """`GET /api/traces/{id}`, waiting until the trace has `observations` observations."""
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=AUTH_HEADERS, timeout=10)
        if r.status_code == 200:
            body = r.json()
            if body["observation_count"] >= observations:
                return body
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} not stored with {observations} observations: {body}")


def walk(observations: list[dict]) -> Iterator[dict]:
    """Every observation of a tree, depth first."""
    for o in observations:
        yield o
        yield from walk(o.get("children") or [])


def only(trace: dict, **match: Any) -> dict:
    """The single observation of `trace` whose fields equal `match`."""
    found = [o for o in walk(trace["observations"]) if all(o.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"{len(found)} observations match {match}"
    return found[0]


def as_json(value: Any) -> Any:
    """An input / output value as JSON (heron stores them as text)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def text_of(messages: Any) -> str:
    """All text of a message list in any of the conventions, for loose content checks."""
    return json.dumps(as_json(messages), ensure_ascii=False)


@dataclass
class Instrumented:
    provider: TracerProvider
    tracer: Tracer
    client: openai.OpenAI
    aclient: openai.AsyncOpenAI


@contextmanager
def instrumented(
    instrumentor: Any, server: HeronProcess, fake: FakeOpenAI, resource: dict[str, str]
) -> Iterator[Instrumented]:
    """An instrumentation on its own provider exporting to heron, with OpenAI clients (sync
    and async, no retries) pointed at the fake server; undone afterwards."""
    provider = otlp_provider(server, resource=resource)
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield Instrumented(
            provider=provider,
            tracer=provider.get_tracer(resource["service.name"]),
            client=openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0),
            aclient=openai.AsyncOpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0),
        )
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
