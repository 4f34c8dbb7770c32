"""Fixtures shared by the server tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, login
from tests.support.server import CONSISTENT


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    """The app in process, with its admin logged in; pages ask for consistency."""
    settings = make_settings(tmp_path, init_admin_email=ADMIN, init_admin_password=PASSWORD)
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c
