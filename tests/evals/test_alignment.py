"""From people's labels to an evaluator and its alignment, on the real app and store with a
local judge server: category labels (the failure-mode score) -> a draft judge -> saved
paused -> aligned (a runner job, no scores written) -> figures and disagreeing traces; a
code-evaluator draft aligned; bad input, project scoping, read-only keys and viewers
refused; cancelling the job; the prefilled editor escaping hostile labels and notes."""

from __future__ import annotations

import html
import re
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.evals import alignment, labels
from heron.evals.spec import Problems, check_evaluator
from heron.evals.task import tasks
from heron.model import ObservationRecord, TraceUpdate
from heron.runner import Runner
from heron.scores import ScoreRecord
from heron.server.app import create_app
from heron.settings import Settings
from heron.store import EmbeddedStore
from heron.store.scores import ScoreFilter
from tests.conftest import make_settings
from tests.evals.fake_openai import FakeProvider
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of

MARKER = "REFUND-POLICY-7"
JUDGED = "Now judge this exchange:"
HALLUCINATED = "hallucinated refund"
RUDE = "rude tone"
# trace n: (its failure-mode label, whether its output holds the marker). Positives 0-5
# (5 lacks the marker: a false negative), negatives 6-11 (10 holds it: a false positive).
DATA = {n: (HALLUCINATED if n < 6 else RUDE, n < 5 or n == 10) for n in range(12)}


def tid(n: int) -> str:
    return f"{n + 1:032x}"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        # the judge says "failure" when the exchange it judges (not the examples) holds it
        provider.decide = lambda prompt: MARKER in prompt.rsplit(JUDGED, 1)[-1]
        yield provider


@pytest.fixture(scope="module")
def app_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("alignment"),
        init_admin_email=ADMIN,
        init_admin_password=PASSWORD,
        runner_tasks="heron.evals.task:tasks",
    )


@pytest.fixture(scope="module")
def app(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


class Project:
    """A fresh project of the admin's with a full key's client (``api``)."""

    def __init__(self, app: TestClient, fake: FakeProvider) -> None:
        self.store = store_of(app)
        owner = self.store.user_by_email(ADMIN)["id"]
        self.id = self.store.create_project(f"p-{secrets.token_hex(4)}", owner)["id"]
        secret = self.store.create_key(self.id)["secret_key"]
        self.api = TestClient(app.app, headers={"Authorization": f"Bearer {secret}"})
        r = self.api.post(
            "/api/connections",
            json={"name": "judge", "base_url": fake.base_url, "api_key": "sk-test-align-0001",
                  "model": "gpt-4o-mini", "max_concurrency": 4, "timeout_seconds": 5},
        )  # fmt: skip
        assert r.status_code == 201, r.text

    def trace(
        self, n: int, output: str, user: str = "Can I return my shoes?", ms: int = 500
    ) -> None:
        start = 1_764_000_000_000_000 + n * 1_000_000
        self.store.write_batch(
            [ObservationRecord(project_id=self.id, id=tid(n)[:16], trace_id=tid(n),
                               parent_id=None, type="span", name="support-chat",
                               start_us=start, end_us=start + ms * 1000, input=f'"{user}"',
                               output=f'"{output}"')],
            [TraceUpdate(project_id=self.id, trace_id=tid(n), is_root=True, name="support-chat",
                         input=f'"{user}"', output=f'"{output}"')],
        )  # fmt: skip

    def categories(self, name: str, *names: str) -> dict[str, Any]:
        r = self.api.post(
            "/api/public/score-configs",
            json={"name": name, "dataType": "CATEGORICAL",
                  "categories": [{"label": c, "value": i} for i, c in enumerate(names)]},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        return r.json()

    def label(
        self, n: int, name: str, label: str | bool, note: str, config: dict | None = None
    ) -> None:
        boolean = isinstance(label, bool)
        value = float(label) if boolean else None
        if config is not None:
            value = next(float(c["value"]) for c in config["categories"] if c["label"] == label)
        self.store.write_scores([
            ScoreRecord(
                project_id=self.id, id=secrets.token_hex(16), trace_id=tid(n),
                observation_id=None, session_id=None, name=name, value=value,
                string_value=None if boolean else str(label),
                data_type="BOOLEAN" if boolean else "CATEGORICAL", source="ANNOTATION",
                comment=note, author="reviewer", timestamp=datetime(2026, 12, 1, 10, 0),
                metadata={"analysisId": "a1"}, environment=None,
                config_id=config["id"] if config else None,
            )
        ])  # fmt: skip


def labelled(app: TestClient, fake: FakeProvider) -> Project:
    """A project with the twelve traces of DATA labelled with the failure-mode contract."""
    p = Project(app, fake)
    config = p.categories("failure_mode", HALLUCINATED, RUDE)
    for n, (label, marked) in DATA.items():
        p.trace(n, f"Answer {n}: " + (f"per {MARKER} you get double back" if marked else "ok"))
        note = "made up a refund rule" if label == HALLUCINATED else "curt and dismissive"
        p.label(n, "failure_mode", label, note, config)
    return p


def wait_job(api: TestClient, job_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = api.get(f"/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end: {job}")


def eval_scores(p: Project) -> list[dict[str, Any]]:
    rows, _ = p.store.list_scores(p.id, ScoreFilter(source="EVAL"), 1, 100)
    return rows


# -- the path: labels -> draft judge -> alignment -> figures -------------------------------


def test_category_labels_to_a_draft_judge_aligned_with_known_figures(
    app: TestClient, fake: FakeProvider
) -> None:
    p = labelled(app, fake)
    r = p.api.post(
        "/api/evaluators/drafts/from-label",
        json={"scoreName": "failure_mode", "positive": HALLUCINATED, "kind": "judge"},
    )
    assert r.status_code == 200, r.text
    draft = r.json()
    definition = draft["definition"]
    assert definition["name"] == "failure_hallucinated_refund"
    assert definition["type"] == "llm_judge" and definition["connection"] == "judge"
    assert definition["output"] == {"data_type": "BOOLEAN"}
    assert (draft["positives"], draft["negatives"]) == (6, 6)
    assert "refund" in draft["keywords"] and "made up a refund rule" in draft["description"]
    prompt = definition["prompt"]
    assert HALLUCINATED in prompt and "made up a refund rule" in prompt
    shown = draft["examples"]
    assert sorted(e["positive"] for e in shown) == [False] * 3 + [True] * 3
    assert prompt.index(JUDGED) > prompt.index("<example")  # the judged trace comes last

    saved = p.api.post("/api/evaluators/drafts", json=definition)
    assert saved.status_code == 201, saved.text
    assert saved.json()["status"] == "paused"
    assert "align" in saved.json()["status_reason"]

    before = len(fake.requests)
    started = p.api.post(
        f"/api/evaluators/{definition['name']}/align",
        json={"scoreName": "failure_mode", "positive": HALLUCINATED},
    )
    assert started.status_code == 202, started.text
    assert wait_job(p.api, started.json()["jobId"])["status"] == "done"
    result = p.api.get(f"/api/evaluators/{definition['name']}/alignment").json()
    assert (result["labelled"], result["sampled"], result["version"]) == (12, 12, 1)
    counts = result["counts"]
    assert (counts["true_positives"], counts["false_negatives"]) == (5, 1)
    assert (counts["true_negatives"], counts["false_positives"]) == (5, 1)
    assert (counts["failed"], counts["pending"]) == (0, 0)
    assert result["true_positive_rate"] == pytest.approx(5 / 6)
    assert result["true_negative_rate"] == pytest.approx(5 / 6)
    assert result["precision"] == pytest.approx(5 / 6)
    assert result["cohen_kappa"] == pytest.approx(2 / 3)
    wrong = {d["traceId"]: d for d in result["disagreements"]}
    assert set(wrong) == {tid(5), tid(10)}
    assert (wrong[tid(5)]["human"], wrong[tid(5)]["evaluator"]) == (True, False)
    assert (wrong[tid(10)]["human"], wrong[tid(10)]["evaluator"]) == (False, True)
    assert wrong[tid(10)]["reasoning"] == fake.reasoning and wrong[tid(10)]["judgeTraceId"]
    # one judge call per labelled trace, each recorded as a heron-evaluation trace; no score
    assert len(fake.requests) - before == 12
    judge_trace = p.store.get_trace(p.id, wrong[tid(10)]["judgeTraceId"])
    assert judge_trace is not None and judge_trace["environment"] == "heron-evaluation"
    assert eval_scores(p) == []
    assert p.store.get_evaluator(p.id, definition["name"])["status"] == "paused"


def test_a_code_draft_from_the_keywords_is_aligned_too(app: TestClient, fake: FakeProvider) -> None:
    p = labelled(app, fake)
    r = p.api.post(
        "/api/evaluators/drafts/from-label",
        json={"scoreName": "failure_mode", "positive": HALLUCINATED, "kind": "code",
              "keywords": [MARKER]},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    definition = r.json()["definition"]
    assert (definition["type"], definition["check"]) == ("code", "contains")
    assert definition["args"]["any"] == [MARKER]
    assert p.api.post("/api/evaluators/drafts", json=definition).status_code == 201
    before = len(fake.requests)
    started = p.api.post(
        f"/api/evaluators/{definition['name']}/align",
        json={"scoreName": "failure_mode", "positive": HALLUCINATED},
    )
    assert wait_job(p.api, started.json()["jobId"])["status"] == "done"
    result = p.api.get(f"/api/evaluators/{definition['name']}/alignment").json()
    assert result["true_positive_rate"] == pytest.approx(5 / 6)
    assert result["true_negative_rate"] == pytest.approx(5 / 6)
    assert {d["traceId"] for d in result["disagreements"]} == {tid(5), tid(10)}
    assert len(fake.requests) == before  # no judge call for a rule
    # the other side of the same score: "rude tone" positives are the marker-free ones
    rude = p.api.post(
        f"/api/evaluators/{definition['name']}/align",
        json={"scoreName": "failure_mode", "positive": RUDE},
    )
    assert wait_job(p.api, rude.json()["jobId"])["status"] == "done"
    flipped = p.api.get(f"/api/evaluators/{definition['name']}/alignment").json()
    assert flipped["positive"] == RUDE
    assert flipped["true_positive_rate"] == pytest.approx(1 / 6)


def test_a_boolean_annotation_label_aligns_a_saved_evaluator(
    app: TestClient, fake: FakeProvider
) -> None:
    p = Project(app, fake)
    for n in range(6):
        p.trace(n, "see " + MARKER if n % 2 else "fine")
        p.label(n, "invented_policy", n % 2 == 1 or n == 0, "checked")
    r = p.api.post(
        "/api/evaluators",
        json={"name": "mentions-marker", "type": "code", "check": "contains",
              "args": {"any": [MARKER]}, "variables": {"text": "output"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    started = p.api.post(
        "/api/evaluators/mentions-marker/align",
        json={"scoreName": "invented_policy", "positive": True, "limit": 4},
    )
    assert started.status_code == 202, started.text
    assert wait_job(p.api, started.json()["jobId"])["status"] == "done"
    result = p.api.get("/api/evaluators/mentions-marker/alignment").json()
    assert (result["labelled"], result["sampled"]) == (6, 4)  # a stratified sample
    counts = result["counts"]
    assert counts["true_positives"] + counts["false_negatives"] >= 1
    assert counts["true_negatives"] + counts["false_positives"] >= 1
    assert counts["judged"] == 4


def test_sampling_is_stratified_and_bounded() -> None:
    found = labels.Labels(
        "s", "x", "CATEGORICAL", "ANNOTATION",
        [{"trace_id": f"p{i}"} for i in range(900)], [{"trace_id": f"n{i}"} for i in range(100)],
    )  # fmt: skip
    chosen = alignment.sample(found, 500)
    assert len(chosen) == 500
    assert sum(side for _, side in chosen) == 450
    assert chosen == alignment.sample(found, 500)  # the same choice every time
    rare = labels.Labels("s", "x", "CATEGORICAL", "ANNOTATION", [{"trace_id": "p"}],
                         [{"trace_id": f"n{i}"} for i in range(999)])  # fmt: skip
    assert sum(side for _, side in alignment.sample(rare, 10)) == 1


# -- bad input, scoping, roles -------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(app: TestClient, fake: FakeProvider) -> Project:
    p = labelled(app, fake)
    p.categories("empty_mode", "a", "b")
    p.label(0, "stars", "x", "n")  # a CATEGORICAL score without config
    r = p.api.post(
        "/api/evaluators",
        json={"name": "rule", "type": "code", "check": "contains", "args": {"any": [MARKER]},
              "variables": {"text": "output"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return p


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("drafts/from-label", {"scoreName": "nope", "positive": "x"}, 400, "no score config"),
        ("drafts/from-label", {"scoreName": "empty_mode", "positive": "a"}, 400, "no trace has"),
        ("drafts/from-label", {"scoreName": "failure_mode", "positive": "other"}, 400,
         "not a category"),
        ("drafts/from-label", {"scoreName": "failure_mode"}, 400, "positive: required"),
        ("drafts/from-label", {"scoreName": "failure_mode", "positive": HALLUCINATED,
                               "kind": "magic"}, 400, "kind"),
        ("drafts/from-label", {"scoreName": "failure_mode", "positive": HALLUCINATED,
                               "connection": "gone"}, 400, "no LLM connection"),
        ("drafts/from-label", {"scoreName": "failure_mode", "positive": HALLUCINATED,
                               "kind": "code", "keywords": ["x"] * 51}, 400, "keywords"),
        ("drafts/from-label", {"scoreName": "x" * 300, "positive": "a"}, 400, "scoreName"),
        ("drafts/from-label", {"scoreName": "failure_mode", "positive": "a", "extra": 1}, 400,
         "unknown fields"),
        ("drafts/from-label", [1, 2], 400, "body"),
        ("rule/align", {"scoreName": "failure_mode", "positive": HALLUCINATED, "limit": 501},
         400, "limit"),
        ("rule/align", {"scoreName": "failure_mode", "positive": HALLUCINATED, "limit": 0},
         400, "limit"),
        ("rule/align", {"scoreName": "failure_mode", "positive": HALLUCINATED,
                        "source": "SQL"}, 400, "source"),
        ("rule/align", {"scoreName": "stars", "positive": "x"}, 400, "negatives"),
        ("rule/align", {"scoreName": "failure_mode", "positive": 7}, 400, "not a category"),
        ("gone/align", {"scoreName": "failure_mode", "positive": HALLUCINATED}, 404, "gone"),
        ("gone/alignment", None, 404, "gone"),
        ("rule/alignment", None, 404, "never aligned"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_4xx_naming_the_problem(
    shared: Project, path: str, body: Any, status: int, words: str
) -> None:
    url = f"/api/evaluators/{path}"
    r = shared.api.get(url) if body is None else shared.api.post(url, json=body)
    assert r.status_code == status, r.text
    assert words in r.text


def test_a_numeric_score_is_no_label(shared: Project) -> None:
    shared.store.write_scores([
        ScoreRecord(project_id=shared.id, id=secrets.token_hex(16), trace_id=tid(1),
                    observation_id=None, session_id=None, name="quality", value=0.4,
                    string_value=None, data_type="NUMERIC", source="ANNOTATION", comment=None,
                    author=None, timestamp=datetime(2026, 12, 1), metadata=None,
                    environment=None)
    ])  # fmt: skip
    r = shared.api.post(
        "/api/evaluators/drafts/from-label", json={"scoreName": "quality", "positive": 1}
    )
    assert r.status_code == 400 and "BOOLEAN or CATEGORICAL" in r.text


def test_another_project_sees_neither_labels_nor_evaluators(
    app: TestClient, fake: FakeProvider, shared: Project
) -> None:
    other = Project(app, fake)
    r = other.api.post(
        "/api/evaluators/drafts/from-label",
        json={"scoreName": "failure_mode", "positive": HALLUCINATED},
    )
    assert r.status_code == 400 and "no score config" in r.text
    r = other.api.post(
        "/api/evaluators/rule/align", json={"scoreName": "failure_mode", "positive": HALLUCINATED}
    )
    assert r.status_code == 404
    assert other.api.get("/api/evaluators/rule/alignment").status_code == 404
    started = shared.api.post(
        "/api/evaluators/rule/align", json={"scoreName": "failure_mode", "positive": HALLUCINATED}
    )
    assert other.api.get(f"/api/jobs/{started.json()['jobId']}").status_code == 404
    assert wait_job(shared.api, started.json()["jobId"])["status"] == "done"


def test_a_read_key_may_not_draft_or_align(app: TestClient, shared: Project) -> None:
    secret = shared.store.create_key(shared.id, scope="read")["secret_key"]
    reader = TestClient(app.app, headers={"Authorization": f"Bearer {secret}"})
    body = {"scoreName": "failure_mode", "positive": HALLUCINATED}
    assert reader.post("/api/evaluators/drafts/from-label", json=body).status_code == 403
    assert reader.post("/api/evaluators/rule/align", json=body).status_code == 403
    assert reader.post("/api/evaluators/drafts", json={"name": "x"}).status_code == 403


# -- the job cancels ---------------------------------------------------------------------------


def test_cancelling_the_job_stops_it_with_the_rest_pending(store: EmbeddedStore) -> None:
    project = store.create_project("cancel")["id"]
    for n in range(60):
        start = 1_764_000_000_000_000 + n
        store.write_batch(
            [ObservationRecord(project_id=project, id=tid(n)[:16], trace_id=tid(n),
                               parent_id=None, type="span", name="chat", start_us=start,
                               end_us=start + 10, output=f'"{MARKER if n % 3 else "no"}"')],
            [TraceUpdate(project_id=project, trace_id=tid(n), is_root=True, name="chat",
                         output=f'"{MARKER if n % 3 else "no"}"')],
        )  # fmt: skip
        store.write_scores([
            ScoreRecord(project_id=project, id=secrets.token_hex(16), trace_id=tid(n),
                        observation_id=None, session_id=None, name="bad", value=float(n % 2),
                        string_value=None, data_type="BOOLEAN", source="ANNOTATION",
                        comment=None, author=None, timestamp=datetime(2026, 12, 1),
                        metadata=None, environment=None)
        ])  # fmt: skip
    runner = Runner(store, tasks())
    problems = Problems()
    _, spec = check_evaluator(
        {"name": "draft", "type": "code", "check": "contains", "args": {"any": [MARKER]}},
        "$", problems, connections=(), score_configs={},
    )  # fmt: skip
    assert spec is not None, problems
    ev = {"id": None, "name": "draft", "version": None, "spec": spec}
    found = labels.resolve(store, project, "bad", True)
    run = alignment.start(store, runner, project, ev, found, alignment.check_body({}))
    assert run["sampled"] == 60 and run["counts"]["pending"] == 60
    runner.step()  # counted
    runner.step()  # one chunk
    runner.cancel_job(project, run["jobId"])
    runner.run_until_idle()
    job = store.runner_job(run["jobId"])
    assert job["status"] == "cancelled" and 0 < job["done"] < 60
    after = alignment.view(store, project, store.get_alignment(project, run["id"]))
    assert after["status"] == "cancelled"
    assert after["counts"]["judged"] == job["done"]
    assert after["counts"]["pending"] == 60 - job["done"]


# -- pages ---------------------------------------------------------------------------------


def _textarea(page_html: str) -> str:
    found = re.search(r'<textarea id="definition" name="definition"[^>]*>(.*?)</textarea>',
                      page_html, re.S)  # fmt: skip
    assert found, page_html
    return html.unescape(found.group(1))


HOSTILE = "<script>alert('label')</script> refund"
HOSTILE_NOTE = "<img src=x onerror=alert('note')> made up a rule"


def test_the_prefilled_editor_escapes_hostile_labels_and_notes(
    app: TestClient, fake: FakeProvider
) -> None:
    p = Project(app, fake)
    config = p.categories("failure_mode", HOSTILE, "fine")
    for n in range(4):
        p.trace(n, f"<b>answer {n}</b>")
        p.label(n, "failure_mode", HOSTILE if n < 2 else "fine", HOSTILE_NOTE, config)
    page = app.get("/evaluators/new", params={"project": p.id, "score": "failure_mode",
                                              "label": HOSTILE})  # fmt: skip
    assert page.status_code == 200, page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text
    text = _textarea(page.text)
    assert "type: llm_judge" in text and "connection: judge" in text
    assert "made up a rule" in text
    # an unknown label: the editor says so, with the problem escaped
    bad = app.get("/evaluators/new", params={"project": p.id, "score": "failure_mode",
                                             "label": "<i>nope</i>"})  # fmt: skip
    assert bad.status_code == 400 and "<i>nope</i>" not in bad.text
    assert "not a category" in bad.text
    # from an analysis category that is not there: a 404 naming it, escaped
    cat = app.get("/evaluators/new", params={"project": p.id, "from_category": "<b>a1:c2"})
    assert cat.status_code == 404 and "<b>a1" not in cat.text and "&lt;b&gt;a1" in cat.text


def test_the_page_saves_a_draft_paused_aligns_and_shows_the_figures(
    app: TestClient, fake: FakeProvider
) -> None:
    p = labelled(app, fake)
    page = app.get("/evaluators/new", params={"project": p.id, "score": "failure_mode",
                                              "label": HALLUCINATED, "kind": "code"})  # fmt: skip
    assert page.status_code == 200 and "align before switching on" in page.text.lower()
    csrf = csrf_of(page.text)
    text = _textarea(page.text)
    r = app.post(
        f"/evaluators?project={p.id}",
        data={"definition": text, "editing": "", "csrf_token": csrf, "draft_score": "failure_mode",
              "draft_label": HALLUCINATED},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text
    name = "failure_hallucinated_refund"
    assert p.store.get_evaluator(p.id, name)["status"] == "paused"
    shown = app.get(r.headers["location"]).text
    assert "Align before switching on" in shown
    r = app.post(
        f"/evaluators/{name}/align?project={p.id}",
        data={"score": "failure_mode", "label": HALLUCINATED, "limit": "", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    refused = app.post(
        f"/evaluators/{name}/align?project={p.id}",
        data={"score": "failure_mode", "label": "<b>nope</b>", "limit": "9999",
              "csrf_token": csrf},
    )  # fmt: skip
    assert refused.status_code == 400 and "limit" in refused.text
    assert "<b>nope</b>" not in refused.text and "&lt;b&gt;nope&lt;/b&gt;" in refused.text
    run = p.store.latest_alignment(p.id, p.store.get_evaluator(p.id, name)["id"], 1)
    wait_job(p.api, run["job_id"])
    shown = app.get(f"/evaluators/{name}?project={p.id}").text
    assert "true positive rate" in shown.lower()
    assert f"/traces/{tid(5)}" in shown and f"/traces/{tid(10)}" in shown
    progress = app.get(f"/evaluators/{name}/alignment/jobs/{run['job_id']}?project={p.id}")
    assert progress.status_code == 200 and progress.json()["status"] == "done"
    # a viewer reads the figures but may not align
    viewer_email = f"viewer-{secrets.token_hex(3)}@heron.test"
    user = p.store.create_user(viewer_email, PASSWORD)
    p.store.add_member(p.id, user["id"], "viewer")
    viewer = TestClient(app.app)
    assert login(viewer, viewer_email, PASSWORD).status_code == 303
    seen = viewer.get(f"/evaluators/{name}?project={p.id}")
    assert seen.status_code == 200 and f"/traces/{tid(5)}" in seen.text
    forged = viewer.post(
        f"/evaluators/{name}/align?project={p.id}",
        data={"score": "failure_mode", "label": HALLUCINATED, "csrf_token": csrf_of(seen.text)},
    )
    assert forged.status_code == 403
    assert viewer.get(f"/evaluators/new?project={p.id}&score=failure_mode").status_code == 403


def test_the_alignment_task_runs_in_jobs_only(store: EmbeddedStore) -> None:
    project = store.create_project("quiet")["id"]
    runner = Runner(store, tasks())
    runner.run_until_idle()  # cursors start at the head
    store.write_batch(
        [ObservationRecord(project_id=project, id="1" * 16, trace_id=tid(1), parent_id=None,
                           type="span", name="chat", start_us=1_764_000_000_000_000,
                           end_us=1_764_000_000_000_010, output='"hi"')],
        [TraceUpdate(project_id=project, trace_id=tid(1), is_root=True, name="chat")],
    )  # fmt: skip
    runner.run_until_idle()
    assert store.runner_work(alignment.TASK, project, tid(1)) is None
    assert store.runner_work("evaluators", project, tid(1)) is not None
    job = runner.start_job(project)  # a backfill naming no task leaves it out
    assert alignment.TASK not in job["spec"]["tasks"] and "evaluators" in job["spec"]["tasks"]


def test_an_unsaved_draft_aligns_and_rules_other_than_contains(
    app: TestClient, fake: FakeProvider
) -> None:
    p = labelled(app, fake)
    label = {"scoreName": "failure_mode", "positive": HALLUCINATED}
    regex = p.api.post(
        "/api/evaluators/drafts/from-label",
        json={**label, "kind": "code", "rule": "regex", "keywords": [MARKER, "double back"]},
    ).json()["definition"]
    assert regex["check"] == "regex" and "double\\ back" in regex["args"]["pattern"]
    started = p.api.post("/api/evaluators/drafts/align", json={**label, "evaluator": regex})
    assert started.status_code == 202, started.text
    assert wait_job(p.api, started.json()["jobId"])["status"] == "done"
    result = p.api.get(f"/api/evaluators/drafts/alignments/{started.json()['id']}").json()
    assert result["true_positive_rate"] == pytest.approx(5 / 6)
    assert result["true_negative_rate"] == pytest.approx(5 / 6)
    assert p.store.list_evaluators(p.id) == []  # nothing saved
    level = p.api.post(
        "/api/evaluators/drafts/from-label", json={**label, "kind": "code", "rule": "error_level"}
    ).json()["definition"]
    assert (level["check"], level["variables"]) == ("contains", {"text": "level"})
    # every trace takes 500 ms here: no latency rule tells the label apart
    slow = p.api.post(
        "/api/evaluators/drafts/from-label", json={**label, "kind": "code", "rule": "latency_above"}
    )
    assert slow.status_code == 400 and "slower" in slow.text
    for bad, words in (({**label, "evaluator": {"type": "code"}}, "check"),
                       ({**label, "evaluator": regex, "limit": 10_000}, "limit"),
                       ({**label}, "evaluator"),
                       ({**label, "kind": "code", "rule": "magic"}, "rule")):  # fmt: skip
        path = "from-label" if "rule" in bad else "align"
        r = p.api.post(f"/api/evaluators/drafts/{path}", json=bad)
        assert r.status_code == 400 and words in r.text, (bad, r.text)
    other = Project(app, fake)
    assert (
        other.api.get(f"/api/evaluators/drafts/alignments/{started.json()['id']}").status_code
        == 404
    )


def test_a_latency_rule_splits_between_the_medians(app: TestClient, fake: FakeProvider) -> None:
    p = Project(app, fake)
    for n in range(8):
        p.trace(n, "ok", ms=4000 + n * 100 if n < 4 else 1000 + n * 100)
        p.label(n, "too_slow", n < 4, "waited")
    r = p.api.post(
        "/api/evaluators/drafts/from-label",
        json={"scoreName": "too_slow", "positive": True, "kind": "code", "rule": "latency_above"},
    )
    assert r.status_code == 200, r.text
    definition = r.json()["definition"]
    assert definition["check"] == "latency_above"
    assert definition["args"]["ms"] == pytest.approx((4150 + 1550) / 2)  # the medians
    started = p.api.post(
        "/api/evaluators/drafts/align",
        json={"scoreName": "too_slow", "positive": True, "evaluator": definition},
    )
    assert wait_job(p.api, started.json()["jobId"])["status"] == "done"
    result = p.api.get(f"/api/evaluators/drafts/alignments/{started.json()['id']}").json()
    assert (result["true_positive_rate"], result["true_negative_rate"]) == (1.0, 1.0)


# -- the whole loop: notes -> error analysis -> accepted category -> evaluator -> alignment ---

HALLUCINATION_NOTES = [
    "made up a refund rule", "invented a double refund policy that does not exist",
    "quoted a refund rule we never had", "promised money back twice, not our policy",
    "fabricated the returns policy", "hallucinated a refund guarantee",
]  # fmt: skip
RUDE_NOTES = [
    "curt and dismissive", "rude to the customer", "told the user to stop asking",
    "sarcastic reply", "impolite tone, no apology", "brushed the customer off",
]  # fmt: skip


def test_notes_to_categories_to_an_aligned_evaluator(app: TestClient, fake: FakeProvider) -> None:
    """The loop of issue 16 through its public APIs and pages: reviewers comment on traces,
    error analysis proposes categories, the reviewer fixes and accepts them, the accepted
    category drafts a judge on the page, and the judge is aligned with the labels."""
    p = Project(app, fake)
    notes: dict[str, bool] = {}  # note -> is a hallucination
    for n, (label, marked) in DATA.items():
        p.trace(n, f"Answer {n}: " + (f"per {MARKER} you get double back" if marked else "ok"))
        note = (HALLUCINATION_NOTES if label == HALLUCINATED else RUDE_NOTES)[n % 6]
        notes[note] = label == HALLUCINATED
        comment = {"objectType": "TRACE", "objectId": tid(n), "content": note}
        r = p.api.post("/api/public/comments", json=comment)
        assert r.status_code == 200, r.text
    r = p.api.post(
        "/api/error-analysis", json={"source": "comments", "from": "2025-11-01T00:00:00Z"}
    )
    assert r.status_code == 200, r.text
    aid = r.json()["id"]
    assert sum(c["count"] for c in r.json()["categories"]) == 12

    def analysis() -> list[dict[str, Any]]:
        return p.api.get(f"/api/error-analysis/{aid}").json()["categories"]

    def where(kind: bool) -> list[tuple[str, str]]:  # (category id, note id)
        return [
            (c["id"], x["id"]) for c in analysis() for x in c["notes"] if notes[x["note"]] is kind
        ]

    def gather(kind: bool, avoid: str | None) -> str:
        """A category (not Other, not ``avoid``) holding every note of ``kind``: one that
        holds some already, else one split off with them."""
        held = [c for c, _ in where(kind) if c not in ("other", avoid)]
        if held:
            target = held[0]
        else:
            source, _ = where(kind)[0]
            ids = [i for c, i in where(kind) if c == source]
            r = p.api.post(
                f"/api/error-analysis/{aid}/categories/{source}/split", json={"noteIds": ids}
            )
            assert r.status_code == 200, r.text
            target = r.json()["result"]
        r = p.api.post(f"/api/error-analysis/{aid}/move",
                       json={"noteIds": [i for _, i in where(kind)], "to": target})  # fmt: skip
        assert r.status_code == 200, r.text
        return target

    # the reviewer's edits: every hallucination note in one category, every rude one in another
    first = gather(True, None)
    second = gather(False, first)
    for cid, label in ((first, HALLUCINATED), (second, RUDE)):
        r = p.api.patch(f"/api/error-analysis/{aid}/categories/{cid}", json={"label": label})
        assert r.status_code == 200, r.text
    assert {c for c, _ in where(True)} == {first} and {c for c, _ in where(False)} == {second}
    accepted = p.api.post(f"/api/error-analysis/{aid}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["scores"] == 12

    # the category's "Create evaluator" link opens a judge drafted from it (the admin's page)
    page = app.get("/evaluators/new", params={"project": p.id, "from_category": f"{aid}:{first}"})
    assert page.status_code == 200, page.text
    text = _textarea(page.text)
    assert "name: failure_hallucinated_refund" in text and "type: llm_judge" in text
    assert any(note in text for note in HALLUCINATION_NOTES)

    # saved paused, aligned against the people's labels: the figures the data implies
    label = {"scoreName": "failure_mode", "positive": HALLUCINATED}
    draft = p.api.post("/api/evaluators/drafts/from-label", json={**label, "kind": "judge"})
    assert draft.status_code == 200, draft.text
    definition = draft.json()["definition"]
    assert p.api.post("/api/evaluators/drafts", json=definition).status_code == 201
    started = p.api.post(f"/api/evaluators/{definition['name']}/align",
                         json={"scoreName": "failure_mode", "positive": HALLUCINATED})  # fmt: skip
    assert wait_job(p.api, started.json()["jobId"])["status"] == "done"
    result = p.api.get(f"/api/evaluators/{definition['name']}/alignment").json()
    assert result["labelled"] == 12
    assert result["true_positive_rate"] == pytest.approx(5 / 6)
    assert result["true_negative_rate"] == pytest.approx(5 / 6)
    assert {d["traceId"] for d in result["disagreements"]} == {tid(5), tid(10)}
