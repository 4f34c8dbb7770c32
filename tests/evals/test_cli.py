"""`heron apply`, `heron export` and `heron evaluators list|backfill`, through a running
server and directly on a data directory."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import yaml

from heron.model import ObservationRecord, TraceUpdate
from heron.store import EmbeddedStore
from tests.support.server import ServerProject
from tests.test_cli import heron

DOC = textwrap.dedent(
    """
    connections:
      - {name: judge, base_url: "http://127.0.0.1:9/v1", api_key: "${JUDGE_KEY}", model: m}
    evaluators:
      - {name: mentions-refund, type: code, check: contains, args: {any: [refund]},
         delay_seconds: 0}
    """
)


def test_apply_export_and_backfill_without_a_server(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert heron("projects", "create", "solo", "--data-dir", str(data)).returncode == 0
    store = EmbeddedStore(data / "heron.duckdb")
    try:
        project = store.project_by_name("solo")["id"]
        for n in range(3):
            out = '"Your refund is on its way."' if n else '"No."'
            store.write_batch(
                [ObservationRecord(project_id=project, id=f"{n:016x}", trace_id=f"{n:032x}",
                                   parent_id=None, type="span", name="chat",
                                   start_us=1_764_000_000_000_000 + n, output=out)],
                [TraceUpdate(project_id=project, trace_id=f"{n:032x}", is_root=True, output=out)],
            )  # fmt: skip
    finally:
        store.close()
    doc = tmp_path / "heron.yaml"
    doc.write_text(DOC)
    missing = heron("apply", str(doc), "--project", "solo", "--data-dir", str(data))
    assert missing.returncode == 2 and "JUDGE_KEY" in missing.stderr
    env = {"JUDGE_KEY": "sk-cli-secret-9999"}
    plan = heron("apply", str(doc), "--project", "solo", "--dry-run", "--data-dir", str(data),
                 env=env)  # fmt: skip
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "create" in plan.stdout and "plan" in plan.stdout
    done = heron("apply", str(doc), "--project", "solo", "--data-dir", str(data), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    exported = heron("export", "--project", "solo", "--data-dir", str(data))
    assert "sk-cli-secret-9999" not in exported.stdout
    assert [e["name"] for e in yaml.safe_load(exported.stdout)["evaluators"]] == ["mentions-refund"]
    ran = heron("evaluators", "backfill", "mentions-refund", "--project", "solo",
                "--data-dir", str(data))  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "done, 3 targets" in ran.stderr
    listed = heron("evaluators", "list", "--project", "solo", "--json", "--data-dir", str(data))
    assert '"mentions-refund"' in listed.stdout
    store = EmbeddedStore(data / "heron.duckdb")
    try:
        values = (
            store.cursor()
            .execute("SELECT trace_id, value FROM scores WHERE name = 'mentions-refund' ORDER BY 1")
            .fetchall()
        )
    finally:
        store.close()
    assert values == [(f"{0:032x}", 0.0), (f"{1:032x}", 1.0), (f"{2:032x}", 1.0)]
    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluators:\n  - {name: x, type: code, check: nope}\n")
    refused = heron("apply", str(bad), "--project", "solo", "--data-dir", str(data))
    assert refused.returncode == 1 and "evaluators[0].check" in refused.stderr


def test_apply_and_backfill_through_the_running_server(
    server_project: ServerProject, tmp_path: Path
) -> None:
    project = server_project.name
    data = str(server_project.data_dir)
    doc = tmp_path / "heron.yaml"
    doc.write_text(DOC)
    done = heron("apply", str(doc), "--project", project, "--data-dir", data,
                 env={"JUDGE_KEY": "sk-cli-secret-9999"})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    r = httpx.get(server_project.url + "/api/evaluators", headers=server_project.auth)
    assert [e["name"] for e in r.json()["data"]] == ["mentions-refund"]
    again = heron("apply", str(doc), "--project", project, "--data-dir", data,
                  env={"JUDGE_KEY": "sk-cli-secret-9999"})  # fmt: skip
    assert again.returncode == 0 and "unchanged" in again.stdout and "create" not in again.stdout
    ran = heron("evaluators", "backfill", "mentions-refund", "--project", project,
                "--data-dir", data)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "started in the server" in ran.stderr
