"""API key material: generation and hashing. Secrets are stored only as SHA-256 digests.

Secret keys carry 256 bits of randomness, so a fast hash is safe here (no dictionary to try)
and keeps authentication out of the hot path's cost.
"""

from __future__ import annotations

import hashlib
import secrets

from heron.errors import BadRequest

# What each key scope may do. ``ingest`` sends traces and scores and reads nothing (a key
# that can sit in every deployed app, like a send-only DSN); ``read`` reads and writes
# nothing; ``full`` does both and changes settings (prices, dashboards, deletions).
SCOPES: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "read": frozenset({"read"}),
    "full": frozenset({"ingest", "read", "write"}),
}
DEFAULT_SCOPE = "full"


def check_scope(scope: str) -> str:
    """The scope, validated (400 naming the choices otherwise)."""
    if scope not in SCOPES:
        raise BadRequest(f"unknown key scope {scope!r}; use one of {', '.join(SCOPES)}")
    return scope


def new_public_key() -> str:
    return "pk-hr-" + secrets.token_hex(12)


def new_secret_key() -> str:
    return "sk-hr-" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hint(secret: str) -> str:
    return secret[:6] + "…" + secret[-4:]


def new_project_id() -> str:
    return "prj_" + secrets.token_hex(8)
