"""API key scopes on a real server: ingest keys send and read nothing, read keys only read.

Also: every key-authenticated route of the app checks the scope (a route walk), and
credentials that are not ASCII are a 401 naming the problem, never a 500.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from google.rpc import status_pb2

from tests.support.otlp import genai_trace, request
from tests.support.server import CONSISTENT, SECRET_KEY, HeronProcess, ServerProject, new_project
from tests.test_cli import heron

PB = "application/x-protobuf"
METRICS_QUERY = {
    "view": "traces",
    "metrics": [{"measure": "count", "aggregation": "count"}],
    "fromTimestamp": "2025-01-01T00:00:00Z",
    "toTimestamp": "2027-01-01T00:00:00Z",
}


@pytest.fixture(scope="module")
def server(shared_server: HeronProcess) -> ServerProject:
    """A project of the module's own on the run's shared server (its keys and retention)."""
    return new_project(shared_server)


def _admin(server: ServerProject) -> dict[str, str]:
    token = orjson.loads((server.data_dir / "server.json").read_bytes())["admin_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def keys(server: ServerProject) -> dict[str, str]:
    """An ingest key made with the CLI (through the running server) and a read key made
    with the admin API; both for the module's project."""
    out = heron("keys", "create", "--scope", "ingest", "--data-dir", str(server.data_dir),
                "--project", server.name)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"scope\s+ingest", out.stdout)
    ingest = re.search(r"secret key\s+(sk-\S+)", out.stdout).group(1)  # type: ignore[union-attr]
    r = httpx.post(
        server.url + "/api/admin/keys",
        json={"project": server.name, "scope": "read"},
        headers=_admin(server),
    )
    assert r.status_code == 201 and r.json()["scope"] == "read"
    return {"ingest": ingest, "read": r.json()["secret_key"], "full": server.secret_key}


def bearer(secret: str, **extra: str) -> dict[str, str]:
    """A key's headers; reads ask for consistency (they see the trace just acknowledged)."""
    return {"Authorization": f"Bearer {secret}", **CONSISTENT, **extra}


def send_trace(server: ServerProject, secret: str, path: str = "/v1/traces") -> httpx.Response:
    tid, spans = genai_trace()
    r = httpx.post(
        server.url + path,
        content=request(spans).SerializeToString(),
        headers=bearer(secret, **{"Content-Type": PB}),
    )
    r.trace_id = tid.hex()  # type: ignore[attr-defined]
    return r


def test_ingest_key_sends_traces_and_scores_and_reads_nothing(
    server: ServerProject, keys: dict[str, str]
) -> None:
    key = keys["ingest"]
    for path in ("/v1/traces", "/api/public/otel/v1/traces"):
        sent = send_trace(server, key, path)
        assert sent.status_code == 200, sent.text
    tid = sent.trace_id  # type: ignore[attr-defined]
    for path in ("/api/scores", "/api/public/scores"):
        r = httpx.post(
            server.url + path,
            json={"traceId": tid, "name": "thumbs", "value": 1},
            headers=bearer(key),
        )
        assert r.status_code == 201, r.text

    reads = [
        ("GET", "/api/traces", None),
        ("GET", f"/api/traces/{tid}", None),
        ("GET", "/api/observations", None),
        ("GET", "/api/public/projects", None),
        ("GET", "/metrics", None),
        ("GET", "/api/models", None),
        ("POST", "/api/metrics", METRICS_QUERY),
        ("DELETE", f"/api/traces/{tid}", None),
    ]
    for method, path, body in reads:
        r = httpx.request(method, server.url + path, json=body, headers=bearer(key))
        assert r.status_code == 403, (path, r.text)
        message = r.json()["error"]["message"]
        assert "scope 'ingest'" in message and path in message, message
    # the data arrived: the full key reads it, scores included
    got = httpx.get(server.url + f"/api/traces/{tid}", headers=bearer(keys["full"]))
    # (beside them the runner may judge the repeated request an implicit retry)
    assert got.status_code == 200
    assert sum(s["name"] == "thumbs" for s in got.json()["scores"]) == 2


def test_read_key_reads_and_writes_nothing(server: ServerProject, keys: dict[str, str]) -> None:
    key = keys["read"]
    sent = send_trace(server, keys["full"])
    tid = sent.trace_id  # type: ignore[attr-defined]
    assert httpx.get(server.url + f"/api/traces/{tid}", headers=bearer(key)).status_code == 200
    assert httpx.get(server.url + "/api/traces", headers=bearer(key)).status_code == 200
    r = httpx.post(server.url + "/api/metrics", json=METRICS_QUERY, headers=bearer(key))
    assert r.status_code == 200, r.text

    # OTLP answers in the request's encoding: google.rpc.Status in protobuf ...
    refused = send_trace(server, key)
    assert refused.status_code == 403
    status = status_pb2.Status.FromString(refused.content)
    assert status.code == 403 and "scope 'read'" in status.message
    # ... or in JSON
    r = httpx.post(
        server.url + "/v1/traces",
        content=b"{}",
        headers=bearer(key, **{"Content-Type": "application/json"}),
    )
    assert r.status_code == 403 and "scope 'read'" in r.json()["message"]

    writes = [
        ("POST", "/api/scores", {"traceId": tid, "name": "x", "value": 1}),
        ("POST", "/api/models", {"id": "m", "model_name": "m", "match_pattern": "^m$",
                                 "prices": {"input": 1e-6}}),
        ("POST", "/api/dashboards", {"name": "d"}),
        ("DELETE", f"/api/public/traces/{tid}", None),
        ("DELETE", f"/api/traces/{tid}", None),
    ]  # fmt: skip
    for method, path, body in writes:
        r = httpx.request(method, server.url + path, json=body, headers=bearer(key))
        assert r.status_code == 403, (path, r.text)
        assert "scope 'read'" in r.json()["error"]["message"]
    got = httpx.get(server.url + f"/api/traces/{tid}", headers=bearer(keys["full"]))
    # nothing written, nothing gone (the runner may judge the repeated request a retry)
    assert got.status_code == 200
    assert [s for s in got.json()["scores"] if s["source"] != "EVAL"] == []


def test_keys_list_shows_the_scope(server: ServerProject, keys: dict[str, str]) -> None:
    out = heron("keys", "list", "--data-dir", str(server.data_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    assert {"ingest", "read", "full"} <= set(out.stdout.split())
    bad = heron("keys", "create", "--scope", "admin", "--data-dir", str(server.data_dir))
    assert bad.returncode == 1 and "unknown key scope 'admin'" in bad.stdout


@pytest.mark.parametrize(
    "header",
    [
        b"Bearer sk-hr-\xc3\xa9t\xc3\xa9",  # UTF-8 bytes
        b"Bearer \xff\xfe",  # not even UTF-8
        b"Basic \xe9",
    ],
)
def test_non_ascii_authorization_is_401(server: ServerProject, header: bytes) -> None:
    for method, path in (("GET", "/api/traces"), ("POST", "/v1/traces"), ("GET", "/metrics"),
                         ("GET", "/api/admin/projects")):  # fmt: skip
        r = httpx.request(
            method, server.url + path, headers={b"Authorization": header, b"Content-Type": PB}
        )
        assert r.status_code == 401, (path, r.status_code, r.text)
        expected = b"admin token" if "admin" in path else b"non-ASCII"
        assert expected in r.content, r.content


def test_basic_credentials_of_non_ascii_text_are_401(server: ServerProject) -> None:
    # base64 is ASCII, what it encodes is not: the public key compared to the stored one
    # (hmac.compare_digest refuses non-ASCII str: a 500 before)
    value = base64.b64encode(f"pk-é:{SECRET_KEY}".encode()).decode()
    r = httpx.get(server.url + "/api/traces", headers={"Authorization": f"Basic {value}"})
    assert r.status_code == 401 and "malformed Basic credentials" in r.text


def test_non_ascii_web_credentials_are_not_a_500(server: ServerProject) -> None:
    cookies = b"heron_session=\xc3\xa9t\xc3\xa9; heron_project=\xff"
    r = httpx.get(server.url + "/traces", headers={b"Cookie": cookies})
    assert r.status_code in (303, 401), r.status_code  # to the login form
    r = httpx.post(
        server.url + "/logout", headers={b"Cookie": cookies, b"X-CSRF-Token": b"\xc3\xa9"}
    )
    assert r.status_code < 500


# -- every route of the app (in process) ---------------------------------------------------

INGEST_ROUTES = {  # an ingest key sends; it reads nothing (GET /api/public/scores neither)
    ("POST", p) for p in ("/v1/traces", "/api/public/otel/v1/traces", "/api/scores",
                          "/api/public/scores", "/api/public/ingestion")
}  # fmt: skip
READ_POSTS = {"/api/metrics", "/api/compare", "/api/alerts/backtest"}


def _key_routes(client: TestClient) -> list[tuple[str, str]]:
    out = []
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        path = route.path
        keyed = path.startswith(("/api/", "/v1/")) or path == "/metrics"
        if not keyed or path.startswith("/api/admin/") or path.endswith("/health"):
            continue
        out += [(m, re.sub(r"\{[^}]+\}", "x", path)) for m in sorted(route.methods or ())]
    return out


def test_every_key_route_checks_the_scope(client: TestClient, tmp_path: Path) -> None:
    st = client.app.state.heron  # type: ignore[attr-defined]
    project = st.store.project_by_name("test")["id"]
    secrets = {s: st.store.create_key(project, scope=s)["secret_key"] for s in ("ingest", "read")}
    routes = _key_routes(client)
    assert len(routes) > 25
    for method, path in routes:
        for scope, secret in secrets.items():
            r = client.request(method, path, headers=bearer(secret))
            if scope == "ingest":
                allowed = (method, path) in INGEST_ROUTES
            else:
                allowed = method == "GET" or (method == "POST" and path in READ_POSTS)
            assert (r.status_code != 403) == allowed, (scope, method, path, r.status_code)
            assert r.status_code != 401, (scope, method, path)


def test_cli_sets_a_projects_retention(server: ServerProject, tmp_path: Path) -> None:
    data = str(server.data_dir)
    out = heron("projects", "retention", server.name, "30", "--data-dir", data)
    assert out.returncode == 0 and "30 days" in out.stdout, out.stdout + out.stderr
    assert "30 days" in heron("projects", "--data-dir", data).stdout
    out = heron("projects", "retention", server.name, "forever", "--data-dir", data)
    assert out.returncode == 0 and "forever" in out.stdout
    bad = heron("projects", "retention", server.name, "soon", "--data-dir", data)
    assert bad.returncode == 1 and "whole number of days" in bad.stdout
    missing = heron("projects", "retention", "nope", "3", "--data-dir", data)
    assert missing.returncode == 1 and "not found" in missing.stdout
    # without a server, directly on the store
    alone = str(tmp_path / "alone")
    assert heron("projects", "create", "solo", "--data-dir", alone).returncode == 0
    out = heron("projects", "retention", "solo", "7", "--data-dir", alone)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "7 days" in heron("projects", "--data-dir", alone).stdout
