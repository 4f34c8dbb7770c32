from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from heron.settings import Settings
from heron.store import EmbeddedStore
from tests.support.server import (
    CONSISTENT,
    CONSISTENT_TIMEOUT_S,
    PUBLIC_KEY,
    SECRET_KEY,
    HeronProcess,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "heron.duckdb")
    yield s
    s.close()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values = {
        "data_dir": tmp_path / "data",
        "init_project": "test",
        "init_public_key": PUBLIC_KEY,
        "init_secret_key": SECRET_KEY,
        "ingest_workers": 0,  # in-process decoding; the live-server tests use worker processes
        "consistent_read_timeout_s": CONSISTENT_TIMEOUT_S,
        # the in-process apps run no background task unless a test asks for one (the runner
        # would write implicit-feedback scores beside the ones a test counts, and share the
        # store's connections with tests that use them directly); the live servers run the
        # defaults, and tests/implicit and tests/runner cover the runner in both
        "runner_tasks": "",
        **overrides,
    }
    return Settings.load(env={}, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app in process (real store file, real pipeline), authenticated as project 'test';
    its reads ask for consistency (they see the spans the test just posted)."""
    from heron.server.app import create_app

    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


@pytest.fixture
def live_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HeronProcess]:
    """A real `heron serve` process on a loopback port, for this test alone; or the module's
    shared one (``module_server``) in a module that sets ``SHARE_SERVER = True`` because its
    tests find their own traces by id or name, never by the store being empty."""
    if getattr(request.module, "SHARE_SERVER", False):
        yield request.getfixturevalue("module_server")
        return
    server = HeronProcess(tmp_path / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    """One real `heron serve` shared by the tests of a module (a start costs ~2 s). Test
    directories whose tests each read back only their own traces rename it ``live_server``."""
    server = HeronProcess(tmp_path_factory.mktemp("server") / "data").start()
    yield server
    server.stop()
