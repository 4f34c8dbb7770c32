"""What the running server holds, reachable from any request."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from starlette.requests import Request

from heron.ingest.costing import Pricing
from heron.ingest.decoding import Decoder
from heron.ingest.pipeline import WritePipeline
from heron.ingest.stats import IngestStats
from heron.runner import Runner
from heron.server.auth import Authenticator
from heron.server.feedback import FeedbackPolicy
from heron.server.llmseries import LabelCap, TotalsCache
from heron.server.login_guard import LoginGuard
from heron.server.repricing import Repricer
from heron.server.retention import RetentionTask
from heron.settings import Settings
from heron.store import Store


@dataclass
class ServerState:
    settings: Settings
    store: Store
    pipeline: WritePipeline
    auth: Authenticator
    pricing: Pricing
    decoder: Decoder
    admin_token: str
    feedback: FeedbackPolicy
    created_keys: list[dict[str, str]] = field(default_factory=list)
    ingest_stats: IngestStats = field(default_factory=IngestStats)
    label_cap: LabelCap = field(default_factory=lambda: LabelCap(20))
    prometheus: CollectorRegistry = field(default_factory=CollectorRegistry)
    llm_totals: TotalsCache = field(default_factory=TotalsCache)
    score_totals: TotalsCache = field(default_factory=TotalsCache)
    login_guard: LoginGuard = field(default_factory=LoginGuard)
    retention: RetentionTask | None = None
    repricer: Repricer | None = None
    runner: Runner | None = None


def state_of(request: Request) -> ServerState:
    return request.app.state.heron
