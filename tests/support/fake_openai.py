"""A local HTTP server speaking enough of the OpenAI REST API for the official client.

`FakeOpenAI` is a real server (stdlib `ThreadingHTTPServer`, HTTP/1.1 with keep-alive, chunked
server-sent events) on a free loopback port. Answers are deterministic, so tests can predict
them with the helpers below:

* `answer_for(text)`: the assistant text for the last user message `text`;
* `tool_arguments(tool, text)`: the JSON arguments of a tool call;
* `tokens(text)`: the token count of a text (`ceil(len / 4)`, at least 1);
* `FakeOpenAI.chat_usage(body)` / `FakeOpenAI.responses_usage(body)`: the usage a request gets.
  Prompts of 1,024 tokens or more report cached tokens in steps of 128 (as OpenAI's prompt
  cache does); `o1`, `o3`, `o4-mini`... report `REASONING_TOKENS` reasoning tokens, which are
  included in the output count.

Endpoints: `POST /v1/chat/completions` (with tools and `stream`), `POST /v1/responses` (with
function tools and `stream`), `POST /v1/embeddings` (`float` or `base64`), `GET /v1/models`;
anything else is a 404 with an OpenAI-style error body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

API_KEY = "sk-fake-openai-0123456789"

DATED_MODELS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "o1": "o1-2024-12-17",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
}
REASONING_TOKENS = 64
CACHE_MIN_TOKENS = 1024
CACHE_STEP = 128
EMBEDDING_DIMENSIONS = 8
FIRST_CHUNK_DELAY = 0.03
CHUNK_INTERVAL = 0.002

_ERROR_KINDS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
}


# ---------------------------------------------------------------- deterministic content


def tokens(text: str) -> int:
    """The fake tokenizer: one token per 4 characters, at least 1."""
    return max(1, math.ceil(len(text) / 4))


def response_model(model: str) -> str:
    """The dated model name the fake answers with (`gpt-4o-mini` → `gpt-4o-mini-2024-07-18`)."""
    return DATED_MODELS.get(model, model)


def is_reasoning_model(model: str) -> bool:
    return re.match(r"o\d", model) is not None


def answer_for(text: str) -> str:
    """The assistant's answer to the last user message `text`."""
    words = text.split()
    head = " ".join(words[:12]) + (" ..." if len(words) > 12 else "")
    return f"Fake answer to: {head} ({len(words)} words)"


def answer_after_tool(result: str) -> str:
    """The assistant's answer once a tool result `result` is in the conversation."""
    return f"The tool returned: {result}"


def _last_word(text: str) -> str:
    words = re.findall(r"[\w-]+", text)
    return words[-1] if words else "value"


def _value_for(schema: dict[str, Any], text: str) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {
        "string": _last_word(text),
        "integer": 1,
        "number": 1.5,
        "boolean": True,
        "array": [],
        "object": {},
    }.get(kind, _last_word(text))


def tool_arguments(parameters: dict[str, Any] | None, text: str) -> str:
    """JSON arguments for a tool whose JSON schema is `parameters`: every property gets a value
    (strings get the last word of the user message, e.g. `Paris` for "weather in Paris?")."""
    props = (parameters or {}).get("properties") or {}
    return json.dumps({name: _value_for(schema or {}, text) for name, schema in props.items()})


def _text_of(content: Any) -> str:
    """The text of a message content: a string, or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                value = part.get("text")
                if isinstance(value, str):
                    out.append(value)
                elif isinstance(part.get("output"), str):
                    out.append(part["output"])
        return " ".join(out)
    return str(content)


def _cached(prompt_tokens: int) -> int:
    if prompt_tokens < CACHE_MIN_TOKENS:
        return 0
    return (prompt_tokens // CACHE_STEP) * CACHE_STEP


def _embedding(text: str, dimensions: int) -> list[float]:
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def embedding_for(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The vector the fake returns for `text` (unit length, rounded to 6 decimals)."""
    return _embedding(text, dimensions)


def _split(text: str, pieces: int = 4) -> list[str]:
    """Split `text` into at least 2 (usually `pieces`) non-empty chunks, keeping every char."""
    words = re.findall(r"\S+\s*", text) or [text]
    size = max(1, math.ceil(len(words) / pieces))
    chunks = ["".join(words[i : i + size]) for i in range(0, len(words), size)]
    if len(chunks) == 1 and len(text) > 1:
        mid = len(text) // 2
        chunks = [text[:mid], text[mid:]]
    return chunks


# ---------------------------------------------------------------- conversation analysis


def _chat_turn(body: dict[str, Any]) -> tuple[str, str | None, dict[str, Any] | None]:
    """(last user text, last tool result or None, tool to call or None) of a chat request."""
    messages = body.get("messages") or []
    user_text = ""
    tool_result = None
    for message in messages:
        role = message.get("role")
        if role == "user":
            user_text = _text_of(message.get("content"))
        elif role == "tool":
            tool_result = _text_of(message.get("content"))
    tool = None
    tools = body.get("tools") or []
    if tools and tool_result is None and body.get("tool_choice") != "none":
        first = tools[0]
        function = first.get("function") or first
        tool = {"name": function.get("name", "tool"), "parameters": function.get("parameters")}
    return user_text, tool_result, tool


def _responses_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    value = body.get("input")
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return [item if isinstance(item, dict) else {"content": str(item)} for item in value]


def _responses_turn(body: dict[str, Any]) -> tuple[str, str | None, dict[str, Any] | None]:
    user_text = ""
    tool_result = None
    for item in _responses_items(body):
        kind = item.get("type", "message")
        if kind == "message" and item.get("role", "user") == "user":
            user_text = _text_of(item.get("content"))
        elif kind == "function_call_output":
            tool_result = _text_of(item.get("output"))
    tool = None
    tools = [t for t in body.get("tools") or [] if t.get("type", "function") == "function"]
    if tools and tool_result is None and body.get("tool_choice") != "none":
        first = tools[0]
        tool = {"name": first.get("name", "tool"), "parameters": first.get("parameters")}
    return user_text, tool_result, tool


def _usage_numbers(model: str, prompt_tokens: int, answer_tokens: int) -> dict[str, int]:
    reasoning = REASONING_TOKENS if is_reasoning_model(model) else 0
    output = answer_tokens + reasoning
    return {
        "input": prompt_tokens,
        "output": output,
        "total": prompt_tokens + output,
        "cached": _cached(prompt_tokens),
        "reasoning": reasoning,
    }


# ---------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{self.server.fake._next_id()}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind, code = _ERROR_KINDS.get(status, ("api_error", "error"))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        self._send_json(status, body, headers)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{self.server.fake._next_id()}")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, events: Iterator[tuple[str | None, Any]]) -> None:
        self._start_stream()
        first = True
        try:
            for event, payload in events:
                time.sleep(FIRST_CHUNK_DELAY if first else CHUNK_INTERVAL)
                first = False
                data = payload if isinstance(payload, str) else json.dumps(payload)
                text = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
                self._chunk(text.encode())
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- dispatch

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        body = self._read_body() if method != "GET" else None
        path = self.path.split("?", 1)[0]
        failure, delay = fake._on_request(
            {
                "method": method,
                "path": path,
                "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "authorization": self.headers.get("Authorization"),
            }
        )
        if delay:
            time.sleep(delay)
        if failure is not None:
            status, message = failure
            headers = {}
            if status == 429:
                headers = {
                    "retry-after": "1",
                    "retry-after-ms": "20",
                    "x-ratelimit-limit-requests": "500",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "20ms",
                    "x-ratelimit-limit-tokens": "200000",
                    "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": "20ms",
                }
            self._send_error(status, message, headers)
            return
        routes = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/responses"): self._responses,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("GET", "/v1/models"): self._models,
        }
        route = routes.get((method, path))
        if route is None:
            self._send_error(404, f"Invalid URL ({method} {path})")
            return
        if not isinstance(body, dict) and method == "POST":
            self._send_error(400, "We could not parse the JSON body of your request.")
            return
        if method == "POST" and not body.get("model"):
            self._send_error(400, "you must provide a model parameter")
            return
        route(body or {})

    # -- endpoints

    def _models(self, body: dict[str, Any]) -> None:
        data = [
            {"id": name, "object": "model", "created": 1700000000, "owned_by": "openai"}
            for name in DATED_MODELS
        ]
        self._send_json(200, {"object": "list", "data": data})

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        model = body["model"]
        user_text, tool_result, tool = _chat_turn(body)
        usage = FakeOpenAI.chat_usage(body)
        completion_id = f"chatcmpl-{fake._next_id()}"
        created = int(time.time())
        base = {
            "id": completion_id,
            "created": created,
            "model": response_model(model),
            "system_fingerprint": "fp_fake0001",
            "service_tier": "default",
        }
        if tool is not None:
            call = {
                "id": f"call_{fake._next_id()}",
                "type": "function",
                "function": {
                    "name": tool["name"],
                    "arguments": tool_arguments(tool["parameters"], user_text),
                },
            }
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [call],
            }
            finish = "tool_calls"
        else:
            text = (
                answer_after_tool(tool_result) if tool_result is not None else answer_for(user_text)
            )
            message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
            finish = "stop"
        if not body.get("stream"):
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            payload = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            self._send_json(200, payload)
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self._stream(self._chat_chunks(base, message, finish, usage, include_usage))

    @staticmethod
    def _chat_chunks(
        base: dict[str, Any],
        message: dict[str, Any],
        finish: str,
        usage: dict[str, Any],
        include_usage: bool,
    ) -> Iterator[tuple[str | None, Any]]:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            out = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
            if include_usage:
                out["usage"] = None
            return out

        if message.get("tool_calls"):
            yield None, chunk({"role": "assistant", "content": None, "refusal": None})
            for index, call in enumerate(message["tool_calls"]):
                head = {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                yield None, chunk({"tool_calls": [head]})
                for piece in _split(call["function"]["arguments"], 3):
                    part = {"index": index, "function": {"arguments": piece}}
                    yield None, chunk({"tool_calls": [part]})
        else:
            yield None, chunk({"role": "assistant", "content": "", "refusal": None})
            for piece in _split(message["content"]):
                yield None, chunk({"content": piece})
        yield None, chunk({}, finish)
        if include_usage:
            yield None, {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        yield None, "[DONE]"

    def _responses(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        model = body["model"]
        user_text, tool_result, tool = _responses_turn(body)
        response_id = f"resp_{fake._next_id()}"
        if tool is not None:
            item: dict[str, Any] = {
                "id": f"fc_{fake._next_id()}",
                "type": "function_call",
                "status": "completed",
                "call_id": f"call_{fake._next_id()}",
                "name": tool["name"],
                "arguments": tool_arguments(tool["parameters"], user_text),
            }
        else:
            text = (
                answer_after_tool(tool_result) if tool_result is not None else answer_for(user_text)
            )
            item = {
                "id": f"msg_{fake._next_id()}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                ],
            }
        response = {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": response_model(model),
            "output": [item],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": FakeOpenAI.responses_usage(body),
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }
        if not body.get("stream"):
            self._send_json(200, response)
            return
        self._stream(self._responses_events(response, item))

    @staticmethod
    def _responses_events(
        response: dict[str, Any], item: dict[str, Any]
    ) -> Iterator[tuple[str | None, Any]]:
        sequence = iter(range(1_000_000))

        def event(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
            return kind, {"type": kind, "sequence_number": next(sequence), **fields}

        pending = {**response, "status": "in_progress", "output": [], "usage": None}
        yield event("response.created", response=pending)
        yield event("response.in_progress", response=pending)
        ids = {"item_id": item["id"], "output_index": 0}
        if item["type"] == "function_call":
            yield event(
                "response.output_item.added",
                output_index=0,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            for piece in _split(item["arguments"], 3):
                yield event("response.function_call_arguments.delta", **ids, delta=piece)
            yield event(
                "response.function_call_arguments.done",
                **ids,
                name=item["name"],
                arguments=item["arguments"],
            )
        else:
            text = item["content"][0]["text"]
            empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield event(
                "response.output_item.added",
                output_index=0,
                item={**item, "status": "in_progress", "content": []},
            )
            yield event("response.content_part.added", **ids, content_index=0, part=empty_part)
            for piece in _split(text):
                yield event(
                    "response.output_text.delta", **ids, content_index=0, delta=piece, logprobs=[]
                )
            yield event("response.output_text.done", **ids, content_index=0, text=text, logprobs=[])
            yield event(
                "response.content_part.done", **ids, content_index=0, part=item["content"][0]
            )
        yield event("response.output_item.done", output_index=0, item=item)
        yield event("response.completed", response=response)

    def _embeddings(self, body: dict[str, Any]) -> None:
        value = body.get("input")
        texts = value if isinstance(value, list) else [value]
        texts = [t if isinstance(t, str) else json.dumps(t) for t in texts]
        dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
        data = []
        for index, text in enumerate(texts):
            vector = _embedding(text, dimensions)
            embedding: Any = vector
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{len(vector)}f", *vector)
                embedding = base64.b64encode(packed).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        prompt = sum(tokens(t) for t in texts)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": response_model(body["model"]),
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
            },
        )


class FakeOpenAI:
    """A local fake of the OpenAI API. `start()` it, point a client at `base_url`.

    `requests` lists every request received, oldest first, as
    `{"method", "path", "body" (parsed JSON), "headers" (lower-case names), "authorization",
    "status"}`; `status` is the HTTP status forced by `fail_next`, else None. Any API key is
    accepted.
    """

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._failures: list[tuple[int, str]] = []
        self._delay = 0.0
        self._ids = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeOpenAI:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeOpenAI is not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- behaviour

    def fail_next(
        self, status: int, times: int = 1, message: str = "Rate limit reached for requests"
    ) -> None:
        """The next `times` requests get HTTP `status` with an OpenAI-style error body
        (`{"error": {"message", "type", "param", "code"}}`); a 429 carries `retry-after`,
        `retry-after-ms` (20 ms) and `x-ratelimit-*` headers."""
        with self._lock:
            self._failures.extend([(status, message)] * times)

    def delay(self, seconds: float) -> None:
        """Wait `seconds` before answering every later request (0 to stop)."""
        with self._lock:
            self._delay = seconds

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._delay = 0.0

    @property
    def last_request(self) -> dict[str, Any]:
        return self.requests[-1]

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    # -- predictable numbers

    @staticmethod
    def chat_usage(body: dict[str, Any]) -> dict[str, Any]:
        """The `usage` the fake returns for a chat completion request `body`."""
        prompt = 3 + sum(
            4 + tokens(_text_of(m.get("content")) or " ") for m in body.get("messages") or []
        )
        if body.get("tools"):
            prompt += tokens(json.dumps(body["tools"]))
        user_text, tool_result, tool = _chat_turn(body)
        if tool is not None:
            answer = tokens(tool_arguments(tool["parameters"], user_text)) + 8
        elif tool_result is not None:
            answer = tokens(answer_after_tool(tool_result))
        else:
            answer = tokens(answer_for(user_text))
        n = _usage_numbers(body.get("model", ""), prompt, answer)
        return {
            "prompt_tokens": n["input"],
            "completion_tokens": n["output"],
            "total_tokens": n["total"],
            "prompt_tokens_details": {"cached_tokens": n["cached"], "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": n["reasoning"],
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    @staticmethod
    def responses_usage(body: dict[str, Any]) -> dict[str, Any]:
        """The `usage` the fake returns for a Responses API request `body`."""
        items = _responses_items(body)
        prompt = 3 + sum(
            4 + tokens(_text_of(i.get("content") or i.get("output") or i.get("arguments")) or " ")
            for i in items
        )
        if body.get("instructions"):
            prompt += 4 + tokens(body["instructions"])
        if body.get("tools"):
            prompt += tokens(json.dumps(body["tools"]))
        user_text, tool_result, tool = _responses_turn(body)
        if tool is not None:
            answer = tokens(tool_arguments(tool["parameters"], user_text)) + 8
        elif tool_result is not None:
            answer = tokens(answer_after_tool(tool_result))
        else:
            answer = tokens(answer_for(user_text))
        n = _usage_numbers(body.get("model", ""), prompt, answer)
        return {
            "input_tokens": n["input"],
            "output_tokens": n["output"],
            "total_tokens": n["total"],
            "input_tokens_details": {"cached_tokens": n["cached"], "cache_write_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": n["reasoning"]},
        }

    # -- called by the handler threads

    def _next_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"fake{self._ids:06d}"

    def _on_request(self, request: dict[str, Any]) -> tuple[tuple[int, str] | None, float]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            request["status"] = failure[0] if failure else None
            self.requests.append(request)
            return failure, self._delay


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started `FakeOpenAI`, stopped after the test."""
    with FakeOpenAI() as fake:
        yield fake
