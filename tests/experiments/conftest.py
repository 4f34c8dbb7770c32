"""One in-process heron app per module, with a project's store at hand for planting runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from heron.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.server import CONSISTENT, SECRET_KEY


@dataclass
class App:
    client: TestClient
    store: EmbeddedStore
    project_id: str


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    settings = make_settings(tmp_path_factory.mktemp("experiments"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        store = c.app.state.heron.store
        yield App(c, store, store.project_by_name("test")["id"])
