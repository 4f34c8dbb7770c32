"""LLM-judge overhead: judgements per second with 64 concurrent calls against a local fake.

The fake OpenAI-compatible server (tests/evals/fake_openai.py) runs in its own process, so
it does not share the client's GIL; it answers at once (or after ``--latency`` seconds). The
client side is the real thing: ``heron.evals.judge.Judge`` with the openai async client,
request building, retries bookkeeping, answer parsing and validation.

Printed per scenario: judgements/s, latency p50/p95 (ms, as the judge measured it), and the
client's CPU time per judgement (its own overhead, whatever the server's speed). Scenarios:
the answer asked as structured output (json_schema), as a forced tool call (the provider
rejects ``response_format`` once, then the remembered mode is used), as plain text (both
rejected once), and the synchronous ``JudgePool.judge_many`` facade.

    .venv/bin/python bench/judge.py [--n 5000] [--concurrency 64] [--latency 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from heron.evals.judge import Connection, Judge, Judgement, JudgePool, JudgeRequest
from heron.evals.templates import TEMPLATES
from tests.evals.fake_openai import spawn

from _common import machine

TARGET = 200.0
TEMPLATE = TEMPLATES["helpfulness"]
REQUEST = {
    "input": "How do I rotate the API key of my project without downtime?",
    "output": "Create a second key in Settings > API keys, deploy it to every service, check "
    "the dashboard shows traffic on the new key only, then delete the old key.",
}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def report(name: str, n: int, elapsed: float, cpu: float, latencies: list[float]) -> float:
    rate = n / elapsed
    q = statistics.quantiles(latencies, n=20)
    flag = "" if rate >= TARGET else f"  BELOW TARGET {TARGET:.0f}/s"
    print(
        f"{name:<34} {rate:>8.0f}/s   p50 {statistics.median(latencies):>6.1f} ms"
        f"   p95 {q[18]:>6.1f} ms   client cpu {cpu / n * 1000:>5.2f} ms/judgement{flag}"
    )
    return rate


async def judge_all(connection: Connection, prompts: list[str]) -> list[Judgement]:
    judge = Judge(connection)
    try:
        await judge.judge(prompts[0], TEMPLATE.output)  # finds and remembers the mode
        return await asyncio.gather(*[judge.judge(p, TEMPLATE.output) for p in prompts])
    finally:
        await judge.aclose()


def scenario(
    name: str, url: str, n: int, concurrency: int, how: Callable[..., list[Judgement]]
) -> float:
    connection = Connection(
        "bench", url, "sk-bench", "gpt-4o-mini", max_concurrency=concurrency, max_retries=0
    )
    prompts = [TEMPLATE.prompt.replace("{{input}}", f"#{i} {REQUEST['input']}") for i in range(n)]
    prompts = [p.replace("{{output}}", REQUEST["output"]) for p in prompts]
    cpu0, t0 = cpu_s(), time.perf_counter()
    results = how(connection, prompts)
    elapsed, cpu = time.perf_counter() - t0, cpu_s() - cpu0
    bad = [r for r in results if not isinstance(r, Judgement)]
    assert not bad, bad[:3]
    return report(name, n, elapsed, cpu, [r.latency_ms for r in results])


def run_async(connection: Connection, prompts: list[str]) -> list[Judgement]:
    return asyncio.run(judge_all(connection, prompts))


def run_pool(connection: Connection, prompts: list[str]) -> list[Judgement]:
    with JudgePool() as pool:
        pool.judge_many([JudgeRequest(connection, prompts[0], TEMPLATE.output)])
        out = pool.judge_many([JudgeRequest(connection, p, TEMPLATE.output) for p in prompts])
    return out  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="judgements per scenario")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.0, help="fake answer delay (s)")
    args = parser.parse_args()
    print(f"machine: {machine()}; pid {os.getpid()}")
    print(f"before: {uptime()}")
    print(
        f"{args.n} judgements per scenario, {args.concurrency} concurrent, fake server in its "
        f"own process answering after {args.latency * 1000:.0f} ms"
    )
    rates = []
    for name, structured, tools, how in (
        ("json_schema (Judge, asyncio)", "yes", "yes", run_async),
        ("tool call (Judge, asyncio)", "reject", "yes", run_async),
        ("plain text (Judge, asyncio)", "reject", "reject", run_async),
        ("json_schema (JudgePool.judge_many)", "yes", "yes", run_pool),
    ):
        with spawn(args.latency, structured, tools) as url:
            rates.append(scenario(name, url, args.n, args.concurrency, how))
    print(f"after:  {uptime()}")
    print(f"slowest scenario {min(rates):.0f}/s, target {TARGET:.0f}/s")


if __name__ == "__main__":
    main()
