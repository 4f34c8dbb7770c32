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
def live_server(tmp_path: Path) -> Iterator[HeronProcess]:
    """A real `heron serve` process on a loopback port."""
    server = HeronProcess(tmp_path / "data").start()
    yield server
    server.stop()
