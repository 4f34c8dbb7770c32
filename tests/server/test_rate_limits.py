"""Rate limits: 429 with Retry-After past a key's or project's rate, then service again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from google.rpc import status_pb2

from heron.errors import RateLimited
from heron.server.ratelimit import RateLimiter
from heron.settings import Settings
from tests.support.otlp import genai_trace, request
from tests.support.server import HeronProcess

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    env = {"HERON_RATE_INGEST_PER_KEY": "1", "HERON_RATE_READ_PER_KEY": "1"}
    s = HeronProcess(tmp_path_factory.mktemp("rates") / "data", env=env).start()
    yield s
    s.stop()


def export(server: HeronProcess) -> httpx.Response:
    _, spans = genai_trace()
    body = request(spans).SerializeToString()
    return httpx.post(server.url + "/v1/traces", content=body, headers={**server.auth, **PB})


def test_ingest_over_the_rate_is_429_then_served_after_retry_after(server: HeronProcess) -> None:
    assert export(server).status_code == 200
    refused = export(server)  # the bucket holds one second's worth: one request
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 2
    status = status_pb2.Status.FromString(refused.content)  # OTLP: google.rpc.Status
    assert status.code == 429 and "1 ingest requests per second per key" in status.message
    # reads are counted apart: the read bucket is still full
    assert httpx.get(server.url + "/api/traces", headers=server.auth).status_code == 200
    time.sleep(wait + 0.05)
    assert export(server).status_code == 200


def test_reads_over_the_rate_are_429_with_json_error(server: HeronProcess) -> None:
    time.sleep(1.05)  # a full bucket
    assert httpx.get(server.url + "/api/project", headers=server.auth).status_code == 200
    refused = httpx.get(server.url + "/api/project", headers=server.auth)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["code"] == "rate_limited"
    time.sleep(1.05)
    assert httpx.get(server.url + "/api/project", headers=server.auth).status_code == 200


def test_defaults_are_far_above_the_tests_and_the_demo() -> None:
    s = Settings.load(env={})
    assert min(s.rate_ingest_per_key, s.rate_read_per_key) >= 1000
    assert s.rate_ingest_per_project >= s.rate_ingest_per_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_project_bucket_is_shared_by_its_keys() -> None:
    clock = Clock()
    settings = Settings.load(
        env={}, rate_ingest_per_key=2, rate_ingest_per_project=3, rate_read_per_key=0
    )
    limiter = RateLimiter(settings, clock)
    for _ in range(2):
        limiter.charge("ingest", "pk-a", "p1")
    with pytest.raises(RateLimited, match="per key"):
        limiter.charge("ingest", "pk-a", "p1")
    limiter.charge("ingest", "pk-b", "p1")  # a's refusal took no project token
    with pytest.raises(RateLimited, match="3 ingest requests per second per project") as exc:
        limiter.charge("ingest", "pk-b", "p1")
    assert exc.value.retry_after == 1
    limiter.charge("ingest", "pk-c", "p2")  # another project has its own bucket
    clock.now += 0.5  # half a second refills 1.5 project tokens
    limiter.charge("ingest", "pk-b", "p1")
    for _ in range(50):
        limiter.charge("read", "pk-a", "p1")  # read limit 0 per key: only the project's
        clock.now += 0.001
