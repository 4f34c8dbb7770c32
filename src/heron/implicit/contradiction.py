"""Does a statement after an answer contradict it? A logistic regression over cues of the
reply: the phrase markers, words and figures shared with the answer, and how close the two
are (the cosine of their wordllama embeddings), trained on the development sets by
``tests/implicit/data/train_contradiction.py`` and shipped as ``contradiction.json``
(coefficients only: nothing is downloaded, the result is deterministic).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import numpy as np

from heron.implicit import markers

WEIGHTS = Path(__file__).with_name("contradiction.json")
_WORD = re.compile(r"[a-z]{3,}")
_FIGURE = re.compile(r"\d+(?:[.,]\d+)?")
_NEGATION = re.compile(r"\b(?:not|no|never|nothing|none|n'?t|without)\b|n't\b", re.IGNORECASE)
_CONTRAST = re.compile(
    r"\b(?:though|but|actually|already|only|still|opposite|instead|even|anyway|definitely"
    r"|exactly|really)\b",
    re.IGNORECASE,
)
_OWN = re.compile(r"\b(?:my|mine|our|ours|i|we|i'?ve|we'?ve|i'?m|me|us)\b", re.IGNORECASE)
# someone or something else says otherwise ("the manual says every 30,000")
_OTHERS = re.compile(r"\b(?:says?|said|told|according|reads|recommends)\b", re.IGNORECASE)
# what came of following the answer; words from the development sets' replies only, so that
# the test set written by the same author does not leak into the model
_BAD_OUTCOME = re.compile(
    r"\b(?:worse|burn(?:ed|t)|raw|mush\w*|snapp\w*|streak\w*|bitter|flat|melt\w*|wobbl\w*"
    r"|wasted|wet|nothing|every time|keeps? \w+ing)\b",
    re.IGNORECASE,
)

# the model's features, in the order of its coefficients
CUES = (
    "rule",  # markers.contradicts() finds a statement contradicting the answer
    "cue",  # a contradiction cue, whether or not about the answer
    "points_back",
    "shared_word",  # a word of the answer (a 5-letter prefix)
    "shared_stem",  # share of the reply's words whose first 3 letters the answer has
    "figure_new",  # a figure the answer does not have, where the answer has figures
    "figure_any",
    "similarity",  # cosine of the reply's and the answer's embeddings
    "negation",
    "contrast",
    "own",
    "others_say",
    "bad_outcome",
    "not_contradicting",
    "follows_up",
    "exclaims",
    "short",  # five words or fewer
)


def cues(reply: str, answer: str, similarity: float) -> list[float]:
    """The model's features for a (reply, answer) pair, in the order of :data:`CUES`."""
    text = reply.strip()
    low, answer_low = text.lower(), answer.lower()
    words = [w for w in _WORD.findall(low) if w not in _STOP]
    answer_stems = {w[:3] for w in _WORD.findall(answer_low)}
    figures, answer_figures = set(_FIGURE.findall(low)), set(_FIGURE.findall(answer_low))
    return [
        float(markers.contradicts(text, answer) is not None),
        float(markers.contradiction_cue(text)),
        float(markers.refers_back(text)),
        float(markers.shares_words(text, answer)),
        sum(w[:3] in answer_stems for w in words) / len(words) if words else 0.0,
        float(bool(answer_figures) and bool(figures - answer_figures)),
        float(bool(figures)),
        similarity,
        float(_NEGATION.search(text) is not None),
        float(_CONTRAST.search(text) is not None),
        float(_OWN.search(text) is not None),
        float(_OTHERS.search(text) is not None),
        float(_BAD_OUTCOME.search(text) is not None),
        float(markers.not_contradicting(text)),
        float(markers.follows_up(text)),
        float("!" in text),
        float(len(text.split()) <= 5),
    ]


_STOP = frozenset({
    "the", "and", "for", "you", "your", "that", "this", "with", "but", "was", "are", "its",
    "it's", "not", "have", "has", "had", "all", "just", "now", "too", "then", "than", "get",
    "got", "one", "out", "off", "can", "did", "does", "don", "didn", "doesn", "isn", "wasn",
    "mine", "our", "ours", "they", "them", "said", "says", "still", "only", "even", "though",
    "after", "before", "about", "into", "from", "when", "what", "there", "here", "been", "were",
    "will", "would", "could", "should", "some", "more", "most", "very", "much", "many", "also",
    "each", "every", "other", "which", "while", "where", "because", "again", "never", "like",
    "make", "made", "work", "works", "same", "their", "these", "those", "over", "under",
})  # fmt: skip


def candidate(reply: str, answer: str) -> bool:
    """Whether the model is asked at all: a statement (questions build on the answer), not
    a thank-you ("awesome, the one in my garden says chiff chaff") unless "thanks, but...",
    and about the answer: it points back ("tried it", "mine") or names something the answer
    said, if only by its first letters ("vit c" for "vitamin C"). A statement that does
    neither is a new problem ("I can't log in, it says my password is incorrect")."""
    text = reply.strip()
    if not text or markers.is_question(text) or markers.thanks_only(text):
        return False
    if markers.refers_back(text) or markers.shares_words(text, answer):
        return True
    said = _WORD.findall(answer.lower())
    stems = {w[:4] for w in said}
    for w in _WORD.findall(text.lower()):
        if w in _STOP:
            continue
        if w[:4] in stems or (len(w) == 3 and any(a.startswith(w) for a in said)):
            return True
    return False


@cache
def _model() -> tuple[np.ndarray, float, float]:
    data = json.loads(WEIGHTS.read_text())
    if data["cues"] != list(CUES):
        raise RuntimeError(f"{WEIGHTS.name} was trained on other cues: retrain it")
    return np.asarray(data["coef"], dtype=np.float64), data["intercept"], data["threshold"]


def probabilities(rows: np.ndarray) -> np.ndarray:
    """The probability that each reply (a row of :func:`cues`) contradicts its answer."""
    coef, intercept, _ = _model()
    return 1.0 / (1.0 + np.exp(-(rows @ coef + intercept)))


def threshold() -> float:
    return _model()[2]
