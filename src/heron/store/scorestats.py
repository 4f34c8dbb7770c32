"""Cumulative score totals of one project, for the Prometheus export (``GET /metrics``).

Computed from the stored scores at scrape time, like :mod:`heron.store.llmstats`: a score
replaced through its id counts once, with its last value, and nothing resets on restart.
Scores need no settling (their labels are their own name, source and data type).

Score names are user input, so the answer is bounded here, not in Python: the names are cut
to the label length of the export, the rows of every name outside ``keep`` (the names the
export already shows) and outside the ``top`` most frequent are summed into one row whose
name is ``None``. However many distinct names a project has stored, at most
``(len(keep) + top + 1) x sources x data types`` rows come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

# Langfuse's score sources; any other value a client sent is labelled "other".
SOURCES: tuple[str, ...] = ("API", "ANNOTATION", "EVAL")


@dataclass(frozen=True, slots=True)
class ScoreTotals:
    """Totals of one (name, source, data type). ``name`` is ``None`` for the names summed
    together (neither kept nor among the most frequent). ``valued`` counts scores with a
    numeric value, ``value_sum`` sums them; ``true`` counts BOOLEAN scores that are true."""

    name: str | None
    source: str
    data_type: str
    count: int
    valued: int
    value_sum: float
    true: int


def _label_sql(max_chars: int) -> str:
    # DuckDB's length() and left() count code points, as Python's len() and slicing do, so
    # this is heron.server.llmseries.label_value. max_chars is an int of the caller's.
    n = int(max_chars)
    return (
        f"CASE WHEN name = '' THEN 'unknown' WHEN length(name) <= {n} THEN name "
        f"ELSE left(name, {n - 1}) || '…' END"
    )


def _sql(max_chars: int) -> str:
    sources = ", ".join(f"'{s}'" for s in SOURCES)  # constants of this module
    return f"""
WITH raw AS (
    SELECT name, source, data_type, count(*) AS n, count(value) AS valued,
           coalesce(sum(value), 0) AS value_sum,
           count(*) FILTER (WHERE data_type = 'BOOLEAN' AND value <> 0) AS trues
    FROM scores WHERE project_id = ?
    GROUP BY ALL
), labelled AS (
    SELECT {_label_sql(max_chars)} AS name,
           CASE WHEN source IN ({sources}) THEN source ELSE 'other' END AS source,
           data_type, n, valued, value_sum, trues
    FROM raw
), top AS (
    SELECT name FROM labelled GROUP BY name ORDER BY sum(n) DESC, name LIMIT ?
)
SELECT CASE WHEN name IN (SELECT name FROM top) OR list_contains(?::VARCHAR[], name)
            THEN name END,
       source, data_type, sum(n), sum(valued), sum(value_sum), sum(trues)
FROM labelled
GROUP BY ALL
"""


def score_totals(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    keep: Sequence[str],
    top: int,
    max_chars: int,
) -> list[ScoreTotals]:
    """The project's scores by (name, source, data type); names are cut to ``max_chars``
    (``…`` as the last) and, unless in ``keep`` or among the ``top`` most frequent, summed
    into the row(s) named ``None``."""
    rows = cur.execute(_sql(max_chars), [project_id, top, list(keep)]).fetchall()
    return [
        ScoreTotals(
            name=name,
            source=source,
            data_type=data_type,
            count=int(n),
            valued=int(valued),
            value_sum=float(value_sum),
            true=int(trues),
        )
        for name, source, data_type, n, valued, value_sum, trues in rows
    ]
