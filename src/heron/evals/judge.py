"""LLM-as-a-judge: one rendered prompt in, one validated value with its reasoning out.

A :class:`Judge` talks to one :class:`Connection` (any OpenAI-compatible endpoint, or Azure
OpenAI) through the official ``openai`` async client, with the client's own retries off: the
retry policy lives here, in one place.

Asking for the answer. The prompt is sent as one user message, and the answer requested as
``{"reasoning": ..., "value": ...}`` in the first mode the provider accepts:

1. ``json_schema``: ``response_format`` with a strict JSON schema (structured output);
2. ``tool``: a forced call of a function ``score(reasoning, value)``;
3. ``text``: format instructions appended to the prompt, the answer parsed tolerantly.

A mode is given up when the provider rejects it with a 400/422 whose error names it
(``response_format``/``json_schema`` for the first, ``tools``/``tool_choice``/``function`` for
the second). The mode that worked is remembered per model, so later calls go straight to it.
An answer that is not the requested JSON (a provider that ignores ``response_format``, a model
that writes prose) goes through :func:`parse_answer` whatever the mode.

Failures. 429, 408, 409, 5xx, timeouts and connection errors are retried up to
``max_retries`` times with exponential backoff and jitter; a ``Retry-After`` (seconds or an
HTTP date) or ``retry-after-ms`` header replaces the backoff, capped at ``max_retry_after_s``,
and a 429's wait holds back every call on the connection, not only the one that got it. Other
errors are not retried. At most ``max_concurrency`` calls per connection are in flight; each
attempt is bounded by ``timeout_s``. Every failure is a :class:`JudgeError`;
:class:`FailureTracker` tells a caller when an evaluator has failed often enough in a row to be
paused.

:class:`JudgePool` runs judges on a private event loop thread for synchronous callers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

from heron.evals.answers import (
    DataType,
    JudgeError,
    OutputSpec,
    TemplateError,
    from_object,
    json_schema,
    parse_answer,
    placeholders,
    render,
    validate,
)

if TYPE_CHECKING:  # imported when a judge is called: `heron serve` starts 0.5 s quicker
    import openai

__all__ = [
    "ENVIRONMENT",
    "MODES",
    "Connection",
    "DataType",
    "FailureTracker",
    "Judge",
    "JudgeError",
    "JudgePool",
    "JudgeRequest",
    "Judgement",
    "Mode",
    "OutputSpec",
    "TemplateError",
    "json_schema",
    "make_client",
    "parse_answer",
    "placeholders",
    "render",
    "test_connection",
    "validate",
]

log = logging.getLogger(__name__)

Mode = Literal["json_schema", "tool", "text"]
MODES: tuple[Mode, ...] = ("json_schema", "tool", "text")
Provider = Literal["openai", "azure"]
AZURE_API_VERSION = "2024-10-21"  # the first GA version with structured outputs
TOOL_NAME = "score"
RETRY_STATUSES = frozenset({408, 409, 429})
ENVIRONMENT = "heron-evaluation"  # where the traces of judge calls are recorded

# a 400/422 naming one of these rejects the mode, not the request
_REJECTS: dict[str, re.Pattern[str]] = {
    "json_schema": re.compile(r"response_format|response format|json_schema|structured", re.I),
    "tool": re.compile(r"\btools?\b|tool_choice|tool choice|function", re.I),
}
# ... unless it is about the prompt's size, which no other mode fixes
_NOT_A_REJECTION = re.compile(r"context|too long|maximum .*tokens|token limit", re.I)


def _rejects(mode: Mode, e: JudgeError) -> bool:
    """Whether ``e`` is the provider refusing ``mode`` (so the next mode is worth a try)."""
    pattern = _REJECTS.get(mode)
    return (
        pattern is not None
        and e.kind == "bad_request"
        and e.status in (400, 422)
        and pattern.search(e.message) is not None
        and _NOT_A_REJECTION.search(e.message) is None
    )


@dataclass
class Connection:
    """An LLM provider account. ``provider="azure"``: ``base_url`` is the resource endpoint
    (``https://NAME.openai.azure.com``), ``model`` the deployment, ``api_version`` the API
    version (default :data:`AZURE_API_VERSION`). ``headers`` are sent with every request."""

    name: str
    base_url: str
    api_key: str = field(default="", repr=False)
    model: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    provider: Provider = "openai"
    api_version: str | None = None
    max_concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 4

    def __post_init__(self) -> None:
        if self.provider not in ("openai", "azure"):
            raise ValueError("provider must be 'openai' or 'azure'")
        if self.max_concurrency < 1 or self.timeout_s <= 0 or self.max_retries < 0:
            raise ValueError("max_concurrency >= 1, timeout_s > 0 and max_retries >= 0")

    def key(self) -> tuple[Any, ...]:
        """Every setting, hashable: connections with equal keys can share a judge."""
        return (
            self.name,
            self.base_url,
            self.api_key,
            self.model,
            tuple(sorted(self.headers.items())),
            self.provider,
            self.api_version,
            self.max_concurrency,
            self.timeout_s,
            self.max_retries,
        )


@dataclass
class Judgement:
    """A judge's validated answer and what a caller needs to record the call as a trace:
    ``request`` is the body sent (model, messages, response_format or tools), ``raw`` the
    answer's text or tool arguments, ``usage`` heron's usage keys (``input``, ``output``,
    ``total``, and ``cached_input``/``reasoning`` when reported), ``started_at`` (UTC) and
    ``latency_ms`` span the attempts, retries included (not the wait for a concurrency slot)."""

    value: bool | float | str
    reasoning: str
    mode: Mode
    model: str
    usage: dict[str, int]
    latency_ms: float
    raw: str
    request: dict[str, Any]
    started_at: datetime
    attempts: int = 1

    @property
    def output(self) -> dict[str, Any]:
        return {"reasoning": self.reasoning, "value": self.value}


def make_client(connection: Connection) -> openai.AsyncOpenAI:
    """The async client of a connection, with the client's own retries off. Nothing is read
    from the environment (``OPENAI_API_KEY`` and friends are ignored)."""
    import openai

    common: dict[str, Any] = {
        "api_key": connection.api_key or "none",
        "default_headers": dict(connection.headers) or None,
        "max_retries": 0,
        "timeout": connection.timeout_s,
    }
    if connection.provider == "azure":
        return openai.AsyncAzureOpenAI(
            azure_endpoint=connection.base_url,
            api_version=connection.api_version or AZURE_API_VERSION,
            **common,
        )
    return openai.AsyncOpenAI(base_url=connection.base_url, **common)


# ---------------------------------------------------------------- one HTTP attempt


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _status_error(e: openai.APIStatusError) -> JudgeError:
    status = e.status_code
    body = e.body
    detail = body.get("message") if isinstance(body, dict) else None
    param = body.get("param") if isinstance(body, dict) else None
    text = str(detail or e.message)
    if param and str(param) not in text:
        text = f"{text} (param: {param})"
    headers = e.response.headers
    if status == 429:
        kind, retryable = "rate_limited", True
    elif status >= 500:
        kind, retryable = "server", True
    elif status in (401, 403):
        kind, retryable = "auth", False
    elif status == 404:
        kind, retryable = "not_found", False
    elif status in RETRY_STATUSES:
        kind, retryable = "server", True
    else:
        kind, retryable = "bad_request", False
    should = (headers.get("x-should-retry") or "").lower()
    if should in ("true", "false"):
        retryable = should == "true"
    return JudgeError(
        kind, f"{status}: {text}", retryable, status, retry_after=_retry_after(headers)
    )


async def _post(client: openai.AsyncOpenAI, body: dict[str, Any], timeout_s: float) -> Any:
    """One chat completion call: the parsed JSON answer, or a :class:`JudgeError`."""
    import openai

    try:
        async with asyncio.timeout(timeout_s):
            return await client.post("/chat/completions", body=body, cast_to=object)
    except openai.APIStatusError as e:
        raise _status_error(e) from e
    except (openai.APITimeoutError, TimeoutError) as e:
        raise JudgeError("timeout", f"no answer within {timeout_s:g} s", True) from e
    except openai.APIConnectionError as e:
        cause = e.__cause__ or e
        raise JudgeError("unreachable", f"cannot connect: {cause}", True) from e


# ---------------------------------------------------------------- requests and answers


def _request(mode: Mode, model: str, prompt: str, output: OutputSpec) -> dict[str, Any]:
    schema = json_schema(output)
    if mode == "text":
        prompt = (
            f"{prompt}\n\nAnswer with a JSON object and nothing else, reasoning first: "
            f'{{"reasoning": "<your step-by-step reasoning>", "value": <{output.describe()}>}}'
        )
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if mode == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": TOOL_NAME, "strict": True, "schema": schema},
        }
    elif mode == "tool":
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": TOOL_NAME,
                    "description": "Record the evaluation: the reasoning first, then the value.",
                    "parameters": schema,
                    "strict": True,
                },
            }
        ]
        body["tool_choice"] = {"type": "function", "function": {"name": TOOL_NAME}}
    return body


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(
            p.get("text", "") if isinstance(p, dict) else str(p) for p in content if p is not None
        )
    return ""


def _usage(data: Mapping[str, Any]) -> dict[str, int]:
    u = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    out: dict[str, int] = {}
    for ours, theirs in (("input", "prompt_tokens"), ("output", "completion_tokens")):
        if isinstance(u.get(theirs), int):
            out[ours] = u[theirs]
    if isinstance(u.get("total_tokens"), int):
        out["total"] = u["total_tokens"]
    elif out:
        out["total"] = out.get("input", 0) + out.get("output", 0)
    cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens")
    if isinstance(cached, int) and cached:
        out["cached_input"] = cached
    reasoning = (u.get("completion_tokens_details") or {}).get("reasoning_tokens")
    if isinstance(reasoning, int) and reasoning:
        out["reasoning"] = reasoning
    return out


def _read(data: Any, mode: Mode, spec: OutputSpec) -> tuple[bool | float | str, str, str]:
    """(value, reasoning, raw) of a chat completion answer."""
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise JudgeError("invalid", f"not a chat completion: {str(data)[:200]!r}") from None
    if message.get("refusal"):
        raise JudgeError("invalid", f"the model refused: {message['refusal']}")
    raw = _content_text(message.get("content"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        if function.get("name") == TOOL_NAME or mode == "tool":
            raw = function.get("arguments") or ""
            break
    if raw.lstrip().startswith("{"):
        try:
            obj = orjson.loads(raw)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            got = from_object(obj, spec, raw)
            if got is not None:
                return got[0], got[1], raw
    value, reasoning = parse_answer(raw, spec)
    return value, reasoning, raw


# ---------------------------------------------------------------- the judge


class Judge:
    """Judges through one connection. Use it from one event loop (its concurrency limit is an
    asyncio semaphore); :class:`JudgePool` does that for threads.

    ``base_delay_s`` and ``max_delay_s`` shape the exponential backoff (full jitter between
    half and all of ``base * 2**attempt``); ``max_retry_after_s`` caps a provider's wait."""

    def __init__(
        self,
        connection: Connection,
        *,
        base_delay_s: float = 0.5,
        max_delay_s: float = 8.0,
        max_retry_after_s: float = 60.0,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self.connection = connection
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.max_retry_after_s = max_retry_after_s
        self._client = client or make_client(connection)
        self._slots = asyncio.Semaphore(connection.max_concurrency)
        self._modes: dict[str, Mode] = {}
        self._not_before = 0.0  # loop time before which no call starts (after a 429)

    def mode_for(self, model: str | None = None) -> Mode:
        """The mode the next call for ``model`` starts with."""
        return self._modes.get(model or self.connection.model, "json_schema")

    async def judge(self, prompt: str, output: OutputSpec, model: str | None = None) -> Judgement:
        """Ask the model to judge ``prompt`` (already rendered); see the module docstring."""
        model = model or self.connection.model
        if not model:
            raise JudgeError("bad_request", f"connection {self.connection.name!r} has no model")
        mode = self._modes.get(model, "json_schema")
        while True:
            body = _request(mode, model, prompt, output)
            try:
                data, started, started_at, attempts = await self._send(body)
            except JudgeError as e:
                e.request, e.mode = body, mode
                if _rejects(mode, e):
                    mode = MODES[MODES.index(mode) + 1]
                    log.info("%s: %s; trying %s", self.connection.name, e, mode)
                    continue
                raise
            self._modes[model] = mode  # remembered once the provider accepted it
            latency_ms = (time.perf_counter() - started) * 1000
            answered = str(data.get("model") or model) if isinstance(data, dict) else model
            usage = _usage(data) if isinstance(data, dict) else {}
            try:
                value, reasoning, raw = _read(data, mode, output)
            except JudgeError as e:
                e.attempts, e.request, e.mode, e.model = attempts, body, mode, answered
                e.usage, e.started_at, e.latency_ms = usage, started_at, latency_ms
                raise
            return Judgement(
                value=value,
                reasoning=reasoning,
                mode=mode,
                model=answered,
                usage=usage,
                latency_ms=latency_ms,
                raw=raw,
                request=body,
                started_at=started_at,
                attempts=attempts,
            )

    async def _send(self, body: dict[str, Any]) -> tuple[Any, float, datetime, int]:
        """(answer, perf_counter and UTC time at the first attempt, attempts), with retries."""
        c = self.connection
        loop = asyncio.get_running_loop()
        started: float | None = None
        started_at = datetime.now(UTC)
        attempt = 0
        while True:
            async with self._slots:
                wait = self._not_before - loop.time()
                if wait > 0:  # another call got a 429: hold back (keeping the slot)
                    await asyncio.sleep(wait)
                if started is None:
                    started, started_at = time.perf_counter(), datetime.now(UTC)
                attempt += 1
                try:
                    data = await _post(self._client, body, c.timeout_s)
                    return data, started, started_at, attempt
                except JudgeError as e:
                    error = e
            error.attempts = attempt
            if not error.retryable or attempt > c.max_retries:
                if error.retryable and attempt > 1:
                    error.message = f"{error.message} (after {attempt} attempts)"
                    error.args = (error.message,)
                raise error
            delay = self._delay(attempt, error.retry_after)
            if error.kind == "rate_limited":
                self._not_before = max(self._not_before, loop.time() + delay)
            await asyncio.sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)

    async def aclose(self) -> None:
        await self._client.close()


async def test_connection(connection: Connection) -> tuple[bool, str]:
    """One tiny completion, no retries: (True, what answered) or (False, what failed, in words
    a person can act on: authentication, not found, unreachable, timeout, ...)."""
    model = connection.model
    if not model:
        return False, "no model: set the connection's default model (Azure: the deployment)"
    client = make_client(connection)
    body = {"model": model, "messages": [{"role": "user", "content": "Reply with the word OK."}]}
    started = time.perf_counter()
    try:
        data = await _post(client, body, min(connection.timeout_s, 30.0))
    except JudgeError as e:
        hints = {
            "auth": "authentication failed: check the API key",
            "not_found": f"not found: check the base URL and the model or deployment {model!r}",
            "unreachable": f"unreachable: nothing answers at {connection.base_url}",
            "timeout": "timed out",
            "rate_limited": "rate limited or out of quota",
            "server": "the provider failed",
            "bad_request": "the provider rejected the request",
        }
        return False, f"{hints.get(e.kind, e.kind)} ({e.message})"
    finally:
        await client.close()
    ms = (time.perf_counter() - started) * 1000
    answered = data.get("model") if isinstance(data, dict) else None
    return True, f"{answered or model} answered in {ms:.0f} ms"


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


# ---------------------------------------------------------------- synchronous callers


@dataclass(frozen=True)
class JudgeRequest:
    connection: Connection = field(hash=False)
    prompt: str
    output: OutputSpec
    model: str | None = None


class JudgePool:
    """Judges on a private event loop thread, for synchronous code (a runner's worker).

    One :class:`Judge` per distinct connection (same settings, same judge), so each
    connection's concurrency limit holds across every request submitted; a connection whose
    settings changed gets a fresh judge. ``judge_options`` go to each :class:`Judge`."""

    def __init__(self, **judge_options: Any) -> None:
        self._options = judge_options
        self._judges: dict[tuple[Any, ...], Judge] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="heron-judge")
        self._thread.daemon = True
        self._thread.start()
        self._closed = False

    def judge_for(self, connection: Connection) -> Judge:
        key = connection.key()
        with self._lock:
            judge = self._judges.get(key)
            if judge is None:
                judge = self._judges[key] = Judge(connection, **self._options)
            return judge

    def submit(
        self, connection: Connection, prompt: str, output: OutputSpec, model: str | None = None
    ) -> concurrent.futures.Future[Judgement]:
        """Start a judgement; the future's result is a :class:`Judgement` or it raises
        :class:`JudgeError`."""
        if self._closed:
            raise RuntimeError("the JudgePool is closed")
        judge = self.judge_for(connection)
        return asyncio.run_coroutine_threadsafe(judge.judge(prompt, output, model), self._loop)

    def judge_many(
        self, requests: Iterable[JudgeRequest], timeout: float | None = None
    ) -> list[Judgement | JudgeError]:
        """Run ``requests`` concurrently (within each connection's limit) and wait for all, at
        most ``timeout`` seconds in total: one :class:`Judgement` or :class:`JudgeError` per
        request, in order (unfinished ones are cancelled and reported as ``timeout``). An
        unexpected exception becomes an ``internal`` error (and is logged) instead of losing
        the batch."""
        futures = [self.submit(r.connection, r.prompt, r.output, r.model) for r in requests]
        deadline = None if timeout is None else time.monotonic() + timeout
        results: list[Judgement | JudgeError] = []
        for future in futures:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results.append(future.result(left))
            except JudgeError as e:
                results.append(e)
            except concurrent.futures.TimeoutError:
                future.cancel()
                results.append(JudgeError("timeout", "the judgement did not finish in time", True))
            except Exception as e:
                log.exception("judge failed")
                results.append(JudgeError("internal", f"{type(e).__name__}: {e}"))
        return results

    def close(self) -> None:
        """Close the clients and stop the loop thread; pending judgements are cancelled."""
        if self._closed:
            return
        self._closed = True

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for judge in self._judges.values():
                await judge.aclose()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def __enter__(self) -> JudgePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FailureTracker:
    """Consecutive failures per evaluator, to pause one whose provider keeps failing.

    ``record(evaluator, result)`` after each judgement (errors arrive after the judge's own
    retries): a success resets the count; the ``threshold``-th failure in a row returns that
    :class:`JudgeError`, the reason to show beside the paused evaluator. A caller that pauses
    calls ``reset`` when the evaluator is resumed. Thread-safe."""

    def __init__(self, threshold: int = 5) -> None:
        if threshold < 1:
            raise ValueError("threshold >= 1")
        self.threshold = threshold
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, evaluator: str, result: Judgement | BaseException) -> JudgeError | None:
        with self._lock:
            if isinstance(result, Judgement):
                self._counts.pop(evaluator, None)
                return None
            count = self._counts[evaluator] = self._counts.get(evaluator, 0) + 1
        if count < self.threshold:
            return None
        if isinstance(result, JudgeError):
            return result
        return JudgeError("internal", f"{type(result).__name__}: {result}")

    def failures(self, evaluator: str) -> int:
        with self._lock:
            return self._counts.get(evaluator, 0)

    def reset(self, evaluator: str) -> None:
        with self._lock:
            self._counts.pop(evaluator, None)
