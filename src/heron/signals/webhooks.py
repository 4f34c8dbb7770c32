"""Signing and verifying webhooks per the Standard Webhooks specification.

A message carries three headers: ``webhook-id`` (the notification's id, the same on every
retry, so a receiver can drop duplicates), ``webhook-timestamp`` (seconds since the epoch)
and ``webhook-signature``: ``v1,`` and the base64 of the HMAC-SHA256 of
``<id>.<timestamp>.<body>`` under the secret's key. A secret is ``whsec_`` followed by the
base64 of its key (24 to 64 random bytes). :func:`verify` is what a receiver runs: it
accepts any of several space-separated signatures (a receiver may hold the old and the new
secret while rotating), refuses timestamps too far from its clock (a replayed message) and
compares in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Mapping

PREFIX = "whsec_"
KEY_BYTES = (24, 64)
TOLERANCE_S = 300  # how far a timestamp may be from the receiver's clock
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class InvalidSignature(ValueError):
    """A message that does not verify: no valid signature, a stale timestamp, a header missing."""


def generate_secret() -> str:
    """A new secret: ``whsec_`` and the base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def secret_key(secret: str) -> bytes:
    """The key of a ``whsec_`` secret (ValueError naming what is wrong with it)."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with 'whsec_' followed by base64")
    text = secret[len(PREFIX) :]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
    low, high = KEY_BYTES
    if not low <= len(key) <= high:
        raise ValueError(f"a webhook secret's key is {low} to {high} bytes, not {len(key)}")
    return key


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The signature header value: ``v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>``."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + _as_bytes(body)
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> dict[str, str]:
    """The three Standard Webhooks headers of a message."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(int(timestamp)),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    message_headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Return if the message is signed with ``secret`` and recent; raise
    :class:`InvalidSignature` otherwise. Header names are matched case-insensitively."""
    lowered = {k.lower(): v for k, v in message_headers.items()}
    msg_id = lowered.get(ID_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER)
    given = lowered.get(SIGNATURE_HEADER)
    if not msg_id or not stamp or not given:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not a whole number of seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidSignature("webhook-timestamp is too far from now (stale or replayed)")
    expected = sign(secret, msg_id, timestamp, body).encode()
    found = False
    for candidate in given.split(" "):
        # every candidate is compared, so the time taken does not say which one matched
        found |= hmac.compare_digest(candidate.encode(), expected)
    if not found:
        raise InvalidSignature("no signature matches")
