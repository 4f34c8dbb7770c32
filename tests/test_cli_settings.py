"""`heron projects rename`, `heron keys revoke` and `heron members ...`, through a running
server (its admin API) and directly on the data directory."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from heron.store import EmbeddedStore
from tests.support.server import ServerProject
from tests.test_cli import heron

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/invite\?token=\S+)")


def test_settings_commands_go_through_the_running_server(
    server_project: ServerProject,
) -> None:
    project = server_project.name
    data = str(server_project.data_dir)
    made = heron("keys", "create", "--project", project, "--data-dir", data)
    assert made.returncode == 0, made.stdout + made.stderr
    public = re.search(r"public key\s+(\S+)", made.stdout).group(1)  # type: ignore[union-attr]
    secret = re.search(r"secret key\s+(\S+)", made.stdout).group(1)  # type: ignore[union-attr]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(server_project.url + "/api/traces", headers=bearer).status_code == 200
    out = heron("keys", "revoke", public, "--project", project, "--data-dir", data)
    assert out.returncode == 0, out.stdout + out.stderr
    assert httpx.get(server_project.url + "/api/traces", headers=bearer).status_code == 401

    heron("users", "create", "kim@heron.test", "--password", "kims-password", "--data-dir", data)
    assert heron("members", "add", "kim@heron.test", "--role", "viewer", "--project", project,
                 "--data-dir", data).returncode == 0  # fmt: skip
    listed = heron("members", "list", "--project", project, "--data-dir", data)
    assert re.search(r"kim@heron\.test\s+.\s*viewer", listed.stdout), listed.stdout
    bad = heron("members", "role", "kim@heron.test", "boss", "--project", project,
                "--data-dir", data)  # fmt: skip
    assert bad.returncode == 1 and "unknown role" in bad.stdout
    assert heron("members", "remove", "kim@heron.test", "--project", project,
                 "--data-dir", data).returncode == 0  # fmt: skip
    assert "kim@" not in heron("members", "list", "--project", project, "--data-dir", data).stdout

    invited = heron("members", "invite", "--role", "member", "--project", project,
                    "--data-dir", data)  # fmt: skip
    link = LINK.search(invited.stdout)
    assert link, invited.stdout
    with httpx.Client() as c:
        assert f"Join {project}" in c.get(link.group(1)).text

    renamed = heron("projects", "rename", project, "prod", "--data-dir", data)
    assert renamed.returncode == 0 and "'prod'" in renamed.stdout
    assert "prod" in heron("projects", "--data-dir", data).stdout


def test_settings_commands_work_without_a_server(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    assert heron("projects", "create", "solo", "--data-dir", data).returncode == 0
    heron("users", "create", "lee@heron.test", "--password", "lees-password", "--data-dir", data)
    out = heron("members", "add", "lee@heron.test", "--role", "owner", "--project", "solo",
                "--data-dir", data)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    last = heron("members", "remove", "lee@heron.test", "--project", "solo", "--data-dir", data)
    assert last.returncode == 1 and "last owner" in last.stdout
    invited = heron("members", "invite", "--role", "viewer", "--project", "solo",
                    "--data-dir", data)  # fmt: skip
    token = re.search(r"/invite\?token=(\S+)", invited.stdout).group(1)  # type: ignore[union-attr]
    missing = heron("keys", "revoke", "pk-nope", "--project", "solo", "--data-dir", data)
    assert missing.returncode == 1 and "not found" in missing.stdout
    assert heron("projects", "rename", "solo", "duo", "--data-dir", data).returncode == 0
    store = EmbeddedStore(tmp_path / "d" / "heron.duckdb")
    try:
        assert store.peek_invite(token)["role"] == "viewer"
        assert store.project_by_name("duo") is not None
    finally:
        store.close()


def test_feedback_settings_through_the_server_and_directly(
    server_project: ServerProject, tmp_path: Path
) -> None:
    project = server_project.name
    data = str(server_project.data_dir)
    out = heron("projects", "feedback", project, "--origin", "https://shop.example.test/",
                "--origin", "http://localhost:3000", "--score-name", "user_feedback",
                "--data-dir", data)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "https://shop.example.test, http://localhost:3000" in out.stdout
    pre = httpx.options(
        server_project.url + "/api/public/scores",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 204  # the running server applies it at once
    shown = heron("projects", "feedback", project, "--any-name", "--data-dir", data)
    assert "allowed score names: (any)" in shown.stdout
    assert "http://localhost:3000" in shown.stdout  # origins kept
    bad = heron("projects", "feedback", project, "--origin", "*", "--data-dir", data)
    assert bad.returncode == 1 and "wildcards are not allowed" in bad.stdout

    solo = str(tmp_path / "d")
    assert heron("projects", "create", "solo", "--data-dir", solo).returncode == 0
    direct = heron("projects", "feedback", "solo", "--score-name", "thumbs", "--data-dir", solo)
    assert direct.returncode == 0 and "allowed origins:     (none)" in direct.stdout
    store = EmbeddedStore(Path(solo) / "heron.duckdb")
    try:
        pid = store.project_by_name("solo")["id"]
        assert store.feedback_settings(pid)["allowed_names"] == ["thumbs"]
    finally:
        store.close()
