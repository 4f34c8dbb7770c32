"""Many logins at once against a real `heron serve`: at most HERON_LOGIN_HASH_CONCURRENCY
password hashes run together, the excess is answered 503 with Retry-After, and the server's
memory stays flat (each scrypt hash takes 16 MiB)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import ADMIN_EMAIL, ADMIN_PASSWORD, HeronProcess

PARALLEL = 20
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    data = tmp_path_factory.mktemp("login-load") / "data"
    proc = HeronProcess(data, env={"HERON_INGEST_WORKERS": "0"}).start()
    yield proc
    proc.stop()


def login_form(c: httpx.Client) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
    assert found
    return found.group(1)


def health(server: HeronProcess) -> dict[str, float]:
    token = json.loads(Path(server.data_dir / "server.json").read_text())["admin_token"]
    r = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            key = s.name + "".join(f"{{{v}}}" for v in s.labels.values())
            out[key] = s.value
    return out


def test_parallel_logins_run_at_most_two_hashes_at_once(server: HeronProcess) -> None:
    process = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
    clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(PARALLEL)]
    tokens = [login_form(c) for c in clients]
    rss_before = process.memory_info().rss
    barrier = threading.Barrier(PARALLEL)
    answers: list[httpx.Response] = []

    def post(c: httpx.Client, token: str) -> None:
        barrier.wait()
        answers.append(
            c.post(
                "/login",
                data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": token},
            )
        )

    pairs = zip(clients, tokens, strict=True)
    threads = [threading.Thread(target=post, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rss_after = process.memory_info().rss
    for c in clients:
        c.close()

    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {303, 503}, statuses
    busy = [r for r in answers if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in busy)
    assert all("checking too many logins at once" in r.text for r in busy)
    ok = statuses.count(303)
    assert ok >= 2
    m = health(server)
    assert m["heron_web_login_hashes_max_running"] <= 2
    assert m["heron_web_login_hashes_running"] == 0
    assert m["heron_web_logins_total{ok}"] == ok
    assert m["heron_web_logins_total{busy}"] == len(busy)
    grew = (rss_after - rss_before) / MiB
    print(
        f"\n{PARALLEL} parallel logins: {ok} logged in, {len(busy)} answered 503; "
        f"at most {m['heron_web_login_hashes_max_running']:.0f} hashes at once; server RSS "
        f"{rss_before / MiB:.0f} MiB before, {rss_after / MiB:.0f} MiB after (+{grew:.0f} MiB)"
    )
    assert grew < 128, grew  # 20 hashes at once would need 320 MiB for scrypt alone
