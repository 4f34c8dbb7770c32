"""Times on the pages: one ``when`` for every template (the ``|when`` filter and the
``when()`` global). The server writes UTC, named, inside ``<time datetime="...Z">``;
static/timezone.js rewrites it in the viewer's time zone (and as "3 min ago" in lists).
Without the script the page still shows UTC and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

NONE = "\u2013"


def parse_utc(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 time (``Z``, an offset, or naive meaning UTC) as naive UTC; None if not one."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def iso_utc(dt: datetime) -> str:
    """``2025-10-09T06:32:38.123Z`` (milliseconds, always UTC)."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def when(value: str | datetime | None, ms: bool = False) -> Markup:
    """``<time datetime="<ISO>Z" title="...">YYYY-MM-DD HH:MM:SS UTC</time>``; ``ms`` adds
    milliseconds. No value: a dash; a value that is not a time: shown as text, escaped."""
    dt = parse_utc(value)
    if dt is None:
        return Markup(NONE) if value in (None, "") else escape(str(value))
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if ms:
        text += f".{dt.microsecond // 1000:03d}"
    text += " UTC"
    precision = ' data-ms=""' if ms else ""
    return Markup('<time datetime="{}" title="{}"{}>{}</time>').format(
        iso_utc(dt), text, Markup(precision), text
    )


def time_placeholders(now: datetime | None = None) -> dict[str, str]:
    """Example ``from``/``to`` values relative to now (UTC, to the hour): a day ago, now."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    hour = now.replace(minute=0, second=0, microsecond=0)
    return {
        "from": (hour - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "to": hour.strftime("%Y-%m-%dT%H:%M"),
    }
