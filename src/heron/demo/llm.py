"""Model catalogue and the simulation of one LLM call: latency, tokens, failures and retries."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from heron.demo.model import (
    INCIDENT_ERROR_RATE,
    INCIDENT_RETRY_FAIL_RATE,
    KIND_LLM,
    RETRY_FAIL_RATE,
    SLOW_CALL_RATE,
    DemoSpan,
    DemoTrace,
)

MS = 1000  # microseconds per millisecond
LLM_CALL_CAP_MS = 30_000.0
CLIENT_TIMEOUT_MS = 20_000.0


@dataclass(frozen=True, slots=True)
class ModelSpec:
    provider: str  # gen_ai.provider.name
    response_model: str  # what the API reports back (dated snapshot)
    ttft_ms: float  # median time to first token
    ms_per_token: float  # median decode time per output token
    server: str


MODELS: dict[str, ModelSpec] = {
    "gpt-4o-mini": ModelSpec("openai", "gpt-4o-mini-2024-07-18", 380, 11, "api.openai.com"),
    "gpt-4o": ModelSpec("openai", "gpt-4o-2024-08-06", 520, 17, "api.openai.com"),
    "o4-mini": ModelSpec("openai", "o4-mini-2025-04-16", 900, 8, "api.openai.com"),
    "claude-3-5-sonnet-20241022": ModelSpec(
        "anthropic", "claude-3-5-sonnet-20241022", 750, 15, "api.anthropic.com"
    ),
    "claude-sonnet-4-5": ModelSpec(
        "anthropic", "claude-sonnet-4-5-20250929", 850, 14, "api.anthropic.com"
    ),
    "gemini-2.0-flash": ModelSpec(
        "gcp.gemini", "gemini-2.0-flash-001", 320, 5, "generativelanguage.googleapis.com"
    ),
    "llama-3.1-8b-instruct": ModelSpec(
        "vllm", "meta-llama/Llama-3.1-8B-Instruct", 180, 9, "vllm.internal.acme.cloud"
    ),
    "text-embedding-3-small": ModelSpec(
        "openai", "text-embedding-3-small", 60, 0, "api.openai.com"
    ),
}

RATE_LIMIT_ERRORS: dict[str, tuple[str, str]] = {
    "openai": (
        "openai.RateLimitError",
        "Error code: 429 - Rate limit reached for {model} in organization org-acme on tokens "
        "per min (TPM): Limit 2000000, Used 1998734, Requested 1912. Please try again in 57ms.",
    ),
    "anthropic": (
        "anthropic.RateLimitError",
        "Error code: 429 - rate_limit_error: This request would exceed the rate limit for "
        "your organization of 400,000 input tokens per minute.",
    ),
    "gcp.gemini": (
        "google.genai.errors.ClientError",
        "429 RESOURCE_EXHAUSTED. Resource has been exhausted (e.g. check quota).",
    ),
    "vllm": (
        "openai.RateLimitError",
        "Error code: 429 - The server is at capacity: too many pending requests.",
    ),
}
TIMEOUT_ERRORS: dict[str, tuple[str, str]] = {
    "openai": ("openai.APITimeoutError", "Request timed out."),
    "anthropic": ("anthropic.APITimeoutError", "Request timed out."),
    "gcp.gemini": ("httpx.ReadTimeout", "The read operation timed out"),
    "vllm": ("openai.APITimeoutError", "Request timed out."),
}
FORMAT_ERROR = (
    "acme.assist.OutputValidationError",
    "Model output failed validation: tool call arguments are not valid JSON.",
)

# formatted per model once
_RATE_LIMIT_MESSAGES: dict[str, tuple[str, str]] = {}


def rate_limit_error(model: str, provider: str) -> tuple[str, str]:
    found = _RATE_LIMIT_MESSAGES.get(model)
    if found is None:
        etype, msg = RATE_LIMIT_ERRORS[provider]
        found = _RATE_LIMIT_MESSAGES[model] = (etype, msg.replace("{model}", model))
    return found


def tokens(text: str) -> int:
    """Rough token count (about four characters a token)."""
    return len(text) // 4 + 1


class Ids:
    """Deterministic ids from the shared random generator."""

    __slots__ = ("rng",)

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def span(self) -> bytes:
        return (self.rng.getrandbits(64) | 1).to_bytes(8, "big")

    def trace(self) -> bytes:
        return (self.rng.getrandbits(128) | 1).to_bytes(16, "big")

    def hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"


class CallSim:
    """Simulates LLM calls into DemoSpans: one span per attempt, a retry after a failure."""

    def __init__(self, rng: random.Random, ids: Ids, incident: tuple[int, int] | None) -> None:
        self.rng = rng
        self.ids = ids
        self.incident = incident

    def duration_ms(self, tr: DemoTrace, spec: ModelSpec, n_in: int, n_out: int, factor: float):
        """(total, ttft) in ms for one successful call."""
        rng = self.rng
        ttft = spec.ttft_ms * math.exp(rng.gauss(0.0, 0.3)) + n_in * 0.04
        total = ttft + n_out * spec.ms_per_token * math.exp(rng.gauss(0.0, 0.2))
        if rng.random() < SLOW_CALL_RATE:
            slow = rng.uniform(3.0, 7.0)
            total *= slow
            ttft *= slow
            tr.slow = True
        total = min(total * factor, LLM_CALL_CAP_MS)
        return total, min(ttft * factor, total * 0.9)

    def response_id(self, provider: str) -> str | None:
        if provider == "anthropic":
            return "msg_01" + self.ids.hex(96)
        if provider == "gcp.gemini":
            return None
        return "chatcmpl-" + self.ids.hex(96)

    def call(
        self,
        tr: DemoTrace,
        parent: bytes,
        name: str,
        model: str,
        t: int,
        *,
        system: str,
        messages: list[tuple[Any, ...]],
        n_in: int,
        output_text: str | None = None,
        tool_call: tuple[str, str, dict[str, Any]] | None = None,
        n_out: int,
        stream: bool,
        error_rate: float,
        format_error_rate: float = 0.0,
        factor: float = 1.0,
        cached: int = 0,
        reasoning: int = 0,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        prompt: tuple[str, int] | None = None,
    ) -> tuple[int, bool]:
        """Appends the attempt spans to ``tr.spans``; returns (end time, succeeded)."""
        rng = self.rng
        spec = MODELS[model]
        inc = self.incident
        in_incident = inc is not None and inc[0] <= t < inc[1] and spec.provider == "openai"
        if in_incident:
            tr.in_incident = True
        p_fail = INCIDENT_ERROR_RATE if in_incident else error_rate
        base = dict(
            model=model,
            provider=spec.provider,
            system=system,
            messages=messages,
            temperature=temperature,
            max_tokens=max_tokens,
            prompt_name=prompt[0] if prompt else None,
            prompt_version=prompt[1] if prompt else None,
        )
        fails = 0
        gave_up = False
        kind = ""
        if rng.random() < p_fail:
            fails = 1
            retry_fail = INCIDENT_RETRY_FAIL_RATE if in_incident else RETRY_FAIL_RATE
            if rng.random() < retry_fail:
                fails, gave_up = 2, True
            if not in_incident and rng.random() * p_fail < format_error_rate:
                kind = "format"
            elif in_incident or rng.random() < 0.65:
                kind = "rate_limit"
            else:
                kind = "timeout"
        end = t
        for _ in range(fails):
            tr.llm_calls += 1
            tr.llm_errors += 1
            span = DemoSpan(self.ids.span(), parent, name, KIND_LLM, t, t, **base)
            if kind == "rate_limit":
                span.error_type, span.status_message = rate_limit_error(model, spec.provider)
                dur = rng.uniform(80, 400)
                backoff = rng.uniform(500, 3000)
            elif kind == "timeout":
                span.error_type, span.status_message = TIMEOUT_ERRORS[spec.provider]
                dur = CLIENT_TIMEOUT_MS + rng.uniform(0, 300)
                backoff = rng.uniform(200, 1000)
            else:
                span.error_type, span.status_message = FORMAT_ERROR
                dur, _ = self.duration_ms(tr, spec, n_in, n_out, factor)
                span.input_tokens, span.output_tokens = n_in, n_out
                span.response_model = spec.response_model
                backoff = rng.uniform(5, 30)
            end = span.end_us = t + int(dur * MS)
            tr.spans.append(span)
            t = end + int(backoff * MS)
        if gave_up:
            return end, False
        tr.llm_calls += 1
        span = DemoSpan(self.ids.span(), parent, name, KIND_LLM, t, t, **base)
        dur, ttft = self.duration_ms(tr, spec, n_in, n_out, factor)
        span.end_us = t + int(dur * MS)
        span.response_model = spec.response_model
        span.response_id = self.response_id(spec.provider)
        span.input_tokens = n_in
        span.output_tokens = n_out + reasoning
        span.cached_tokens = cached
        span.reasoning_tokens = reasoning
        span.output_text = output_text
        span.output_tool_call = tool_call
        span.finish_reason = "tool_calls" if tool_call else "stop"
        if stream:
            span.ttft_us = int(ttft * MS)
        tr.spans.append(span)
        return span.end_us, True


def lat_us(rng: random.Random, median_ms: float, sigma: float, lo_ms: float, hi_ms: float) -> int:
    """A log-normal latency in microseconds, clamped to [lo_ms, hi_ms]."""
    v = median_ms * math.exp(rng.gauss(0.0, sigma))
    return int(min(max(v, lo_ms), hi_ms) * MS)
