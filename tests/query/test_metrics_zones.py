"""Time buckets in time zones: the quarter-hour zone map and the row-by-row path agree with
Python's zoneinfo, across a DST change and in zones offset by half and quarter hours."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from heron.model import ObservationRecord, TraceUpdate
from heron.query.metrics import MAX_ZONE_MAP_ROWS, compile_metrics, parse_metrics_query
from heron.store import EmbeddedStore

# Every 7 min 13 s for two days around Europe/Paris's DST end (2026-10-25 01:00 UTC).
START = datetime(2026, 10, 24, 0, 3, 17, tzinfo=UTC)
STEP = timedelta(minutes=7, seconds=13)
TIMES = [START + k * STEP for k in range(400)]
SHORT = {"fromTimestamp": "2026-10-20T00:00:00Z", "toTimestamp": "2026-10-30T00:00:00Z"}
# > MAX_ZONE_MAP_ROWS quarter hours: converted row by row
LONG = {"fromTimestamp": "2020-01-01T00:00:00Z", "toTimestamp": "2027-01-01T00:00:00Z"}
ZONES = ["UTC", "Europe/Paris", "Asia/Kathmandu", "America/St_Johns", "Asia/Kolkata"]


@pytest.fixture
def timed(store: EmbeddedStore) -> EmbeddedStore:
    records, updates = [], []
    for k, t in enumerate(TIMES):
        us = int(t.timestamp() * 1_000_000)
        trace = f"{k:032x}"
        records.append(
            ObservationRecord(
                project_id="p1", id=trace[:16], trace_id=trace, parent_id=None,
                type="span", name="step", start_us=us, end_us=us + 1000,
            )
        )  # fmt: skip
        updates.append(TraceUpdate(project_id="p1", trace_id=trace, is_root=True, name="t"))
    store.write_batch(records, updates)
    return store


def expected(zone: str, granularity: str) -> list[tuple[str, int]]:
    """(bucket start in UTC, count) of each non-empty local bucket, in time order."""
    tz = ZoneInfo(zone)
    counts: Counter[datetime] = Counter()
    for t in TIMES:
        local = t.astimezone(tz).replace(tzinfo=None)
        if granularity == "minute":
            local = local.replace(second=0, microsecond=0)
        elif granularity == "hour":
            local = local.replace(minute=0, second=0, microsecond=0)
        else:
            local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        counts[local] += 1
    out = []
    for local, n in sorted(counts.items()):
        utc = local.replace(tzinfo=tz).astimezone(UTC)
        out.append((utc.strftime("%Y-%m-%dT%H:%M:%SZ"), n))
    return out


def buckets(store: EmbeddedStore, zone: str, granularity: str, window: dict) -> list[tuple]:
    q = parse_metrics_query(
        {
            **window,
            "view": "observations",
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "timeDimension": {"granularity": granularity},
            "timezone": zone,
        }
    )
    rows = store.metrics("p1", q)
    return [(r["time_dimension"], r["count_count"]) for r in rows if r["count_count"]]


def counts_only(rows: list[tuple]) -> list[int]:
    return [n for _, n in rows]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("granularity", ["hour", "day"])
def test_zone_map_buckets_match_zoneinfo(timed: EmbeddedStore, zone: str, granularity: str) -> None:
    got = buckets(timed, zone, granularity, SHORT)
    want = expected(zone, granularity)
    assert sum(counts_only(got)) == len(TIMES)
    if zone == "Europe/Paris" and granularity == "hour":
        # the repeated local hour 02:00 on 2026-10-25 is one bucket; its UTC start is either
        assert counts_only(got) == counts_only(want)
        assert [t for t, _ in got if not t.startswith("2026-10-25T0")] == [
            t for t, _ in want if not t.startswith("2026-10-25T0")
        ]
    else:
        assert got == want


def test_minute_buckets_in_a_quarter_hour_zone(timed: EmbeddedStore) -> None:
    window = {"fromTimestamp": "2026-10-24T00:00:00Z", "toTimestamp": "2026-10-24T06:00:00Z"}
    got = buckets(timed, "Asia/Kathmandu", "minute", window)
    assert got == [(t, n) for t, n in expected("Asia/Kathmandu", "minute") if t < "2026-10-24T06"]
    assert len(got) == len([t for t in TIMES if t < datetime(2026, 10, 24, 6, tzinfo=UTC)])


@pytest.mark.parametrize("zone", ZONES)
def test_long_window_row_by_row_agrees(timed: EmbeddedStore, zone: str) -> None:
    q = parse_metrics_query(
        {
            **LONG,
            "view": "traces",
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "timeDimension": {"granularity": "day"},
            "timezone": zone,
        }
    )
    quarter_hours = (q.to_time - q.from_time) / timedelta(minutes=15)
    assert quarter_hours > MAX_ZONE_MAP_ROWS
    assert "zone_map" not in compile_metrics("p1", q).sql
    got = buckets(timed, zone, "day", LONG)
    assert got == expected(zone, "day") == buckets(timed, zone, "day", SHORT)


def test_zone_map_with_a_list_dimension(timed: EmbeddedStore) -> None:
    q = parse_metrics_query(
        {
            **SHORT,
            "view": "traces",
            "dimensions": [{"field": "tags"}],
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "timeDimension": {"granularity": "day"},
            "timezone": "Asia/Kathmandu",
        }
    )
    assert "zone_map" in compile_metrics("p1", q).sql
    rows = timed.metrics("p1", q)
    got = [(r["time_dimension"], r["count_count"]) for r in rows if r["count_count"]]
    assert got == expected("Asia/Kathmandu", "day")
    assert {r["tags"] for r in rows} == {None}
