"""Draft evaluators from a label people gave: an LLM judge that looks for it, or a rule.

:func:`draft` turns resolved :class:`heron.evals.labels.Labels` (a failure category, an
annotation label) into an evaluator definition in the configuration format:

- ``kind="judge"``: an ``llm_judge`` with a BOOLEAN output (true = the trace shows the
  failure, like the managed templates' booleans) whose prompt holds the label's definition
  (label, description, keywords) and a few labelled examples, positives and negatives with
  their input and output trimmed; the trace to judge comes last;
- ``kind="code"``: a ``contains`` check of the keywords on the output, for a failure a rule
  can tell.

The draft is not stored: the caller shows it in the editor (or saves it paused) and aligns
it with the labels (:mod:`heron.evals.alignment`) before switching it on.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections import Counter
from typing import Any

import orjson

from heron.errors import BadRequest
from heron.evals.labels import Labels

EXAMPLES_EACH = 3  # positives and negatives shown to the judge
EXAMPLE_CHARS = 400  # of each example's input and output
MAX_KEYWORDS = 8
MAX_TEXT = 2000  # description given by the caller
KINDS = ("judge", "code")
RULES = ("contains", "regex", "error_level", "latency_above")
_WORD = re.compile(r"[^\W\d_][\w'-]{2,}", re.UNICODE)
_STOP = frozenset({
    "the", "and", "for", "with", "that", "this", "was", "were", "are", "not", "but", "you",
    "your", "has", "have", "had", "its", "it's", "from", "into", "about", "than", "then",
    "they", "them", "their", "there", "what", "when", "which", "who", "why", "how", "all",
    "any", "can", "did", "does", "done", "just", "more", "most", "some", "such", "too",
    "very", "will", "would", "should", "could", "been", "being", "also", "only", "other",
    "our", "out", "over", "same", "so",
})  # fmt: skip


def slug(text: str) -> str:
    """``Hallucinated refund policy!`` -> ``hallucinated_refund_policy``."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "label"


def evaluator_name(labels: Labels) -> str:
    """``failure_<slug>`` for the failure-mode score, else ``<score>_<slug>``."""
    prefix = "failure" if labels.score_name == "failure_mode" else slug(labels.score_name)[:20]
    name = f"{prefix}_{slug(labels.label)}"[:64]
    return name if name[0].isalnum() else f"e{name[:63]}"


def keywords(labels: Labels) -> list[str]:
    """Words of the label and of the positives' notes that the negatives' notes lack most."""
    pos: Counter[str] = Counter()
    neg: Counter[str] = Counter()
    for items, counter in ((labels.positives, pos), (labels.negatives, neg)):
        for item in items:
            counter.update(set(_words(item.get("comment") or "")))
    own = [w for w in _words(labels.label) if w not in _STOP]
    ranked = sorted(pos, key=lambda w: (-pos[w] / (1 + neg[w]), w))
    out = list(dict.fromkeys(own + [w for w in ranked if w not in _STOP and pos[w] > neg[w]]))
    return out[:MAX_KEYWORDS]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text[:5000])]


def _order(trace_id: str) -> str:
    return hashlib.sha256(trace_id.encode()).hexdigest()


def _trim(value: Any) -> str:
    if value is None:
        return ""
    text = (value if isinstance(value, str) else orjson.dumps(value).decode()).strip()
    if len(text) > EXAMPLE_CHARS:
        text = text[:EXAMPLE_CHARS] + " […]"
    # a pasted example never becomes a placeholder of the prompt
    return text.replace("{{", "{ {").replace("}}", "} }")


def examples(store: Any, project_id: str, labels: Labels) -> list[dict[str, Any]]:
    """A few positives and negatives (a fixed choice: by a hash of the trace id) with
    their input and output trimmed."""
    chosen = [
        (item, side)
        for items, side in ((labels.positives, True), (labels.negatives, False))
        for item in sorted(items, key=lambda i: _order(i["trace_id"]))[:EXAMPLES_EACH]
    ]
    rows = store.target_traces(
        project_id, "trace", [i["trace_id"] for i, _ in chosen], ("input", "output")
    )
    out = []
    for item, side in chosen:
        found = rows.get(item["trace_id"])
        if not found:
            continue
        record = found[-1]
        out.append({
            "trace_id": item["trace_id"], "positive": side, "note": _trim(item.get("comment")),
            "input": _trim(record.get("input")), "output": _trim(record.get("output")),
        })  # fmt: skip
    return out


def _clean(text: str) -> str:
    return text.replace("{{", "{ {").replace("}}", "} }").strip()


def judge_prompt(
    label: str, description: str, words: list[str], shown: list[dict[str, Any]]
) -> str:
    """The judge's prompt: the failure's definition, labelled examples, then the trace."""
    lines = [
        "You are reviewing one exchange between a user and an AI assistant for a specific "
        "failure that reviewers have seen before.",
        "",
        "<failure>",
        f"Name: {_clean(label)}",
    ]
    if description:
        lines.append(f"Definition: {_clean(description)}")
    if words:
        lines.append(f"Words reviewers used for it: {_clean(', '.join(words))}")
    lines += ["</failure>", ""]
    if shown:
        lines.append("Examples labelled by reviewers:")
        for n, ex in enumerate(shown, 1):
            verdict = "shows the failure" if ex["positive"] else "does not show the failure"
            lines += [
                "",
                f'<example n="{n}" verdict="{verdict}">',
                f"<request>{ex['input']}</request>",
                f"<reply>{ex['output']}</reply>",
            ]
            if ex["note"]:
                lines.append(f"<reviewer_note>{ex['note']}</reviewer_note>")
            lines.append("</example>")
        lines.append("")
    lines += [
        "Now judge this exchange:",
        "",
        "<request>",
        "{{input}}",
        "</request>",
        "",
        "<reply>",
        "{{output}}",
        "</reply>",
        "",
        "Answer true when the reply shows this failure, false when it does not. Judge this "
        "failure only, not the reply's quality in general. Reason step by step first, quoting "
        "the part of the exchange that decides it, and only then give the verdict.",
    ]
    return "\n".join(lines)


def draft(
    store: Any,
    project_id: str,
    labels: Labels,
    kind: str,
    connection: str | None,
    description: str | None = None,
    words: list[str] | None = None,
    rule: str = "contains",
) -> dict[str, Any]:
    """``{definition, label, description, keywords, examples, positives, negatives}``: the
    draft evaluator for ``labels`` and what it was made from. ``rule`` (a code draft): one
    of :data:`RULES`."""
    if kind not in KINDS:
        raise BadRequest(f"kind: one of {', '.join(KINDS)}")
    if description is not None and (
        not isinstance(description, str) or len(description) > MAX_TEXT
    ):
        raise BadRequest(f"description: a string of at most {MAX_TEXT} characters")
    if words is None:
        words = keywords(labels)
    elif (
        not isinstance(words, list)
        or len(words) > 50
        or not all(isinstance(w, str) and w.strip() and len(w) <= 100 for w in words)
    ):
        raise BadRequest("keywords: at most 50 non-empty words")
    description = (description or "").strip() or _described(labels)
    shown: list[dict[str, Any]] = []
    head = {"name": evaluator_name(labels), "type": "code" if kind == "code" else "llm_judge",
            "description": f"{labels.label}: {description}"[:MAX_TEXT]}  # fmt: skip
    if kind == "code":
        definition = {**head, **_rule(store, project_id, labels, rule, words), "target": "traces"}
    else:
        shown = examples(store, project_id, labels)
        definition = {
            **head, "connection": connection or "my-connection",
            "prompt": judge_prompt(labels.label, description, words, shown),
            "variables": {"input": "input", "output": "output"},
            "output": {"data_type": "BOOLEAN"}, "target": "traces",
        }  # fmt: skip
    return {
        "definition": definition,
        "label": labels.label,
        "description": description,
        "keywords": words,
        "examples": [{"traceId": e["trace_id"], "positive": e["positive"]} for e in shown],
        "positives": len(labels.positives),
        "negatives": len(labels.negatives),
    }


def _rule(
    store: Any, project_id: str, labels: Labels, rule: Any, words: list[str]
) -> dict[str, Any]:
    """The check of a code draft: the keywords in the output (``contains``, or one
    ``regex`` of them as whole words), the trace's level (``error_level``), or a latency
    between the positives' and the negatives' medians (``latency_above``)."""
    if rule not in RULES:
        raise BadRequest(f"rule: one of {', '.join(RULES)}")
    if rule == "error_level":
        return {"check": "contains", "args": {"any": ["ERROR"], "case_sensitive": True},
                "variables": {"text": "level"}}  # fmt: skip
    if rule == "latency_above":
        return {"check": "latency_above", "args": {"ms": _latency_split(store, project_id, labels)}}
    if not words:
        raise BadRequest("keywords: none found for a rule; give keywords or draft a judge")
    if rule == "regex":
        pattern = r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b"
        return {"check": "regex", "args": {"pattern": pattern, "case_sensitive": False},
                "variables": {"text": "output"}}  # fmt: skip
    return {"check": "contains", "args": {"any": words, "case_sensitive": False},
            "variables": {"text": "output"}}  # fmt: skip


def _latency_split(store: Any, project_id: str, labels: Labels) -> float:
    medians = []
    for items in (labels.positives, labels.negatives):
        ids = [i["trace_id"] for i in sorted(items, key=lambda i: _order(i["trace_id"]))[:500]]
        rows = store.target_traces(project_id, "trace", ids, ("latency_ms",))
        times = [r[-1]["latency_ms"] for r in rows.values() if r and r[-1].get("latency_ms")]
        medians.append(statistics.median(times) if times else None)
    slow, fast = medians
    if slow is None or fast is None or slow <= fast:
        shown = " and ".join("none" if m is None else f"{m:.0f} ms" for m in medians)
        raise BadRequest(
            f"rule: latency_above needs positives slower than negatives (medians {shown})"
        )
    return round((slow + fast) / 2, 1)


def _described(labels: Labels) -> str:
    notes = list(dict.fromkeys(
        i["comment"].strip()[:200] for i in labels.positives if (i.get("comment") or "").strip()
    ))  # fmt: skip
    if not notes:
        return f"traces people labelled {labels.score_name} = {labels.label}"
    return "reviewers noted: " + "; ".join(notes[:3])
