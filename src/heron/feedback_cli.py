"""``heron feedback settings|backfill``: a project's implicit-feedback detector settings, and
recomputing its detections over a time range (the runner's backfill of the ``implicit`` task).

Both go through the running server when there is one, else work on the data directory.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from heron import runner_cli
from heron.runner_cli import DataDirOpt, ProjectOpt

feedback_app = typer.Typer(
    help="Implicit-feedback detectors: per-project settings and backfills.", no_args_is_help=True
)
console = Console(soft_wrap=True)
notes = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> None:
    notes.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _value(text: str) -> Any:
    """A ``--set`` value: JSON when it parses (numbers, lists, objects, null), else text."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _changes(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            _fail(f"--set {pair!r}: expected name=value (e.g. idle_timeout_s=600)", 2)
        out[key.strip()] = _value(value)
    return out


@feedback_app.command("settings")
def settings(
    project: ProjectOpt = "default",
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="name=value, repeatable; the value as JSON when it parses, e.g. "
            "idle_timeout_s=600, enabled='[\"implicit_retry\"]', user_path='$.question'.",
        ),
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Back to the defaults (before any --set).")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the settings as JSON.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Show a project's detector settings, or change some (--set) or all (--reset)."""
    from heron.admin_client import Admin, AdminError

    admin = Admin(runner_cli._settings(data_dir).data_dir)
    changes = _changes(set_ or [])
    try:
        if changes or reset:
            result = admin.set_implicit_settings(project, changes, reset)
        else:
            result = admin.implicit_settings(project)
    except AdminError as exc:
        _fail(str(exc))
    if json:
        console.print_json(orjson.dumps(result).decode())
        return
    table = Table("setting", "value", "", title=f"implicit-feedback settings of {escape(project)}")
    for key, value in result["settings"].items():
        changed = "set" if key in result["changed"] else "default"
        table.add_row(key, escape(orjson.dumps(value).decode()), changed)
    console.print(table)


@feedback_app.command("backfill")
def backfill(
    project: ProjectOpt = "default",
    start: Annotated[
        str | None, typer.Option("--from", help="Sessions with a trace from (ISO).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="... and before (ISO).")] = None,
    wait: Annotated[bool, typer.Option(help="Show progress until the job ends.")] = True,
    data_dir: DataDirOpt = None,
) -> None:
    """Recompute the detections of a project's sessions (all, or those with a trace in the
    range), with a progress bar: `heron runner backfill --task implicit`. Idempotent: a
    detection keeps its score id, one that no longer holds is removed."""
    runner_cli.backfill(
        project=project, task=["implicit"], start=start, end=end, wait=wait, data_dir=data_dir
    )
