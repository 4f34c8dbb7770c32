"""Which project a page shows: the ``?project=`` asked for, else the remembered one, else the
user's first. A project the user is not a member of is a 404, never another's data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from heron.roles import Action, can
from heron.server.state import state_of
from heron.server.web.auth import PROJECT_COOKIE, PageError, WebUser, current_user, not_found


@dataclass
class Scope:
    user: WebUser
    projects: list[dict[str, Any]]
    project: dict[str, Any] | None
    asked: bool  # the project came from ?project= (remember it)

    @property
    def project_id(self) -> str:
        if self.project is None:
            raise not_found("project")
        return self.project["id"]

    @property
    def role(self) -> str | None:
        """The user's role in the project in view (server administrators act as owner)."""
        if self.project is None:
            return None
        return "owner" if self.user.is_admin else self.project.get("role")

    def can(self, action: Action) -> bool:
        return can(self.role, action)

    def require(self, action: Action) -> None:
        """A 403 page unless the user's role in the project in view allows ``action``."""
        if not self.can(action):
            raise PageError(
                403, f"Your role ({self.role or 'none'}) in this project cannot do this."
            )

    def context(self, **extra: Any) -> dict[str, Any]:
        """What every page template needs (user, CSRF token, switcher), plus ``extra``."""
        return {
            "user": self.user,
            "csrf_token": self.user.csrf_token,
            "projects": self.projects,
            "project": self.project,
            "role": self.role,
            "can": self.can,
            **extra,
        }


def member_project(projects: list[dict[str, Any]], project_id: str) -> dict[str, Any]:
    found = next((p for p in projects if p["id"] == project_id), None)
    if found is None:
        raise not_found(f"project {project_id!r}")
    return found


async def page_scope(
    request: Request, project: str | None = None, user: WebUser = Depends(current_user)
) -> Scope:
    st = state_of(request)
    projects = await run_in_threadpool(st.store.user_projects, user.id)
    if project is not None:
        return Scope(user, projects, member_project(projects, project), True)
    remembered = request.cookies.get(PROJECT_COOKIE)
    current = next((p for p in projects if p["id"] == remembered), None)
    return Scope(user, projects, current or (projects[0] if projects else None), False)
