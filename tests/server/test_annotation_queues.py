"""Annotation queues over HTTP in Langfuse's shape: the real Langfuse SDK (v5) against the
app, plain HTTP for bad input, another project's queue is a 404, a read key changes nothing,
scores made in a queue must fit its configs, and heron's fill API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langfuse.api.annotation_queues.types import AnnotationQueueObjectType, AnnotationQueueStatus
from langfuse.api.client import LangfuseAPI
from langfuse.api.commons.errors import NotFoundError

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import CONSISTENT, PUBLIC_KEY, SECRET_KEY

BASE = "/api/public/annotation-queues"
QUEUE_KEYS = {"id", "projectId", "name", "description", "scoreConfigIds", "annotationsPerItem",
              "createdAt", "updatedAt"}  # fmt: skip
# Langfuse's client passes a timeout per request, which Starlette's TestClient only warns about
pytestmark = pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")
ITEM_KEYS = {"id", "queueId", "objectId", "objectType", "status", "completedAt", "createdAt",
             "updatedAt"}  # fmt: skip


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("queues"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


@pytest.fixture(scope="module")
def configs(app: TestClient) -> dict[str, str]:
    out = {}
    for body in (
        {"name": "correct", "dataType": "BOOLEAN"},
        {"name": "tone", "dataType": "CATEGORICAL",
         "categories": [{"label": "calm", "value": 1}, {"label": "rude", "value": 0}]},
        {"name": "other", "dataType": "NUMERIC"},
    ):  # fmt: skip
        r = app.post("/api/public/score-configs", json=body)
        assert r.status_code == 200, r.text
        out[body["name"]] = r.json()["id"]
    return out


@pytest.fixture(scope="module")
def sdk(app: TestClient) -> LangfuseAPI:
    """Langfuse's own API client, speaking to the app in process."""
    plain = TestClient(app.app)
    return LangfuseAPI(
        base_url=str(plain.base_url), username=PUBLIC_KEY, password=SECRET_KEY,
        httpx_client=plain,
    )  # fmt: skip


@pytest.fixture(scope="module")
def other(app: TestClient) -> dict[str, str]:
    """Another project's full key and the test project's read key (as headers)."""
    store = app.app.state.heron.store  # type: ignore[attr-defined]
    theirs = store.create_key(store.create_project("other")["id"])
    reader = store.create_key(store.project_by_name("test")["id"], scope="read")
    return {
        "other": f"Bearer {theirs['secret_key']}",
        "reader": f"Bearer {reader['secret_key']}",
    }


def test_queues_and_items_through_the_langfuse_sdk(sdk: LangfuseAPI, configs: dict) -> None:
    api = sdk.annotation_queues
    queue = api.create_queue(
        name="sdk-review", description="first pass", score_config_ids=[configs["correct"]]
    )
    assert (queue.name, queue.description, queue.score_config_ids) == (
        "sdk-review", "first pass", [configs["correct"]],
    )  # fmt: skip
    assert api.get_queue(queue.id).name == "sdk-review"
    assert "sdk-review" in [q.name for q in api.list_queues(limit=100).data]

    a = api.create_queue_item(queue.id, object_id="trace-a",
                              object_type=AnnotationQueueObjectType.TRACE)  # fmt: skip
    b = api.create_queue_item(queue.id, object_id="sess-b",
                              object_type=AnnotationQueueObjectType.SESSION,
                              status=AnnotationQueueStatus.COMPLETED)  # fmt: skip
    assert (a.queue_id, a.object_id, a.status, a.completed_at) == (
        queue.id, "trace-a", "PENDING", None,
    )  # fmt: skip
    assert b.status == "COMPLETED" and b.completed_at is not None
    again = api.create_queue_item(queue.id, object_id="trace-a",
                                  object_type=AnnotationQueueObjectType.TRACE)  # fmt: skip
    assert again.id == a.id  # an object is in a queue once

    page = api.list_queue_items(queue.id)
    assert [i.object_id for i in page.data] == ["trace-a", "sess-b"]
    assert page.meta.total_items == 2
    pending = api.list_queue_items(queue.id, status=AnnotationQueueStatus.PENDING)
    assert [i.id for i in pending.data] == [a.id]

    done = api.update_queue_item(queue.id, a.id, status=AnnotationQueueStatus.COMPLETED)
    assert done.status == "COMPLETED" and done.completed_at is not None
    assert api.get_queue_item(queue.id, a.id).status == "COMPLETED"
    removed = api.delete_queue_item(queue.id, b.id)
    assert removed.success is True
    with pytest.raises(NotFoundError):
        api.get_queue_item(queue.id, b.id)


def test_assignments_need_a_member(app: TestClient, sdk: LangfuseAPI, configs: dict) -> None:
    store = app.app.state.heron.store  # type: ignore[attr-defined]
    pid = store.project_by_name("test")["id"]
    member = store.create_user("ann@heron.test", "a long password 1", project_ids=[pid])
    queue = sdk.annotation_queues.create_queue(name="assigned", score_config_ids=[configs["tone"]])
    made = sdk.annotation_queues.create_queue_assignment(queue.id, user_id=member["id"])
    assert (made.user_id, made.queue_id, made.project_id) == (member["id"], queue.id, pid)
    listed = app.get(f"{BASE}/{queue.id}/assignments").json()["data"]
    assert listed == [{"userId": member["id"], "email": "ann@heron.test"}]
    r = app.post(f"{BASE}/{queue.id}/assignments", json={"userId": "stranger"})
    assert r.status_code == 400 and "not a member of this project" in r.text
    assert sdk.annotation_queues.delete_queue_assignment(queue.id, user_id=member["id"]).success
    assert app.get(f"{BASE}/{queue.id}/assignments").json()["data"] == []


def test_queue_shape_patch_and_delete(app: TestClient, configs: dict) -> None:
    r = app.post(BASE, json={"name": "double", "scoreConfigIds": [configs["correct"],
                 configs["tone"]], "annotationsPerItem": 2})  # fmt: skip
    assert r.status_code == 200, r.text
    queue = r.json()
    assert set(queue) == QUEUE_KEYS and queue["annotationsPerItem"] == 2
    assert queue["createdAt"].endswith("Z") and queue["description"] is None
    r = app.patch(f"{BASE}/{queue['id']}", json={"description": "two people each"})
    assert r.json()["description"] == "two people each" and r.json()["name"] == "double"
    item = app.post(f"{BASE}/{queue['id']}/items", json={"objectId": "t", "objectType": "TRACE"})
    assert set(item.json()) == ITEM_KEYS
    assert app.post(BASE, json={"name": "double", "scoreConfigIds": [configs["tone"]]}
                    ).status_code == 409  # fmt: skip
    r = app.delete(f"{BASE}/{queue['id']}")
    assert r.status_code == 200 and r.json()["success"] is True
    assert app.get(f"{BASE}/{queue['id']}").status_code == 404
    assert app.get(f"{BASE}/{queue['id']}/items").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"scoreConfigIds": ["x"]}, "name: required"),
        ({"name": "q", "scoreConfigIds": []}, "scoreConfigIds: expected a non-empty list"),
        ({"name": "q", "scoreConfigIds": ["nope"]}, "scoreConfigIds[0]: no score config id"),
        ({"name": "q"}, "scoreConfigIds: expected a non-empty list"),
        ({"name": "q" * 101, "scoreConfigIds": ["x"]}, "name: at most 100"),
        ({"name": "q\x01q", "scoreConfigIds": ["x"]}, "no control characters"),
        ({"name": "q", "scoreConfigIds": ["x"], "annotationsPerItem": 9}, "between 1 and 5"),
        ({"name": "q", "scoreConfigIds": ["x"], "owner": "me"}, "owner: unknown field"),
        ({"name": "q", "scoreConfigIds": ["x"] * 21}, "at most 20 score configs"),
        ({"name": "q", "description": 5, "scoreConfigIds": ["x"]}, "description: a string"),
        ([], "body: expected a JSON object"),
    ],
)
def test_bad_queues_name_the_problem(app: TestClient, body: Any, message: str) -> None:
    r = app.post(BASE, json=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_bad_items_and_requests(app: TestClient, configs: dict) -> None:
    q = app.post(BASE, json={"name": "bad-items", "scoreConfigIds": [configs["tone"]]}).json()
    items = f"{BASE}/{q['id']}/items"
    for body, message in (
        ({"objectId": "x", "objectType": "SPAN"}, "objectType: one of TRACE"),
        ({"objectId": "", "objectType": "TRACE"}, "objectId: a non-empty string"),
        ({"objectId": "x" * 201, "objectType": "TRACE"}, "objectId: a non-empty string"),
        ({"objectId": "x", "objectType": "TRACE", "status": "DONE"}, "status: one of"),
        ({"objectId": "x", "objectType": "TRACE", "extra": 1}, "extra: unknown field"),
        ("text", "body: expected"),
    ):
        r = app.post(items, json=body)
        assert r.status_code == 400 and message in r.text, (body, r.text)
    assert app.post(items, content=b"{", headers={"Content-Type": "application/json"}
                    ).status_code == 400  # fmt: skip
    assert app.get(f"{items}?status=DONE").status_code == 400
    assert app.get(f"{items}?limit=1000").status_code == 400
    assert app.get(f"{items}/nope").status_code == 404
    assert app.patch(f"{items}/nope", json={"status": "COMPLETED"}).status_code == 404
    item = app.post(items, json={"objectId": "x", "objectType": "TRACE"}).json()
    r = app.patch(f"{items}/{item['id']}", json={"objectId": "y"})
    assert r.status_code == 400 and "objectId: unknown field" in r.text
    assert app.get(f"{BASE}/nope").status_code == 404
    assert app.post(f"{BASE}/nope/items", json={"objectId": "x", "objectType": "TRACE"}
                    ).status_code == 404  # fmt: skip
    assert app.post(f"{BASE}/{q['id']}/assignments", json={"user": "x"}).status_code == 400


def test_another_project_sees_and_changes_nothing(
    app: TestClient, configs: dict, other: dict[str, str]
) -> None:
    q = app.post(BASE, json={"name": "mine", "scoreConfigIds": [configs["tone"]]}).json()
    item = app.post(f"{BASE}/{q['id']}/items", json={"objectId": "t", "objectType": "TRACE"})
    item_id = item.json()["id"]
    theirs = {"Authorization": other["other"]}
    assert "mine" not in [x["name"] for x in app.get(BASE, headers=theirs).json()["data"]]
    for method, path, body in (
        ("GET", f"{BASE}/{q['id']}", None),
        ("PATCH", f"{BASE}/{q['id']}", {"description": "theirs"}),
        ("DELETE", f"{BASE}/{q['id']}", None),
        ("GET", f"{BASE}/{q['id']}/items", None),
        ("POST", f"{BASE}/{q['id']}/items", {"objectId": "t2", "objectType": "TRACE"}),
        ("GET", f"{BASE}/{q['id']}/items/{item_id}", None),
        ("PATCH", f"{BASE}/{q['id']}/items/{item_id}", {"status": "COMPLETED"}),
        ("DELETE", f"{BASE}/{q['id']}/items/{item_id}", None),
        ("POST", f"/api/annotation-queues/{q['id']}/fill", {"limit": 1}),
    ):
        r = app.request(method, path, json=body, headers=theirs)
        assert r.status_code == 404, (method, path, r.text)
    # and their configs cannot be named
    r = app.post(BASE, json={"name": "x", "scoreConfigIds": [configs["tone"]]}, headers=theirs)
    assert r.status_code == 400 and "no score config id" in r.text
    assert app.get(f"{BASE}/{q['id']}/items/{item_id}").json()["status"] == "PENDING"


def test_a_read_key_reads_but_changes_nothing(
    app: TestClient, configs: dict, other: dict[str, str]
) -> None:
    q = app.post(BASE, json={"name": "read-only", "scoreConfigIds": [configs["tone"]]}).json()
    reader = {"Authorization": other["reader"]}
    assert app.get(f"{BASE}/{q['id']}", headers=reader).status_code == 200
    for method, path, body in (
        ("POST", BASE, {"name": "r2", "scoreConfigIds": [configs["tone"]]}),
        ("POST", f"{BASE}/{q['id']}/items", {"objectId": "t", "objectType": "TRACE"}),
        ("DELETE", f"{BASE}/{q['id']}", None),
        ("POST", f"/api/annotation-queues/{q['id']}/fill", {"limit": 1}),
    ):
        r = app.request(method, path, json=body, headers=reader)
        assert r.status_code == 403 and "scope" in r.text, (method, path, r.text)


def _score(app: TestClient, **body: Any) -> Any:
    return app.post("/api/public/scores", json={"traceId": "t-scored", **body})


def test_scores_made_in_a_queue_fit_its_configs(app: TestClient, configs: dict) -> None:
    q = app.post(BASE, json={"name": "scored", "scoreConfigIds": [configs["tone"]]}).json()
    r = _score(app, name="tone", value="calm", configId=configs["tone"], queueId=q["id"],
               id="queue-score")  # fmt: skip
    assert r.status_code == 201, r.text
    stored = app.get("/api/public/scores/queue-score").json()
    assert (stored["source"], stored["queueId"], stored["configId"]) == (
        "ANNOTATION", q["id"], configs["tone"],
    )  # fmt: skip
    for body, message in (
        ({"name": "other", "value": 1, "configId": configs["other"], "queueId": q["id"]},
         "configId: a score in the queue 'scored' must use one of its score configs"),
        ({"name": "tone", "value": "calm", "configId": configs["tone"], "queueId": "nope"},
         "queueId: no annotation queue 'nope' in this project"),
        ({"name": "tone", "value": "calm", "configId": configs["tone"], "queueId": q["id"],
          "source": "API"}, "source: a score made in an annotation queue has source ANNOTATION"),
        ({"name": "tone", "value": "calm", "queueId": q["id"]}, "configId: an ANNOTATION score"),
    ):  # fmt: skip
        r = _score(app, **body)
        assert r.status_code == 400 and message in r.text, (body, r.text)
    batch = app.post("/api/public/scores", json=[
        {"traceId": "t1", "name": "tone", "value": "rude", "configId": configs["tone"],
         "queueId": q["id"]},
        {"traceId": "t1", "name": "other", "value": 1, "configId": configs["other"],
         "queueId": q["id"]},
    ])  # fmt: skip
    assert batch.status_code == 207
    assert batch.json()["errors"][0]["index"] == 1
    assert "[1].configId: a score in the queue" in batch.json()["errors"][0]["message"]


def _trace(app: TestClient, name: str) -> str:
    tid = new_trace_id()
    body = request([span(tid, new_span_id(), name)]).SerializeToString()
    r = app.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200, r.text
    return tid.hex()


def test_fill_from_a_filter_counts_first(app: TestClient, configs: dict) -> None:
    ids = [_trace(app, "fill-me") for _ in range(3)]
    _trace(app, "leave-me")
    q = app.post(BASE, json={"name": "filled", "scoreConfigIds": [configs["tone"]]}).json()
    fill = f"/api/annotation-queues/{q['id']}/fill"
    body = {"filter": [{"column": "name", "operator": "=", "value": "fill-me"}], "limit": 10}
    r = app.post(fill, json={**body, "dry_run": True})
    assert r.status_code == 200, r.text
    assert r.json() == {"dry_run": True, "matching": 3, "selected": 3, "added": 0}
    assert app.post(fill, json=body).json()["added"] == 3
    listed = app.get(f"{BASE}/{q['id']}/items").json()["data"]
    assert sorted(i["objectId"] for i in listed) == sorted(ids)
    r = app.post(fill, json={**body, "limit": 10_001})
    assert r.status_code == 400 and "limit: between 1 and 10,000" in r.text
    r = app.post(fill, json={"filter": [{"column": "nope", "operator": "=", "value": 1}]})
    assert r.status_code == 400 and "unknown column" in r.text
    assert app.post("/api/annotation-queues/nope/fill", json=body).status_code == 404
