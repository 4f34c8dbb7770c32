"""Proxies around OpenAI streams: the same chunks reach the user; the observation records the
time of the first chunk, the assembled output, usage and model, and ends when the stream is
exhausted, closed (also by ``with`` or garbage collection) or fails."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from heron.sdk import attributes as A
from heron.sdk.openai import _get, _record_error, _record_result
from heron.sdk.spans import Observation

log = logging.getLogger("heron")

__all__ = ["AsyncTracedStream", "TracedStream"]


class _Accumulator:
    """Builds a result object (duck-typed like the non-streamed one) from chunks / events."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.first_chunk: float | None = None
        self.model: str | None = None
        self.id: str | None = None
        self.usage: Any = None
        self.text: dict[int, list[str]] = {}
        self.tool_calls: dict[int, dict[int, dict[str, Any]]] = {}
        self.finish: dict[int, str] = {}
        self.response: Any = None  # Responses API: the final response object

    def add(self, chunk: Any) -> None:
        if self.operation == "responses":
            kind = _get(chunk, "type") or ""
            if self.first_chunk is None and kind.endswith(".delta"):
                self.first_chunk = time.time()
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                self.response = _get(chunk, "response")
            return
        if self.first_chunk is None:
            self.first_chunk = time.time()
        self.model = _get(chunk, "model") or self.model
        self.id = _get(chunk, "id") or self.id
        usage = _get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        for choice in _get(chunk, "choices") or ():
            index = _get(choice, "index") or 0
            delta = _get(choice, "delta")
            content = _get(delta, "content") if delta is not None else None
            if content:
                self.text.setdefault(index, []).append(content)
            for tc in (_get(delta, "tool_calls") if delta is not None else None) or ():
                calls = self.tool_calls.setdefault(index, {})
                call = calls.setdefault(
                    _get(tc, "index") or 0, {"id": None, "name": None, "arguments": []}
                )
                call["id"] = _get(tc, "id") or call["id"]
                fn = _get(tc, "function")
                if fn is not None:
                    call["name"] = _get(fn, "name") or call["name"]
                    if _get(fn, "arguments"):
                        call["arguments"].append(_get(fn, "arguments"))
            reason = _get(choice, "finish_reason")
            if reason:
                self.finish[index] = reason

    def result(self) -> Any:
        if self.operation == "responses":
            return self.response
        choices = []
        for index in sorted(set(self.text) | set(self.tool_calls) | set(self.finish)):
            msg: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(self.text.get(index, [])),
            }
            calls = self.tool_calls.get(index)
            if calls:
                msg["tool_calls"] = [
                    {
                        "id": c["id"],
                        "function": {"name": c["name"], "arguments": "".join(c["arguments"])},
                    }
                    for _, c in sorted(calls.items())
                ]
                if not msg["content"]:
                    msg["content"] = None
            choices.append({"message": msg, "finish_reason": self.finish.get(index)})
        return {"model": self.model, "id": self.id, "usage": self.usage, "choices": choices}


class _Recorder:
    __slots__ = ("acc", "done", "obs")

    def __init__(self, obs: Observation, operation: str) -> None:
        self.obs = obs
        self.acc = _Accumulator(operation)
        self.done = False

    def add(self, chunk: Any) -> None:
        try:
            self.acc.add(chunk)
        except Exception:
            log.debug("heron: reading a stream chunk failed", exc_info=True)

    def finish(self, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        obs = self.obs
        try:
            acc = self.acc
            if acc.first_chunk is not None:
                obs.update(completion_start_time=acc.first_chunk)
            result = acc.result()
            if result is not None:
                _record_result(obs, acc.operation, result)
            if exc is not None:
                _record_error(obs, exc)
        except Exception:
            log.debug("heron: recording a stream failed", exc_info=True)
        if obs.span.is_recording() and exc is None and self.acc.first_chunk is None:
            obs.span.set_attribute(A.OBS_STATUS, "stream closed before the first chunk")
        obs.end()


class TracedStream:
    """Wraps an ``openai.Stream``: iterate it, use it in ``with``, ``close()`` it as usual;
    any other attribute (``response``...) is the wrapped stream's."""

    def __init__(self, stream: Any, obs: Observation, operation: str) -> None:
        self._stream = stream
        self._recorder = _Recorder(obs, operation)
        self._iterator = iter(stream)

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._iterator)
        except StopIteration:
            self._recorder.finish()
            raise
        except BaseException as exc:
            self._recorder.finish(exc)
            raise
        self._recorder.add(chunk)
        return chunk

    def __enter__(self) -> TracedStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._recorder.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._recorder.finish()


class AsyncTracedStream:
    """Wraps an ``openai.AsyncStream`` (``async for``, ``async with``, ``await close()``)."""

    def __init__(self, stream: Any, obs: Observation, operation: str) -> None:
        self._stream = stream
        self._recorder = _Recorder(obs, operation)
        self._iterator = stream.__aiter__()

    def __aiter__(self) -> AsyncTracedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            self._recorder.finish()
            raise
        except BaseException as exc:
            self._recorder.finish(exc)
            raise
        self._recorder.add(chunk)
        return chunk

    async def __aenter__(self) -> AsyncTracedStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._recorder.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._recorder.finish()
