"""`heron users create` and `heron users set-password`, through a running server or directly."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from heron.store import EmbeddedStore
from tests.support.server import ADMIN_EMAIL, ADMIN_PASSWORD, HeronProcess
from tests.test_cli import heron

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/login/token\?token=\S+)")


def web_login(url: str, email: str, password: str) -> int:
    """Log in through the login form; the status of the answer (303 on success)."""
    with httpx.Client(base_url=url) as c:
        form = c.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        data = {"email": email, "password": password, "csrf_token": token}
        return c.post("/login", data=data).status_code


def test_users_commands_go_through_the_running_server(shared_server: HeronProcess) -> None:
    data = str(shared_server.data_dir)
    url = shared_server.url
    assert web_login(url, ADMIN_EMAIL, ADMIN_PASSWORD) == 303  # HERON_INIT_ADMIN_*

    out = heron("users", "create", "Dana@Heron.test", "--project", "test", "--data-dir", data)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "dana@heron.test" in out.stdout and "project 'test'" in out.stdout
    password = re.search(r"password\s+(\S+)\s+\(shown only now\)", out.stdout).group(1)  # type: ignore[union-attr]
    assert web_login(url, "dana@heron.test", password) == 303

    given = heron(
        "users", "create", "erin@heron.test", "--password", "erins-password", "--admin",
        "--data-dir", data,
    )  # fmt: skip
    assert given.returncode == 0 and "erins-password" not in given.stdout
    assert "every project" in given.stdout
    assert web_login(url, "erin@heron.test", "erins-password") == 303

    dup = heron("users", "create", "dana@heron.test", "--data-dir", data)
    assert dup.returncode == 1 and "already exists" in dup.stdout
    no_project = heron("users", "create", "f@heron.test", "--project", "nope", "--data-dir", data)
    assert no_project.returncode == 1 and "not found" in no_project.stdout

    reset = heron("users", "set-password", "dana@heron.test", "--password", "brand-new-pw",
                  "--data-dir", data)  # fmt: skip
    assert reset.returncode == 0, reset.stdout
    assert web_login(url, "dana@heron.test", password) == 401
    assert web_login(url, "dana@heron.test", "brand-new-pw") == 303

    short = heron("users", "set-password", "dana@heron.test", "--password", "short",
                  "--data-dir", data)  # fmt: skip
    assert short.returncode == 1 and "at least 8 characters" in short.stdout
    unknown = heron("users", "set-password", "zed@heron.test", "--data-dir", data)
    assert unknown.returncode == 1 and "not found" in unknown.stdout


def test_users_commands_work_without_a_server(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert heron("projects", "create", "solo", "--data-dir", str(data)).returncode == 0
    out = heron("users", "create", "gil@heron.test", "--project", "solo", "--data-dir", str(data))
    assert out.returncode == 0, out.stderr + out.stdout
    password = re.search(r"password\s+(\S+)\s+\(shown only now\)", out.stdout).group(1)  # type: ignore[union-attr]
    reset = heron("users", "set-password", "gil@heron.test", "--data-dir", str(data))
    assert reset.returncode == 0, reset.stderr + reset.stdout
    new = re.search(r"password\s+(\S+)\s+\(shown only now\)", reset.stdout).group(1)  # type: ignore[union-attr]
    assert new != password

    store = EmbeddedStore(data / "heron.duckdb")
    try:
        user = store.check_login("gil@heron.test", new)
        assert user is not None and not user["is_admin"]
        assert store.check_login("gil@heron.test", password) is None
        assert [p["name"] for p in store.user_projects(user["id"])] == ["solo"]
    finally:
        store.close()


def test_serve_prints_a_one_time_login_link_on_loopback(tmp_path: Path) -> None:
    server = HeronProcess(tmp_path / "fresh", init=False).start()
    try:
        deadline = time.monotonic() + 10  # the banner follows the first answered request
        while not (link := LINK.search(log := server.log())) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert link, log
        assert re.search(r"Created web UI admin admin@localhost\s+password\s+\S+", log), log
        with httpx.Client(follow_redirects=True) as c:
            first = c.get(link.group(1))
            assert first.status_code == 200 and first.url.path == "/"
            assert "admin@localhost" in first.text
        assert httpx.get(link.group(1)).status_code == 401  # used once
    finally:
        server.stop()
