"""Code evaluators: microseconds per call of each built-in check on realistic texts.

``python bench/checks.py`` runs every check (with typical args) on a 2 KB assistant answer in
prose, a 2 KB JSON answer and an OpenAI-style message list, on one core, and prints the median
of five rounds in µs per call. ``--repeat`` sets the calls per round. The target: a backfill
runs code evaluators at 5,000 traces/s on two cores, so a check on a 2 KB text should take well
under 50 µs (similarity by embedding excepted).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from heron.evals.checks import run_check, validate_args

from _common import machine

PROSE = (
    "Thanks for reaching out about order 48213. I checked your account and the refund of "
    "$129.99 for the blender was approved on 2024-03-01; it usually reaches your card within "
    "5 to 7 business days, depending on your bank. If it has not arrived by March 12, reply "
    "to this message or call our support line and mention case 7731-B. In the meantime, here "
    "is what happened: the courier marked the parcel as delivered at 14:32, but the photo "
    "shows a different door, so we opened an investigation with them. You do not need to "
    "return anything. For future orders, you can pick a delivery window in the app (Settings "
    "> Delivery) and ask for a signature on delivery, which avoids most of these mix-ups. "
)
PROSE = (PROSE * 3)[:2000]
ANSWER = {
    "intent": "refund_status",
    "order_id": "48213",
    "amount": 129.99,
    "currency": "USD",
    "approved": True,
    "steps": [{"n": i, "text": f"Step {i}: check the courier's photo"} for i in range(20)],
}
JSON_TEXT = orjson.dumps(ANSWER).decode()[:2000]
MESSAGES = [
    {"role": "system", "content": "You are a helpful support agent."},
    {"role": "user", "content": "Where is my refund for order 48213?"},
    {"role": "assistant", "content": PROSE},
]
SCHEMA = {
    "type": "object",
    "required": ["intent", "order_id", "approved"],
    "properties": {
        "intent": {"enum": ["refund_status", "cancel", "other"]},
        "order_id": {"type": "string", "pattern": "^[0-9]+$"},
        "amount": {"type": "number", "minimum": 0},
        "approved": {"type": "boolean"},
        "steps": {"type": "array", "items": {"type": "object", "required": ["n", "text"]}},
    },
}

CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("contains any (3 words)", "contains", {"any": ["refund", "money back", "reimburse"]}, {}),
    ("contains all, whole_word", "contains", {"all": ["refund", "card"], "whole_word": True}, {}),
    ("not_contains any", "not_contains", {"any": ["sorry", "unfortunately"]}, {}),
    ("regex", "regex", {"pattern": r"(?i)\bcase \d{4}-[A-Z]\b"}, {}),
    ("max_length chars", "max_length", {"limit": 1500}, {}),
    ("max_length words", "max_length", {"limit": 300, "unit": "words"}, {}),
    ("max_length tokens", "max_length", {"limit": 500, "unit": "tokens"}, {}),
    ("json_valid (prose)", "json_valid", {}, {}),
    ("json_valid (JSON text)", "json_valid", {}, {"text": JSON_TEXT}),
    ("json_schema (JSON text)", "json_schema", {"schema": SCHEMA}, {"text": JSON_TEXT}),
    ("equals", "equals", {}, {"expected": PROSE[:1990] + "different"}),
    ("equals normalize_whitespace", "equals", {"normalize_whitespace": True}, {"expected": PROSE}),
    ("similarity fuzzy", "similarity", {}, {"expected": PROSE[100:] + PROSE[:100]}),
    ("similarity embedding", "similarity", {"method": "embedding"}, {"expected": PROSE[100:]}),
    ("latency_above", "latency_above", {"ms": 5000}, {"latency_ms": 1234.5}),
    ("cost_above", "cost_above", {"usd": 0.01}, {"cost": 0.0042}),
    ("pii (all kinds)", "pii", {}, {}),
    ("pii (JSON text)", "pii", {}, {"text": JSON_TEXT}),
    ("contains on messages", "contains", {"any": ["refund"]}, {"text": MESSAGES}),
]  # fmt: skip


def per_call_us(check: str, args: dict[str, Any], variables: dict[str, Any], n: int) -> float:
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            run_check(check, args, variables)
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    opts = parser.parse_args()
    print(machine())
    print(f"text: {len(PROSE):,} characters of prose; JSON text: {len(JSON_TEXT):,} characters")
    print(f"{'case':<32} {'check':<14} {'µs/call':>8}")
    total = 0.0
    for label, check, args, extra in CASES:
        valid = validate_args(check, args)
        variables = {"text": PROSE, **extra}
        run_check(check, valid, variables)  # warm caches (compiled patterns, the model)
        n = opts.repeat // 10 if "embedding" in label else opts.repeat
        us = per_call_us(check, valid, variables, n)
        if "embedding" not in label:
            total += us
        print(f"{label:<32} {check:<14} {us:>8.1f}")
    print(f"{'all of the above but embedding':<47} {total:>8.1f}")


if __name__ == "__main__":
    main()
