"""What the running server holds, reachable from any request."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from heron.ingest.costing import Pricing
from heron.ingest.decoding import Decoder
from heron.ingest.pipeline import WritePipeline
from heron.server.auth import Authenticator
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
    created_keys: list[dict[str, str]] = field(default_factory=list)


def state_of(request: Request) -> ServerState:
    return request.app.state.heron
