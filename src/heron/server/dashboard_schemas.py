"""OpenAPI shapes of the dashboards API (``/api/dashboards``, ``/api/changes``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from heron.server.schemas import (
    MetricsConfig,
    MetricsDimension,
    MetricsMetric,
    MetricsOrder,
    MetricsTimeDimension,
)

WidgetType = Literal["line", "area", "bar_time", "bar", "pie", "number", "histogram", "pivot"]
DateRange = Literal["1h", "24h", "7d", "30d"]


class WidgetQuery(BaseModel):
    """A metrics query without its window (the dashboard gives fromTimestamp/toTimestamp)."""

    view: str = Field(description="traces, observations, scores (or scores-numeric, ...).")
    dimensions: list[MetricsDimension] = []
    metrics: list[MetricsMetric]
    filters: list[dict[str, Any]] = Field(
        [], description="The shared filter language: [{column, operator, value}]."
    )
    timeDimension: MetricsTimeDimension | None = None
    orderBy: list[MetricsOrder] = []
    config: MetricsConfig | None = None
    timezone: str = Field("UTC", description="IANA zone the time buckets are cut in.")


class WidgetModel(BaseModel):
    """A widget: a chart, number or table drawn from one metrics query."""

    id: str | None = Field(None, description="Unique within the dashboard; given when absent.")
    title: str
    type: WidgetType
    query: WidgetQuery


class DashboardIn(BaseModel):
    """A dashboard to create, or the new content of one (PUT replaces it whole)."""

    name: str = Field(max_length=100)
    description: str = Field("", max_length=1000)
    filters: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Dashboard-wide filters in the trace list's language, ANDed to every "
        "widget's query.",
    )
    date_range: DateRange = Field("7d", description="The window shown when none is asked.")
    widgets: list[WidgetModel] = Field(default_factory=list)


class DashboardOut(DashboardIn):
    id: str
    read_only: bool = Field(description="True for the built-in default dashboard.")
    created_at: str | None
    updated_at: str | None


class DashboardList(BaseModel):
    data: list[DashboardOut]


class Change(BaseModel):
    """The moment a release, version or prompt version first appeared in the project."""

    kind: Literal["release", "version", "prompt"]
    name: str | None = Field(description="The prompt's name (prompt changes only).")
    value: str = Field(description="The release, the version, or '<prompt> v<version>'.")
    previous: str | None = Field(description="The value that first appeared before it.")
    first_seen: str = Field(description="ISO 8601, UTC.")


class ChangeList(BaseModel):
    data: list[Change]


class WidgetData(BaseModel):
    id: str
    title: str
    type: WidgetType
    query: WidgetQuery
    granularity: str | None = Field(description="The time bucket used (auto resolved).")
    dimensions: list[str]
    metrics: list[str] = Field(description="Row keys of the metrics, <measure>_<aggregation>.")
    data: list[dict[str, Any]] = Field(description="Rows, as POST /api/metrics returns them.")
    previous: list[dict[str, Any]] | None = Field(
        description="number widgets: the rows of the previous period of the same length."
    )
    unfiltered: list[str] = Field(
        description="Dashboard filter columns with no meaning in this widget's view."
    )


class DashboardData(BaseModel):
    id: str
    name: str
    fromTimestamp: str
    toTimestamp: str
    widgets: list[WidgetData]
    changes: list[Change]


def body_schema() -> dict[str, Any]:
    """``openapi_extra`` describing a DashboardIn request body (the route reads it itself,
    within the body size limit)."""
    schema = DashboardIn.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
