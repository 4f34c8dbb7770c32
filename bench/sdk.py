"""heron SDK benchmarks.

1. Overhead on the caller's thread of one ``@heron.observe`` span, side by side with a bare
   OpenTelemetry span (``tracer.start_as_current_span``) in the same run. Both export to a
   no-op exporter, so the network does not count. Printed: median per-call overhead over
   the undecorated function.
2. The app keeps running with bounded memory when heron is down (a closed port) or slow (a
   local HTTP server that sleeps before answering): printed are the spans created, exported
   and dropped, and the peak RSS of the process (each scenario runs in its own process).

    .venv/bin/python bench/sdk.py                 # everything
    .venv/bin/python bench/sdk.py overhead        # one part: overhead | down | slow
"""

from __future__ import annotations

import http.server
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import heron


class NoOpExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def work(question: str, k: int = 3, *, user: str = "u-1") -> dict[str, object]:
    return {"answer": question.upper(), "k": k, "user": user}


def _per_call(fn: object, calls: int) -> float:
    f = fn  # type: ignore[assignment]
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        f("where is my order?", 5, user="u-42")  # type: ignore[operator]
    return (time.perf_counter_ns() - t0) / calls / 1000  # µs


def overhead(samples: int = 300, calls: int = 200) -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
    tracer = provider.get_tracer("bench")

    def otel_work(question: str, k: int = 3, *, user: str = "u-1") -> dict[str, object]:
        with tracer.start_as_current_span("work"):
            return work(question, k, user=user)

    heron.init(secret_key="bench", span_exporter=NoOpExporter(), max_queue_size=100_000)
    observed = heron.observe()(work)
    for fn in (work, otel_work, observed):  # warm up
        _per_call(fn, 2_000)
    bare, otel, hrn = [], [], []
    for _ in range(samples):  # interleaved, so drift hits all three alike
        bare.append(_per_call(work, calls))
        otel.append(_per_call(otel_work, calls))
        hrn.append(_per_call(observed, calls))
    base = statistics.median(bare)
    print(f"overhead per call (median of {samples} samples x {calls} calls, no-op exporters)")
    print(f"  undecorated function         {base:7.2f} µs")
    print(f"  bare OpenTelemetry span      {statistics.median(otel) - base:7.2f} µs overhead")
    print(f"  @heron.observe (input+output) {statistics.median(hrn) - base:6.2f} µs overhead")
    print(f"  dropped spans: {heron.get_client().dropped_spans}")
    heron.shutdown()
    provider.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once closed


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    delay = 2.0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _run_app(host: str, label: str, seconds: float = 8.0) -> None:
    client = heron.init(
        host=host, secret_key="bench", max_queue_size=2_000, timeout=3.0, flush_interval=0.2
    )

    @heron.observe()
    def handle(request_id: int, text: str) -> str:
        return text[::-1]

    payload = "x" * 500
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    created = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(1_000):
            handle(created, payload)
            created += 1
        time.sleep(0.001)  # an app does other things too
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.monotonic()
    heron.shutdown()  # flushes what it can within the timeout
    print(
        f"  heron {label:4}: {created:,} spans created in {seconds:.0f}s, "
        f"exported {client.exported_spans:,}, dropped {client.dropped_spans:,}; "
        f"peak RSS {peak:.0f} MiB (after start {rss_start:.0f} MiB); "
        f"shutdown took {time.monotonic() - t0:.1f}s"
    )


def down() -> None:
    _run_app(f"http://127.0.0.1:{_closed_port()}", "down")


def slow() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _run_app(f"http://127.0.0.1:{server.server_address[1]}", "slow")
    server.shutdown()


PARTS = {"overhead": overhead, "down": down, "slow": slow}


def main(argv: list[str]) -> None:
    if argv:
        for name in argv:
            PARTS[name]()
        return
    overhead()
    print("heron unreachable or slow (queue 2,000 spans, export timeout 3 s, ~8 s of traffic)")
    for name in ("down", "slow"):  # each in its own process: peak RSS is per scenario
        subprocess.run([sys.executable, __file__, name], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
