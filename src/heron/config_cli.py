"""``heron apply``, ``heron export`` and ``heron evaluators``: configuration as code.

Like the other admin commands they go through the server running on the data directory
(with its admin token) when there is one, else open the store themselves. ``heron apply``
replaces ``${NAME}`` in the file with this shell's environment variables before sending it,
so keys stay out of the file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from heron.runner_cli import (
    DataDirOpt,
    ProjectOpt,
    RunnerCommandError,
    _Client,
    _fail,
    _follow,
    _progress,
    _project_id,
    _settings,
    _time,
    open_store,
)

evaluators_app = typer.Typer(
    help="Automated evaluators: list them, evaluate stored history.", no_args_is_help=True
)
console = Console(soft_wrap=True)
notes = Console(stderr=True, soft_wrap=True)


def _encrypter(settings: Any) -> Any:
    from heron.evals.secrets import encrypt, hint, settings_key

    key = settings_key(settings)
    return lambda plain: (encrypt(plain, key), hint(plain))


def apply(
    file: Annotated[Path, typer.Argument(help="A YAML or JSON configuration document.")],
    project: ProjectOpt = "default",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only validate and print the plan.")
    ] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Create or update score configs, LLM connections and evaluators by name from FILE
    (everything is checked first; nothing changes when a problem is found)."""
    from heron.config import document
    from heron.evals.secrets import settings_key

    try:
        text = document.expand_env(file.read_text(encoding="utf-8"), os.environ)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        _fail(f"{file}: {exc}", 2)
    client = _Client(_settings(data_dir))
    try:
        if client.server:
            params = {"project": project, "dry_run": str(dry_run).lower()}
            result = _http(client, "POST", "/api/config/apply", params=params, content=text)
        else:
            with open_store(client.settings) as store:
                project_id = _project_id(store, project)
                changes = document.plan(
                    store,
                    project_id,
                    document.parse_document(text),
                    custom_modules=client.settings.custom_modules,
                    key_of=document.key_reader(store, project_id, settings_key(client.settings)),
                )
                if dry_run:
                    result = {"dry_run": True, "changes": [c.view() for c in changes]}
                else:
                    done = document.apply(store, project_id, changes, _encrypter(client.settings))
                    result = {"dry_run": False, "changes": done}
    except document.ConfigError as exc:
        _problems(exc.problems)
    except RunnerCommandError as exc:
        _fail(str(exc))
    table = Table("kind", "name", "action", title="plan" if dry_run else "applied")
    for c in result["changes"]:
        table.add_row(c["kind"], escape(c["name"]), c["action"])
    console.print(table)


def _problems(problems: list[tuple[str, str]]) -> None:
    for path, message in problems:
        notes.print(f"[red]{escape(path)}[/red]: {escape(message)}")
    _fail(f"{len(problems)} problem(s); nothing was changed", 1)


def _http(client: _Client, method: str, path: str, **kwargs: Any) -> Any:
    """A request to the running server; a 400 with problems lists them all."""
    import httpx

    from heron.config.document import ConfigError

    assert client.server is not None
    headers = {"Authorization": f"Bearer {client.server['admin_token']}"}
    try:
        r = httpx.request(
            method, client.server["url"] + path, headers=headers, timeout=60, **kwargs
        )
    except httpx.HTTPError as exc:
        raise RunnerCommandError(
            f"cannot reach the server at {client.server['url']}: {exc}"
        ) from None
    if r.status_code >= 400:
        try:
            error = r.json()["error"]
        except Exception:
            raise RunnerCommandError(r.text) from None
        if error.get("problems"):
            raise ConfigError([(p["path"], p["message"]) for p in error["problems"]])
        raise RunnerCommandError(error.get("message", r.text))
    return r if r.headers.get("content-type", "").startswith("application/yaml") else r.json()


def export(
    project: ProjectOpt = "default",
    format: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    data_dir: DataDirOpt = None,
) -> None:
    """Print a project's configuration (connection keys left out) in the format
    `heron apply` reads."""
    from heron.config import document

    if format not in ("yaml", "json"):
        _fail("--format: yaml or json", 2)
    client = _Client(_settings(data_dir))
    try:
        if client.server:
            doc = _http(client, "GET", "/api/config", params={"project": project, "format": "json"})
        else:
            with open_store(client.settings) as store:
                doc = document.export(store, _project_id(store, project))
    except RunnerCommandError as exc:
        _fail(str(exc))
    print(document.dump(doc, format), end="" if format == "yaml" else "\n")


@evaluators_app.command("list")
def list_evaluators(
    project: ProjectOpt = "default",
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """A project's evaluators: status, version, scores written, error rate, judge cost."""
    client = _Client(_settings(data_dir))
    try:
        if client.server:
            data = _http(client, "GET", "/api/evaluators", params={"project": project})["data"]
        else:
            with open_store(client.settings) as store:
                project_id = _project_id(store, project)
                data = [
                    {"name": e["name"], "version": e["version"], "status": e["status"],
                     "type": e["spec"]["type"], "target": e["spec"]["target"]}
                    for e in store.list_evaluators(project_id)
                ]  # fmt: skip
    except RunnerCommandError as exc:
        _fail(str(exc))
    if json:
        console.print_json(orjson.dumps(data).decode())
        return
    table = Table("name", "type", "target", "version", "status", "scores", "errors", "cost")
    for e in data:
        rate = e.get("error_rate")
        table.add_row(
            escape(e["name"]), e["type"], e["target"], str(e["version"]), e["status"],
            f"{e['scores_written']:,}" if "scores_written" in e else "",
            f"{rate:.1%}" if rate is not None else "",
            f"${e['judge_cost']:.4f}" if e.get("judge_cost") else "",
        )  # fmt: skip
    console.print(table)


@evaluators_app.command("backfill")
def backfill(
    name: Annotated[str, typer.Argument(help="The evaluator's name.")],
    project: ProjectOpt = "default",
    start: Annotated[
        str | None, typer.Option("--from", help="Targets with a trace from (ISO).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="... and before (ISO).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many targets.")] = None,
    wait: Annotated[bool, typer.Option(help="Show progress until the job ends.")] = True,
    data_dir: DataDirOpt = None,
) -> None:
    """Evaluate stored traces (or sessions) with an evaluator; targets its current version
    already scored are skipped. A judge's start prints an estimated cost."""
    client = _Client(_settings(data_dir))
    try:
        _time(start, "--from"), _time(end, "--to")
        body = {k: v for k, v in (("from", start), ("to", end), ("limit", limit)) if v is not None}
        if client.server:
            job = _http(
                client, "POST", f"/api/evaluators/{name}/backfill",
                params={"project": project}, json=body,
            )  # fmt: skip
            _estimate(job.get("estimate"))
            notes.print(f"job {job['id']} started in the server")
            if wait:
                _follow(lambda: _http(client, "GET", f"/api/jobs/{job['id']}",
                                      params={"project": project}), 0.2)  # fmt: skip
        else:
            _backfill_here(client, name, project, start, end, limit)
    except RunnerCommandError as exc:
        _fail(str(exc))


def _estimate(estimate: dict[str, Any] | None) -> None:
    if not estimate:
        return
    cost = estimate.get("cost_usd")
    notes.print(
        f"estimate: {estimate['targets']:,} judge calls with {estimate.get('model')}, "
        + (f"about ${cost:,.4f}" if cost is not None else "cost unknown (the model has no price)")
    )


def _backfill_here(
    client: _Client,
    name: str,
    project: str,
    start: str | None,
    end: str | None,
    limit: int | None,
) -> None:
    from heron.runner import Runner, configured, load_tasks
    from heron.runner.engine import job_view

    with open_store(client.settings) as store:
        project_id = _project_id(store, project)
        ev = store.get_evaluator(project_id, name)
        if ev is None:
            raise RunnerCommandError(f"evaluator {name!r} not found in project {project}")
        task = "evaluators.sessions" if ev["spec"]["target"] == "sessions" else "evaluators"
        runner = configured(Runner(store, load_tasks("heron.evals.task:tasks")), client.settings)
        job = runner.start_job(
            project_id, [task], _time(start, "--from"), _time(end, "--to"),
            options={"evaluators": [ev["id"]]}, limit=limit,
        )  # fmt: skip
        if ev["spec"]["type"] == "llm_judge":
            from heron.evals.judging import estimate

            _estimate(estimate(store, ev, None, _time(start, "--from"), _time(end, "--to")))
        with _progress() as progress:
            bar = progress.add_task(f"evaluating with {name}", total=None)
            while True:
                busy = runner.step()
                current = job_view(store.runner_job(job["id"]) or job)
                progress.update(bar, completed=current["done"], total=current["total"])
                if current["status"] in ("done", "failed", "cancelled") or not busy:
                    break
                time.sleep(0)
        runner.stop()
        notes.print(f"job {job['id']}: {current['status']}, {current['done']:,} targets")
