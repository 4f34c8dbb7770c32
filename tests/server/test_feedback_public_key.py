"""Feedback from browsers: the public key alone (Basic ``pk:`` with an empty secret) may create
scores and nothing else; per-project allowed origins (CORS) and score names; rates per key and
per client address.

Every route of the app is walked with the public key alone: none but the two score-create
routes serves it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from heron.errors import RateLimited
from heron.server.ratelimit import PRUNE_AT, RateLimiter
from heron.settings import Settings
from tests.support.otlp import genai_trace, request
from tests.support.server import PUBLIC_KEY, HeronProcess

PB = {"Content-Type": "application/x-protobuf"}
SHOP = "http://shop.example.test:8080"


def public_auth(public_key: str = PUBLIC_KEY) -> dict[str, str]:
    token = base64.b64encode(f"{public_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def anonymous(client: TestClient) -> dict[str, str]:
    """Headers that replace the fixture's secret key with the public key alone."""
    return {**client.headers, **public_auth()}


@pytest.fixture
def trace_id(client: TestClient) -> str:
    tid, spans = genai_trace()
    r = client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200
    return tid.hex()


def set_feedback(client: TestClient, **body: object) -> dict:
    """Change the settings through the admin API (the server's admin token)."""
    token = client.app.state.heron.admin_token  # type: ignore[attr-defined]
    r = client.post(
        "/api/admin/feedback",
        json={"project": "test", **body},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def post_public(client: TestClient, body: object, path: str = "/api/public/scores", **headers):
    c = TestClient(client.app)  # no secret key in its default headers
    return c.post(path, json=body, headers={**public_auth(), **headers})


def test_public_key_alone_creates_scores_on_both_routes(client: TestClient, trace_id: str) -> None:
    for path, name in (("/api/public/scores", "user_feedback"), ("/api/scores", "user_rating")):
        r = post_public(client, {"traceId": trace_id, "name": name, "value": 1}, path)
        assert r.status_code == 201, r.text
    scores = {s["name"]: s for s in client.get(f"/api/traces/{trace_id}").json()["scores"]}
    assert set(scores) == {"user_feedback", "user_rating"}
    assert scores["user_feedback"]["source"] == "API"


def test_public_key_may_not_replace_an_existing_score(client: TestClient, trace_id: str) -> None:
    body = {"id": "fb-1", "traceId": trace_id, "name": "user_feedback", "value": True}
    assert client.post("/api/scores", json=body).status_code == 201  # secret key: created
    r = post_public(client, {**body, "value": False, "comment": "forged"})
    assert r.status_code == 409
    assert "'fb-1' already exists" in r.json()["error"]["message"]
    batch = [{**body, "id": "fb-new"}, {**body, "value": False}]
    assert post_public(client, batch).status_code == 409  # all or nothing
    scores = client.get(f"/api/traces/{trace_id}").json()["scores"]
    assert [(s["id"], s["value"], s["comment"]) for s in scores] == [("fb-1", 1.0, None)]
    # a new id is fine, and the secret key may still update
    assert post_public(client, {**body, "id": "fb-2"}).status_code == 201
    assert client.post("/api/scores", json={**body, "value": False}).status_code == 201


def test_public_key_is_refused_for_reads_deletes_and_ingest(
    client: TestClient, trace_id: str
) -> None:
    c = TestClient(client.app)
    for method, path in (
        ("GET", f"/api/traces/{trace_id}"),
        ("GET", "/api/traces"),
        ("DELETE", f"/api/traces/{trace_id}"),
        ("DELETE", f"/api/public/traces/{trace_id}"),
        ("POST", "/api/metrics"),
        ("GET", "/metrics"),
    ):
        r = c.request(method, path, headers=public_auth())
        assert r.status_code == 403, (method, path, r.text)
        assert "public key alone may only create scores" in r.json()["error"]["message"]
    _, spans = genai_trace()
    r = c.post(
        "/v1/traces", content=request(spans).SerializeToString(), headers={**PB, **public_auth()}
    )
    assert r.status_code == 403
    assert client.get(f"/api/traces/{trace_id}").status_code == 200  # not deleted


def test_unknown_public_key_and_read_scoped_key_are_refused(
    client: TestClient, trace_id: str
) -> None:
    c = TestClient(client.app)
    body = {"traceId": trace_id, "name": "user_feedback", "value": True}
    r = c.post("/api/public/scores", json=body, headers=public_auth("pk-hr-nope"))
    assert r.status_code == 401 and "invalid public key" in r.json()["error"]["message"]
    st = client.app.state.heron  # type: ignore[attr-defined]
    read_key = st.store.create_key(st.store.project_by_name("test")["id"], scope="read")
    r = c.post("/api/public/scores", json=body, headers=public_auth(read_key["public_key"]))
    assert r.status_code == 403 and "scope 'read'" in r.json()["error"]["message"]


def _walk(client: TestClient) -> list[tuple[str, str]]:
    out = []
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        out += [(m, path) for m in sorted(getattr(route, "methods", None) or ())]
    return out


def test_every_other_route_refuses_the_public_key(client: TestClient) -> None:
    """A route the public key alone gets a 2xx from is a score-create route, or one that
    serves anyone anyway (health, static files, the login page)."""
    c = TestClient(client.app, follow_redirects=False)
    routes = _walk(client)
    assert len(routes) > 60
    checked = 0
    for method, path in routes:
        if (method, path) in (("POST", "/api/scores"), ("POST", "/api/public/scores")):
            continue
        with_pk = c.request(method, path, headers=public_auth())
        if with_pk.status_code < 300 or with_pk.status_code in (303, 307):
            anon = c.request(method, path)
            assert anon.status_code == with_pk.status_code, (method, path, with_pk.status_code)
            continue
        assert with_pk.status_code < 500, (method, path, with_pk.text)
        keyed = path.startswith(("/api/", "/v1/")) or path == "/metrics"
        if keyed and not path.startswith("/api/admin/") and with_pk.status_code == 403:
            assert b"public key alone" in with_pk.content, (method, path)  # JSON or protobuf
            checked += 1
    assert checked > 25


def test_allowed_names_restrict_the_public_key_only(client: TestClient, trace_id: str) -> None:
    done = set_feedback(client, allowed_names=["user_feedback", " user_rating ", "user_feedback"])
    assert done["allowed_names"] == ["user_feedback", "user_rating"]
    ok = {"traceId": trace_id, "name": "user_rating", "value": 4}
    assert post_public(client, ok).status_code == 201
    r = post_public(client, {**ok, "name": "correctness"})
    assert r.status_code == 403
    assert "'correctness' may not be written" in r.json()["error"]["message"]
    assert "'user_feedback'" in r.json()["error"]["message"]
    assert post_public(client, [ok, {**ok, "name": "correctness"}]).status_code == 403
    assert client.post("/api/scores", json={**ok, "name": "correctness"}).status_code == 201
    set_feedback(client, allowed_names=[])
    assert post_public(client, {**ok, "name": "correctness"}).status_code == 201


def test_cors_preflight_only_for_listed_origins(client: TestClient) -> None:
    set_feedback(client, allowed_origins=[SHOP + "/"])
    c = TestClient(client.app)
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers":
           "authorization,content-type"}  # fmt: skip
    for path in ("/api/public/scores", "/api/scores"):
        ok = c.options(path, headers={"Origin": SHOP, **ask})
        assert ok.status_code == 204, ok.text
        assert ok.headers["access-control-allow-origin"] == SHOP
        assert "POST" in ok.headers["access-control-allow-methods"]
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in ok.headers
    evil = c.options("/api/public/scores", headers={"Origin": "http://evil.test", **ask})
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    assert "'http://evil.test' is not allowed" in evil.json()["error"]["message"]
    put = c.options("/api/public/scores", headers={"Origin": SHOP,
                    "Access-Control-Request-Method": "PUT"})  # fmt: skip
    assert put.status_code == 403 and "access-control-allow-origin" not in put.headers
    # other routes get no CORS at all, even for a listed origin
    other = c.options("/api/traces", headers={"Origin": SHOP, **ask})
    assert "access-control-allow-origin" not in other.headers
    read = client.get("/api/traces", headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in read.headers


def test_cross_origin_post_is_checked_against_its_own_project(
    client: TestClient, trace_id: str
) -> None:
    body = {"traceId": trace_id, "name": "user_feedback", "value": True}
    refused = post_public(client, body, Origin=SHOP)  # nothing listed yet
    assert refused.status_code == 403
    assert "may not send feedback to this project" in refused.json()["error"]["message"]
    set_feedback(client, allowed_origins=[SHOP])
    ok = post_public(client, body, Origin=SHOP)
    assert ok.status_code == 201 and ok.headers["access-control-allow-origin"] == SHOP
    # listed by another project only: the preflight passes, the POST does not
    st = client.app.state.heron  # type: ignore[attr-defined]
    other = st.store.create_project("other")
    st.feedback.update(other["id"], ["http://other.test"], [])
    r = post_public(client, body, Origin="http://other.test")
    assert r.status_code == 403
    assert r.headers["access-control-allow-origin"] == "http://other.test"  # readable error


def test_feedback_settings_validation(client: TestClient) -> None:
    token = client.app.state.heron.admin_token  # type: ignore[attr-defined]
    admin = {"Authorization": f"Bearer {token}"}
    for bad, message in (
        ("*", "wildcards are not allowed"),
        ("https://shop.test/path", "no path"),
        ("javascript:alert(1)", "expected http(s)://host[:port]"),
    ):
        r = client.post(
            "/api/admin/feedback", json={"project": "test", "allowed_origins": [bad]},
            headers=admin,
        )  # fmt: skip
        assert r.status_code == 400 and message in r.json()["error"]["message"], r.text
    r = client.get("/api/admin/feedback", params={"project": "nope"}, headers=admin)
    assert r.status_code == 404
    r = client.get("/api/admin/feedback", params={"project": "test"}, headers=admin)
    assert r.json() == {"project": "test", "allowed_origins": [], "allowed_names": []}
    assert client.get("/api/admin/feedback?project=test").status_code == 401  # API key: no


# -- rates: per key and per client address ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_public_buckets_per_key_and_per_address() -> None:
    clock = Clock()
    settings = Settings.load(env={}, rate_public_scores_per_key=3, rate_public_scores_per_address=2)
    limiter = RateLimiter(settings, clock)
    for _ in range(2):
        limiter.charge_public("pk-a", "10.0.0.1")
    with pytest.raises(RateLimited, match="2 public-key score requests per second per address"):
        limiter.charge_public("pk-a", "10.0.0.1")
    limiter.charge_public("pk-a", "10.0.0.2")  # the refusal above took no key token
    with pytest.raises(RateLimited, match="per key") as exc:
        limiter.charge_public("pk-a", "10.0.0.3")
    assert exc.value.retry_after == 1
    limiter.charge_public("pk-b", "10.0.0.3")  # another key has its own bucket
    limiter.charge("ingest", "pk-a", "p1")  # secret-key buckets are apart
    clock.now += 0.5
    limiter.charge_public("pk-a", "10.0.0.1")


def test_address_buckets_are_forgotten_once_full_again() -> None:
    clock = Clock()
    settings = Settings.load(env={}, rate_public_scores_per_address=2, rate_public_scores_per_key=0)
    limiter = RateLimiter(settings, clock)
    for i in range(PRUNE_AT + 10):
        limiter.charge_public("pk-a", f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
    assert len(limiter) > PRUNE_AT
    clock.now += 2  # every address bucket refilled
    limiter.charge_public("pk-a", "192.0.2.1")
    assert len(limiter) == 1  # the newest address's (the key has no limit here)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    env = {"HERON_RATE_PUBLIC_SCORES_PER_ADDRESS": "0.5"}  # one, then one every 2 s
    s = HeronProcess(tmp_path_factory.mktemp("fbrates") / "data", env=env).start()
    yield s
    s.stop()


def _from(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def test_public_scores_are_limited_per_client_address(limited: HeronProcess) -> None:
    body = {"traceId": "ab" * 16, "name": "user_feedback", "value": True}
    url = limited.url + "/api/public/scores"
    with _from("127.0.0.2") as a, _from("127.0.0.3") as b:
        assert a.post(url, json=body, headers=public_auth()).status_code == 201
        refused = a.post(url, json=body, headers=public_auth())
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 2
        assert "per address" in refused.json()["error"]["message"]
        assert b.post(url, json=body, headers=public_auth()).status_code == 201  # another one
        assert a.post(url, json=body, headers=limited.auth).status_code == 201  # secret key
