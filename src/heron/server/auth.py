"""API key authentication: ``Bearer <secret>`` or ``Basic base64(public:secret)``."""

from __future__ import annotations

import base64
import hmac
import threading
from dataclasses import dataclass

from starlette.requests import Request

from heron.errors import Unauthorized
from heron.store import Store
from heron.store.keys import hash_secret


@dataclass(frozen=True, slots=True)
class Caller:
    project_id: str
    public_key: str


class Authenticator:
    """Maps a request's credentials to its project; keys are cached by secret hash."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._keys: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        table = self._store.key_table()
        with self._lock:
            self._keys = table

    def authenticate(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
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
                public, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise Unauthorized("malformed Basic credentials") from None
            if not sep:
                raise Unauthorized("Basic credentials must be 'public_key:secret_key'")
        else:
            raise Unauthorized(f"unsupported authorization scheme {scheme!r}; use Bearer or Basic")
        digest = hash_secret(secret)
        entry = self._keys.get(digest)
        if entry is None:
            self.refresh()
            entry = self._keys.get(digest)
        if entry is None or (public is not None and not hmac.compare_digest(public, entry[0])):
            raise Unauthorized("invalid API key")
        return Caller(project_id=entry[1], public_key=entry[0])
