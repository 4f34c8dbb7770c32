"""What a section of the configuration document is (see :mod:`heron.config.document`).

A section (``evaluators``, ``rules``, ...) plans its objects (checking each, with every
problem at its path, and saying whether it would be created, updated or left as is),
applies the planned changes, and exports what the project has in the same format. Sections
live with their domain (``heron.evals.sections``, ``heron.signals.sections``); the document
runs them in order, so a section may name objects of the sections before it (an evaluator
names a connection and a score config; a rule names channels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from heron.evals.spec import Problems
from heron.store import Store

# A secret in clear -> (the encrypted token to store, a hint to show)
Encrypt = Callable[[str], tuple[str, str]]
# (kind, name) -> the stored secret of that object in clear (None: none stored)
KeyOf = Callable[[str, str], "str | None"]


@dataclass(slots=True)
class Change:
    kind: str  # score_config | connection | channel | evaluator | rule | alert
    name: str
    action: str  # create | update | unchanged
    value: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None  # a secret as given (a connection's API key, a channel's)

    def view(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "action": self.action}


@dataclass(slots=True)
class Planning:
    """What sections see while planning: the store, and per kind the names that will exist
    once the document is applied (stored ones and the document's own)."""

    store: Store
    project_id: str
    custom_modules: tuple[str, ...] = ()
    key_of: KeyOf | None = None
    names: dict[str, set[str]] = field(default_factory=dict)
    score_configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def same_secret(self, kind: str, name: str, secret: str | None) -> bool:
        """Whether ``secret`` is the one stored (giving it again is no change)."""
        if secret is None or self.key_of is None:
            return False
        try:
            return self.key_of(kind, name) == secret
        except Exception:  # a secret the server can no longer read: replace it
            return False


@dataclass(frozen=True, slots=True)
class Section:
    key: str  # the document's section name
    kind: str  # each change's kind
    plan: Callable[[Planning, list[Any], Problems, str], list[Change]]  # (.., path prefix)
    apply: Callable[[Store, str, Change, Encrypt], None]
    export: Callable[[Store, str], list[dict[str, Any]]]


def changed(
    kind: str, name: str, existing: Any, spec: dict[str, Any], secret: str | None = None
) -> Change:
    """The change that makes ``name`` have ``spec`` (``existing``: its stored spec or None)."""
    if existing is None:
        action = "create"
    elif existing == spec and secret is None:
        action = "unchanged"
    else:
        action = "update"
    return Change(kind, name, action, spec, secret)
