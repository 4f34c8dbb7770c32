"""The users' behaviour the demo plants (implicit feedback and what is not), its ground truth
and how its rates depend on prompt version, release and model (no server needed)."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache

from heron.demo import (
    NEGATIVE_BEHAVIOURS,
    SIGNALS,
    DemoConfig,
    generate,
    iter_traces,
    labels_of,
    planted_labels,
)
from heron.demo import content as C
from heron.demo import phrases as P
from heron.demo.behaviour import variants
from heron.demo.otlp import attributes_dict

END_US = 1_760_000_000_000_000
STOP = frozenset(
    (
        "a",
        "an",
        "the",
        "i",
        "i'm",
        "i've",
        "my",
        "me",
        "we",
        "we're",
        "our",
        "us",
        "you",
        "your",
        "it",
        "it's",
        "its",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "do",
        "does",
        "did",
        "doesn't",
        "don't",
        "didn't",
        "can",
        "can't",
        "could",
        "to",
        "of",
        "for",
        "in",
        "on",
        "at",
        "by",
        "with",
        "from",
        "as",
        "and",
        "or",
        "but",
        "not",
        "no",
        "so",
        "this",
        "that",
        "there",
        "there's",
        "what",
        "what's",
        "why",
        "how",
        "when",
        "where",
        "which",
        "who",
        "after",
        "about",
        "any",
        "all",
        "some",
        "every",
        "same",
        "even",
        "still",
        "up",
        "out",
        "into",
        "over",
        "than",
        "then",
        "too",
        "just",
        "also",
        "please",
        "help",
        "get",
        "got",
        "have",
        "has",
        "had",
        "let",
        "let's",
        "one",
    )
)


def cfg(**kw) -> DemoConfig:
    kw.setdefault("end_us", END_US)
    return DemoConfig(**kw)


@cache
def traces(n: int = 6000, seed: int = 3) -> list:
    return list(iter_traces(cfg(traces=n, seed=seed)))


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in STOP}


def test_every_signal_and_negative_is_planted_with_the_intended_counts():
    trs = traces()
    labels = labels_of(trs)
    kinds = Counter(lb.kind for lb in labels)
    users = sum(t.behaviour is not None for t in trs)
    # signals: a few percent of user turns each; negatives: most turns
    assert 0.005 * users < kinds["retry"] < 0.03 * users
    assert 0.01 * users < kinds["rephrase"] < 0.05 * users
    assert 0.005 * users < kinds["disagreement"] < 0.04 * users
    assert 0.005 * users < kinds["frustration"] < 0.03 * users
    assert 0.02 * users < kinds["abandonment"] < 0.07 * users
    positives = sum(kinds[k] for k in SIGNALS)
    assert 0.05 * users < positives < 0.2 * users
    assert sum(kinds[k] for k in NEGATIVE_BEHAVIOURS) > 4 * positives
    for k in NEGATIVE_BEHAVIOURS:
        assert kinds[k] > 0.01 * users, k
    assert set(kinds) == set(SIGNALS) | set(NEGATIVE_BEHAVIOURS)
    # tricky negatives: shouting thanks and "no worries" are not frustration
    thanks = {t.question for t in trs if t.behaviour == "thanks"}
    assert "Great, thanks!!" in thanks and any("no worries" in q.lower() for q in thanks)
    frustrated = {t.question for t in trs if t.behaviour == "frustration"}
    assert "THIS IS USELESS" in frustrated and "let me talk to a human!!" in frustrated


def test_each_label_reacts_to_the_answer_that_provoked_it():
    trs = traces()
    by_hex = {t.trace_id_hex: t for t in trs}
    provoked_by = {
        "retry": {"error", "timeout", "empty"},
        "rephrase": {"error", "empty", "refusal", "non_answer"},
        "disagreement": {"wrong"},
        "frustration": {"error", "timeout", "empty", "refusal", "non_answer", "wrong"},
        "clarification_reply": {"clarify"},
        "follow_up": {"good"},
        "thanks": {"good"},
    }
    sessions: dict[str, list] = {}
    for t in trs:
        if t.behaviour is not None:
            sessions.setdefault(t.session_id, []).append(t)
    for lb in labels_of(trs):
        t = by_hex[lb.trace_id]
        assert (lb.session_id, lb.user_id) == (t.session_id, t.user_id)
        if lb.kind in ("abandonment", "resolved_end"):
            assert lb.reacted_to == lb.trace_id and t.last_user_turn
            assert sessions[t.session_id][-1] is t  # no user message after it
            if lb.kind == "abandonment":
                assert t.outcome in {
                    "error",
                    "timeout",
                    "empty",
                    "refusal",
                    "non_answer",
                    "clarify",
                }
            else:
                assert t.outcome == "good"
            continue
        turns = sessions[t.session_id]
        i = turns.index(t)
        if i == 0:
            assert lb.reacted_to is None and lb.kind == "question"
            continue
        prev = turns[i - 1]
        assert lb.reacted_to == prev.trace_id_hex  # the previous user turn of the session
        if lb.kind in provoked_by:
            assert prev.outcome in provoked_by[lb.kind], (lb.kind, prev.outcome)


def test_retries_resend_the_same_request_soon_sometimes_with_a_slip():
    trs = traces()
    by_hex = {t.trace_id_hex: t for t in trs}
    retries = [t for t in trs if t.behaviour == "retry"]
    kinds = Counter()
    for t in retries:
        prev = by_hex[t.reacts_to]
        assert t.route == prev.route
        assert t.start_us - prev.end_us < 5 * 60 * 1_000_000  # within five minutes
        if t.question == prev.question:
            kinds["same"] += 1
        elif t.question == prev.question.lower():
            kinds["case"] += 1
        else:
            kinds["slip"] += 1
            # two letters swapped, or the final punctuation replaced
            assert sorted(t.question.rstrip(".?! ")) == sorted(prev.question.rstrip(".?! "))
    assert kinds["same"] and kinds["case"] and kinds["slip"], kinds


def test_rephrases_keep_the_need_and_often_share_no_word():
    trs = traces()
    by_hex = {t.trace_id_hex: t for t in trs}
    rephrases = [t for t in trs if t.behaviour == "rephrase"]
    disjoint = 0
    for t in rephrases:
        prev = by_hex[t.reacts_to]
        assert prev.topic == t.topic and prev.question != t.question
        body = t.question
        for prefix in P.REPHRASE_PREFIXES:
            if prefix and body.startswith(prefix):
                body = body[len(prefix) :]
        disjoint += not (words(body) & words(prev.question))
    assert disjoint > 0.25 * len(rephrases)
    # every intent has a rephrasing in other words than all its paraphrases
    for topic in C.TOPICS:
        for intent in topic.intents:
            ways = variants(intent)
            assert len(ways) == len(intent.paraphrases) + 1, intent.paraphrases[0]
            others = set().union(*(words(p) for p in intent.paraphrases))
            shared = words(ways[-1]) & others - {"n", "fmt", "hours", "idp", "invoice"}
            assert not shared, (ways[-1], shared)


def test_only_a_retry_sends_a_message_again():
    sent: dict[str, set[str]] = {}
    repeats = Counter()
    for t in traces():
        if t.behaviour is None:
            continue
        said = sent.setdefault(t.session_id, set())
        if t.question in said:
            repeats[t.behaviour] += 1
        said.add(t.question)
    assert set(repeats) == {"retry"}


def test_follow_ups_stay_on_topic_and_clarifying_questions_get_answers():
    trs = traces()
    by_hex = {t.trace_id_hex: t for t in trs}
    for t in trs:
        if t.behaviour in ("follow_up", "clarification_reply", "disagreement"):
            assert by_hex[t.reacts_to].topic == t.topic
        if t.behaviour == "clarification_reply":
            assert by_hex[t.reacts_to].answer == P.CLARIFY_QUESTIONS[t.topic]
            assert t.outcome != "clarify"  # the assistant asks only once
    # an unanswered clarifying question is one way a session is abandoned
    assert any(t.abandoned and t.outcome == "clarify" for t in trs)
    assert any(t.abandoned and t.outcome in ("error", "timeout") for t in trs)
    assert any(t.abandoned and t.outcome == "refusal" for t in trs)


def rate(trs, kind: str, **where) -> float:
    xs = [t for t in trs if all(getattr(t, k) == v for k, v in where.items())]
    return sum(t.behaviour == kind for t in xs) / len(xs)


def test_rates_depend_on_prompt_version_release_and_model():
    trs = [t for t in traces(12000, 7) if t.behaviour is not None]
    chat = [t for t in trs if t.route == "support-chat"]
    # v4 ("say so in one sentence") gives up more: more rephrases; v3 states wrong facts more
    assert rate(chat, "rephrase", prompt_version=4) > 1.3 * rate(chat, "rephrase", prompt_version=3)
    assert rate(chat, "disagreement", prompt_version=3) > 2 * rate(
        chat, "disagreement", prompt_version=4
    )

    def outcome_rate(xs, outcome):
        return sum(t.outcome == outcome for t in xs) / len(xs)

    free = [t for t in chat if not t.last_user_turn]  # the last answers are forced
    by_release = {r: [t for t in free if t.release == r] for r in ("v1.4.0", "v1.5.0", "v1.6.0")}
    # the output guardrail (v1.5.0) blocks good answers; v1.6.0 tuned it
    assert outcome_rate(by_release["v1.4.0"], "refusal") < 0.005  # only the input guardrail
    assert outcome_rate(by_release["v1.5.0"], "refusal") > 2 * outcome_rate(
        by_release["v1.6.0"], "refusal"
    )
    kb = [t for t in trs if t.route == "kb-search" and not t.last_user_turn]  # not forced
    llama = [t for t in kb if t.model == "llama-3.1-8b-instruct"]
    gemini = [t for t in kb if t.model == "gemini-2.0-flash"]
    assert outcome_rate(llama, "non_answer") > 1.5 * outcome_rate(gemini, "non_answer")
    # gpt-4o (enterprise users) is wrong less often than gpt-4o-mini
    v3 = [t for t in chat if t.prompt_version == 3]
    mini = [t for t in v3 if t.model == "gpt-4o-mini"]
    big = [t for t in v3 if t.model == "gpt-4o"]
    assert outcome_rate(big, "wrong") < 0.8 * outcome_rate(mini, "wrong")
    last = [t for t in chat if t.last_user_turn]
    ab = {v: sum(t.abandoned for t in last if t.prompt_version == v) for v in (3, 4)}
    n = {v: sum(t.prompt_version == v for t in last) for v in (3, 4)}
    assert ab[3] / n[3] > 1.2 * ab[4] / n[4]


def test_explicit_feedback_is_a_minority_and_skewed_by_the_behaviour():
    trs = [t for t in traces() if t.behaviour is not None]
    rated = [t for t in trs if t.feedback is not None]
    assert 0.04 * len(trs) < len(rated) < 0.2 * len(trs)
    bad = [t for t in rated if t.outcome != "good"]
    good = [t for t in rated if t.outcome == "good"]

    def down(xs):
        return sum(t.feedback == 0 for t in xs) / len(xs)

    worst = [t for t in bad if t.outcome in ("wrong", "error", "timeout", "empty", "refusal")]
    unanswered = [t for t in bad if t.outcome == "non_answer"]
    assert down(worst) > 0.7 and down(good) < 0.3
    assert down(good) < down(unanswered) < down(worst)
    # thumbs are given more often on bad answers than on good ones
    assert len(bad) / sum(t.outcome != "good" for t in trs) > len(good) / sum(
        t.outcome == "good" for t in trs
    )
    ratings = [t for t in trs if t.rating is not None]
    assert ratings and all(t.last_user_turn for t in ratings)
    assert any(t.rating_comment for t in ratings) and any(not t.rating_comment for t in ratings)
    low = [t.rating for t in ratings if t.abandoned]
    high = [t.rating for t in ratings if not t.abandoned and t.outcome == "good"]
    assert sum(low) / len(low) < 2.5 < 3.5 < sum(high) / len(high)
    copied = [t for t in trs if t.copied]
    accepted = [t for t in trs if t.accepted]
    assert copied and accepted
    assert all(t.outcome == "good" and t.route == "support-chat" for t in copied + accepted)


def test_planted_labels_are_deterministic():
    a = planted_labels(cfg(traces=500, seed=5))
    assert a == planted_labels(cfg(traces=500, seed=5))
    assert a != planted_labels(cfg(traces=500, seed=6))
    assert {lb.positive for lb in a} == {True, False}


def test_each_chat_trace_carries_user_session_and_the_conversation_so_far():
    c = cfg(traces=400, seed=9, delivery_quirks=False)
    facts = {t.trace_id: t for t in iter_traces(c)}
    earlier: dict[str, list] = {}
    for t in facts.values():
        if t.route == "support-chat":
            earlier.setdefault(t.session_id, []).append(t)
    seen = 0
    for req in generate(c):
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    if sp.parent_span_id:
                        continue
                    t = facts[sp.trace_id]
                    a = attributes_dict(sp.attributes)
                    assert a["user.id"] == t.user_id and a["session.id"] == t.session_id
                    if t.route != "support-chat":
                        continue
                    msgs = json.loads(a["gen_ai.input.messages"])
                    before = earlier[t.session_id][: earlier[t.session_id].index(t)]
                    expected = []
                    for p in before:
                        expected += [("user", p.question), ("assistant", p.answer)]
                    expected.append(("user", t.question))
                    assert [(m["role"], m["parts"][0]["content"]) for m in msgs] == expected
                    seen += len(before) > 1
    assert seen > 20  # many conversations of several turns
