"""A local webhook receiver: a real HTTP server on a loopback port, in a thread.

It records every request (path, headers, body, and whether its Standard Webhooks signature
verified) and answers from a script of status codes (then 200). Given a ``whsec_`` secret it
verifies each message as the specification says, computed here with hashlib and hmac alone
(not with heron's code): the HMAC-SHA256 of ``<id>.<timestamp>.<body>`` under the base64 key,
one of the space-separated ``v1,`` signatures matching, the timestamp within 5 minutes of
the receiver's clock. A message that does not verify gets a 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

TOLERANCE_S = 300


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None  # None: the receiver holds no secret

    def json(self) -> Any:
        return orjson.loads(self.body)


def spec_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The signature as the Standard Webhooks specification defines it."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def spec_verifies(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    given = headers.get("webhook-signature", "")
    if not (msg_id and stamp.isdigit() and given):
        return False
    if abs(now - int(stamp)) > TOLERANCE_S:
        return False
    expected = spec_signature(secret, msg_id, stamp, body)
    return any(hmac.compare_digest(s, expected) for s in given.split(" "))


class Receiver:
    """``url`` to post to; ``received``: what came; ``script``: status codes to answer next;
    ``delay_s``: how long to wait before answering (a slow receiver)."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.script: list[int] = []
        self.delay_s = 0.0
        self.clock = time.time
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = (
                    None if owner.secret is None
                    else spec_verifies(owner.secret, headers, body, owner.clock())
                )  # fmt: skip
                with owner._lock:
                    owner.received.append(Received(self.path, headers, body, verified))
                    status = owner.script.pop(0) if owner.script else 200
                if verified is False:
                    status = 401
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                answer = b'{"error": "signature"}' if status == 401 else b"{}"
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def receiving(secret: str | None = None) -> Iterator[Receiver]:
    with Receiver(secret) as r:
        yield r
