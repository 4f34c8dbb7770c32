"""What a demo user writes next: the message of each behaviour, and the reaction to an answer.

The reaction to each outcome is drawn from :data:`heron.demo.model.REACTIONS`; the texts
come from :mod:`heron.demo.phrases` and :mod:`heron.demo.content`.
"""

from __future__ import annotations

import random

from heron.demo import content as C
from heron.demo import phrases as P
from heron.demo.model import REACTIONS
from heron.demo.session import Session


def variants(intent: C.Intent) -> tuple[str, ...]:
    """The ways a user may ask for ``intent``: its paraphrases, then the distant one."""
    distant = P.DISTANT_PARAPHRASES.get(intent.paraphrases[0])
    return intent.paraphrases if distant is None else (*intent.paraphrases, distant)


def retype(rng: random.Random, text: str) -> str:
    """``text`` sent again: often as is (the "try again" button), else retyped with a
    slip: lower case, two letters swapped, or the final punctuation dropped."""
    r = rng.random()
    if r < 0.45:
        return text
    if r < 0.6:
        return text.lower()
    if r < 0.85:
        words = text.split(" ")
        long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if long:
            i = long[rng.randrange(len(long))]
            w = words[i]
            j = rng.randrange(1, len(w) - 2)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
            return " ".join(words)
    return text.rstrip(".?!") + " ??"


def react(rng: random.Random, s: Session, outcome: str, route: str) -> str:
    """How the user's next message reacts to an answer with ``outcome``."""
    options = REACTIONS[outcome]
    weights = [w * (s.user.impatience if b == "frustration" else 1.0) for b, w in options]
    choice = rng.choices([b for b, _ in options], weights)[0]
    if route == "kb-search" and choice == "disagreement":
        return "question"  # nothing to disagree with in a list of articles
    return choice


def message(rng: random.Random, s: Session, mode: str, previous: str) -> str:
    """The user's message for ``mode`` (not "question", which picks a new topic), given the
    previous user message ``previous``; updates the session's paraphrase and follow-up."""
    topic = s.topic.name
    if mode == "retry":
        return retype(rng, previous)
    if mode == "rephrase":
        ways = variants(s.intent)
        distant = len(ways) - 1
        # half the rephrases use the words that share nothing with the question
        if s.paraphrase != distant and len(ways) > len(s.intent.paraphrases) and rng.random() < 0.5:
            s.paraphrase = distant
        else:
            s.paraphrase = (s.paraphrase + 1 + rng.randrange(max(len(ways) - 1, 1))) % len(ways)
        prefix = P.REPHRASE_PREFIXES[rng.randrange(len(P.REPHRASE_PREFIXES))]
        return prefix + ways[s.paraphrase].format_map(s.slots)
    if mode == "disagreement":
        pool = P.DISAGREEMENTS[topic] if rng.random() < 0.7 else P.GENERIC_DISAGREEMENTS
        return pool[rng.randrange(len(pool))].format_map(s.slots)
    if mode == "frustration":
        return P.FRUSTRATION_MESSAGES[rng.randrange(len(P.FRUSTRATION_MESSAGES))]
    if mode == "clarification_reply":
        replies = P.CLARIFY_REPLIES[topic]
        return replies[rng.randrange(len(replies))].format_map(s.slots)
    if mode == "follow_up":
        pairs = P.FOLLOW_UPS[topic]
        s.follow_up = pairs[rng.randrange(len(pairs))]
        return s.follow_up[0]
    if mode == "thanks":
        return P.THANKS_MESSAGES[rng.randrange(len(P.THANKS_MESSAGES))]
    if mode == "escalate":
        return C.ESCALATE_MESSAGES[rng.randrange(len(C.ESCALATE_MESSAGES))]
    raise ValueError(f"no message for mode {mode!r}")
