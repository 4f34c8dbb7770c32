"""Token usage and client cost normalisation into heron's canonical keys.

Canonical usage keys (token counts, ``int``):

* ``input``: ALL input tokens, including tokens read from and written to a cache
* ``cached_input``: the part of ``input`` read from a cache
* ``cache_write``: the part of ``input`` written to a cache
* ``output``: ALL output tokens, including reasoning tokens
* ``reasoning``: the part of ``output`` spent on reasoning
* ``total``: ``input + output`` (computed when the client sent none)

Any other key (``input_audio``, ``output_audio``, ...) is kept; it is informational and never
summed again. Costs (USD, ``float``) use the same keys.

Conventions differ: OpenTelemetry GenAI and OpenInference counts are inclusive (OpenAI style:
``input`` already contains cached tokens); Langfuse ``usage_details`` maps are additive
(``input`` excludes ``input_cached_tokens`` etc.; Anthropic's raw usage likewise). Additive
parts are summed back into ``input`` / ``output`` here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heron.ingest.values import as_float, as_int

Usage = dict[str, int]
Cost = dict[str, float]

# ---- OpenTelemetry GenAI: gen_ai.usage.<suffix> ------------------------------------------------

_GENAI_USAGE = {
    "input_tokens": "input",
    "prompt_tokens": "input",  # deprecated name
    "output_tokens": "output",
    "completion_tokens": "output",  # deprecated name
    "total_tokens": "total",
    "cache_read.input_tokens": "cached_input",
    "cache_read_input_tokens": "cached_input",  # pre-2025 spelling
    "cache_creation.input_tokens": "cache_write",
    "cache_creation_input_tokens": "cache_write",
    "reasoning.output_tokens": "reasoning",
    "reasoning_tokens": "reasoning",
}

# ---- OpenInference: llm.token_count.<suffix> and llm.cost.<suffix> -----------------------------

_OPENINFERENCE = {
    "prompt": "input",
    "completion": "output",
    "total": "total",
    "prompt_details.cache_read": "cached_input",
    "prompt_details.cache_input": "cached_input",  # older synonym; cache_read wins
    "prompt_details.cache_write": "cache_write",
    "prompt_details.audio": "input_audio",
    "completion_details.reasoning": "reasoning",
    "completion_details.audio": "output_audio",
}


def _collect(
    group: list[tuple[str, Any]],
    names: dict[str, str],
    conv: Callable[[Any], Any],
    rename_unknown: Callable[[str], str],
    bad: dict[str, Any],
    prefix: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for suffix, raw in group:
        n = raw if raw.__class__ is int else conv(raw)
        if n is None:
            bad[prefix + suffix] = raw
            continue
        key = names.get(suffix)
        if key is None:
            key = rename_unknown(suffix)
        # first spelling wins (attribute order), except that cache_read beats cache_input
        if key not in out or suffix == "prompt_details.cache_read":
            out[key] = n
    return out


def _genai_rename(suffix: str) -> str:
    # gen_ai.usage.<modality>.input_tokens / .output_tokens -> input_<modality> / output_<...>
    head, sep, tail = suffix.rpartition(".")
    if sep:
        if tail == "input_tokens":
            return "input_" + head
        if tail == "output_tokens":
            return "output_" + head
    return suffix


def _openinference_rename(suffix: str) -> str:
    # llm.token_count.prompt_details.<x> -> input_<x>; completion_details.<x> -> output_<x>
    if suffix.startswith("prompt_details."):
        return "input_" + suffix[15:]
    if suffix.startswith("completion_details."):
        return "output_" + suffix[19:]
    return suffix


def genai_usage(group: list[tuple[str, Any]], bad: dict[str, Any]) -> Usage:
    """``gen_ai.usage.*`` (suffix -> raw value) -> canonical usage (inclusive counts).

    Values that are not numbers are put in ``bad`` under their full attribute key."""
    u = _collect(group, _GENAI_USAGE, as_int, _genai_rename, bad, "gen_ai.usage.")
    return finish_inclusive(u)


def openinference_usage(group: list[tuple[str, Any]], bad: dict[str, Any]) -> Usage:
    """``llm.token_count.*`` (suffix -> raw value) -> canonical usage (inclusive counts)."""
    u = _collect(group, _OPENINFERENCE, as_int, _openinference_rename, bad, "llm.token_count.")
    return finish_inclusive(u)


def openinference_cost(group: list[tuple[str, Any]], bad: dict[str, Any]) -> Cost:
    """``llm.cost.*`` (suffix -> raw value) -> canonical cost (prompt cost includes cache)."""
    c = _collect(group, _OPENINFERENCE, as_float, _openinference_rename, bad, "llm.cost.")
    return finish_inclusive(c)


def finish_inclusive(u: dict[str, Any]) -> dict[str, Any]:
    """Complete inclusive counts: sub-counts larger than their total mean the sender used
    additive counts after all (e.g. Anthropic's raw ``input_tokens``), so they are added."""
    if not u:
        return u
    inp = u.get("input")
    parts = u.get("cached_input", 0) + u.get("cache_write", 0)
    if inp is None:
        if parts:
            u["input"] = parts
    elif parts > inp:
        u["input"] = inp + parts
    out = u.get("output")
    reasoning = u.get("reasoning", 0)
    if out is None:
        if reasoning:
            u["output"] = reasoning
    elif reasoning > out:
        u["output"] = out + reasoning
    _total(u)
    return u


def _total(u: dict[str, Any]) -> None:
    if "total" not in u and ("input" in u or "output" in u):
        u["total"] = u.get("input", 0) + u.get("output", 0)


# ---- Langfuse: langfuse.observation.usage_details / cost_details (JSON maps) -------------------

_OPENAI_DETAIL_NAMES = {
    "cached_tokens": "cached_input",
    "reasoning_tokens": "reasoning",
}

_LF_CACHED = frozenset(
    {
        "input_cached_tokens",
        "input_cache_read",
        "input_cache_read_tokens",
        "input_cached",
        "cache_read_input_tokens",
    }
)
_LF_REASONING = frozenset({"output_reasoning_tokens", "output_reasoning"})


def langfuse_usage(d: dict[str, Any]) -> Usage:
    """A Langfuse ``usage_details`` map -> canonical usage.

    Accepts the three shapes Langfuse accepts: OpenAI Chat Completions usage
    (``prompt_tokens``, ``*_tokens_details``), OpenAI Responses usage (``input_tokens``,
    ``input_tokens_details``) - both inclusive -, and Langfuse's own additive map (``input``,
    ``output``, ``input_cached_tokens``, ``output_reasoning_tokens``, ...). Anthropic's raw usage
    (``input_tokens`` + ``cache_read_input_tokens``) is additive too.
    """
    if (
        "prompt_tokens" in d
        or "completion_tokens" in d
        or "prompt_tokens_details" in d
        or "completion_tokens_details" in d
    ):
        return _openai_usage(d, "prompt_tokens", "completion_tokens")
    if "input_tokens" in d or "output_tokens" in d:
        if (
            "input_tokens_details" not in d
            and "output_tokens_details" not in d
            and ("cache_read_input_tokens" in d or "cache_creation_input_tokens" in d)
        ):
            return _anthropic_usage(d)
        return _openai_usage(d, "input_tokens", "output_tokens")
    return additive(d, as_int)


def langfuse_cost(d: dict[str, Any]) -> Cost:
    """A Langfuse ``cost_details`` map (additive, like usage_details) -> canonical cost."""
    return additive(d, as_float)


def _strip_tokens(name: str) -> str:
    return name[:-7] if name.endswith("_tokens") else name


def _openai_usage(d: dict[str, Any], in_key: str, out_key: str) -> Usage:
    u: Usage = {}
    consumed = {in_key, out_key, "total_tokens"}
    n = as_int(d.get(in_key))
    if n is not None:
        u["input"] = n
    n = as_int(d.get(out_key))
    if n is not None:
        u["output"] = n
    n = as_int(d.get("total_tokens"))
    if n is not None:
        u["total"] = n
    for details_key, side in (
        (in_key + "_details", "input_"),
        (out_key + "_details", "output_"),
    ):
        consumed.add(details_key)
        details = d.get(details_key)
        if not isinstance(details, dict):
            continue
        for k, v in details.items():
            n = as_int(v)
            if n is None:
                continue
            name = _OPENAI_DETAIL_NAMES.get(k) or side + _strip_tokens(k)
            u[name] = n
    for k, v in d.items():
        if k not in consumed:
            n = as_int(v)
            if n is not None:
                u.setdefault(k, n)
    return finish_inclusive(u)


def _anthropic_usage(d: dict[str, Any]) -> Usage:
    u: Usage = {}
    base = as_int(d.get("input_tokens"))
    read = as_int(d.get("cache_read_input_tokens"))
    write = as_int(d.get("cache_creation_input_tokens"))
    u["input"] = (base or 0) + (read or 0) + (write or 0)
    if read is not None:
        u["cached_input"] = read
    if write is not None:
        u["cache_write"] = write
    n = as_int(d.get("output_tokens"))
    if n is not None:
        u["output"] = n
    consumed = {
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    }
    for k, v in d.items():
        if k not in consumed:
            n = as_int(v)
            if n is not None:
                u.setdefault("total" if k == "total_tokens" else k, n)
    _total(u)
    return u


def additive(d: dict[str, Any], conv: Callable[[Any], Any]) -> dict[str, Any]:
    """Langfuse's additive map: every ``input_*`` key is a part of the input not counted in
    ``input``, every ``output_*`` key likewise. Sum them back into inclusive counts."""
    out: dict[str, Any] = {}
    inp = conv(d.get("input"))
    outp = conv(d.get("output"))
    total = conv(d.get("total"))
    in_extra = 0
    out_extra = 0
    cached = None
    cache_write = None
    reasoning = None
    for k, v in d.items():
        if k == "input" or k == "output" or k == "total":
            continue
        n = conv(v)
        if n is None:
            continue
        if k in _LF_CACHED:
            cached = (cached or 0) + n
            in_extra += n
        elif (
            k.startswith("input_cache_creation")
            or k.startswith("input_cache_write")
            or k == "cache_creation_input_tokens"
        ):
            cache_write = (cache_write or 0) + n
            in_extra += n
        elif k in _LF_REASONING:
            reasoning = (reasoning or 0) + n
            out_extra += n
        elif k.startswith("input_"):
            in_extra += n
            out[k] = n
        elif k.startswith("output_"):
            out_extra += n
            out[k] = n
        else:
            out[k] = n
    if inp is not None or in_extra:
        out["input"] = (inp or 0) + in_extra
    if outp is not None or out_extra:
        out["output"] = (outp or 0) + out_extra
    if cached is not None:
        out["cached_input"] = cached
    if cache_write is not None:
        out["cache_write"] = cache_write
    if reasoning is not None:
        out["reasoning"] = reasoning
    if total is not None:
        out["total"] = total
    else:
        _total(out)
    return out
