"""Acknowledged data survives SIGKILL of the server mid-ingest."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import orjson

from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import HeronProcess

PB = {"Content-Type": "application/x-protobuf"}


def test_acknowledged_spans_survive_kill_9(tmp_path: Path) -> None:
    server = HeronProcess(tmp_path / "data").start()
    acked: dict[str, int] = {}  # trace id -> spans acknowledged
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []

    def client() -> None:
        with httpx.Client(headers={**server.auth, **PB}, timeout=10) as http:
            while not stop.is_set():
                traces = {}
                spans = []
                for _ in range(20):
                    tid, root = new_trace_id(), new_span_id()
                    spans.append(span(tid, root, "root"))
                    spans += [span(tid, new_span_id(), f"child-{k}", parent=root) for k in range(4)]
                    traces[tid.hex()] = 5
                try:
                    r = http.post(
                        server.url + "/v1/traces", content=request(spans).SerializeToString()
                    )
                except httpx.HTTPError:
                    return  # the server died under us: this request was not acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.update(traces)
                elif r.status_code != 503:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL while the clients are still sending
    stop.set()
    for t in threads:
        t.join(15)
    assert not errors, errors[:3]
    assert len(acked) >= 2000, "clients did not get enough acknowledgements before the kill"

    restarted = HeronProcess(tmp_path / "data").start()
    try:
        ids = sorted(acked)
        found: dict[str, int] = {}
        with httpx.Client(headers=restarted.auth, timeout=30) as http:
            for i in range(0, len(ids), 200):
                chunk = ids[i : i + 200]
                flt = orjson.dumps([{"column": "id", "operator": "in", "value": chunk}]).decode()
                body = http.get(
                    restarted.url + "/api/traces", params={"filter": flt, "limit": 1000}
                ).json()
                found.update({t["id"]: t["observation_count"] for t in body["data"]})
        missing = [t for t in ids if found.get(t) != acked[t]]
        assert not missing, f"{len(missing)} of {len(ids)} acknowledged traces lost or partial"
    finally:
        restarted.stop()


def test_a_dead_decoder_process_is_replaced(live_server: HeronProcess) -> None:
    import os
    import signal

    import psutil

    from tests.support.otlp import genai_trace

    workers = psutil.Process(live_server.proc.pid).children(recursive=True)  # type: ignore[union-attr]
    decoders = [p for p in workers if "spawn_main" in " ".join(p.cmdline())]
    assert decoders, [p.cmdline() for p in workers]
    os.kill(decoders[0].pid, signal.SIGKILL)
    time.sleep(0.5)

    statuses = []
    with httpx.Client(headers={**live_server.auth, **PB}, timeout=30) as http:
        for _ in range(5):
            tid, spans = genai_trace(n_children=200)  # large enough for the worker processes
            body = request(spans).SerializeToString()
            assert len(body) > 64 * 1024
            r = http.post(live_server.url + "/v1/traces", content=body)
            statuses.append(r.status_code)
        assert statuses[-1] == 200
        assert set(statuses) <= {200, 400}, statuses
        assert 400 in statuses  # the request that met the dead worker was refused, not lost
        assert http.get(live_server.url + f"/api/traces/{tid.hex()}").status_code == 200
    assert live_server.proc.poll() is None  # the server itself never went down
