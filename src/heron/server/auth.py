"""API key authentication: ``Bearer <secret>`` or ``Basic base64(public:secret)``.

:meth:`Authenticator.authenticate` is the one gate of every key-authenticated route: it
needs the access the route requires (``ingest``, ``read`` or ``write``), checks it against
the key's scope (403 naming the scope) and charges the key's and project's request rates
(429). Routes get it through :func:`heron.server.api.caller`, which takes the need from
:func:`route_need`; the OTLP routes call it with ``need="ingest"``.

Two kinds of credential: the secret key (``Caller.kind == "secret"``) and the public key
alone (``Basic base64(public:)`` with an empty secret, as Langfuse's browser SDK sends it;
``kind == "public"``). The public key sits in customers' web pages, so it may only create
scores: the routes in :data:`PUBLIC_ROUTES` (everything else is a 403 naming why), never
replace an existing score (:mod:`heron.server.feedback`), and it is charged per key and per
client address instead of per key and project.
"""

from __future__ import annotations

import base64
import hmac
import threading
import time
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from heron.errors import Forbidden, Unauthorized
from heron.server.ratelimit import RateLimiter
from heron.store import Store
from heron.store.keys import SCOPES, hash_secret

Need = Literal["ingest", "read", "write"]

# Routes whose need is not their method's (GET and HEAD read, any other method writes).
# A route missing here that should be listed fails closed: only full keys may use it.
ROUTE_NEEDS: dict[tuple[str, str], Need] = {
    ("POST", "/api/scores"): "ingest",
    ("POST", "/api/public/scores"): "ingest",
    ("POST", "/api/metrics"): "read",
    ("POST", "/api/compare"): "read",
    ("POST", "/api/alerts/backtest"): "read",  # judges stored data, changes nothing
    ("POST", "/api/public/ingestion"): "ingest",
}

# The only routes the public key alone may use (creating scores; feedback from browsers).
# Langfuse's browser SDK sends its scores as score-create events to /api/public/ingestion,
# which then takes no other event from the public key (heron.server.ingestion).
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("POST", "/api/scores"), ("POST", "/api/public/scores"), ("POST", "/api/public/ingestion")}
)

_DOES = {"ingest": "sends traces or scores", "read": "reads", "write": "changes data"}
_SCOPES_FOR = {"ingest": "'ingest' or 'full'", "read": "'read' or 'full'", "write": "'full'"}
_MAY = {"ingest": "may only send traces and scores", "read": "may only read", "full": "may all"}


@dataclass(frozen=True, slots=True)
class Caller:
    project_id: str
    public_key: str
    scope: str = "full"
    kind: Literal["secret", "public"] = "secret"


def _route_key(request: Request) -> tuple[str, str]:
    """(method, path template) of the matched route (the URL path when none matched)."""
    route = request.scope.get("route")
    return request.method, getattr(route, "path", request.url.path)


def route_need(request: Request) -> Need:
    """The access the matched route requires (see :data:`ROUTE_NEEDS`)."""
    default: Need = "read" if request.method in ("GET", "HEAD") else "write"
    return ROUTE_NEEDS.get(_route_key(request), default)


def client_address(request: Request) -> str:
    """The peer's address (the proxy's, behind one)."""
    return request.client.host if request.client else "unknown"


def ascii_header(request: Request, name: str) -> str | None:
    """A header's value, refusing (401) one that is not ASCII (credentials always are)."""
    value = request.headers.get(name)
    if value is not None and not value.isascii():
        raise Unauthorized(
            f"the {name.title()} header contains non-ASCII characters; "
            "credentials are ASCII (API keys and tokens as heron printed them)"
        )
    return value


class Authenticator:
    """Maps a request's credentials to its project; keys are cached by secret hash."""

    def __init__(
        self, store: Store, limiter: RateLimiter | None = None, max_age_s: float | None = None
    ) -> None:
        self._store = store
        self._limiter = limiter
        self._keys: dict[str, tuple[str, str, str]] = {}
        self._public: dict[str, tuple[str, str]] = {}  # public key -> (project id, scope)
        self._lock = threading.Lock()
        # Replicas sharing a store (the cluster backend) re-read the keys at least this
        # often, so a key revoked or re-scoped through another replica stops working here.
        self._max_age_s = max_age_s
        self._refreshed = 0.0

    def refresh(self) -> None:
        table = self._store.key_table()
        public = {pk: (pid, scope) for pk, pid, scope in table.values()}
        with self._lock:
            self._keys, self._public = table, public
            self._refreshed = time.monotonic()

    def _fresh(self) -> None:
        if self._max_age_s is not None and time.monotonic() - self._refreshed > self._max_age_s:
            self.refresh()

    def authenticate(self, request: Request, *, need: Need) -> Caller:
        """The caller, if its key is valid, its scope allows ``need`` and it is within its
        request rates (401, 403 and 429 otherwise)."""
        self._fresh()
        caller = self._identify(request)
        if caller.kind == "public":
            method, path = _route_key(request)
            if (method, path) not in PUBLIC_ROUTES:
                raise Forbidden(
                    f"the public key alone may only create scores (POST /api/public/scores); "
                    f"{method} {request.url.path} needs the secret key as well"
                )
            need = "ingest"
        if need not in SCOPES.get(caller.scope, frozenset()):
            raise Forbidden(
                f"API key {caller.public_key} has scope {caller.scope!r} (it "
                f"{_MAY.get(caller.scope, 'may nothing')}); {request.method} {request.url.path} "
                f"{_DOES[need]} and needs scope {_SCOPES_FOR[need]}"
            )
        if self._limiter is None:
            return caller
        if caller.kind == "public":
            self._limiter.charge_public(caller.public_key, client_address(request))
        else:
            kind = "ingest" if need == "ingest" else "read"
            self._limiter.charge(kind, caller.public_key, caller.project_id)
        return caller

    def _identify(self, request: Request) -> Caller:
        header = ascii_header(request, "authorization")
        if not header:
            raise Unauthorized(
                "missing credentials: send 'Authorization: Bearer <secret key>' or Basic "
                "auth with public key and secret key"
            )
        scheme, _, value = header.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        public: str | None = None
        if scheme == "bearer":
            secret = value
        elif scheme == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode("ascii")
            except (ValueError, UnicodeDecodeError):
                raise Unauthorized(
                    "malformed Basic credentials: base64 of ASCII expected"
                ) from None
            public, sep, secret = decoded.partition(":")
            if not sep:
                raise Unauthorized("Basic credentials must be 'public_key:secret_key'")
            if not secret:
                return self._identify_public(public)
        else:
            raise Unauthorized(f"unsupported authorization scheme {scheme!r}; use Bearer or Basic")
        digest = hash_secret(secret)
        entry = self._keys.get(digest)
        if entry is None:
            self.refresh()
            entry = self._keys.get(digest)
        if entry is None or (public is not None and not hmac.compare_digest(public, entry[0])):
            raise Unauthorized("invalid API key")
        return Caller(project_id=entry[1], public_key=entry[0], scope=entry[2])

    def _identify_public(self, public_key: str) -> Caller:
        """The caller of Basic auth with the public key and an empty secret."""
        entry = self._public.get(public_key)
        if entry is None:
            self.refresh()
            entry = self._public.get(public_key)
        if entry is None:
            raise Unauthorized("invalid public key (Basic auth with an empty secret)")
        return Caller(project_id=entry[0], public_key=public_key, scope=entry[1], kind="public")
