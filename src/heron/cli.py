"""The ``heron`` command: serve, demo, projects, keys, users, prices, compare, backup, the
runner (``worker``, ``runner``), implicit feedback (``feedback``), experiments
(``experiments``), ``migrate-data`` (an embedded store into the cluster backends)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from heron import __version__
from heron.config_cli import apply, evaluators_app, export
from heron.experiments_cli import experiments_app
from heron.experiments_cli import number as _number  # one number format for both tables
from heron.feedback_cli import feedback_app
from heron.migrate_data_cli import migrate_data
from heron.runner_cli import check_tasks, runner_app, worker
from heron.settings import SETTINGS, Settings

app = typer.Typer(
    help="heron: local-first observability for LLM applications.", no_args_is_help=True
)
projects_app = typer.Typer(help="List and create projects.", invoke_without_command=True)
keys_app = typer.Typer(help="Create and list API keys.", no_args_is_help=True)
users_app = typer.Typer(help="Create web UI users and set their passwords.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
prices_app = typer.Typer(
    help="Model prices: list, add, the models without a price, re-price.", no_args_is_help=True
)
app.add_typer(prices_app, name="prices")
members_app = typer.Typer(
    help="Project members, their roles (owner, admin, member, viewer) and invitation links.",
    no_args_is_help=True,
)
app.add_typer(members_app, name="members")
journal_app = typer.Typer(help="The ingest journal and its quarantine.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")
app.add_typer(runner_app, name="runner")
app.add_typer(feedback_app, name="feedback")
app.command()(worker)
app.add_typer(evaluators_app, name="evaluators")
app.add_typer(experiments_app, name="experiments")
app.command("apply")(apply)
app.command("export")(export)
app.command("migrate-data")(migrate_data)
console = Console(soft_wrap=True)
notes = Console(stderr=True, soft_wrap=True)
DEMO_DATA_DIR = "~/.heron-demo"


def _setting_help(name: str, text: str) -> str:
    """Option help naming the setting's environment variable and default (brackets escaped,
    or rich would read them as markup and drop them)."""
    s = next(s for s in SETTINGS if s.name == name)
    return escape(f"{text} [env {s.env}; default: {s.default}]")


HostOpt = Annotated[
    str | None, typer.Option(help=_setting_help("host", "Interface to bind."), show_default=False)
]
PortOpt = Annotated[
    int | None, typer.Option(help=_setting_help("port", "Port to listen on."), show_default=False)
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help=_setting_help("data_dir", "Data directory."), show_default=False
    ),
]

ClickHouseOpt = Annotated[
    str | None,
    typer.Option(
        "--clickhouse-url",
        help=_setting_help(
            "clickhouse_url", "ClickHouse of the cluster backend (with --postgres-url)."
        ),
        show_default=False,
    ),
]
PostgresOpt = Annotated[
    str | None,
    typer.Option(
        "--postgres-url",
        help=_setting_help(
            "postgres_url", "PostgreSQL of the cluster backend (with --clickhouse-url)."
        ),
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        console.print(f"heron {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """heron: local-first observability for LLM applications."""


def _settings(**overrides: Any) -> Settings:
    """Settings.load, with a bad value (flag or HERON_* variable) as a one-line error, exit 2."""
    try:
        return Settings.load(**overrides)
    except ValueError as exc:
        notes.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def _check_port(settings: Settings) -> None:
    """Refuse a port that cannot be bound, before anything (first-start secrets) is created."""
    import socket

    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((settings.host, settings.port))
    except OSError as exc:
        notes.print(
            f"[red]error:[/red] cannot listen on {escape(settings.host)}:{settings.port}: "
            f"{escape(exc.strerror or str(exc))}"
        )
        raise typer.Exit(1) from None


def _print_keys(created: list[dict[str, str]]) -> None:
    for key in created:
        console.print(
            f"[bold]Created project[/bold] {key['project']!r} with an API key pair "
            "(the secret is shown only now):\n"
            f"  public key  [green]{key['public_key']}[/green]\n"
            f"  secret key  [green]{key['secret_key']}[/green]"
        )


def _print_users(created: list[dict[str, Any]]) -> None:
    for user in created:
        console.print(f"[bold]Created web UI admin[/bold] {escape(user['email'])}")
        if user["password"]:
            console.print(
                f"  password    [green]{escape(user['password'])}[/green]  (shown only now)"
            )


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _print_login_link(settings: Settings, store: Any) -> None:
    """On a loopback-only bind, a one-time login link for the first admin (valid 15 min)."""
    if settings.host not in LOOPBACK_HOSTS:
        return
    from heron.server.web.auth import LOGIN_LINK_TTL_S

    admins = [u for u in store.list_accounts() if u["is_admin"]]
    if not admins:
        return
    token = store.create_login_token(admins[0]["id"], LOGIN_LINK_TTL_S)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    link = f"http://{host}:{settings.port}/login/token?token={token}"
    console.print(
        f"  web UI         {escape(link)}\n"
        f"                 (one-time login link as {escape(admins[0]['email'])}, valid 15 min)"
    )


def _open(settings: Settings) -> Any:
    from heron.store.backend import open_store, store_location

    try:
        return open_store(settings)
    except Exception as exc:
        console.print(
            f"[red]Cannot open {escape(store_location(settings))}:[/red] {escape(str(exc))}"
        )
        raise typer.Exit(1) from None


def _server(settings: Settings, store: Any, demo_progress: Any = None) -> Any:
    import uvicorn

    from heron.server.app import create_app

    application = create_app(
        settings, store, on_keys_created=_print_keys, on_users_created=_print_users
    )
    # pages show "Loading demo data: n of N traces" while `heron demo` sends its workload
    application.state.demo_progress = demo_progress
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


def _banner(settings: Settings) -> None:
    from heron.store.backend import store_location

    url = f"http://{settings.host}:{settings.port}"
    console.print(
        f"heron is listening on [bold]{url}[/bold]\n"
        f"  OTLP endpoint  {url}/v1/traces  (Authorization: Bearer <secret key>)\n"
        f"  API docs       {url}/docs\n"
        f"  data           {escape(store_location(settings))}"
    )


@app.command()
def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    data_dir: DataDirOpt = None,
    clickhouse_url: ClickHouseOpt = None,
    postgres_url: PostgresOpt = None,
) -> None:
    """Run the heron server (on DuckDB in the data directory, or on ClickHouse + PostgreSQL
    with both URLs: replicas share them, each with its own data directory)."""
    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        clickhouse_url=clickhouse_url,
        postgres_url=postgres_url,
    )
    check_tasks(settings)
    _check_port(settings)
    store = _open(settings)
    server = _server(settings, store)
    _run_with_banner(server, settings, store=store)
    store.close()


def _run_with_banner(
    server: Any, settings: Settings, after_start: Any = None, store: Any = None
) -> None:
    # uvicorn runs in a thread (so the main thread can report progress); stop it cleanly
    # on SIGTERM as on Ctrl-C, so the journal is applied and closed before exit.
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    # An Event, not Thread.join: a join interrupted by Ctrl-C makes the next join return at
    # once while the thread still runs (Python 3.11), and the store would close under the
    # server's shutdown (the journal's last applies failing).
    done = threading.Event()

    def run() -> None:
        try:
            server.run()
        finally:
            done.set()

    thread = threading.Thread(target=run, name="heron-server", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    if not thread.is_alive():
        console.print("[red]The server did not start (is the port in use?).[/red]")
        raise typer.Exit(1)
    _banner(settings)
    if store is not None:
        _print_login_link(settings, store)
    try:
        if after_start is not None:
            after_start()
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        server.should_exit = True
        done.wait()


@app.command()
def demo(
    host: HostOpt = None,
    port: PortOpt = None,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the demo store lives.")
    ] = Path(DEMO_DATA_DIR),
    traces: Annotated[int, typer.Option(help="Traces (user turns) to generate.")] = 3000,
    days: Annotated[float, typer.Option(help="Days of history, ending now.")] = 14.0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 7,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep serving after loading.")
    ] = True,
) -> None:
    """Load a realistic demo workload through the real ingest path, then serve it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from heron.demo import DemoConfig, send
    from heron.demo.progress import LoadProgress

    settings = _settings(host=host, port=port, data_dir=data_dir.expanduser())
    check_tasks(settings)
    _check_port(settings)
    store = _open(settings)
    loaded = bool(store.get_meta("demo_loaded"))
    loading = None if loaded else LoadProgress(traces)
    server = _server(settings, store, demo_progress=loading)

    def load() -> None:
        if loading is None:
            console.print(
                "Demo data is already loaded; serving it. For an API key: "
                f"heron keys create --project default --data-dir {settings.data_dir}"
            )
        else:
            try:
                _load_demo(loading)
            finally:
                loading.finish()
        if not serve_after:
            server.should_exit = True

    def _load_demo(loading: LoadProgress) -> None:
        project = store.project_by_name("default") or store.create_project("default")
        key = store.create_key(project["id"])
        # exporters that flush every minute: fewer, larger requests load faster
        config = DemoConfig(seed=seed, traces=traces, days=days, export_interval_s=60.0)
        url = f"http://{settings.host}:{settings.port}"
        columns = (
            TextColumn("Loading demo data"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("traces"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("demo", total=traces)

            def advance(n: int) -> None:
                loading.advance(n)
                progress.update(task, completed=loading.loading()["done"])  # type: ignore[index]

            stats = send(config, url, key["secret_key"], trace_progress=advance)
            progress.update(task, completed=traces)
        store.set_meta("demo_loaded", str(traces))
        console.print(
            f"Loaded {stats.spans} spans in {stats.requests} requests "
            f"({stats.spans / max(stats.seconds, 1e-9):,.0f} spans/s) "
            f"and {stats.scores} feedback scores."
        )

    _run_with_banner(server, settings, after_start=load, store=store)
    store.close()


def _no_projects(admin: Any) -> bool:
    from heron.admin_client import AdminError

    if not (admin.data_dir / "heron.duckdb").exists():
        return True
    try:
        return not admin.projects()
    except AdminError:
        return False


def _admin(data_dir: Path | None) -> Any:
    """The admin client; without --data-dir, says which directory that is and warns when it
    is empty while the demo's is not (a common mix-up after `heron demo`)."""
    from heron.admin_client import Admin

    used = _settings(data_dir=data_dir).data_dir
    admin = Admin(used)
    if data_dir is None:
        notes.print(
            f"data directory: {escape(str(used))}  (--data-dir or HERON_DATA_DIR to change)"
        )
        demo_db = Path(DEMO_DATA_DIR).expanduser() / "heron.duckdb"
        if demo_db.exists() and used != demo_db.parent and _no_projects(admin):
            notes.print(
                f"[yellow]warning:[/yellow] {escape(str(used))} holds no projects; the "
                f"demo's data is in {escape(str(demo_db.parent))} (add --data-dir to use it)"
            )
    return admin


def _fail(exc: Exception) -> None:
    console.print(f"[red]{exc}[/red]")
    raise typer.Exit(1)


@projects_app.callback()
def projects(ctx: typer.Context, data_dir: DataDirOpt = None) -> None:
    """List projects (or use a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from heron.admin_client import AdminError

    try:
        rows = _admin(data_dir).projects()
    except AdminError as exc:
        _fail(exc)
    table = Table("name", "id", "keys", "retention", "created")
    for p in rows:
        days = p.get("retention_days")
        keep = f"{days} days" if days else "forever"
        table.add_row(p["name"], p["id"], str(p["key_count"]), keep, p["created_at"])
    console.print(table)


@projects_app.command("create")
def projects_create(name: str, data_dir: DataDirOpt = None) -> None:
    """Create a project (then `heron keys create --project NAME`)."""
    from heron.admin_client import AdminError

    try:
        p = _admin(data_dir).create_project(name)
    except AdminError as exc:
        _fail(exc)
    console.print(f"Created project {p['name']!r} ({p['id']}).")


@projects_app.command("rename")
def projects_rename(name: str, new_name: str, data_dir: DataDirOpt = None) -> None:
    """Rename a project (its id, keys and data stay)."""
    from heron.admin_client import AdminError

    try:
        p = _admin(data_dir).rename_project(name, new_name)
    except AdminError as exc:
        _fail(exc)
    console.print(f"Renamed project {name!r} to {p['name']!r} ({p['id']}).")


@projects_app.command("retention")
def projects_retention(
    name: str,
    days: Annotated[str, typer.Argument(help="Days to keep traces, or 'forever'.")],
    data_dir: DataDirOpt = None,
) -> None:
    """Keep a project's traces DAYS days; older ones (with observations and scores) are
    deleted by the running server, at once and then hourly."""
    from heron.admin_client import AdminError

    keep: int | None = None
    if days.strip().lower() != "forever":
        try:
            keep = int(days)
        except ValueError:
            _fail(ValueError(f"DAYS must be a whole number of days or 'forever', not {days!r}"))
    try:
        _admin(data_dir).set_retention(name, keep)
    except AdminError as exc:
        _fail(exc)
    console.print(f"Project {name!r} keeps its traces {f'{keep} days' if keep else 'forever'}.")


@projects_app.command("feedback")
def projects_feedback(
    name: str,
    origin: Annotated[
        list[str] | None,
        typer.Option(
            help="An origin (https://shop.example.com) whose pages may send feedback with the "
            "public key; repeat for several. Replaces the list."
        ),
    ] = None,
    score_name: Annotated[
        list[str] | None,
        typer.Option(
            "--score-name",
            help="A score name the public key may write; repeat for several. Replaces the list.",
        ),
    ] = None,
    no_origins: Annotated[
        bool, typer.Option("--no-origins", help="Allow no browser origin.")
    ] = False,
    any_name: Annotated[
        bool, typer.Option("--any-name", help="Let the public key write any score name.")
    ] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Show or change a project's browser feedback settings (docs/feedback.md): which
    origins may send scores with the public key alone, and which score names it may write."""
    from heron.admin_client import AdminError

    origins = [] if no_origins else origin
    names = [] if any_name else score_name
    try:
        admin = _admin(data_dir)
        if origins is None and names is None:
            done = admin.feedback_settings(name)
        else:
            done = admin.set_feedback_settings(name, origins, names)
    except AdminError as exc:
        _fail(exc)
    allowed = done["allowed_origins"]
    console.print(f"Project {name!r} feedback settings:")
    console.print("  allowed origins:     " + (", ".join(allowed) if allowed else "(none)"))
    named = done["allowed_names"]
    console.print("  allowed score names: " + (", ".join(named) if named else "(any)"))


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option(help="Project name.")] = "default",
    create_project: Annotated[
        bool, typer.Option("--create-project", help="Create the project if it does not exist.")
    ] = False,
    scope: Annotated[
        str,
        typer.Option(
            help="ingest: send traces and scores only (for deployed apps); read: read only; "
            "full: everything."
        ),
    ] = "full",
    data_dir: DataDirOpt = None,
) -> None:
    """Create an API key pair; the secret is printed once."""
    from heron.admin_client import AdminError

    try:
        key = _admin(data_dir).create_key(project, create_project, scope)
    except AdminError as exc:
        _fail(exc)
    console.print(
        f"project     {key['project']}\npublic key  {key['public_key']}\n"
        f"secret key  {key['secret_key']}\nscope       {key.get('scope', scope)}"
    )


@keys_app.command("list")
def keys_list(
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List API keys (secrets are never shown again: only a hint)."""
    from heron.admin_client import AdminError

    try:
        rows = _admin(data_dir).keys(project)
    except AdminError as exc:
        _fail(exc)
    table = Table("project", "public key", "secret", "scope", "created")
    for k in rows:
        table.add_row(k["project"], k["public_key"], k["secret_hint"], k["scope"], k["created_at"])
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    public_key: str,
    project: Annotated[str, typer.Option(help="Project name.")] = "default",
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke an API key: it stops authenticating at once."""
    from heron.admin_client import AdminError

    try:
        _admin(data_dir).revoke_key(project, public_key)
    except AdminError as exc:
        _fail(exc)
    console.print(f"Revoked {public_key} of project {project!r}.")


ProjectOpt = Annotated[str, typer.Option(help="Project name.")]


@members_app.command("list")
def members_list(project: ProjectOpt = "default", data_dir: DataDirOpt = None) -> None:
    """List a project's members and their roles."""
    from heron.admin_client import AdminError

    try:
        rows = _admin(data_dir).members(project)
    except AdminError as exc:
        _fail(exc)
    table = Table("email", "role", "server admin")
    for m in rows:
        table.add_row(m["email"], m["role"], "yes" if m["is_admin"] else "")
    console.print(table)


def _set_member(project: str, email: str, role: str, data_dir: Path | None) -> None:
    from heron.admin_client import AdminError

    try:
        _admin(data_dir).set_member(project, email, role)
    except AdminError as exc:
        _fail(exc)
    console.print(f"{email} is {role} of project {project!r}.")


@members_app.command("add")
def members_add(
    email: str,
    role: Annotated[str, typer.Option(help="owner, admin, member or viewer.")] = "member",
    project: ProjectOpt = "default",
    data_dir: DataDirOpt = None,
) -> None:
    """Add an existing user to a project (`heron users create` makes users)."""
    _set_member(project, email, role, data_dir)


@members_app.command("role")
def members_role(
    email: str, role: str, project: ProjectOpt = "default", data_dir: DataDirOpt = None
) -> None:
    """Change a member's role (the last owner cannot be demoted)."""
    _set_member(project, email, role, data_dir)


@members_app.command("remove")
def members_remove(
    email: str, project: ProjectOpt = "default", data_dir: DataDirOpt = None
) -> None:
    """Remove a member from a project (the last owner cannot be removed)."""
    from heron.admin_client import AdminError

    try:
        _admin(data_dir).remove_member(project, email)
    except AdminError as exc:
        _fail(exc)
    console.print(f"Removed {email} from project {project!r}.")


@members_app.command("invite")
def members_invite(
    role: Annotated[str, typer.Option(help="owner, admin, member or viewer.")] = "member",
    project: ProjectOpt = "default",
    data_dir: DataDirOpt = None,
) -> None:
    """Print a one-time invitation link (valid 7 days) that adds whoever opens it."""
    from heron.admin_client import AdminError

    settings = _settings(data_dir=data_dir)
    try:
        made = _admin(data_dir).invite(project, role, f"http://{settings.host}:{settings.port}")
    except AdminError as exc:
        _fail(exc)
    console.print(f"Invitation to {project!r} as {role} (valid until {made['expires_at']} UTC):")
    print(made["link"])


@app.command()
def backup(
    destination: Annotated[
        Path, typer.Argument(help="New (or empty) directory for the copy.", show_default=False)
    ],
    data_dir: DataDirOpt = None,
) -> None:
    """Copy the data directory, consistently, while the server runs or not.

    Restore: heron serve --data-dir DESTINATION.
    """
    from heron.admin_client import AdminError

    admin = _admin(data_dir)
    where = "the running server" if admin.server else "the store directly"
    try:
        with console.status(f"Backing up {escape(str(admin.data_dir))} through {where}..."):
            done = admin.backup(destination)
    except AdminError as exc:
        _fail(exc)
    table = Table("backup", escape(done["destination"]), show_header=True)
    table.add_row("database", f"{done['database_bytes'] / 1e6:,.1f} MB")
    table.add_row("traces", f"{done['traces']:,}")
    table.add_row("observations", f"{done['observations']:,}")
    table.add_row(
        "journal",
        f"{done['journal_files']} segment(s), {done['journal_bytes'] / 1e6:,.1f} MB "
        f"(records after position {done['journal_position']} replay at start)",
    )
    table.add_row("writes paused", f"{done['paused_ms']:,.0f} ms")
    table.add_row("took", f"{done['seconds']:,.2f} s")
    console.print(table)
    console.print(f"Restore with: heron serve --data-dir {escape(done['destination'])}")


def _password(given: str | None) -> tuple[str, bool]:
    """The password to set, and whether heron generated it (then it is printed once)."""
    from heron.store.users import new_password

    if given:
        return given, False
    if sys.stdin.isatty():
        typed = typer.prompt(
            "Password (empty: generate one)",
            default="",
            hide_input=True,
            confirmation_prompt=True,
            show_default=False,
        )
        if typed:
            return typed, False
    return new_password(), True


PasswordOpt = Annotated[
    str | None,
    typer.Option(help="The password; without it heron prompts (or generates one and prints it)."),
]


@users_app.command("create")
def users_create(
    email: str,
    admin: Annotated[
        bool, typer.Option("--admin", help="An admin: a member of every project.")
    ] = False,
    project: Annotated[str | None, typer.Option(help="Make the user a member of it.")] = None,
    password: PasswordOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a user of the web UI."""
    from heron.admin_client import AdminError

    chosen, generated = _password(password)
    try:
        user = _admin(data_dir).create_user(email, chosen, admin, project)
    except AdminError as exc:
        _fail(exc)
    where = "every project" if admin else (f"project {project!r}" if project else "no project")
    role = "admin" if admin else "user"
    console.print(f"Created {role} {escape(user['email'])}, a member of {escape(where)}.")
    if generated:
        console.print(f"password  {escape(chosen)}  (shown only now)")


@users_app.command("set-password")
def users_set_password(
    email: str, password: PasswordOpt = None, data_dir: DataDirOpt = None
) -> None:
    """Set a user's password (their open sessions end)."""
    from heron.admin_client import AdminError

    chosen, generated = _password(password)
    try:
        _admin(data_dir).set_password(email, chosen)
    except AdminError as exc:
        _fail(exc)
    console.print(f"Password of {escape(email.strip().lower())} set.")
    if generated:
        console.print(f"password  {escape(chosen)}  (shown only now)")


_VERDICT_STYLE = {
    "better": "green",
    "worse": "red",
    "increased": "bold",
    "decreased": "bold",
    "inconclusive": "yellow",
    "no_change": "",
    "insufficient_data": "dim",
}


@app.command()
def compare(
    field: Annotated[
        str | None, typer.Option(help="Compare two values of a column (release, model, ...).")
    ] = None,
    baseline: Annotated[str | None, typer.Option(help="The baseline value of --field.")] = None,
    candidate: Annotated[str | None, typer.Option(help="The candidate value of --field.")] = None,
    at: Annotated[
        str | None, typer.Option(help="Compare before and after this moment (ISO 8601).")
    ] = None,
    days: Annotated[float, typer.Option(help="With --at: days on each side.")] = 7.0,
    since: Annotated[
        str | None, typer.Option("--from", help="With --field: window start (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="With --field: window end (ISO 8601).")
    ] = None,
    filter_json: Annotated[
        str | None, typer.Option("--filter", help="Filters for both cohorts (JSON list).")
    ] = None,
    view: Annotated[str, typer.Option(help="traces or observations.")] = "traces",
    url: Annotated[
        str | None, typer.Option(help=escape("Server URL [default: local server]."))
    ] = None,
    key: Annotated[
        str | None, typer.Option(envvar="HERON_SECRET_KEY", help="Secret API key of the project.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON answer.")] = False,
) -> None:
    """Did that change help? Compare two cohorts on every metric and score.

    Examples: `heron compare --field prompt_version --baseline 3 --candidate 4`,
    `heron compare --at 2025-10-01T12:00:00Z --days 7`.
    """
    import httpx
    import orjson

    if not key:
        _fail(ValueError("a secret API key is required: --key or HERON_SECRET_KEY"))
    body: dict[str, Any] = {"view": view}
    if filter_json:
        try:
            body["filters"] = orjson.loads(filter_json)
        except orjson.JSONDecodeError as exc:
            _fail(ValueError(f"--filter: invalid JSON: {exc}"))
    if at is not None:
        body.update(at=at, days=days)
    if field is not None:
        body.update(field=field, baseline_value=baseline, candidate_value=candidate)
        body.update({k: v for k, v in (("fromTimestamp", since), ("toTimestamp", until)) if v})
    if at is None and field is None:
        _fail(ValueError("give --field with --baseline and --candidate, or --at (and --days)"))
    base_url = url or f"http://127.0.0.1:{_settings().port}"
    try:
        r = httpx.post(
            base_url.rstrip("/") + "/api/compare",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
    except httpx.HTTPError as exc:
        _fail(RuntimeError(f"cannot reach the heron server at {base_url}: {exc}"))
    if r.status_code >= 400:
        try:
            message = r.json()["error"]["message"]
        except Exception:
            message = r.text
        _fail(RuntimeError(f"{r.status_code}: {message}"))
    answer = r.json()
    if as_json:
        sys.stdout.write(r.text + "\n")
        return
    _print_comparison(answer)


def _print_comparison(answer: dict[str, Any]) -> None:
    cohorts = answer["cohorts"]
    for side in ("baseline", "candidate"):
        c = cohorts[side]
        window = f"[{c.get('fromTimestamp', '…')}, {c.get('toTimestamp', '…')})"
        filters = " and ".join(
            f"{f['column']} {f['operator']} {f.get('value', '')}".strip() for f in c["filters"]
        )
        console.print(f"{side}: {escape(filters or 'all')} {escape(window)}", soft_wrap=False)
    table = _comparison_table(answer["metrics"], narrow=False)
    if Measurement.get(console, console.options.update_width(1000), table).maximum > console.width:
        table = _comparison_table(answer["metrics"], narrow=True)
    console.print(table)


def _comparison_table(metrics: list[dict[str, Any]], narrow: bool) -> Table:
    """One row per metric. Numbers are never cut: their columns do not wrap. The compact
    table (for terminals too narrow for the other, such as 80 columns) puts the interval's
    ends on two lines and n under the metric, and wraps names and verdicts."""
    number = {"justify": "right", "no_wrap": True}
    if narrow:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        table.add_column("metric", overflow="fold", ratio=1)
        for name in ("baseline", "candidate", "difference", "95% CI", "p"):
            table.add_column(name, **number)
        table.add_column("verdict", overflow="fold", ratio=1)
    else:
        table = Table("metric")
        for name in ("baseline", "candidate", "difference", "95% CI", "p", "n"):
            table.add_column(name, no_wrap=True)
        table.add_column("verdict")
    for m in metrics:
        if m["ci_low"] is None:
            ci = "\u2013"
        elif narrow:
            ci = f"{_number(m['ci_low'])}\n{_number(m['ci_high'])}"
        else:
            ci = f"[{_number(m['ci_low'])}, {_number(m['ci_high'])}]"
        n = f"{m['n_baseline']} / {m['n_candidate']}"
        style = _VERDICT_STYLE[m["verdict"]]
        word = m["verdict"].replace("_", " ") if narrow else m["verdict"]
        verdict = f"[{style}]{word}[/{style}]" if style else word
        values = [_number(m[k]) for k in ("baseline", "candidate", "difference")]
        if narrow:
            table.add_row(
                f"{escape(m['metric'])}\n[dim]n {n}[/dim]", *values, ci, _number(m["p_value"]),
                verdict,
            )  # fmt: skip
        else:
            table.add_row(escape(m["metric"]), *values, ci, _number(m["p_value"]), n, verdict)
    return table


@journal_app.command("replay")
def journal_replay(data_dir: DataDirOpt = None) -> None:
    """Apply quarantined spans again (after a fix); those the store now takes are removed.

    Goes through the running server's admin API, else works on the data directory."""
    from heron.admin_client import AdminError

    try:
        result = _admin(data_dir).replay_quarantine()
    except AdminError as exc:
        _fail(exc)
    console.print(f"Applied {len(result['applied'])} quarantined records.")
    for kept in result["kept"]:
        console.print(f"[yellow]still refused[/yellow] {kept['id']}: {escape(kept['reason'])}")
    if result["kept"]:
        raise typer.Exit(1)


ProjectOpt = Annotated[str, typer.Option(help="Project name.")]


def _prices_admin(data_dir: Path | None) -> Any:
    from heron.admin_client import PricesAdmin

    _admin(data_dir)  # the data-directory notes
    return PricesAdmin(_settings(data_dir=data_dir).data_dir)


def _per_million(value: Any) -> str:
    return f"{value * 1_000_000:.10g}" if isinstance(value, int | float) else ""


@prices_app.command("list")
def prices_list(
    project: ProjectOpt = "default",
    builtin: Annotated[bool, typer.Option(help="Also list the built-in table.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """List the project's prices (USD per 1M tokens); --builtin adds the built-in table."""
    from heron.admin_client import AdminError

    try:
        rows = _prices_admin(data_dir).prices(project)
    except AdminError as exc:
        _fail(exc)
    table = Table("source", "id", "model", "pattern", "input/1M", "output/1M", "cached/1M", "from")
    for e in rows:
        if e.get("source") != "project" and not builtin:
            continue
        p = e["prices"]
        table.add_row(
            e.get("source", ""), escape(e["id"]), escape(e["model_name"]),
            escape(e["match_pattern"]), _per_million(p.get("input")),
            _per_million(p.get("output")), _per_million(p.get("cached_input")),
            e.get("start_date") or "always",
        )  # fmt: skip
    console.print(table)


def _print_job(job: dict[str, Any]) -> None:
    total = job.get("total")
    notes.print(f"re-pricing: {job['done']:,} of {total:,} observations" if total else "queued")


@prices_app.command("add")
def prices_add(
    model: Annotated[str, typer.Argument(help="The model name, as spans report it.")],
    input_price: Annotated[
        float | None, typer.Option("--input", help="USD per 1M input tokens.")
    ] = None,
    output_price: Annotated[
        float | None, typer.Option("--output", help="USD per 1M output tokens.")
    ] = None,
    cached_input: Annotated[
        float | None, typer.Option(help="USD per 1M cached input tokens.")
    ] = None,
    pattern: Annotated[
        str | None, typer.Option(help="RE2 pattern of model names [default: exactly MODEL].")
    ] = None,
    start_date: Annotated[str | None, typer.Option(help="Valid from (YYYY-MM-DD, UTC).")] = None,
    entry_id: Annotated[
        str | None, typer.Option("--id", help="Entry id (same id: replace) [default: MODEL].")
    ] = None,
    reprice: Annotated[
        bool, typer.Option(help="Re-price stored observations of the unpriced models it matches.")
    ] = True,
    project: ProjectOpt = "default",
    data_dir: DataDirOpt = None,
) -> None:
    """Add (or replace) a project price; then re-price the unpriced models it matches."""
    from heron.admin_client import AdminError
    from heron.cost import PriceEntry
    from heron.cost.custom import entry_id_for, exact_pattern

    prices = {
        k: v / 1_000_000
        for k, v in (
            ("input", input_price),
            ("output", output_price),
            ("cached_input", cached_input),
        )
        if v is not None
    }
    if not prices:
        _fail(ValueError("give at least --input or --output (USD per 1M tokens)"))
    entry = {
        "id": entry_id or entry_id_for(model),
        "model_name": model,
        "match_pattern": pattern or exact_pattern(model),
        "start_date": start_date,
        "prices": prices,
    }
    admin = _prices_admin(data_dir)
    try:
        saved = admin.add_price(project, entry)
        console.print(f"Saved price {saved['id']!r} for {escape(model)!r}.")
        if not reprice:
            return
        matcher = PriceEntry.from_dict(saved, source="project")
        models = [m["model"] for m in admin.unpriced(project) if matcher.matches(m["model"])]
        if models:
            job = admin.reprice(project, models, _print_job)
            _report_job(job)
    except AdminError as exc:
        _fail(exc)


def _report_job(job: dict[str, Any]) -> None:
    if job["status"] != "done":
        _fail(RuntimeError(f"re-pricing failed: {job.get('error')}"))
    console.print(f"Re-priced {job['done']:,} observations of {', '.join(job['models'])}.")


@prices_app.command("unpriced")
def prices_unpriced(project: ProjectOpt = "default", data_dir: DataDirOpt = None) -> None:
    """Models seen with token usage but no price."""
    from heron.admin_client import AdminError

    try:
        rows = _prices_admin(data_dir).unpriced(project)
    except AdminError as exc:
        _fail(exc)
    table = Table("model", "observations", "tokens", "last seen")
    for m in rows:
        table.add_row(
            escape(m["model"]), f"{m['observations']:,}", f"{m['total_tokens'] or 0:,}",
            m["last_seen"] or "",
        )  # fmt: skip
    console.print(table)


@prices_app.command("reprice")
def prices_reprice(
    models: Annotated[list[str], typer.Argument(help="Model names (exact).")],
    project: ProjectOpt = "default",
    data_dir: DataDirOpt = None,
) -> None:
    """Recompute the stored cost of the project's observations of MODELS with the current
    prices (costs the client sent are kept), and the trace totals."""
    from heron.admin_client import AdminError

    try:
        job = _prices_admin(data_dir).reprice(project, models, _print_job)
    except AdminError as exc:
        _fail(exc)
    _report_job(job)


if __name__ == "__main__":  # pragma: no cover
    app()
