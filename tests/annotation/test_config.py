"""``annotation_queues`` in configuration as code: planned (dry run), applied, exported and
applied back unchanged, score configs named by name, problems listed with their paths."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
import yaml
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.server import CONSISTENT, SECRET_KEY

DOC = textwrap.dedent(
    """
    score_configs:
      - {name: correct, data_type: BOOLEAN}
      - {name: tone, data_type: CATEGORICAL, categories: [calm, rude]}
    annotation_queues:
      - name: weekly review
        description: "Each Monday: the week's failures"
        score_configs: [correct, tone]
      - name: double
        score_configs: [tone]
        annotations_per_item: 2
    """
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("config"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


def apply(client: TestClient, text: str, dry_run: bool = False, status: int = 200) -> dict:
    r = client.post(
        f"/api/config/apply?dry_run={str(dry_run).lower()}",
        content=text,
        headers={"Content-Type": "application/yaml"},
    )
    assert r.status_code == status, r.text
    return r.json()


def actions(result: dict) -> dict[tuple[str, str], str]:
    return {(c["kind"], c["name"]): c["action"] for c in result["changes"]}


def queues(client: TestClient) -> dict[str, dict]:
    return {q["name"]: q for q in client.get("/api/public/annotation-queues").json()["data"]}


def test_plan_apply_export_and_apply_back(app: TestClient) -> None:
    planned = apply(app, DOC, dry_run=True)
    assert actions(planned)[("annotation_queue", "weekly review")] == "create"
    assert queues(app) == {}  # a dry run changes nothing
    done = apply(app, DOC)
    assert actions(done)[("annotation_queue", "double")] == "create"
    configs = {c["name"]: c["id"] for c in app.get("/api/public/score-configs").json()["data"]}
    made = queues(app)
    assert made["weekly review"]["scoreConfigIds"] == [configs["correct"], configs["tone"]]
    assert made["weekly review"]["description"] == "Each Monday: the week's failures"
    assert made["double"]["annotationsPerItem"] == 2 and made["double"]["description"] is None
    assert set(actions(apply(app, DOC)).values()) == {"unchanged"}

    exported = yaml.safe_load(app.get("/api/config").text)
    assert exported["annotation_queues"] == [
        {"name": "weekly review", "description": "Each Monday: the week's failures",
         "score_configs": ["correct", "tone"]},
        {"name": "double", "score_configs": ["tone"], "annotations_per_item": 2},
    ]  # fmt: skip
    assert set(actions(apply(app, yaml.safe_dump(exported))).values()) == {"unchanged"}

    # a change updates the queue in place: same id, its items kept
    queue_id = made["double"]["id"]
    app.post(f"/api/public/annotation-queues/{queue_id}/items",
             json={"objectId": "t1", "objectType": "TRACE"})  # fmt: skip
    changed = DOC.replace("annotations_per_item: 2", "annotations_per_item: 1")
    assert actions(apply(app, changed))[("annotation_queue", "double")] == "update"
    after = queues(app)["double"]
    assert after["id"] == queue_id and after["annotationsPerItem"] == 1
    items = app.get(f"/api/public/annotation-queues/{queue_id}/items").json()
    assert items["meta"]["totalItems"] == 1
    # a queue left out of the document is left alone
    apply(app, "annotation_queues: []")
    assert "weekly review" in queues(app)


def test_problems_are_listed_with_their_paths(app: TestClient) -> None:
    doc = textwrap.dedent(
        """
        score_configs:
          - {name: old, data_type: NUMERIC, archived: true}
        annotation_queues:
          - {name: a, score_configs: [missing]}
          - {name: b, score_configs: []}
          - {name: c, score_configs: [old], annotations_per_item: 7, color: red}
          - {score_configs: [old]}
          - {name: a, score_configs: [old]}
          - just a string
        """
    )
    r = apply(app, doc, status=400)
    problems = {p["path"]: p["message"] for p in r["error"]["problems"]}
    assert problems["annotation_queues[0].score_configs[0]"] == (
        "no score config name 'missing' in this project"
    )
    assert "non-empty list" in problems["annotation_queues[1].score_configs"]
    assert "is archived" in problems["annotation_queues[2].score_configs[0]"]
    assert "between 1 and 5" in problems["annotation_queues[2].annotations_per_item"]
    assert "unknown field" in problems["annotation_queues[2].color"]
    assert problems["annotation_queues[3].name"] == "required, a non-empty string"
    assert "is also annotation_queues[0]" in problems["annotation_queues[4].name"]
    assert "expected {name" in problems["annotation_queues[5]"]
    assert "bad" not in queues(app) and "c" not in queues(app)  # nothing applied
