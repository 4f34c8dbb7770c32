"""The span attribute names the SDK sends (all mapped by heron's ingest, see docs/sdk.md) and
the cheap serialisation of values into attribute values."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from heron.model.records import LEVEL_RANK, ObservationType
from heron.sdk.config import Mask

log = logging.getLogger("heron")

# ---- OpenTelemetry GenAI -------------------------------------------------------------------
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
REQUEST_PREFIX = "gen_ai.request."
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
USAGE_INPUT = "gen_ai.usage.input_tokens"
USAGE_OUTPUT = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_WRITE = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
USAGE_TOTAL = "gen_ai.usage.total_tokens"
USAGE_PREFIX = "gen_ai.usage."

# ---- Langfuse (what GenAI lacks) -------------------------------------------------------------
OBS_TYPE = "langfuse.observation.type"
OBS_INPUT = "langfuse.observation.input"
OBS_OUTPUT = "langfuse.observation.output"
OBS_LEVEL = "langfuse.observation.level"
OBS_STATUS = "langfuse.observation.status_message"
OBS_METADATA = "langfuse.observation.metadata."
OBS_COST = "langfuse.observation.cost_details"
OBS_COMPLETION_START = "langfuse.observation.completion_start_time"
OBS_PROMPT_NAME = "langfuse.observation.prompt.name"
OBS_PROMPT_VERSION = "langfuse.observation.prompt.version"
TRACE_NAME = "langfuse.trace.name"
TRACE_TAGS = "langfuse.trace.tags"
TRACE_INPUT = "langfuse.trace.input"
TRACE_OUTPUT = "langfuse.trace.output"
TRACE_PUBLIC = "langfuse.trace.public"
TRACE_METADATA = "langfuse.trace.metadata."
RELEASE = "langfuse.release"
VERSION = "langfuse.version"
ENVIRONMENT = "langfuse.environment"
USER_ID = "user.id"
SESSION_ID = "session.id"

TYPES = frozenset(t.value for t in ObservationType)
LEVELS = frozenset(LEVEL_RANK)

TRUNCATION_PREFIX = "\n…[truncated by heron SDK: "
MASK_FAILED = "<heron: mask failed, value withheld>"

_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_PRIMITIVES = (str, bool, int, float)


def _default(value: Any) -> Any:
    """orjson fallback: pydantic models (OpenAI responses), sets, bytes, then ``str``."""
    dump = getattr(value, "model_dump", None)
    if dump is not None and callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except Exception:
            pass
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def to_json(value: Any) -> str:
    """``value`` as JSON text (never raises: unserialisable parts become ``str(part)``)."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTS).decode()
    except (TypeError, orjson.JSONEncodeError):
        try:
            return orjson.dumps(str(value)).decode()
        except Exception:  # a __str__ that raises
            return '"<unserialisable>"'


def truncate(text: str, cap: int) -> str:
    """Cut ``text`` to at most ``cap`` UTF-8 bytes (on a character boundary) and append a
    marker naming the original size."""
    if len(text) <= cap // 4:  # fast path: cannot exceed the cap even at 4 bytes a char
        return text
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= cap:
        return text
    cut = raw[:cap].decode("utf-8", "ignore")
    return f"{cut}{TRUNCATION_PREFIX}{len(raw):,} bytes, limit {cap:,}]"


def apply_mask(value: Any, mask: Mask | None) -> Any:
    if mask is None:
        return value
    try:
        return mask(value)
    except Exception as exc:
        log.warning("heron: the mask function raised %s; value withheld", type(exc).__name__)
        return MASK_FAILED


def io_value(value: Any, cap: int, mask: Mask | None) -> str:
    """An input / output as an attribute: strings as they are, the rest as JSON; capped."""
    if mask is not None:
        value = apply_mask(value, mask)
    text = value if value.__class__ is str else to_json(value)
    return truncate(text, cap)


def meta_value(value: Any, cap: int) -> Any:
    """A metadata value: primitives as OTel attribute values, the rest as JSON text."""
    if isinstance(value, _PRIMITIVES):
        return truncate(value, cap) if value.__class__ is str else value
    return truncate(to_json(value), cap)


def metadata_attributes(
    prefix: str, metadata: Mapping[str, Any], cap: int, mask: Mask | None
) -> dict[str, Any]:
    """``{prefix + key: value}`` for a metadata mapping (masked as a whole first)."""
    if mask is not None:
        metadata = apply_mask(metadata, mask)
        if not isinstance(metadata, Mapping):
            return {prefix + "masked": meta_value(metadata, cap)}
    return {prefix + str(k): meta_value(v, cap) for k, v in metadata.items() if v is not None}


def iso_time(value: datetime | float | int | str) -> str:
    """A time (aware or naive-UTC datetime, epoch seconds, or ISO text) as ISO 8601 UTC."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---- usage -----------------------------------------------------------------------------------

_USAGE_NAMES = {
    # heron canonical keys
    "input": USAGE_INPUT,
    "output": USAGE_OUTPUT,
    "total": USAGE_TOTAL,
    "cached_input": USAGE_CACHE_READ,
    "cache_write": USAGE_CACHE_WRITE,
    "reasoning": USAGE_REASONING,
    # OpenAI Chat Completions / Responses, Anthropic
    "prompt_tokens": USAGE_INPUT,
    "input_tokens": USAGE_INPUT,
    "completion_tokens": USAGE_OUTPUT,
    "output_tokens": USAGE_OUTPUT,
    "total_tokens": USAGE_TOTAL,
    "cache_read_input_tokens": USAGE_CACHE_READ,
    "cache_creation_input_tokens": USAGE_CACHE_WRITE,
}
_DETAIL_NAMES = {"cached_tokens": USAGE_CACHE_READ, "reasoning_tokens": USAGE_REASONING}


def usage_attributes(usage: Any) -> dict[str, int]:
    """Token usage as ``gen_ai.usage.*`` attributes (counts inclusive, OpenAI style).

    Accepts heron's keys (``input``, ``output``, ``total``, ``cached_input``, ``cache_write``,
    ``reasoning``), OpenAI Chat Completions / Responses usage (dicts or the SDK's objects,
    with ``*_tokens_details``); other integer keys are sent as ``gen_ai.usage.<key>``."""
    if usage is None:
        return {}
    if not isinstance(usage, Mapping):
        dump = getattr(usage, "model_dump", None)
        if dump is None:
            return {}
        usage = dump(exclude_none=True)
    out: dict[str, int] = {}
    for key, v in usage.items():
        if isinstance(v, Mapping):  # prompt_tokens_details, output_tokens_details, ...
            side = "input_" if key.startswith(("prompt", "input")) else "output_"
            for dk, dv in v.items():
                if isinstance(dv, int | float) and not isinstance(dv, bool) and dv:
                    name = _DETAIL_NAMES.get(dk)
                    if name is None:
                        name = USAGE_PREFIX + side + dk.removesuffix("_tokens")
                    out[name] = int(dv)
            continue
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        name = _USAGE_NAMES.get(key)
        if name is None:
            name = USAGE_PREFIX + key
        out.setdefault(name, int(v))
    return out


def cost_attributes(cost: Any) -> dict[str, str]:
    """A client-side cost: a number (USD total) or a map ``{input, output, total, ...}``."""
    if cost is None:
        return {}
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        cost = {"total": float(cost)}
    return {OBS_COST: to_json(dict(cost))}


def params_attributes(params: Mapping[str, Any]) -> dict[str, Any]:
    """Model parameters as ``gen_ai.request.<name>`` (lists of primitives kept, the rest JSON)."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, _PRIMITIVES):
            out[REQUEST_PREFIX + k] = v
        elif isinstance(v, list | tuple) and v and all(isinstance(x, str) for x in v):
            out[REQUEST_PREFIX + k] = list(v)
        else:
            out[REQUEST_PREFIX + k] = to_json(v)
    return out
