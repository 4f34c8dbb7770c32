"""The dataset pages, in process: the list and one dataset render (a hostile item input
escaped), members create datasets, archive, delete, import and export items; viewers read
only (a forged post is a 403); another project's dataset is a 404."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.datasets.spec import DatasetSpec, ItemSpec
from heron.server.app import create_app
from heron.server.web.datasets import word_diff
from heron.store.datasets import ItemFilter
from tests.conftest import make_settings
from tests.experiments.plant import Outcome, post_traces
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of
from tests.server.test_web_comments import trace
from tests.server.test_web_settings import _invite, _join
from tests.signals.test_pages import failing, signal_of
from tests.support.server import SECRET_KEY

HOSTILE = "<script>alert(1)</script>"
AUTH = {"Authorization": f"Bearer {SECRET_KEY}"}


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path_factory.mktemp("web-datasets"),
        init_admin_email=ADMIN,
        init_admin_password=PASSWORD,
        runner_tasks="heron.signals.task:RulesTask",  # issues, for adding an issue's traces
    )
    with TestClient(create_app(settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


@pytest.fixture(scope="module")
def viewer(admin: TestClient) -> TestClient:
    return _join(admin, _invite(admin, "viewer"), "viewer@heron.test")


def pid(c: TestClient) -> str:
    return store_of(c).project_by_name("test")["id"]


def post(c: TestClient, path: str, page: str, files: Any = None, **data: str) -> Any:
    csrf = csrf_of(c.get(page).text)
    return c.post(path, data={**data, "csrf_token": csrf}, files=files, follow_redirects=False)


def dataset_with_items(c: TestClient, name: str, *inputs: Any) -> list[str]:
    store = store_of(c)
    store.create_dataset(pid(c), DatasetSpec(name=name))
    ids, _ = store.put_dataset_items(
        pid(c), name, [ItemSpec(input=i, expected_output={"answer": i}) for i in inputs]
    )
    return ids


def items(c: TestClient, name: str) -> list[dict[str, Any]]:
    store = store_of(c)
    dataset = store.get_dataset(pid(c), name)
    return store.list_dataset_items(pid(c), ItemFilter(dataset_id=dataset["id"]), 1, 100)[0]


def test_create_from_the_list_then_the_page_shows_it(admin: TestClient) -> None:
    listing = f"/datasets?project={pid(admin)}"
    r = post(admin, listing, listing, name="qa/golden", description="the golden set")
    assert r.status_code == 303
    assert r.headers["location"] == f"/datasets/qa%2Fgolden?project={pid(admin)}"
    html = admin.get(listing).text
    assert "qa/golden" in html and "the golden set" in html
    assert admin.get(r.headers["location"]).status_code == 200
    again = post(admin, listing, listing, name="qa/golden")
    assert again.status_code == 400 and "already exists" in again.text


def test_items_are_shown_escaped(admin: TestClient) -> None:
    dataset_with_items(admin, "hostile", HOSTILE)
    html = admin.get(f"/datasets/hostile?project={pid(admin)}").text
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    listing = admin.get(f"/datasets?project={pid(admin)}").text
    assert 'href="/datasets/hostile?project=' in listing


def test_archive_unarchive_and_delete_an_item(admin: TestClient) -> None:
    (item_id,) = dataset_with_items(admin, "actions", "q1")
    page = f"/datasets/actions?project={pid(admin)}"
    fields = {"dataset": "actions", "item_id": item_id}
    path = f"/datasets/items/status?project={pid(admin)}"
    assert post(admin, path, page, status="ARCHIVED", **fields).status_code == 303
    assert items(admin, "actions")[0]["status"] == "ARCHIVED"
    assert "Unarchive" in admin.get(page).text
    assert post(admin, path, page, status="ACTIVE", **fields).status_code == 303
    assert items(admin, "actions")[0]["status"] == "ACTIVE"
    assert post(admin, path, page, status="GONE", **fields).status_code == 400
    wrong = post(admin, path, page, status="ACTIVE", dataset="hostile", item_id=item_id)
    assert wrong.status_code == 404  # the item is not in that dataset
    delete = f"/datasets/items/delete?project={pid(admin)}"
    assert post(admin, delete, page, **fields).status_code == 303
    assert items(admin, "actions") == []


def test_import_then_export(admin: TestClient) -> None:
    dataset_with_items(admin, "files")
    page = f"/datasets/files?project={pid(admin)}"
    body = b'{"input": "a", "expectedOutput": "A"}\n{"input": "b"}\n'
    r = post(admin, f"/datasets/import?project={pid(admin)}", page,
             files={"file": ("items.jsonl", body)}, dataset="files")  # fmt: skip
    assert r.status_code == 303
    assert "2 created" in admin.get(r.headers["location"]).text
    bad = post(admin, f"/datasets/import?project={pid(admin)}", page,
               files={"file": ("items.jsonl", b"{not json\n")}, dataset="files")  # fmt: skip
    assert "Not imported" in admin.get(bad.headers["location"]).text
    out = admin.get(f"/datasets/export?project={pid(admin)}&dataset=files&format=jsonl")
    assert out.status_code == 200
    rows = [json.loads(line) for line in out.text.splitlines()]
    assert sorted(r["input"] for r in rows) == ["a", "b"]
    csv = admin.get(f"/datasets/export?project={pid(admin)}&dataset=files&format=csv")
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("id")


def test_viewer_reads_but_cannot_write(admin: TestClient, viewer: TestClient) -> None:
    (item_id,) = dataset_with_items(admin, "readonly", "q")
    page = f"/datasets/readonly?project={pid(admin)}"
    html = viewer.get(page)
    assert html.status_code == 200 and "Archive" not in html.text and "Import" not in html.text
    fields = {"dataset": "readonly", "item_id": item_id}
    assert post(viewer, f"/datasets?project={pid(admin)}", page, name="mine").status_code == 403
    r = post(viewer, f"/datasets/items/delete?project={pid(admin)}", page, **fields)
    assert r.status_code == 403
    assert len(items(admin, "readonly")) == 1


def test_another_projects_dataset_is_404(admin: TestClient) -> None:
    store = store_of(admin)
    other = store.create_project("elsewhere-datasets")
    store.create_dataset(other["id"], DatasetSpec(name="theirs"))
    assert admin.get(f"/datasets/theirs?project={pid(admin)}").status_code == 404
    assert admin.get(f"/datasets/export?project={pid(admin)}&dataset=theirs").status_code == 404


def test_add_a_trace_with_an_edited_expected_output(admin: TestClient) -> None:
    tid, oid = trace(admin, session="to-dataset")
    page = f"/traces/{tid}?project={pid(admin)}"
    assert "/datasets/add?" in admin.get(page).text
    form_page = f"/datasets/add?project={pid(admin)}&trace={tid}"
    form = admin.get(form_page)
    assert form.status_code == 200 and f'value="{tid}"' in form.text
    fields = {"trace_id": tid, "observation_id": "", "new_dataset": "from-trace",
              "input": '{"question": "2+2?"}', "expected_output": "four, corrected"}  # fmt: skip
    r = post(admin, f"/datasets/add?project={pid(admin)}", form_page, **fields)
    assert r.status_code == 303, r.text
    (item,) = items(admin, "from-trace")
    assert item["input"] == {"question": "2+2?"}
    assert item["expectedOutput"] == "four, corrected"
    assert item["sourceTraceId"] == tid and item["sourceObservationId"] is None
    obs = {**fields, "observation_id": oid, "new_dataset": "", "dataset": "from-trace"}
    assert post(admin, f"/datasets/add?project={pid(admin)}", form_page, **obs).status_code == 303
    assert {i["sourceObservationId"] for i in items(admin, "from-trace")} == {None, oid}
    none = post(
        admin, f"/datasets/add?project={pid(admin)}", form_page, **{**fields, "new_dataset": ""}
    )
    assert none.status_code == 400 and "dataset" in none.text
    assert admin.get(f"/datasets/add?project={pid(admin)}&trace={'0' * 32}").status_code == 404


def test_bulk_add_from_the_traces_list_reports_counts(admin: TestClient) -> None:
    tid, _ = trace(admin, session="bulk-a")
    trace(admin, session="bulk-b")
    query = f"project={pid(admin)}&session_id=bulk-a"
    listing = admin.get(f"/traces?{query}").text
    assert f"/datasets/fill?project={pid(admin)}&amp;" in listing
    form_page = f"/datasets/fill?{query}"
    form = admin.get(form_page)
    assert form.status_code == 200, form.text
    body = re.search(r'name="body" value="([^"]+)"', form.text).group(1).replace("&#34;", '"')
    path = f"/datasets/fill?project={pid(admin)}"
    r = post(admin, path, form_page, new_dataset="bulk", body=body, size="10")
    assert r.status_code == 303, r.text
    assert "1 created, 0 skipped" in admin.get(r.headers["location"]).text
    assert [i["sourceTraceId"] for i in items(admin, "bulk")] == [tid]
    again = post(admin, path, form_page, dataset="bulk", body=body, size="10")
    assert "0 created, 1 skipped" in admin.get(again.headers["location"]).text
    bad = post(admin, path, form_page, dataset="bulk", body=body, size="0")
    assert bad.status_code == 400 and "limit" in bad.text


def test_runs_page_and_compare_show_the_worse_item_first(admin: TestClient) -> None:
    store, project = store_of(admin), pid(admin)
    api = TestClient(admin.app, headers=AUTH)
    ids = ["item-a", "item-b", "item-c"]
    store.create_dataset(project, DatasetSpec(name="experiments"))
    store.put_dataset_items(
        project, "experiments", [ItemSpec(id=i, input={"q": i}, expected_output=i) for i in ids]
    )
    dataset_id = store.get_dataset(project, "experiments")["id"]
    worse = {"v1": {}, "v2": {"item-b": 0.1}}
    for run in ("v1", "v2"):
        outcomes = [
            Outcome(
                i, output=f"the answer to {i} {run}", scores={"accuracy": worse[run].get(i, 0.9)}
            )
            for i in ids
        ]
        traced = post_traces(api, outcomes)
        scores = [
            {"traceId": t, "name": "accuracy", "value": o.scores["accuracy"], "dataType": "NUMERIC"}
            for (t, _), o in zip(traced, outcomes, strict=True)
        ]
        r = api.post("/api/public/scores", json=scores)
        assert r.status_code in (201, 202), r.text
        run_id = store.ensure_dataset_run(project, dataset_id, run)["id"]
        for (t, _), i in zip(traced, ids, strict=True):
            store.put_dataset_run_item(project, run_id, i, t)
    runs = admin.get(f"/datasets/experiments/runs?project={project}")
    assert runs.status_code == 200, runs.text
    assert 'name="runs" value="v1"' in runs.text and "accuracy" in runs.text
    page = admin.get(
        f"/datasets/experiments/compare?project={project}&runs=v1,v2",
        headers={"X-Heron-Consistent": "true"},
    )
    assert page.status_code == 200, page.text
    order = re.findall(r'data-item-id="([^"]+)"', page.text)
    assert order[0] == "item-b" and set(order) == set(ids)
    assert "<del>v1</del><ins>v2</ins>" in page.text
    one = admin.get(f"/datasets/experiments/compare?project={project}&runs=v1")
    assert one.status_code == 400
    missing = admin.get(f"/datasets/experiments/compare?project={project}&runs=v1,nope")
    assert missing.status_code == 404


def test_add_an_issues_traces(admin: TestClient) -> None:
    first = failing(admin, "the tool timed out")
    failing(admin, "the tool timed out")
    issue = signal_of(admin, first)["issue_id"]
    detail = admin.get(f"/issues/{issue}?project={pid(admin)}").text
    assert f"/datasets/fill?project={pid(admin)}&amp;issue={issue}" in detail
    form_page = f"/datasets/fill?project={pid(admin)}&issue={issue}"
    form = admin.get(form_page)
    assert form.status_code == 200 and "The traces of issue" in form.text
    body = orjson_body(form.text)
    r = post(admin, f"/datasets/fill?project={pid(admin)}", form_page, new_dataset="from-issue",
             body=body, size="10")  # fmt: skip
    assert r.status_code == 303, r.text
    assert first in {i["sourceTraceId"] for i in items(admin, "from-issue")}
    assert admin.get(f"/datasets/fill?project={pid(admin)}&issue=iss_nope").status_code == 404


def orjson_body(html: str) -> str:
    return re.search(r'name="body" value="([^"]+)"', html).group(1).replace("&#34;", '"')


def test_add_a_queues_completed_items_with_the_corrected_answer(admin: TestClient) -> None:
    api = TestClient(admin.app, headers={**AUTH, "X-Heron-Consistent": "true"})
    corrected_id, plain_id = trace(admin, session="queue-a")[0], trace(admin, session="queue-b")[0]
    pending_id = trace(admin, session="queue-c")[0]
    config = api.post("/api/public/score-configs",
                      json={"name": "corrected answer", "dataType": "TEXT"})  # fmt: skip
    assert config.status_code == 200, config.text
    body = {"name": "to-dataset", "scoreConfigIds": [config.json()["id"]]}
    q = api.post("/api/public/annotation-queues", json=body).json()
    base = f"/api/public/annotation-queues/{q['id']}/items"
    for tid in (corrected_id, plain_id, pending_id):
        item = api.post(base, json={"objectId": tid, "objectType": "TRACE"}).json()
        if tid != pending_id:
            assert (
                api.patch(f"{base}/{item['id']}", json={"status": "COMPLETED"}).status_code == 200
            )
    score = {"traceId": corrected_id, "name": "corrected answer", "value": "<b>42</b>",
             "configId": config.json()["id"], "queueId": q["id"], "dataType": "TEXT"}  # fmt: skip
    assert api.post("/api/public/scores", json=score).status_code in (200, 201, 202)
    queue_page = f"/annotation-queues/{q['id']}?project={pid(admin)}"
    assert "/datasets/from-queue?" in admin.get(queue_page).text
    form_page = f"/datasets/from-queue?project={pid(admin)}&queue={q['id']}"
    form = admin.get(form_page)
    assert form.status_code == 200 and "“corrected answer”" in form.text
    path = f"/datasets/from-queue?project={pid(admin)}"
    r = post(admin, path, form_page, queue=q["id"], new_dataset="queue-answers")
    assert r.status_code == 303, r.text
    assert "2 created, 0 skipped" in admin.get(r.headers["location"]).text
    by_trace = {i["sourceTraceId"]: i for i in items(admin, "queue-answers")}
    assert set(by_trace) == {corrected_id, plain_id}
    assert by_trace[corrected_id]["expectedOutput"] == "<b>42</b>"
    own = store_of(admin).get_trace(pid(admin), plain_id)
    assert by_trace[plain_id]["expectedOutput"] == own.get("output")  # no answer: its own output
    again = post(admin, path, form_page, queue=q["id"], dataset="queue-answers")
    assert "0 created, 2 skipped" in admin.get(again.headers["location"]).text
    assert admin.get(f"/datasets/from-queue?project={pid(admin)}&queue=nope").status_code == 404


def test_word_diff_marks_words_and_gives_up_on_huge_outputs() -> None:
    assert word_diff("a b c", "a x c") == [
        ("same", "a "), ("removed", "b"), ("added", "x"), ("same", " c")
    ]  # fmt: skip
    huge = "word " * 3000
    assert word_diff(huge, huge + "more") == [("same", huge + "more")]
