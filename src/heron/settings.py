"""Settings, declared once: the CLI, the server and docs/configuration.md all read this table.

Precedence: explicit argument (CLI flag), then environment variable, then default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "HERON_HOST", "127.0.0.1", "Interface the server binds to."),
    Setting("port", "HERON_PORT", 4376, "Port the server listens on."),
    Setting("data_dir", "HERON_DATA_DIR", "~/.heron", "Directory holding heron.duckdb."),
    Setting(
        "max_body_bytes",
        "HERON_MAX_BODY_BYTES",
        10 * 1024 * 1024,
        "Largest accepted request body, before and after decompression (413 beyond).",
    ),
    Setting(
        "body_idle_timeout_s",
        "HERON_BODY_IDLE_TIMEOUT_S",
        30.0,
        "A request body that sends nothing for this many seconds is answered 408.",
    ),
    Setting(
        "body_timeout_s",
        "HERON_BODY_TIMEOUT_S",
        120.0,
        "A request body still incomplete after this many seconds is answered 408.",
    ),
    Setting(
        "rate_ingest_per_key",
        "HERON_RATE_INGEST_PER_KEY",
        1000.0,
        "Ingest requests (traces, scores) per second one API key may send, in bursts of up "
        "to one second's worth; beyond, 429 with Retry-After. 0: no limit.",
    ),
    Setting(
        "rate_ingest_per_project",
        "HERON_RATE_INGEST_PER_PROJECT",
        2000.0,
        "Ingest requests per second all keys of one project together may send. 0: no limit.",
    ),
    Setting(
        "rate_read_per_key",
        "HERON_RATE_READ_PER_KEY",
        1000.0,
        "Read API requests per second one API key may make (429 with Retry-After beyond). "
        "0: no limit.",
    ),
    Setting(
        "rate_read_per_project",
        "HERON_RATE_READ_PER_PROJECT",
        2000.0,
        "Read API requests per second all keys of one project together may make. 0: no limit.",
    ),
    Setting(
        "rate_public_scores_per_key",
        "HERON_RATE_PUBLIC_SCORES_PER_KEY",
        50.0,
        "Score requests per second one public key alone (browser feedback, no secret) may "
        "send from all addresses together (429 with Retry-After beyond). 0: no limit.",
    ),
    Setting(
        "rate_public_scores_per_address",
        "HERON_RATE_PUBLIC_SCORES_PER_ADDRESS",
        5.0,
        "Score requests per second one client address may send with a public key alone "
        "(behind a proxy, every client shares its address). 0: no limit.",
    ),
    Setting(
        "retention_interval_s",
        "HERON_RETENTION_INTERVAL_S",
        3600.0,
        "How often the server deletes traces older than their project's retention (also "
        "once at start).",
    ),
    Setting(
        "max_io_bytes",
        "HERON_MAX_IO_BYTES",
        1024 * 1024,
        "Inputs and outputs longer than this many bytes are truncated with a visible marker.",
    ),
    Setting(
        "max_attribute_bytes",
        "HERON_MAX_ATTRIBUTE_BYTES",
        1024 * 1024,
        "Span attribute values (strings) kept in metadata, and names, longer than this many "
        "bytes are truncated with a visible marker.",
    ),
    Setting(
        "max_metadata_bytes",
        "HERON_MAX_METADATA_BYTES",
        2 * 1024 * 1024,
        "An observation's or trace's metadata (as JSON) over this many bytes has its largest "
        "values truncated; a score's metadata over it is refused (400).",
    ),
    Setting(
        "max_span_attributes",
        "HERON_MAX_SPAN_ATTRIBUTES",
        10_000,
        "Attributes read per span (and per span event, per resource); the rest are dropped "
        "with a note in partial_success.",
    ),
    Setting(
        "max_request_spans",
        "HERON_MAX_REQUEST_SPANS",
        50_000,
        "Spans accepted in one ingest request (413 beyond).",
    ),
    Setting(
        "max_score_text",
        "HERON_MAX_SCORE_TEXT",
        100_000,
        "Longest score string value and comment, in characters (400 beyond).",
    ),
    Setting(
        "queue_spans",
        "HERON_QUEUE_SPANS",
        200_000,
        "Spans waiting for the writer before new ingest requests get 503 with Retry-After.",
    ),
    Setting(
        "commit_window_ms",
        "HERON_COMMIT_WINDOW_MS",
        2.0,
        "How long the writer waits to gather concurrent requests into one commit.",
    ),
    Setting(
        "checkpoint_seconds",
        "HERON_CHECKPOINT_SECONDS",
        60.0,
        "How often the writer checkpoints the store; journal segments are deleted only once "
        "their records are checkpointed into heron.duckdb.",
    ),
    Setting(
        "ready_max_lag_seconds",
        "HERON_READY_MAX_LAG_SECONDS",
        30.0,
        "GET /readyz answers 503 while the oldest acknowledged batch not yet in the store is "
        "older than this.",
    ),
    Setting(
        "consistent_read_timeout_s",
        "HERON_CONSISTENT_READ_TIMEOUT_S",
        1.0,
        "Longest a read asking for consistency (consistent=true or X-Heron-Consistent: true) "
        "waits for the store to apply what was acknowledged before it; then it is served as is.",
    ),
    Setting(
        "ingest_workers",
        "HERON_INGEST_WORKERS",
        "auto",
        "Worker processes that decode and map OTLP requests; auto is one per core (at most 4), "
        "0 decodes in the server process.",
    ),
    Setting(
        "memory_limit",
        "HERON_MEMORY_LIMIT",
        "512MB",
        "Memory DuckDB may use for caching and queries (it spills to disk beyond).",
    ),
    Setting(
        "query_timeout_s",
        "HERON_QUERY_TIMEOUT_S",
        30.0,
        "Seconds a metrics, dashboard, compare, alert backtest or experiment-results read may "
        "run before it is cancelled (503 query_timeout), all of its queries together; 0 means "
        "no limit.",
    ),
    Setting(
        "metrics_max_buckets",
        "HERON_METRICS_MAX_BUCKETS",
        10_000,
        "Time buckets one metrics query may have (400 beyond: use a coarser granularity).",
    ),
    Setting(
        "metrics_max_cells",
        "HERON_METRICS_MAX_CELLS",
        1_000_000,
        "Time buckets times distinct dimension values one metrics query may have, the rows "
        "before config.row_limit (400 beyond).",
    ),
    Setting(
        "prometheus_max_label_values",
        "HERON_PROMETHEUS_MAX_LABEL_VALUES",
        20,
        "Distinct models and distinct trace names per project in GET /metrics; the rest are "
        "exported as other.",
    ),
    Setting(
        "prometheus_token",
        "HERON_PROMETHEUS_TOKEN",
        None,
        "Bearer token (24+ characters) that may scrape the server-wide health series of "
        "GET /metrics, beside the admin token; API keys see only their project's series.",
    ),
    Setting("init_project", "HERON_INIT_PROJECT", None, "Project created at start if absent."),
    Setting(
        "init_public_key",
        "HERON_INIT_PUBLIC_KEY",
        None,
        "Public key (pk-...) created for HERON_INIT_PROJECT at start if absent.",
    ),
    Setting(
        "init_secret_key",
        "HERON_INIT_SECRET_KEY",
        None,
        "Secret key (sk-...) paired with HERON_INIT_PUBLIC_KEY; stored hashed.",
    ),
    Setting(
        "init_admin_email",
        "HERON_INIT_ADMIN_EMAIL",
        None,
        "Web UI admin user created at start if absent (a member of every project).",
    ),
    Setting(
        "init_admin_password",
        "HERON_INIT_ADMIN_PASSWORD",
        None,
        "Password of HERON_INIT_ADMIN_EMAIL when it is created (generated and printed if unset); "
        "stored hashed.",
    ),
    Setting(
        "login_hash_concurrency",
        "HERON_LOGIN_HASH_CONCURRENCY",
        2,
        "Web UI password checks (scrypt, 16 MiB each) run at once; a few more wait, further "
        "logins get 503 with Retry-After.",
    ),
    Setting(
        "runner_tasks",
        "HERON_RUNNER_TASKS",
        "heron.implicit.task:FeedbackTask,heron.evals.task:tasks,heron.signals.task:RulesTask,"
        "heron.signals.alert_task:AlertTask,heron.signals.delivery:Deliverer",
        "Background runner work, comma-separated module:attribute (a task or periodic work, a "
        "list of them, or a callable returning them); the default runs the implicit-feedback "
        "detectors, the evaluators, the trace rules, the alerts and the notification "
        "deliveries; an empty value leaves the runner idle. See docs/runner.md.",
    ),
    Setting(
        "runner_lease_s",
        "HERON_RUNNER_LEASE_S",
        30.0,
        "Cluster backend: how long a runner's lease (a task's changes, a job, a periodic) "
        "outlives its last renewal; a killed runner's work is taken over after it. See "
        "docs/scale-out.md.",
    ),
    Setting(
        "evaluator_modules",
        "HERON_EVALUATOR_MODULES",
        "",
        "Python modules (comma-separated prefixes) whose functions custom evaluators may name "
        "as 'module:function'; they run in the server's worker processes, so list only code "
        "you trust. Entry points of group heron.evaluators are always allowed. See "
        "docs/evaluators.md.",
    ),
    Setting(
        "secret_key",
        "HERON_SECRET_KEY",
        "",
        "Key (32 bytes, base64) that encrypts LLM connection API keys and notification channel "
        "secrets at rest; empty: the key "
        "file secret.key, created in the data directory on first use. Set it to keep the key "
        "apart from the data directory and its backups. See docs/evaluators.md.",
    ),
    Setting(
        "public_url",
        "HERON_PUBLIC_URL",
        "",
        "The address people open heron at (https://heron.example.com); notifications link "
        "there. Empty: links are made from the server's host and port. See docs/signals.md.",
    ),
    Setting(
        "clickhouse_url",
        "HERON_CLICKHOUSE_URL",
        None,
        "ClickHouse for the cluster backend's events (http://user:password@host:8123/database); "
        "set together with HERON_POSTGRES_URL, replicas of heron serve then share both, each "
        "with its own data directory (its journal). Unset: the embedded DuckDB store.",
    ),
    Setting(
        "postgres_url",
        "HERON_POSTGRES_URL",
        None,
        "PostgreSQL for the cluster backend's control data "
        "(postgresql://user:password@host:5432/database); set together with "
        "HERON_CLICKHOUSE_URL.",
    ),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved configuration of one heron server."""

    host: str = "127.0.0.1"
    port: int = 4376
    data_dir: Path = Path("~/.heron")
    max_body_bytes: int = 10 * 1024 * 1024
    body_idle_timeout_s: float = 30.0
    body_timeout_s: float = 120.0
    rate_ingest_per_key: float = 1000.0
    rate_ingest_per_project: float = 2000.0
    rate_read_per_key: float = 1000.0
    rate_read_per_project: float = 2000.0
    rate_public_scores_per_key: float = 50.0
    rate_public_scores_per_address: float = 5.0
    retention_interval_s: float = 3600.0
    max_io_bytes: int = 1024 * 1024
    max_attribute_bytes: int = 1024 * 1024
    max_metadata_bytes: int = 2 * 1024 * 1024
    max_span_attributes: int = 10_000
    max_request_spans: int = 50_000
    max_score_text: int = 100_000
    queue_spans: int = 200_000
    commit_window_ms: float = 2.0
    checkpoint_seconds: float = 60.0
    ready_max_lag_seconds: float = 30.0
    consistent_read_timeout_s: float = 1.0
    ingest_workers: int = 2
    memory_limit: str = "512MB"
    query_timeout_s: float = 30.0
    metrics_max_buckets: int = 10_000
    metrics_max_cells: int = 1_000_000
    prometheus_max_label_values: int = 20
    prometheus_token: str | None = None
    init_project: str | None = None
    init_public_key: str | None = None
    init_secret_key: str | None = None
    init_admin_email: str | None = None
    init_admin_password: str | None = None
    login_hash_concurrency: int = 2
    runner_tasks: str | None = (
        "heron.implicit.task:FeedbackTask,heron.evals.task:tasks,heron.signals.task:RulesTask,"
        "heron.signals.alert_task:AlertTask,heron.signals.delivery:Deliverer"
    )
    runner_lease_s: float = 30.0
    evaluator_modules: str = ""
    secret_key: str = field(default="", repr=False)
    public_url: str = ""
    clickhouse_url: str | None = field(default=None, repr=False)
    postgres_url: str | None = field(default=None, repr=False)

    @property
    def custom_modules(self) -> tuple[str, ...]:
        """The module prefixes custom evaluators may name (``HERON_EVALUATOR_MODULES``)."""
        return tuple(m.strip() for m in self.evaluator_modules.split(",") if m.strip())

    @property
    def db_path(self) -> Path:
        return self.data_dir / "heron.duckdb"

    @property
    def cluster(self) -> bool:
        """True on the cluster backend (ClickHouse + PostgreSQL), False on DuckDB."""
        return self.clickhouse_url is not None

    @classmethod
    def load(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from overrides (``None`` means "not given"), the environment, defaults."""
        env = os.environ if env is None else env
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for s in SETTINGS:
            raw = overrides.get(s.name)
            if raw is None:
                raw = env.get(s.env, s.default)
            if raw is None:
                values[s.name] = None
                continue
            kind = types[s.name]
            if s.name == "ingest_workers" and str(raw) == "auto":
                raw = min(os.cpu_count() or 1, 4)
            try:
                if kind == "int":
                    values[s.name] = int(raw)
                elif kind == "float":
                    values[s.name] = float(raw)
                elif kind == "Path":
                    values[s.name] = Path(str(raw)).expanduser()
                else:
                    values[s.name] = str(raw)
            except ValueError as exc:
                raise ValueError(f"{s.env}: cannot read {raw!r} as {kind}") from exc
        if not 1 <= values["port"] <= 65535:
            raise ValueError(f"HERON_PORT / --port: {values['port']} is not a port (1-65535)")
        for name in ("clickhouse_url", "postgres_url"):
            if not values[name]:  # set but empty: not given
                values[name] = None
        if (values["clickhouse_url"] is None) != (values["postgres_url"] is None):
            given, missing = (
                ("HERON_CLICKHOUSE_URL", "HERON_POSTGRES_URL")
                if values["clickhouse_url"]
                else ("HERON_POSTGRES_URL", "HERON_CLICKHOUSE_URL")
            )
            raise ValueError(
                f"{given} is set but {missing} is not: the cluster backend needs both "
                "(--clickhouse-url and --postgres-url), the embedded store neither"
            )
        return cls(**values)


def markdown_table() -> str:
    """The settings as the Markdown table in docs/configuration.md (a test keeps them equal)."""
    lines = ["| environment variable | default | meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = "(none)" if s.default is None else f"`{s.default}`"
        lines.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(lines)
