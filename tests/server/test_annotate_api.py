"""The annotator view's page and JSON steps in process (a real DuckDB file, the real app):
two annotators and their leases, submit / edit / undo / skip / j-k, the scores it writes
(source ANNOTATION, queueId, configId, author), validation, roles, project scoping, hostile
trace content escaped, and the agreement API on a double-annotated queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import cohen_kappa_score

from heron.model import ObservationRecord, TraceUpdate
from heron.scores.configs import check_config
from heron.server.app import create_app
from heron.server.web.annotate import note_id, score_id
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass
class Env:
    owner: TestClient
    ann: TestClient
    bob: TestClient
    viewer: TestClient
    pid: str
    other_pid: str
    users: dict[str, str]
    configs: dict[str, str]
    traces: list[str]
    key: str

    @property
    def store(self) -> Any:
        return store_of(self.owner)


def _config(store: Any, pid: str, **spec: Any) -> str:
    config = check_config({**spec, "id": uuid.uuid4().hex, "isArchived": False})
    return store.put_score_config(pid, config)["id"]


def _trace(store: Any, pid: str, n: int, text: str) -> str:
    trace_id = uuid.uuid4().hex
    messages = orjson.dumps([{"role": "user", "content": text}]).decode()
    answer = orjson.dumps({"role": "assistant", "content": f"answer {n}"}).decode()
    store.write_batch(
        [
            ObservationRecord(
                project_id=pid, id=trace_id[:16], trace_id=trace_id, parent_id=None,
                type="generation", name="chat", start_us=1_764_000_000_000_000 + n,
                end_us=1_764_000_001_000_000 + n, input=messages, output=answer,
            )
        ],
        [TraceUpdate(project_id=pid, trace_id=trace_id, is_root=True, input=messages,
                     output=answer, name=f"support {n}")],
    )  # fmt: skip
    return trace_id


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    settings = make_settings(
        tmp_path_factory.mktemp("annotate"), init_admin_email=ADMIN, init_admin_password=PASSWORD
    )
    with TestClient(create_app(settings)) as owner:
        assert login(owner, ADMIN, PASSWORD).status_code == 303
        store = store_of(owner)
        pid = store.project_by_name("test")["id"]
        other_pid = store.create_project("other")["id"]
        users = {}
        clients = {}
        for name, role in (("ann", "member"), ("bob", "member"), ("viewer", "viewer")):
            email = f"{name}@heron.test"
            users[name] = store.create_user(email, PASSWORD)["id"]
            store.add_member(pid, users[name], role)
            c = TestClient(owner.app)
            assert login(c, email, PASSWORD).status_code == 303
            clients[name] = c
        configs = {
            "correct": _config(store, pid, name="correct", dataType="BOOLEAN"),
            "tone": _config(store, pid, name="tone", dataType="CATEGORICAL",
                            categories=[{"label": "calm", "value": 0},
                                        {"label": "rude", "value": 1}]),
            "quality": _config(store, pid, name="quality", dataType="NUMERIC",
                               minValue=1, maxValue=5),
            "why": _config(store, pid, name="why", dataType="TEXT"),
        }  # fmt: skip
        traces = [_trace(store, pid, n, f"question {n}") for n in range(8)]
        traces.append(_trace(store, pid, 99, HOSTILE))
        key = store.create_key(pid, scope="read")["secret_key"]
        yield Env(owner, clients["ann"], clients["bob"], clients["viewer"], pid, other_pid,
                  users, configs, traces, key)  # fmt: skip


def _queue(env: Env, traces: list[str], per_item: int = 1, configs: list[str] | None = None) -> str:
    spec = {
        "name": f"q-{uuid.uuid4().hex[:8]}",
        "description": None,
        "score_config_ids": [env.configs[c] for c in configs or list(env.configs)],
        "annotations_per_item": per_item,
    }
    qid = env.store.create_annotation_queue(env.pid, spec)["id"]
    env.store.add_queue_items(env.pid, qid, [("TRACE", t) for t in traces])
    return qid


def _csrf(c: TestClient) -> str:
    return csrf_of(c.get("/").text)


def step(env: Env, c: TestClient, qid: str, action: str, body: Any, status: int = 200) -> Any:
    r = c.post(
        f"/annotation-queues/{qid}/annotate/{action}?project={env.pid}",
        json=body,
        headers={"X-CSRF-Token": _csrf(c), "Accept": "application/json"},
    )
    assert r.status_code == status, r.text
    return r.json() if r.headers["content-type"].startswith("application/json") else r.text


def _values(env: Env, **named: Any) -> dict[str, Any]:
    return {env.configs[k]: v for k, v in named.items()}


def _my_scores(env: Env, qid: str, item_id: str, user: str) -> dict[str, dict[str, Any]]:
    ids = {score_id(qid, item_id, cid, env.users[user]): n for n, cid in env.configs.items()}
    return {ids[k]: env.store.get_score(env.pid, k) for k in ids if env.store.get_score(env.pid, k)}


def test_page_submit_writes_annotation_scores_and_moves_on(env: Env) -> None:
    qid = _queue(env, env.traces[:3])
    page = env.ann.get(f"/annotation-queues/{qid}/annotate?project={env.pid}")
    assert page.status_code == 200
    assert "question 0" in page.text and "0</strong> of <strong data-progress-total>3" in page.text
    first = step(env, env.ann, qid, "next", {})
    assert first["item"]["objectId"] == env.traces[0] and first["progress"]["total"] == 3
    values = _values(env, correct=True, tone="rude", quality=4, why="too short")
    nxt = step(
        env,
        env.ann,
        qid,
        "submit",
        {"itemId": first["item"]["id"], "values": values, "note": "first **problem**"},
    )
    assert nxt["saved"] == first["item"]["id"]
    assert nxt["item"]["objectId"] == env.traces[1]
    assert nxt["progress"] == {"total": 3, "completed": 1, "pending": 2, "mine": 1}
    scores = _my_scores(env, qid, first["item"]["id"], "ann")
    by_name = {s["name"]: s for s in scores.values()}
    assert set(by_name) == {"correct", "tone", "quality", "why"}
    for name, s in by_name.items():
        assert s["source"] == "ANNOTATION" and s["queueId"] == qid
        assert s["configId"] == env.configs[name] and s["authorUserId"] == env.users["ann"]
        assert s["traceId"] == env.traces[0]
    assert by_name["correct"]["value"] == 1 and by_name["tone"]["stringValue"] == "rude"
    assert by_name["tone"]["value"] == 1 and by_name["quality"]["value"] == 4
    assert by_name["why"]["stringValue"] == "too short"
    note = env.store.annotation_note(env.pid, note_id(qid, first["item"]["id"], env.users["ann"]))
    assert note == "first **problem**"
    item = env.store.get_queue_item(env.pid, qid, first["item"]["id"])
    assert item["status"] == "COMPLETED"


def test_completed_items_reopen_prefilled_and_edits_replace(env: Env) -> None:
    qid = _queue(env, env.traces[:2])
    first = step(env, env.ann, qid, "next", {})
    item_id = first["item"]["id"]
    step(
        env,
        env.ann,
        qid,
        "submit",
        {"itemId": item_id, "values": _values(env, correct=False, quality=2), "note": "n1"},
    )
    back = step(env, env.ann, qid, "open", {"from": first["item"]["position"] + 1, "step": -1})
    assert back["item"]["id"] == item_id and back["item"]["annotatedByMe"]
    assert back["values"] == _values(env, correct=False, quality=2.0) and back["note"] == "n1"
    step(
        env,
        env.ann,
        qid,
        "submit",
        {"itemId": item_id, "values": _values(env, correct=True), "note": ""},
    )
    scores = _my_scores(env, qid, item_id, "ann")
    assert [(s["name"], s["value"]) for s in scores.values()] == [("correct", 1)]  # one, edited
    assert env.store.annotation_note(env.pid, note_id(qid, item_id, env.users["ann"])) is None
    assert env.store.queue_progress(env.pid, qid)["completed"] == 1
    end = step(env, env.ann, qid, "open", {"from": back["item"]["position"], "step": -1})
    assert end["item"] is None and end["end"] and "first item" in end["message"]


def test_two_annotators_never_hold_the_same_item(env: Env) -> None:
    qid = _queue(env, env.traces[:2])
    a = step(env, env.ann, qid, "next", {})
    b = step(env, env.bob, qid, "next", {})
    assert a["item"]["id"] != b["item"]["id"]
    taken = step(env, env.bob, qid, "open", {"itemId": a["item"]["id"]})
    assert taken["item"] is None and "Another annotator" in taken["message"]
    url = f"/annotation-queues/{qid}/annotate?project={env.pid}&item={a['item']['id']}"
    page = env.bob.get(url)
    assert "Another annotator has this item open" in page.text and "question 0" not in page.text
    refused = step(
        env,
        env.bob,
        qid,
        "submit",
        {"itemId": a["item"]["id"], "values": _values(env, correct=True)},
        409,
    )
    assert "another annotator holds" in refused["error"]["message"]
    step(
        env,
        env.ann,
        qid,
        "submit",
        {"itemId": a["item"]["id"], "values": _values(env, correct=True)},
    )
    done = step(
        env,
        env.bob,
        qid,
        "submit",
        {"itemId": b["item"]["id"], "values": _values(env, correct=False)},
    )
    assert done["item"] is None and "Nothing left" in done["message"]


def test_undo_deletes_the_scores_and_reopens_the_item(env: Env) -> None:
    qid = _queue(env, env.traces[:2])
    first = step(env, env.ann, qid, "next", {})
    item_id = first["item"]["id"]
    step(
        env,
        env.ann,
        qid,
        "submit",
        {"itemId": item_id, "values": _values(env, tone="calm"), "note": "calm enough"},
    )
    assert _my_scores(env, qid, item_id, "ann")
    undone = step(env, env.ann, qid, "undo", {"itemId": item_id})
    assert undone["undone"] == item_id and undone["item"]["id"] == item_id
    assert undone["values"] == {} and undone["note"] == ""
    assert _my_scores(env, qid, item_id, "ann") == {}
    item = env.store.get_queue_item(env.pid, qid, item_id)
    assert item["status"] == "PENDING" and item["lease_user_id"] == env.users["ann"]
    assert env.store.queue_progress(env.pid, qid, env.users["ann"])["mine"] == 0


def test_skip_leaves_the_item_and_j_k_walk_the_queue(env: Env) -> None:
    qid = _queue(env, env.traces[:3])
    first = step(env, env.ann, qid, "next", {})
    second = step(env, env.ann, qid, "skip", {"itemId": first["item"]["id"]})
    assert second["item"]["objectId"] == env.traces[1]
    third = step(env, env.ann, qid, "skip", {"itemId": second["item"]["id"]})
    assert third["item"]["objectId"] == env.traces[2]
    wrapped = step(env, env.ann, qid, "skip", {"itemId": third["item"]["id"]})
    assert wrapped["item"]["objectId"] == env.traces[0]  # skipped ones come round again
    assert env.store.queue_progress(env.pid, qid)["completed"] == 0
    j = step(env, env.ann, qid, "open", {"from": wrapped["item"]["position"], "step": 1})
    assert j["item"]["objectId"] == env.traces[1]


def test_double_annotation_and_the_agreement_api(env: Env) -> None:
    qid = _queue(env, env.traces[:6], per_item=2, configs=["correct", "quality"])
    ann = [True, True, False, False, True, False]
    bob = [True, False, False, False, True, True]
    quality = ([5, 4, 2, 1, 5, 3], [4, 4, 2, 2, 5, 1])
    for who, marks, q in (("ann", ann, quality[0]), ("bob", bob, quality[1])):
        c = getattr(env, who)
        payload = step(env, c, qid, "next", {})
        seen = []
        while payload["item"] is not None:
            n = env.traces.index(payload["item"]["objectId"])
            seen.append(n)
            payload = step(
                env,
                c,
                qid,
                "submit",
                {
                    "itemId": payload["item"]["id"],
                    "values": _values(env, correct=marks[n], quality=q[n]),
                },
            )
        assert seen == list(range(6))  # each person annotates every item once
        done = env.store.queue_progress(env.pid, qid)["completed"]
        assert done == (0 if who == "ann" else 6)  # complete only with two people
    r = env.owner.get(
        f"/api/annotation-queues/{qid}/agreement", headers={"Authorization": f"Bearer {env.key}"}
    )
    assert r.status_code == 200, r.text
    found = {c["name"]: c for c in r.json()["configs"]}
    assert found["correct"]["items"] == 6 and found["correct"]["raters"] == 2
    assert found["correct"]["percentAgreement"] == pytest.approx(4 / 6)
    assert found["correct"]["kappa"] == pytest.approx(cohen_kappa_score(ann, bob))
    assert found["quality"]["weightedKappa"] == pytest.approx(
        cohen_kappa_score(*quality, weights="quadratic")
    )
    page = env.viewer.get(f"/annotation-queues/{qid}/agreement?project={env.pid}")
    assert page.status_code == 200 and "67%" in page.text
    assert f"{cohen_kappa_score(ann, bob):.2f}" in page.text
    other = env.store.create_key(env.other_pid, scope="read")["secret_key"]
    r = env.owner.get(
        f"/api/annotation-queues/{qid}/agreement", headers={"Authorization": f"Bearer {other}"}
    )
    assert r.status_code == 404  # another project's queue is not there


def test_bad_requests_get_a_4xx_naming_the_problem(env: Env) -> None:
    qid = _queue(env, env.traces[:1])
    item_id = step(env, env.ann, qid, "next", {})["item"]["id"]
    cases = [
        ({"values": {}}, "itemId"),
        ({"itemId": item_id, "values": {"nope": 1}}, "not a score config of this queue"),
        ({"itemId": item_id, "values": _values(env, tone="angry")}, "not a category"),
        ({"itemId": item_id, "values": _values(env, quality=9)}, "above the config"),
        ({"itemId": item_id, "values": _values(env, correct="yes")}, "true or false"),
        ({"itemId": item_id, "values": _values(env, why="x" * 600)}, "1 to 500"),
        ({"itemId": item_id, "values": {}, "note": ""}, "set at least one value"),
        ({"itemId": item_id, "values": [], "note": "x"}, "values"),
        ({"itemId": item_id, "note": "x" * 5001}, "note"),
        ({"itemId": "missing", "values": _values(env, correct=True)}, "not found"),
        ([1, 2], "JSON object"),
    ]
    for body, expected in cases:
        status = 404 if expected == "not found" else 400
        answer = step(env, env.ann, qid, "submit", body, status)
        assert expected in answer["error"]["message"], (body, answer)
    r = env.ann.post(
        f"/annotation-queues/{qid}/annotate/next?project={env.pid}",
        content=b"{not json",
        headers={"X-CSRF-Token": _csrf(env.ann), "Accept": "application/json"},
    )
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]["message"]
    r = env.ann.post(f"/annotation-queues/{qid}/annotate/next?project={env.pid}", json={})
    assert r.status_code == 403 and "CSRF" in r.text
    step(env, env.ann, qid, "open", {"from": "x", "step": 1}, 400)
    assert env.store.get_queue_item(env.pid, qid, item_id)["status"] == "PENDING"


def test_roles_and_projects_are_enforced(env: Env) -> None:
    qid = _queue(env, env.traces[:1])
    page = env.viewer.get(f"/annotation-queues/{qid}/annotate?project={env.pid}")
    assert page.status_code == 403 and "Your role (viewer)" in page.text
    for action in ("next", "submit", "skip", "undo", "open"):
        r = env.viewer.post(
            f"/annotation-queues/{qid}/annotate/{action}?project={env.pid}",
            json={"itemId": "x"},
            headers={"X-CSRF-Token": _csrf(env.viewer)},
        )
        assert r.status_code == 403, action
    # the owner's other project has no such queue; ann is no member of it at all
    elsewhere = f"/annotation-queues/{qid}/annotate?project={env.other_pid}"
    assert env.owner.get(elsewhere).status_code == 404
    assert env.ann.get(elsewhere).status_code == 404
    assert step(env, env.ann, "nope", "next", {}, 404)


def test_hostile_trace_content_and_names_are_escaped(env: Env) -> None:
    qid = _queue(env, env.traces[-1:])
    env.store.update_annotation_queue(env.pid, qid, {"name": "<b>queue</b>"})
    page = env.ann.get(f"/annotation-queues/{qid}/annotate?project={env.pid}")
    assert page.status_code == 200
    assert HOSTILE not in page.text and "<b>queue</b>" not in page.text
    assert "&lt;script&gt;alert(" in page.text and "&lt;b&gt;queue&lt;/b&gt;" in page.text
    payload = step(env, env.ann, qid, "next", {})
    assert "<script>" not in payload["html"] and "<img src=x" not in payload["html"]
    assert "&lt;script&gt;" in payload["html"]
