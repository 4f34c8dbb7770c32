from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.dashboards.data import seed


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    """The in-process app holding the known workload (and its scores) in project 'test'."""
    seed(client)
    return client
