"""Configuration as code: POST /api/config/apply, GET /api/config, and the evaluator and
connection APIs behind them, on the real app and store."""

from __future__ import annotations

import textwrap

import duckdb
import pytest
import yaml
from fastapi.testclient import TestClient

DOC = textwrap.dedent(
    """
    score_configs:
      - {name: helpfulness, data_type: NUMERIC, min: 0, max: 1}
      - {name: verdict, data_type: CATEGORICAL, categories: [good, bad]}
    connections:
      - {name: judge, base_url: "http://127.0.0.1:9/v1", api_key: "sk-test-abcdef-1234",
         model: gpt-4o-mini, headers: {X-Team: evals}}
    evaluators:
      - name: mentions-refund
        type: code
        check: contains
        args: {any: [refund], case_sensitive: false}
        variables: {text: output}
        target: traces
        filter: [{column: name, operator: "=", value: support-chat}]
      - name: helpfulness
        type: llm_judge
        connection: judge
        score_config: helpfulness
        prompt: "Rate from 0 to 1 how helpful the answer is.\\nQuestion: {{input}}\\n\
          Answer: {{output}}"
        variables: {input: input, output: output}
        target: traces
        sampling: 0.5
        delay_seconds: 10
    """
)


def apply(client: TestClient, text: str, dry_run: bool = False) -> dict:
    r = client.post(
        f"/api/config/apply?dry_run={str(dry_run).lower()}",
        content=text,
        headers={"Content-Type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def actions(result: dict) -> dict[tuple[str, str], str]:
    return {(c["kind"], c["name"]): c["action"] for c in result["changes"]}


def test_dry_run_plans_then_apply_creates_and_reapplying_changes_nothing(
    client: TestClient,
) -> None:
    planned = apply(client, DOC, dry_run=True)
    assert planned["dry_run"] is True
    assert set(actions(planned).values()) == {"create"}
    assert client.get("/api/evaluators").json()["data"] == []  # a dry run changes nothing
    assert actions(apply(client, DOC)) == {
        ("score_config", "helpfulness"): "create",
        ("score_config", "verdict"): "create",
        ("connection", "judge"): "create",
        ("evaluator", "mentions-refund"): "create",
        ("evaluator", "helpfulness"): "create",
    }
    again = apply(client, DOC)
    assert set(actions(again).values()) == {"unchanged"}
    evaluators = {e["name"]: e for e in client.get("/api/evaluators").json()["data"]}
    assert {n: (e["version"], e["status"], e["type"]) for n, e in evaluators.items()} == {
        "helpfulness": (1, "active", "llm_judge"),
        "mentions-refund": (1, "active", "code"),
    }


def test_an_export_applies_back_unchanged_and_leaves_the_key_out(client: TestClient) -> None:
    apply(client, DOC)
    exported = client.get("/api/config").text
    assert "sk-test-abcdef-1234" not in exported
    doc = yaml.safe_load(exported)
    assert [c["name"] for c in doc["connections"]] == ["judge"]
    assert "api_key" not in doc["connections"][0]
    assert set(actions(apply(client, exported)).values()) == {"unchanged"}
    as_json = client.get("/api/config?format=json").json()
    assert as_json == doc


def test_an_edit_makes_a_new_version_and_keeps_the_old_ones(client: TestClient) -> None:
    apply(client, DOC)
    edited = DOC.replace("any: [refund]", "any: [refund, reimburse]")
    assert actions(apply(client, edited))[("evaluator", "mentions-refund")] == "update"
    detail = client.get("/api/evaluators/mentions-refund").json()
    assert detail["version"] == 2
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["versions"][1]["definition"]["args"]["any"] == ["refund"]
    assert detail["definition"]["args"]["any"] == ["refund", "reimburse"]


def test_every_problem_is_listed_with_its_path_and_nothing_changes(client: TestClient) -> None:
    bad = textwrap.dedent(
        """
        score_configs:
          - {name: helpfulness, data_type: NUMERIC, min: 2, max: 1}
        connections:
          - {name: judge, base_url: "ftp://nowhere", model: m}
        evaluators:
          - {name: a, type: code, check: no_such_check}
          - {name: b, type: llm_judge, connection: missing, prompt: "no variables here"}
          - {name: c, type: code, check: contains, args: {any: []}, colour: blue}
          - {name: a, type: code, check: json_valid}
        dashboards: []
        """
    )
    r = client.post("/api/config/apply", content=bad)
    assert r.status_code == 400, r.text
    problems = {(p["path"], p["message"]) for p in r.json()["error"]["problems"]}
    paths = {p for p, _ in problems}
    for expected in (
        "dashboards",
        "score_configs[0].min",
        "connections[0].base_url",
        "connections[0].api_key",
        "evaluators[0].check",
        "evaluators[1].connection",
        "evaluators[1].prompt",
        "evaluators[2].colour",
        "evaluators[3].name",
    ):
        assert expected in paths, (expected, sorted(problems))
    assert any(p.startswith("evaluators[2].args") for p in paths)
    assert client.get("/api/evaluators").json()["data"] == []
    assert client.get("/api/public/score-configs").json()["data"] == []


@pytest.mark.parametrize(
    "text",
    ["{unclosed", "- just\n- a list", "evaluators: {not: a list}"],
)
def test_malformed_documents_get_a_400(module_client: TestClient, text: str) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    r = client.post("/api/config/apply", content=text)
    assert r.status_code == 400
    assert r.json()["error"]["message"]


def test_the_connection_key_is_encrypted_at_rest_and_never_returned(
    client: TestClient, settings
) -> None:
    apply(client, DOC)
    listed = client.get("/api/connections").json()["data"]
    assert listed[0]["api_key_hint"].endswith("1234")
    assert "sk-test-abcdef-1234" not in client.get("/api/connections").text
    client.app.state.heron.store.checkpoint()
    with open(settings.db_path, "rb") as f:
        assert b"sk-test-abcdef-1234" not in f.read()
    stored = client.app.state.heron.store.get_connection(
        client.app.state.heron.store.project_by_name("test")["id"], "judge", with_key=True
    )
    assert stored["api_key"] and "sk-test" not in stored["api_key"]
    # an update without a key keeps the stored one
    r = client.post(
        "/api/connections",
        json={"name": "judge", "base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o"},
    )
    assert r.status_code == 200, r.text
    again = client.app.state.heron.store.get_connection(stored["project_id"], "judge", True)
    assert again["api_key"] == stored["api_key"] and again["spec"]["model"] == "gpt-4o"


def test_a_connection_in_use_cannot_be_deleted(client: TestClient) -> None:
    apply(client, DOC)
    r = client.delete("/api/connections/judge")
    assert r.status_code == 409 and "helpfulness" in r.json()["error"]["message"]
    assert client.delete("/api/evaluators/helpfulness").status_code == 200
    assert client.delete("/api/connections/judge").status_code == 200
    assert client.delete("/api/connections/judge").status_code == 404


def test_projects_are_apart_and_the_admin_token_names_one(client: TestClient) -> None:
    apply(client, DOC)
    st = client.app.state.heron
    other = st.store.create_project("other")
    key = st.store.create_key(other["id"])
    headers = {"Authorization": f"Bearer {key['secret_key']}"}
    assert client.get("/api/evaluators", headers=headers).json()["data"] == []
    assert client.get("/api/evaluators/helpfulness", headers=headers).status_code == 404
    assert client.delete("/api/evaluators/helpfulness", headers=headers).status_code == 404
    admin = {"Authorization": f"Bearer {st.admin_token}"}
    names = [
        e["name"] for e in client.get("/api/evaluators?project=test", headers=admin).json()["data"]
    ]
    assert names == ["helpfulness", "mentions-refund"]
    assert client.get("/api/evaluators", headers=admin).status_code == 400
    assert client.get("/api/evaluators?project=test").status_code == 400  # a key names none


def test_a_read_key_reads_but_cannot_change(client: TestClient) -> None:
    apply(client, DOC)
    st = client.app.state.heron
    project = st.store.project_by_name("test")
    key = st.store.create_key(project["id"], scope="read")
    headers = {"Authorization": f"Bearer {key['secret_key']}"}
    assert len(client.get("/api/evaluators", headers=headers).json()["data"]) == 2
    r = client.post("/api/config/apply", content=DOC, headers=headers)
    assert r.status_code == 403
    r = client.post("/api/evaluators/helpfulness/pause", headers=headers)
    assert r.status_code == 403


def test_custom_evaluators_need_an_allowed_module(client: TestClient) -> None:
    doc = (
        "evaluators:\n  - {name: mine, type: custom, function: 'os:system', "
        "variables: {text: output}}\n"
    )
    r = client.post("/api/config/apply", content=doc)
    assert r.status_code == 400
    assert "HERON_EVALUATOR_MODULES" in r.text


def test_the_store_file_holds_no_plain_key_after_restart(tmp_path, settings) -> None:
    """The database file read raw (after the server closed it) has only the ciphertext."""
    from heron.server.app import create_app
    from tests.support.server import SECRET_KEY

    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        apply(c, DOC)
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        (token,) = con.execute("SELECT api_key FROM llm_connections").fetchone()
    finally:
        con.close()
    assert token and "sk-test-abcdef-1234" not in token


def test_try_shows_the_variables_and_the_score_without_storing_it(client: TestClient) -> None:
    from heron.model import ObservationRecord, TraceUpdate

    st = client.app.state.heron
    project = st.store.project_by_name("test")["id"]
    trace_id = "ab" * 16
    st.store.write_batch(
        [
            ObservationRecord(
                project_id=project, id="cd" * 8, trace_id=trace_id, parent_id=None,
                type="span", name="support-chat", start_us=1_764_000_000_000_000,
                end_us=1_764_000_001_000_000, output='"You can get a Refund within 30 days."',
            )
        ],
        [TraceUpdate(project_id=project, trace_id=trace_id, is_root=True,
                     output='"You can get a Refund within 30 days."')],
    )  # fmt: skip
    definition = {
        "type": "code",
        "check": "contains",
        "args": {"any": ["refund"]},
        "variables": {"text": "output"},
    }
    r = client.post("/api/evaluators/try", json={"evaluator": definition, "trace_id": trace_id})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["variables"] == {"text": "You can get a Refund within 30 days."}
    assert out["score"]["value"] is True and out["error"] is None
    assert "refund" in out["score"]["comment"].lower()
    assert client.get("/api/public/v2/scores").json()["data"] == []
    r = client.post("/api/evaluators/try", json={"evaluator": definition, "trace_id": "ff" * 16})
    assert r.status_code == 404
    bad = {**definition, "check": "nope"}
    r = client.post("/api/evaluators/try", json={"evaluator": bad, "trace_id": trace_id})
    assert r.status_code == 400 and r.json()["error"]["problems"][0]["path"] == "$.check"


def test_test_connection_answers_ok_or_names_the_failure(client: TestClient) -> None:
    from tests.evals.fake_openai import FakeProvider

    with FakeProvider() as fake:
        fake.api_key = "sk-right-key-000000"
        for name, key in (("good", "sk-right-key-000000"), ("bad", "sk-wrong-key-000000")):
            r = client.post(
                "/api/connections",
                json={"name": name, "base_url": fake.base_url, "api_key": key,
                      "model": "gpt-4o-mini", "headers": {"X-Team": "evals"}},
            )  # fmt: skip
            assert r.status_code == 201, r.text
        good = client.post("/api/connections/good/test").json()
        assert good["ok"] is True, good
        assert fake.requests[-1].headers["x-team"] == "evals"
        bad = client.post("/api/connections/bad/test").json()
        assert bad["ok"] is False and "auth" in bad["message"].lower()
    assert client.post("/api/connections/nope/test").status_code == 404
