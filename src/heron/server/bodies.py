"""Reading request bodies within limits (size, time), with gzip/deflate decoding."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import orjson
from fastapi import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron.errors import BadRequest, PayloadTooLarge, RequestTimeout, UnsupportedMedia


class BodyTimedOut(RequestTimeout, HTTPException):
    """A :class:`RequestTimeout` that is also an HTTPException, which FastAPI's own parsing
    of form and ``Body()`` parameters lets through (any other error there becomes a 400)."""

    def __init__(self, message: str) -> None:
        RequestTimeout.__init__(self, message)
        HTTPException.__init__(self, RequestTimeout.status_code, message)


class BodyTimeout:
    """ASGI middleware: a request body must keep arriving, and arrive in time.

    Every read of the body waits at most ``idle_s`` for its next chunk and the whole body
    must be in within ``total_s`` of the request's start; otherwise the read raises
    :class:`RequestTimeout` (408 naming the limit, with ``Connection: close``), so a stalled
    upload cannot hold a connection and its task forever. Wrapping ``receive`` covers every
    route: OTLP, the JSON API, the web UI's forms. (Before the request line and headers are
    in, the HTTP server itself waits; see ``heron serve``'s uvicorn options.)
    """

    def __init__(self, app: ASGIApp, idle_s: float, total_s: float) -> None:
        self.app = app
        self.idle_s = idle_s
        self.total_s = total_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_s
        state = {"done": False, "timed_out": False}

        async def timed_receive() -> Message:
            if state["done"]:  # the body is in: later reads wait for the disconnect
                return await receive()
            wait = min(self.idle_s, deadline - loop.time())
            try:
                if wait <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                state["timed_out"] = True
                if wait < self.idle_s:
                    raise BodyTimedOut(
                        f"request body not complete within {self.total_s:g} s "
                        "(HERON_BODY_TIMEOUT_S)"
                    ) from None
                raise BodyTimedOut(
                    f"request body stalled: no data for {self.idle_s:g} s "
                    "(HERON_BODY_IDLE_TIMEOUT_S)"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["done"] = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and state["timed_out"]:
                # the rest of the body is never read: the connection cannot be reused
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, timed_receive, closing_send)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if size > limit:
            raise PayloadTooLarge(f"request body of {size} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body (as :func:`read_body`) parsed as JSON; a 400 naming the parse error."""
    raw = await read_body(request, limit)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding; the decoded size is limited too (no decompression bombs)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise UnsupportedMedia(
            f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none"
        )
    wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(body, limit + 1)
        if len(out) > limit or decoder.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
        out += decoder.flush()
        if not decoder.eof:
            raise BadRequest(f"{encoding} body is truncated")
    except zlib.error as exc:
        raise BadRequest(f"{encoding} body cannot be decompressed: {exc}") from None
    if len(out) > limit:
        raise PayloadTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
    return out


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
