"""heron's bulk routes: items from traces (a filter of the traces list, or ids; no duplicates)
and import / export as JSONL and CSV (roundtrips, bad lines, bounds). Traces go in through
the real OTLP route; each test has a project of its own."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from heron.datasets.io import MAX_ROWS
from tests.datasets.conftest import ok
from tests.support.otlp import T0_NS, request, span

DAY_NS = 86_400 * 10**9


def post_trace(
    c: TestClient,
    name: str,
    input: Any,
    output: Any,
    metadata: Any = None,
    environment: str = "production",
    start_ns: int = T0_NS,
) -> tuple[str, str]:
    """A trace (root + one child observation) through OTLP; its id and the child's."""
    tid, root, child = os.urandom(16), os.urandom(8), os.urandom(8)
    attributes = {
        "langfuse.trace.name": name,
        "langfuse.trace.input": orjson.dumps(input).decode()
        if not isinstance(input, str)
        else input,
        "langfuse.trace.output": output,
        "langfuse.environment": environment,
    }
    if metadata is not None:
        attributes["langfuse.trace.metadata"] = orjson.dumps(metadata).decode()
    spans = [
        span(tid, root, name, start_ns=start_ns, attributes=attributes),
        span(
            tid,
            child,
            "retrieve",
            parent=root,
            start_ns=start_ns + 1000,
            attributes={
                "langfuse.observation.input": '{"query": "q"}',
                "langfuse.observation.output": f"docs of {name}",
            },
        ),
    ]
    r = c.post(
        "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert r.status_code == 200, r.text
    return tid.hex(), child.hex()


def new_dataset(c: TestClient, name: str = "from-prod", **more: Any) -> None:
    ok(c.post("/api/public/v2/datasets", json={"name": name, **more}))


def items(c: TestClient, name: str = "from-prod") -> list[dict[str, Any]]:
    body = ok(c.get("/api/public/dataset-items", params={"datasetName": name, "limit": 100}))
    return body["data"]


def add(c: TestClient, body: Any, name: str = "from-prod") -> Any:
    return c.post(f"/api/datasets/{name}/items/from-traces", json=body)


# -- from traces ------------------------------------------------------------------------------


def test_from_traces_by_filter_copies_input_output_metadata_without_duplicates(
    fresh: Callable[..., TestClient],
) -> None:
    c = fresh()
    a, _ = post_trace(c, "checkout", {"cart": [1, 2]}, "paid", {"tier": "gold"}, start_ns=T0_NS)
    b, _ = post_trace(c, "checkout", "plain question", "plain answer", start_ns=T0_NS + 1000)
    post_trace(c, "search", "other", "x")
    post_trace(c, "checkout", "judge call", "x", environment="heron-evaluation")  # hidden
    new_dataset(c)
    only_checkout = [{"column": "name", "operator": "=", "value": "checkout"}]
    assert ok(add(c, {"filter": only_checkout})) == {"created": 2, "skipped": 0}
    got = {i["sourceTraceId"]: i for i in items(c)}
    assert set(got) == {a, b}
    assert got[a]["input"] == {"cart": [1, 2]} and got[a]["expectedOutput"] == "paid"
    assert got[a]["metadata"] == {"tier": "gold"} and got[a]["sourceObservationId"] is None
    assert got[b]["input"] == "plain question" and got[b]["metadata"] is None
    # the same selection again adds nothing; the filter may come as JSON text
    again = ok(add(c, {"filter": orjson.dumps(only_checkout).decode()}))
    assert again == {"created": 0, "skipped": 2}
    assert len(items(c)) == 2


def test_from_traces_limit_and_time_window(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    ids = [post_trace(c, "t", f"day {d}", "x", start_ns=T0_NS + d * DAY_NS)[0] for d in range(4)]
    new_dataset(c)
    # newest first, at most limit; the next call takes the next ones
    assert ok(add(c, {"limit": 2})) == {"created": 2, "skipped": 0}
    assert {i["sourceTraceId"] for i in items(c)} == {ids[3], ids[2]}
    day0 = T0_NS // 10**9
    window = {"from": day0 + 86_400, "to": day0 + 2 * 86_400 + 1}  # epoch seconds: days 1, 2
    assert ok(add(c, window)) == {"created": 1, "skipped": 1}
    assert {i["sourceTraceId"] for i in items(c)} == {ids[3], ids[2], ids[1]}


def test_from_trace_and_observation_ids(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    tid, child = post_trace(c, "rag", "question", "answer")
    new_dataset(c)
    assert ok(add(c, {"traceIds": [tid, tid]})) == {"created": 1, "skipped": 0}
    assert ok(add(c, {"observationIds": [child]})) == {"created": 1, "skipped": 0}
    assert ok(add(c, {"observationIds": [child]})) == {"created": 0, "skipped": 1}
    assert ok(add(c, {"traceIds": [tid]})) == {"created": 0, "skipped": 1}
    (from_obs,) = [i for i in items(c) if i["sourceObservationId"]]
    assert from_obs["sourceObservationId"] == child and from_obs["sourceTraceId"] == tid
    assert from_obs["input"] == {"query": "q"} and from_obs["expectedOutput"] == "docs of rag"
    r = add(c, {"traceIds": [tid, "f" * 32]})
    assert r.status_code == 404 and "f" * 32 in r.text
    assert add(c, {"observationIds": ["0" * 16]}).status_code == 404
    assert len(items(c)) == 2


def test_from_traces_refusals(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    tid, _ = post_trace(c, "typed", "not an object", "x")
    new_dataset(c, "strict", inputSchema={"type": "object"})
    r = add(c, {"traceIds": [tid]}, "strict")
    assert (
        r.status_code == 400 and r.json()["error"]["problems"][0]["path"] == f"trace {tid}: input"
    )
    new_dataset(c)
    cases = [
        ({"filter": [{"column": "colour", "operator": "=", "value": "x"}]}, 400, "colour"),
        ({"filter": "{"}, 400, "filter"),
        ({"limit": 0}, 400, "limit"),
        ({"limit": 10_001}, 400, "limit"),
        ({"limit": "10"}, 400, "limit"),
        ({"from": "last week"}, 400, "from"),
        ({"traceIds": []}, 400, "traceIds"),
        ({"traceIds": [tid], "limit": 3}, 400, "takes nothing else"),
        ({"sample": "random"}, 400, "sample: unknown field"),
        ([1], 400, "expected a JSON object"),
    ]
    for body, status, words in cases:
        r = add(c, body)
        assert r.status_code == status and words in r.text, (body, r.text)
    r = add(c, {}, "no-such-dataset")
    assert r.status_code == 404 and "no-such-dataset" in r.text
    assert items(c) == []


# -- import and export ------------------------------------------------------------------------

VALUES = [
    {"input": {"q": "reset?", "n": [1, 2.5, None]}, "expectedOutput": "Settings", "metadata": {}},
    {"input": "plain text, with a comma", "expectedOutput": {"steps": ["a", "b"]}},
    {"input": "42", "expectedOutput": 42, "metadata": {"note": "a string that looks like JSON"}},
    {"input": "=SUM(A1:A9)", "expectedOutput": "-1", "metadata": 'line\nbreak and "quotes"'},
    {"input": "", "expectedOutput": True, "metadata": ["é", "漢字", "🙂"]},
    {"input": "@user +1"},
]


def imported(c: TestClient, name: str, body: bytes, fmt: str, **kw: Any) -> Any:
    return c.post(f"/api/datasets/{name}/items/import?format={fmt}", content=body, **kw)


def exported(c: TestClient, name: str, fmt: str, **params: Any) -> str:
    r = c.get(f"/api/datasets/{name}/items/export", params={"format": fmt, **params})
    assert r.status_code == 200, r.text
    assert name in r.headers["content-disposition"]
    return r.text


def content(rows: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    return sorted(
        (
            orjson.dumps(r.get("input")),
            orjson.dumps(r.get("expectedOutput")),
            orjson.dumps(r.get("metadata")),
        )
        for r in rows
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_then_import_roundtrips(fresh: Callable[..., TestClient], fmt: str) -> None:
    source, target = fresh(), fresh()
    new_dataset(source, "golden")
    lines = b"\n".join(orjson.dumps(v) for v in VALUES) + b"\n\n"
    assert ok(imported(source, "golden", lines, "jsonl")) == {"created": len(VALUES), "updated": 0}
    assert content(items(source, "golden")) == content(VALUES)
    text = exported(source, "golden", fmt)
    if fmt == "csv":
        header, *_ = text.splitlines()
        assert (
            header
            == "id,input,expected_output,metadata,source_trace_id,source_observation_id,status"
        )
        assert '"""=SUM(A1:A9)"""' in text  # formulas leave as JSON strings
        assert ',"""42""",42,' in text  # a string that parses as JSON is quoted
    # the file goes into another project (item ids are unique per project) unchanged
    new_dataset(target, "golden")
    assert ok(imported(target, "golden", text.encode(), fmt))["created"] == len(VALUES)
    assert content(items(target, "golden")) == content(VALUES)
    assert {i["id"] for i in items(target, "golden")} == {i["id"] for i in items(source, "golden")}
    # importing the export again: the same ids, so new versions (updated), nothing created
    assert ok(imported(target, "golden", text.encode(), fmt)) == {
        "created": 0,
        "updated": len(VALUES),
    }
    assert len(items(target, "golden")) == len(VALUES)


def test_csv_import_by_content_type_with_plain_and_json_cells(
    fresh: Callable[..., TestClient],
) -> None:
    c = fresh()
    new_dataset(c, "csv")
    body = (
        "\ufeffinput,expected_output,metadata\r\n"
        'What is 2+2?,4,"{""source"": ""quiz""}"\r\n'
        '"two\nlines",plain words,\r\n'
        ",,\r\n"  # an empty row is skipped
    ).encode()
    r = c.post("/api/datasets/csv/items/import", content=body, headers={"Content-Type": "text/csv"})
    assert ok(r) == {"created": 2, "updated": 0}
    got = {orjson.dumps(i["input"]): i for i in items(c, "csv")}
    quiz = got[b'"What is 2+2?"']
    assert quiz["expectedOutput"] == 4 and quiz["metadata"] == {"source": "quiz"}
    multi = got[b'"two\\nlines"']  # a line break inside a quoted cell
    assert multi["expectedOutput"] == "plain words" and multi["metadata"] is None


def test_import_is_all_or_nothing_and_names_the_lines(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    new_dataset(c, "strict", inputSchema={"type": "object", "required": ["q"]})
    jsonl = b"\n".join(
        [
            b'{"input": {"q": 1}}',
            b"{broken",
            b"[1, 2]",
            b'{"input": {"q": 2}, "status": "LIVE"}',
            b'{"input": {"q": 3}, "colour": "red"}',
        ]
    )
    r = imported(c, "strict", jsonl, "jsonl")
    assert r.status_code == 400 and "nothing imported" in r.text
    paths = [p["path"] for p in r.json()["error"]["problems"]]
    assert paths == ["line 2", "line 3", "line 4", "line 5"]
    assert "column" in r.json()["error"]["problems"][0]["message"]
    # well-formed lines are still checked against the schema before anything is written
    r = imported(c, "strict", b'{"input": {"q": 1}}\n{"input": {"z": 1}}\n', "jsonl")
    assert r.status_code == 400
    assert r.json()["error"]["problems"][0]["path"] == "line 2: input"
    csv_cases = [
        (b"input,colour\nx,red\n", "unknown column 'colour'"),
        (b"input,input\nx,y\n", "named twice"),
        (b'input,metadata\n"{""q"": 1}",a,b\n', "line 2"),
        (b'input\n"{""q"": 1}\n"unterminated\n', "not CSV"),
        (b"input\nnot an object\n", "line 2: input"),
        (b'input,status\n"{}",LIVE\n', "line 2"),
    ]
    for body, words in csv_cases:
        r = imported(c, "strict", body, "csv")
        assert r.status_code == 400 and words in r.text, (body, r.text)
    assert items(c, "strict") == []


def test_import_bounds_and_formats(app: TestClient, fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    new_dataset(c, "bounded")
    r = imported(c, "bounded", b"{}\n" * (MAX_ROWS + 1), "jsonl")
    assert r.status_code == 400 and f"at most {MAX_ROWS:,}" in r.text
    r = imported(c, "bounded", b"input\n" + b"x\n" * (MAX_ROWS + 1), "csv")
    assert r.status_code == 400 and f"at most {MAX_ROWS:,}" in r.text
    limit = app.app.state.heron.settings.max_body_bytes  # type: ignore[attr-defined]
    assert imported(c, "bounded", b" " * (limit + 1), "jsonl").status_code == 413
    assert imported(c, "bounded", b"", "jsonl").status_code == 400
    assert imported(c, "bounded", b"\xff\xfe{}", "jsonl").status_code == 400
    assert imported(c, "bounded", b"{}", "xml").status_code == 400
    r = c.post(
        "/api/datasets/bounded/items/import",
        content=b"{}",
        headers={"Content-Type": "application/xml"},
    )
    assert r.status_code == 415 and "format=jsonl" in r.text
    assert imported(c, "nope", b'{"input": 1}', "jsonl").status_code == 404
    assert c.get("/api/datasets/bounded/items/export?format=xml").status_code == 400
    # gzip bodies are read like every other
    r = c.post(
        "/api/datasets/bounded/items/import",
        content=gzip.compress(b'{"input": "z"}\n'),
        headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    )
    assert ok(r) == {"created": 1, "updated": 0}
    assert items(c, "bounded")[0]["input"] == "z"


def test_export_as_of_a_version_and_of_an_empty_dataset(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    new_dataset(c, "history")
    assert exported(c, "history", "jsonl") == ""
    assert exported(c, "history", "csv").strip().startswith("id,input")
    first = ok(
        c.post(
            "/api/public/dataset-items", json={"datasetName": "history", "id": "h1", "input": "old"}
        )
    )
    ok(
        c.post(
            "/api/public/dataset-items",
            json={"datasetName": "history", "id": "h1", "input": "new", "status": "ARCHIVED"},
        )
    )
    now = [orjson.loads(line) for line in exported(c, "history", "jsonl").splitlines()]
    assert [(r["id"], r["input"], r["status"]) for r in now] == [("h1", "new", "ARCHIVED")]
    then = exported(c, "history", "jsonl", version=first["version"])
    assert [orjson.loads(line)["input"] for line in then.splitlines()] == ["old"]


def test_export_pages_through_a_large_dataset(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    new_dataset(c, "large")
    body = b"".join(orjson.dumps({"input": i}) + b"\n" for i in range(2500))
    assert ok(imported(c, "large", body, "jsonl"))["created"] == 2500
    lines = exported(c, "large", "jsonl").splitlines()
    assert sorted(orjson.loads(line)["input"] for line in lines) == list(range(2500))
