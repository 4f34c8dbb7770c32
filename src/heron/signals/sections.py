"""The ``channels``, ``rules`` and ``alerts`` sections of the configuration document."""

from __future__ import annotations

from typing import Any

from heron.config.sections import Change, Encrypt, Planning, Section, changed
from heron.evals.spec import Problems
from heron.signals.alerts import check_alert, export_alert
from heron.signals.channels import check_channel, export_channel, secret_hint
from heron.signals.rules import check_rule, export_rule
from heron.store import Store


def _plan_channels(ctx: Planning, items: list[Any], problems: Problems, key: str) -> list[Change]:
    stored = {c["name"]: c for c in ctx.store.list_channels(ctx.project_id)}
    names = ctx.names.setdefault("channel", set(stored))
    out = []
    for i, raw in enumerate(items):
        path = f"{key}[{i}]"
        existing = stored.get(raw.get("name")) if isinstance(raw, dict) else None
        keeps = existing is not None and existing["type"] == raw.get("type")
        name, spec, secret = check_channel(raw, path, problems, secret_required=not keeps)
        if name is None or spec is None:
            continue
        names.add(name)
        if secret is None and not keeps:
            # a generated secret would be shown nowhere, and nobody could verify signatures
            problems.add(
                f"{path}.secret",
                "a new webhook channel needs its secret (whsec_ and at least 24 random bytes "
                'in base64; keep it out of the file with secret: "${HERON_WEBHOOK_SECRET}")',
            )
            continue
        if keeps and ctx.same_secret("channel", name, secret):
            secret = None  # the secret it has
        out.append(changed("channel", name, existing and existing["spec"], spec, secret))
    return out


def _apply_channel(store: Store, project_id: str, change: Change, encrypt: Encrypt) -> None:
    token, hint = None, None
    if change.secret is not None:
        token, _ = encrypt(change.secret)
        hint = secret_hint(change.value["type"], change.secret)
    store.put_channel(project_id, change.name, change.value, token, hint)


def _export_channels(store: Store, project_id: str) -> list[dict[str, Any]]:
    return [export_channel(c["name"], c["spec"]) for c in store.list_channels(project_id)]


def _plan_notifying(kind: str, check: Any, stored: dict[str, Any]) -> Any:
    """A plan for rules or alerts: each checked against the channels known so far, compared
    with its ``stored`` spec by name."""

    def plan(ctx: Planning, items: list[Any], problems: Problems, key: str) -> list[Change]:
        known = stored(ctx)
        out = []
        for i, raw in enumerate(items):
            name, spec = check(
                raw, f"{key}[{i}]", problems, channels=ctx.names.get("channel", set())
            )
            if name is not None and spec is not None:
                out.append(changed(kind, name, known.get(name), spec))
        return out

    return plan


def _apply_rule(store: Store, project_id: str, change: Change, encrypt: Encrypt) -> None:
    store.put_signal_rule(project_id, change.name, change.value)


def _export_rules(store: Store, project_id: str) -> list[dict[str, Any]]:
    """Stored rules and built-in overrides (a built-in left as it is needs no line)."""
    return [export_rule(r["name"], r["spec"]) for r in store.list_signal_rules(project_id)]


def _apply_alert(store: Store, project_id: str, change: Change, encrypt: Encrypt) -> None:
    store.put_alert(project_id, change.name, change.value)


def _export_alerts(store: Store, project_id: str) -> list[dict[str, Any]]:
    return [export_alert(a["name"], a["spec"]) for a in store.list_alerts(project_id)]


def _stored(lister: str) -> Any:
    return lambda ctx: {o["name"]: o["spec"] for o in getattr(ctx.store, lister)(ctx.project_id)}


CHANNELS = Section("channels", "channel", _plan_channels, _apply_channel, _export_channels)
RULES = Section(
    "rules", "rule", _plan_notifying("rule", check_rule, _stored("list_signal_rules")),
    _apply_rule, _export_rules,
)  # fmt: skip
ALERTS = Section(
    "alerts", "alert", _plan_notifying("alert", check_alert, _stored("list_alerts")),
    _apply_alert, _export_alerts,
)  # fmt: skip
