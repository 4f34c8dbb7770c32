"""Admin operations for the CLI: through the running server if there is one, else directly.

The server is the store's only opener, so while it runs, ``heron keys create`` and friends
talk to its admin API (found through ``server.json`` in the data directory).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from heron import project_admin
from heron.errors import HeronError, NotFound
from heron.store.keys import check_scope

if TYPE_CHECKING:
    from heron.store import EmbeddedStore


class AdminError(Exception):
    pass


def running_server(data_dir: Path) -> dict[str, Any] | None:
    """The server.json of a live server on this data directory, if any."""
    path = data_dir / "server.json"
    try:
        info = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return info


class Admin:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server = running_server(data_dir)

    def _http(self, method: str, path: str, timeout: float = 30, **kwargs: Any) -> Any:
        assert self.server is not None
        headers = {"Authorization": f"Bearer {self.server['admin_token']}"}
        try:
            r = httpx.request(
                method, self.server["url"] + path, headers=headers, timeout=timeout, **kwargs
            )
        except httpx.HTTPError as exc:
            raise AdminError(
                f"cannot reach the heron server at {self.server['url']}: {exc}"
            ) from exc
        if r.status_code >= 400:
            try:
                message = r.json()["error"]["message"]
            except Exception:
                message = r.text
            raise AdminError(message)
        return r.json()

    def _direct(self) -> Any:
        """The store the settings name (DuckDB in the data directory, or the cluster's)."""
        from heron.settings import Settings
        from heron.store.backend import open_store

        try:
            return open_store(Settings.load(data_dir=self.data_dir))
        except Exception as exc:  # duckdb.IOException when another process holds the file
            raise AdminError(f"cannot open the store in {self.data_dir}: {exc}") from exc

    def projects(self) -> list[dict[str, Any]]:
        if self.server:
            return self._http("GET", "/api/admin/projects")["data"]
        store = self._direct()
        try:
            return store.list_projects()
        finally:
            store.close()

    def create_project(self, name: str) -> dict[str, Any]:
        if self.server:
            return self._http("POST", "/api/admin/projects", json={"name": name})
        store = self._direct()
        try:
            return store.create_project(name)
        except HeronError as exc:
            raise AdminError(exc.message) from exc
        finally:
            store.close()

    def keys(self, project: str | None = None) -> list[dict[str, Any]]:
        if self.server:
            params = {"project": project} if project else {}
            return self._http("GET", "/api/admin/keys", params=params)["data"]
        store = self._direct()
        try:
            project_id = None
            if project:
                found = store.project_by_name(project)
                if not found:
                    raise AdminError(f"project {project!r} not found")
                project_id = found["id"]
            return store.list_keys(project_id)
        finally:
            store.close()

    def create_key(
        self, project: str, create_project: bool = False, scope: str = "full"
    ) -> dict[str, Any]:
        if self.server:
            body = {"project": project, "create_project": create_project, "scope": scope}
            return self._http("POST", "/api/admin/keys", json=body)
        store = self._direct()
        try:
            check_scope(scope)
            found = store.project_by_name(project)
            if found is None:
                if not create_project:
                    raise NotFound(f"project {project!r} not found")
                found = store.create_project(project)
            return {**store.create_key(found["id"], scope=scope), "project": found["name"]}
        except HeronError as exc:
            raise AdminError(exc.message) from exc
        finally:
            store.close()

    def set_retention(self, project: str, days: int | None) -> None:
        """Keep the project's traces ``days`` days (``None``: forever)."""
        if self.server:
            body = {"project": project, "days": days}
            self._http("POST", "/api/admin/projects/retention", json=body)
            return
        store = self._direct()
        try:
            found = store.project_by_name(project)
            if found is None:
                raise NotFound(f"project {project!r} not found")
            store.set_retention(found["id"], days)
        except HeronError as exc:
            raise AdminError(exc.message) from exc
        finally:
            store.close()

    def create_user(
        self, email: str, password: str, is_admin: bool = False, project: str | None = None
    ) -> dict[str, Any]:
        if self.server:
            body = {"email": email, "password": password, "is_admin": is_admin, "project": project}
            return self._http("POST", "/api/admin/users", json=body)
        store = self._direct()
        try:
            project_ids = []
            if project:
                found = store.project_by_name(project)
                if not found:
                    raise NotFound(f"project {project!r} not found")
                project_ids.append(found["id"])
            return store.create_user(email, password, is_admin=is_admin, project_ids=project_ids)
        except HeronError as exc:
            raise AdminError(exc.message) from exc
        finally:
            store.close()

    def set_password(self, email: str, password: str) -> None:
        if self.server:
            self._http(
                "POST", "/api/admin/users/password", json={"email": email, "password": password}
            )
            return
        store = self._direct()
        try:
            store.set_password(email, password)
        except HeronError as exc:
            raise AdminError(exc.message) from exc
        finally:
            store.close()

    def backup(self, destination: Path) -> dict[str, Any]:
        """Copy the data directory into ``destination`` (see :mod:`heron.backup`)."""
        destination = destination.expanduser().absolute()
        if self.server:
            body = {"destination": str(destination)}
            return self._http("POST", "/api/admin/backup", timeout=3600, json=body)
        from heron.backup import backup, check_destination

        if not (self.data_dir / "heron.duckdb").exists():
            raise AdminError(f"no heron data in {self.data_dir} (and no server running on it)")
        try:
            check_destination(destination)
            store = self._direct()
        except HeronError as exc:
            raise AdminError(exc.message) from exc
        try:
            return backup(store, self.data_dir / "journal", destination).to_dict()
        except HeronError as exc:
            raise AdminError(exc.message) from exc
        finally:
            store.close()

    def replay_quarantine(self) -> dict[str, Any]:
        """Apply the quarantined spans again: through the running server, else on the data
        directory (the journal is first replayed, as the server would at start)."""
        if self.server:
            return self._http("POST", "/api/admin/quarantine/replay")
        from heron.ingest.journal import Journal
        from heron.ingest.pipeline import WritePipeline

        store = self._direct()
        try:
            pipeline = WritePipeline(store, Journal(self.data_dir / "journal"))
            pipeline.recover()
            result = pipeline.replay_quarantine().result()
            pipeline.journal.close()
            return result
        finally:
            store.close()

    # -- project settings (see heron.project_admin) ---------------------------------------------

    def _settings(self, method: str, path: str, op: Any, *args: Any, **body: Any) -> Any:
        """``path`` on the running server, else ``op(store, *args)`` on the data directory."""
        if self.server:
            if method == "GET":
                return self._http("GET", path, params=body)
            return self._http(method, path, json=body)
        store = self._direct()
        try:
            return op(store, *args)
        except HeronError as exc:
            raise AdminError(exc.message) from exc
        finally:
            store.close()

    def rename_project(self, project: str, name: str) -> dict[str, Any]:
        return self._settings(
            "POST",
            "/api/admin/projects/rename",
            project_admin.rename,
            project,
            name,
            project=project,
            name=name,
        )

    def revoke_key(self, project: str, public_key: str) -> dict[str, Any]:
        return self._settings(
            "POST",
            "/api/admin/keys/revoke",
            project_admin.revoke_key,
            project,
            public_key,
            project=project,
            public_key=public_key,
        )

    def feedback_settings(self, project: str) -> dict[str, Any]:
        return self._settings(
            "GET", "/api/admin/feedback", project_admin.feedback_settings, project, project=project
        )

    def set_feedback_settings(
        self, project: str, origins: list[str] | None, names: list[str] | None
    ) -> dict[str, Any]:
        return self._settings(
            "POST",
            "/api/admin/feedback",
            project_admin.set_feedback_settings,
            project,
            origins,
            names,
            project=project,
            allowed_origins=origins,
            allowed_names=names,
        )

    def members(self, project: str) -> list[dict[str, Any]]:
        if self.server:
            return self._http("GET", "/api/admin/members", params={"project": project})["data"]
        return self._settings("GET", "", project_admin.members, project)

    def set_member(self, project: str, email: str, role: str) -> dict[str, Any]:
        return self._settings(
            "POST",
            "/api/admin/members",
            project_admin.set_member,
            project,
            email,
            role,
            project=project,
            email=email,
            role=role,
        )

    def remove_member(self, project: str, email: str) -> dict[str, Any]:
        return self._settings(
            "POST",
            "/api/admin/members/remove",
            project_admin.remove_member,
            project,
            email,
            project=project,
            email=email,
        )

    def invite(self, project: str, role: str, base_url: str) -> dict[str, Any]:
        """An invitation link; ``base_url`` is used only without a running server."""
        return self._settings(
            "POST",
            "/api/admin/invitations",
            project_admin.invite,
            project,
            role,
            base_url,
            project=project,
            role=role,
        )

    def implicit_settings(self, project: str) -> dict[str, Any]:
        from heron.implicit import admin as implicit_admin

        return self._settings(
            "GET", "/api/admin/implicit/settings", implicit_admin.view, project, project=project
        )

    def set_implicit_settings(
        self, project: str, changes: dict[str, Any], reset: bool = False
    ) -> dict[str, Any]:
        from heron.implicit import admin as implicit_admin

        return self._settings(
            "POST",
            "/api/admin/implicit/settings",
            implicit_admin.update,
            project,
            changes,
            reset,
            project=project,
            settings=changes,
            reset=reset,
        )


class PricesAdmin(Admin):
    """``heron prices``: a project's prices, by project name, through the server or directly."""

    def _project_id(self, store: EmbeddedStore, project: str) -> str:
        found = store.project_by_name(project)
        if found is None:
            raise AdminError(f"project {project!r} not found")
        return found["id"]

    def prices(self, project: str) -> list[dict[str, Any]]:
        if self.server:
            return self._http("GET", "/api/admin/prices", params={"project": project})["data"]
        from heron.cost import load_builtin_prices

        store = self._direct()
        try:
            custom = store.list_prices(self._project_id(store, project))
        finally:
            store.close()
        builtin = [e.to_dict() for e in load_builtin_prices()]
        return [*({**e, "source": "project"} for e in custom), *builtin]

    def add_price(self, project: str, entry: dict[str, Any]) -> dict[str, Any]:
        if self.server:
            body = {"project": project, "entry": entry}
            return self._http("POST", "/api/admin/prices", json=body)
        from heron.cost import PriceEntry, PriceEntryError

        try:
            data = PriceEntry.from_dict(entry, source="project").to_dict()
        except PriceEntryError as exc:
            raise AdminError(f"price entry: {exc}") from exc
        data.pop("source", None)
        store = self._direct()
        try:
            store.put_price(self._project_id(store, project), data)
        finally:
            store.close()
        return data

    def unpriced(self, project: str) -> list[dict[str, Any]]:
        if self.server:
            params = {"project": project}
            return self._http("GET", "/api/admin/prices/unpriced", params=params)["data"]
        store = self._direct()
        try:
            return store.unpriced_models(self._project_id(store, project))
        finally:
            store.close()

    def reprice(
        self, project: str, models: list[str], progress: Any = None, poll_s: float = 0.5
    ) -> dict[str, Any]:
        """Re-price the project's observations of ``models`` and wait for the end;
        ``progress(job)`` is called on the way. Returns the finished job."""
        import time

        from heron.server.repricing import RepriceJob, run_job

        if self.server:
            job = self._http(
                "POST", "/api/admin/prices/reprice", json={"project": project, "models": models}
            )
            while job["status"] in ("queued", "running"):
                if progress:
                    progress(job)
                time.sleep(poll_s)
                job = self._http(
                    "GET", f"/api/admin/prices/reprice/{job['id']}", params={"project": project}
                )
            return job
        names = sorted({m for m in models if m.strip()})
        if not names:
            raise AdminError("give at least one model name")
        store = self._direct()
        try:
            local = RepriceJob("direct", self._project_id(store, project), names)
            run_job(store, local)
        finally:
            store.close()
        return local.to_dict()
