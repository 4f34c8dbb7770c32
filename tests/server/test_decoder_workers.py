"""Decode worker processes never outlive the server, however it dies."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil

from tests.support.otlp import genai_trace, request
from tests.support.server import HeronProcess

PB = {"Content-Type": "application/x-protobuf"}


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:  # reaped late by whoever adopted it
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_workers_exit_when_the_server_is_killed(tmp_path: Path) -> None:
    server = HeronProcess(tmp_path / "data", env={"HERON_INGEST_WORKERS": "2"}).start()
    try:
        _, spans = genai_trace(n_children=200)
        body = request(spans).SerializeToString()
        assert len(body) > 64 * 1024  # split among the worker processes
        with httpx.Client(headers={**server.auth, **PB}, timeout=30) as http:
            assert http.post(server.url + "/v1/traces", content=body).status_code == 200
        children = psutil.Process(server.proc.pid).children(recursive=True)  # type: ignore[union-attr]
        workers = [p for p in children if "spawn_main" in _cmdline(p)]
        assert len(workers) >= 2, [_cmdline(p) for p in children]
    finally:
        server.kill()
    deadline = time.monotonic() + 5
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _alive(children)
    for p in left:  # do not leave them behind on failure either
        p.kill()
    assert not left, [(p.pid, _cmdline(p)) for p in left]
