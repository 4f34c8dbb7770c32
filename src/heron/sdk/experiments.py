"""Experiments from the SDK: run a task on every item of a dataset, score the outputs, and
record the results as a dataset run (see ``docs/experiments.md``).

:func:`run_experiment` reads the dataset's active items through the server's API, runs the
task on each (a sync function in a thread pool, an async one on an event loop; at most
``max_concurrency`` at a time), each in its own trace, runs the evaluators on each output,
sends their scores on the item's trace, links the trace to the run
(``POST /api/public/dataset-run-items``) and flushes. A task that raises fails its item
only. The :class:`ExperimentResult` has a row per item, a summary per score, a table and a
DataFrame.

An evaluator is a callable ``(input, output, expected_output, metadata)`` returning a
number, a bool, a string, a dict ``{name, value, comment}``, a list of these or None (no
score); a plain value is named after the function. :func:`check` makes one of heron's
built-in code checks (``equals``, ``similarity``, ``contains``, ...) an evaluator.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = ["Check", "ExperimentError", "ExperimentResult", "ItemResult", "check", "run_experiment"]

PAGE_SIZE = 100
ATTR_DATASET = "dataset"
ATTR_ITEM = "dataset_item_id"
ATTR_RUN = "dataset_run"


class ExperimentError(Exception):
    """The experiment could not start: heron not initialised, an unknown dataset, a refused
    key, no server at the host, an invalid evaluator."""


# -- evaluators -------------------------------------------------------------------------------


class Check:
    """One of heron's built-in code checks as an evaluator (made by :func:`check`)."""

    def __init__(self, name: str, score_name: str | None = None, **args: Any) -> None:
        from heron.evals import checks

        try:
            self.args = checks.validate_args(name, args)
        except ValueError as exc:
            raise ExperimentError(str(exc)) from None
        self.check = name
        self.__name__ = score_name or name
        self._variables = checks.CHECKS[name].variables

    def __call__(self, input: Any, output: Any, expected_output: Any, metadata: Any) -> Any:
        from heron.evals import checks

        fields = {"input": input, "output": output, "expected_output": expected_output}
        values = {var: fields.get(source) for var, source in self._variables.items()}
        result = checks.run_check(self.check, self.args, values)
        return {"name": self.__name__, "value": result.value, "comment": result.comment}

    def __repr__(self) -> str:
        return f"heron.check({self.check!r}, **{self.args!r})"


def check(name: str, *, score_name: str | None = None, **args: Any) -> Check:
    """A built-in code check as an evaluator: ``heron.check("equals")``,
    ``heron.check("similarity", threshold=0.8)``. The score is named after the check (or
    ``score_name``); a check comparing with the expected output reads the item's. Raises
    :class:`ExperimentError` for an unknown check or invalid args."""
    return Check(name, score_name, **args)


@dataclass(frozen=True, slots=True)
class _Score:
    name: str
    value: float | bool | str
    comment: str | None = None


def _scores(evaluator: Callable[..., Any], result: Any) -> list[_Score]:
    """An evaluator's answer as scores (see the module docstring)."""
    default = getattr(evaluator, "__name__", type(evaluator).__name__)
    items = result if isinstance(result, list | tuple) else [result]
    out = []
    for r in items:
        if r is None:
            continue
        if isinstance(r, Mapping):
            if "value" not in r:
                raise ValueError(f"evaluator {default!r} returned a dict without 'value'")
            out.append(_Score(str(r.get("name") or default), r["value"], r.get("comment")))
        elif isinstance(r, bool | int | float | str):
            out.append(_Score(default, r))
        else:
            raise ValueError(
                f"evaluator {default!r} returned a {type(r).__name__}: expected a number, "
                "bool, str, dict(name, value, comment) or a list of them"
            )
    return out


# -- results ------------------------------------------------------------------------------------


@dataclass
class ItemResult:
    """One item's outcome: ``error`` is the task's exception (``Type: message``) or None;
    ``scores`` maps a score's name to its value; ``evaluator_errors`` an evaluator's name to
    its exception."""

    item_id: str
    input: Any
    expected_output: Any
    output: Any = None
    error: str | None = None
    scores: dict[str, float | bool | str] = field(default_factory=dict)
    evaluator_errors: dict[str, str] = field(default_factory=dict)
    trace_id: str | None = None
    latency_ms: float = 0.0


@dataclass
class ExperimentResult:
    """The outcome of :func:`run_experiment`: ``rows`` in the dataset's item order."""

    dataset: str
    run_name: str
    rows: list[ItemResult]
    duration_s: float = 0.0
    unlinked: int = 0  # run items the server refused (logged); 0 normally

    @property
    def errors(self) -> int:
        return sum(r.error is not None for r in self.rows)

    def summary(self) -> list[dict[str, Any]]:
        """Per score: ``{name, n, mean}`` (a bool's mean is the rate of True; a string
        score has ``mode`` instead), in the order the scores first appear."""
        values: dict[str, list[Any]] = {}
        for r in self.rows:
            for name, v in r.scores.items():
                values.setdefault(name, []).append(v)
        out = []
        for name, vs in values.items():
            numbers = [float(v) for v in vs if isinstance(v, bool | int | float)]
            row: dict[str, Any] = {"name": name, "n": len(vs)}
            if len(numbers) == len(vs):
                row["mean"] = statistics.fmean(numbers)
            else:
                row["mode"] = collections.Counter(map(str, vs)).most_common(1)[0][0]
            out.append(row)
        return out

    def table(self) -> Any:
        """The summary as a rich Table (``str(result)`` gives it as text)."""
        from rich.table import Table

        table = Table(title=f"{self.dataset}: run {self.run_name}")
        table.add_column("score")
        table.add_column("n", justify="right")
        table.add_column("mean / rate", justify="right")
        for s in self.summary():
            table.add_row(s["name"], str(s["n"]), f"{s['mean']:.4g}" if "mean" in s else s["mode"])
        latencies = [r.latency_ms for r in self.rows]
        table.caption = (
            f"{len(self.rows)} items, {self.errors} failed, "
            f"median latency {statistics.median(latencies) if latencies else 0:.0f} ms"
        )
        return table

    def __str__(self) -> str:
        from rich.console import Console

        console = Console(width=100, record=True, file=_Null())
        console.print(self.table())
        return console.export_text()

    def to_pandas(self) -> Any:
        """One row per item: item_id, input, expected_output, output, error, trace_id,
        latency_ms and a column per score. Needs pandas (not a heron dependency)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "ExperimentResult.to_pandas needs pandas: pip install pandas"
            ) from None
        records = []
        for r in self.rows:
            rec = {
                "item_id": r.item_id,
                "input": r.input,
                "expected_output": r.expected_output,
                "output": r.output,
                "error": r.error,
                "trace_id": r.trace_id,
                "latency_ms": r.latency_ms,
            }
            rec.update(r.scores)
            records.append(rec)
        return pd.DataFrame.from_records(records)


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass


# -- running ------------------------------------------------------------------------------------


class _Api:
    """The dataset endpoints with the client's key; failures raise ExperimentError."""

    def __init__(self, host: str, headers: Mapping[str, str], timeout: float) -> None:
        self.http = httpx.Client(base_url=host, headers=dict(headers), timeout=max(timeout, 30))

    def call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ExperimentError(f"cannot reach heron at {self.http.base_url}: {exc}") from None
        if r.status_code >= 400:
            try:
                message = r.json()["error"]["message"]
            except Exception:
                message = r.text[:300]
            raise ExperimentError(f"{method} {path}: {r.status_code} {message}")
        return r.json()

    def items(self, dataset: str) -> list[dict[str, Any]]:
        path = "/api/public/v2/datasets/" + httpx.URL(path="/" + dataset).raw_path.decode()[1:]
        self.call("GET", path)  # a clear error for an unknown dataset
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"datasetName": dataset, "page": page, "limit": PAGE_SIZE, "status": "ACTIVE"}
            answer = self.call("GET", "/api/public/dataset-items", params=params)
            out += answer["data"]
            if page >= answer["meta"]["totalPages"]:
                return out
            page += 1


def _call_style(task: Callable[..., Any]) -> str:
    """``item`` when the task takes an ``item`` keyword (it gets the whole item, as
    Langfuse's tasks do), else ``input`` (it gets the item's input)."""
    try:
        params = inspect.signature(task).parameters
    except (TypeError, ValueError):
        return "input"
    return "item" if "item" in params else "input"


def run_experiment(
    dataset: str,
    task: Callable[..., Any],
    *,
    evaluators: Sequence[Callable[..., Any]] = (),
    run_name: str | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    max_concurrency: int = 8,
    progress: bool = True,
) -> ExperimentResult:
    """Run ``task`` on every active item of ``dataset`` and record a dataset run.

    ``task`` gets the item's input (or, when it has an ``item`` parameter, the item as the
    API returns it: ``{"id", "input", "expectedOutput", "metadata", ...}``) and returns the
    output; it may be ``async``. Each item runs in its own trace (its root span named after
    the run) and ``evaluators`` score each output (see :func:`check`). heron must be
    initialised (:func:`heron.init` or ``HERON_SECRET_KEY``). ``run_name`` defaults to the
    dataset's name and the UTC time. Raises :class:`ExperimentError` when the run cannot
    start; a failing task or evaluator fails its item only."""
    from heron.sdk.client import active_client

    client = active_client()
    if client is None:
        raise ExperimentError(
            "heron is not initialised: call heron.init(...) or set HERON_SECRET_KEY"
        )
    if max_concurrency < 1:
        raise ExperimentError(f"max_concurrency must be at least 1, got {max_concurrency}")
    for ev in evaluators:
        if not callable(ev):
            raise ExperimentError(f"an evaluator must be callable, got {ev!r}")
    started = time.perf_counter()
    run = run_name or f"{dataset}-{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
    api = _Api(client.config.host, client.config.headers, client.config.timeout)
    try:
        items = api.items(dataset)
        runner = _Runner(client, api, dataset, run, task, list(evaluators), description, metadata)
        rows = runner.run_all(items, max_concurrency, progress)
    finally:
        client.flush()
        api.http.close()
    return ExperimentResult(
        dataset, run, rows, duration_s=time.perf_counter() - started, unlinked=runner.unlinked
    )


class _Runner:
    def __init__(
        self,
        client: Any,
        api: _Api,
        dataset: str,
        run: str,
        task: Callable[..., Any],
        evaluators: list[Callable[..., Any]],
        description: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> None:
        self.client = client
        self.api = api
        self.dataset = dataset
        self.run = run
        self.task = task
        self.style = _call_style(task)
        self.evaluators = evaluators
        self.description = description
        self.metadata = dict(metadata) if metadata else None
        self.unlinked = 0
        self._lock = threading.Lock()

    def run_all(
        self, items: list[dict[str, Any]], concurrency: int, progress: bool
    ) -> list[ItemResult]:
        bar = _Bar(f"{self.dataset} / {self.run}", len(items), progress)
        with bar:
            if inspect.iscoroutinefunction(self.task):
                return _run_coroutine(self._run_async(items, concurrency, bar))
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="heron-exp") as ex:
                return list(ex.map(lambda item: self._one_sync(item, bar), items))

    async def _run_async(
        self, items: list[dict[str, Any]], concurrency: int, bar: _Bar
    ) -> list[ItemResult]:
        gate = asyncio.Semaphore(concurrency)

        async def one(item: dict[str, Any]) -> ItemResult:
            async with gate:
                row, obs = self._begin(item)
                with obs:
                    t0 = time.perf_counter()
                    try:
                        row.output = await self._call(item)
                    except Exception as exc:
                        self._failed(row, obs, exc)
                    row.latency_ms = (time.perf_counter() - t0) * 1000
                    self._end(row, obs)
                await asyncio.to_thread(self._finish, item, row)
                bar.advance()
                return row

        return list(await asyncio.gather(*(one(i) for i in items)))

    def _one_sync(self, item: dict[str, Any], bar: _Bar) -> ItemResult:
        row, obs = self._begin(item)
        with obs:
            t0 = time.perf_counter()
            try:
                row.output = self._call(item)
            except Exception as exc:
                self._failed(row, obs, exc)
            row.latency_ms = (time.perf_counter() - t0) * 1000
            self._end(row, obs)
        self._finish(item, row)
        bar.advance()
        return row

    def _call(self, item: dict[str, Any]) -> Any:
        if self.style == "item":
            return self.task(item=item)
        return self.task(item.get("input"))

    def _begin(self, item: dict[str, Any]) -> tuple[ItemResult, Any]:
        row = ItemResult(str(item["id"]), item.get("input"), item.get("expectedOutput"))
        obs = self.client.start_observation(self.run, input=row.input)
        row.trace_id = obs.trace_id
        return row, obs

    def _end(self, row: ItemResult, obs: Any) -> None:
        """Trace fields, set while the item's root span is current."""
        from heron.sdk.client import update_current_trace

        links = {ATTR_DATASET: self.dataset, ATTR_ITEM: row.item_id, ATTR_RUN: self.run}
        update_current_trace(name=self.run, input=row.input, output=row.output, metadata=links)
        obs.update(output=row.output, metadata=links)

    @staticmethod
    def _failed(row: ItemResult, obs: Any, exc: Exception) -> None:
        text = str(exc)
        row.error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        obs.record_error(exc)

    def _finish(self, item: dict[str, Any], row: ItemResult) -> None:
        """Evaluators and the run item (on the caller's thread: evaluators are sync)."""
        if row.error is None:
            for ev in self.evaluators:
                name = getattr(ev, "__name__", type(ev).__name__)
                try:
                    answer = ev(row.input, row.output, row.expected_output, item.get("metadata"))
                    if inspect.isawaitable(answer):
                        answer = _run_coroutine(answer)
                    scores = _scores(ev, answer)
                except Exception as exc:
                    row.evaluator_errors[name] = f"{type(exc).__name__}: {exc}"
                    continue
                for s in scores:
                    row.scores[s.name] = s.value
                    if row.trace_id is not None:
                        self.client.score(
                            name=s.name, value=s.value, trace_id=row.trace_id, comment=s.comment
                        )
        body: dict[str, Any] = {
            "runName": self.run,
            "datasetItemId": row.item_id,
            "traceId": row.trace_id,
        }
        if self.description is not None:
            body["runDescription"] = self.description
        if self.metadata is not None:
            body["metadata"] = self.metadata
        try:
            self.api.call("POST", "/api/public/dataset-run-items", json=body)
        except ExperimentError as exc:
            import logging

            logging.getLogger("heron").warning("heron: run item not recorded: %s", exc)
            with self._lock:
                self.unlinked += 1


def _run_coroutine(coro: Any) -> Any:
    """Run a coroutine to completion, also from inside a running event loop (Jupyter):
    then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as ex:
        return ex.submit(asyncio.run, coro).result()


class _Bar:
    """A rich progress bar (nothing when off)."""

    def __init__(self, title: str, total: int, on: bool) -> None:
        self.progress: Any = None
        if on:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            self.task = self.progress.add_task(title, total=total)

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)
