"""Change comparison over HTTP: ``POST /api/compare`` (see :mod:`heron.compare`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from heron.compare import parse_compare_query
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.bodies import read_body
from heron.server.responses import JSON
from heron.server.state import state_of

router = APIRouter(
    tags=["compare"],
    dependencies=[Depends(consistent)],
    responses={400: {"model": schemas.Error}, 401: {"model": schemas.Error}},
)


class FilterIn(BaseModel):
    column: str = Field(description="A column of the view, metadata.<key> or scores.<name>.")
    operator: str
    value: Any = None
    key: str | None = None


class CohortIn(BaseModel):
    """One side: records matching ``filters`` that start in ``[fromTimestamp, toTimestamp)``."""

    filters: list[FilterIn] = Field(default_factory=list)
    fromTimestamp: str | None = Field(None, description="ISO 8601; none: no lower bound.")
    toTimestamp: str | None = Field(None, description="ISO 8601, exclusive; none: no bound.")


class CompareRequest(BaseModel):
    """Two cohorts: ``baseline`` and ``candidate``; or the shorthands ``at``/``days`` (before
    and after a moment) and ``field``/``baseline_value``/``candidate_value`` (two values of a
    column), both on top of the shared ``filters`` and window."""

    view: Literal["traces", "observations"] = "traces"
    baseline: CohortIn | None = None
    candidate: CohortIn | None = None
    filters: list[FilterIn] | None = Field(None, description="Shorthands: for both cohorts.")
    at: str | None = Field(None, description="Before [at - days, at) vs after [at, at + days).")
    days: float | None = Field(None, description="With at; default 7.")
    field: str | None = Field(None, description="A filter column, e.g. release, prompt_version.")
    baseline_value: Any = None
    candidate_value: Any = None
    fromTimestamp: str | None = Field(None, description="With field: the shared window.")
    toTimestamp: str | None = None
    seed: int | None = Field(None, description="Bootstrap seed (default 0: reproducible).")


class MetricOut(BaseModel):
    metric: str = Field(description="e.g. p95_latency, error_rate, scores.<name>[=<label>].")
    baseline: float | None
    candidate: float | None
    difference: float | None = Field(description="candidate - baseline.")
    ci_low: float | None = Field(description="95% confidence interval of the difference.")
    ci_high: float | None
    p_value: float | None = Field(description="Two-sided, unadjusted.")
    p_value_adjusted: float | None = Field(description="Holm-adjusted over this comparison.")
    n_baseline: int
    n_candidate: int
    verdict: Literal[
        "better",
        "worse",
        "increased",
        "decreased",
        "inconclusive",
        "no_change",
        "insufficient_data",
    ]
    direction: Literal["lower", "higher", "none"] = Field(description="Which way is better.")
    significant: bool = Field(description="CI excludes 0 and adjusted p < 0.05.")
    method: str = Field(description="welch, bootstrap, two-proportion z, fisher, poisson.")
    unit: str


class CompareResponse(BaseModel):
    view: str
    cohorts: dict[str, CohortIn]
    metrics: list[MetricOut]


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` references inlined (for ``openapi_extra``)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inline(CompareRequest.model_json_schema())}},
    }
}


@router.post(
    "/api/compare",
    summary="Compare two cohorts on every metric and score",
    response_model=CompareResponse,
    openapi_extra=_BODY,
)
async def compare(request: Request, who: Caller = Depends(caller)) -> JSON:
    """Both values, the difference with its 95% CI, p-values, sample sizes and a verdict
    (better, worse, increased, decreased, inconclusive, no_change,
    insufficient_data) per metric; see docs/compare.md."""
    st = state_of(request)
    raw = await read_body(request, st.settings.max_body_bytes)
    query = parse_compare_query(raw)
    answer = await run_in_threadpool(st.store.compare, who.project_id, query)
    return JSON(answer)
