"""Web UI page times with 1,000,000 traces stored, against a real `heron serve`.

Uses the store `bench/read.py` builds (1,000,050 traces, 6.2 M observations; built on first
use), ingests one trace of 500 observations over OTLP, logs in like a browser and times each
page (server work plus loopback HTTP). List pages never read inputs or outputs: the byte
size of each page is printed as a check that rows carry previews only.

Usage: python bench/ui.py [--traces 1000000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

import httpx
import orjson

from _common import HeronProcess, machine, otlp, rss_mib
from read import RESULTS, populate

ADMIN_EMAIL = "admin@heron.test"
ADMIN_PASSWORD = "test-admin-password"
PB = {"Content-Type": "application/x-protobuf"}


def big_trace(server: HeronProcess, n: int) -> str:
    tid, root = otlp.new_trace_id(), otlp.new_span_id()
    spans = [otlp.span(tid, root, "agent-run", duration_ms=120_000)]
    parents = [root]
    for k in range(n - 1):
        sid = otlp.new_span_id()
        spans.append(
            otlp.span(
                tid, sid, f"step-{k}", parent=parents[k // 10],
                start_ns=otlp.T0_NS + k * 200_000_000, duration_ms=150,
                attributes={"input.value": f"step {k} input " * 10,
                            "output.value": f"step {k} output " * 10},
            )
        )  # fmt: skip
        parents.append(sid)
    r = httpx.post(server.url + "/v1/traces", content=otlp.request(spans).SerializeToString(),
                   headers={**server.auth, **PB}, timeout=60)  # fmt: skip
    r.raise_for_status()
    return tid.hex()


def login(http: httpx.Client) -> None:
    form = http.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, "no CSRF token on the login form"
    r = http.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                  "csrf_token": token.group(1)})  # fmt: skip
    r.raise_for_status()
    assert "/login" not in str(r.url), "login failed"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--seed-traces", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    data_dir = RESULTS / f"read-{args.traces}"
    data_dir.mkdir(parents=True, exist_ok=True)
    populate(data_dir, args.traces, args.seed_traces)
    env = {"HERON_INIT_ADMIN_EMAIL": ADMIN_EMAIL, "HERON_INIT_ADMIN_PASSWORD": ADMIN_PASSWORD}
    server = HeronProcess(data_dir, env=env).start(timeout=120)
    try:
        tid = big_trace(server, 500)
        with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
            login(http)
            api = {"Authorization": server.auth["Authorization"]}
            one = http.get("/api/traces?limit=1&order_by=cost.desc", headers=api).json()["data"]
            user, session = one[0]["user_id"], one[0]["session_id"]
            wait = {**api, "X-Heron-Consistent": "true"}  # the big trace is applied first
            big = http.get(f"/api/traces/{tid}", headers=wait).json()["observations"]
            obs = big[len(big) // 2]["id"]
            flt = orjson.dumps([{"column": "metadata.plan", "operator": "=",
                                 "value": "enterprise"}]).decode()  # fmt: skip
            cases = [
                ("traces, first page", "/traces"),
                ("traces, user filter", f"/traces?user_id={user}"),
                ("traces, errors only", "/traces?level=ERROR"),
                ("traces, metadata filter", f"/traces?filter={flt}"),
                ("traces, name by cost", "/traces?name=support-chat&order_by=cost.desc"),
                ("trace with 500 observations", f"/traces/{tid}"),
                ("same, an observation selected", f"/traces/{tid}?observation={obs}"),
                ("its side panel alone", f"/traces/{tid}/panel?observation={obs}"),
                ("observations, first page", "/observations"),
                (
                    "observations, generations",
                    "/observations?filter="
                    + orjson.dumps(
                        [{"column": "type", "operator": "=", "value": "generation"}]
                    ).decode(),
                ),
                ("sessions, first page", "/sessions"),
                ("sessions by cost, 7 days", "/sessions?sort=cost.desc&range=7d"),
                ("a session", f"/sessions/{session}"),
                ("users, first page", "/users"),
                ("users by traces", "/users?sort=traces.desc"),
                ("a user", f"/users/{user}"),
                ("home", "/"),
                ("dashboard, default range", "/dashboard"),
                ("settings", "/settings"),
                ("settings, API keys", "/settings/keys"),
                ("settings, members", "/settings/members"),
                ("settings, prices + unpriced", "/settings/prices"),
            ]
            print(f"{'page':32} {'median ms':>10} {'max ms':>8} {'KiB':>6}")
            for label, url in cases:
                times = []
                size = 0
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    r = http.get(url)
                    times.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, (url, r.status_code, r.text[:300])
                    size = len(r.content)
                print(f"{label:32} {statistics.median(times):10.1f} {max(times):8.1f} "
                      f"{size / 1024:6.0f}")  # fmt: skip
        print(f"server RSS after the pages: {rss_mib(server.proc.pid):.0f} MiB")  # type: ignore[union-attr]
    finally:
        server.stop()


if __name__ == "__main__":
    main()
