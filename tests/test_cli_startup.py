"""Starting heron: option help, --version, port and environment checks before anything is created,
and which data directory the admin commands use."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from heron import __version__
from tests.support.server import HeronProcess


def heron(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "heron.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_serve_and_demo_help_name_every_default_and_variable() -> None:
    for command in ("serve", "demo"):
        out = heron(command, "--help")
        assert out.returncode == 0
        assert "HERON_PORT; default: 4376" in out.stdout
        assert "HERON_HOST; default: 127.0.0.1" in out.stdout
        options = [line for line in out.stdout.splitlines() if re.match(r"│ --(?!help)", line)]
        assert options, out.stdout
        for line in options:
            assert "default" in line, line
    assert "HERON_DATA_DIR; default: ~/.heron" in heron("serve", "--help").stdout
    assert "default: ~/.heron-demo" in heron("demo", "--help").stdout


def test_version() -> None:
    out = heron("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"heron {__version__}"


def test_port_out_of_range_is_refused(tmp_path: Path) -> None:
    for args, env in ((["--port", "99999"], {}), ([], {"HERON_PORT": "0"})):
        out = heron("serve", "--data-dir", str(tmp_path / "d"), *args, env=env)
        assert out.returncode == 2
        assert "not a port (1-65535)" in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_bad_environment_value_is_one_line(tmp_path: Path) -> None:
    out = heron("serve", "--data-dir", str(tmp_path / "d"), env={"HERON_PORT": "abc"})
    assert out.returncode == 2
    assert out.stderr.strip() == "error: HERON_PORT: cannot read 'abc' as int"
    out = heron("projects", "--data-dir", str(tmp_path), env={"HERON_BODY_TIMEOUT_S": "soon"})
    assert out.returncode == 2 and "HERON_BODY_TIMEOUT_S" in out.stderr
    assert "Traceback" not in out.stderr


def test_busy_port_is_refused_before_secrets_are_created(tmp_path: Path) -> None:
    data = tmp_path / "d"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = heron("serve", "--port", str(port), "--data-dir", str(data))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], out.stderr
    assert "secret key" not in out.stdout
    assert not (data / "heron.duckdb").exists()
    # a later start on a free port creates and prints the first-start secrets
    server = HeronProcess(data, init=False).start()
    try:
        assert re.search(r"secret key\s+sk-\S+", server.log())
    finally:
        server.stop()


def test_admin_commands_say_which_data_dir_and_warn_about_the_demo(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    clean = {k: v for k, v in os.environ.items() if k != "HERON_DATA_DIR"}
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "heron.cli", *a],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "COLUMNS": "200", **env},
    )
    out = run("projects")
    assert out.returncode == 0, out.stderr
    assert f"data directory: {tmp_path / '.heron'}" in out.stderr
    assert "warning" not in out.stderr
    # the demo's directory has data, the default one does not: say so
    demo = run("projects", "create", "x", "--data-dir", str(tmp_path / ".heron-demo"))
    assert demo.returncode == 0, demo.stderr + demo.stdout
    assert "data directory" not in demo.stderr  # given explicitly: nothing to say
    out = run("keys", "list")
    assert "warning" in out.stderr and str(tmp_path / ".heron-demo") in out.stderr
    out = run("users", "create", "a@example.com", "--password", "correct horse battery")
    assert "warning" in out.stderr and str(tmp_path / ".heron-demo") in out.stderr
    # once the default directory has a project, no more warning
    assert run("projects", "create", "mine").returncode == 0
    out = run("projects")
    assert "mine" in out.stdout and "warning" not in out.stderr
