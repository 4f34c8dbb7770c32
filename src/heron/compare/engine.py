"""Run a comparison: fetch each cohort's per-record values with parameterised queries (always
within one project), then compare every metric and every score with :mod:`heron.compare.stats`.

``run_compare(cursor, project_id, query)`` is the one entry point (the store, the API, the
CLI and the benchmark all go through it).
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow.compute as pc

from heron.compare import stats
from heron.compare.query import VIEWS, Cohort, CompareQuery
from heron.query.filters import compile_filters

LOWER, NONE, HIGHER = -1, 0, 1
DIRECTION_NAMES = {LOWER: "lower", NONE: "none", HIGHER: "higher"}
ALPHA = 0.05
# Score names that mean "less is better" when they contain one of these words.
LOWER_IS_BETTER_WORDS = (
    "error",
    "latency",
    "toxic",
    "hallucinat",
    "harm",
    "bias",
    "cost",
    "loss",
    "fail",
    "negative",
    "thumbs_down",
)


# Implicit-feedback scores (heron.implicit's detectors, the browser widget) are BOOLEAN scores
# written only when the signal is seen, always as true: their rate is over every record of the
# cohort (a record without one counts 0), and their direction is known.
IMPLICIT_PREFIX = "implicit_"
IMPLICIT_LOWER_IS_BETTER = frozenset(
    {"retry", "rephrase", "disagreement", "frustration", "abandonment"}
)
IMPLICIT_HIGHER_IS_BETTER = frozenset({"copy", "accept"})


@dataclass(frozen=True)
class MetricSpec:
    name: str
    column: str
    kind: str  # count | mean | p50 | p95 | rate
    direction: int
    unit: str


def _timing(name: str, column: str) -> list[MetricSpec]:
    return [
        MetricSpec(f"avg_{name}", column, "mean", LOWER, "ms"),
        MetricSpec(f"p50_{name}", column, "p50", LOWER, "ms"),
        MetricSpec(f"p95_{name}", column, "p95", LOWER, "ms"),
    ]


_COMMON = [
    *_timing("latency", "latency"),
    *_timing("time_to_first_token", "ttft"),
    MetricSpec("avg_input_tokens", "input_tokens", "mean", NONE, "tokens"),
    MetricSpec("avg_output_tokens", "output_tokens", "mean", NONE, "tokens"),
    MetricSpec("avg_total_tokens", "total_tokens", "mean", NONE, "tokens"),
    MetricSpec("avg_tokens_per_second", "tps", "mean", HIGHER, "tokens/s"),
    MetricSpec("avg_total_cost", "total_cost", "mean", LOWER, "USD"),
]
METRICS: dict[str, list[MetricSpec]] = {
    "traces": [
        MetricSpec("count", "", "count", NONE, "count"),
        *_COMMON,
        MetricSpec("avg_error_count", "error_count", "mean", LOWER, "errors"),
        MetricSpec("error_rate", "has_error", "rate", LOWER, "share"),
    ],
    "observations": [
        MetricSpec("count", "", "count", NONE, "count"),
        *_COMMON,
        MetricSpec("error_rate", "has_error", "rate", LOWER, "share"),
    ],
}

_GEN_US = "(epoch_us(o.end_time) - epoch_us(coalesce(o.completion_start_time, o.start_time)))"
_GEN_SECONDS = f"{_GEN_US} / 1e6"
_TTFT_MS = "(epoch_us(o.completion_start_time) - epoch_us(o.start_time)) / 1000.0"
COHORT = "heron_cohort"  # the cohort's rows, registered on the cursor for the next queries

# Per-record values of each view; `{cohort}` is the cohort's condition.
_TRACE_ROWS = """
SELECT t.id, t.start_time, coalesce(t.end_time, t.start_time) AS end_time,
    t.latency_ms::DOUBLE AS latency, t.input_tokens::DOUBLE AS input_tokens,
    t.output_tokens::DOUBLE AS output_tokens, t.total_tokens::DOUBLE AS total_tokens,
    t.total_cost::DOUBLE AS total_cost, t.error_count::DOUBLE AS error_count,
    (t.error_count > 0)::DOUBLE AS has_error
FROM traces t WHERE {cohort} ORDER BY t.id
"""
# Time to first token of the trace's first streamed generation; output tokens per second of
# generation time over its generations. Generations start within [earliest trace start,
# latest trace end] of the cohort: as constants these bounds let DuckDB skip other times.
_TRACE_GENERATIONS = f"""
WITH g AS (
    SELECT o.trace_id,
        arg_min({_TTFT_MS}, o.start_time) FILTER (WHERE o.completion_start_time IS NOT NULL)
            AS ttft,
        sum(o.output_tokens) FILTER (WHERE o.end_time IS NOT NULL AND o.output_tokens > 0)
            / nullif(sum({_GEN_US})
                FILTER (WHERE o.end_time IS NOT NULL AND o.output_tokens > 0) / 1e6, 0) AS tps
    FROM observations o
    WHERE o.project_id = ? AND o.type = 'generation' AND o.start_time BETWEEN ? AND ?
        AND o.trace_id IN (SELECT id FROM {COHORT})
    GROUP BY o.trace_id
)
SELECT c.latency, c.input_tokens, c.output_tokens, c.total_tokens, c.total_cost,
    c.error_count, c.has_error, g.ttft::DOUBLE AS ttft, g.tps::DOUBLE AS tps
FROM {COHORT} c LEFT JOIN g ON g.trace_id = c.id ORDER BY c.id
"""
_OBSERVATION_ROWS = f"""
SELECT o.id, ((epoch_us(o.end_time) - epoch_us(o.start_time)) / 1000.0)::DOUBLE AS latency,
    ({_TTFT_MS})::DOUBLE AS ttft, o.input_tokens::DOUBLE AS input_tokens,
    o.output_tokens::DOUBLE AS output_tokens, o.total_tokens::DOUBLE AS total_tokens,
    (o.output_tokens / nullif({_GEN_SECONDS}, 0))::DOUBLE AS tps,
    o.total_cost::DOUBLE AS total_cost, (o.level = 'ERROR')::DOUBLE AS has_error
FROM observations o WHERE {{cohort}} ORDER BY o.id
"""
# A record's score of a name is the mean of its values of that name (labels: one row each).
_SCORE_VALUES = f"""
SELECT s.{{key}} AS record_id, s.name, s.data_type,
    CASE WHEN s.data_type = 'CATEGORICAL' THEN s.string_value END AS label,
    avg(s.value)::DOUBLE AS value
FROM scores s
WHERE s.project_id = ? AND s.data_type <> 'TEXT' AND s.{{key}} IN (SELECT id FROM {COHORT})
GROUP BY ALL ORDER BY record_id, s.name, s.data_type, label
"""


@dataclass
class CohortData:
    values: dict[str, np.ndarray]  # column -> float64 values, NaN where missing
    scores: dict[str, np.ndarray]  # score column -> per-record values / label ids


def _cohort_condition(project_id: str, view: str, cohort: Cohort) -> tuple[str, list[Any]]:
    """The cohort's WHERE text and its parameters."""
    v = VIEWS[view]
    a = v.alias
    parts = [f"{a}.project_id = ?"]
    params: list[Any] = [project_id]
    if cohort.from_time is not None:
        parts.append(f"{a}.start_time >= ?")
        params.append(cohort.from_time)
    if cohort.to_time is not None:
        parts.append(f"{a}.start_time < ?")
        params.append(cohort.to_time)
    where, fparams = compile_filters(cohort.filters, v)
    parts.append(where)
    return " AND ".join(parts), [*params, *fparams]


def floats(column: Any) -> np.ndarray:
    if isinstance(column, np.ma.MaskedArray):
        return np.ma.filled(column.astype(np.float64), np.nan)
    return np.asarray(column, dtype=np.float64)


def fetch_cohort(
    cur: duckdb.DuckDBPyConnection, project_id: str, view: str, cohort: Cohort
) -> CohortData:
    """The cohort's per-record metric values and score values.

    The cohort's filter runs once: its rows are fetched, then registered on the cursor (as
    data, never as SQL text) for the generation and score queries that follow."""
    where, params = _cohort_condition(project_id, view, cohort)
    rows_sql = _TRACE_ROWS if view == "traces" else _OBSERVATION_ROWS
    rows = cur.sql(rows_sql.format(cohort=where), params=params).to_arrow_table()
    cur.register(COHORT, rows)
    try:
        if view == "traces":
            if rows.num_rows:
                low = pc.min(rows["start_time"]).as_py()
                high = pc.max(rows["end_time"]).as_py()
            else:
                low = high = datetime(1970, 1, 1)
            raw = cur.execute(_TRACE_GENERATIONS, [project_id, low, high]).fetchnumpy()
            key = "trace_id"
        else:
            raw = {c: rows[c].to_numpy(zero_copy_only=False) for c in rows.column_names}
            raw.pop("id")
            key = "observation_id"
        score_raw = cur.execute(_SCORE_VALUES.format(key=key), [project_id]).fetchnumpy()
    finally:
        cur.unregister(COHORT)
    values = {name: floats(col) for name, col in raw.items()}
    return CohortData(values, {k: np.asarray(v) for k, v in score_raw.items()})


@dataclass
class MetricResult:
    """One row of the answer (see docs/compare.md)."""

    metric: str
    baseline: float | None
    candidate: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_value_adjusted: float | None
    n_baseline: int
    n_candidate: int
    verdict: str
    direction: str
    significant: bool
    method: str
    unit: str


def _present(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


def _rng(seed: int, name: str) -> np.random.Generator:
    # one stream per metric name: a metric's figures do not depend on which others are present
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _estimate(
    spec: MetricSpec, b: np.ndarray, c: np.ndarray, nb: int, nc: int, seed: int
) -> stats.Estimate:
    if spec.kind == "count":
        return stats.compare_counts(nb, nc)
    b, c = _present(b), _present(c)
    if spec.kind == "mean":
        return stats.compare_means(b, c)
    if spec.kind == "rate":
        # a record with several boolean values counts with their mean (rounded total events)
        return stats.compare_rates(round(b.sum()), len(b), round(c.sum()), len(c))
    q = {"p50": 0.5, "p95": 0.95}[spec.kind]
    return stats.compare_quantiles(b, c, q, _rng(seed, spec.name))


def score_direction(name: str) -> int:
    """Higher is better for a score unless its name contains a "less is better" word."""
    lowered = name.lower()
    return LOWER if any(w in lowered for w in LOWER_IS_BETTER_WORDS) else HIGHER


def is_implicit(name: str, data_type: str) -> bool:
    """An only-positive score: a BOOLEAN score named ``implicit_*``."""
    return data_type == "BOOLEAN" and name.startswith(IMPLICIT_PREFIX)


def implicit_direction(name: str) -> int:
    """Lower is better for retries, rephrasings, disagreement, frustration and abandonment;
    higher for copies and accepts; no direction for any other ``implicit_*`` signal."""
    signal = name.removeprefix(IMPLICIT_PREFIX)
    if signal in IMPLICIT_LOWER_IS_BETTER:
        return LOWER
    return HIGHER if signal in IMPLICIT_HIGHER_IS_BETTER else NONE


def _score_specs(
    base: CohortData, cand: CohortData, nb: int, nc: int
) -> list[tuple[MetricSpec, Any, Any]]:
    """(spec, baseline values, candidate values) per score name (and label); ``nb``/``nc``
    are the cohorts' record counts, over which implicit scores are rates."""
    found: dict[tuple[str, str], None] = {}
    for data in (base, cand):
        names, types = data.scores.get("name", []), data.scores.get("data_type", [])
        for name, dtype in zip(names, types, strict=True):
            found[(str(name), str(dtype))] = None
    out: list[tuple[MetricSpec, Any, Any]] = []
    for name, dtype in sorted(found):
        if dtype == "CATEGORICAL":
            labels: set[str] = set()
            for data in (base, cand):
                mask = _mask(data, name, dtype)
                labels.update(str(x) for x in data.scores["label"][mask] if x is not None)
            for label in sorted(labels):
                spec = MetricSpec(f"scores.{name}={label}", name, "rate", NONE, "share")
                out.append((spec, _label_flags(base, name, label), _label_flags(cand, name, label)))
            continue
        if is_implicit(name, dtype):
            spec = MetricSpec(f"scores.{name}", name, "rate", implicit_direction(name), "share")
            out.append((spec, _implicit_flags(base, name, nb), _implicit_flags(cand, name, nc)))
            continue
        kind, unit = ("rate", "share") if dtype == "BOOLEAN" else ("mean", "score")
        spec = MetricSpec(f"scores.{name}", name, kind, score_direction(name), unit)
        out.append((spec, _score_values(base, name, dtype), _score_values(cand, name, dtype)))
    return out


def _mask(data: CohortData, name: str, dtype: str) -> np.ndarray:
    if "name" not in data.scores or len(data.scores["name"]) == 0:
        return np.zeros(0, dtype=bool)
    return (data.scores["name"] == name) & (data.scores["data_type"] == dtype)


def _score_values(data: CohortData, name: str, dtype: str) -> np.ndarray:
    mask = _mask(data, name, dtype)
    if not mask.any():
        return np.zeros(0)
    return floats(data.scores["value"][mask])


def _implicit_flags(data: CohortData, name: str, records: int) -> np.ndarray:
    """One value per record of the cohort: 1.0 when it has a true value of the score."""
    mask = _mask(data, name, "BOOLEAN")
    values = floats(data.scores["value"][mask]) if mask.any() else np.zeros(0)
    flagged = min(int((values > 0).sum()), records)  # one row per record (scores of the cohort)
    return np.concatenate([np.ones(flagged), np.zeros(records - flagged)])


def _label_flags(data: CohortData, name: str, label: str) -> np.ndarray:
    """Per record with a label of this score: 1.0 when one of its labels is ``label``."""
    mask = _mask(data, name, "CATEGORICAL")
    if not mask.any():
        return np.zeros(0)
    ids = data.scores["record_id"][mask]
    labels = data.scores["label"][mask]
    with_label = {i for i, lab in zip(ids, labels, strict=True) if lab == label}
    return np.array([1.0 if i in with_label else 0.0 for i in dict.fromkeys(ids)])


def compare_cohorts(base: CohortData, cand: CohortData, view: str, seed: int) -> list[MetricResult]:
    """Every metric of the view and every score, compared; verdicts with Holm's correction."""
    nb = len(next(iter(base.values.values()), []))
    nc = len(next(iter(cand.values.values()), []))
    rows: list[tuple[MetricSpec, stats.Estimate]] = []
    for spec in METRICS[view]:
        b = base.values.get(spec.column, np.zeros(0))
        c = cand.values.get(spec.column, np.zeros(0))
        rows.append((spec, _estimate(spec, b, c, nb, nc, seed)))
    for spec, b, c in _score_specs(base, cand, nb, nc):
        rows.append((spec, _estimate(spec, b, c, len(b), len(c), seed)))
    adjusted = stats.holm([e.p_value if e.enough else None for _, e in rows])
    return [_result(spec, e, p_adj) for (spec, e), p_adj in zip(rows, adjusted, strict=True)]


def verdict_of(
    enough: bool,
    difference: float | None,
    ci_low: float | None,
    ci_high: float | None,
    p_adjusted: float | None,
    direction: int,
    alpha: float = ALPHA,
) -> tuple[str, bool]:
    """(verdict, significant) of one metric, always consistent with its interval (a
    ``1 - alpha`` interval, tested at ``alpha``).

    An interval excluding 0 is never ``no_change``: without a good direction the change is
    ``increased``/``decreased``; when Holm's correction alone keeps it from being significant
    the verdict is ``inconclusive``."""
    if not enough or ci_low is None or ci_high is None or difference is None:
        return "insufficient_data", False
    excludes_zero = ci_low > 0 or ci_high < 0
    if not excludes_zero:
        return "no_change", False
    if p_adjusted is None or p_adjusted >= alpha:
        return "inconclusive", False
    if direction == NONE:
        return ("increased" if difference > 0 else "decreased"), True
    return ("better" if difference * direction > 0 else "worse"), True


def _result(spec: MetricSpec, e: stats.Estimate, p_adj: float | None) -> MetricResult:
    verdict, significant = verdict_of(
        e.enough, e.difference, e.ci_low, e.ci_high, p_adj, spec.direction
    )
    return MetricResult(
        spec.name,
        e.baseline,
        e.candidate,
        e.difference,
        e.ci_low,
        e.ci_high,
        e.p_value,
        p_adj,
        e.n_baseline,
        e.n_candidate,
        verdict,
        DIRECTION_NAMES[spec.direction],
        bool(significant),
        e.method,
        spec.unit,
    )


def run_compare(
    cur: duckdb.DuckDBPyConnection, project_id: str, query: CompareQuery
) -> dict[str, Any]:
    """Compare the two cohorts of ``query`` within ``project_id``: the API's answer."""
    base = fetch_cohort(cur, project_id, query.view, query.baseline)
    cand = fetch_cohort(cur, project_id, query.view, query.candidate)
    return answer(query, compare_cohorts(base, cand, query.view, query.seed))


def answer(query: CompareQuery, results: list[MetricResult]) -> dict[str, Any]:
    """The API's answer: the cohorts as asked and every metric's result."""
    return {
        "view": query.view,
        "cohorts": {
            "baseline": query.baseline.describe(),
            "candidate": query.candidate.describe(),
        },
        "metrics": [asdict(r) for r in results],
    }
