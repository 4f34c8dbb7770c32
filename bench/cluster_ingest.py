"""Sustained ingest on the cluster backend (ClickHouse + PostgreSQL) beside the embedded one.

Starts PostgreSQL (tests/support/postgres.py) and the ClickHouse HTTP shim over chdb
(tests/support/chdb_server.py, run here with a timer on its query lock), then measures three
set-ups with the same load, the demo workload of bench/ingest.py in 512-span OTLP/HTTP
protobuf requests, every request distinct, N clients posting as fast as they are answered
for T seconds:

  (a) one `heron serve` replica on the cluster backends;
  (b) two replicas on the same backends (fresh databases), clients split between them;
  (c) one embedded (DuckDB) replica, for reference.

Reported for each: acknowledged spans/s (200s, i.e. in the replica's journal, over T) and
applied spans/s (the same spans over the time from the first post until every replica's
`/readyz` reports no backlog, then checked by a consistent read, through the other replica
when there are two, of the last trace each client sent); CPU seconds per process (replicas
with their decode workers, the shim, PostgreSQL, the clients) and the fraction of the
wall time the shim held its one chdb session (its queries are serialised).

Usage: python bench/cluster_ingest.py [--seconds 30] [--clients 4] [--traces SECONDS*4000]
       [--only cluster1,cluster2,embedded]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

from ingest import PB, build

from _common import HeronProcess, machine

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 600.0
T = TypeVar("T")

# -- the shim, with a timer on its lock (run as `cluster_ingest.py --shim DIR BUSY_FILE`) ----


class _TimedLock:
    """The shim engine's lock, counting the seconds it is held and the queries run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held_s = 0.0
        self.queries = 0
        self._since = 0.0

    def __enter__(self) -> None:
        self._lock.acquire()
        self._since = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.held_s += time.perf_counter() - self._since
        self.queries += 1
        self._lock.release()


def _kind(sql: str) -> str:
    word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return {"INSERT": "insert", "SELECT": "select", "WITH": "select"}.get(word, "other")


def _shim_main(data: Path, busy_file: Path) -> None:
    """Serve the shim; every 0.2 s write to ``busy_file`` (JSON) the seconds its lock was
    held, the queries run, and chdb's seconds and count by kind of statement."""
    from tests.support.chdb_server import Engine, Server

    data.mkdir(parents=True, exist_ok=True)
    engine = Engine(data)
    lock = _TimedLock()
    engine._lock = lock  # type: ignore[assignment]
    by_kind: dict[str, list[float]] = {}
    query = engine._query

    def timed_query(sql: str, fmt: str, params: dict[str, str]) -> object:
        t = time.perf_counter()
        try:
            return query(sql, fmt, params)
        finally:  # under the lock: no two at once
            seen = by_kind.setdefault(_kind(sql), [0.0, 0])
            seen[0] += time.perf_counter() - t
            seen[1] += 1

    engine._query = timed_query  # type: ignore[method-assign]
    server = Server(0, engine)
    parent = os.getppid()

    def report() -> None:
        while os.getppid() == parent:  # the benchmark gone (even by SIGKILL): stop
            tmp = busy_file.with_suffix(".tmp")
            state = {"held": lock.held_s, "queries": lock.queries, "kinds": by_kind}
            tmp.write_text(json.dumps(state))
            tmp.replace(busy_file)
            time.sleep(0.2)
        server.shutdown()

    threading.Thread(target=report, daemon=True).start()
    print(server.server_address[1], flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


@dataclass
class Shim:
    proc: subprocess.Popen[str]
    port: int
    busy_file: Path

    def database_url(self, database: str) -> str:
        return f"http://default:@127.0.0.1:{self.port}/{database}"

    def busy(self) -> dict[str, Any]:
        try:
            return json.loads(self.busy_file.read_text())
        except (OSError, ValueError):
            return {"held": 0.0, "queries": 0, "kinds": {}}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_shim(root: Path) -> Shim:
    busy = root / "shim-busy"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--shim", str(root / "chdb"), str(busy)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError(f"chdb shim did not start (exit code {proc.poll()})")
    return Shim(proc, int(line), busy)


# -- the load ----------------------------------------------------------------------------------


@dataclass
class Load:
    bodies: list[bytes]
    spans: list[int]  # spans per body
    trace_ids: list[str]  # one trace id of each body
    next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> int | None:
        with self.lock:
            if self.next >= len(self.bodies):
                return None
            self.next += 1
            return self.next - 1


def make_load(traces: int, seed: int) -> Load:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    bodies, _ = build(traces, seed)
    spans, ids = [], []
    for body in bodies:
        req = ExportTraceServiceRequest.FromString(body)
        all_spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
        spans.append(len(all_spans))
        ids.append(all_spans[-1].trace_id.hex())
    return Load(bodies, spans, ids)


@dataclass
class Result:
    name: str
    acked_spans: int = 0
    requests: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    drained_s: float = 0.0
    ran_out: bool = False
    cpu: dict[str, float] = field(default_factory=dict)
    shim_busy: float | None = None
    shim_queries: int = 0
    shim_kinds: dict[str, list[float]] = field(default_factory=dict)
    load_avg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    checked: str = ""

    @property
    def acked_rate(self) -> float:
        return self.acked_spans / self.seconds if self.seconds else 0.0

    @property
    def applied_rate(self) -> float:
        return self.acked_spans / self.drained_s if self.drained_s else 0.0


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children so far."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    t = proc.cpu_times()  # children it has reaped too (decode workers, PostgreSQL backends)
    total = t.children_user + t.children_system
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def _postgres_cpu(pid: int | None) -> float:
    return _tree_cpu(pid) if pid else 0.0


def _backlog(http: httpx.Client, server: HeronProcess) -> int:
    r = http.get(server.url + "/readyz", timeout=30)
    return int(r.json()["backlog_records"])


def run_load(
    name: str,
    replicas: list[HeronProcess],
    load: Load,
    clients: int,
    seconds: float,
    shim: Shim | None,
    pg_pid: int | None,
) -> Result:
    res = Result(name)
    last_trace: dict[int, tuple[int, str]] = {}  # client -> (replica index, trace id)
    lock = threading.Lock()
    stop_at = 0.0

    def worker(k: int) -> None:
        server = replicas[k % len(replicas)]
        acked = requests = retries = 0
        with httpx.Client(headers={**server.auth, **PB}, timeout=120) as http:
            while time.perf_counter() < stop_at:
                i = load.take()
                if i is None:
                    res.ran_out = True
                    break
                while True:
                    try:
                        r = http.post(server.url + "/v1/traces", content=load.bodies[i])
                    except httpx.HTTPError as exc:
                        key = type(exc).__name__
                        with lock:
                            res.errors[key] = res.errors.get(key, 0) + 1
                        break
                    if r.status_code in (429, 503):
                        retries += 1
                        time.sleep(float(r.headers.get("retry-after", "1")) / 10)
                        continue
                    if r.status_code != 200:
                        with lock:
                            key = str(r.status_code)
                            res.errors[key] = res.errors.get(key, 0) + 1
                        break
                    acked += load.spans[i]
                    requests += 1
                    last_trace[k] = (k % len(replicas), load.trace_ids[i])
                    break
        with lock:
            res.acked_spans += acked
            res.requests += requests
            res.retries += retries

    cpu0 = _cpu_snapshot(replicas, shim, pg_pid)
    busy0 = shim.busy() if shim else {}
    started = time.perf_counter()
    stop_at = started + seconds
    threads = [
        threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)
    ]  # daemons: Ctrl-C does not wait for them
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    res.seconds = time.perf_counter() - started
    deadline = time.perf_counter() + DRAIN_TIMEOUT_S
    with httpx.Client() as http:  # one client: polling must not cost the replicas CPU
        while any(_backlog(http, s) for s in replicas):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{name}: backlog not drained in {DRAIN_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
    res.drained_s = time.perf_counter() - started
    cpu1 = _cpu_snapshot(replicas, shim, pg_pid)
    res.cpu = {k: cpu1[k] - cpu0[k] for k in cpu1}
    if shim:
        busy1 = shim.busy()
        res.shim_busy = (busy1["held"] - busy0["held"]) / res.drained_s
        res.shim_queries = busy1["queries"] - busy0["queries"]
        for kind, (secs, n) in busy1["kinds"].items():
            was = busy0["kinds"].get(kind, [0.0, 0])
            res.shim_kinds[kind] = [secs - was[0], n - was[1]]
    res.load_avg = os.getloadavg()
    res.checked = _check_readable(replicas, last_trace)
    return res


def _cpu_snapshot(
    replicas: list[HeronProcess], shim: Shim | None, pg_pid: int | None
) -> dict[str, float]:
    snap = {f"replica {i + 1}": _tree_cpu(r.proc.pid) for i, r in enumerate(replicas)}  # type: ignore[union-attr]
    if shim:
        snap["chdb shim"] = _tree_cpu(shim.proc.pid)
    if pg_pid:
        snap["postgres"] = _postgres_cpu(pg_pid)
    t = psutil.Process().cpu_times()
    snap["clients"] = t.user + t.system
    return snap


def _check_readable(replicas: list[HeronProcess], last: dict[int, tuple[int, str]]) -> str:
    """Each client's last trace, read consistently through the other replica (if any)."""
    ok = 0
    for at, trace_id in last.values():
        server = replicas[(at + 1) % len(replicas)]
        r = httpx.get(
            f"{server.url}/api/traces/{trace_id}?consistent=true", headers=server.auth, timeout=60
        )
        ok += r.status_code == 200 and bool(r.json().get("observations"))
    return f"{ok}/{len(last)} last traces readable"


# -- the set-ups -------------------------------------------------------------------------------


def _replica(root: Path, name: str, workers: str, backends: dict[str, str]) -> HeronProcess:
    root.mkdir(parents=True, exist_ok=True)
    server = HeronProcess(root / name, env={"HERON_INGEST_WORKERS": workers, **backends})
    try:
        return server.start(timeout=START_TIMEOUT_S)
    except BaseException:
        server.kill()
        raise


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30, help="load duration per set-up")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument(
        "--traces",
        type=int,
        default=0,
        help="demo traces built, default seconds x 4000 (the load stops early if all are sent)",
    )
    ap.add_argument("--workers", default="auto", help="HERON_INGEST_WORKERS for the replicas")
    ap.add_argument("--only", default="cluster1,cluster2,embedded")
    args = ap.parse_args()
    only = set(args.only.split(","))
    print(f"machine: {machine()}; load average before: {_fmt_load(os.getloadavg())}")
    # SIGTERM cleans up like Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    t = time.perf_counter()
    # about 5.6 spans a trace: enough for 22,000 spans/s unless told
    load = make_load(args.traces or int(args.seconds * 4000), seed=1)
    print(
        f"built {len(load.bodies)} requests ({sum(load.spans):,} spans) "
        f"in {time.perf_counter() - t:.1f} s; {args.clients} clients, {args.seconds:.0f} s each"
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="heron-cluster-bench-") as tmp, _running() as procs:
        root = Path(tmp)
        shim = pg = None
        if only & {"cluster1", "cluster2"}:
            from tests.support.postgres import PostgresServer

            pg = procs.enter(PostgresServer().start(), "stop")
            shim = procs.enter(start_shim(root), "stop")
            print(f"postgres on {pg.port} ({pg.start_seconds:.1f} s to start), shim on {shim.port}")
        for name, count in (("cluster1", 1), ("cluster2", 2), ("embedded", 1)):
            if name not in only:
                continue
            load.next = 0  # every set-up sends the same requests, from the first
            backends = {}
            if name != "embedded":
                assert pg and shim
                backends = {
                    "HERON_CLICKHOUSE_URL": shim.database_url("b_" + uuid.uuid4().hex[:8]),
                    "HERON_POSTGRES_URL": pg.create_database(),
                }
            replicas = [
                procs.enter(_replica(root / name, f"r{i}", args.workers, backends), "kill")
                for i in range(count)
            ]
            try:
                res = run_load(
                    name,
                    replicas,
                    load,
                    args.clients,
                    args.seconds,
                    shim if name != "embedded" else None,
                    pg.proc.pid if pg and pg.proc and name != "embedded" else None,
                )
            except BaseException:  # Ctrl-C: no graceful stop (it applies the backlog first)
                for r in replicas:
                    r.kill()
                raise
            for r in replicas:
                r.stop()
            if res.errors:  # the replicas' logs go with the temporary directory: show them
                for r in replicas:
                    print(f"--- log of {r.url} (tail)\n{r.log()[-3000:]}")
            _report(res)
            results.append(res)
    _table(results)


def _fmt_load(avg: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in avg)


def _report(res: Result) -> None:
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in res.cpu.items())
    avail = res.drained_s * (os.cpu_count() or 1)
    print(
        f"{res.name}: {res.acked_spans:,} spans in {res.requests} requests acknowledged in "
        f"{res.seconds:.1f} s, applied after {res.drained_s:.1f} s; {res.checked}"
    )
    print(f"  cpu seconds: {cpu} (of {avail:.1f} available)")
    extra = f"; 429/503 retries {res.retries}"
    if res.errors:
        extra += f"; errors {res.errors}"
    if res.ran_out:
        extra += "; RAN OUT of requests before the time was up (raise --traces)"
    if res.shim_busy is not None:
        extra += (
            f"; shim held its chdb session {res.shim_busy:.0%} of the time "
            f"({res.shim_queries} queries"
        )
        kinds = ", ".join(
            f"{kind} {secs:.1f} s in {n}" for kind, (secs, n) in sorted(res.shim_kinds.items())
        )
        extra += f"; chdb time by statement: {kinds})"
    print(f"  load average after: {_fmt_load(res.load_avg)}{extra}")


def _table(results: list[Result]) -> None:
    if not results:
        return
    by = {r.name: r for r in results}
    print()
    print(f"{'set-up':<34}{'acked spans/s':>15}{'applied spans/s':>17}{'shim busy':>11}")
    labels = {
        "cluster1": "cluster, 1 replica",
        "cluster2": "cluster, 2 replicas",
        "embedded": "embedded (DuckDB), 1 replica",
    }
    for r in results:
        busy = f"{r.shim_busy:.0%}" if r.shim_busy is not None else "-"
        print(f"{labels[r.name]:<34}{r.acked_rate:>15,.0f}{r.applied_rate:>17,.0f}{busy:>11}")
    if "cluster1" in by and "cluster2" in by:
        one, two = by["cluster1"], by["cluster2"]
        print(
            f"{'2 replicas / 1':<34}{two.acked_rate / one.acked_rate:>15.2f}"
            f"{two.applied_rate / one.applied_rate:>17.2f}"
        )


class _Procs:
    def __init__(self) -> None:
        self._stops: list[Callable[[], object]] = []

    def enter(self, obj: T, method: str) -> T:
        self._stops.append(getattr(obj, method))
        return obj

    def stop_all(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):
                stop()


@contextlib.contextmanager
def _running() -> Iterator[_Procs]:
    """Everything started is stopped on the way out (Ctrl-C and SIGTERM included)."""
    procs = _Procs()
    try:
        yield procs
    finally:
        procs.stop_all()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--shim":
        _shim_main(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
