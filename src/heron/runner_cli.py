"""``heron worker`` (the runner alone) and ``heron runner jobs|backfill|cancel``.

While a server runs on the data directory, the runner lives inside it: ``heron runner``
talks to its JSON API with the admin token from ``server.json``, and ``heron worker``
refuses (DuckDB lets one process open the store). Without a server, both open the store.
On the cluster backend (ClickHouse + PostgreSQL) any number of ``heron worker`` processes
and ``heron serve`` replicas run runners side by side, sharing the work through leases.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from heron.settings import Settings

if TYPE_CHECKING:  # imported when a command runs: `heron --help` stays quick
    from heron.runner.engine import Runner
    from heron.store import EmbeddedStore

runner_app = typer.Typer(
    help="The background runner: backfill jobs (list, start with progress, cancel).",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
notes = Console(stderr=True, soft_wrap=True)

DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: HERON_DATA_DIR).")
]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name or id.")]
_ENDED = ("done", "cancelled", "failed")


class RunnerCommandError(Exception):
    pass


def _fail(message: str, code: int = 1) -> None:
    notes.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _settings(data_dir: Path | None) -> Settings:
    try:
        return Settings.load(data_dir=data_dir)
    except ValueError as exc:
        _fail(str(exc), 2)
        raise  # unreachable: _fail exits


def check_tasks(settings: Settings) -> None:
    """Refuse (exit 2, one line) runner tasks that do not load, before a server starts."""
    from heron.runner import load_tasks

    try:
        load_tasks(settings.runner_tasks or "")
    except ValueError as exc:
        _fail(f"HERON_RUNNER_TASKS: {exc}", 2)


def _runner(store: EmbeddedStore, settings: Settings) -> Runner:
    from heron.runner import Runner, configured, load_tasks

    try:
        tasks = load_tasks(settings.runner_tasks or "")
        return configured(Runner(store, tasks, lease_s=settings.runner_lease_s), settings)
    except ValueError as exc:
        _fail(str(exc), 2)
        raise


@contextmanager
def open_store(settings: Settings) -> Iterator[EmbeddedStore]:
    """The store: the cluster's (shared by every replica and worker), or the data
    directory's DuckDB file, opened by this process alone (a clear error if another holds it)."""
    import duckdb

    from heron.admin_client import running_server
    from heron.store.backend import open_store as open_backend

    if settings.cluster:
        store = open_backend(settings)
        try:
            yield store
        finally:
            store.close()
        return
    server = running_server(settings.data_dir)
    if server is not None:
        raise RunnerCommandError(
            f"a heron server (pid {server['pid']}, {server['url']}) has {settings.data_dir} "
            "open, and DuckDB allows one process per store: its runner already does this "
            "work. Stop the server to run `heron worker` alone."
        )
    if not settings.db_path.exists():
        raise RunnerCommandError(f"no heron store in {settings.data_dir} (heron.duckdb missing)")
    try:
        store = open_backend(settings)
    except duckdb.IOException as exc:
        raise RunnerCommandError(
            f"another process has {settings.db_path} open (DuckDB allows one process per "
            f"store); stop it first. DuckDB says: {exc}"
        ) from None
    try:
        yield store
    finally:
        store.close()


def worker(
    data_dir: DataDirOpt = None,
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Do the pending work and jobs, then exit."),
    ] = False,
) -> None:
    """Run the background runner alone (on DuckDB, only while no server has the data
    directory open; on the cluster backend, beside any number of replicas and workers).

    It does new changes, due re-checks and backfill jobs, resumed where they stopped, and
    stops on Ctrl-C after the chunk under way. A running server runs the runner itself."""
    settings = _settings(data_dir)
    try:
        with open_store(settings) as store:
            runner = _runner(store, settings)
            if not runner.hosted():
                _fail("no runner tasks are registered: set HERON_RUNNER_TASKS (docs/runner.md)")
            names = ", ".join(
                [f"{t.name}@{t.version}" for t in runner.tasks.values()] + list(runner.periodics)
            )
            from heron.store.backend import store_location

            notes.print(f"heron worker on {escape(store_location(settings))}: tasks {names}")
            if until_idle:
                runner.run_until_idle()
            else:
                stop = threading.Event()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, lambda *_: stop.set())
                runner.start()
                stop.wait()
                notes.print("stopping after the chunk under way")
                runner.stop()
            notes.print(f"done: {runner.stats.runs} runs, {runner.stats.failures} failures")
    except RunnerCommandError as exc:
        _fail(str(exc))


class _Client:
    """Jobs through the running server, or directly on the store."""

    def __init__(self, settings: Settings) -> None:
        from heron.admin_client import running_server

        self.settings = settings
        self.server = running_server(settings.data_dir)

    def http(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        assert self.server is not None
        headers = {"Authorization": f"Bearer {self.server['admin_token']}"}
        try:
            r = httpx.request(
                method, self.server["url"] + path, headers=headers, timeout=30, **kwargs
            )
        except httpx.HTTPError as exc:
            raise RunnerCommandError(
                f"cannot reach the server at {self.server['url']}: {exc}"
            ) from None
        if r.status_code >= 400:
            try:
                message = r.json()["error"]["message"]
            except Exception:
                message = r.text
            raise RunnerCommandError(message)
        return r.json()


def _project_id(store: EmbeddedStore, name: str) -> str:
    for p in store.list_projects():
        if name in (p["id"], p["name"]):
            return p["id"]
    raise RunnerCommandError(f"project {name!r} not found")


def _time(value: str | None, label: str) -> datetime | None:
    from heron.errors import HeronError
    from heron.query.filters import parse_time

    if value is None:
        return None
    try:
        return parse_time(value, label)
    except HeronError as exc:
        raise RunnerCommandError(exc.message) from None


@runner_app.command("jobs")
def jobs(data_dir: DataDirOpt = None) -> None:
    """Backfill jobs of every project, newest first."""
    from heron.runner.engine import job_view

    client = _Client(_settings(data_dir))
    try:
        if client.server:
            data = client.http("GET", "/api/runner/jobs")["data"]
        else:
            with open_store(client.settings) as store:
                data = [job_view(j) for j in store.runner_jobs()]
    except RunnerCommandError as exc:
        _fail(str(exc))
    table = Table("id", "project", "tasks", "status", "done", "total", "created", "error")
    for j in data:
        table.add_row(
            j["id"], j["project_id"], ", ".join(j["tasks"]), j["status"], f"{j['done']:,}",
            f"{j['total']:,}" if j["total"] is not None else "", j["created_at"],
            escape(j["error"] or ""),
        )  # fmt: skip
    console.print(table)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=notes,
    )


@runner_app.command("backfill")
def backfill(
    project: ProjectOpt = "default",
    task: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="A task (repeatable; default all).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Sessions/traces with a trace from (ISO).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="... and before (ISO).")] = None,
    wait: Annotated[bool, typer.Option(help="Show progress until the job ends.")] = True,
    data_dir: DataDirOpt = None,
) -> None:
    """Run tasks again over a project's sessions and traces (what they wrote before is
    replaced), with a progress bar. Ctrl-C leaves a server's job running (cancel it with
    `heron runner cancel`); without a server the job stops and resumes at the next start."""
    from heron.errors import HeronError

    client = _Client(_settings(data_dir))
    try:
        since, until = _time(start, "--from"), _time(end, "--to")
        if client.server:
            body: dict[str, Any] = {"project": project, "tasks": task}
            body.update({"from": start, "to": end})
            job = client.http("POST", "/api/runner/jobs", json=body)
            notes.print(f"job {job['id']} started in the server")
            if wait:
                job = _follow(lambda: client.http("GET", f"/api/runner/jobs/{job['id']}"), 0.2)
        else:
            with open_store(client.settings) as store:
                runner = _runner(store, client.settings)
                try:
                    made = runner.start_job(_project_id(store, project), task, since, until)
                except HeronError as exc:
                    raise RunnerCommandError(exc.message) from None
                job = _follow(lambda: _step(runner, made["id"]))
    except RunnerCommandError as exc:
        _fail(str(exc))
    notes.print(f"job {job['id']}: {job['status']}, {job['done']:,} targets")
    if job["status"] == "failed":
        raise typer.Exit(1)


def _step(runner: Runner, job_id: str) -> dict[str, Any]:
    """One pass of a runner working alone, and the job's state after it."""
    from heron.runner.engine import job_view

    runner.step()
    job = runner.store.runner_job(job_id)
    assert job is not None
    return job_view(job)


def _follow(poll: Any, pause_s: float = 0.0) -> dict[str, Any]:
    """Show a job's progress until it ends; ``poll()`` returns its state."""
    job = poll()
    with _progress() as bar:
        row = bar.add_task(f"backfill {job['id']}", total=job["total"])
        while job["status"] not in _ENDED:
            bar.update(row, completed=job["done"], total=job["total"])
            time.sleep(pause_s)
            job = poll()
        bar.update(row, completed=job["done"], total=job["total"] or job["done"])
    return job


@runner_app.command("cancel")
def cancel(job_id: str, data_dir: DataDirOpt = None) -> None:
    """Cancel a queued or running job (the work it committed stays)."""
    from heron.errors import HeronError
    from heron.runner.engine import job_view

    client = _Client(_settings(data_dir))
    try:
        if client.server:
            job = client.http("POST", f"/api/runner/jobs/{job_id}/cancel")
        else:
            with open_store(client.settings) as store:
                try:
                    job = job_view(_runner(store, client.settings).cancel_job(None, job_id))
                except HeronError as exc:
                    raise RunnerCommandError(exc.message) from None
    except RunnerCommandError as exc:
        _fail(str(exc))
    console.print(f"job {job['id']}: {job['status']}")
