"""A real PostgreSQL server for tests: one per test process, a fresh database per test.

The server is PostgreSQL's own ``postgres`` binary (``/usr/lib/postgresql/<n>/bin``, or
``HERON_TEST_PG_BIN``), started in a temporary directory on a free loopback port with
durability off (``fsync``, ``synchronous_commit``, ``full_page_writes``): a crash loses a
test's data, nothing else. Run as root, it runs as the ``postgres`` user (PostgreSQL refuses
root). Under pytest-xdist each worker process starts its own server.

It never outlives the tests: the session fixture stops it (on Ctrl-C too: pytest tears its
fixtures down on KeyboardInterrupt), ``atexit`` stops it if the fixture did not, and the
server gets SIGQUIT from the kernel when the process that started it dies (``SIGKILL`` of
pytest included), through ``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.server import free_port

PG_BINS = "/usr/lib/postgresql/*/bin"  # Debian's packages; `make test` installs one if none
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "60",
    "timezone": "UTC",
    "log_min_messages": "warning",
}
_PR_SET_PDEATHSIG = 1


def pg_bin() -> Path:
    """The directory of PostgreSQL's server binaries; the test fails when there is none
    (``make test`` installs Debian's ``postgresql``; nothing is skipped)."""
    installed = sorted(Path("/").glob(PG_BINS.lstrip("/")), reverse=True)  # newest first
    for candidate in filter(None, (os.environ.get("HERON_TEST_PG_BIN"), *installed)):
        if (Path(candidate) / "postgres").exists():
            return Path(candidate)
    pytest.fail("no PostgreSQL server binaries: run `make postgres` or set HERON_TEST_PG_BIN")


def _die_with_parent() -> None:
    """In the child, after it became the postgres user (a change of user clears the flag)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)


class PostgresServer:
    """A throw-away PostgreSQL cluster: ``start()`` (initdb and the server), ``stop()``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="heron-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0
        as_root = os.geteuid() == 0
        self._user = {"user": "postgres", "group": "postgres"} if as_root else {}

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout_s: float = 30.0) -> PostgresServer:
        """initdb and start the server; on any failure (Ctrl-C included) nothing is left."""
        try:
            return self._start(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout_s: float) -> PostgresServer:
        began = time.monotonic()
        bin_dir = pg_bin()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self._user:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            **self._user,  # type: ignore[arg-type]
        )
        args = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        args += ["-k", str(self.socket_dir)]
        for name, value in SETTINGS.items():
            args += ["-c", f"{name}={value}"]
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, **self._user
        )
        log.close()
        atexit.register(self.stop)
        self._wait_ready(began + timeout_s)
        self.start_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, deadline: float) -> None:
        assert self.proc is not None
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited at start:\n{self.log()}")
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"postgres did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = "heron_" + secrets.token_hex(6)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clients are disconnected), SIGKILL if that takes too long;
        the directory is removed."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The test process's PostgreSQL server (started on first use, stopped at the end)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database of the test process's server."""
    return postgres_server.create_database()
