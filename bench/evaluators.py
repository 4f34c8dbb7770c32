"""Automated evaluators: backfill speed of code evaluators, online latency, judge overhead.

``--backfill``: ``--traces`` traces (default 100,000; support answers of 300-1,500
characters, a fifth of them JSON) written straight into a store, three code evaluators
(``contains``, ``max_length`` in words, ``pii``), then one backfill job running all three
through the runner (reading traces, checking, writing scores), timed.

``--online``: ``heron serve`` with its defaults, a ``contains`` evaluator with
``delay_seconds: 1``; time from each trace's acknowledgement to its score being readable,
minus the delay.

``--judge``: an ``llm_judge`` evaluator through the runner against the fake OpenAI server
(``tests/evals/fake_openai.py``, in its own process, answering at once), connection
``max_concurrency: 64``: judgements/s of a backfill over ``--judge-traces`` traces, which
includes filling prompts, the HTTP calls, parsing, and recording each call as a trace.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from bench._common import HeronProcess, machine, otlp

from heron.config import document
from heron.evals.secrets import encrypt, hint, server_key
from heron.evals.task import EvaluatorTask
from heron.model import ObservationRecord, TraceUpdate
from heron.runner import Runner
from heron.store import EmbeddedStore

CODE = """
evaluators:
  - {name: mentions-refund, type: code, check: contains, args: {any: [refund, reimburse]},
     delay_seconds: 0}
  - {name: short-answer, type: code, check: max_length, args: {limit: 200, unit: words},
     delay_seconds: 0}
  - {name: leaks-pii, type: code, check: pii, delay_seconds: 0}
"""
_TEXT = (
    "your order refund account password invoice shipping delivery we can help please "
    "check the settings page and try again the payment was processed yesterday"
)
WORDS = _TEXT.split(" ")


def answer(rng: random.Random) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(50, 250)))
    if rng.random() < 0.2:
        return '{"answer": "' + text[:400] + '", "sources": [1, 2]}'
    if rng.random() < 0.05:
        text += " write to jane.doe@example.com"
    return text


def fill(store: EmbeddedStore, project: str, count: int) -> None:
    rng = random.Random(7)
    base = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1_000_000)
    for start in range(0, count, 20_000):
        obs, updates = [], []
        for n in range(start, min(count, start + 20_000)):
            trace_id = f"{n:032x}"
            out = '"' + answer(rng).replace('"', '\\"') + '"'
            at = base + n * 1_000_000
            obs.append(
                ObservationRecord(
                    project_id=project, id=f"{n:016x}", trace_id=trace_id, parent_id=None,
                    type="span", name="support-chat", start_us=at, end_us=at + 900_000,
                    input='"Where is my refund?"', output=out,
                )
            )  # fmt: skip
            updates.append(
                TraceUpdate(project_id=project, trace_id=trace_id, is_root=True,
                            name="support-chat", input='"Where is my refund?"', output=out)
            )  # fmt: skip
        store.write_batch(obs, updates)


def define(store: EmbeddedStore, project: str, text: str) -> None:
    key = server_key(store.path.parent, os.environ)
    changes = document.plan(store, project, document.parse_document(text))
    document.apply(store, project, changes, lambda k: (encrypt(k, key), hint(k)))


def timed_backfill(store: EmbeddedStore, project: str) -> float:
    runner = Runner(store, [EvaluatorTask()])
    runner.run_until_idle()  # the task's cursor starts at the head: history is the job's
    started = time.perf_counter()
    job = runner.start_job(project, ["evaluators"])
    runner.run_until_idle()
    took = time.perf_counter() - started
    runner.stop()
    done = store.runner_job(job["id"])
    assert done is not None and done["status"] == "done", done
    return took


def backfill(count: int, checks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "heron.duckdb")
        project = store.create_project("bench")["id"]
        t = time.perf_counter()
        fill(store, project, count)
        print(f"stored {count:,} traces in {time.perf_counter() - t:.1f} s")
        define(store, project, "\n".join(CODE.strip("\n").split("\n")[: 1 + 2 * checks]))
        took = timed_backfill(store, project)
        scores = store.cursor().execute("SELECT count(*) FROM scores").fetchone()[0]
        print(
            f"backfill, {checks} code evaluator(s): {count:,} traces in {took:.1f} s = "
            f"{count / took:,.0f} traces/s ({scores:,} scores)"
        )
        store.close()


def online(probes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = HeronProcess(Path(tmp) / "data").start()
        try:
            body = {"name": "mentions", "type": "code", "check": "contains",
                    "args": {"any": ["support"]}, "variables": {"text": "name"},
                    "delay_seconds": 1}  # fmt: skip
            r = httpx.post(server.url + "/api/evaluators", json=body, headers=server.auth)
            assert r.status_code == 201, r.text
            lags = []
            for _ in range(probes):
                trace_id, spans = otlp.genai_trace(n_children=0)
                r = httpx.post(
                    server.url + "/v1/traces",
                    content=otlp.request(spans).SerializeToString(),
                    headers={**server.auth, "Content-Type": "application/x-protobuf"},
                )
                assert r.status_code == 200
                acked = time.perf_counter()
                while True:
                    q = httpx.get(
                        server.url + "/api/public/v2/scores",
                        params={"name": "mentions", "traceId": trace_id.hex()},
                        headers=server.auth,
                    )
                    if q.json()["data"]:
                        break
                    time.sleep(0.01)
                lags.append(time.perf_counter() - acked - 1.0)
            print(
                "online code score after the 1 s delay: median "
                f"{statistics.median(lags) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms "
                f"({probes} probes)"
            )
        finally:
            server.stop()


def under_load(rate: int, seconds: int) -> None:
    """Ingest ``rate`` traces/s for ``seconds`` with two code evaluators running online;
    how far behind the scores are during and after."""
    with tempfile.TemporaryDirectory() as tmp:
        server = HeronProcess(Path(tmp) / "data").start()
        try:
            for body in (
                {"name": "mentions", "type": "code", "check": "contains",
                 "args": {"any": ["support"]}, "variables": {"text": "name"},
                 "delay_seconds": 0},
                {"name": "fast", "type": "code", "check": "latency_above", "args": {"ms": 1500},
                 "delay_seconds": 0},
            ):  # fmt: skip
                r = httpx.post(server.url + "/api/evaluators", json=body, headers=server.auth)
                assert r.status_code == 201, r.text
            batch = max(1, rate // 10)
            sent, lags = 0, []
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                spans = [s for _ in range(batch) for s in otlp.genai_trace(n_children=1)[1]]
                r = httpx.post(
                    server.url + "/v1/traces",
                    content=otlp.request(spans).SerializeToString(),
                    headers={**server.auth, "Content-Type": "application/x-protobuf"},
                )
                assert r.status_code == 200
                sent += batch
                if sent % (batch * 20) == 0:
                    lags.append(sent - _scored(server, "fast"))
                time.sleep(max(0.0, started + sent / rate - time.perf_counter()))
            ingest_s = time.perf_counter() - started
            while _scored(server, "fast") < sent:
                time.sleep(0.05)
            drain = time.perf_counter() - started - ingest_s
            print(
                f"under load: {sent:,} traces at {sent / ingest_s:,.0f}/s with 2 code "
                f"evaluators online; traces not yet scored while ingesting: median "
                f"{statistics.median(lags):,.0f}, max {max(lags):,}; all scored "
                f"{drain:.2f} s after the last batch"
            )
        finally:
            server.stop()


def _scored(server: HeronProcess, name: str) -> int:
    r = httpx.get(
        server.url + "/api/public/v2/scores",
        params={"name": name, "limit": 1},
        headers=server.auth,
    )
    return int(r.json()["meta"]["totalItems"])


def judge(count: int) -> None:
    from tests.evals.fake_openai import spawn

    with spawn() as base_url, tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "heron.duckdb")
        project = store.create_project("bench")["id"]
        fill(store, project, count)
        define(
            store,
            project,
            "connections:\n"
            f"  - {{name: fake, base_url: '{base_url}', api_key: sk-bench, model: gpt-4o-mini,"
            " max_concurrency: 64}\n"
            "evaluators:\n"
            "  - {name: helpful, type: llm_judge, connection: fake, template: helpfulness,"
            " delay_seconds: 0}\n",
        )
        took = timed_backfill(store, project)
        calls = (
            store.cursor()
            .execute("SELECT count(*) FROM traces WHERE environment = 'heron-evaluation'")
            .fetchone()[0]
        )
        print(
            f"judge backfill, 64 concurrent calls: {count:,} judgements in {took:.1f} s = "
            f"{count / took:,.0f} judgements/s ({calls:,} judge traces recorded)"
        )
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backfill", action="store_true")
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--checks", type=int, choices=(1, 2, 3), default=3)
    parser.add_argument("--online", action="store_true")
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--load", action="store_true", help="online scores under ingest")
    parser.add_argument("--rate", type=int, default=500, help="traces/s for --load")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--judge", action="store_true")
    parser.add_argument("--judge-traces", type=int, default=5_000)
    args = parser.parse_args()
    every = not (args.backfill or args.online or args.judge or args.load)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, load {os.getloadavg()[0]:.2f}")
    if args.backfill or every:
        backfill(args.traces, args.checks)
    if args.online or every:
        online(args.probes)
    if args.load or every:
        under_load(args.rate, args.seconds)
    if args.judge or every:
        judge(args.judge_traces)
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
