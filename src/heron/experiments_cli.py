"""``heron experiments``: experiment runs of datasets from the command line, through a
running heron server's API (the project is the key's).

``heron experiments compare`` is the CI gate: it prints the paired comparison of two runs
and, with ``--fail-on-regression``, exits 1 when a score got significantly worse. Exit
codes: 0 passed, 1 a regression (with ``--fail-on-regression``), 2 a usage error (missing
or bad options, unknown dataset or run, a refused key, no server at the URL).

A command is one function here: ``@experiments_app.command(...)`` taking ``UrlOpt`` and
``KeyOpt`` and talking to the server through :class:`Api`.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import httpx
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from heron.settings import Settings

experiments_app = typer.Typer(
    help="Experiments on datasets: compare runs, and gate CI on regressions.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
notes = Console(stderr=True, soft_wrap=True)

USAGE_ERROR = 2  # typer's own code for a missing or malformed option
REGRESSION = 1

UrlOpt = Annotated[
    str | None, typer.Option(help=escape("Server URL [default: the local server's port]."))
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        envvar="HERON_SECRET_KEY", help="Secret API key of the project.", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the server's JSON answer.")]


def fail(message: str, code: int = USAGE_ERROR) -> None:
    notes.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


class Api:
    """The server's API with the project's key; every failure is a usage error (exit 2)
    naming what went wrong."""

    def __init__(self, url: str | None, key: str | None) -> None:
        if not key:
            fail("a secret API key is required: --key or HERON_SECRET_KEY")
        if url is None:
            try:
                url = f"http://127.0.0.1:{Settings.load().port}"
            except ValueError as exc:
                fail(str(exc))
        self.url = str(url).rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}", "X-Heron-Consistent": "true"}

    def get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        try:
            r = httpx.get(self.url + path, params=params, headers=self.headers, timeout=120)
        except httpx.HTTPError as exc:
            fail(f"cannot reach the heron server at {self.url}: {exc}")
        if r.status_code >= 400:
            try:
                message = r.json()["error"]["message"]
            except Exception:
                message = r.text[:500]
            if r.status_code in (401, 403):
                message = f"the server refused the key ({r.status_code}): {message}"
            else:
                message = f"{r.status_code}: {message}"
            fail(message)
        return r


def dataset_path(dataset: str) -> str:
    """``/api/datasets/<name>`` with the name quoted (slashes kept: the route takes them)."""
    return "/api/datasets/" + httpx.URL(path="/" + dataset).raw_path.decode()[1:]


@experiments_app.command("compare")
def compare(
    dataset: Annotated[str, typer.Option(help="The dataset's name.", show_default=False)],
    baseline: Annotated[str, typer.Option(help="The baseline run's name.", show_default=False)],
    candidate: Annotated[str, typer.Option(help="The candidate run's name.", show_default=False)],
    fail_on_regression: Annotated[
        bool,
        typer.Option("--fail-on-regression", help="Exit 1 when a score regresses significantly."),
    ] = False,
    include_measures: Annotated[
        bool,
        typer.Option(
            "--include-measures",
            help="With --fail-on-regression: latency, cost and tokens count too.",
        ),
    ] = False,
    alpha: Annotated[float, typer.Option(help="Significance level (intervals: 1 - alpha).")] = 0.05,
    lower_is_better: Annotated[
        list[str] | None,
        typer.Option("--lower-is-better", help="A score for which lower is better (repeatable)."),
    ] = None,
    higher_is_better: Annotated[
        list[str] | None,
        typer.Option("--higher-is-better", help="A score for which higher is better (repeatable)."),
    ] = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare two runs of a dataset item by item; a CI gate with --fail-on-regression.

    Paired statistics per score and per measure (latency, cost, tokens). Exit codes: 0, 1
    when --fail-on-regression and a score regressed significantly, 2 on a usage error.

    Example: `heron experiments compare --dataset qa --baseline main --candidate pr-42`
    """
    params: dict[str, Any] = {"baseline": baseline, "candidate": candidate, "alpha": alpha}
    if lower_is_better:
        params["lower_is_better"] = ",".join(lower_is_better)
    if higher_is_better:
        params["higher_is_better"] = ",".join(higher_is_better)
    r = Api(url, key).get(dataset_path(dataset) + "/runs/compare", params)
    answer = r.json()
    if as_json:
        sys.stdout.write(r.text + "\n")
    else:
        print_comparison(answer)
    regressed = regressions(answer, include_measures)
    if not as_json:
        if regressed:
            console.print(f"[red]regressed:[/red] {escape(', '.join(regressed))}")
        elif fail_on_regression:
            console.print("[green]no significant regression[/green]")
    if fail_on_regression and regressed:
        raise typer.Exit(REGRESSION)


def regressions(answer: dict[str, Any], include_measures: bool = False) -> list[str]:
    """Names of the rows whose verdict is ``regressed`` (scores; measures when asked)."""
    return [
        r["name"]
        for r in answer["rows"]
        if r["verdict"] == "regressed" and (include_measures or r["kind"] == "score")
    ]


# -- the table ------------------------------------------------------------------------------

_VERDICT_STYLE = {
    "improved": "green",
    "regressed": "red",
    "inconclusive": "yellow",
    "no_significant_change": "",
    "insufficient_data": "dim",
}
_TESTS = {"paired bootstrap": "bootstrap", "McNemar exact": "McNemar"}


def number(value: float | None) -> str:
    """Four significant digits (a dash for none), as the tables print numbers."""
    if value is None:
        return "\u2013"
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"


def print_comparison(answer: dict[str, Any]) -> None:
    pairs = answer["pairs"]
    console.print(
        f"dataset {escape(answer['dataset'])}: {escape(answer['candidate']['name'])} "
        f"(candidate) vs {escape(answer['baseline']['name'])} (baseline)",
        soft_wrap=False,
    )
    console.print(
        f"{pairs['paired']} items paired, {pairs['only_baseline']} only in the baseline, "
        f"{pairs['only_candidate']} only in the candidate",
        soft_wrap=False,
    )
    level = round((1 - answer["alpha"]) * 100, 1)
    table = comparison_table(answer["rows"], f"{level:g}% CI", narrow=False)
    if Measurement.get(console, console.options.update_width(1000), table).maximum > console.width:
        table = comparison_table(answer["rows"], f"{level:g}% CI", narrow=True)
    console.print(table)


def comparison_table(rows: list[dict[str, Any]], ci_title: str, narrow: bool) -> Table:
    """One row per score and measure. Numbers never wrap; the compact table (for 80
    columns) puts the interval's ends on two lines and n and the test under the name."""
    number_col = {"justify": "right", "no_wrap": True}
    if narrow:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        table.add_column("score", overflow="fold", ratio=1)
        for name in ("baseline", "candidate", "difference", ci_title, "p adj"):
            table.add_column(name, **number_col)
        table.add_column("verdict", overflow="fold", ratio=1)
    else:
        table = Table("score")
        for name in ("baseline", "candidate", "difference", ci_title, "p adj", "n", "test"):
            table.add_column(name, no_wrap=True)
        table.add_column("verdict")
    for r in rows:
        if r["ci_low"] is None:
            ci = "\u2013"
        elif narrow:
            ci = f"{number(r['ci_low'])}\n{number(r['ci_high'])}"
        else:
            ci = f"[{number(r['ci_low'])}, {number(r['ci_high'])}]"
        style = _VERDICT_STYLE[r["verdict"]]
        word = r["verdict"].replace("_", " ")
        verdict = f"[{style}]{word}[/{style}]" if style else word
        values = [number(r[k]) for k in ("baseline", "candidate", "difference")]
        test = _TESTS.get(r["test"], r["test"])
        if narrow:
            name = f"{escape(r['name'])}\n[dim]n {r['n_pairs']} {test}[/dim]"
            table.add_row(name, *values, ci, number(r["p_adjusted"]), verdict)
        else:
            table.add_row(
                escape(r["name"]), *values, ci, number(r["p_adjusted"]), str(r["n_pairs"]),
                test, verdict,
            )  # fmt: skip
    return table
