from __future__ import annotations

import atexit
import functools
import secrets
import shutil
import signal
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.settings import Settings
from heron.store import EmbeddedStore
from tests.support.chdb_server import chdb_server  # noqa: F401 (a fixture)
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401 (fixtures)
from tests.support.server import (
    CONSISTENT,
    CONSISTENT_TIMEOUT_S,
    PUBLIC_KEY,
    SECRET_KEY,
    HeronProcess,
    ServerProject,
    new_project,
)

# -- collection and scheduling ------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    """The servers the tests start stop on SIGINT however pytest was started. A shell runs a
    command started in the background (``make test &`` in a script) with SIGINT ignored, every
    process it starts inherits the ignore, and a `heron serve` ignoring SIGINT kept each test
    waiting the 20 s of ``HeronProcess.stop`` for a SIGKILL (tests/ui: 28 times). A handler,
    unlike an ignore, is not inherited: the servers get the default (Ctrl-C) again."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test has its own node id, or the run stops before any test runs.

    pytest-xdist hands tests to its workers by node id: of several tests sharing one, it runs
    one and drops the rest without a word. schemathesis 4.32 names each operation's test
    ``test_no_server_errors[GET /healthz]``, but pytest 9.2 builds a test's node id from its
    function name and parametrize ids only, so all 77 operations of
    ``tests/server/test_openapi_fuzz.py`` shared ``...::test_no_server_errors``, and
    ``make test`` under xdist ran 1,521 of the 1,597 tests. A test whose node id is shared
    gets its name's (``<parent>::<name>``) back; a node id still shared after that fails the
    collection."""
    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.parent is not None:
            _set_nodeid(item, f"{item.parent.nodeid}::{item.name}")
    shared = [nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1]
    if shared:
        raise pytest.UsageError(
            f"{len(shared)} node ids are shared by several tests (xdist would run one of each): "
            + ", ".join(shared[:5])
        )


def _set_nodeid(item: pytest.Item, nodeid: str) -> None:
    if hasattr(item, "_id"):  # pytest >= 9.2: a structured NodeId
        item._id = type(item._id).parse(nodeid)
    else:
        item._nodeid = nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` (what ``make test`` runs): a file's tests go to one worker, as
    xdist does, except that each directory of ``TOGETHER`` is one unit: all of tests/ui
    shares one Chromium (``browser`` is package-scoped: it is closed, and its event loop with
    it, before the worker goes on to tests that call ``asyncio.run``) and all of
    tests/compare one demo load (session-scoped). Units go out longest first: tests/ui
    (about a quarter of the run), tests/compare, then ``LONG_FIRST``, then the rest by
    their number of tests (xdist's order, which would leave the few-but-slow files, a
    minute each on a loaded machine, to the end of the run on one worker)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for unit in TOGETHER:
                if nodeid.startswith(unit + "/"):
                    return unit
            return super()._split_scope(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if not getattr(self, "_ordered", False):
                self._ordered = True
                for unit in reversed((*TOGETHER, *LONG_FIRST)):
                    if unit in self.workqueue:
                        self.workqueue.move_to_end(unit, last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)


TOGETHER = ("tests/ui", "tests/compare")
# files that take long (processes, restarts, large loads, fuzzing), slowest first: measured
# with --durations=0 in a full quiet run on a 2-core machine, 2026-12-07
LONG_FIRST = (
    "tests/server/test_openapi_fuzz.py",
    "tests/server/test_cluster_serve.py",
    "tests/runner/test_process.py",
    "tests/evals/test_process.py",
    "tests/runner/test_cluster_workers.py",
    "tests/server/test_wal_recovery.py",
    "tests/server/test_durability.py",
    "tests/server/test_ingest_properties.py",
    "tests/test_cli_settings.py",
    "tests/implicit/test_demo.py",
    "tests/store/test_backend_events.py",
    "tests/store/test_backend_deletion.py",
    "tests/server/test_web_traces.py",
    "tests/clients/test_langfuse_api.py",
    "tests/experiments/test_run.py",
    "tests/server/test_key_scopes.py",
    "tests/test_demo_cli.py",
    "tests/server/test_backup.py",
    "tests/server/test_web_auth.py",
    "tests/test_cli_startup.py",
    "tests/analysis/test_grouping.py",
    "tests/test_cli_users.py",
    "tests/test_cli_prices.py",
    "tests/server/test_cluster_langfuse.py",
    "tests/server/test_prometheus.py",
)


@functools.cache
def migrated_db() -> Path:
    """An empty database file with every migration applied, made once per test process.

    Stores and in-process apps start from a copy of it instead of running the migrations
    themselves (each its own transaction and commit: about 0.1 s of CPU and a log flush per
    migration, paid by a thousand tests). The live servers and tests/store migrate fresh
    files themselves."""
    folder = Path(tempfile.mkdtemp(prefix="heron-migrated-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "heron.duckdb"
    EmbeddedStore(path).close()  # closing checkpoints it: one file, no log
    return path


def seed_db(db_path: Path) -> None:
    """Put a copy of the migrated empty database at ``db_path`` unless a file is there."""
    if not db_path.exists():
        db_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_db(), db_path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    seed_db(tmp_path / "heron.duckdb")
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
    settings = Settings.load(env={}, **values)
    seed_db(settings.db_path)
    return settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """The app in process (real store file, real pipeline), authenticated as project 'test';
    its reads ask for consistency (they see the spans the test just posted). In a module that
    sets ``SHARE_APP = True``: the module's app, with a project and key of the test's own
    (``project_client``)."""
    if getattr(request.module, "SHARE_APP", False):
        yield request.getfixturevalue("project_client")
        return
    from heron.server.app import create_app

    settings = request.getfixturevalue("settings")
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


@pytest.fixture(scope="module")
def module_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """``client``, shared by the tests of a module (an app costs ~0.4 s to start and serve
    its first request): for tests that only read what the module planted, or find their own
    writes by id."""
    from heron.server.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("app"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


@pytest.fixture
def project_client(module_client: TestClient) -> Iterator[TestClient]:
    """The module's app, authenticated with the key of a new project: for tests that list or
    count what they write, at the cost of a project (milliseconds) instead of an app."""
    st = module_client.app.state.heron  # type: ignore[attr-defined]
    project = st.store.create_project(f"p-{secrets.token_hex(4)}")
    key = st.store.create_key(project["id"])
    module_client.headers["Authorization"] = f"Bearer {key['secret_key']}"
    try:
        yield module_client
    finally:
        module_client.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        module_client.cookies.clear()


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


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    """One `heron serve` for the run (for each xdist worker), started when a test first asks:
    for tests that leave the server as they found it, or take a project of their own on it
    (``server_project``). A start costs ~3.5 s of CPU."""
    server = HeronProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def server_project(shared_server: HeronProcess) -> ServerProject:
    """A new project, with its key and an owner, on the run's shared server."""
    return new_project(shared_server)


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    """One real `heron serve` shared by the tests of a module (a start costs ~2 s). Test
    directories whose tests each read back only their own traces rename it ``live_server``."""
    server = HeronProcess(tmp_path_factory.mktemp("server") / "data").start()
    yield server
    server.stop()
