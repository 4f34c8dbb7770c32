"""Periodic work hosted by the runner on a real store: runs when due, in the idle wait's
schedule, survives failures, loads from HERON_RUNNER_TASKS beside tasks."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from heron.runner import Runner, configured, load_tasks
from heron.store import EmbeddedStore
from tests.support.periodic import Ticker
from tests.support.runner_tasks import SessionTurns

NOW = datetime(2026, 12, 1, 12, 0, 0)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def ticks(store: EmbeddedStore) -> list[datetime]:
    return [r[0] for r in store.cursor().execute("SELECT t FROM ticks ORDER BY t").fetchall()]


def test_a_periodic_runs_when_due_and_not_before(store: EmbeddedStore) -> None:
    clock = Clock(NOW)
    ticker = Ticker(every_s=60)
    runner = Runner(store, [ticker], clock=clock)
    runner.run_until_idle()
    runner.run_until_idle()  # not due again yet
    assert ticks(store) == [NOW]
    clock.at = NOW + timedelta(seconds=59)
    runner.run_until_idle()
    assert ticks(store) == [NOW]
    clock.at = NOW + timedelta(seconds=60)
    runner.run_until_idle()
    assert ticks(store) == [NOW, NOW + timedelta(seconds=60)]
    assert runner.stats.runs == 2


def test_a_failing_periodic_is_retried_later_and_the_runner_goes_on(
    store: EmbeddedStore,
) -> None:
    clock = Clock(NOW)
    ticker = Ticker(every_s=60, fail=1)
    runner = Runner(store, [ticker, SessionTurns()], clock=clock, retry_s=30)
    runner.run_until_idle()
    assert ticks(store) == [] and runner.stats.failures == 1
    assert "ticker failed on purpose" in (runner.stats.last_failure or "")
    clock.at = NOW + timedelta(seconds=29)
    runner.run_until_idle()
    assert ticks(store) == []
    clock.at = NOW + timedelta(seconds=30)
    runner.run_until_idle()
    assert ticks(store) == [clock.at]


def test_the_thread_wakes_for_a_periodic_due_before_the_idle_wait_ends(
    store: EmbeddedStore,
) -> None:
    ticker = Ticker(every_s=0.2)
    runner = Runner(store, [ticker], idle_s=30.0)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while len(ticker.runs) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    assert len(ticker.runs) >= 3  # with idle_s=30 only the due time can have woken it
    assert ticker.closed


def test_periodics_load_beside_tasks_and_are_bound_and_configured(
    store: EmbeddedStore,
) -> None:
    hosted = load_tasks("tests.support.periodic:ticker, tests.support.runner_tasks:SessionTurns")
    runner = configured(Runner(store, hosted), settings := object())
    assert list(runner.periodics) == ["ticker"] and list(runner.tasks) == ["turns"]
    ticker = runner.periodics["ticker"]
    assert isinstance(ticker, Ticker)
    assert ticker.store is store and ticker.settings is settings


def test_a_periodic_and_a_task_may_not_share_a_name() -> None:
    with pytest.raises(ValueError, match="registered twice: ticker"):
        load_tasks("tests.support.periodic:ticker, tests.support.periodic:ticker")


def test_something_neither_task_nor_periodic_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a runner task"):
        load_tasks("heron.signals.outbox:PENDING")


class Gate:
    """A periodic due once, whose run waits until the test opens the gate."""

    name = "gate"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()
        self.done = False

    def due(self, now: datetime) -> datetime | None:
        return None if self.done else now

    def run(self, now: datetime) -> None:
        self.entered.set()
        self.open.wait(10)
        self.done = True


def test_stop_during_a_pass_does_not_wait_out_the_idle_wait(store: EmbeddedStore) -> None:
    """Stopped while a pass is under way, the runner ends when the pass does: the wake that
    came before its idle wait began is not lost (it was, and stop() waited idle_s)."""
    gate = Gate()
    runner = Runner(store, [gate], idle_s=30.0)
    runner.start()
    assert gate.entered.wait(10)
    stopping = threading.Thread(target=runner.stop)
    started = time.monotonic()
    stopping.start()
    time.sleep(0.2)  # stop() has woken the waiters: nobody was waiting yet
    gate.open.set()
    stopping.join(35)
    assert time.monotonic() - started < 5
