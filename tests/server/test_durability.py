"""Acknowledged data survives SIGKILL of the server mid-ingest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx
import orjson
import pytest
from google.rpc import status_pb2

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
        got = http.get(live_server.url + f"/api/traces/{tid.hex()}?consistent=true")
        assert got.status_code == 200
    assert live_server.proc.poll() is None  # the server itself never went down


def _present(server: HeronProcess, trace_ids: list[str]) -> dict[str, int]:
    """trace id -> observation count, for those of ``trace_ids`` the server has."""
    found: dict[str, int] = {}
    with httpx.Client(headers=server.auth, timeout=30) as http:
        for i in range(0, len(trace_ids), 200):
            chunk = trace_ids[i : i + 200]
            flt = orjson.dumps([{"column": "id", "operator": "in", "value": chunk}]).decode()
            body = http.get(
                server.url + "/api/traces", params={"filter": flt, "limit": 1000}
            ).json()
            found.update({t["id"]: t["observation_count"] for t in body["data"]})
    return found


def _one_request(n_traces: int = 10) -> tuple[bytes, list[str]]:
    spans, traces = [], []
    for _ in range(n_traces):
        tid, root = new_trace_id(), new_span_id()
        spans.append(span(tid, root, "root"))
        spans += [span(tid, new_span_id(), f"child-{k}", parent=root) for k in range(4)]
        traces.append(tid.hex())
    return request(spans).SerializeToString(), traces


def test_a_flipped_byte_mid_journal_loses_one_record_not_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"HERON_CHECKPOINT_SECONDS": "3600"}  # the journal keeps every record until stop
    server = HeronProcess(data, env=env).start()
    acked: list[list[str]] = []  # trace ids per acknowledged request (one journal record)
    with httpx.Client(headers={**server.auth, **PB}, timeout=10) as http:
        for _ in range(40):
            body, traces = _one_request()
            assert http.post(server.url + "/v1/traces", content=body).status_code == 200
            acked.append(traces)
    server.kill()
    # The store lost its spans (say heron.duckdb was restored from an empty backup): the
    # journal alone must bring back every acknowledged record it can still read.
    with duckdb.connect(str(data / "heron.duckdb")) as db:
        db.execute("DELETE FROM observations")
        db.execute("DELETE FROM traces")
        db.execute("UPDATE meta SET value = '0' WHERE key = 'journal_applied_seq'")
    [segment] = (data / "journal").glob("*.log")
    raw = bytearray(segment.read_bytes())
    raw[len(raw) // 2 + 1000] ^= 0x01  # one flipped bit in the middle of the journal
    segment.write_bytes(bytes(raw))

    restarted = HeronProcess(data, env=env).start()
    try:
        found = _present(restarted, [t for traces in acked for t in traces])
        lost = [i for i, traces in enumerate(acked) if any(found.get(t) != 5 for t in traces)]
        assert len(lost) == 1, f"requests lost: {lost}"  # only the damaged record's
        assert not any(t in found for t in acked[lost[0]])  # and that one wholly
        assert 0 < lost[0] < 39  # in the middle: the records after it were all replayed
        log = restarted.log()
        assert "is damaged at bytes" in log and "acknowledged records" in log
        assert list((data / "journal" / "damaged").glob("*.bin"))
        ready = httpx.get(restarted.url + "/readyz", headers=_operator(data), timeout=10)
        assert ready.status_code == 503
        [gap] = ready.json()["gaps"]
        assert gap["first"] == gap["last"] and gap["why"] == "damaged"
    finally:
        restarted.stop()


def test_a_disk_that_fills_and_empties_under_load_loses_no_acknowledged_span(
    tmp_path: Path,
) -> None:
    from tests.support.disk import can_mount, fill, small_disk

    if not can_mount():
        pytest.fail("this test needs a tmpfs mount (run as root, as CI does)")
    data = tmp_path / "data"
    with small_disk(data / "journal", 48 * 1024 * 1024) as journal_disk:
        server = HeronProcess(data).start()
        acked: dict[str, int] = {}
        lock = threading.Lock()
        stop = threading.Event()
        errors: list[str] = []
        refusals: list[str] = []
        acks_after: list[float] = []

        def client() -> None:
            with httpx.Client(headers={**server.auth, **PB}, timeout=10) as http:
                while not stop.is_set():
                    body, traces = _one_request()
                    try:
                        r = http.post(server.url + "/v1/traces", content=body)
                    except httpx.HTTPError:
                        return  # the server died under us: not acknowledged
                    if r.status_code == 200:
                        with lock:
                            acked.update(dict.fromkeys(traces, 5))
                            acks_after.append(time.monotonic())
                    elif r.status_code == 503:
                        assert r.headers.get("Retry-After")
                        status = status_pb2.Status.FromString(r.content)
                        if "disk is full" in status.message:
                            refusals.append(status.message)
                        time.sleep(0.05)
                    else:
                        errors.append(f"{r.status_code} {r.text[:200]}")

        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            _wait(lambda: len(acked) >= 300)
            filler = fill(journal_disk)
            _wait(lambda: len(refusals) >= 3)
            ready = httpx.get(server.url + "/readyz", headers=_operator(data), timeout=10)
            assert ready.status_code == 503 and ready.json()["journal"]["disk_full"]
            filler.unlink()  # space is back: ingest resumes by itself
            emptied = time.monotonic()
            _wait(lambda: sum(a > emptied for a in acks_after) >= 20)
            server.kill()  # SIGKILL while the clients are still sending
        finally:
            stop.set()
            for t in threads:
                t.join(15)
            server.kill()
        assert not errors, errors[:3]

        restarted = HeronProcess(data).start()
        try:
            ids = sorted(acked)
            found = _present(restarted, ids)
            missing = [t for t in ids if found.get(t) != acked[t]]
            assert not missing, f"{len(missing)} of {len(ids)} acknowledged traces lost"
            assert httpx.get(restarted.url + "/readyz", timeout=10).status_code == 200
        finally:
            restarted.stop()


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _operator(data: Path) -> dict[str, str]:
    """The admin token the running server wrote into its data directory."""
    token = orjson.loads((data / "server.json").read_bytes())["admin_token"]
    return {"Authorization": f"Bearer {token}"}
