"""A scriptable local stand-in for an OpenAI-compatible chat completions endpoint (judge tests).

`FakeProvider` is a real HTTP/1.1 server (asyncio streams, keep-alive) on a free loopback port,
running its own event loop in a background thread. It answers

* `POST /v1/chat/completions` (bearer key), and
* `POST /openai/deployments/{deployment}/chat/completions?api-version=...` (Azure, `api-key`
  header; the deployment is the model),

like a judge model would: a request with tools gets a call of the first tool, one with a JSON
schema `response_format` gets JSON content, a plain one gets text in `text_style`. The answer
is `{"reasoning": reasoning, "value": value}`; `value` defaults to the schema's first category,
`true`, or `1`. Usage is realistic (`ceil(chars / 4)` tokens).

Behaviour, settable at any time:

* `structured` / `tools`: `"yes"`, `"reject"` (a 400 like real providers give for an unsupported
  `response_format` / tools), `"ignore"` (answer in text as if the field was not sent);
* `value` (or `decide(prompt)`: a value read from the prompt), `reasoning`, `text_style`
  (`"json"`, `"fenced"`, `"labelled"`), `content` (verbatim answer content or tool arguments,
  overriding everything), `latency` (seconds per request), `api_key` (when set, other keys
  get a 401);
* `script(*steps)`: the next requests take these `Step`s in order: `fail(429, retry_after="1")`,
  `fail(503)`, `slow(5)`, `answer(content="...")`.

Every request is recorded in `requests` (method, path, query, lower-case headers, parsed body,
status answered); `max_in_flight` is the most requests handled at once.

`python -m tests.evals.fake_openai [--latency S] [--structured/--tools yes|reject|ignore]` runs
it alone and prints its port (the benchmark uses a separate process so the server does not
compete with the client for the GIL); `spawn()` does that and yields the base URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest

DATED = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}
REJECT_SCHEMA = (
    "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this "
    "model. Learn more about supported models at the Structured Outputs guide."
)
REJECT_TOOLS = "tools is not supported in this model."
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_AZURE = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")


def tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


@dataclass
class Step:
    """One scripted request: an error `status` (with `headers`), a `delay`, or an answer with
    its own `content` / `value`."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""
    delay: float = 0.0
    content: str | None = None
    value: Any = None


def fail(
    status: int,
    *,
    retry_after: str | None = None,
    retry_after_ms: str | None = None,
    message: str = "",
) -> Step:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    default = "Rate limit reached for requests" if status == 429 else "The server had an error"
    return Step(status=status, headers=headers, message=message or default)


def slow(seconds: float) -> Step:
    return Step(delay=seconds)


def answer(content: str | None = None, value: Any = None) -> Step:
    return Step(content=content, value=value)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0

    @property
    def mode(self) -> str:
        """Which answer shape was asked for: json_schema, tool or text."""
        body = self.body if isinstance(self.body, dict) else {}
        if body.get("tools"):
            return "tool"
        if (body.get("response_format") or {}).get("type") == "json_schema":
            return "json_schema"
        return "text"


class FakeProvider:
    def __init__(self) -> None:
        self.structured = "yes"
        self.tools = "yes"
        self.value: Any = None
        # decide(prompt) -> value: an answer that follows the request's content
        self.decide: Callable[[str], Any] | None = None
        self.reasoning = "The answer addresses the request directly and its facts are right."
        self.text_style = "json"
        self.content: str | None = None
        self.latency = 0.0
        self.api_key: str | None = None
        self.record = True
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.handled = 0
        self._steps: deque[Step] = deque()
        self._ids = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle

    def start(self, port: int = 0) -> FakeProvider:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, "127.0.0.1", port, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-provider", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting

    def script(self, *steps: Step) -> None:
        self._steps.extend(steps)

    def reset(self) -> None:
        self.requests.clear()
        self._steps.clear()
        self.max_in_flight = 0

    def modes(self) -> list[str]:
        return [r.mode for r in self.requests]

    # -- HTTP

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                size = int(headers.get("content-length") or 0)
                raw = await reader.readexactly(size) if size else b""
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    status, payload, extra = await self._respond(method, target, headers, raw)
                finally:
                    self.in_flight -= 1
                self.handled += 1
                if writer.is_closing():
                    return
                data = orjson.dumps(payload)
                out = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
                    "content-type: application/json",
                    f"content-length: {len(data)}",
                    f"x-request-id: req_{self.handled}",
                    *(f"{k}: {v}" for k, v in extra.items()),
                ]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + data)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        path, _, qs = target.partition("?")
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        rec = Recorded(method, path, dict(parse_qsl(qs)), headers, body)
        if self.record:
            self.requests.append(rec)
        step = self._steps.popleft() if self._steps else Step()
        delay = step.delay or self.latency
        if delay:
            await asyncio.sleep(delay)
        status, payload, extra = self._answer(rec, step)
        rec.status = status
        return status, payload, extra

    @staticmethod
    def _error(status: int, message: str, param: str | None = None) -> dict[str, Any]:
        kind, code = _ERROR_TYPES.get(status, ("server_error", None))
        return {"error": {"message": message, "type": kind, "param": param, "code": code}}

    def _answer(self, rec: Recorded, step: Step) -> tuple[int, Any, dict[str, str]]:
        azure = _AZURE.match(rec.path)
        if rec.method != "POST" or not (rec.path == "/v1/chat/completions" or azure):
            return 404, self._error(404, f"Invalid URL ({rec.method} {rec.path})"), {}
        if self.api_key is not None:
            given = (
                rec.headers.get("api-key")
                if azure
                else rec.headers.get("authorization", "").removeprefix("Bearer ")
            )
            if given != self.api_key:
                return 401, self._error(401, "Incorrect API key provided: sk-...wxyz."), {}
        if step.status != 200:
            return step.status, self._error(step.status, step.message), step.headers
        body = rec.body
        if not isinstance(body, dict) or not body.get("messages"):
            return 400, self._error(400, "'messages' is a required property", "messages"), {}
        model = azure.group(1) if azure else body.get("model")
        if not model:
            return 400, self._error(400, "you must provide a model parameter", "model"), {}
        tools = body.get("tools") or []
        fmt = body.get("response_format") or {}
        schema = None
        if fmt.get("type") == "json_schema":
            if self.structured == "reject":
                return 400, self._error(400, REJECT_SCHEMA, "response_format"), {}
            if self.structured == "yes":
                schema = (fmt.get("json_schema") or {}).get("schema")
        if tools:
            if self.tools == "reject":
                return 400, self._error(400, REJECT_TOOLS, "tools"), {}
            if self.tools == "ignore":
                tools = []
        tool = (tools[0].get("function") or {}) if tools else None
        if tool is not None:
            schema = tool.get("parameters")
        prompt_text = str(body["messages"][-1].get("content") or "")
        value = step.value if step.value is not None else self._value(schema, prompt_text)
        verdict = {"reasoning": self.reasoning, "value": value}
        content = step.content if step.content is not None else self.content
        message: dict[str, Any] = {"role": "assistant", "refusal": None, "annotations": []}
        if tool is not None:
            arguments = content if content is not None else orjson.dumps(verdict).decode()
            self._ids += 1
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": f"call_{self._ids}",
                    "type": "function",
                    "function": {"name": tool.get("name", "tool"), "arguments": arguments},
                }
            ]
            text, finish = arguments, "tool_calls"
        else:
            if content is None:
                content = (
                    orjson.dumps(verdict).decode() if schema is not None else self._text(verdict)
                )
            message["content"] = text = content
            finish = "stop"
        prompt = 3 + sum(4 + tokens(str(m.get("content") or "")) for m in body["messages"])
        if tools:
            prompt += tokens(orjson.dumps(tools).decode())
        if schema is not None and tool is None:
            prompt += tokens(orjson.dumps(fmt).decode())
        completion = tokens(text) + (8 if tool is not None else 0)
        self._ids += 1
        return (
            200,
            {
                "id": f"chatcmpl-fake{self._ids}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": DATED.get(model, model),
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {
                        "reasoning_tokens": 0,
                        "audio_tokens": 0,
                        "accepted_prediction_tokens": 0,
                        "rejected_prediction_tokens": 0,
                    },
                },
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
            },
            {},
        )

    def _value(self, schema: dict[str, Any] | None, prompt: str) -> Any:
        """`value`, else what the schema (or a text prompt's format line) allows first."""
        if self.value is not None:
            return self.value
        if self.decide is not None:
            return self.decide(prompt)
        spec = ((schema or {}).get("properties") or {}).get("value") or {}
        if spec.get("enum"):
            return spec["enum"][0]
        if schema is None:  # text mode: the format instructions end the prompt
            m = re.search(r'<one of "([^"]+)"', prompt)
            if m:
                return m.group(1)
            return True if "<true or false>" in prompt else 1
        return True if spec.get("type") == "boolean" else 1

    def _text(self, verdict: dict[str, Any]) -> str:
        if self.text_style == "fenced":
            return (
                "Here is my evaluation.\n\n```json\n"
                + orjson.dumps(verdict, option=orjson.OPT_INDENT_2).decode()
                + "\n```\n"
            )
        if self.text_style == "labelled":
            value = verdict["value"]
            shown = ("Yes" if value else "No") if isinstance(value, bool) else value
            return f"Reasoning: {verdict['reasoning']}\n\n**Score:** {shown}"
        return orjson.dumps(verdict).decode()


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A started `FakeProvider`, stopped after the test."""
    with FakeProvider() as fake:
        yield fake


@contextlib.contextmanager
def spawn(latency: float = 0.0, structured: str = "yes", tools: str = "yes") -> Iterator[str]:
    """A `FakeProvider` in its own process; yields its base URL."""
    root = Path(__file__).resolve().parents[2]
    args = ["--latency", str(latency), "--structured", structured, "--tools", tools]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.evals.fake_openai", *args],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI-compatible judge model.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--structured", choices=("yes", "reject", "ignore"), default="yes")
    parser.add_argument("--tools", choices=("yes", "reject", "ignore"), default="yes")
    args = parser.parse_args()
    fake = FakeProvider()
    fake.latency = args.latency
    fake.structured, fake.tools = args.structured, args.tools
    fake.record = False  # a long run would keep every request
    fake.start(args.port)
    print(fake.port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()  # until the parent closes stdin or stops us
    fake.stop()


if __name__ == "__main__":
    main()
