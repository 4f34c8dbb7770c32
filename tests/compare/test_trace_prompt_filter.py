"""The traces view's prompt_name / prompt_version filters: "the trace has an observation with
it"; negative operators mean "no observation has it". Checked through comparison counts."""

from __future__ import annotations

from typing import Any

from heron.demo import PROMPT_NAME
from tests.compare.conftest import Demo

CHAT = {"column": "name", "operator": "=", "value": "support-chat"}


def count(demo: Demo, *filters: dict[str, Any]) -> int:
    body = {"baseline": {"filters": [CHAT, *filters]}, "candidate": {"filters": [CHAT]}}
    r = demo.client.post("/api/compare", json=body)
    assert r.status_code == 200, r.text
    return r.json()["metrics"][0]["n_baseline"]


def version(op: str, value: Any = None) -> dict[str, Any]:
    return {"column": "prompt_version", "operator": op, "value": value}


def test_prompt_filters_on_traces(demo: Demo) -> None:
    everything = count(demo)
    v3, v4 = count(demo, version("=", 3)), count(demo, version("=", 4))
    without = count(demo, version("is null"))
    assert v3 > 0 and v4 > 0 and v3 + v4 + without == everything
    assert count(demo, version("!=", 4)) == v3 + without
    assert count(demo, version("not in", [3, 4])) == without
    assert count(demo, version("in", [3, 4])) == v3 + v4 == count(demo, version("is not null"))
    assert count(demo, version(">=", 4)) == v4
    named = {"column": "prompt_name", "operator": "=", "value": PROMPT_NAME}
    assert count(demo, named) == v3 + v4
    other = {"column": "prompt_name", "operator": "starts with", "value": "conversation"}
    assert count(demo, other) == 0  # summaries are their own traces, not support-chat


def test_trace_list_api_uses_the_same_filter(demo: Demo) -> None:
    r = demo.client.get(
        "/api/traces",
        params={"filter": '[{"column": "prompt_version", "operator": "=", "value": 4}]',
                "limit": 5},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 5
    bad = demo.client.get(
        "/api/traces", params={"filter": '[{"column": "prompt_version", "operator": "contains"}]'}
    )
    assert bad.status_code == 400 and "prompt_version" in bad.json()["error"]["message"]
