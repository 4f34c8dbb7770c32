"""heron's fast attribute path relies on OpenTelemetry SDK internals: prove it still works."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from heron.sdk.spans import set_fast


def test_fast_path_reaches_the_exported_span_like_set_attributes() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    attrs = {"langfuse.observation.type": "tool", "gen_ai.usage.input_tokens": 3, "ok": True}

    fast = tracer.start_span("fast")
    set_fast(fast, attrs)
    assert fast._attributes._dict == attrs  # the internal map exists: the fast path ran
    fast.end()
    slow = tracer.start_span("slow")
    slow.set_attributes(attrs)
    slow.end()
    set_fast(fast, {"late": 1})  # an ended span is left alone, as OpenTelemetry does

    by_name = {s.name: dict(s.attributes) for s in exporter.get_finished_spans()}
    assert by_name["fast"] == by_name["slow"] == attrs


def test_other_spans_take_the_public_call() -> None:
    class Foreign:
        def __init__(self) -> None:
            self.got: dict = {}

        def set_attributes(self, attrs: dict) -> None:
            self.got.update(attrs)

    span = Foreign()
    set_fast(span, {"a": 1})
    assert span.got == {"a": 1}
