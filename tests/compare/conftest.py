"""One demo workload, loaded once through the real OTLP path, for the comparison tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from heron.demo import FEEDBACK_SCORE, DemoConfig, demo_scores, iter_traces, send
from heron.server.app import create_app
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD
from tests.support.server import CONSISTENT, SECRET_KEY

END_US = 1_760_000_000_000_000  # 2025-10-09T08:53:20Z
FEEDBACK = FEEDBACK_SCORE


@dataclass
class Demo:
    client: TestClient
    config: DemoConfig


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """4,000 demo traces over 2 days, with each rated turn's thumbs up/down as a score."""
    config = DemoConfig(
        traces=4000,
        days=2,
        end_us=END_US,
        export_interval_s=600,  # fewer, larger requests: the effects do not depend on it
        batch_spans=4096,
        delivery_quirks=False,
    )
    settings = make_settings(
        tmp_path_factory.mktemp("compare"), init_admin_email=ADMIN, init_admin_password=PASSWORD
    )
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        stats = send(config, "http://testserver", SECRET_KEY, client=c, concurrency=1)
        assert stats.rejected_spans == 0
        assert stats.scores == sum(1 for _ in demo_scores(config))
        assert sum(t.feedback is not None for t in iter_traces(config)) > 0
        yield Demo(c, config)
