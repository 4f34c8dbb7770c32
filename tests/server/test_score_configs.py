"""Score configs in Langfuse's shape, and scores checked against their config."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

CONFIG_KEYS = {
    "id", "projectId", "name", "dataType", "isArchived", "minValue", "maxValue", "categories",
    "description", "createdAt", "updatedAt",
}  # fmt: skip


def make(client: TestClient, **body: object) -> dict:
    r = client.post("/api/public/score-configs", json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def configs(client: TestClient) -> dict[str, dict]:
    return four_configs(client)


@pytest.fixture(scope="module")
def module_configs(module_client: TestClient) -> dict[str, dict]:
    """The four configs, in the module's app, for the scores they refuse."""
    return four_configs(module_client)


def four_configs(client: TestClient) -> dict[str, dict]:
    return {
        "helpfulness": make(client, name="helpfulness", dataType="NUMERIC", minValue=0, maxValue=5,
                            description="1 to 5"),
        "tone": make(client, name="tone", dataType="CATEGORICAL",
                     categories=[{"label": "calm", "value": 1}, {"label": "rude", "value": 0}]),
        "correct": make(client, name="correct", dataType="BOOLEAN"),
        "note": make(client, name="note", dataType="TEXT"),
    }  # fmt: skip


def score(client: TestClient, config: dict, **body: object) -> object:
    return client.post(
        "/api/public/scores",
        json={"traceId": "t1", "name": config["name"], "configId": config["id"], **body},
    )


def test_config_shape_list_get(client: TestClient, configs: dict[str, dict]) -> None:
    h = configs["helpfulness"]
    assert set(h) == CONFIG_KEYS
    assert (h["dataType"], h["minValue"], h["maxValue"], h["isArchived"]) == (
        "NUMERIC", 0, 5, False,
    )  # fmt: skip
    assert h["description"] == "1 to 5" and h["createdAt"].endswith("Z")
    assert configs["tone"]["categories"] == [
        {"label": "calm", "value": 1}, {"label": "rude", "value": 0},
    ]  # fmt: skip
    assert client.get(f"/api/public/score-configs/{h['id']}").json() == h
    page = client.get("/api/public/score-configs?limit=3").json()
    assert page["meta"] == {"page": 1, "limit": 3, "totalItems": 4, "totalPages": 2}
    assert [c["name"] for c in page["data"]] == ["helpfulness", "tone", "correct"]
    assert [c["name"] for c in client.get("/api/public/score-configs?limit=3&page=2").json()[
        "data"]] == ["note"]  # fmt: skip
    assert client.get("/api/public/score-configs?limit=101").status_code == 400
    assert client.get("/api/public/score-configs/nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x" * 36, "dataType": "NUMERIC"}, "name: longer than 35"),
        ({"name": "", "dataType": "NUMERIC"}, "name: required"),
        ({"name": "a", "dataType": "SCALE"}, "dataType: 'SCALE' is not one of"),
        ({"name": "a", "dataType": "CATEGORICAL"}, "a CATEGORICAL config needs at least one"),
        ({"name": "a", "dataType": "CATEGORICAL", "categories": []}, "needs at least one"),
        ({"name": "a", "dataType": "BOOLEAN", "categories": [{"label": "y", "value": 1}]},
         "only a CATEGORICAL config has categories, not BOOLEAN"),
        ({"name": "a", "dataType": "TEXT", "maxValue": 3}, "only a NUMERIC config has bounds"),
        ({"name": "a", "dataType": "NUMERIC", "minValue": 5, "maxValue": 1},
         "minValue: 5 is above maxValue 1"),
        ({"name": "a", "dataType": "CATEGORICAL", "categories": [{"label": "y"}]},
         "categories[0]: expected {label, value}"),
        ({"name": "a", "dataType": "CATEGORICAL",
          "categories": [{"label": "y", "value": 1}, {"label": "y", "value": 2}]},
         "categories[1].label: 'y' appears twice"),
        ({"name": "a", "dataType": "NUMERIC", "minValue": "0"}, "minValue: expected a finite"),
        ({"name": "a", "dataType": "NUMERIC", "isArchived": True}, "isArchived: unknown field"),
        ([1], "body: expected a JSON object"),
    ],
)  # fmt: skip
def test_invalid_configs_are_400(module_client: TestClient, body: object, message: str) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    r = client.post("/api/public/score-configs", json=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_patch_archives_and_changes(client: TestClient, configs: dict[str, dict]) -> None:
    h = configs["helpfulness"]
    r = client.patch(f"/api/public/score-configs/{h['id']}", json={"maxValue": 10})
    assert r.status_code == 200, r.text
    assert r.json()["maxValue"] == 10 and r.json()["createdAt"] == h["createdAt"]
    assert score(client, h, value=7).status_code == 201  # within the new bound
    r = client.patch(f"/api/public/score-configs/{h['id']}", json={"isArchived": True})
    assert r.json()["isArchived"] is True
    r = score(client, h, value=3)
    assert r.status_code == 400
    assert "configId: the config 'helpfulness' is archived" in r.json()["error"]["message"]
    r = client.patch(f"/api/public/score-configs/{h['id']}", json={"isArchived": False})
    assert score(client, h, value=3).status_code == 201
    for body, message in (
        ({"dataType": "TEXT"}, "dataType: cannot be changed"),
        ({"minValue": 20}, "minValue: 20 is above maxValue 10"),
        ({"categories": [{"label": "a", "value": 1}]}, "only a CATEGORICAL config"),
        ({"isArchived": "yes"}, "isArchived: expected true or false"),
        ({"projectId": "p"}, "projectId: unknown field"),
    ):
        r = client.patch(f"/api/public/score-configs/{h['id']}", json=body)
        assert r.status_code == 400 and message in r.json()["error"]["message"], r.text
    assert client.patch("/api/public/score-configs/nope", json={}).status_code == 404


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("helpfulness", {"value": 7}, "value: 7 is above the config 'helpfulness' maximum 5"),
        ("helpfulness", {"value": -1}, "value: -1 is below the config 'helpfulness' minimum 0"),
        ("helpfulness", {"value": "high"}, "value: a NUMERIC score needs a number, got 'high'"),
        ("helpfulness", {"value": "high", "dataType": "CATEGORICAL"},
         "dataType: CATEGORICAL does not match the config 'helpfulness' (NUMERIC)"),
        ("tone", {"value": "angry"}, "value: 'angry' is not a category of the config 'tone'"),
        ("tone", {"value": 5}, "value: 5 is not a category of the config 'tone'"),
        ("correct", {"value": 2}, "a BOOLEAN score needs true/false or 1/0"),
        ("correct", {"value": 1, "dataType": "NUMERIC"},
         "dataType: NUMERIC does not match the config 'correct' (BOOLEAN)"),
        ("note", {"value": "x" * 501}, "a TEXT score of the config 'note' has 1 to 500"),
    ],
)  # fmt: skip
def test_scores_breaking_their_config_are_400(
    module_client: TestClient, module_configs: dict[str, dict], name: str, body: dict, message: str
) -> None:
    client, configs = module_client, module_configs
    r = score(client, configs[name], **body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_name_unknown_and_annotation_rules(client: TestClient, configs: dict[str, dict]) -> None:
    h = configs["helpfulness"]
    r = client.post("/api/public/scores", json={"traceId": "t", "name": "other", "value": 1,
                                                "configId": h["id"]})  # fmt: skip
    assert "name: 'other' is not the config's name 'helpfulness'" in r.json()["error"]["message"]
    r = client.post("/api/public/scores", json={"traceId": "t", "name": "x", "value": 1,
                                                "configId": "nope"})  # fmt: skip
    assert r.status_code == 400
    assert "configId: no score config 'nope' in this project" in r.json()["error"]["message"]
    r = client.post("/api/public/scores", json={"traceId": "t", "name": "x", "value": 1,
                                                "configId": ["x"]})  # fmt: skip
    assert "configId: expected a string, got list" in r.json()["error"]["message"]
    r = client.post("/api/public/scores", json={"traceId": "t", "name": "x", "value": 1,
                                                "source": "ANNOTATION"})  # fmt: skip
    assert r.status_code == 400
    assert "an ANNOTATION score needs a configId" in r.json()["error"]["message"]
    r = score(client, h, value=4, source="ANNOTATION")
    assert r.status_code == 201


def test_another_projects_config_is_unknown(client: TestClient, configs: dict[str, dict]) -> None:
    st = client.app.state.heron
    other = st.store.create_key(st.store.create_project("other")["id"])
    h = {"Authorization": f"Bearer {other['secret_key']}"}
    cid = configs["helpfulness"]["id"]
    assert client.get(f"/api/public/score-configs/{cid}", headers=h).status_code == 404
    assert client.patch(f"/api/public/score-configs/{cid}", json={"isArchived": True},
                        headers=h).status_code == 404  # fmt: skip
    assert client.get("/api/public/score-configs", headers=h).json()["data"] == []
    r = client.post(
        "/api/public/scores",
        headers=h,
        json={"traceId": "t", "name": "helpfulness", "value": 1, "configId": cid},
    )
    assert r.status_code == 400 and "no score config" in r.json()["error"]["message"]


def test_valid_configured_scores_are_stored_and_completed(
    client: TestClient, configs: dict[str, dict]
) -> None:
    tone, correct, note = configs["tone"], configs["correct"], configs["note"]
    for config, body in (
        (tone, {"id": "by-label", "value": "calm"}),
        (tone, {"id": "by-value", "value": 0}),
        (correct, {"id": "bool", "value": 1}),  # dataType taken from the config
        (note, {"id": "text", "value": "fine"}),
        (configs["helpfulness"], {"id": "num", "value": 5}),
    ):
        r = score(client, config, **body)
        assert r.status_code == 201, r.text
    items = {s["id"]: s for s in client.get("/api/public/v2/scores").json()["data"]}
    assert (items["by-label"]["value"], items["by-label"]["stringValue"]) == (1, "calm")
    assert (items["by-value"]["value"], items["by-value"]["stringValue"]) == (0, "rude")
    assert items["by-label"]["configId"] == tone["id"]
    assert (items["bool"]["dataType"], items["bool"]["stringValue"]) == ("BOOLEAN", "True")
    assert items["text"]["stringValue"] == "fine" and items["num"]["value"] == 5
    assert [s["id"] for s in client.get(
        f"/api/public/v2/scores?configId={tone['id']}").json()["data"]] in (
        ["by-label", "by-value"], ["by-value", "by-label"])  # fmt: skip


def test_batch_reports_each_config_error(client: TestClient, configs: dict[str, dict]) -> None:
    h = configs["helpfulness"]
    good = {"traceId": "t", "name": "helpfulness", "value": 2, "configId": h["id"]}
    r = client.post("/api/public/scores", json=[good, {**good, "value": 9},
                                                {**good, "configId": "nope"}])  # fmt: skip
    assert r.status_code == 207, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert body["errors"][0] == {
        "index": 1, "message": "[1].value: 9 is above the config 'helpfulness' maximum 5",
    }  # fmt: skip
    assert body["errors"][1]["index"] == 2 and "[2].configId" in body["errors"][1]["message"]
