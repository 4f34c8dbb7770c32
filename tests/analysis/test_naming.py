"""Naming and merging categories with an LLM connection, against a local server speaking
the OpenAI protocol (tests/evals/fake_openai.py)."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient

from tests.evals.fake_openai import FakeProvider, fail, fake_provider

__all__ = ["fake_provider"]
WINDOW = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-10T00:00:00Z"}


def _setup(app: TestClient, fake: FakeProvider, name: str) -> dict:
    r = app.post(
        "/api/connections",
        json={"name": name, "base_url": fake.base_url, "api_key": "sk-fake", "model": "m"},
    )
    assert r.status_code in (200, 201), r.text
    r = app.post("/api/error-analysis", json={"source": "comments", **WINDOW})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_model_names_and_merges(
    app: TestClient, truth: dict[str, str], fake_provider: FakeProvider
) -> None:
    a = _setup(app, fake_provider, "namer")
    cats = [c for c in a["categories"] if c["id"] != "other"]
    first, second, third = cats[:3]
    fake_provider.content = orjson.dumps({"groups": [
        {"categoryIds": [first["id"], second["id"]], "label": "Merged failure"},
        {"categoryIds": [third["id"]], "label": "Named by the model"},
    ]}).decode()  # fmt: skip
    r = app.post(f"/api/error-analysis/{a['id']}/name", json={"connection": "namer"})
    assert r.status_code == 200, r.text
    assert r.json()["result"] == 3
    after = {c["id"]: c for c in r.json()["categories"]}
    assert second["id"] not in after
    assert after[first["id"]]["label"] == "Merged failure"
    assert after[first["id"]]["count"] == first["count"] + second["count"]
    assert after[third["id"]]["label"] == "Named by the model"
    sent = fake_provider.requests[-1]
    assert sent.mode == "json_schema" and sent.headers["authorization"] == "Bearer sk-fake"
    asked = sent.body["messages"][0]["content"]
    assert all(f"Category {c['id']}" in asked for c in cats)
    assert first["examples"][0]["note"][:50] in asked


def test_unusable_answers_and_failures_change_nothing(
    app: TestClient, truth: dict[str, str], fake_provider: FakeProvider
) -> None:
    a = _setup(app, fake_provider, "namer2")
    url = f"/api/error-analysis/{a['id']}/name"
    first = a["categories"][0]["id"]

    def groups(*items: tuple[list[str], str]) -> str:
        return orjson.dumps(
            {"groups": [{"categoryIds": i, "label": lab} for i, lab in items]}
        ).decode()

    for content, message in [
        ("I think these are fine.", "is not {\"groups\": [...]} JSON"),
        (groups((["zz"], "x")), "unknown category 'zz'"),
        (groups(([first], "")), "needs categoryIds"),
        (groups(([first], "a"), ([first], "b")), "is in two groups"),
    ]:  # fmt: skip
        fake_provider.content = content
        r = app.post(url, json={"connection": "namer2"})
        assert r.status_code == 400 and message in r.json()["error"]["message"], r.text
    fake_provider.content = None
    fake_provider.script(fail(500))
    r = app.post(url, json={"connection": "namer2"})
    assert r.status_code == 503 and "namer2" in r.json()["error"]["message"]
    assert app.post(url, json={"connection": "nope"}).status_code == 404
    assert app.post(url, json={}).status_code == 400
    labels = [c["label"] for c in app.get(f"/api/error-analysis/{a['id']}").json()["categories"]]
    assert labels == [c["label"] for c in a["categories"]]
