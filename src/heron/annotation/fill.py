"""Filling a queue: from a trace-list filter (with a sampling strategy), from an issue's
signals, or with objects named one by one. A fill is bounded (:data:`MAX_FILL` items) and
may be a dry run, which answers how many traces match and how many would be added."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heron.annotation.spec import check_object
from heron.errors import BadRequest, NotFound
from heron.query import Filter, parse_filters
from heron.query.filters import parse_time
from heron.store import Store
from heron.store.annotation import SAMPLES, STRATA

MAX_FILL = 10_000
DEFAULT_FILL = 100
_KEYS = {"filter", "from", "to", "limit", "sample", "seed", "by", "score", "dry_run", "issueId",
         "items"}  # fmt: skip


@dataclass(slots=True)
class Fill:
    """A checked fill request (one of ``filters``, ``issue_id`` or ``items``)."""

    source: str  # filter | issue | items
    limit: int = DEFAULT_FILL
    filters: list[Filter] = field(default_factory=list)
    sample: str = "newest"
    seed: int = 0
    by: str | None = None
    score: str | None = None
    issue_id: str | None = None
    items: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False


def _int(raw: Any, label: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadRequest(f"{label}: expected a whole number, got {raw!r}")
    if not low <= raw <= high:
        raise BadRequest(f"{label}: between {low:,} and {high:,}, got {raw:,}")
    return raw


def parse_fill(body: Any) -> Fill:
    """A fill from its JSON body; a 400 names the field at fault.

    ``{filter?, from?, to?, limit?, sample?, seed?, by?, score?, dry_run?}`` fills from the
    traces list (``filter`` in its language, a list or its JSON text); ``{issueId, limit?}``
    from an issue's signals; ``{items: [{objectType, objectId}]}`` adds those objects."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown field; fields: {', '.join(sorted(_KEYS))}")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadRequest(f"dry_run: expected true or false, got {dry_run!r}")
    if "items" in body:
        return _items_fill(body, dry_run)
    limit = _int(body.get("limit", DEFAULT_FILL), "limit", 1, MAX_FILL)
    if "issueId" in body:
        issue_id = body["issueId"]
        if not isinstance(issue_id, str) or not issue_id or len(issue_id) > 200:
            raise BadRequest("issueId: expected an issue id")
        extra = sorted(set(body) & {"filter", "from", "to", "sample", "seed", "by", "score"})
        if extra:
            raise BadRequest(f"{extra[0]}: a fill from an issue takes issueId and limit only")
        return Fill("issue", limit, issue_id=issue_id, dry_run=dry_run)
    filters = parse_filters(body.get("filter"))
    for key, op in (("from", ">="), ("to", "<=")):
        if body.get(key) is not None:
            filters.append(Filter("start_time", op, parse_time(body[key], key).isoformat()))
    sample = body.get("sample", "newest")
    if sample not in SAMPLES:
        raise BadRequest(f"sample: one of {', '.join(SAMPLES)}, got {sample!r}")
    fill = Fill("filter", limit, filters, sample, dry_run=dry_run)
    fill.seed = _int(body.get("seed", 0), "seed", 0, 2**31 - 1)
    if sample == "stratified":
        if body.get("by") not in STRATA:
            raise BadRequest(
                f"by: a stratified sample needs a column, one of {', '.join(STRATA)}; "
                f"got {body.get('by')!r}"
            )
        fill.by = body["by"]
    elif "by" in body:
        raise BadRequest("by: only a stratified sample takes a column")
    if sample == "lowest_scores":
        score = body.get("score")
        if not isinstance(score, str) or not score or len(score) > 200:
            raise BadRequest("score: lowest_scores needs the name of a score")
        fill.score = score
    elif "score" in body:
        raise BadRequest("score: only a lowest_scores sample takes a score name")
    return fill


def _items_fill(body: dict[str, Any], dry_run: bool) -> Fill:
    items = body["items"]
    if set(body) - {"items", "dry_run"}:
        raise BadRequest("items: a fill with items takes items (and dry_run) only")
    if not isinstance(items, list) or not items:
        raise BadRequest("items: expected a non-empty list of {objectType, objectId}")
    if len(items) > MAX_FILL:
        raise BadRequest(f"items: at most {MAX_FILL:,} per fill, got {len(items):,}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"items[{i}]: expected {{objectType, objectId}}")
        out.append(check_object(item.get("objectType"), item.get("objectId"), f"items[{i}]."))
    return Fill("items", len(out), items=out, dry_run=dry_run)


def run_fill(store: Store, project_id: str, queue_id: str, fill: Fill) -> dict[str, Any]:
    """Do (or, dry, only count) a fill: ``{dry_run, matching, selected, added}`` where
    ``matching`` is how many candidates are not in the queue yet, ``selected`` how many the
    limit and sample take, ``added`` how many were added (0 on a dry run)."""
    if fill.source == "items":
        if fill.dry_run:
            return {"dry_run": True, "matching": len(fill.items), "selected": len(fill.items),
                    "added": 0}  # fmt: skip
        added = store.add_queue_items(project_id, queue_id, fill.items)
        return {"dry_run": False, "matching": len(fill.items), "selected": len(fill.items),
                "added": added}  # fmt: skip
    if fill.source == "issue":
        assert fill.issue_id is not None
        if store.get_issue(project_id, fill.issue_id) is None:
            raise NotFound(f"issue {fill.issue_id[:100]!r} not found in this project")
        ids, total = store.queue_issue_traces(project_id, queue_id, fill.issue_id, fill.limit)
    else:
        ids, total = store.queue_fill_traces(
            project_id, queue_id, fill.filters, fill.limit, fill.sample, fill.seed, fill.by,
            fill.score,
        )  # fmt: skip
    added = 0 if fill.dry_run else store.add_queue_items(
        project_id, queue_id, [("TRACE", i) for i in ids]
    )  # fmt: skip
    return {"dry_run": fill.dry_run, "matching": total, "selected": len(ids), "added": added}
