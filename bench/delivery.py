"""Notification delivery throughput: signed webhooks from the outbox to a local receiver.

Stores ``--notifications`` outbox rows for one webhook channel (a real DuckDB file), then
runs the deliverer (``heron.signals.delivery.Deliverer``) as the runner would, run after run,
until none is pending; the receiver (a real HTTP server on a loopback port, in this process)
verifies every signature and answers after ``--latency-ms``. Prints notifications per second
and the time of one run.

    .venv/bin/python bench/delivery.py --notifications 2000 --latency-ms 0
    .venv/bin/python bench/delivery.py --notifications 1000 --latency-ms 50
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heron.signals.channels import seal
from heron.signals.delivery import Deliverer
from heron.signals.webhooks import generate_secret
from heron.store import EmbeddedStore
from tests.signals.receiver import Receiver

from _common import machine

KEY = bytes(range(32))
EVENT = {
    "type": "alert.firing",
    "title": "chat-error-rate is ALERT",
    "text": "0.12 > 0.1",
    "link": "/alerts/chat-error-rate",
    "alert": {"name": "chat-error-rate", "value": 0.12},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)
    secret = generate_secret()
    with tempfile.TemporaryDirectory() as tmp, Receiver(secret) as receiver:
        receiver.delay_s = args.latency_ms / 1000.0
        store = EmbeddedStore(Path(tmp) / "heron.duckdb")
        project = store.create_project("bench")["id"]
        spec = {"type": "webhook", "url": receiver.url, "headers": {}}
        store.put_channel(project, "oncall", spec, *seal(KEY, "webhook", secret))
        for _ in range(args.notifications):
            store.enqueue_notifications(project, ["oncall"], EVENT)
        deliverer = Deliverer(store, key=KEY, concurrency=args.concurrency)
        runs: list[float] = []
        started = time.perf_counter()
        while store.next_notification_due() is not None:
            t = time.perf_counter()
            deliverer.run(datetime.now(UTC).replace(tzinfo=None))
            runs.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - started
        verified = sum(1 for r in receiver.received if r.verified)
        store.close()
    print(f"machine: {machine()}")
    print(f"{args.notifications} webhooks, receiver latency {args.latency_ms:g} ms, "
          f"concurrency {args.concurrency}")  # fmt: skip
    print(f"delivered and verified: {verified} in {elapsed:.2f} s = "
          f"{verified / elapsed:,.0f} notifications/s")  # fmt: skip
    print(f"runs: {len(runs)} (100 a run), longest {max(runs) * 1000:.0f} ms, "
          f"median {sorted(runs)[len(runs) // 2] * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
