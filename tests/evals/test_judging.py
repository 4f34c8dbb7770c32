"""LLM-judge evaluators in the runner against a local server speaking the OpenAI protocol:
scores with the reasoning as comment, every call a trace of heron-evaluation (hidden from
default views), conversations for session templates, pausing a failing evaluator, estimates."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from heron.config import document
from heron.evals.judging import estimate
from heron.evals.secrets import encrypt, hint, server_key
from heron.evals.task import PAUSE_AFTER
from heron.query import parse_filters
from heron.store import EmbeddedStore, ListQuery
from tests.evals.fake_openai import FakeProvider, fail
from tests.evals.test_task import add_trace, eval_scores, run, tid


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def project(store: EmbeddedStore) -> str:
    return store.create_project("judged")["id"]


def define(store: EmbeddedStore, project: str, fake: FakeProvider, evaluators: str) -> None:
    key = server_key(store.path.parent, os.environ)
    text = (
        "connections:\n"
        f"  - {{name: judge, base_url: '{fake.base_url}', api_key: sk-test-judge-0000,"
        " model: gpt-4o-mini, max_concurrency: 4, timeout_seconds: 5}\n" + evaluators
    )
    changes = document.plan(store, project, document.parse_document(text))
    document.apply(store, project, changes, lambda k: (encrypt(k, key), hint(k)))


HELPFUL = """
evaluators:
  - name: helpful
    type: llm_judge
    connection: judge
    template: helpfulness
    delay_seconds: 0
"""


def test_a_judge_scores_with_its_reasoning_and_records_its_call(
    store: EmbeddedStore, project: str, fake: FakeProvider
) -> None:
    fake.value = 0.75
    runner = run(store)
    define(store, project, fake, HELPFUL)
    add_trace(store, project, 1, user="How do I reset my password?", output="Click 'Forgot'.")
    runner.run_until_idle()
    (score,) = eval_scores(store, project)
    assert (score["trace_id"], score["value"]) == (tid(1), 0.75)
    assert score["comment"] == fake.reasoning
    assert len(fake.requests) == 1
    sent = fake.requests[0]
    prompt = sent.body["messages"][-1]["content"]
    assert "How do I reset my password?" in prompt and "Click 'Forgot'." in prompt
    assert sent.headers["authorization"] == "Bearer sk-test-judge-0000"
    # the call is a trace of the project in heron-evaluation, with tokens and cost
    hidden = store.list_traces(project, ListQuery(limit=50))
    assert [t["id"] for t in hidden.data] == [tid(1)]
    shown = store.list_traces(
        project,
        ListQuery(
            limit=50,
            filters=parse_filters(
                [{"column": "environment", "operator": "=", "value": "heron-evaluation"}]
            ),
        ),
    )
    (judge_trace,) = shown.data
    assert judge_trace["name"] == "judge helpful"
    assert judge_trace["total_cost"] and judge_trace["total_cost"] > 0
    import orjson

    assert orjson.loads(score["metadata"])["judge_trace_id"] == judge_trace["id"]
    # the judge's own trace is never judged, and a late span does not call the judge again
    add_trace(store, project, 1, user="How do I reset my password?", output="Click 'Forgot'.")
    runner.run_until_idle()
    assert len(fake.requests) == 1


def test_a_session_template_reads_the_conversation(
    store: EmbeddedStore, project: str, fake: FakeProvider
) -> None:
    fake.value = "strong"
    runner = run(store)
    define(
        store,
        project,
        fake,
        """
evaluators:
  - {name: frustration, type: llm_judge, connection: judge, template: user_frustration,
     target: sessions, delay_seconds: 0}
""",
    )
    add_trace(store, project, 1, session="s1", user="Where is my order?", output="In transit.")
    add_trace(store, project, 2, session="s1", user="THAT IS WHAT YOU SAID YESTERDAY!!",
              output="I understand.")  # fmt: skip
    runner.run_until_idle()
    scores = eval_scores(store, project)
    assert [(s["session_id"], s["string_value"]) for s in scores] == [("s1", "strong")]
    prompt = fake.requests[-1].body["messages"][-1]["content"]
    assert "User: Where is my order?" in prompt
    assert "Assistant: I understand." in prompt


def test_a_provider_that_keeps_failing_pauses_the_evaluator_with_its_error(
    store: EmbeddedStore, project: str, fake: FakeProvider
) -> None:
    fake.api_key = "sk-another-key"  # every call: 401, not retried
    runner = run(store)
    define(store, project, fake, HELPFUL)
    for n in range(1, PAUSE_AFTER + 3):
        add_trace(store, project, n)
    runner.run_until_idle()
    ev = store.get_evaluator(project, "helpful")
    assert ev["status"] == "paused"
    assert "auth" in (ev["status_reason"] or "").lower()
    assert eval_scores(store, project) == []
    stats = store.evaluator_stats(project, ev["id"])
    assert stats[0]["failed"] >= PAUSE_AFTER and stats[0]["last_error"]
    log = store.evaluator_log(project, ev["id"])
    assert log and log[0]["level"] == "error"


def test_a_rate_limited_provider_is_retried_and_scores_land(
    store: EmbeddedStore, project: str, fake: FakeProvider
) -> None:
    fake.value = 1.0
    fake.script(fail(429, retry_after="0.2"), fail(503))
    runner = run(store)
    define(store, project, fake, HELPFUL)
    add_trace(store, project, 1)
    runner.run_until_idle()
    assert [s["value"] for s in eval_scores(store, project)] == [1.0]
    assert len(fake.requests) == 3


def test_a_backfill_estimate_prices_the_calls(
    store: EmbeddedStore, project: str, fake: FakeProvider
) -> None:
    define(store, project, fake, HELPFUL.replace("delay_seconds: 0", "sampling: 0.5"))
    for n in range(1, 41):
        add_trace(store, project, n, user="x" * 400)
    ev = store.get_evaluator(project, "helpful")
    out = estimate(store, ev, None, None, None)
    assert out["targets"] == 20 and out["model"] == "gpt-4o-mini"
    assert out["input_tokens_per_call"] > 100
    assert out["cost_usd"] and 0 < out["cost_usd"] < 1


def test_a_score_config_gives_the_judge_its_categories_and_the_score_its_config(
    store: EmbeddedStore, project: str, fake: FakeProvider
) -> None:
    fake.value = "bad"
    runner = run(store)
    define(
        store,
        project,
        fake,
        """
score_configs:
  - {name: verdict, data_type: CATEGORICAL, categories: [good, bad]}
evaluators:
  - {name: verdict, type: llm_judge, connection: judge, score_config: verdict,
     prompt: "Judge this answer: {{output}}", delay_seconds: 0}
""",
    )
    add_trace(store, project, 1)
    runner.run_until_idle()
    (score,) = eval_scores(store, project)
    assert (score["string_value"], score["value"]) == ("bad", 1.0)
    config_id = store.cursor().execute("SELECT config_id FROM scores").fetchone()[0]
    (config,) = [c for c in store.list_score_configs(project, 1, 10)[0] if c["name"] == "verdict"]
    assert config_id == config["id"]
    schema = str(fake.requests[-1].body.get("response_format"))
    assert "good" in schema and "bad" in schema
