"""deploy/compose.yaml cannot run here (no Docker): it is parsed, and what it asks of heron is
checked against heron itself (the commands and their options, the HERON_* variables, the
health check's route and port, one data volume per heron process, one shared secret key), so
the example cannot silently drift from the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from heron.cli import app
from heron.server.health import router as health_router
from heron.settings import SETTINGS

COMPOSE = Path(__file__).resolve().parents[1] / "deploy" / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _heron_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s for name, s in compose["services"].items() if s.get("command", [""])[0] == "heron"
    }


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_services_are_the_cluster_deployment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"clickhouse", "postgres", "heron-1", "heron-2", "worker"} <= set(services)
    heron = _heron_services(compose)
    assert sorted(s["command"][1] for s in heron.values()) == ["serve", "serve", "worker"]
    for service in heron.values():
        assert set(service["depends_on"]) == {"clickhouse", "postgres"}
        assert all(d["condition"] == "service_healthy" for d in service["depends_on"].values())
    assert "profiles" not in services["worker"]  # started with the rest


def test_commands_use_real_heron_options(compose: dict[str, Any]) -> None:
    runner = CliRunner()
    for name, service in _heron_services(compose).items():
        command = service["command"]
        shown = runner.invoke(app, [command[1], "--help"], terminal_width=200)
        assert shown.exit_code == 0, (name, shown.output)
        for option in (a for a in command[2:] if a.startswith("--")):
            assert re.search(rf"{re.escape(option)}\b", shown.output), (name, option)


def test_environment_names_real_settings(compose: dict[str, Any]) -> None:
    known = {s.env for s in SETTINGS}
    keys = set()
    for name, service in _heron_services(compose).items():
        env = service["environment"]
        assert {"HERON_CLICKHOUSE_URL", "HERON_POSTGRES_URL", "HERON_SECRET_KEY"} <= set(env)
        unknown = {k for k in env if k.startswith("HERON_")} - known
        assert not unknown, (name, unknown)
        assert env["HERON_CLICKHOUSE_URL"].startswith("http://")
        assert "@clickhouse:8123/" in env["HERON_CLICKHOUSE_URL"]
        assert "@postgres:5432/" in env["HERON_POSTGRES_URL"]
        keys.add(env["HERON_SECRET_KEY"])
    assert len(keys) == 1  # one secret key for every process


def test_each_process_has_its_own_data_volume(compose: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for name, service in _heron_services(compose).items():
        data_dir = _option(service["command"], "--data-dir")
        mounts = [v.split(":") for v in service["volumes"]]
        volume = next(src for src, dst in mounts if dst == data_dir)
        assert volume in compose["volumes"], (name, volume)
        assert volume not in seen, f"{name} shares {volume} with {seen.get(volume)}"
        seen[volume] = name


def test_replicas_are_checked_on_readyz_at_their_port(compose: dict[str, Any]) -> None:
    routes = {getattr(r, "path", None) for r in health_router.routes}
    assert "/readyz" in routes
    serving = {n: s for n, s in _heron_services(compose).items() if s["command"][1] == "serve"}
    assert len(serving) == 2
    published = set()
    for name, service in serving.items():
        port = _option(service["command"], "--port")
        assert _option(service["command"], "--host") == "0.0.0.0"
        probe = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in probe, name
        host, inside = service["ports"][0].split(":")
        assert inside == port
        published.add(host)
    assert len(published) == 2
