"""The plain OpenTelemetry SDK with its OTLP/HTTP exporter, against a real heron process."""

from __future__ import annotations

import httpx
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.support.server import ServerProject


def test_otel_sdk_exports_to_heron(server_project: ServerProject) -> None:
    exporter = OTLPSpanExporter(
        endpoint=server_project.url + "/v1/traces",
        headers={"Authorization": f"Bearer {server_project.secret_key}"},
        compression=Compression.Gzip,
    )
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": "shop",
                "service.version": "3.1.0",
                "deployment.environment.name": "production",
            }
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    with tracer.start_as_current_span("answer-question") as root:
        root.set_attribute("user.id", "u-77")
        root.set_attribute("session.id", "s-77")
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("chat gpt-4o") as gen:
            gen.set_attribute("gen_ai.operation.name", "chat")
            gen.set_attribute("gen_ai.request.model", "gpt-4o")
            gen.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
            gen.set_attribute("gen_ai.usage.input_tokens", 1200)
            gen.set_attribute("gen_ai.usage.output_tokens", 80)
        with tracer.start_as_current_span("lookup_order") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "lookup_order")
            try:
                raise TimeoutError("orders service timed out")
            except TimeoutError as exc:
                tool.record_exception(exc)
                tool.set_status(Status(StatusCode.ERROR, str(exc)))
    assert provider.force_flush(10_000)
    provider.shutdown()

    t = httpx.get(
        server_project.url + f"/api/traces/{trace_id}?consistent=true", headers=server_project.auth
    ).json()
    assert t["name"] == "answer-question"
    assert (t["user_id"], t["session_id"]) == ("u-77", "s-77")
    assert (t["release"], t["environment"]) == ("3.1.0", "production")
    assert t["observation_count"] == 3 and t["error_count"] == 1
    [root_obs] = t["observations"]
    kids = {c["name"]: c for c in root_obs["children"]}
    assert kids["chat gpt-4o"]["type"] == "generation"
    assert kids["chat gpt-4o"]["model"] == "gpt-4o-2024-08-06"
    assert kids["chat gpt-4o"]["total_cost"] > 0
    assert kids["lookup_order"]["type"] == "tool"
    assert kids["lookup_order"]["level"] == "ERROR"
    assert "timed out" in kids["lookup_order"]["status_message"]
