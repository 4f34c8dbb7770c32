"""Writes labelled.jsonl: conversations combined from the hand-written material in
scenarios.py and reactions.py, each with the detections a careful reader would expect.

Run from the repository root: python tests/feedback/data/build_labelled.py (deterministic).
Each line: {"id", "domain", "pattern", "ended", "turns": [{"user", "answer", "level", "t",
"latency_ms"}], "labels": [{"turn", "name"}]}; ``t`` is seconds from the first turn, ``ended``
says the session is past its idle timeout when judged.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from reactions import (
    APOLOGY,
    BOTH,
    DISAGREE,
    ENTHUSIASM,
    FACTUAL,
    FRUSTRATED,
    NEUTRAL,
    OFF_TOPIC,
    OPEN_QUESTIONS,
    POLITE,
    REFUSALS,
    THANKS,
)
from scenarios import SCENARIOS

COUNT = 400


def typo(rng: random.Random, text: str) -> str:
    """The same request typed again: a dropped or swapped letter, case changed, punctuation lost."""
    chars = list(text)
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(1, len(chars) - 2)
        if rng.random() < 0.5:
            del chars[i]
        else:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    out = "".join(chars)
    if rng.random() < 0.5:
        out = out.lower()
    if rng.random() < 0.5:
        out = out.rstrip("?.!")
    return out


def t(user, answer, level=None, latency=1200.0):
    return {"user": user, "answer": answer, "level": level, "latency_ms": latency}


def patterns(rng: random.Random, s: tuple, other: tuple):
    _, q, a, rq, fu, fa, clar, reply, corr = s
    pick = rng.choice
    anything = " Anything else I can help with?"
    return {
        "retry_error": ([t(q, None, "ERROR"), t(typo(rng, q), a)], [(0, "implicit_retry")]),
        "retry_empty": ([t(q, ""), t(q, a)], [(0, "implicit_retry")]),
        "retry_slow": ([t(q, a, latency=48000.0), t(typo(rng, q), a)], [(0, "implicit_retry")]),
        "retry_regenerate": ([t(q, a), t(q, a)], [(0, "implicit_retry")]),
        "retry_abandon": (
            [t(q, None, "ERROR"), t(typo(rng, q), None, "ERROR")],
            [(0, "implicit_retry"), (1, "implicit_abandonment")],
        ),
        "rephrase_refusal": ([t(q, pick(REFUSALS)), t(rq, a)], [(0, "implicit_rephrase")]),
        "rephrase_offtopic": ([t(q, pick(OFF_TOPIC)), t(rq, a)], [(0, "implicit_rephrase")]),
        "rephrase_error": ([t(q, None, "ERROR"), t(rq, a)], [(0, "implicit_rephrase")]),
        "follow_up": ([t(q, a), t(fu, fa)], []),
        "follow_up_after_refusal": ([t(q, pick(REFUSALS)), t(fu, fa)], []),
        "clarify": ([t(q, clar), t(reply, a)], []),
        "clarify_abandon": ([t(q, clar)], [(0, "implicit_abandonment")]),
        "disagree": ([t(q, a), t(pick(DISAGREE), pick(APOLOGY))], [(0, "implicit_disagreement")]),
        "correction": ([t(q, a), t(corr, pick(APOLOGY))], [(0, "implicit_disagreement")]),
        "frustration": (
            [t(q, pick(REFUSALS)), t(pick(FRUSTRATED), pick(APOLOGY))],
            [(0, "implicit_frustration")],
        ),
        "frustration_after_answer": (
            [t(q, a), t(fu, fa), t(pick(FRUSTRATED), pick(APOLOGY))],
            [(1, "implicit_frustration")],
        ),
        "both": (
            [t(q, a), t(pick(BOTH), pick(APOLOGY))],
            [(0, "implicit_disagreement"), (0, "implicit_frustration")],
        ),
        "disagree_factual": (
            [t(q, a), t(pick(FACTUAL), pick(APOLOGY))],
            [(0, "implicit_disagreement")],
        ),
        "neutral_reply": ([t(q, a), t(*pick(NEUTRAL))], []),
        "enthusiasm": ([t(q, a), t(*pick(ENTHUSIASM))], []),
        "polite_no": ([t(q, a + anything), t(*pick(POLITE))], []),
        "abandon_error": ([t(q, a), t(fu, None, "ERROR")], [(1, "implicit_abandonment")]),
        "abandon_refusal": ([t(q, pick(REFUSALS))], [(0, "implicit_abandonment")]),
        "abandon_question": (
            [t(q, a), t(fu, pick(OPEN_QUESTIONS))],
            [(1, "implicit_abandonment")],
        ),
        "good_end": ([t(q, a)], []),
        "thanks_end": ([t(q, a), t(pick(THANKS), "You're welcome!" + anything)], []),
        "still_open": ([t(q, None, "ERROR")], []),
        "long_mix": (
            [t(q, a), t(fu, fa), t(pick(DISAGREE), pick(APOLOGY)), t(pick(THANKS), "Anytime!")],
            [(1, "implicit_disagreement")],
        ),
        "topic_switch": ([t(q, a), t(other[1], other[2])], []),
        "topic_switch_after_refusal": ([t(q, pick(REFUSALS)), t(other[1], other[2])], []),
    }


GAPS = {  # seconds between turns, by what the user does next
    "retry": (4, 90),
    "rephrase": (8, 150),
    "other": (15, 400),
}


def build() -> list[dict]:
    rng = random.Random(13)
    combos = []
    names = list(patterns(rng, SCENARIOS[0], SCENARIOS[1]))
    for i in range(len(SCENARIOS)):
        for name in names:
            combos.append((i, name))
    rng.shuffle(combos)
    # every pattern at least 8 times, the rest at random
    chosen, seen = [], {n: 0 for n in names}
    for i, name in combos:
        if seen[name] < 8:
            chosen.append((i, name))
            seen[name] += 1
    rest = [c for c in combos if c not in chosen]
    chosen += rest[: COUNT - len(chosen)]
    rows = []
    for k, (i, name) in enumerate(chosen):
        s = SCENARIOS[i]
        other = SCENARIOS[(i + rng.randrange(5, 20)) % len(SCENARIOS)]
        turns, labels = patterns(rng, s, other)[name]
        kind = name.split("_")[0]
        lo, hi = GAPS.get(kind, GAPS["other"])
        clock = 0.0
        for j, turn in enumerate(turns):
            turn["t"] = clock
            clock += rng.uniform(lo, hi) if j == 0 else rng.uniform(*GAPS["other"])
        ended = name.startswith(("abandon", "clarify_abandon", "good_end", "thanks_end"))
        ended = ended or (name != "still_open" and rng.random() < 0.6)
        if name == "retry_abandon":
            ended = True
        rows.append(
            {
                "id": f"L{k:03d}",
                "domain": s[0],
                "pattern": name,
                "ended": ended,
                "turns": turns,
                "labels": [{"turn": ti, "name": n} for ti, n in labels],
            }
        )
    return rows


def main() -> None:
    out = Path(__file__).parent / "labelled.jsonl"
    rows = build()
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{len(rows)} conversations -> {out}")


if __name__ == "__main__":
    main()
