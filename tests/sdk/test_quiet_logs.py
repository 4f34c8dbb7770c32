"""An app whose heron is down is told once a minute, not on every retry."""

from __future__ import annotations

import logging

import pytest

from heron.sdk.export import RepeatFilter, make_exporter


def test_exporter_retry_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    make_exporter("http://127.0.0.1:9/v1/traces", {}, 1.0)
    make_exporter("http://127.0.0.1:9/v1/traces", {}, 1.0)  # installs the filter once
    logger = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    assert sum(isinstance(f, RepeatFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.WARNING):
        for i in range(20):
            logger.warning("Transient error %s encountered, retrying in %.2fs.", "refused", i)
        logger.error("Failed to export %s batch due to timeout.", "spans")
    messages = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert len(messages) == 2  # one of each kind
    assert messages[0].startswith("Transient error refused")


def test_repeat_filter_lets_messages_through_again_after_the_interval() -> None:
    f = RepeatFilter(interval=0.0)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "same %s", ("a",), None)
    assert f.filter(record) and f.filter(record)
