"""Project roles and what each may do: the one table every page, form and route checks.

A membership has one role. ``viewer`` reads everything and changes nothing; ``member`` also
changes the project's data and its working objects (views, dashboards, prices); ``admin``
also manages keys, members and browser feedback settings; ``owner`` also renames and
administers the project itself. A server administrator (``heron users create --admin``)
acts as owner of every project.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["owner", "admin", "member", "viewer"]
Action = Literal[
    "read",
    "write",
    "manage_prices",
    "manage_keys",
    "manage_members",
    "manage_feedback",
    "manage_project",
    "moderate_comments",
]

ROLES: tuple[Role, ...] = ("owner", "admin", "member", "viewer")

_LEAST: dict[Action, Role] = {
    "read": "viewer",
    "write": "member",
    "manage_prices": "member",
    "manage_keys": "admin",
    "manage_members": "admin",
    "manage_feedback": "admin",  # what the public key may do from which origins, like keys
    "manage_project": "owner",
    "moderate_comments": "admin",  # edit and delete others' comments (issue 16)
}


def can(role: str | None, action: Action) -> bool:
    """Whether ``role`` may do ``action`` (an unknown or missing role may do nothing)."""
    if role not in ROLES:
        return False
    return ROLES.index(role) <= ROLES.index(_LEAST[action])  # type: ignore[arg-type]
