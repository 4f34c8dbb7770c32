"""`heron experiments compare`, the CI gate, against a live `heron serve`: exit codes 0, 1
and 2, and a table whose numbers are the JSON answer's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from heron.experiments_cli import number
from heron.server.app import create_app
from tests.conftest import make_settings
from tests.experiments import rows
from tests.experiments.plant import Outcome, plant_run
from tests.support.server import CONSISTENT, SECRET_KEY, HeronProcess


def _plant(data_dir: Path) -> None:
    """Dataset ``gate`` with runs v1 (baseline); v2, more accurate but a quarter of its
    correct answers lost; v3, more accurate and as correct but 300 ms slower.

    Planted by an in-process app on the data directory before the live server opens it:
    datasets have no API yet, and only one process may open the store."""
    settings = make_settings(data_dir.parent)
    rng = np.random.default_rng(3)
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        store = c.app.state.heron.store
        pid = store.project_by_name("test")["id"]
        ds = rows.add_dataset(store, pid, "gate")
        ids = [f"q{i:02d}" for i in range(60)]
        version = rows.add_items(store, pid, ds, [(i, i, None) for i in ids])
        v1 = [Outcome(i, latency_ms=800 + 50 * float(rng.normal()),
                      scores={"accuracy": float(rng.uniform(0.4, 0.8)),
                              "correct": bool(rng.random() < 0.8)}) for i in ids]  # fmt: skip
        better = [
            {"accuracy": float(o.scores["accuracy"]) + 0.1 + 0.02 * float(rng.normal())} for o in v1
        ]
        v2 = [replace(o, scores={**b, "correct": bool(o.scores["correct"]) and k % 4 != 0})
              for k, (o, b) in enumerate(zip(v1, better, strict=True))]  # fmt: skip
        v3 = [replace(o, latency_ms=o.latency_ms + 300, scores={**o.scores, **b})
              for o, b in zip(v1, better, strict=True)]  # fmt: skip
        for name, outcomes in (("v1", v1), ("v2", v2), ("v3", v3)):
            plant_run(c, store, pid, ds, name, outcomes, version)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    data_dir = tmp_path_factory.mktemp("gate") / "data"
    _plant(data_dir)
    live = HeronProcess(data_dir).start()
    yield live
    live.stop()


def heron(
    *args: str, key: str | None = SECRET_KEY, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env["COLUMNS"] = str(columns)
    if key:
        env["HERON_SECRET_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "heron.cli", "experiments", "compare", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _runs(server: HeronProcess, baseline: str, candidate: str) -> tuple[str, ...]:
    return ("--url", server.url, "--dataset", "gate", "--baseline", baseline,
            "--candidate", candidate)  # fmt: skip


def test_a_regressed_score_fails_the_gate(server: HeronProcess) -> None:
    gate = heron(*_runs(server, "v1", "v2"), "--fail-on-regression")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "regressed: correct" in gate.stdout
    report = heron(*_runs(server, "v1", "v2"))  # without the flag: a report, exit 0
    assert report.returncode == 0 and "regressed: correct" in report.stdout


def test_no_regressed_score_passes_and_measures_count_when_asked(server: HeronProcess) -> None:
    gate = heron(*_runs(server, "v1", "v3"), "--fail-on-regression")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "no significant regression" in gate.stdout
    strict = heron(*_runs(server, "v1", "v3"), "--fail-on-regression", "--include-measures")
    assert strict.returncode == 1 and "regressed: latency" in strict.stdout
    # lower is better for accuracy, by option: now it regressed
    flipped = heron(*_runs(server, "v1", "v3"), "--fail-on-regression",
                    "--lower-is-better", "accuracy")  # fmt: skip
    assert flipped.returncode == 1 and "regressed: accuracy" in flipped.stdout


def test_the_table_shows_the_json_answers_numbers_in_80_columns(server: HeronProcess) -> None:
    as_json = heron(*_runs(server, "v1", "v2"), "--json", "--fail-on-regression")
    assert as_json.returncode == 1  # the gate holds with --json too
    answer = orjson.loads(as_json.stdout)
    assert answer["pairs"]["paired"] == 60
    verdicts = {r["name"]: r["verdict"] for r in answer["rows"]}
    assert verdicts["accuracy"] == "improved" and verdicts["correct"] == "regressed"
    for columns in (80, 200):
        table = heron(*_runs(server, "v1", "v2"), columns=columns)
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert max(len(line) for line in lines) <= columns
        assert lines[0] == "dataset gate: v2 (candidate) vs v1 (baseline)"
        assert lines[1].startswith("60 items paired, 0 only in the baseline")
        words = " ".join(lines).replace("[", " ").replace("]", " ").replace(",", " ").split()
        for row in answer["rows"]:
            assert row["name"] in words
            for k in ("baseline", "candidate", "difference", "ci_low", "ci_high", "p_adjusted"):
                assert number(row[k]) in words, (columns, k, row)
        assert "\u2026" not in table.stdout  # nothing cut


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (("--dataset", "gate", "--baseline", "v1"), SECRET_KEY, "Missing option '--candidate'"),
        (("--dataset", "nope", "--baseline", "v1", "--candidate", "v2"), SECRET_KEY,
         "404: dataset 'nope' not found in this project"),
        (("--dataset", "gate", "--baseline", "v1", "--candidate", "v9"), SECRET_KEY,
         "404: dataset 'gate' has no run 'v9'"),
        (("--dataset", "gate", "--baseline", "v1", "--candidate", "v2", "--alpha", "0.9"),
         SECRET_KEY, "400: alpha: between 0.001 and 0.5"),
        (("--dataset", "gate", "--baseline", "v1", "--candidate", "v2"), "sk-wrong",
         "the server refused the key (401)"),
        (("--dataset", "gate", "--baseline", "v1", "--candidate", "v2"), None,
         "a secret API key is required: --key or HERON_SECRET_KEY"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_naming_the_problem(
    server: HeronProcess, args: tuple[str, ...], key: str | None, message: str
) -> None:
    out = heron("--url", server.url, "--fail-on-regression", *args, key=key)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in " ".join((out.stdout + out.stderr).split()), out.stderr


def test_no_server_is_a_usage_error() -> None:
    out = heron("--url", "http://127.0.0.1:9", "--dataset", "gate", "--baseline", "v1",
                "--candidate", "v2", "--fail-on-regression")  # fmt: skip
    assert out.returncode == 2
    assert "cannot reach the heron server at http://127.0.0.1:9" in out.stderr
