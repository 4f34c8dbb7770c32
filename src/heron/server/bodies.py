"""Reading request bodies within limits, with gzip/deflate decoding."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator

from starlette.requests import Request

from heron.errors import BadRequest, PayloadTooLarge, RequestTimeout, UnsupportedMedia
from heron.server.state import state_of


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over ``limit`` bytes before reading it all, and
    (408) a body that stalls or is not complete in time (so a stalled upload frees its
    connection: the settings ``body_idle_timeout_s`` and ``body_timeout_s``)."""
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
    async for chunk in _timed(request):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _timed(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks, each within the idle timeout and all within the total one."""
    settings = state_of(request).settings
    idle, whole = settings.body_idle_timeout_s, settings.body_timeout_s
    loop = asyncio.get_running_loop()
    deadline = loop.time() + whole
    chunks = request.stream().__aiter__()
    while True:
        wait = min(idle, deadline - loop.time())
        try:
            if wait <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(anext(chunks), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if wait < idle:
                raise RequestTimeout(
                    f"request body not complete within {whole:g} s (HERON_BODY_TIMEOUT_S)"
                ) from None
            raise RequestTimeout(
                f"request body stalled: no data for {idle:g} s (HERON_BODY_IDLE_TIMEOUT_S)"
            ) from None
        yield chunk


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
