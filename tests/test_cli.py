"""The heron command: admin commands through a running server, or directly on the store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.otlp import genai_trace, request
from tests.support.server import HeronProcess


def heron(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "heron.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_keys_create_goes_through_the_running_server(shared_server: HeronProcess) -> None:
    data = str(shared_server.data_dir)
    assert (shared_server.data_dir / "server.json").exists()
    out = heron("keys", "create", "--project", "checkout", "--create-project", "--data-dir", data)
    assert out.returncode == 0, out.stderr + out.stdout
    secret = re.search(r"secret key\s+(sk-\S+)", out.stdout).group(1)  # type: ignore[union-attr]

    tid, spans = genai_trace()
    h = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-protobuf"}
    r = httpx.post(
        shared_server.url + "/v1/traces", content=request(spans).SerializeToString(), headers=h
    )
    assert r.status_code == 200
    # ingest acknowledges once the batch is journaled; the read asks to see it applied
    got = httpx.get(
        shared_server.url + f"/api/traces/{tid.hex()}", headers={**h, "X-Heron-Consistent": "true"}
    )
    assert got.status_code == 200
    # ... and the trace belongs to the new project only
    assert (
        httpx.get(
            shared_server.url + f"/api/traces/{tid.hex()}", headers=shared_server.auth
        ).status_code
        == 404
    )

    listing = heron("projects", "--data-dir", data)
    assert listing.returncode == 0 and "checkout" in listing.stdout and "test" in listing.stdout
    # HERON_INIT_PROJECT made project "test" with the given keys, and no "default" project
    assert "default" not in listing.stdout
    keys = heron("keys", "list", "--project", "checkout", "--data-dir", data)
    assert keys.returncode == 0 and secret not in keys.stdout and secret[-4:] in keys.stdout

    dup = heron("projects", "create", "checkout", "--data-dir", data)
    assert dup.returncode == 1 and "already exists" in dup.stdout


def test_admin_commands_work_without_a_server(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    out = heron("keys", "create", "--project", "solo", "--create-project", "--data-dir", data)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "pk-hr-" in out.stdout
    listing = heron("projects", "--data-dir", data)
    assert "solo" in listing.stdout
    missing = heron("keys", "create", "--project", "nope", "--data-dir", data)
    assert missing.returncode == 1 and "not found" in missing.stdout


def test_first_start_creates_default_project_and_prints_keys(tmp_path: Path) -> None:
    server = HeronProcess(tmp_path / "fresh", init=False).start()
    try:
        log = server.log()
        pk = re.search(r"public key\s+(pk-\S+)", log)
        sk = re.search(r"secret key\s+(sk-\S+)", log)
        assert pk and sk, log
        r = httpx.get(server.url + "/api/traces", auth=(pk.group(1), sk.group(1)))
        assert r.status_code == 200
    finally:
        server.stop()
    # the secret is stored hashed: it is nowhere in the database file
    raw = (tmp_path / "fresh" / "heron.duckdb").read_bytes()
    wal = tmp_path / "fresh" / "heron.duckdb.wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert sk.group(1).encode() not in raw
