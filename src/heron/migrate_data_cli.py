"""``heron migrate-data --from DATA_DIR``: the command of :mod:`heron.migrate_data`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(soft_wrap=True)
notes = Console(stderr=True, soft_wrap=True)


def migrate_data(
    source: Annotated[
        Path,
        typer.Option(
            "--from",
            help="Data directory of the embedded store to copy (no server running on it).",
            show_default=False,
        ),
    ],
    clickhouse_url: Annotated[
        str | None,
        typer.Option(
            "--clickhouse-url",
            envvar="HERON_CLICKHOUSE_URL",
            help="ClickHouse of the cluster backend.",
            show_default=False,
        ),
    ] = None,
    postgres_url: Annotated[
        str | None,
        typer.Option(
            "--postgres-url",
            envvar="HERON_POSTGRES_URL",
            help="PostgreSQL of the cluster backend (the database must exist).",
            show_default=False,
        ),
    ] = None,
    stop_after_rows: Annotated[
        int | None, typer.Option("--stop-after-rows", hidden=True, show_default=False)
    ] = None,
) -> None:
    """Copy an embedded store into the cluster backends: control data into PostgreSQL,
    events into ClickHouse. A re-run continues where an interrupted one stopped."""
    from heron.migrate_data import MigrationError
    from heron.migrate_data import migrate_data as run
    from heron.store.backend import _safe

    if not clickhouse_url or not postgres_url:
        missing = "--clickhouse-url" if not clickhouse_url else "--postgres-url"
        notes.print(
            f"[red]error:[/red] {missing} (or HERON_"
            f"{missing[2:].replace('-', '_').upper()}) is required: where to copy to"
        )
        raise typer.Exit(2)
    source = source.expanduser()
    console.print(
        f"Copying {escape(str(source))} into ClickHouse {escape(_safe(clickhouse_url))} "
        f"+ PostgreSQL {escape(_safe(postgres_url))}"
    )
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, Any] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(escape(table), total=total)
            bar.update(tasks[table], completed=done, total=total)

        try:
            report = run(source, clickhouse_url, postgres_url, progress, stop_after_rows)
        except MigrationError as exc:
            notes.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
    if report.journal:
        console.print(
            f"Applied {report.journal:,} acknowledged batches from the journal first (the "
            "server had not stored them yet)."
        )
    for gap in report.journal_gaps:
        notes.print(
            f"[yellow]warning:[/yellow] journal records {gap['first']}-{gap['last']} were "
            f"acknowledged but are {escape(gap['why'])}: their spans could not be copied"
        )
    table = Table("copied", "tables", "rows")
    table.add_row("control data (PostgreSQL)", str(len(report.control)), _rows(report.control))
    table.add_row("events (ClickHouse)", str(len(report.events)), _rows(report.events))
    if report.skipped:
        table.add_row("done by an earlier run", str(len(report.skipped)), "")
    console.print(table)
    if (source / "secret.key").exists():
        console.print(
            "LLM connection keys and channel secrets are encrypted with "
            f"{escape(str(source / 'secret.key'))}: set HERON_SECRET_KEY to its content on "
            "every replica, or they cannot be read."
        )


def _rows(counts: dict[str, int]) -> str:
    return f"{sum(counts.values()):,}"
