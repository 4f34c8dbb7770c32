"""What a demo user writes next: the message of each behaviour, and the reaction to an answer.

The reaction to each outcome is drawn from :data:`heron.demo.model.REACTIONS`; the texts
come from :mod:`heron.demo.phrases` and :mod:`heron.demo.content`.
"""

from __future__ import annotations

import random

from heron.demo import content as C
from heron.demo import phrases as P
from heron.demo.model import REACTIONS, DemoTrace
from heron.demo.session import Session


def variants(intent: C.Intent) -> tuple[str, ...]:
    """The ways a user may ask for ``intent``: its paraphrases, then the distant one."""
    distant = P.DISTANT_PARAPHRASES.get(intent.paraphrases[0])
    return intent.paraphrases if distant is None else (*intent.paraphrases, distant)


def retype(rng: random.Random, text: str) -> str:
    """``text`` sent again: often as is (the "try again" button), else retyped with a
    slip: lower case, two letters swapped, or the final punctuation replaced by " ??"."""
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


def react(rng: random.Random, s: Session, tr: DemoTrace) -> str:
    """How the user's next message reacts to the answer of ``tr``."""
    options = REACTIONS[tr.outcome]
    weights = [w * (s.user.impatience if b == "frustration" else 1.0) for b, w in options]
    choice = rng.choices([b for b, _ in options], weights)[0]
    if tr.route == "kb-search" and choice == "disagreement":
        return "question"  # nothing to disagree with in a list of articles
    if tr.behaviour == "thanks" and choice in ("thanks", "follow_up"):
        return "question"  # after thanks, something new
    if choice == "follow_up" and not _unasked_follow_ups(s):
        return "question"  # a follow-up asked twice would read as a retry
    return choice


def _unasked_follow_ups(s: Session) -> list[tuple[str, str]]:
    """The topic's follow-up questions not yet asked in the session."""
    return [f for f in P.FOLLOW_UPS[s.topic.name] if f[0] not in s.asked]


def message(rng: random.Random, s: Session, mode: str, previous: str) -> str:
    """The user's message for ``mode`` (not "question", which picks a new topic), given the
    previous user message ``previous``; updates the session's paraphrase and follow-up."""
    topic = s.topic.name
    if mode == "retry":
        return retype(rng, previous)
    if mode == "rephrase":
        ways = variants(s.intent)
        distant = len(ways) - 1
        unused = [i for i in range(len(ways)) if ways[i].format_map(s.slots) not in s.asked]
        unused = [i for i in unused if i != s.paraphrase] or [
            i for i in range(len(ways)) if i != s.paraphrase
        ]
        # half the rephrases use the words that share nothing with the question
        if distant in unused and rng.random() < 0.5:
            s.paraphrase = distant
        else:
            s.paraphrase = unused[rng.randrange(len(unused))]
        prefix = P.REPHRASE_PREFIXES[rng.randrange(len(P.REPHRASE_PREFIXES))]
        return prefix + ways[s.paraphrase].format_map(s.slots)
    if mode == "disagreement":
        pool = P.DISAGREEMENTS[topic] if rng.random() < 0.7 else P.GENERIC_DISAGREEMENTS
        return pool[rng.randrange(len(pool))].format_map(s.slots)
    if mode == "frustration":
        return P.FRUSTRATION_MESSAGES[rng.randrange(len(P.FRUSTRATION_MESSAGES))]
    if mode == "clarification_reply":
        return _fresh(rng, s, P.CLARIFY_REPLIES[topic])
    if mode == "follow_up":
        pairs = _unasked_follow_ups(s)
        s.follow_up = pairs[rng.randrange(len(pairs))]
        s.asked.add(s.follow_up[0])
        return s.follow_up[0]
    if mode == "thanks":
        return _fresh(rng, s, P.THANKS_MESSAGES)
    if mode == "escalate":
        return _fresh(rng, s, C.ESCALATE_MESSAGES)
    raise ValueError(f"no message for mode {mode!r}")


def _fresh(rng: random.Random, s: Session, options: tuple[str, ...]) -> str:
    """One of ``options`` (filled with the session's slots) the user has not sent yet in the
    session, if any: a message sent twice would read as a retry."""
    texts = [o.format_map(s.slots) for o in options]
    fresh = [t for t in texts if t not in s.asked] or texts
    return fresh[rng.randrange(len(fresh))]
