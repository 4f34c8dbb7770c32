"""A real heron server in a subprocess on a loopback port, as users run it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PUBLIC_KEY = "pk-hr-test-public"
SECRET_KEY = "sk-hr-test-secret-0123456789abcdef"
ADMIN_EMAIL = "admin@heron.test"
ADMIN_PASSWORD = "test-admin-password"
# Tests read their own writes: every read asks for consistency (the API key header carries
# it), with a bound generous enough for a loaded test machine.
CONSISTENT = {"X-Heron-Consistent": "true"}
CONSISTENT_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HeronProcess:
    data_dir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    init: bool = True
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        """The test key's header, and asking reads for the caller's own writes."""
        return {"Authorization": f"Bearer {SECRET_KEY}", **CONSISTENT}

    def start(self, timeout: float = 30.0) -> HeronProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
        env["HERON_CONSISTENT_READ_TIMEOUT_S"] = str(CONSISTENT_TIMEOUT_S)
        # one decode worker process: the same path as production's pool, one import fewer
        # per server start; tests of several workers ask for them (test_decoder_workers)
        env["HERON_INGEST_WORKERS"] = "1"
        if self.init:
            env.update(
                HERON_INIT_PROJECT="test",
                HERON_INIT_PUBLIC_KEY=PUBLIC_KEY,
                HERON_INIT_SECRET_KEY=SECRET_KEY,
                HERON_INIT_ADMIN_EMAIL=ADMIN_EMAIL,
                HERON_INIT_ADMIN_PASSWORD=ADMIN_PASSWORD,
            )
        env.update(self.env)
        self.log_path = self.data_dir.parent / f"heron-{self.port}.log"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "heron.cli",
                "serve",
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
                "--data-dir",
                str(self.data_dir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"heron exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()  # not left running (and holding its port and files) after the run
        raise RuntimeError(f"heron did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


OWNER_PASSWORD = "test-owner-password"


@dataclass
class ServerProject:
    """A project of its own on a shared server: its own API key, and an owner who belongs to
    it alone (so the web UI opens on it). Tests sharing a server each take one where they read
    lists, counts or settings that other tests' data would change. It stands in for the
    server in a test: ``url``, ``auth``, ``data_dir`` and ``log()`` are the server's."""

    server: HeronProcess
    name: str
    public_key: str
    secret_key: str
    email: str
    password: str = OWNER_PASSWORD

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def auth(self) -> dict[str, str]:
        """The project's key header, and asking reads for the caller's own writes."""
        return {"Authorization": f"Bearer {self.secret_key}", **CONSISTENT}

    def log(self) -> str:
        return self.server.log()


def admin_token(server: HeronProcess) -> str:
    """The admin token the running server wrote into its data directory."""
    info = (server.data_dir / "server.json").read_text()
    return json.loads(info)["admin_token"]


def new_project(server: HeronProcess, name: str | None = None) -> ServerProject:
    """A new project on ``server`` with a key and an owner (through the admin API)."""
    name = name or f"p-{secrets.token_hex(4)}"
    email = f"owner-{name}@heron.test"
    with httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {admin_token(server)}"},
        timeout=30,
    ) as admin:
        r = admin.post("/api/admin/keys", json={"project": name, "create_project": True})
        assert r.status_code == 201, r.text
        key = r.json()
        r = admin.post("/api/admin/users", json={"email": email, "password": OWNER_PASSWORD})
        assert r.status_code == 201, r.text
        member = {"project": name, "email": email, "role": "owner"}
        r = admin.post("/api/admin/members", json=member)
        assert r.status_code == 200, r.text
    return ServerProject(server, name, key["public_key"], key["secret_key"], email)
