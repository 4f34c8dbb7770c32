"""Evaluators in the runner, on a real store: filter, sampling, delay, once per version, new
versions, observations and sessions as targets, judge traces skipped, paused evaluators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from heron.config import document
from heron.evals.task import EvaluatorTask, SessionEvaluatorTask, sampled, score_id
from heron.model import ObservationRecord, TraceUpdate
from heron.runner import Runner
from heron.store import EmbeddedStore


def us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


T0 = datetime(2026, 11, 30, 9, 0, 0)


def tid(n: int) -> str:
    return f"{n:032x}"


class Clock:
    """The runner's clock, a minute ahead of the wall clock unless moved (traces record when
    they were written by the wall clock; the delay counts from then)."""

    def __init__(self) -> None:
        self.ahead = timedelta(minutes=1)

    def __call__(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None) + self.ahead


def add_trace(
    store: EmbeddedStore,
    project: str,
    n: int,
    *,
    name: str = "support-chat",
    output: str = "We will refund you.",
    user: str = "Can I get my money back?",
    session: str | None = None,
    environment: str | None = None,
    at: datetime = T0,
    generation: str | None = None,
) -> None:
    obs = [
        ObservationRecord(
            project_id=project, id=f"{n:016x}", trace_id=tid(n), parent_id=None, type="span",
            name=name, start_us=us(at), end_us=us(at) + 800_000,
            input=f'"{user}"', output=f'"{output}"',
        )
    ]  # fmt: skip
    if generation:
        obs.append(
            ObservationRecord(
                project_id=project, id=f"{n + 10_000:016x}", trace_id=tid(n),
                parent_id=f"{n:016x}", type="generation", name=generation, model="gpt-4o-mini",
                start_us=us(at) + 1000, end_us=us(at) + 500_000, input='"prompt"',
                output=f'"{output} (model)"',
            )
        )  # fmt: skip
    store.write_batch(
        obs,
        [
            TraceUpdate(
                project_id=project,
                trace_id=tid(n),
                is_root=True,
                session_id=session,
                environment=environment,
                name=name,
                input=f'"{user}"',
                output=f'"{output}"',
            )
        ],
    )


def define(store: EmbeddedStore, project: str, text: str) -> None:
    document.apply(
        store,
        project,
        document.plan(store, project, document.parse_document(text)),
        lambda key: ("x", "x"),
    )


def eval_scores(store: EmbeddedStore, project: str) -> list[dict]:
    rows = (
        store.cursor()
        .execute(
            "SELECT id, name, trace_id, observation_id, session_id, value, string_value, "
            "comment, metadata FROM scores WHERE project_id = ? AND source = 'EVAL' ORDER BY id",
            [project],
        )
        .fetchall()
    )
    names = ("id", "name", "trace_id", "observation_id", "session_id", "value", "string_value",
             "comment", "metadata")  # fmt: skip
    out = [dict(zip(names, r, strict=True)) for r in rows]
    assert len({r["id"] for r in out}) == len(out)
    return out


CONTAINS = """
evaluators:
  - name: mentions-refund
    type: code
    check: contains
    args: {any: [refund], case_sensitive: false}
    variables: {text: output}
    filter: [{column: name, operator: "=", value: support-chat}]
    delay_seconds: 0
"""


@pytest.fixture
def project(store: EmbeddedStore) -> str:
    return store.create_project("evals")["id"]


def run(store: EmbeddedStore, clock: Clock | None = None) -> Runner:
    runner = Runner(store, [EvaluatorTask(), SessionEvaluatorTask()], clock=clock or Clock())
    runner.run_until_idle()
    return runner


def test_a_code_evaluator_scores_matching_traces_once(store: EmbeddedStore, project: str) -> None:
    runner = run(store)  # the tasks start at the current change marker
    define(store, project, CONTAINS)
    add_trace(store, project, 1)
    add_trace(store, project, 2, output="I cannot help with that.")
    add_trace(store, project, 3, name="other-route")
    runner.run_until_idle()
    scores = {s["trace_id"]: s for s in eval_scores(store, project)}
    assert set(scores) == {tid(1), tid(2)}
    assert (scores[tid(1)]["value"], scores[tid(2)]["value"]) == (1.0, 0.0)
    ev = store.get_evaluator(project, "mentions-refund")
    meta = scores[tid(1)]["metadata"]
    assert '"evaluator_version":1' in meta.replace(" ", "") and ev["id"] in meta
    assert scores[tid(1)]["id"] == score_id(ev["id"], 1, project, tid(1), None)
    # a late span on a scored trace: the same version does not evaluate it again
    add_trace(store, project, 1, output="No refund after all.")
    runner.run_until_idle()
    stats = store.evaluator_stats(project, ev["id"])
    assert stats[0]["scored"] == 2
    assert {s["trace_id"]: s["value"] for s in eval_scores(store, project)}[tid(1)] == 1.0


def test_the_delay_waits_for_the_trace_to_settle(store: EmbeddedStore, project: str) -> None:
    clock = Clock()
    clock.ahead = timedelta(0)
    runner = run(store, clock)
    define(store, project, CONTAINS.replace("delay_seconds: 0", "delay_seconds: 30"))
    add_trace(store, project, 1)
    runner.run_until_idle()
    assert eval_scores(store, project) == []
    assert store.runner_next_due(["evaluators"]) is not None
    clock.ahead = timedelta(seconds=31)
    runner.run_until_idle()
    assert [s["trace_id"] for s in eval_scores(store, project)] == [tid(1)]


def test_a_new_version_replaces_the_old_score_on_reevaluation(
    store: EmbeddedStore, project: str
) -> None:
    runner = run(store)
    define(store, project, CONTAINS)
    add_trace(store, project, 1, output="Refund approved")
    runner.run_until_idle()
    define(store, project, CONTAINS.replace("any: [refund]", "any: [approved, refund]"))
    for task in runner.tasks.values():
        task.refresh()  # the server's API does this on every change
    ev = store.get_evaluator(project, "mentions-refund")
    assert ev["version"] == 2
    job = runner.start_job(project, ["evaluators"], options={"evaluators": [ev["id"]]})
    runner.run_until_idle()
    assert store.runner_job(job["id"])["status"] == "done"
    scores = eval_scores(store, project)
    assert [s["id"] for s in scores] == [score_id(ev["id"], 2, project, tid(1), None)]


def test_sampling_is_deterministic_and_close_to_its_rate(
    store: EmbeddedStore, project: str
) -> None:
    runner = run(store)
    define(store, project, CONTAINS + "    sampling: 0.3\n")
    for n in range(1, 201):
        add_trace(store, project, n)
    runner.run_until_idle()
    ev = store.get_evaluator(project, "mentions-refund")
    scored = {s["trace_id"] for s in eval_scores(store, project)}
    expected = {tid(n) for n in range(1, 201) if sampled(ev["id"], tid(n), 0.3)}
    assert scored == expected
    assert 40 <= len(scored) <= 80


def test_judge_traces_and_paused_evaluators_are_left_alone(
    store: EmbeddedStore, project: str
) -> None:
    runner = run(store)
    define(store, project, CONTAINS)
    add_trace(store, project, 1, environment="heron-evaluation")
    runner.run_until_idle()
    assert eval_scores(store, project) == []
    ev = store.get_evaluator(project, "mentions-refund")
    store.set_evaluator_status(project, ev["id"], "paused", "by a test")
    for task in runner.tasks.values():
        task.refresh()
    add_trace(store, project, 2)
    runner.run_until_idle()
    assert eval_scores(store, project) == []


def test_observation_and_session_targets(store: EmbeddedStore, project: str) -> None:
    runner = run(store)
    define(
        store,
        project,
        """
evaluators:
  - name: generation-refund
    type: code
    check: contains
    args: {any: [model]}
    variables: {text: output}
    target: observations
    observation: {type: GENERATION, name: answer}
    delay_seconds: 0
  - name: session-refund
    type: code
    check: contains
    args: {all: [money back, refund]}
    variables: {text: conversation}
    target: sessions
    delay_seconds: 0
""",
    )
    add_trace(store, project, 1, session="s1", generation="answer")
    add_trace(store, project, 2, session="s1", generation="other", output="Anything else?")
    add_trace(store, project, 3, session="s2", user="hello", output="hi")
    runner.run_until_idle()
    scores = eval_scores(store, project)
    generation = [s for s in scores if s["name"] == "generation-refund"]
    assert [(s["trace_id"], s["observation_id"], s["value"]) for s in generation] == [
        (tid(1), f"{1 + 10_000:016x}", 1.0)
    ]
    sessions = {s["session_id"]: s["value"] for s in scores if s["name"] == "session-refund"}
    assert sessions == {"s1": 1.0, "s2": 0.0}
