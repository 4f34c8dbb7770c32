"""Response models: the shapes in the OpenAPI document, the public contract of heron's API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable kind, e.g. bad_request, not_found.")
    message: str = Field(description="What was wrong, naming the parameter or field.")


class Error(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: str
    version: str


class TraceSummary(BaseModel):
    """A trace as lists show it: attributes and aggregates, no inputs or outputs."""

    id: str
    name: str | None
    timestamp: str = Field(description="Start of the earliest observation (ISO 8601, UTC).")
    end_time: str | None
    user_id: str | None
    session_id: str | None
    release: str | None
    version: str | None
    environment: str | None
    tags: list[str]
    metadata: dict[str, Any]
    public: bool | None
    latency_ms: float | None
    total_cost: float | None = Field(description="USD, summed over observations.")
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    observation_count: int
    error_count: int
    level: str = Field(description="Highest level: DEBUG < DEFAULT < WARNING < ERROR.")
    models: list[str]
    root_observation_id: str | None
    input_preview: str | None = Field(
        None, description="The last user message or the start of the input (200 characters)."
    )
    scores: dict[str, float | str] = Field(
        default_factory=dict,
        description="In lists: per score name, the average (numeric, boolean) or the latest "
        "label (categorical).",
    )


class ObservationSummary(BaseModel):
    """An observation as lists show it (no input or output)."""

    id: str
    trace_id: str
    parent_id: str | None
    type: str
    name: str
    start_time: str
    end_time: str | None
    completion_start_time: str | None
    latency_ms: float | None
    time_to_first_token_ms: float | None
    model: str | None
    model_parameters: dict[str, Any] | None
    metadata: dict[str, Any]
    level: str
    status_message: str | None
    usage: dict[str, int] = Field(description="Tokens by key: input, output, total, ...")
    cost: dict[str, float] = Field(description="USD by the same keys, plus total.")
    cost_source: str | None = Field(description="client or computed.")
    total_cost: float | None
    prompt_name: str | None
    prompt_version: int | None


class Observation(ObservationSummary):
    input: Any = None
    output: Any = None
    children: list[Observation] = Field(default_factory=list)


class Score(BaseModel):
    id: str
    trace_id: str | None
    observation_id: str | None
    session_id: str | None
    name: str
    value: float | None
    string_value: str | None
    data_type: str
    source: str
    comment: str | None
    author: str | None
    timestamp: str
    metadata: dict[str, Any]
    environment: str | None = None


class TraceDetail(TraceSummary):
    input: Any = None
    output: Any = None
    observations: list[Observation] = Field(description="Root observations with children.")
    scores: list[Score]


class SessionSummary(BaseModel):
    id: str
    first_time: str
    last_time: str
    trace_count: int
    total_cost: float | None
    total_tokens: int | None
    error_count: int | None
    user_ids: list[str]


class SessionTrace(TraceSummary):
    input: Any = None
    output: Any = None


class SessionDetail(BaseModel):
    id: str
    user_ids: list[str]
    first_time: str
    last_time: str
    trace_count: int
    total_cost: float | None
    error_count: int
    traces: list[SessionTrace] = Field(description="The session's traces, oldest first.")


class UserSummary(BaseModel):
    id: str
    first_time: str
    last_time: str
    trace_count: int
    session_count: int
    total_cost: float | None
    total_tokens: int | None
    input_tokens: int | None
    output_tokens: int | None
    error_count: int | None


class TracePage(BaseModel):
    data: list[TraceSummary]
    next_cursor: str | None = Field(description="Pass as cursor for the next page.")


class ObservationPage(BaseModel):
    data: list[ObservationSummary]
    next_cursor: str | None


class SessionPage(BaseModel):
    data: list[SessionSummary]
    next_cursor: str | None


class UserPage(BaseModel):
    data: list[UserSummary]
    next_cursor: str | None


class UnpricedModel(BaseModel):
    model: str
    observations: int
    total_tokens: int | None
    last_seen: str | None


class UnpricedModels(BaseModel):
    data: list[UnpricedModel]


class ScoreIn(BaseModel):
    """A score as clients send it (Langfuse field names; snake_case is accepted too)."""

    id: str | None = Field(None, description="Sending an existing id again replaces it.")
    traceId: str | None = None
    observationId: str | None = None
    sessionId: str | None = None
    name: str
    value: float | bool | str = Field(
        description="A number (NUMERIC), true/false or 1/0 (BOOLEAN), a label (CATEGORICAL) "
        "or text (TEXT)."
    )
    stringValue: str | None = None
    dataType: str | None = Field(None, description="NUMERIC, BOOLEAN, CATEGORICAL or TEXT.")
    comment: str | None = None
    source: str | None = Field(None, description="API (default), ANNOTATION, EVAL, ...")
    author: str | None = None
    timestamp: str | None = None
    environment: str | None = None
    metadata: dict[str, Any] | None = None
    configId: str | None = Field(
        None, description="A score config: the score is checked against it (400 otherwise)."
    )
    queueId: str | None = None
    datasetRunId: str | None = Field(
        None, description="A run-level score: the experiment run (dataset run) it judges."
    )


class Organization(BaseModel):
    id: str
    name: str


class Project(BaseModel):
    id: str
    name: str
    organization: Organization
    metadata: dict[str, Any]


class ProjectList(BaseModel):
    data: list[Project]


class MetricsDimension(BaseModel):
    field: str = Field(
        description="A dimension of the view (e.g. name, model, release, prompt_version, "
        "score name) or metadata.<key>."
    )


class MetricsMetric(BaseModel):
    measure: str = Field(description="e.g. count, latency, total_cost, error_rate, value.")
    aggregation: str = Field(
        description="count, sum, avg, min, max, p50, p75, p90, p95, p99, uniq or histogram."
    )


class MetricsTimeDimension(BaseModel):
    granularity: str = Field(description="auto, minute, hour, day, week or month.")


class MetricsOrder(BaseModel):
    field: str = Field(description="time, a dimension, or a metric as <measure>_<aggregation>.")
    direction: str = Field("asc", description="asc or desc.")


class MetricsConfig(BaseModel):
    row_limit: int | None = Field(None, ge=1, le=100_000, description="At most this many rows.")
    bins: int = Field(10, ge=1, le=100, description="Bins of a histogram aggregation.")


class MetricsQueryIn(BaseModel):
    """A metrics query, in the shape of Langfuse's Metrics API v2."""

    view: str = Field(description="traces, observations or scores.")
    dimensions: list[MetricsDimension] = []
    metrics: list[MetricsMetric]
    filters: list[dict[str, Any]] = Field(
        [], description="The shared filter language: [{column, operator, value}]."
    )
    timeDimension: MetricsTimeDimension | None = None
    fromTimestamp: str = Field(description="ISO 8601; the window is [from, to).")
    toTimestamp: str
    orderBy: list[MetricsOrder] = []
    config: MetricsConfig | None = None
    timezone: str = Field("UTC", description="IANA zone the time buckets are cut in.")


class MetricsResult(BaseModel):
    data: list[dict[str, Any]] = Field(
        description="One row per time bucket and dimension value: time (bucket start, UTC), "
        "each dimension, and each metric as <measure>_<aggregation>; a histogram is "
        "[[lower, upper, count], ...]."
    )
