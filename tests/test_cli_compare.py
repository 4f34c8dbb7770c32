"""`heron compare` against a real server: a rich table, JSON, and clear failures."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from heron.cli import _number
from heron.demo import DemoConfig, send
from tests.compare.test_compare_api import VERDICTS
from tests.support.server import SECRET_KEY, HeronProcess, ServerProject

END_US = 1_760_000_000_000_000  # 2025-10-09T08:53:20Z


def heron(
    *args: str, key: str | None = SECRET_KEY, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env["COLUMNS"] = str(columns)
    if key:
        env["HERON_SECRET_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "heron.cli", "compare", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_compare_prints_a_table_from_a_live_server(server_project: ServerProject) -> None:
    config = DemoConfig(traces=600, days=1, end_us=END_US, export_interval_s=600,
                        batch_spans=4096, delivery_quirks=False)  # fmt: skip
    key = server_project.secret_key  # the project holds these 600 traces alone
    send(config, server_project.url, key)
    url = ("--url", server_project.url)

    chat = '[{"column": "name", "operator": "=", "value": "support-chat"}]'
    out = heron(*url, "--field", "prompt_version", "--baseline", "3", "--candidate", "4",
                "--filter", chat, key=key)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "baseline: name = support-chat and prompt_version = 3" in out.stdout
    for word in ("metric", "95% CI", "verdict", "p50_latency", "error_rate"):
        assert word in out.stdout
    row = next(line for line in out.stdout.splitlines() if "p50_latency" in line)
    assert any(v in row for v in VERDICTS), row

    # at 80 columns: the compact table, no line longer, no number cut
    args = (*url, "--field", "prompt_version", "--baseline", "3", "--candidate", "4")
    # the runner may still be adding implicit-feedback scores: compare the table with an
    # answer read before and after it, once the two agree
    for _ in range(20):
        before = orjson.loads(heron(*args, "--json", key=key).stdout)["metrics"]
        narrow = heron(*args, key=key, columns=80)
        after = orjson.loads(heron(*args, "--json", key=key).stdout)["metrics"]
        if before == after:
            break
    assert narrow.returncode == 0, narrow.stdout + narrow.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    table = narrow.stdout.splitlines()[2:]  # after the two cohort lines ("…": no bound)
    assert table and not any("\u2026" in line for line in table)
    numbers = " ".join(table).split()
    for m in after:
        for k in ("baseline", "candidate", "difference", "p_value", "ci_low", "ci_high"):
            assert m[k] is None or _number(m[k]) in numbers, (k, m)

    as_json = heron(*url, "--at", "2025-10-08T20:53:20Z", "--days", "0.5", "--json", key=key)
    assert as_json.returncode == 0, as_json.stderr
    answer = orjson.loads(as_json.stdout)
    assert answer["cohorts"]["candidate"]["fromTimestamp"] == "2025-10-08T20:53:20Z"
    counts = answer["metrics"][0]
    assert counts["metric"] == "count" and counts["n_baseline"] + counts["n_candidate"] == 600


def test_compare_fails_clearly(shared_server: HeronProcess) -> None:
    url = ("--url", shared_server.url)
    bad = heron(*url, "--at", "soon")
    assert bad.returncode == 1 and "at: expected an ISO 8601 time" in bad.stdout
    nothing = heron(*url)
    assert nothing.returncode == 1 and "--field" in nothing.stdout
    no_key = heron(*url, "--at", "2025-10-08T20:53:20Z", key=None)
    assert no_key.returncode == 1 and "HERON_SECRET_KEY" in no_key.stdout
    wrong_key = heron(*url, "--at", "2025-10-08T20:53:20Z", key="sk-wrong")
    assert wrong_key.returncode == 1 and "401" in wrong_key.stdout
    down = heron("--url", "http://127.0.0.1:9", "--at", "2025-10-08T20:53:20Z")
    assert down.returncode == 1 and "cannot reach" in down.stdout
