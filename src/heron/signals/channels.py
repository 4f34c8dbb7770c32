"""Notification channels: their definitions, checked whole, every problem named with its path.

Two types, in the configuration format (``channels:`` of ``heron apply``, the API's bodies):

- ``{name, type: webhook, url, secret?, headers?}``: a JSON POST signed per Standard
  Webhooks (:mod:`heron.signals.webhooks`) with the ``whsec_`` secret;
- ``{name, type: apprise, url}``: any apprise URL (``slack://…``, ``mailto://…``,
  ``ntfy://…``, ``json://…``), checked by apprise itself.

The webhook's secret and the apprise URL (which embeds the service's tokens) are the channel's
secret: :func:`check_channel` returns it apart from the spec, the store keeps it encrypted
(:mod:`heron.evals.secrets`), and only a hint of it is ever shown. :func:`export_channel`
leaves it out, and applying an export back keeps the stored secret, so it changes nothing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from heron.evals.secrets import InvalidSecret
from heron.evals.spec import Problems, check_name
from heron.signals import webhooks

TYPES = ("webhook", "apprise")
MAX_URL = 2000
MAX_HEADERS = 20
_KEYS = {
    "webhook": {"name", "type", "url", "secret", "headers"},
    "apprise": {"name", "type", "url"},
}
# headers heron sets itself, or that would change how the request is framed or authenticated
_RESERVED = {
    "host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent",
    webhooks.ID_HEADER, webhooks.TIMESTAMP_HEADER, webhooks.SIGNATURE_HEADER,
}  # fmt: skip
_ARTICLE = {"webhook": "a", "apprise": "an"}
_HEADER_NAME = re.compile(r"[A-Za-z0-9\-]{1,100}")


def _one_line(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and not set(value) & {"\n", "\r"}


def _placeholder(value: str) -> bool:
    """A value that was never filled in: an unresolved ``${VAR}`` or a redaction."""
    return value.startswith("${") or value in ("***", "…")


def _webhook(raw: dict[str, Any], path: str, problems: Problems) -> tuple[dict, str | None]:
    url = raw.get("url")
    parts = urlsplit(url) if _one_line(url, MAX_URL) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problems.add(f"{path}.url", "an http(s) URL, e.g. https://example.com/hooks/heron")
    elif parts.username or parts.password:
        problems.add(f"{path}.url", "no credentials in the URL: the signature authenticates")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
        problems.add(f"{path}.headers", f"an object of at most {MAX_HEADERS} string headers")
        headers = {}
    for key, value in headers.items():
        if (
            not isinstance(key, str)
            or not _HEADER_NAME.fullmatch(key)
            or key.lower() in _RESERVED
            or not _one_line(value, 2000)
        ):
            problems.add(f"{path}.headers.{key}", "a header name and a one-line string value "
                         "(not Host, Content-Type, framing or webhook-* headers)")  # fmt: skip
    secret = raw.get("secret")
    if secret is None or secret == "":
        secret = None
    elif not isinstance(secret, str) or _placeholder(secret):
        problems.add(f"{path}.secret", "looks unresolved or redacted; give the real secret")
        secret = None
    else:
        try:
            webhooks.secret_key(secret)
        except ValueError as exc:
            problems.add(f"{path}.secret", str(exc))
            secret = None
    spec = {"type": "webhook", "url": url, "headers": dict(sorted(headers.items()))}
    return spec, secret


def _apprise(
    raw: dict[str, Any], path: str, problems: Problems, secret_required: bool
) -> tuple[dict, str | None]:
    url = raw.get("url")
    if url is None or url == "":
        if secret_required:
            problems.add(f"{path}.url", "required for a new apprise channel")
        return {"type": "apprise"}, None
    if not _one_line(url, MAX_URL):
        problems.add(f"{path}.url", f"an apprise URL on one line, at most {MAX_URL} characters")
        return {"type": "apprise"}, None
    if _placeholder(url):
        problems.add(f"{path}.url", "looks unresolved or redacted; give the real URL")
        return {"type": "apprise"}, None
    import apprise

    if apprise.Apprise.instantiate(url) is None:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        problems.add(
            f"{path}.url",
            f"apprise does not accept this URL (scheme {scheme[:20]!r}); see "
            "https://github.com/caronc/apprise/wiki for each service's form",
        )
        return {"type": "apprise"}, None
    return {"type": "apprise"}, url


def check_channel(
    raw: Any, path: str, problems: Problems, *, secret_required: bool = True
) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """``(name, spec, secret)`` of one channel definition; the secret (the webhook's
    ``whsec_`` secret, the apprise URL) stays apart from the spec. ``secret_required``: an
    apprise channel needs its URL (a new one, or one changing type); a webhook without a
    secret gets one generated by the caller. Problems go to ``problems``; spec ``None``
    then."""
    start = len(problems.items)
    if not isinstance(raw, dict):
        problems.add(path, "expected an object with name, type (webhook or apprise) and url")
        return None, None, None
    name = check_name(raw.get("name"), f"{path}.name", problems)
    kind = raw.get("type")
    if kind not in TYPES:
        problems.add(f"{path}.type", f"one of {', '.join(TYPES)}")
        return name, None, None
    for key in sorted(set(raw) - _KEYS[kind], key=str):
        problems.add(f"{path}.{key}", f"unknown field of {_ARTICLE[kind]} {kind} channel")
    if kind == "webhook":
        spec, secret = _webhook(raw, path, problems)
    else:
        spec, secret = _apprise(raw, path, problems, secret_required)
    if len(problems.items) > start:
        return name, None, None
    return name, spec, secret


def export_channel(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A stored channel in the configuration format, its secret left out (applying it back
    keeps the stored one)."""
    out: dict[str, Any] = {"name": name, "type": spec["type"]}
    if spec["type"] == "webhook":
        out["url"] = spec["url"]
        if spec.get("headers"):
            out["headers"] = dict(spec["headers"])
    return out


def secret_hint(kind: str, secret: str) -> str:
    """A display form of a channel's secret that does not reveal it: ``whsec_…Ab12`` or, for
    an apprise URL, its scheme and last four characters (``slack://…XXXX``)."""
    if kind == "webhook":
        return webhooks.PREFIX + "…" + (secret[-4:] if len(secret) >= 30 else "")
    scheme, sep, rest = secret.partition("://")
    if not sep:
        return "…"
    return f"{scheme[:20]}://…" + (rest[-4:] if len(rest) >= 16 else "")


def seal(key: bytes, kind: str, secret: str) -> tuple[str, str]:
    """``(token, hint)``: the secret encrypted under the server's ``key`` (as LLM connection
    keys are, so configuration as code reads and writes both the same way) and its hint."""
    from heron.evals.secrets import encrypt

    return encrypt(secret, key), secret_hint(kind, secret)


def unseal(key: bytes, token: str) -> str:
    """The secret of a stored channel (:class:`heron.evals.secrets.InvalidSecret` if it does
    not decrypt with ``key``)."""
    from heron.evals.secrets import decrypt

    return decrypt(token, key)


@dataclass(slots=True)
class Planned:
    """What saving a channel definition does: ``action`` (``create``, ``update``,
    ``unchanged``), the checked ``spec``, the sealed secret to store (``token`` and ``hint``;
    ``None``: keep the stored one) and ``generated``, the secret heron made for a new
    webhook that came without one (to show once)."""

    name: str
    spec: dict[str, Any]
    action: str
    token: str | None = None
    hint: str | None = None
    generated: str | None = None


def plan_channel(
    store: Any, key: bytes, project_id: str, raw: Any, path: str, problems: Problems
) -> Planned | None:
    """Check one definition against the project's stored channel of that name (``None``
    with ``problems`` when it has any). A channel keeps its stored secret while it keeps
    its type; the stored secret given again is no change, so a configuration naming it
    (``secret: "${HERON_WEBHOOK_SECRET}"``) applies twice as ``unchanged``. Saving is then
    ``store.put_channel(project_id, p.name, p.spec, p.token, p.hint)``."""
    given = raw.get("name") if isinstance(raw, dict) else None
    existing = store.get_channel(project_id, given, with_secret=True) if _named(given) else None
    keeps = existing is not None and existing["type"] == raw.get("type")
    name, spec, secret = check_channel(raw, path, problems, secret_required=not keeps)
    if name is None or spec is None:
        return None
    if secret is not None and keeps and existing.get("secret"):
        with contextlib.suppress(InvalidSecret):
            if unseal(key, existing["secret"]) == secret:
                secret = None
    generated = None
    if secret is None and not keeps:  # a new webhook (an apprise channel needs its URL)
        secret = generated = webhooks.generate_secret()
    token, hint = seal(key, spec["type"], secret) if secret else (None, None)
    if existing is None:
        action = "create"
    elif existing["spec"] == spec and token is None:
        action = "unchanged"
    else:
        action = "update"
    return Planned(name, spec, action, token, hint, generated)


def _named(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64
