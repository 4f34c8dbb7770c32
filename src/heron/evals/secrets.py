"""LLM connection keys encrypted at rest with a server secret (AES-256-GCM).

A token is ``v1:`` followed by the url-safe base64 (no padding) of a random 12-byte nonce and
the ciphertext with its 16-byte tag. The version prefix lets a later key or algorithm live
beside old tokens. Optional associated data (for example a connection's id) binds a token to
the row it belongs to: the token copied onto another row does not decrypt.

The server secret is 32 bytes: ``HERON_SECRET_KEY`` (base64) when set, else the file
``secret.key`` in the data directory, created on first use (mode 0600, written atomically, so
two processes starting together end up with the same key). Losing that file makes stored
keys unreadable; back it up with the data directory, or set the variable.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "ENV_VAR",
    "KEY_FILE",
    "InvalidSecret",
    "decrypt",
    "encrypt",
    "hint",
    "load_or_create_key",
    "server_key",
]

ENV_VAR = "HERON_SECRET_KEY"
KEY_FILE = "secret.key"
KEY_BYTES = 32
NONCE_BYTES = 12
PREFIX = "v1:"


class InvalidSecret(ValueError):
    """A token that does not decrypt: tampered, truncated, from another key or another row."""


def _check_key(key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise ValueError(f"the secret key must be {KEY_BYTES} bytes, not {len(key)}")
    return AESGCM(key)


def encrypt(plaintext: str, key: bytes, *, associated: str = "") -> str:
    """``plaintext`` encrypted under ``key`` with a fresh random nonce: ``v1:<base64>``."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = _check_key(key).encrypt(nonce, plaintext.encode(), associated.encode() or None)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def decrypt(token: str, key: bytes, *, associated: str = "") -> str:
    """The plaintext of a token from :func:`encrypt`; :class:`InvalidSecret` if it was altered,
    was made with another key or other associated data, or is not a token at all."""
    aead = _check_key(key)
    if not token.startswith(PREFIX):
        raise InvalidSecret("not an encrypted secret (unknown version prefix)")
    body = token[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as e:
        raise InvalidSecret("not an encrypted secret (bad encoding)") from e
    if len(raw) < NONCE_BYTES + 16:
        raise InvalidSecret("not an encrypted secret (too short)")
    try:
        plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated.encode() or None)
    except InvalidTag as e:
        raise InvalidSecret(
            "the secret does not decrypt with this key (altered or other key)"
        ) from e
    return plain.decode()


def _decode_key(text: str, source: str) -> bytes:
    value = text.strip()
    try:
        key = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"{source} is not base64") from e
    if len(key) != KEY_BYTES:
        raise ValueError(f"{source} must hold {KEY_BYTES} bytes (base64), not {len(key)}")
    return key


def load_or_create_key(path: Path) -> bytes:
    """The 32-byte key stored (base64) in ``path``, created with fresh random bytes if the file
    does not exist. Creation is atomic and never overwrites: the key is written to a private
    temporary file (mode 0600) that is then hard-linked into place, so a concurrent creator
    either wins or reads the winner's key."""
    try:
        return _decode_key(path.read_text(), str(path))
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    data = base64.b64encode(os.urandom(KEY_BYTES)) + b"\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process created it first
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # make the new entry durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return _decode_key(path.read_text(), str(path))


def server_key(data_dir: Path, env: Mapping[str, str]) -> bytes:
    """The server secret: ``HERON_SECRET_KEY`` (base64 of 32 bytes) when set and not empty,
    else the key file ``secret.key`` in ``data_dir`` (created on first use)."""
    value = env.get(ENV_VAR, "").strip()
    if value:
        return _decode_key(value, ENV_VAR)
    return load_or_create_key(Path(data_dir) / KEY_FILE)


_PREFIX_RE = re.compile(r"[A-Za-z]{2,8}[-_]")  # one group of letters: "sk-", "proj_"


def hint(api_key: str) -> str:
    """A display form of a key that does not reveal it: its well-known prefix and last four
    characters (``sk-proj-…Wxyz``); shorter keys show only the prefix (``sk-…``)."""
    if not api_key:
        return ""
    prefix = ""
    for n in range(2):  # the first group, a second one ("sk-proj-") within a third of the key
        match = _PREFIX_RE.match(api_key, len(prefix))
        if match is None or (n and len(prefix) + len(match.group(0)) > len(api_key) // 3):
            break
        prefix += match.group(0)
    rest = api_key[len(prefix) :]
    tail = rest[-4:] if len(rest) >= 16 else ""
    return f"{prefix}…{tail}"


def settings_key(settings: Any) -> bytes:
    """The key of a server's settings (``HERON_SECRET_KEY``, else its data directory's file)."""
    env = {ENV_VAR: settings.secret_key} if settings.secret_key else {}
    return server_key(settings.data_dir, env)
