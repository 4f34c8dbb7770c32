"""Malformed list parameters are 400s naming the parameter, never 500s."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.support.otlp import genai_trace, new_span_id, new_trace_id, request, span
from tests.support.server import CONSISTENT, SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}
LISTS = ("/api/traces", "/api/observations", "/api/sessions", "/api/users")


def forge(value: object) -> str:
    """A cursor in the API's encoding (urlsafe base64 of JSON) holding ``value``."""
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module: three traces, two users, two sessions, one of which has only
    a trace without a user id."""
    settings = make_settings(tmp_path_factory.mktemp("params"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        spans = [
            *genai_trace(user="ann", session="s1")[1],
            *genai_trace(user="bob", session="s1")[1],
        ]
        spans.append(
            span(new_trace_id(), new_span_id(), "anonymous", attributes={"session.id": "s2"})
        )
        r = c.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
        assert r.status_code == 200
        yield c


FORGED = [
    "forged",  # not base64 of JSON
    "é",  # not ASCII
    "Zm9v",  # base64 of "foo": not JSON
    forge(["abc", "x"]),  # a string where the sort value (a number) goes
    forge([True, "x"]),  # a bool is no sort value
    forge([None, "x"]),
    forge([[1], "x"]),
    forge([1, 2]),  # the id must be a string
    forge({"a": 1, "b": 2}),  # an object of two keys, not [value, id]
    forge("ab"),  # a two-character string
    forge([1, "x", 3]),
    forge(5),
    "A" * 5000,  # far longer than any cursor
]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("cursor", FORGED)
def test_forged_cursors_are_400_naming_the_cursor(
    seeded: TestClient, path: str, cursor: str
) -> None:
    r = seeded.get(path, params={"cursor": cursor})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"].startswith("cursor:")


@pytest.mark.parametrize("path", LISTS)
def test_real_cursors_still_page(seeded: TestClient, path: str) -> None:
    first = seeded.get(path, params={"limit": 1}).json()
    assert first["next_cursor"]
    second = seeded.get(path, params={"limit": 1, "cursor": first["next_cursor"]})
    assert second.status_code == 200, second.text
    assert second.json()["data"] and second.json()["data"] != first["data"]


def test_cursors_at_the_null_sentinel_page_on(seeded: TestClient) -> None:
    """Rows without a cost sort last, as ±1e308: a cursor there is valid, not "too large"."""
    ids = []
    cursor = None
    for _ in range(4):
        r = seeded.get(
            "/api/traces", params={"order_by": "cost.desc", "limit": 1, "cursor": cursor}
        )
        assert r.status_code == 200, r.text
        ids += [t["id"] for t in r.json()["data"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == len(set(ids)) == 3


def test_a_session_whose_traces_have_no_user_is_listed(seeded: TestClient) -> None:
    r = seeded.get("/api/sessions")
    assert r.status_code == 200, r.text
    by_id = {s["id"]: s for s in r.json()["data"]}
    assert by_id["s2"]["user_ids"] == []
    assert by_id["s1"]["user_ids"] == ["ann", "bob"]
    assert seeded.get("/api/sessions/s2").json()["user_ids"] == []


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "99999999999999999999"}, "limit"),
        ({"from": "0000-01-01T00:00:00Z"}, "start_time"),
        ({"from": "99999-01-01"}, "start_time"),
        ({"to": "garbage"}, "start_time"),
        ({"min_latency_ms": "nan"}, "latency"),
        ({"has_error": "maybe"}, "has_error"),
        ({"filter": "[{"}, "filter"),
    ],
)
def test_malformed_list_parameters_are_400(
    seeded: TestClient, path: str, params: dict[str, str], names: str
) -> None:
    r = seeded.get(path, params=params)
    assert r.status_code == 400, r.text
    assert names in r.json()["error"]["message"]
