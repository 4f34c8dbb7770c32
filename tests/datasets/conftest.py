"""One in-process app per module; a test that needs a dataset namespace of its own makes a
project (``fresh``) instead of a new app."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.server import CONSISTENT, SECRET_KEY


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app in process, authenticated with a full key of project ``test``."""
    settings = make_settings(tmp_path_factory.mktemp("datasets"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


def store_of(c: TestClient) -> Any:
    return c.app.state.heron.store  # type: ignore[attr-defined]


def client_with(app: TestClient, key: str) -> TestClient:
    return TestClient(app.app, headers={**CONSISTENT, "Authorization": f"Bearer {key}"})


@pytest.fixture
def fresh(app: TestClient) -> Callable[..., TestClient]:
    """Makes a client of a new project (``scope``: the key's scope, ``full`` by default)."""

    def make(scope: str = "full") -> TestClient:
        store = store_of(app)
        project = store.create_project(f"ds-{secrets.token_hex(4)}")["id"]
        return client_with(app, store.create_key(project, scope=scope)["secret_key"])

    return make


def ok(response: Any) -> Any:
    """The JSON of a 200, failing with the body otherwise."""
    assert response.status_code == 200, response.text
    return response.json()
