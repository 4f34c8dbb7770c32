"""A request body that stalls or trickles is answered 408 and its connection closed, while
other requests are served; on a real server, with raw sockets."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from google.rpc import status_pb2

from tests.support.server import SECRET_KEY, HeronProcess

IDLE_S, TOTAL_S = 1.0, 2.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    env = {"HERON_BODY_IDLE_TIMEOUT_S": str(IDLE_S), "HERON_BODY_TIMEOUT_S": str(TOTAL_S)}
    s = HeronProcess(tmp_path_factory.mktemp("bodies") / "data", env=env).start()
    yield s
    s.stop()


def open_upload(server: HeronProcess, path: str, content_type: str) -> socket.socket:
    """Headers announcing 1000 bytes, then 10 of them."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {SECRET_KEY}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + b"\n" * 10)
    return sock


def read_response(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def body_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


def test_stalled_otlp_body_is_408_and_others_are_served(server: HeronProcess) -> None:
    started = time.monotonic()
    sock = open_upload(server, "/v1/traces", "application/x-protobuf")
    with sock:
        # meanwhile the server answers other requests at once
        for _ in range(3):
            t = time.monotonic()
            assert httpx.get(server.url + "/api/health", timeout=5).status_code == 200
            assert time.monotonic() - t < 0.5
        response = read_response(sock)  # returns: the server closed the connection
    elapsed = time.monotonic() - started
    assert response.startswith(b"HTTP/1.1 408"), response[:200]
    assert b"connection: close" in response.lower()
    status = status_pb2.Status.FromString(body_of(response))
    assert "stalled: no data for 1 s" in status.message and "HERON_BODY_IDLE_TIMEOUT_S" in (
        status.message
    )
    assert IDLE_S - 0.1 < elapsed < IDLE_S + 2.0


def test_trickled_body_hits_the_total_deadline(server: HeronProcess) -> None:
    started = time.monotonic()
    sock = open_upload(server, "/api/scores", "application/json")
    response, closed = b"", False
    with sock:
        deadline = started + TOTAL_S + 3
        while not closed and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0.4)
            try:
                if readable:
                    chunk = sock.recv(65536)
                    response += chunk
                    closed = not chunk
                else:
                    sock.sendall(b" ")  # a byte every 0.4 s: never idle for 1 s
            except OSError:  # a reset: the server closed with our bytes unread
                closed = True
    elapsed = time.monotonic() - started
    assert closed, "the server ends the connection"
    assert TOTAL_S - 0.1 < elapsed < TOTAL_S + 2.0
    if response:  # unless the reset overtook it
        assert response.startswith(b"HTTP/1.1 408"), response[:200]
        assert b"not complete within 2.5 s" in response and b"HERON_BODY_TIMEOUT_S" in response


def test_stalled_web_form_is_408_too(server: HeronProcess) -> None:
    sock = open_upload(server, "/login", "application/x-www-form-urlencoded")
    with sock:
        response = read_response(sock)
    # FastAPI parses the form itself (any other error there would be its generic 400)
    assert response.startswith(b"HTTP/1.1 408"), response[:200]
    assert b'"code":"request_timeout"' in response and b"stalled" in response


def test_a_complete_slow_body_within_the_limits_is_served(server: HeronProcess) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"traceId": "' + b"ab" * 16
        time.sleep(IDLE_S / 2)
        yield b'", "name": "slow", "value": 1}'

    r = httpx.post(
        server.url + "/api/scores",
        content=body(),
        headers={**server.auth, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
