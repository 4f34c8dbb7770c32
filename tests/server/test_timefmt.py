"""The one time renderer of the pages: UTC, named, inside <time datetime>, escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from heron.server.web.render import environment
from heron.server.web.timefmt import when


def test_when_renders_a_named_utc_time_element() -> None:
    out = str(when("2025-10-09T06:32:38.123456Z"))
    assert out == (
        '<time datetime="2025-10-09T06:32:38.123Z" title="2025-10-09 06:32:38 UTC">'
        "2025-10-09 06:32:38 UTC</time>"
    )


def test_offsets_and_datetimes_become_utc() -> None:
    plus2 = datetime(2025, 10, 9, 8, 32, 38, tzinfo=timezone(timedelta(hours=2)))
    assert 'datetime="2025-10-09T06:32:38.000Z"' in str(when(plus2))
    assert ">2025-10-09 06:32:38 UTC<" in str(when("2025-10-09T08:32:38+02:00"))
    assert 'datetime="2025-10-09T06:32:38.000Z"' in str(when(plus2.astimezone(UTC)))


def test_milliseconds_on_request() -> None:
    out = str(when("2025-10-09T06:32:38.5Z", ms=True))
    assert ">2025-10-09 06:32:38.500 UTC</time>" in out and "data-ms" in out


def test_missing_and_bad_values_are_safe() -> None:
    assert str(when(None)) == "\u2013" and str(when("")) == "\u2013"
    assert str(when("<script>x</script>")) == "&lt;script&gt;x&lt;/script&gt;"


def test_filter_and_global_are_the_same_renderer() -> None:
    t = environment.from_string("{{ v|when }}|{{ when(v) }}")
    left, right = t.render(v="2025-10-09T06:32:38Z").split("|")
    assert left == right and left.startswith("<time datetime=")


def test_placeholders_are_relative_to_now() -> None:
    from heron.server.web.timefmt import time_placeholders

    now = datetime(2026, 3, 10, 12, 34, 56, tzinfo=UTC)
    assert time_placeholders(now) == {"from": "2026-03-09T12:00", "to": "2026-03-10T12:00"}
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert time_placeholders()["to"].startswith(today)
