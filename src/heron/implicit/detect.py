"""The five implicit-feedback detectors over one session's turns.

Each detection is about the answer of one trace (``trace_id``) and, except abandonment, is
evidenced by the user's next message (``metadata["reacting_trace_id"]``). Only adjacent turns
are compared: a request repeated two turns later is not a retry of the earlier one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from heron.implicit import contradiction, markers, similarity
from heron.implicit.extract import answer_text, user_message
from heron.implicit.model import Detection, FeedbackConfig, Turn

VERSION = "4"
_QUOTE = 80
_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")
_POLITE = re.compile(
    r"^(?:(?:please|pls|plz|hi|hey|ok|okay) )*(?:(?:can|could|would|will) you (?:please )?)?"
    r"| (?:please|pls|plz|thanks|thank you|thx)$"
)
_MIN_RETRY_CHARS = 8  # "ok", "yes" said twice are not a retried request
_MIN_REPHRASE_WORDS = 3
_CLOSING_WORDS = 6
_MIN_ANSWER_WORDS = 6  # shorter answers ("Yes.", "42") say little by their similarity


@dataclass(frozen=True, slots=True)
class _View:
    turn: Turn
    user: str
    answer: str
    failure: str | None  # why the answer failed the user: error, empty, refusal, slow
    asks: bool  # the answer ends with a question to the user


def detect_session(turns: Sequence[Turn], config: FeedbackConfig, now: datetime) -> list[Detection]:
    """Every implicit signal in one session (its traces in time order), as of ``now``."""
    if not turns:
        return []
    now = _naive_utc(now)
    if any(t.timestamp.tzinfo is not None for t in turns):
        turns = [replace(t, timestamp=_naive_utc(t.timestamp)) for t in turns]
    extra = markers.compiled_extra(config.extra_markers_key())
    views = _views(turns, config, extra)
    if not views:
        return []
    enabled = config.enabled
    found: list[Detection] = []
    rephrase_candidates: list[tuple[int, float]] = []
    explicit = [
        _disagreement(views[i + 1].user, views[i].asks, extra) for i in range(len(views) - 1)
    ]
    statements = _statements(views, explicit) if "implicit_disagreement" in enabled else []
    contradicted = _contradictions(views, statements)
    for i in range(len(views) - 1):
        prev, nxt = views[i], views[i + 1]
        gap = (nxt.turn.timestamp - prev.turn.timestamp).total_seconds()
        retried = False
        if "implicit_retry" in enabled:
            retry = _retry(prev, nxt, gap, config)
            if retry is not None:
                found.append(retry)
                retried = True
        disagreement, contradiction = explicit[i], contradicted.get(i)
        evidence: dict[str, Any] = {}
        if contradiction is not None:
            disagreement, probability = contradiction
            evidence["contradiction_probability"] = round(probability, 3)
        frustration = None
        if nxt.user:
            frustration = markers.frustration(nxt.user) or _extra(
                extra, "implicit_frustration", nxt
            )
        if (
            "implicit_rephrase" in enabled
            and not retried
            and gap <= config.rephrase_window_s
            and contradiction is None  # reports what happened: not the request again
            and _may_rephrase(prev, nxt, reacts=bool(disagreement or frustration))
        ):
            rephrase_candidates.append((i, gap))
        if "implicit_disagreement" in enabled and disagreement is not None:
            found.append(
                _detection(
                    "implicit_disagreement", prev, nxt,
                    f"disagreement: {_q(nxt.user)} rejects the answer ({disagreement})",
                    marker=disagreement, **evidence,
                )
            )  # fmt: skip
        if "implicit_frustration" in enabled and frustration is not None:
            found.append(
                _detection(
                    "implicit_frustration", prev, nxt,
                    f"frustration: {_q(nxt.user)} ({frustration})",
                    marker=frustration,
                )
            )  # fmt: skip
    if rephrase_candidates:
        found.extend(_rephrases(views, rephrase_candidates, config))
    if "implicit_abandonment" in enabled:
        found.extend(_abandonment(views[-1], config, now))
    order = {name: k for k, name in enumerate(_ORDER)}
    index = {v.turn.trace_id: k for k, v in enumerate(views)}
    found.sort(key=lambda d: (index[d.trace_id], order[d.name]))
    return found


_ORDER = (
    "implicit_retry",
    "implicit_rephrase",
    "implicit_disagreement",
    "implicit_frustration",
    "implicit_abandonment",
)


def _views(turns: Sequence[Turn], config: FeedbackConfig, extra: dict[str, Any]) -> list[_View]:
    ordered = sorted(turns, key=lambda t: t.timestamp)
    # a trace of the session without a message from the user (a background job, a summary)
    # is not a turn of the conversation: reactions and abandonment skip it
    return [v for v in (_view(t, config, extra) for t in ordered) if v.user.strip()]


def _statements(views: list[_View], explicit: Sequence[str | None]) -> list[int]:
    """The replies the contradiction model judges: statements not already rejecting the
    answer in so many words. A statement after the assistant's question answers it ("no,
    mostly travel"), and one after a failure has no answer to contradict."""
    return [
        i for i in range(len(views) - 1)
        if explicit[i] is None and not views[i].asks and views[i].failure is None
        and contradiction.candidate(views[i + 1].user, views[i].answer)
    ]  # fmt: skip


def statement_pairs(turns: Sequence[Turn], config: FeedbackConfig) -> list[tuple[int, str, str]]:
    """(index of the answer's trace, reply, answer) for each reply the contradiction model
    judges in a session: what ``tests/implicit/data/train_contradiction.py`` learns from."""
    extra = markers.compiled_extra(config.extra_markers_key())
    views = _views(turns, config, extra)
    explicit = [
        _disagreement(views[i + 1].user, views[i].asks, extra) for i in range(len(views) - 1)
    ]
    index = {t.trace_id: k for k, t in enumerate(sorted(turns, key=lambda t: t.timestamp))}
    return [
        (index[views[i].turn.trace_id], views[i + 1].user, views[i].answer)
        for i in _statements(views, explicit)
    ]


def contradiction_rows(pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """The contradiction model's input for (reply, answer) pairs."""
    vectors = similarity.embed([t for pair in pairs for t in pair])
    sims = np.einsum("ij,ij->i", vectors[0::2], vectors[1::2])
    return np.asarray(
        [contradiction.cues(r, a, float(sims[k])) for k, (r, a) in enumerate(pairs)],
        dtype=np.float64,
    )


def _contradictions(views: list[_View], statements: list[int]) -> dict[int, tuple[str, float]]:
    """The statements the model finds contradicting the answer before them: the evidence
    (the marker's words, when it has some) and the model's probability."""
    if not statements:
        return {}
    pairs = [(views[i + 1].user, views[i].answer) for i in statements]
    probabilities = contradiction.probabilities(contradiction_rows(pairs))
    cutoff = contradiction.threshold()
    out = {}
    for i, (reply, answer), p in zip(statements, pairs, probabilities, strict=True):
        if p < cutoff:
            continue
        m = markers.contradicts(reply, answer)
        words = f' ("{m.group(0).strip()}")' if m is not None else ""
        out[i] = (f"a statement contradicting it{words}, probability {p:.2f}", float(p))
    return out


def _view(turn: Turn, config: FeedbackConfig, extra: dict[str, Any]) -> _View:
    user = markers.cut(user_message(turn.input, config.user_path) or "")
    answer = markers.cut(answer_text(turn.output, config.answer_path) or "")
    failure = None
    refused = bool(answer.strip()) and (
        markers.is_refusal(answer) or markers.extra_match(extra, "refusal", answer) is not None
    )
    # a trace's level is its worst observation's: an error inside it that the app recovered
    # from (a tool retried, a fallback model) still gave the user an answer
    recovered = bool(answer.strip()) and not refused
    if (turn.level or "").upper() == "ERROR" and not recovered:
        failure = "an error"
    elif not answer.strip():
        failure = "an empty answer"
    elif refused:
        failure = "a non-answer"
    elif turn.latency_ms is not None and turn.latency_ms > config.slow_ms:
        failure = f"a slow answer ({turn.latency_ms / 1000:.0f} s)"
    asks = bool(answer) and failure is None and markers.open_question(answer)
    return _View(turn, user, answer, failure, asks)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _normal(text: str) -> str:
    return _SPACE.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


def _retry(prev: _View, nxt: _View, gap: float, config: FeedbackConfig) -> Detection | None:
    if gap > config.retry_window_s or not prev.user or not nxt.user:
        return None
    a, b = _normal(prev.user), _normal(nxt.user)
    if min(len(a), len(b)) < _MIN_RETRY_CHARS and prev.failure is None:
        return None
    # "print my boarding pass please" asks for the same thing as "print my boarding pass"
    score = max(
        fuzz.ratio(a, b, score_cutoff=config.retry_similarity),
        fuzz.ratio(_POLITE.sub("", a), _POLITE.sub("", b), score_cutoff=config.retry_similarity),
    )
    if not score:
        return None
    after = f" after {prev.failure}" if prev.failure else ""
    return _detection(
        "implicit_retry", prev, nxt,
        f"retry: {_q(nxt.user)} repeats {_q(prev.user)} {gap:.0f} s later{after}",
        similarity=round(score / 100, 3), gap_s=round(gap, 1), previous_answer=prev.failure,
    )  # fmt: skip


def _may_rephrase(prev: _View, nxt: _View, reacts: bool) -> bool:
    if not prev.user or not nxt.user or prev.asks:
        return False  # answering the assistant's question is not asking again
    if len(nxt.user.split()) < _MIN_REPHRASE_WORDS:
        return False
    if markers.rephrase_hint(nxt.user):
        return True  # "no, I mean: ..."
    # "that's not right, I asked for concentrate": a reaction to the answer, and "found a bit
    # of paper behind the rollers, works now!" a report: not the request again
    return not (reacts or markers.reports_success(nxt.user))


def _rephrases(
    views: list[_View], candidates: list[tuple[int, float]], config: FeedbackConfig
) -> list[Detection]:
    shifts: dict[int, float] = {}
    for i, _ in candidates:
        nxt = views[i + 1].user
        if markers.rephrase_hint(nxt):
            shifts[i] = -0.15
        elif markers.follows_up(nxt):
            continue  # "and what about ...": a new question on the same topic
        else:
            shifts[i] = 0.15 if markers.points_back(nxt) else 0.0  # "does it ...": builds on it
    if not shifts:
        return []
    texts: dict[str, int] = {}
    for i in shifts:
        texts.setdefault(views[i].user, len(texts))
        texts.setdefault(views[i + 1].user, len(texts))
    vectors = similarity.embed(list(texts))
    sims = {
        i: similarity.cosine(vectors, texts[views[i].user], texts[views[i + 1].user])
        for i in shifts
    }
    # was the answer about the request at all? asked only where the answer decides
    unsure = [
        i for i, shift in shifts.items()
        if views[i].failure is None
        and config.rephrase_similarity_after_failure + shift <= sims[i]
        < config.rephrase_similarity + shift
        and len(views[i].answer.split()) >= _MIN_ANSWER_WORDS
    ]  # fmt: skip
    unrelated: dict[int, float] = {}
    if unsure:
        pairs = similarity.embed([t for i in unsure for t in (views[i].user, views[i].answer)])
        for k, i in enumerate(unsure):
            relevance = similarity.cosine(pairs, 2 * k, 2 * k + 1)
            if relevance < config.unrelated_answer_similarity:
                unrelated[i] = relevance
    out = []
    for i, gap in candidates:
        if i not in shifts:
            continue
        prev, nxt, sim = views[i], views[i + 1], sims[i]
        context = prev.failure
        if i in unrelated:
            context = f"an unrelated answer (similarity {unrelated[i]:.2f})"
        threshold = (
            config.rephrase_similarity_after_failure if context else config.rephrase_similarity
        )
        if sim < threshold + shifts[i]:
            continue
        evidence = f"after {context}" if context else "after an answer"
        out.append(
            _detection(
                "implicit_rephrase", prev, nxt,
                f"rephrase: {_q(nxt.user)} asks {_q(prev.user)} again in other words "
                f"{gap:.0f} s later, {evidence} (similarity {sim:.2f})",
                similarity=round(sim, 3), gap_s=round(gap, 1), previous_answer=context,
            )
        )  # fmt: skip
    return out


def _disagreement(message: str, answers_question: bool, extra: dict[str, Any]) -> str | None:
    m = markers.disagrees(message, answers_question)
    if m is not None:
        return f'"{m.group(0).strip()}"'
    pattern = markers.extra_match(extra, "implicit_disagreement", message)
    return f"marker {pattern!r}" if pattern else None


def _extra(extra: dict[str, Any], kind: str, view: _View) -> str | None:
    pattern = markers.extra_match(extra, kind, view.user)
    return f"marker {pattern!r}" if pattern else None


def _abandonment(last: _View, config: FeedbackConfig, now: datetime) -> list[Detection]:
    idle = (now - last.turn.timestamp).total_seconds()
    if idle < config.idle_timeout_s:
        return []  # the session may go on: not judged yet
    if len(last.user.split()) <= _CLOSING_WORDS and markers.closes_well(last.user):
        return []  # "thanks, bye!": the user was done, whatever came back
    if last.failure is not None:
        why = last.failure
    elif last.asks:
        why = "a question to the user"
    else:
        return []
    request = _q(last.user) if last.user else "the last request"
    return [
        Detection(
            name="implicit_abandonment",
            trace_id=last.turn.trace_id,
            comment=f"abandonment: the session ended after {why} to {request} "
            f"(no new trace for {idle / 60:.0f} min)",
            metadata={
                "reacting_trace_id": None,
                "detector_version": VERSION,
                "idle_s": round(idle),
                "previous_answer": why,
            },
        )
    ]


def _detection(name: str, prev: _View, nxt: _View, comment: str, **evidence: Any) -> Detection:
    metadata = {"reacting_trace_id": nxt.turn.trace_id, "detector_version": VERSION}
    metadata.update(evidence)
    return Detection(name=name, trace_id=prev.turn.trace_id, comment=comment, metadata=metadata)


def _q(text: str) -> str:
    text = _SPACE.sub(" ", text).strip()
    if len(text) > _QUOTE:
        text = text[: _QUOTE - 1] + "…"
    return '"' + text.replace('"', "'") + '"'
