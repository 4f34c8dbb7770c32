"""Export: sampling, a shared TracerProvider, drops when heron is unreachable, retries,
flush / shutdown, configuration."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import heron
from heron.sdk.config import DEFAULT_HOST, Config, ConfigError
from tests.sdk.conftest import observations, read_trace
from tests.support.server import PUBLIC_KEY, SECRET_KEY, HeronProcess


def _traces(server: HeronProcess, **params: str) -> list[dict]:
    r = httpx.get(f"{server.url}/api/traces", params=params, headers=server.auth)
    return r.json()["data"]


@pytest.mark.parametrize(("rate", "kept"), [(0.0, 0), (1.0, 20)])
def test_sampling_keeps_or_drops_whole_traces(live_server, rate: float, kept: int) -> None:
    heron.init(host=live_server.url, secret_key=SECRET_KEY, sample_rate=rate)
    session = f"sampling-{uuid.uuid4().hex}"  # the server is shared: count this test's only

    @heron.observe()
    def child() -> int:
        return 1

    @heron.observe()
    def root(i: int) -> int:
        heron.update_current_trace(session_id=session)
        return child() + child()

    for i in range(20):
        root(i)
    assert heron.flush(10)
    traces = _traces(live_server, limit="100", session_id=session)
    assert len(traces) == kept
    for t in traces:
        assert t["observation_count"] == 3  # whole traces, never parts


def test_partial_sampling_is_by_trace() -> None:
    exporter = InMemorySpanExporter()
    heron.init(secret_key=SECRET_KEY, sample_rate=0.25, span_exporter=exporter)

    @heron.observe()
    def child() -> None:
        pass

    @heron.observe()
    def root() -> None:
        child()

    for _ in range(400):
        root()
    heron.flush()
    spans = exporter.get_finished_spans()
    per_trace: dict[int, int] = {}
    for s in spans:
        per_trace[s.context.trace_id] = per_trace.get(s.context.trace_id, 0) + 1
    assert set(per_trace.values()) == {2}
    assert 40 < len(per_trace) < 160  # about a quarter of 400


def test_shares_an_existing_tracer_provider(live_server: HeronProcess) -> None:
    provider = TracerProvider()
    theirs = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    tracer = provider.get_tracer("app")
    client = heron.init(
        host=live_server.url, secret_key=SECRET_KEY, tracer_provider=provider, release="r-1"
    )
    assert client.tracer_provider is provider

    @heron.observe(as_type="tool")
    def tool() -> str:
        with tracer.start_as_current_span("app-span"):  # the app's own tracer, same provider
            return "ok"

    with tracer.start_as_current_span("http-request") as outer:
        trace_id = format(outer.get_span_context().trace_id, "032x")
        tool()

    t = read_trace(live_server, trace_id)
    assert t["release"] == "r-1"
    obs = observations(t)
    assert obs["http-request"]["children"][0]["name"].endswith("tool")
    assert obs["app-span"]["parent_id"] == obs[next(n for n in obs if n.endswith("tool"))]["id"]
    assert {s.name for s in theirs.get_finished_spans()} >= {"http-request", "app-span"}
    heron.shutdown()
    with tracer.start_as_current_span("after-shutdown"):  # the provider keeps working
        pass
    assert client.dropped_spans == 0
    provider.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_drops_are_counted_when_heron_is_unreachable() -> None:
    client = heron.init(
        host=f"http://127.0.0.1:{_closed_port()}",
        secret_key=SECRET_KEY,
        max_queue_size=10,
        max_batch_size=5,
        timeout=0.5,
        flush_interval=60,
    )

    @heron.observe()
    def work(i: int) -> int:
        return i

    for i in range(100):
        assert work(i) == i  # the app is never disturbed
    queued = client.processor.queued_spans
    assert queued <= 10
    # every span neither queued nor in the one batch the exporter may hold is dropped
    assert client.dropped_spans >= 100 - queued - 5
    started = time.monotonic()
    flushed = heron.flush(30)
    # heron is unreachable: flush gives up at the first failed batch instead of waiting out
    # its 30 s; it answers True only when the exporter had already emptied the queue
    assert time.monotonic() - started < 10
    assert flushed is False or client.processor.queued_spans == 0
    assert client.exported_spans == 0
    heron.shutdown()  # what is still queued is dropped
    heron.shutdown()
    assert client.exported_spans == 0
    assert client.dropped_spans == 100  # every span counted as lost


class _FlakyOTLP(http.server.BaseHTTPRequestHandler):
    """Answers 503 with Retry-After, then 429, then 200: the exporter must retry."""

    answers = [503, 429, 200]
    seen: list[tuple[int, float, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"] or 0))
        status = self.answers[min(len(self.seen), len(self.answers) - 1)]
        self.seen.append((status, time.monotonic(), self.headers.get("Authorization", "")))
        self.send_response(status)
        if status != 200:
            self.send_header("Retry-After", "0.2")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_export_retries_503_and_429_honouring_retry_after() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyOTLP)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _FlakyOTLP.seen = []
    try:
        client = heron.init(
            host=f"http://127.0.0.1:{server.server_address[1]}", secret_key="sk-x", timeout=10
        )
        with heron.start_span("retried"):
            pass
        assert heron.flush(20)
        statuses = [s for s, _, _ in _FlakyOTLP.seen]
        assert statuses == [503, 429, 200]
        gaps = [
            b - a
            for (_, a, _), (_, b, _) in zip(_FlakyOTLP.seen, _FlakyOTLP.seen[1:], strict=False)
        ]
        assert all(g >= 0.15 for g in gaps)  # waited Retry-After (0.2 s), not the 1 s backoff
        assert {a for _, _, a in _FlakyOTLP.seen} == {"Bearer sk-x"}
        assert client.exported_spans == 1 and client.dropped_spans == 0
    finally:
        server.shutdown()


def test_flush_and_shutdown_are_idempotent_and_init_works_again(live_server) -> None:
    first = heron.init(host=live_server.url, secret_key=SECRET_KEY)
    assert heron.get_client() is first
    assert heron.flush() and heron.flush()
    heron.shutdown()
    heron.shutdown()
    first.shutdown()
    assert heron.get_client().enabled is False
    with heron.start_span("ignored") as s:  # after shutdown: a no-op again
        assert s.id is None
    second = heron.init(host=live_server.url, secret_key=SECRET_KEY)
    assert second is not first
    with heron.start_span("again") as s:
        trace_id = s.trace_id
    assert read_trace(live_server, trace_id)["name"] == "again"
    third = heron.init(host=live_server.url, secret_key=SECRET_KEY)  # replaces the second
    assert heron.get_client() is third
    with second.start_observation("old-client") as s:
        assert s.id is None


def test_config_precedence_argument_env_default() -> None:
    env = {"HERON_HOST": "http://env:1/", "HERON_SECRET_KEY": "sk-env", "HERON_PUBLIC_KEY": "pk"}
    c = Config.resolve(env=env)
    assert (c.host, c.secret_key, c.public_key) == ("http://env:1", "sk-env", "pk")
    c = Config.resolve(env=env, host="https://arg:2", secret_key="sk-arg")
    assert (c.host, c.secret_key, c.public_key) == ("https://arg:2", "sk-arg", "pk")
    c = Config.resolve(env={})
    assert (c.host, c.secret_key, c.sample_rate) == (DEFAULT_HOST, None, 1.0)
    assert c.traces_endpoint == "http://127.0.0.1:4376/v1/traces"
    assert Config.resolve(env={}, secret_key="s").headers == {"Authorization": "Bearer s"}
    assert Config.resolve(env={"HERON_SAMPLE_RATE": "0.5"}).sample_rate == 0.5
    for bad in (
        {"host": "ftp://x y"},
        {"sample_rate": 1.5},
        {"max_queue_size": 0},
        {"timeout": -1},
        {"mask": "not callable"},
    ):
        with pytest.raises(ConfigError):
            Config.resolve(env={}, **bad)
    with pytest.raises(ConfigError):
        heron.init(sample_rate=2)


def test_initialises_from_environment_on_first_use(live_server, monkeypatch) -> None:
    monkeypatch.setenv("HERON_HOST", live_server.url)
    monkeypatch.setenv("HERON_PUBLIC_KEY", PUBLIC_KEY)
    monkeypatch.setenv("HERON_SECRET_KEY", SECRET_KEY)

    @heron.observe(name="from-env")
    def f() -> str | None:
        return heron.get_current_trace_id()

    trace_id = f()
    assert heron.get_client().config.host == live_server.url
    assert read_trace(live_server, trace_id)["name"] == "from-env"


def test_flushes_at_exit(live_server: HeronProcess) -> None:
    code = (
        "import heron\n"
        f"heron.init(host={live_server.url!r}, secret_key={SECRET_KEY!r}, flush_interval=60)\n"
        "with heron.start_span('at-exit') as s:\n"
        "    print(s.trace_id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert read_trace(live_server, out.stdout.strip())["name"] == "at-exit"
