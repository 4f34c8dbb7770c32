"""The user's message and the answer, from the shapes heron stores."""

from __future__ import annotations

import pytest

from heron.feedback import FeedbackConfigError, answer_text, user_message
from heron.feedback.extract import follow, parse_path


@pytest.mark.parametrize(
    "value",
    [
        "reset my password",
        [
            {"role": "system", "content": "be kind"},
            {"role": "user", "content": "reset my password"},
        ],
        [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "reset my password"}]},
        ],
        {"messages": [{"role": "user", "content": "reset my password"}]},
        [{"role": "user", "parts": [{"type": "text", "content": "reset my password"}]}],
        {"role": "user", "content": "reset my password"},
        {"question": "reset my password", "k": 3},
        {"input": {"messages": [{"role": "human", "content": "reset my password"}]}},
    ],
)
def test_user_message_shapes(value):
    assert user_message(value) == "reset my password"


@pytest.mark.parametrize(
    "value",
    [
        "Open Settings.",
        {"role": "assistant", "content": "Open Settings."},
        {"choices": [{"message": {"role": "assistant", "content": "Open Settings."}}]},
        [{"role": "assistant", "parts": [{"type": "text", "content": "Open Settings."}]}],
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Open Settings."}],
        {"output": "Open Settings.", "latency": 3},
        {"answer": "Open Settings."},
    ],
)
def test_answer_shapes(value):
    assert answer_text(value) == "Open Settings."


def test_no_text_is_none():
    assert user_message(None) is None
    assert user_message({"k": 1}) is None
    assert user_message([{"role": "assistant", "content": "only the bot"}]) is None
    assert answer_text([{"role": "user", "content": "only the user"}]) is None
    assert (
        user_message([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}])
        is None
    )


def test_configured_path_wins():
    value = {"messages": [{"role": "user", "content": "ignored"}], "ctx": {"q": ["a", "asked"]}}
    assert user_message(value, "$.ctx.q[-1]") == "asked"
    assert user_message(value, "$['ctx']['q'][0]") == "a"
    assert user_message(value, "$.ctx.missing") is None
    assert user_message(value, "$.ctx.q[5]") is None
    assert answer_text({"data": {"reply": {"content": "x"}}}, "$.data.reply") == "x"


def test_path_parsing():
    assert parse_path("$.a.b[0]['c d'][-1]") == ("a", "b", 0, "c d", -1)
    assert follow({"a": [1, 2]}, "$.a[1]") == 2
    for bad in ("a.b", "$.a[?(@.x)]", "$..a", "$.a[*]", "$.__class__()", "$" + ".a" * 200):
        with pytest.raises(FeedbackConfigError):
            parse_path(bad)
