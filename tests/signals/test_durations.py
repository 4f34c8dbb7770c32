from datetime import timedelta

import pytest

from heron.signals.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), (" 2w ", 1209600), ("90s", 90)],
)
def test_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "5", "m5", "5 min", "-5m", "0s", "1.5h", "400d", 5, None, True]
)
def test_refused_saying_the_form(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [1, 30, 90, 300, 3600, 5400, 86400, 604800, 700000])
def test_format_round_trips(seconds: int) -> None:
    d = timedelta(seconds=seconds)
    assert parse_duration(format_duration(d)) == d
    assert format_duration(timedelta(minutes=5)) == "5m"
