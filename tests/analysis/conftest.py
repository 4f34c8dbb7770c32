"""Fixtures of the error analysis tests: one app per test module, seeded with the
labelled notes as comments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.analysis.notes import seed_labelled
from tests.conftest import make_settings
from tests.support.server import CONSISTENT, SECRET_KEY


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(Path(tmp_path_factory.mktemp("analysis")))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


@pytest.fixture(scope="module")
def project(app: TestClient) -> str:
    return app.get("/api/public/projects").json()["data"][0]["id"]


@pytest.fixture(scope="module")
def truth(app: TestClient, project: str) -> dict[str, str]:
    """The labelled notes as comments on their traces (trace id -> true category)."""
    return seed_labelled(app.app.state.heron.store, project)


@pytest.fixture(scope="module")
def other(app: TestClient) -> dict[str, str]:
    """Headers of a key of another project."""
    store = app.app.state.heron.store
    key = store.create_key(store.create_project("other")["id"])
    return {"Authorization": f"Bearer {key['secret_key']}"}
