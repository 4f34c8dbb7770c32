"""Token-derived cost: the built-in table, matching, history, tiers and the arithmetic."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from heron.cost import PriceBook, PriceEntry, PriceEntryError, PriceTier, load_builtin_prices
from heron.userregex import RegexSet

M = 1e-6  # prices below are written per million tokens, as providers publish them


def us(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()) * 1_000_000


NOW = us(2026, 11, 15, 12)


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook(load_builtin_prices())


def entry(**over) -> PriceEntry:
    data = {
        "id": "custom-1",
        "model_name": "my-model",
        "match_pattern": "(?i)^my-model$",
        "prices": {"input": 1 * M, "output": 2 * M},
    }
    data.update(over)
    return PriceEntry.from_dict(data, source="project")


# ---------------------------------------------------------------- the built-in table


def test_builtin_table_is_valid_and_large_enough():
    entries = load_builtin_prices()
    assert len(entries) >= 80
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))
    for e in entries:
        assert e.source == "builtin"
        assert e.match_pattern.startswith("(?i)^") and e.match_pattern.endswith("$"), e.id
        assert "input" in e.prices or "total" in e.prices, e.id
        assert PriceEntry.from_dict(e.to_dict()) == e
    providers = {e.provider for e in entries}
    assert {"openai", "anthropic", "google", "mistral", "deepseek", "together"} <= providers


def test_load_builtin_prices_is_cached_but_returns_fresh_lists():
    a, b = load_builtin_prices(), load_builtin_prices()
    assert a == b and a is not b
    assert a[0] is b[0]


def test_builtin_patterns_mean_under_re2_what_they_meant_under_python_re():
    """The table was written for Python's re; RE2 must agree on every model name it knows
    (and on variants), except that RE2's $ does not match before a trailing newline."""
    entries = load_builtin_prices()
    names = {e.model_name for e in entries}
    variants = {
        v
        for n in names
        for v in (n, n.upper(), f"openai/{n}", f"{n}-latest", f"{n}-001", f" {n}", f"{n}x")
    }
    variants |= {f"gemini-2.5-flash-preview-{d}" for d in ("04-17", "05-20", "06-17", "04-1712")}
    for e in entries:
        python = re.compile(e.match_pattern, re.ASCII)
        for model in variants:
            assert e.matches(model) == (python.search(model) is not None), (e.id, model)
    one_pass = RegexSet([e._regex for e in entries])  # what PriceBook runs
    for model in variants:
        assert one_pass.matching(model) == [i for i, e in enumerate(entries) if e.matches(model)]


def test_gemini_flash_previews_keep_their_own_price():
    # the lookahead that used to keep these out of gemini-2.5-flash is spelled out for RE2
    assert families_matching("gemini-2.5-flash-preview-04-17") == {"gemini-2.5-flash-preview-04-17"}
    assert families_matching("models/gemini-2.5-flash-preview-05-20") == {
        "gemini-2.5-flash-preview-04-17"
    }
    assert families_matching("gemini-2.5-flash-preview-09-2025") == {"gemini-2.5-flash"}


def families_matching(model: str) -> set[str]:
    return {e.model_name for e in load_builtin_prices() if e.matches(model)}


def test_every_entry_matches_its_own_model_name_and_no_other_family():
    for e in load_builtin_prices():
        assert families_matching(e.model_name) == {e.model_name}, e.id


# (model id as clients send it, family it must be priced as)
REALISTIC_IDS = [
    ("gpt-4o", "gpt-4o"),
    ("openai/gpt-4o", "gpt-4o"),
    ("GPT-4o", "gpt-4o"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
    ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
    ("gpt-4o-2024-11-20", "gpt-4o-2024-08-06"),
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o-audio-preview-2024-12-17", "gpt-4o-audio-preview"),
    ("gpt-4o-mini-audio-preview", "gpt-4o-mini-audio-preview"),
    ("gpt-4.1", "gpt-4.1"),
    ("gpt-4.1-2025-04-14", "gpt-4.1"),
    ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
    ("gpt-4.1-nano", "gpt-4.1-nano"),
    ("gpt-4.5-preview-2025-02-27", "gpt-4.5-preview"),
    ("o1", "o1"),
    ("o1-2024-12-17", "o1"),
    ("o1-preview", "o1"),
    ("o1-mini-2024-09-12", "o1-mini"),
    ("o1-pro", "o1-pro"),
    ("o3", "o3"),
    ("o3-2025-04-16", "o3"),
    ("o3-mini-2025-01-31", "o3-mini"),
    ("o3-pro-2025-06-10", "o3-pro"),
    ("o4-mini-2025-04-16", "o4-mini"),
    ("gpt-5", "gpt-5"),
    ("gpt-5-2025-08-07", "gpt-5"),
    ("gpt-5-chat-latest", "gpt-5"),
    ("gpt-5-codex", "gpt-5"),
    ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
    ("gpt-5-nano", "gpt-5-nano"),
    ("gpt-5-pro", "gpt-5-pro"),
    ("gpt-5.1", "gpt-5.1"),
    ("gpt-5.1-codex-mini", "gpt-5.1-codex-mini"),
    ("gpt-5.2", "gpt-5.2"),
    ("gpt-5.2-pro", "gpt-5.2-pro"),
    ("gpt-5.4-mini", "gpt-5.4-mini"),
    ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
    ("gpt-4-1106-preview", "gpt-4-turbo"),
    ("gpt-4-0613", "gpt-4"),
    ("gpt-4-32k", "gpt-4-32k"),
    ("gpt-3.5-turbo", "gpt-3.5-turbo"),
    ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ("gpt-3.5-turbo-1106", "gpt-3.5-turbo-1106"),
    ("gpt-3.5-turbo-instruct", "gpt-3.5-turbo-instruct"),
    ("text-embedding-3-small", "text-embedding-3-small"),
    ("text-embedding-3-large", "text-embedding-3-large"),
    ("text-embedding-ada-002", "text-embedding-ada-002"),
    ("claude-3-haiku-20240307", "claude-3-haiku"),
    ("claude-3-opus-20240229", "claude-3-opus"),
    ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet"),
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
    ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
    ("anthropic/claude-3.5-sonnet", "claude-3-5-sonnet"),
    ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude-sonnet-4-0", "claude-sonnet-4"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
    ("claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
    ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
    ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
    ("claude-sonnet-5", "claude-sonnet-5"),
    ("claude-sonnet-5-5", "claude-sonnet-5-5"),
    ("claude-opus-4-20250514", "claude-opus-4"),
    ("claude-opus-4-1-20250805", "claude-opus-4-1"),
    ("claude-opus-4-5-20251101", "claude-opus-4-5"),
    ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ("claude-haiku-4-5", "claude-haiku-4-5"),
    ("gemini-1.5-flash-002", "gemini-1.5-flash"),
    ("gemini-1.5-flash-8b", "gemini-1.5-flash-8b"),
    ("gemini-1.5-pro-latest", "gemini-1.5-pro"),
    ("gemini-2.0-flash", "gemini-2.0-flash"),
    ("models/gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("gemini-2.0-flash-lite-001", "gemini-2.0-flash-lite"),
    ("gemini-2.5-pro", "gemini-2.5-pro"),
    ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro"),
    ("gemini-2.5-flash", "gemini-2.5-flash"),
    ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
    ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash-preview-04-17"),
    ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
    ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
    ("gemini-3-pro-preview", "gemini-3-pro"),
    ("google/gemini-2.5-flash", "gemini-2.5-flash"),
    ("mistral-large-latest", "mistral-large-latest"),
    ("mistral-large-2411", "mistral-large-2411"),
    ("mistral-medium-2505", "mistral-medium-2505"),
    ("mistral-small-latest", "mistral-small-latest"),
    ("codestral-2501", "codestral-latest"),
    ("ministral-8b-latest", "ministral-8b-latest"),
    ("mistral-embed", "mistral-embed"),
    ("open-mistral-nemo", "open-mistral-nemo"),
    ("meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "llama-3.1-8b-instruct"),
    ("llama-3.1-8b-instant", "llama-3.1-8b-instruct"),
    ("accounts/fireworks/models/llama-v3p1-70b-instruct", "llama-3.1-70b-instruct"),
    ("meta.llama3-1-405b-instruct-v1:0", "llama-3.1-405b-instruct"),
    ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "llama-3.3-70b-instruct"),
    ("llama-3.3-70b-versatile", "llama-3.3-70b-instruct"),
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "llama-4-maverick"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b-instruct"),
    ("open-mixtral-8x22b", "mixtral-8x22b-instruct"),
    ("Qwen/Qwen2.5-72B-Instruct-Turbo", "qwen2.5-72b-instruct"),
    ("Qwen/Qwen2.5-7B-Instruct-Turbo", "qwen2.5-7b-instruct"),
    ("Qwen/Qwen3-235B-A22B-fp8-tput", "qwen3-235b-a22b"),
    ("qwen-plus", "qwen-plus"),
    ("deepseek-ai/DeepSeek-V3", "deepseek-v3"),
    ("deepseek-ai/DeepSeek-R1", "deepseek-r1"),
    ("deepseek-chat", "deepseek-chat"),
    ("deepseek/deepseek-reasoner", "deepseek-reasoner"),
]


@pytest.mark.parametrize(("model", "family"), REALISTIC_IDS)
def test_realistic_model_ids_match_exactly_one_family(model, family):
    assert families_matching(model) == {family}


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-mini-2024-07-18-ft",  # fine-tunes are not priced as the base model
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",
        "gpt-4o-audio-preview-2024-10-01",  # older, dearer audio prices: not guessed
        "mistral-medium-latest",  # the alias moved to a differently priced model
        "gpt-4o-realtime-preview",
        "claude-2.1",
        "claude-sonnet-4-5-extra",
        "gemini-2.0-flash-thinking-exp-01-21",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "llama-3.1-nemotron-70b-instruct",
        "my-own-model",
        "",
    ],
)
def test_other_ids_are_not_priced(model):
    assert families_matching(model) == set()


# ---------------------------------------------------------------- arithmetic


def test_openai_cached_input(book):
    # gpt-4o-mini: input $0.15, cached $0.075, output $0.60 per 1M
    cost = book.cost(
        "gpt-4o-mini-2024-07-18", {"input": 1000, "cached_input": 400, "output": 500}, NOW
    )
    assert cost == pytest.approx(
        {
            "input": 600 * 0.15 * M,  # 1000 - 400 uncached = 9.0e-5
            "cached_input": 400 * 0.075 * M,  # 3.0e-5
            "output": 500 * 0.60 * M,  # 3.0e-4
            "total": 600 * 0.15 * M + 400 * 0.075 * M + 500 * 0.60 * M,  # 4.2e-4
        }
    )
    assert cost["total"] == pytest.approx(4.2e-4)


def test_reasoning_defaults_to_output_price(book):
    # o3 after 2025-06-10: input $2, output $8; reasoning tokens are billed as output
    cost = book.cost("o3", {"input": 2000, "output": 1500, "reasoning": 1000}, NOW)
    assert cost == pytest.approx(
        {
            "input": 2000 * 2 * M,  # 0.004
            "output": 500 * 8 * M,  # visible part: 0.004
            "reasoning": 1000 * 8 * M,  # 0.008
            "total": 0.016,
        }
    )


def test_reasoning_with_its_own_price(book):
    # gemini-2.5-flash preview: output $0.60 without thinking, $3.50 for thinking tokens
    cost = book.cost(
        "gemini-2.5-flash-preview-04-17", {"input": 100, "output": 1000, "reasoning": 800}, NOW
    )
    assert cost["output"] == pytest.approx(200 * 0.60 * M)  # 1.2e-4
    assert cost["reasoning"] == pytest.approx(800 * 3.50 * M)  # 2.8e-3
    assert cost["total"] == pytest.approx(100 * 0.15 * M + 1.2e-4 + 2.8e-3)  # 2.935e-3


def test_anthropic_cache_read_and_write_on_bedrock_id(book):
    # claude 3.5 sonnet: input $3, cache write $3.75, cache read $0.30, output $15
    usage = {"input": 10_000, "cached_input": 6_000, "cache_write": 2_000, "output": 1_000}
    cost = book.cost("anthropic.claude-3-5-sonnet-20241022-v2:0", usage, NOW)
    assert cost == pytest.approx(
        {
            "input": 2_000 * 3 * M,  # 10000 - 6000 - 2000 = 2000 uncached: 0.006
            "cached_input": 6_000 * 0.30 * M,  # 0.0018
            "cache_write": 2_000 * 3.75 * M,  # 0.0075
            "output": 1_000 * 15 * M,  # 0.015
            "total": 0.006 + 0.0018 + 0.0075 + 0.015,  # 0.0303
        }
    )


def test_long_context_tier(book):
    # claude sonnet 4.5 over 200k input tokens: input $6, cache read $0.60, output $22.50
    usage = {"input": 250_000, "cached_input": 50_000, "output": 2_000}
    cost = book.cost("claude-sonnet-4-5-20250929", usage, NOW)
    assert cost == pytest.approx(
        {
            "input": 200_000 * 6 * M,  # 1.2
            "cached_input": 50_000 * 0.60 * M,  # 0.03
            "output": 2_000 * 22.5 * M,  # 0.045
            "total": 1.275,
        }
    )
    # exactly 200k is not "over": default prices ($3 / $15)
    at_limit = book.cost("claude-sonnet-4-5", {"input": 200_000, "output": 1_000}, NOW)
    assert at_limit["total"] == pytest.approx(200_000 * 3 * M + 1_000 * 15 * M)  # 0.615


def test_gemini_pro_tier(book):
    # gemini 2.5 pro: $1.25 / $10 up to 200k prompt tokens, $2.50 / $15 above
    small = book.cost("gemini-2.5-pro", {"input": 100_000, "output": 10_000}, NOW)
    big = book.cost("gemini-2.5-pro", {"input": 300_000, "output": 10_000}, NOW)
    assert small["total"] == pytest.approx(100_000 * 1.25 * M + 10_000 * 10 * M)  # 0.225
    assert big["total"] == pytest.approx(300_000 * 2.5 * M + 10_000 * 15 * M)  # 0.9


def test_audio_subsets_priced_separately(book):
    # gpt-4o-audio-preview: text $2.50 / $10, audio $40 in / $80 out
    usage = {"input": 1000, "input_audio": 600, "output": 300, "output_audio": 200}
    cost = book.cost("gpt-4o-audio-preview", usage, NOW)
    assert cost == pytest.approx(
        {
            "input": 400 * 2.5 * M,  # text part of the input: 0.001
            "input_audio": 600 * 40 * M,  # 0.024
            "output": 100 * 10 * M,  # 0.001
            "output_audio": 200 * 80 * M,  # 0.016
            "total": 0.042,
        }
    )


def test_unpriced_subset_stays_at_text_price(book):
    # gpt-4o-mini has no audio price: the audio tokens are charged as ordinary input
    cost = book.cost("gpt-4o-mini", {"input": 1000, "input_audio": 600, "output": 0}, NOW)
    assert cost == pytest.approx({"input": 1000 * 0.15 * M, "output": 0.0, "total": 1.5e-4})


def test_subsets_larger_than_the_total_never_go_negative(book):
    cost = book.cost("gpt-4o-mini", {"input": 100, "cached_input": 400, "output": 10}, NOW)
    assert cost["input"] == 0.0
    assert cost["cached_input"] == pytest.approx(400 * 0.075 * M)
    assert cost["total"] == pytest.approx(400 * 0.075 * M + 10 * 0.6 * M)
    assert all(v >= 0 for v in cost.values())


def test_embedding_input_only(book):
    cost = book.cost("text-embedding-3-small", {"input": 1000, "total": 1000}, NOW)
    assert cost == pytest.approx({"input": 1000 * 0.02 * M, "output": 0.0, "total": 2e-5})


def test_zero_usage_costs_zero(book):
    assert book.cost("gpt-4o", {"input": 0, "output": 0}, NOW) == {
        "input": 0.0,
        "output": 0.0,
        "total": 0.0,
    }


def test_total_only_usage():
    per_total = entry(prices={"total": 0.5 * M})
    text = entry(id="custom-2", match_pattern="^text-model$", model_name="text-model")
    b = PriceBook([], [per_total, text])
    assert b.cost("my-model", {"total": 4000}, NOW) == pytest.approx({"total": 4000 * 0.5 * M})
    # an entry with only a total price prices input + output together
    assert b.cost("my-model", {"input": 1000, "output": 1000}, NOW) == pytest.approx(
        {"total": 2000 * 0.5 * M}
    )
    # no total price for a total-only usage: no cost
    assert b.cost("text-model", {"total": 4000}, NOW) is None


def test_extra_priced_unit_is_added():
    e = entry(prices={"input": 1 * M, "output": 2 * M, "web_search": 0.01})
    cost = PriceBook([], [e]).cost("my-model", {"input": 10, "output": 5, "web_search": 2}, NOW)
    assert cost == pytest.approx(
        {"input": 10 * M, "output": 10 * M, "web_search": 0.02, "total": 0.02 + 20 * M}
    )


# ---------------------------------------------------------------- choosing the entry


def test_gpt4o_alias_price_drop(book):
    usage = {"input": 1_000_000, "output": 1_000_000}
    before = book.cost("gpt-4o", usage, us(2024, 10, 1, 23, 59, 59))
    after = book.cost("gpt-4o", usage, us(2024, 10, 2))
    assert before["total"] == pytest.approx(5 + 15)  # $5 in + $15 out per 1M
    assert after["total"] == pytest.approx(2.5 + 10)
    assert book.find("gpt-4o", us(2024, 9, 1)).id == "openai-gpt-4o"
    assert book.find("gpt-4o", us(2025, 1, 1)).id == "openai-gpt-4o-2024-10-02"


def test_o3_price_cut_and_deepseek_history(book):
    usage = {"input": 1_000_000, "output": 1_000_000}
    assert book.cost("o3", usage, us(2025, 6, 9))["total"] == pytest.approx(10 + 40)
    assert book.cost("o3", usage, us(2025, 6, 10))["total"] == pytest.approx(2 + 8)
    ds = {"input": 1_000_000, "cached_input": 500_000, "output": 1_000_000}
    # V3 prices: 0.5M miss * $0.27 + 0.5M hit * $0.07 + 1M * $1.10
    assert book.cost("deepseek-chat", ds, us(2025, 3, 1))["total"] == pytest.approx(
        0.135 + 0.035 + 1.10
    )
    # 2025-09-05: $0.56 miss, $0.07 hit, $1.68 out
    assert book.cost("deepseek-chat", ds, us(2025, 9, 10))["total"] == pytest.approx(
        0.28 + 0.035 + 1.68
    )
    # 2025-09-29 (V3.2): $0.28 miss, $0.028 hit, $0.42 out
    assert book.cost("deepseek-chat", ds, NOW)["total"] == pytest.approx(0.14 + 0.014 + 0.42)


def test_custom_entry_wins_over_builtin(book):
    mine = PriceEntry.from_dict(
        {
            "id": "my-gpt-4o",
            "model_name": "gpt-4o",
            "match_pattern": "(?i)^(openai/)?gpt-4o$",
            "prices": {"input": 1 * M, "output": 1 * M},
        },
        source="project",
    )
    b = PriceBook(load_builtin_prices(), [mine])
    # no start date (oldest) but custom: still wins over the newer built-in entry
    assert b.find("gpt-4o", NOW) is mine
    assert b.cost("gpt-4o", {"input": 1000, "output": 1000}, NOW)["total"] == pytest.approx(
        2000 * M
    )
    # other models still use the built-in table
    assert b.find("gpt-4o-mini", NOW).id == "openai-gpt-4o-mini"


def test_custom_entry_with_future_start_date_applies_from_then(book):
    mine = entry(
        id="cheaper-later",
        model_name="gpt-4o",
        match_pattern="^gpt-4o$",
        start_date="2027-01-01",
    )
    b = PriceBook(load_builtin_prices(), [mine])
    assert b.find("gpt-4o", NOW).source == "builtin"
    assert b.find("gpt-4o", us(2027, 1, 1)) is mine


def test_newest_start_date_wins_within_custom():
    old = entry(id="a", start_date="2025-01-01", prices={"input": 1 * M})
    new = entry(id="b", start_date="2026-01-01", prices={"input": 2 * M})
    b = PriceBook([], [new, old])
    assert b.find("my-model", us(2024, 12, 31)) is None
    assert b.find("my-model", us(2025, 6, 1)) is old
    assert b.find("my-model", us(2026, 1, 1)) is new


def test_unknown_model_and_missing_usage_give_none(book):
    assert book.cost("no-such-model", {"input": 10, "output": 10}, NOW) is None
    assert book.find("no-such-model", NOW) is None
    assert book.cost(None, {"input": 10}, NOW) is None
    assert book.cost("", {"input": 10}, NOW) is None
    assert book.cost("gpt-4o", {}, NOW) is None
    assert book.cost("gpt-4o", {"cached_input": 5}, NOW) is None  # nothing canonical to price
    assert book.cost("gpt-4o", {"total": 100}, NOW) is None  # no total price for gpt-4o


def test_caches_are_bounded():
    b = PriceBook(load_builtin_prices(), cache_size=16)
    for i in range(200):
        b.find(f"model-{i}", NOW)
        b.find("gpt-4o", NOW + i * 86_400_000_000)
    assert len(b._candidates) <= 16
    assert len(b._chosen) <= 16
    assert b.find("gpt-4o", NOW).id == "openai-gpt-4o-2024-10-02"


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"match_pattern": "gpt-(4o"}, "not a supported regular expression"),
        ({"match_pattern": "gpt-(?!mini)"}, "lookahead"),
        ({"match_pattern": "x" * 1001}, "at most 1000"),
        ({"prices": {"input": -1e-6}}, "negative"),
        ({"prices": {"input": 2.5}}, "not per million"),
        ({"prices": {}}, "at least one"),
        ({"prices": {"input": True}}, "finite number"),
        ({"prices": {"input": float("nan")}}, "finite number"),
        ({"prices": {"Input Tokens": 1e-6}}, "not a usage key"),
        ({"prices": [1e-6]}, "must be an object"),
        ({"colour": "blue"}, "unknown field"),
        ({"start_date": "2024-13-01"}, "YYYY-MM-DD"),
        ({"start_date": 20240101}, "YYYY-MM-DD"),
        ({"unit": "CHARACTERS"}, "not supported"),
        ({"id": ""}, "'id'"),
        ({"id": "has space"}, "'id'"),
        ({"model_name": ""}, "model_name"),
        ({"provider": 3}, "provider"),
        ({"tiers": {"name": "x"}}, "must be a list"),
        (
            {"tiers": [{"name": "t", "condition": {"usage_key": "input"}, "prices": {"input": 0}}]},
            "exactly the fields",
        ),
        (
            {
                "tiers": [
                    {
                        "name": "t",
                        "condition": {"usage_key": "input", "operator": "=>", "value": 1},
                        "prices": {"input": 1e-6},
                    }
                ]
            },
            "operator",
        ),
        (
            {
                "tiers": [
                    {
                        "name": "t",
                        "condition": {"usage_key": "input", "operator": ">", "value": 1},
                        "prices": {"input": -1},
                    }
                ]
            },
            "negative",
        ),
    ],
)
def test_from_dict_rejects_bad_entries(change, message):
    with pytest.raises(PriceEntryError, match=message):
        entry(**change)


def test_from_dict_missing_fields_and_non_object():
    with pytest.raises(PriceEntryError, match="missing"):
        PriceEntry.from_dict({"id": "x", "model_name": "x", "match_pattern": "x"})
    with pytest.raises(PriceEntryError, match="JSON object"):
        PriceEntry.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]
    assert issubclass(PriceEntryError, ValueError)


def test_round_trip_with_tiers_and_source():
    data = {
        "id": "proj-gemini",
        "model_name": "gemini-2.5-pro",
        "match_pattern": "(?i)^gemini-2\\.5-pro$",
        "start_date": "2026-01-01",
        "unit": "TOKENS",
        "prices": {"input": 1e-6, "output": 8e-6},
        "tiers": [
            {
                "name": "long",
                "condition": {"usage_key": "input", "operator": ">=", "value": 100000},
                "prices": {"input": 2e-6, "output": 1.2e-5},
            }
        ],
        "provider": "google",
        "source": "builtin",  # ignored: the caller says where the entry comes from
    }
    e = PriceEntry.from_dict(data, source="project")
    assert e.source == "project"
    assert e.start_date == date(2026, 1, 1)
    assert e.tiers == (PriceTier("long", "input", ">=", 100000, {"input": 2e-6, "output": 1.2e-5}),)
    assert e.to_dict() == {**data, "source": "project"}
    assert PriceEntry.from_dict(e.to_dict(), source="project") == e
    assert len({e, PriceEntry.from_dict(e.to_dict(), source="project")}) == 1  # hashable
    assert e.cost({"input": 100_000, "output": 0})["total"] == pytest.approx(0.2)
    with pytest.raises(TypeError):
        e.prices["input"] = 0  # type: ignore[index]


def test_computed_costs_are_bounded_like_client_costs():
    """The highest price a project may set times the most tokens a span may carry stays
    within the cost bound, so no sum of stored costs can overflow or become infinite."""
    from heron.ingest.decoding import apply_costs
    from heron.ingest.limits import MAX_COST_USD, MAX_TOKENS
    from heron.model.records import ObservationRecord

    dear = entry(prices={"input": 0.99, "output": 0.99})
    record = ObservationRecord(
        project_id="p",
        id="a" * 16,
        trace_id="b" * 32,
        parent_id=None,
        type="generation",
        name="x",
        start_us=NOW,
        model="my-model",
        usage={"input": MAX_TOKENS, "output": MAX_TOKENS},
    )
    notes: list[str] = []
    apply_costs([record], PriceBook([], [dear]), notes)
    assert record.cost is not None
    assert set(record.cost.values()) == {MAX_COST_USD}
    assert any("over" in n for n in notes)
