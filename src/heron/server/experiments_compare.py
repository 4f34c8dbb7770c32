"""Experiment runs of a dataset compared over HTTP (see :mod:`heron.experiments`):

- ``GET /api/datasets/{name}/runs/compare?baseline=RUN&candidate=RUN``: the per-score table
  with paired statistics (what the CI gate ``heron experiments compare`` reads);
- ``GET /api/datasets/{name}/runs/summary?runs=a,b``: each run's aggregates;
- ``GET /api/datasets/{name}/runs/items?runs=a,b``: the items side by side, worst first.

``runs`` is comma-separated, or repeated (then each value is one whole name, so names with
commas can be given). A missing dataset or run is a 404 naming it.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from heron.compare import paired
from heron.errors import BadRequest
from heron.experiments import Options, compare_runs, item_page, rank_items, summarize_runs
from heron.experiments.items import page_ids
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.responses import JSON
from heron.server.score_reads import page_meta, paging
from heron.server.state import state_of

router = APIRouter(
    tags=["experiments"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

MAX_NAME = 1000  # a run or score name
MAX_RUNS = 10  # runs in one summary or side-by-side view
MAX_NAMES = 100  # score names in lower_is_better / higher_is_better
MAX_SEED = 2**32 - 1

_NAME_DOC = "The dataset's name (names with a slash work, unencoded or as %2F)."
_ALPHA_DOC = (
    f"Significance level, {paired.MIN_ALPHA} to {paired.MAX_ALPHA}; intervals are 1 - alpha."
)
_LOWER_DOC = "Score names for which lower is better, comma-separated (beside the name rule)."
_HIGHER_DOC = "Score names for which higher is better, comma-separated (overrides the name rule)."


class Discordant(BaseModel):
    gained: int = Field(description="Items false in the baseline, true in the candidate.")
    lost: int = Field(description="Items true in the baseline, false in the candidate.")


class Row(BaseModel):
    name: str = Field(description="The score's name, or latency, cost, tokens.")
    kind: Literal["score", "measure"]
    data_type: Literal["NUMERIC", "BOOLEAN"] | None
    unit: str
    direction: Literal["higher", "lower"] = Field(description="Which way is better.")
    baseline: float | None = Field(description="Mean (booleans: share of true) over the pairs.")
    candidate: float | None
    difference: float | None = Field(description="candidate - baseline, over the pairs.")
    ci_low: float | None = Field(description="1 - alpha interval of the difference.")
    ci_high: float | None
    p_value: float | None = Field(description="Two-sided, unadjusted.")
    p_adjusted: float | None = Field(description="Holm-adjusted over this comparison's rows.")
    verdict: Literal[paired.VERDICTS]  # type: ignore[valid-type]
    significant: bool
    n_pairs: int = Field(description="Items with a value in both runs.")
    test: Literal["paired bootstrap", "McNemar exact"]
    replicates: int | None = Field(description="The bootstrap's replicates.")
    discordant: Discordant | None


class RunHead(BaseModel):
    name: str
    id: str
    items: int


class Pairs(BaseModel):
    paired: int
    only_baseline: int
    only_candidate: int


class CompareOut(BaseModel):
    dataset: str
    alpha: float
    seed: int
    baseline: RunHead
    candidate: RunHead
    pairs: Pairs
    rows: list[Row]


class Aggregate(BaseModel):
    name: str
    kind: Literal["score", "measure"]
    data_type: str | None
    unit: str
    direction: Literal["higher", "lower"]
    stat: Literal["mean", "rate"]
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


class RunSummary(BaseModel):
    name: str
    id: str
    created_at: str
    items: int
    metrics: list[Aggregate]
    run_scores: list[dict[str, Any]] = Field(description="Scores of the run itself.")


class SummaryOut(BaseModel):
    dataset: str
    alpha: float
    runs: list[RunSummary]


class ItemsOut(BaseModel):
    dataset: str
    runs: list[str]
    data: list[dict[str, Any]] = Field(
        description="Per item: item (input, expected_output, metadata, version), change, "
        "runs (each run's output, trace, figures, scores), differences against the first run."
    )
    meta: dict[str, int]


def _names(text: str | None, label: str, limit: int = MAX_NAMES) -> frozenset[str]:
    if not text:
        return frozenset()
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) > limit or any(len(n) > MAX_NAME for n in names):
        raise BadRequest(f"{label}: at most {limit} names of at most {MAX_NAME} characters")
    return frozenset(names)


def _run_name(value: str | None, label: str) -> str:
    if value is None or not value.strip():
        raise BadRequest(f"{label}: required (a run name)")
    if len(value) > MAX_NAME:
        raise BadRequest(f"{label}: at most {MAX_NAME} characters")
    return value


def run_names(request: Request) -> list[str]:
    """``runs``: one comma-separated value, or several values each naming one run."""
    given = request.query_params.getlist("runs")
    names = given[0].split(",") if len(given) == 1 else given
    names = [n.strip() if len(given) == 1 else n for n in names]
    if not given or not any(names):
        raise BadRequest("runs: required, e.g. runs=baseline-run,candidate-run")
    if any(not n for n in names):
        raise BadRequest("runs: an empty run name")
    if len(names) > MAX_RUNS:
        raise BadRequest(f"runs: at most {MAX_RUNS} runs, got {len(names)}")
    if len(set(names)) < len(names):
        raise BadRequest("runs: a run is named twice")
    return [_run_name(n, "runs") for n in names]


def _options(
    alpha: float, seed: int = 0, lower: str | None = None, higher: str | None = None
) -> Options:
    try:
        level = paired.check_alpha(alpha)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not 0 <= seed <= MAX_SEED:
        raise BadRequest(f"seed: between 0 and {MAX_SEED}, got {seed}")
    low = _names(lower, "lower_is_better")
    high = _names(higher, "higher_is_better")
    both = sorted(low & high)
    if both:
        raise BadRequest(f"{both[0][:100]!r}: in both lower_is_better and higher_is_better")
    return Options(level, seed, low, high)


@router.get(
    "/api/datasets/{name:path}/runs/compare",
    summary="Compare two experiment runs of a dataset, item by item",
    response_model=CompareOut,
)
async def compare(
    request: Request,
    name: str,
    baseline: str | None = Query(None, description="The baseline run's name."),
    candidate: str | None = Query(None, description="The candidate run's name."),
    alpha: float = Query(paired.ALPHA, description=_ALPHA_DOC),
    seed: int = Query(0, description="Bootstrap seed: same seed, same answer."),
    lower_is_better: str | None = Query(None, description=_LOWER_DOC),
    higher_is_better: str | None = Query(None, description=_HIGHER_DOC),
    who: Caller = Depends(caller),
) -> JSON:
    """Per score and per measure (latency, cost, tokens): both runs' values over the items
    they share, the difference with its interval, p-values (raw and Holm-adjusted), the
    verdict (improved, regressed, no_significant_change, inconclusive, insufficient_data)
    and the test; see docs/experiments.md."""
    base = _run_name(baseline, "baseline")
    cand = _run_name(candidate, "candidate")
    if base == cand:
        raise BadRequest("candidate: the same run as baseline; name two different runs")
    options = _options(alpha, seed, lower_is_better, higher_is_better)
    st = state_of(request)

    def work() -> dict[str, Any]:
        runs = st.store.experiment_runs(who.project_id, name, [base, cand])
        return compare_runs(name, runs[0], runs[1], options)

    return JSON(await run_in_threadpool(work))


@router.get(
    "/api/datasets/{name:path}/runs/summary",
    summary="Aggregates of experiment runs of a dataset",
    response_model=SummaryOut,
)
async def summary(
    request: Request,
    name: str,
    runs: str | None = Query(None, description="Run names, comma-separated (or repeated)."),
    alpha: float = Query(paired.ALPHA, description=_ALPHA_DOC),
    lower_is_better: str | None = Query(None, description=_LOWER_DOC),
    higher_is_better: str | None = Query(None, description=_HIGHER_DOC),
    who: Caller = Depends(caller),
) -> JSON:
    """Per run: items, and the mean (booleans: rate) of each score, latency, cost and
    tokens with its interval and n; the run-level scores."""
    names = run_names(request)
    options = _options(alpha, 0, lower_is_better, higher_is_better)
    st = state_of(request)

    def work() -> dict[str, Any]:
        found = st.store.experiment_runs(who.project_id, name, names)
        run_scores = st.store.experiment_run_scores(who.project_id, [r.id for r in found])
        return summarize_runs(name, found, run_scores, options)

    return JSON(await run_in_threadpool(work))


@router.get(
    "/api/datasets/{name:path}/runs/items",
    summary="Items of experiment runs side by side, worst change first",
    response_model=ItemsOut,
)
async def items(
    request: Request,
    name: str,
    runs: str | None = Query(None, description="Run names; the first is the baseline."),
    lower_is_better: str | None = Query(None, description=_LOWER_DOC),
    higher_is_better: str | None = Query(None, description=_HIGHER_DOC),
    pages: tuple[int, int] = Depends(paging),
    who: Caller = Depends(caller),
) -> JSON:
    """Per item: input, expected output, each run's output, figures and scores, and each
    later run's differences from the first with the item's change; worst first."""
    names = run_names(request)
    options = _options(paired.ALPHA, 0, lower_is_better, higher_is_better)
    page, limit = pages
    st = state_of(request)

    def work() -> dict[str, Any]:
        found = st.store.experiment_runs(who.project_id, name, names)
        ranking = rank_items(found, options)
        ids = page_ids(ranking, page, limit)
        details = st.store.experiment_items(who.project_id, name, [r.id for r in found], ids)
        return {
            "dataset": name,
            "runs": names,
            "data": item_page(ranking, found, page, limit, details, options),
            "meta": page_meta(page, limit, len(ranking.item_ids)),
        }

    return JSON(await run_in_threadpool(work))
