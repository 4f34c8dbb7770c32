"""schemathesis against the OpenAPI document of a real `heron serve`: no request the
document allows (or, in negative mode, nearly allows) gets a 500.

One server for the module, on loopback, holding a few traces so reads return data (and
cursors); every request carries the test project's API key, the admin routes the admin
token. Examples per operation are bounded (``FUZZ_EXAMPLES``), so the run takes well under
a minute and a half.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.transport.requests import ManagedCookiesSession

from heron.server.app import create_app
from heron.settings import Settings
from tests.support.otlp import attrs, genai_trace, request
from tests.support.server import SECRET_KEY, HeronProcess

# Examples per operation; the default run is derandomized (the same cases every time).
# HERON_TEST_FUZZ_EXAMPLES=200 makes a deeper run with fresh random cases.
DEEPER = os.environ.get("HERON_TEST_FUZZ_EXAMPLES")
FUZZ_EXAMPLES = int(DEEPER or 10)
PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    server = HeronProcess(tmp_path_factory.mktemp("fuzz") / "data").start()
    try:
        spans = [s for i in range(5) for s in genai_trace(user=f"u{i}", session=f"s{i % 2}")[1]]
        anonymous = genai_trace(session="s-anonymous")[1]  # a session without a user id
        for s in anonymous:
            del s.attributes[:]
            s.attributes.extend(attrs({"session.id": "s-anonymous"}))
        spans += anonymous
        r = httpx.post(
            server.url + "/v1/traces",
            content=request(spans).SerializeToString(),
            headers={**server.auth, **PB},
        )
        assert r.status_code == 200, r.text
        yield server
    finally:
        server.stop()


def _document() -> dict:
    """The OpenAPI document, from the app itself (the schema must exist when pytest collects;
    ``test_the_server_serves_this_document`` checks the live server serves the same)."""
    return create_app(Settings.load(env={})).openapi()


# OTLP's protobuf body: schemathesis has no serializer for it; sent as the raw bytes it
# generates for the "binary" schema (the decoder must answer 400 to them, never 500).
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")
schemathesis.serializer.alias("application/x-ndjson", "text/plain")  # dataset imports
schema = schemathesis.openapi.from_dict(_document())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=FUZZ_EXAMPLES,
)


def test_the_server_serves_this_document(fuzzed_server: HeronProcess) -> None:
    assert httpx.get(fuzzed_server.url + "/openapi.json").json() == _document()


@pytest.fixture(scope="module")
def session() -> Iterator[ManagedCookiesSession]:
    """One connection for the module's requests (a connection per request cost the server an
    accept and the client a proxy lookup each time); schemathesis drops the cookies a response
    sets before the next case, as it does with a session of its own per request."""
    with ManagedCookiesSession() as s:
        s.trust_env = False  # no proxy settings from the environment: the server is loopback
        yield s


def _auth(case: schemathesis.Case, data_dir: Path) -> dict[str, str]:
    if case.path.startswith("/api/admin/"):
        token = orjson.loads((data_dir / "server.json").read_bytes())["admin_token"]
        return {"Authorization": f"Bearer {token}"}
    return {"Authorization": f"Bearer {SECRET_KEY}"}


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    max_examples=FUZZ_EXAMPLES,
    derandomize=not DEEPER,
    database=None,
)
def test_no_server_errors(
    case: schemathesis.Case, fuzzed_server: HeronProcess, session: ManagedCookiesSession
) -> None:
    case.call_and_validate(
        base_url=fuzzed_server.url,
        session=session,
        headers=_auth(case, fuzzed_server.data_dir),
        checks=[not_a_server_error],
        timeout=30,
    )
