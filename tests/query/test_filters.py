"""The shared filter language: parsing, validation and compiled behaviour on real data."""

from __future__ import annotations

import pytest

from heron.model import ObservationRecord, TraceUpdate
from heron.query import OBSERVATIONS, TRACES, Filter, FilterError, compile_filters, parse_filters
from heron.store import EmbeddedStore, ListQuery

T0 = 1_760_000_000_000_000


@pytest.fixture
def populated(store: EmbeddedStore) -> EmbeddedStore:
    rows = [
        # trace id, name, user, tags, latency ms, cost, level, model, metadata, output
        (
            "1" * 32,
            "support-chat",
            "alice",
            ["billing", "pro"],
            1200,
            0.01,
            "DEFAULT",
            "gpt-4o",
            {"plan": "pro"},
            "Your invoice is attached",
        ),
        (
            "2" * 32,
            "support-chat",
            "bob",
            ["auth"],
            300,
            0.002,
            "ERROR",
            "gpt-4o-mini",
            {"plan": "free"},
            "Reset your password",
        ),
        ("3" * 32, "kb-search", "alice", [], 80, None, "WARNING", None, {}, "100% done_now"),
    ]
    for i, (tid, name, user, tags, ms, cost, level, model, meta, output) in enumerate(rows):
        store.write_batch(
            [
                ObservationRecord(
                    project_id="p",
                    id=f"{i + 1:016x}",
                    trace_id=tid,
                    parent_id=None,
                    type="generation" if model else "span",
                    name=name,
                    start_us=T0 + i * 1_000_000,
                    end_us=T0 + i * 1_000_000 + ms * 1000,
                    model=model,
                    level=level,
                    output=output,
                    cost={"total": cost} if cost is not None else {},
                )
            ],
            [
                TraceUpdate(
                    project_id="p",
                    trace_id=tid,
                    is_root=True,
                    name=name,
                    user_id=user,
                    tags=tags,
                    metadata=meta,
                    output=output,
                )
            ],
        )
    return store


def names(store: EmbeddedStore, filters: list[dict], **kw: object) -> list[str]:
    page = store.list_traces("p", ListQuery(parse_filters(filters), **kw))  # type: ignore[arg-type]
    return sorted(t["user_id"] + ":" + t["id"][0] for t in page.data)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"column": "name", "operator": "=", "value": "support-chat"}, ["alice:1", "bob:2"]),
        ({"column": "name", "operator": "!=", "value": "support-chat"}, ["alice:3"]),
        ({"column": "user_id", "operator": "in", "value": ["bob", "carol"]}, ["bob:2"]),
        ({"column": "user_id", "operator": "not in", "value": ["bob"]}, ["alice:1", "alice:3"]),
        ({"column": "name", "operator": "starts with", "value": "kb"}, ["alice:3"]),
        ({"column": "name", "operator": "contains", "value": "CHAT"}, ["alice:1", "bob:2"]),
        ({"column": "name", "operator": "not contains", "value": "chat"}, ["alice:3"]),
        ({"column": "latency_ms", "operator": ">", "value": 300}, ["alice:1"]),
        ({"column": "latency_ms", "operator": ">=", "value": 300}, ["alice:1", "bob:2"]),
        ({"column": "latency_ms", "operator": "<", "value": 300}, ["alice:3"]),
        ({"column": "latency_ms", "operator": "<=", "value": "80"}, ["alice:3"]),
        ({"column": "total_cost", "operator": "is null"}, ["alice:3"]),
        ({"column": "total_cost", "operator": "is not null"}, ["alice:1", "bob:2"]),
        ({"column": "tags", "operator": "contains", "value": "billing"}, ["alice:1"]),
        ({"column": "tags", "operator": "in", "value": ["auth", "pro"]}, ["alice:1", "bob:2"]),
        ({"column": "tags", "operator": "not in", "value": ["auth"]}, ["alice:1", "alice:3"]),
        ({"column": "tags", "operator": "is null"}, ["alice:3"]),
        ({"column": "model", "operator": "=", "value": "gpt-4o-mini"}, ["bob:2"]),
        ({"column": "level", "operator": "=", "value": "ERROR"}, ["bob:2"]),
        ({"column": "has_error", "operator": "=", "value": True}, ["bob:2"]),
        ({"column": "metadata", "key": "plan", "operator": "=", "value": "pro"}, ["alice:1"]),
        ({"column": "metadata.plan", "operator": "!=", "value": "pro"}, ["bob:2"]),
        ({"column": "metadata.plan", "operator": "is null"}, ["alice:3"]),
        ({"column": "output", "operator": "contains", "value": "100%"}, ["alice:3"]),
        ({"column": "output", "operator": "contains", "value": "e_n"}, ["alice:3"]),
        (
            {"column": "start_time", "operator": ">", "value": "2025-10-09T08:53:20.5Z"},
            ["alice:3", "bob:2"],
        ),
    ],
)
def test_operators(populated: EmbeddedStore, flt: dict, expected: list[str]) -> None:
    assert names(populated, [flt]) == expected


def test_filters_combine_as_and(populated: EmbeddedStore) -> None:
    flt = [
        {"column": "user_id", "operator": "=", "value": "alice"},
        {"column": "latency_ms", "operator": ">", "value": 100},
    ]
    assert names(populated, flt) == ["alice:1"]


def test_search_reaches_observation_outputs(populated: EmbeddedStore) -> None:
    assert names(populated, [], search="password") == ["bob:2"]
    assert names(populated, [], search="nothing like this") == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('[{"column": "colour", "operator": "=", "value": 1}]', "unknown column 'colour'"),
        ('[{"column": "name", "operator": "~", "value": 1}]', "unknown operator '~'"),
        ('[{"column": "name", "operator": ">", "value": "a"}]', "does not apply to name"),
        ('[{"column": "latency_ms", "operator": ">", "value": "fast"}]', "expected a number"),
        ('[{"column": "start_time", "operator": ">", "value": "yesterday"}]', "ISO 8601"),
        ('[{"column": "has_error", "operator": "=", "value": "maybe"}]', "true or false"),
        ('[{"column": "metadata", "operator": "=", "value": "x"}]', "needs a key"),
        ('{"column": "name"}', "expected a JSON list"),
        ("[{", "invalid JSON"),
        ('[{"operator": "="}]', "'column' is required"),
        ('[{"column": "user_id", "operator": "=", "value": null}]', "a value is required"),
        ('[{"column": "user_id", "operator": "in", "value": 3}]', "needs a list"),
    ],
)
def test_invalid_filters_name_the_problem(raw: str, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("(", r"\(")):
        compile_filters(parse_filters(raw), TRACES)


def test_values_never_reach_sql_text() -> None:
    hostile = "x'; DROP TABLE traces; --"
    sql, params = compile_filters([Filter("name", "=", hostile)], TRACES)
    assert hostile not in sql and hostile in params
    sql, params = compile_filters([Filter("metadata", "=", "v", key="a.b")], OBSERVATIONS)
    assert "a.b" not in sql


def test_observation_view_reads_trace_attributes(populated: EmbeddedStore) -> None:
    page = populated.list_observations(
        "p", ListQuery(parse_filters('[{"column":"user_id","operator":"=","value":"bob"}]'))
    )
    assert [o["trace_id"] for o in page.data] == ["2" * 32]


def test_langfuse_names_and_operators_mean_the_same() -> None:
    langfuse = parse_filters(
        [
            {"column": "userId", "operator": "any of", "value": ["u1", "u2"]},
            {"column": "providedModelName", "operator": "none of", "value": ["x"]},
            {"column": "traceName", "operator": "does not contain", "value": "test"},
            {"column": "promptVersion", "operator": "<>", "value": 3},
        ]
    )
    heron = parse_filters(
        [
            {"column": "user_id", "operator": "in", "value": ["u1", "u2"]},
            {"column": "model", "operator": "not in", "value": ["x"]},
            {"column": "trace_name", "operator": "not contains", "value": "test"},
            {"column": "prompt_version", "operator": "!=", "value": 3},
        ]
    )
    assert compile_filters(langfuse, OBSERVATIONS) == compile_filters(heron, OBSERVATIONS)
    with pytest.raises(FilterError, match="unknown column 'userName'"):
        compile_filters(
            parse_filters([{"column": "userName", "operator": "=", "value": 1}]), TRACES
        )
