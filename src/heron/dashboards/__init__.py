"""Dashboards: the default monitoring dashboard and custom ones, one widget format and one
runner for both (:func:`run_dashboard`), and the change markers they show."""

from heron.dashboards.changes import changes_between
from heron.dashboards.default import DEFAULT_ID, default_dashboard
from heron.dashboards.run import DashboardData, WidgetData, run_dashboard, window
from heron.dashboards.spec import (
    DATE_RANGES,
    WIDGET_TYPES,
    Dashboard,
    Widget,
    parse_dashboard,
    stored_dashboard,
)

__all__ = [
    "DATE_RANGES",
    "DEFAULT_ID",
    "WIDGET_TYPES",
    "Dashboard",
    "DashboardData",
    "Widget",
    "WidgetData",
    "changes_between",
    "default_dashboard",
    "parse_dashboard",
    "run_dashboard",
    "stored_dashboard",
    "window",
]
