"""Expected bands of anomaly alerts for charts of the same metric (dashboard widgets)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from heron.store import Store
from heron.store.reads import iso

MAX_POINTS = 5_000


def _filters_key(filters: Any) -> bytes:
    items = [
        {k: f.get(k) for k in ("column", "operator", "value", "key") if f.get(k) is not None}
        for f in (filters or [])
        if isinstance(f, dict)
    ]
    return orjson.dumps(sorted(items, key=lambda f: orjson.dumps(f, option=orjson.OPT_SORT_KEYS)),
                        option=orjson.OPT_SORT_KEYS)  # fmt: skip


def bands_for(
    store: Store, project_id: str, query: dict[str, Any], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """For each anomaly alert watching one of ``query``'s metrics on the same view with the
    same filters: its expected band over ``[start, end)`` (``x``, ``lower``, ``upper``)."""
    metrics = {
        (m.get("measure"), m.get("aggregation"))
        for m in query.get("metrics") or []
        if isinstance(m, dict)
    }
    own = _filters_key(query.get("filters"))
    out = []
    for alert in store.list_alerts(project_id):
        q = alert["spec"]["query"]
        if "anomaly" not in alert["spec"] or q["view"] != query.get("view"):
            continue
        metric = (q["metric"]["measure"], q["metric"]["aggregation"])
        if metric not in metrics or _filters_key(q["filters"]) != own:
            continue
        rows = [
            r
            for r in reversed(
                store.alert_history(project_id, alert["name"], start, end, MAX_POINTS)
            )
            if r["lower"] is not None and r["upper"] is not None
        ]
        if rows:
            out.append(
                {
                    "alert": alert["name"],
                    "metric": f"{metric[1]}_{metric[0]}",
                    "x": [iso(r["eval_time"]) for r in rows],
                    "lower": [r["lower"] for r in rows],
                    "upper": [r["upper"] for r in rows],
                }
            )
    return out
