"""Each detector on small sessions: what it finds, with its evidence, and the hard negatives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from heron.implicit import (
    VERSION,
    FeedbackConfig,
    FeedbackConfigError,
    Turn,
    contradiction,
    detect_session,
)
from heron.userregex import RegexError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "implicit" / "data"
T0 = datetime(2026, 5, 4, 12, 0, 0)
LATER = timedelta(hours=2)
GOOD = "Open Settings > Security and choose 'Reset password'; we email you a link."


def session(*turns: tuple) -> list[Turn]:
    """(seconds, user, answer[, level[, latency_ms]]) -> turns with ids t0, t1, ..."""
    out = []
    for i, spec in enumerate(turns):
        secs, user, answer, *rest = spec
        level = rest[0] if rest else None
        latency = rest[1] if len(rest) > 1 else 900.0
        out.append(Turn(f"t{i}", T0 + timedelta(seconds=secs), user, answer, level, latency))
    return out


def found(turns, config=None, now=None) -> set[tuple[str, str]]:
    now = now or turns[-1].timestamp + timedelta(minutes=1)
    return {(d.name, d.trace_id) for d in detect_session(turns, config or FeedbackConfig(), now)}


def only(name: str, turns, **kw) -> set[str]:
    return {tid for n, tid in found(turns, **kw) if n == name}


# retry


def test_retry_after_error_names_the_evidence():
    turns = session((0, "Reset my password", None, "ERROR"), (40, "reset my pasword", GOOD))
    [d] = [d for d in detect_session(turns, FeedbackConfig(), T0) if d.name == "implicit_retry"]
    assert d.trace_id == "t0"
    assert (
        d.comment
        == 'retry: "reset my pasword" repeats "Reset my password" 40 s later after an error'
    )
    assert d.metadata["reacting_trace_id"] == "t1"
    assert d.metadata["detector_version"] == VERSION
    assert d.metadata["gap_s"] == 40.0 and d.metadata["similarity"] > 0.9


def test_retry_negatives():
    # a different question, a short "yes" twice after fine answers, a repeat hours later
    assert not only(
        "implicit_retry", session((0, "Reset my password", GOOD), (30, "Reset my email", GOOD))
    )
    assert not only("implicit_retry", session((0, "yes", "Done."), (20, "yes", "Done too.")))
    turns = session((0, "Reset my password", GOOD), (3 * 3600, "Reset my password", GOOD))
    assert not only("implicit_retry", turns)


# rephrase


def test_rephrase_in_other_words_after_a_refusal():
    turns = session(
        (0, "How do I reset my password?", "I'm sorry, but I can't help with that."),
        (30, "my login stopped working, what do I do to get a new one", GOOD),
    )
    assert only("implicit_rephrase", turns) == {"t0"}


def test_rephrase_negatives():
    # a new question on the same topic after a good answer
    turns = session(
        (0, "How do I reset my password?", GOOD), (60, "How long is the reset link valid?", "24 h.")
    )
    assert not only("implicit_rephrase", turns)
    # answering the assistant's question
    turns = session(
        (0, "How do I reset my password?", "Are you signing in with email or with Google?"),
        (20, "I sign in with my google account", GOOD),
    )
    assert not only("implicit_rephrase", turns)
    # "and what about ..." after a refusal is a follow-up
    turns = session(
        (0, "What's the derivative of x squared?", "I'm not able to answer that."),
        (20, "And the derivative of x cubed?", "3x²"),
    )
    assert not only("implicit_rephrase", turns)
    # a different question after an error
    turns = session(
        (0, "Best time to visit Iceland?", None, "ERROR"),
        (30, "How do I bake sourdough bread?", "..."),
    )
    assert not only("implicit_rephrase", turns)


# disagreement


@pytest.mark.parametrize(
    "reply",
    ["That's wrong.", "that's not what I asked", "Actually the number is 3.75 after the cut",
     "That didn't work.", "nope, same error as before", "Your site says 14 days, not 30.",
     "The steps don't work on my plan."],
)  # fmt: skip
def test_disagreement(reply):
    turns = session((0, "What's the rate?", "It is 4.5%."), (30, reply, "Sorry!"))
    assert only("implicit_disagreement", turns) == {"t0"}


@pytest.mark.parametrize(
    "reply",
    ["no thanks, that's all", "No worries", "nope, all good", "no problem, thanks for checking",
     "How long does it take?", "great, that worked", "There's no rush on this",
     # a new problem, not about the answer
     "The amount on my invoice doesn't match the Pro price on your website."],
)  # fmt: skip
def test_disagreement_negatives(reply):
    turns = session((0, "What's the rate?", "It is 4.5%. Anything else?"), (30, reply, "Bye!"))
    assert not only("implicit_disagreement", turns)


DESCALE = (0, "How do I descale my kettle?", "Fill it with white vinegar, boil, leave 1 hour.")


@pytest.mark.parametrize(
    "reply",
    ["did that, the crust is still there", "Left it 2 hours, same white crust.",
     "the manual says to leave it 15 minutes", "there's no way to fill mine, the lid is sealed",
     "tried it and it made the water taste awful", "it was back within a day",
     "I'm pretty sure that's bad for the element", "the vinegar did nothing for it"],
)  # fmt: skip
def test_disagreement_stated_as_a_fact(reply):
    # no "wrong" or "didn't work": the reply reports what happened or what is true instead
    turns = session(DESCALE, (300, reply, "Sorry! Try citric acid."))
    assert only("implicit_disagreement", turns) == {"t0"}


@pytest.mark.parametrize(
    ("answer", "reply"),
    [(DESCALE[2], "Is it still safe to drink from it after?"),  # a question
     (DESCALE[2], "haven't tried it yet, will do tonight"),
     (DESCALE[2], "thanks, the old one never had this problem"),
     # a new problem, about nothing the answer said
     (DESCALE[2], "My toaster doesn't pop up."),
     ("What model is it?", "it's a Bosch, the lid doesn't open"),  # answers the question
     ("I'm sorry, I can't help with that.", "the descaler says 30 minutes")],  # after a refusal
)  # fmt: skip
def test_facts_that_do_not_contradict_the_answer(answer, reply):
    turns = session((0, "How do I descale my kettle?", answer), (60, reply, "OK."))
    assert not only("implicit_disagreement", turns)


def test_a_contradiction_in_other_words_is_judged_by_the_model():
    # "vit c" for "vitamin C", and no phrase the markers know: the contradiction model
    answer = "Yes, layering them is fine for most skin; apply vitamin C first, then retinol."
    turns = session(
        (0, "can I use retinol and vitamin c together", answer),
        (90, "my dermatologist said the exact opposite, vit c in the morning only", "Sorry."),
    )
    [d] = [d for d in detect_session(turns, FeedbackConfig(), T0) if d.name.endswith("ement")]
    assert d.trace_id == "t0" and d.metadata["reacting_trace_id"] == "t1"
    assert 0.72 <= d.metadata["contradiction_probability"] <= 1.0
    assert "a statement contradicting it" in d.comment


@pytest.mark.parametrize(
    ("answer", "reply"),
    [  # a new problem naming nothing of the answer, after an unrelated answer
     ("You're welcome! If anything else comes up, just ask here.",
      "I can't log in, it says my password is incorrect even after resetting it."),
     # a question without its "?"
     ("Lead-free solder melts at about 220C.", "is leaded solder still legal to buy in the EU"),
     # thanks, no "but"
     ("It is a chiffchaff: it sings its name.", "awesome, the one in my garden says chiff chaff")],
)  # fmt: skip
def test_statements_the_model_does_not_judge(answer, reply):
    turns = session((0, "a question", answer), (60, reply, "OK."))
    assert not only("implicit_disagreement", turns)


def test_a_polite_retry_is_a_retry_not_a_rephrase():
    turns = session(
        (0, "print my boarding pass", None, "ERROR"), (15, "print my boarding pass please", "Done.")
    )
    assert found(turns) == {("implicit_retry", "t0")}


@pytest.mark.parametrize(
    "reply",
    ["found a tiny bit of paper behind the rollers, works now!",
     "this is a joke, I asked for the cold brew concentrate ratio"],
)  # fmt: skip
def test_a_report_or_a_reaction_is_not_a_rephrase(reply):
    turns = session(
        (0, "my printer says paper jam but there's no paper in it", "Try the cold brew at 1:8."),
        (120, reply, "OK."),
    )
    assert not only("implicit_rephrase", turns)


def test_no_i_mean_is_still_a_rephrase():
    turns = session(
        (0, "How do I set up SSO?", "I'm sorry, I can't help with that."),
        (30, "No, I mean: how do we make everyone sign in through Okta?", "Use SAML."),
    )
    assert ("implicit_rephrase", "t0") in found(turns)


def test_the_shipped_model_is_what_the_training_script_writes(tmp_path):
    # the coefficients match the features the code computes: retraining reproduces them
    script = DATA / "train_contradiction.py"
    out = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path / "w.json")],
        capture_output=True, text=True, timeout=300, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    assert "threshold" in out.stdout
    shipped = json.loads(contradiction.WEIGHTS.read_text())
    assert json.loads((tmp_path / "w.json").read_text()) == shipped
    assert "fresh2.jsonl" not in shipped["trained_on"] and len(shipped["coef"]) == len(
        contradiction.CUES
    )


def test_a_contradicting_statement_is_not_a_rephrase():
    turns = session(
        (0, "why is my laptop fan loud all the time", "Clean the vents with compressed air."),
        (300, "cleaned the vents out, the fan is as loud as before", "Check Task Manager."),
    )
    found_ = found(turns)
    assert ("implicit_disagreement", "t0") in found_
    assert ("implicit_rephrase", "t0") not in found_


def test_no_answering_a_question_is_not_disagreement():
    turns = session(
        (0, "Can I take ibuprofen?", "Do you have any stomach problems?"), (20, "no, none", GOOD)
    )
    assert not only("implicit_disagreement", turns)


# frustration


@pytest.mark.parametrize(
    "reply",
    ["WHY CAN'T YOU JUST ANSWER THE QUESTION", "let me talk to a human", "are you even listening??",
     "this bot is useless", "what?! seriously?!", "???", "Agent.",
     "Seriously?? Third time I'm asking the same thing.",
     "I've been at this for an hour and got nowhere",
     "omg just answer the question", "how many times do I have to ask"],
)  # fmt: skip
def test_frustration(reply):
    turns = session((0, "Where is my order?", "I can't help with that."), (30, reply, "Sorry."))
    assert only("implicit_frustration", turns) == {"t0"}


@pytest.mark.parametrize(
    "reply",
    ["Great!!!", "THANK YOU SO MUCH", "wow that was fast!!", "Perfect, that worked!!", "ok",
     "How many times do you retry a failed webhook?"],
)  # fmt: skip
def test_frustration_negatives(reply):
    turns = session((0, "Where is my order?", "It arrives Thursday."), (30, reply, "Enjoy!"))
    assert not only("implicit_frustration", turns)


# abandonment


@pytest.mark.parametrize(
    ("answer", "level", "why"),
    [(None, "ERROR", "an error"), ("", None, "an empty answer"),
     ("I'm sorry, but I can't help with that request.", None, "a non-answer"),
     ("Which account is this about?", None, "a question to the user")],
)  # fmt: skip
def test_abandonment(answer, level, why):
    turns = session(
        (0, "Where is my order?", "It ships Monday."),
        (60, "Can I change the address?", answer, level),
    )
    [d] = [d for d in detect_session(turns, FeedbackConfig(), turns[-1].timestamp + LATER)
           if d.name == "implicit_abandonment"]  # fmt: skip
    assert d.trace_id == "t1" and d.metadata["reacting_trace_id"] is None
    assert f"ended after {why}" in d.comment and d.metadata["idle_s"] == 7200


def test_abandonment_negatives():
    after = session((0, "Where is my order?", "It arrives Thursday, tracking DHL 99120."))
    assert not only("implicit_abandonment", after, now=after[-1].timestamp + LATER)
    thanks = session(
        (0, "Where is my order?", GOOD), (30, "thanks!", "You're welcome! Anything else?")
    )
    assert not only("implicit_abandonment", thanks, now=thanks[-1].timestamp + LATER)
    offer = session(
        (0, "Summarise this", "Here is the summary: ... Would you like me to shorten it?")
    )
    assert not only("implicit_abandonment", offer, now=offer[-1].timestamp + LATER)
    bye = session((0, "Where is my order?", GOOD), (30, "ok thanks, bye", None, "ERROR"))
    assert not only("implicit_abandonment", bye, now=bye[-1].timestamp + LATER)
    # still inside the idle timeout: not judged
    open_ = session((0, "Where is my order?", None, "ERROR"))
    assert not only("implicit_abandonment", open_, now=open_[-1].timestamp + timedelta(minutes=29))
    short = FeedbackConfig(idle_timeout_s=600)
    assert only("implicit_abandonment", open_, config=short, now=T0 + timedelta(minutes=11)) == {
        "t0"
    }


def test_a_trace_without_a_user_message_is_not_a_turn():
    # a session's background job (a summary, its input a dict) that failed after the user
    # left happily: neither abandonment nor a pair of turns around it
    turns = session(
        (0, "Where is my order?", "It arrives Thursday, tracking DHL 99120."),
        (30, "thanks, bye", "You're welcome!"),
        (90, {"session_id": "s1", "turns": 2}, None, "ERROR"),
    )
    assert not found(turns, now=turns[-1].timestamp + LATER)
    # and a retry across it is still a retry of the user's request
    retry = session(
        (0, "Reset my password", None, "ERROR"),
        (10, {"session_id": "s1", "turns": 1}, "summary"),
        (40, "reset my pasword", GOOD),
    )
    assert only("implicit_retry", retry) == {"t0"}


def test_an_error_the_app_recovered_from_is_no_failure():
    # the trace's level is its worst observation's; an answer came back all the same
    recovered = session((0, "Can I change the address?", GOOD, "ERROR"))
    assert not only("implicit_abandonment", recovered, now=recovered[-1].timestamp + LATER)
    apology = "Sorry, I'm having trouble answering right now. Please try again in a minute."
    failed = session((0, "Can I change the address?", apology, "ERROR"))
    assert only("implicit_abandonment", failed, now=failed[-1].timestamp + LATER) == {"t0"}


@pytest.mark.parametrize(
    "answer",
    ["The help-center articles don't cover this. Do you want me to open a ticket?",
     "None of the articles answer this question.",
     "I looked through the docs I have access to, but couldn't find anything on that."],
)  # fmt: skip
def test_answers_that_find_nothing_are_non_answers(answer):
    turns = session((0, "Can I change the address?", answer))
    assert only("implicit_abandonment", turns, now=turns[-1].timestamp + LATER) == {"t0"}


# settings


def test_disabled_detectors_find_nothing():
    turns = session(
        (0, "Reset my password", None, "ERROR"), (40, "Reset my password", None, "ERROR")
    )
    config = FeedbackConfig(enabled=frozenset({"implicit_abandonment"}))
    assert found(turns, config, now=T0 + LATER) == {("implicit_abandonment", "t1")}
    assert found(turns, FeedbackConfig(enabled=frozenset())) == set()


def test_extra_markers_are_re2():
    turns = session((0, "Quote please", "It costs 40."), (30, "hmm, kinda pricey tbh", "OK."))
    assert not only("implicit_disagreement", turns)
    config = FeedbackConfig(extra_markers={"implicit_disagreement": ("(?i)kinda pricey",)})
    [d] = [d for d in detect_session(turns, config, T0) if d.name == "implicit_disagreement"]
    assert "marker '(?i)kinda pricey'" in d.comment
    refusal = FeedbackConfig(extra_markers={"refusal": ("^It costs",)})
    assert only("implicit_abandonment", turns[:1], config=refusal, now=T0 + LATER) == {"t0"}
    with pytest.raises(RegexError, match="lookahead"):
        FeedbackConfig(extra_markers={"implicit_frustration": ("(?=x)",)})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"enabled": frozenset({"implicit_copy"})}, "unknown detector"),
     ({"idle_timeout_s": 0}, "idle_timeout_s"),
     ({"retry_similarity": 120}, "retry_similarity"),
     ({"extra_markers": {"implicit_retry": ("x",)}}, "unknown kind"),
     ({"extra_markers": {"refusal": "x"}}, "list of at most"),
     ({"user_path": "messages[0]"}, "starts with"),
     ({"answer_path": "$.a[?(@.b)]"}, "cannot read")],
)  # fmt: skip
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(FeedbackConfigError, match=message):
        FeedbackConfig(**kwargs)


def test_configured_paths():
    turns = [
        Turn("a", T0, {"ctx": {"ask": "Reset my password"}}, {"r": None}, "ERROR"),
        Turn("b", T0 + timedelta(seconds=9), {"ctx": {"ask": "reset my password"}}, {"r": GOOD}),
    ]
    assert only("implicit_retry", turns) == set()  # the default shapes find no message
    config = FeedbackConfig(user_path="$.ctx.ask", answer_path="$.r")
    assert only("implicit_retry", turns, config=config) == {"a"}


def test_unsorted_and_empty_sessions():
    turns = session((0, "Reset my password", None, "ERROR"), (40, "reset my password", GOOD))
    assert found(list(reversed(turns))) == found(turns)
    assert detect_session([], FeedbackConfig(), T0) == []


def test_model_loads_without_network():
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from heron.implicit import similarity\n"
        "v = similarity.embed(['reset the router', 'turn the box off and on again'])\n"
        "print(round(float(v[0] @ v[1]), 2))\n"
    )
    env = {"HF_HUB_OFFLINE": "0", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert 0.1 < float(out.stdout) < 0.9


def test_aware_times_are_read_as_utc():
    turns = session((0, "Where is my order?", None, "ERROR"))
    aware = [replace(turns[0], timestamp=turns[0].timestamp.replace(tzinfo=UTC))]
    plus2 = timezone(timedelta(hours=2))
    now = (T0 + timedelta(minutes=20)).replace(tzinfo=UTC).astimezone(plus2)
    assert not only("implicit_abandonment", aware, now=now)
    assert only("implicit_abandonment", aware, now=now + timedelta(minutes=15)) == {"t0"}


def test_hostile_inputs_stay_bounded():
    huge = "please reset my password " * 40_000  # 1 MB
    deep: object = "x"
    for _ in range(10_000):
        deep = {"input": deep}
    odd = [{"role": "user", "content": 42}, {"role": None}, 7, {"messages": "not a list"}]
    turns = [
        Turn(f"t{i}", T0 + timedelta(seconds=10 * i), inp, out, None, None)
        for i, (inp, out) in enumerate(
            [(huge, huge), (deep, deep), (odd, odd), (b"bytes", 3.5), (huge.upper(), None)] * 200
        )
    ]
    start = time.perf_counter()
    detections = detect_session(turns, FeedbackConfig(), T0 + timedelta(days=1))
    assert time.perf_counter() - start < 5
    assert all(len(d.comment) < 400 for d in detections)


def test_settings_round_trip_as_json():
    config = FeedbackConfig(
        enabled=frozenset({"implicit_retry", "implicit_rephrase"}),
        idle_timeout_s=600,
        extra_markers={"refusal": ("(?i)out of scope",)},
        user_path="$.q",
    )
    settings = json.loads(json.dumps(config.to_settings()))
    assert FeedbackConfig.from_settings(settings) == config
    assert FeedbackConfig.from_settings({}) == FeedbackConfig()


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"idle_timeout": 5}, "unknown feedback setting 'idle_timeout'"),
     ({"idle_timeout_s": "5"}, "must be a number"),
     ({"idle_timeout_s": True}, "must be a number"),
     ({"enabled": "implicit_retry"}, "list of detector names"),
     ({"extra_markers": {"refusal": [1]}}, "list of patterns"),
     ({"user_path": 3}, "string or null"),
     ([], "must be an object")],
)  # fmt: skip
def test_bad_json_settings_are_refused(settings, message):
    with pytest.raises(FeedbackConfigError, match=message):
        FeedbackConfig.from_settings(settings)


def test_package_imports_no_server_store_or_torch():
    code = (
        "import sys\n"
        "from heron.implicit import similarity\n"
        "similarity.embed(['hello there'])\n"
        "heavy = ('duckdb', 'fastapi', 'uvicorn', 'torch', 'heron.server', 'heron.store',"
        " 'heron.ingest')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
