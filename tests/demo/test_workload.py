"""Tests of heron.demo: the synthetic workload and its OTLP encoding (no server needed)."""

from __future__ import annotations

import hashlib
import itertools
import json
import statistics
import time
from collections import Counter, defaultdict
from functools import cache

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from heron.demo import (
    FEEDBACK_SCORE,
    LLM_ERROR_RATE,
    LLM_LATENCY_FACTOR,
    PROMPT_NAME,
    PROMPT_SWITCH_FRACTION,
    ROUTE_CONVENTION,
    ROUTE_SERVICE,
    ROUTES,
    DemoConfig,
    SendError,
    demo_scores,
    generate,
    iter_traces,
    send,
    send_requests,
)
from heron.demo.batching import generate_timed
from heron.demo.model import DAY_US, HOUR_US, KIND_LLM
from heron.demo.otlp import attributes_dict

END_US = 1_760_000_000_000_000  # 2025-10-09T08:53:20Z
ERROR = Status.StatusCode.STATUS_CODE_ERROR


def cfg(**kw) -> DemoConfig:
    kw.setdefault("end_us", END_US)
    return DemoConfig(**kw)


@cache
def traces(n: int = 1500, seed: int = 7) -> list:
    return list(iter_traces(cfg(traces=n, seed=seed)))


@cache
def timed(n: int = 1500, seed: int = 7, batch: int = 512, interval: float = 5.0) -> list:
    c = cfg(traces=n, seed=seed, batch_spans=batch, export_interval_s=interval)
    return list(generate_timed(c))


def flat_spans(requests):
    """(request index, resource attrs, span) for every span of every request."""
    for i, req in enumerate(requests):
        for rs in req.resource_spans:
            res = attributes_dict(rs.resource.attributes)
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    yield i, res, sp


def digest(requests) -> str:
    h = hashlib.sha256()
    for r in requests:
        h.update(r.SerializeToString(deterministic=True))
    return h.hexdigest()


# --- determinism and counts ---


def test_generate_is_deterministic_for_a_seed():
    a = digest(generate(cfg(traces=300, seed=11)))
    b = digest(generate(cfg(traces=300, seed=11)))
    c = digest(generate(cfg(traces=300, seed=12)))
    assert a == b
    assert a != c
    ta = [(t.trace_id, t.user_id, t.expected_spans) for t in iter_traces(cfg(traces=300, seed=11))]
    tb = [(t.trace_id, t.user_id, t.expected_spans) for t in iter_traces(cfg(traces=300, seed=11))]
    assert ta == tb


def test_trace_and_span_counts_match_the_scenario():
    trs = traces()
    assert len(trs) == 1500
    assert [t.index for t in trs] == list(range(1500))
    reqs = [r for _, r in timed()]
    unique = {(sp.trace_id, sp.span_id) for _, _, sp in flat_spans(reqs)}
    assert len(unique) == sum(t.expected_spans for t in trs)
    assert {tid for tid, _ in unique} == {t.trace_id for t in trs}
    assert all(t.expected_spans >= 3 for t in trs)
    # users scale with traces, plus the QA accounts used in staging
    cf = cfg(traces=1500)
    users = {t.user_id for t in trs if t.environment == "production"}
    assert 5 <= len(users) <= cf.user_count()
    assert {t.user_id for t in trs if t.environment == "staging"} <= {
        "qa+01@acme.cloud",
        "qa+02@acme.cloud",
        "qa+03@acme.cloud",
    }


@pytest.mark.parametrize(("batch", "interval"), [(7, 5.0), (64, 3600.0)])
def test_requests_respect_batch_size_and_carry_one_resource(batch, interval):
    reqs = timed(600, 3, batch, interval)
    sizes = [
        sum(len(ss.spans) for rs in r.resource_spans for ss in rs.scope_spans) for _, r in reqs
    ]
    assert max(sizes) <= batch
    assert min(sizes) >= 1
    assert any(s == batch for s in sizes)  # the size limit, not only the timer, triggers exports
    for _, r in reqs:
        assert len(r.resource_spans) == 1
        res = attributes_dict(r.resource_spans[0].resource.attributes)
        assert res["service.name"] in {"acme-support-api", "acme-triage-worker", "acme-summarizer"}
        assert res["deployment.environment.name"] in {"production", "staging"}
        assert res["service.version"].startswith("v1.")


def test_requests_roundtrip_through_protobuf():
    for _, r in timed()[:200]:
        again = ExportTraceServiceRequest.FromString(r.SerializeToString())
        assert again == r


# --- ids, parents, time ---


def test_ids_are_valid_and_parents_resolve_within_the_trace():
    by_trace: dict[bytes, dict[bytes, object]] = defaultdict(dict)
    for _, _, sp in flat_spans(r for _, r in timed()):
        assert len(sp.trace_id) == 16 and sp.trace_id != bytes(16)
        assert len(sp.span_id) == 8 and sp.span_id != bytes(8)
        assert sp.parent_span_id == b"" or len(sp.parent_span_id) == 8
        prev = by_trace[sp.trace_id].get(sp.span_id)
        assert prev is None or prev == sp  # a re-sent span is identical
        by_trace[sp.trace_id][sp.span_id] = sp
    for spans in by_trace.values():
        roots = [s for s in spans.values() if not s.parent_span_id]
        assert len(roots) == 1
        root = roots[0]
        assert root.name in ROUTES
        for s in spans.values():
            if s.parent_span_id:
                assert s.parent_span_id in spans
                assert root.start_time_unix_nano <= s.start_time_unix_nano
                assert s.end_time_unix_nano <= root.end_time_unix_nano
            assert s.start_time_unix_nano <= s.end_time_unix_nano


@pytest.mark.parametrize("days", [14.0, 0.5])
def test_timestamps_fall_inside_the_period(days):
    c = cfg(traces=800, days=days, seed=5)
    start, end = c.period()
    assert end == END_US
    for _, _, sp in flat_spans(generate(c)):
        assert start * 1000 <= sp.start_time_unix_nano <= sp.end_time_unix_nano <= end * 1000


def test_requests_are_in_time_order_and_split_traces_like_a_batch_processor():
    reqs = timed()
    times = [t for t, _ in reqs]
    assert times == sorted(times)
    first_seen: dict[bytes, int] = {}
    root_req: dict[bytes, int] = {}
    for i, _, sp in flat_spans(r for _, r in reqs):
        first_seen.setdefault(sp.trace_id, i)
        if not sp.parent_span_id:
            root_req.setdefault(sp.trace_id, i)
    later = [t for t, i in root_req.items() if i > first_seen[t]]
    assert len(later) > 0.05 * len(root_req)  # children often arrive before their root
    delayed = [t for t in traces(4000, 1) if t.root_export_delay_us]
    assert delayed, "a few roots are exported minutes late"
    # some request is re-sent (same spans again), but not when delivery quirks are off
    seen = Counter(r.SerializeToString(deterministic=True) for _, r in reqs)
    assert max(seen.values()) >= 2
    plain = list(generate(cfg(traces=1500, delivery_quirks=False)))
    assert max(Counter(r.SerializeToString(deterministic=True) for r in plain).values()) == 1


def test_sessions_follow_a_daily_and_weekly_rhythm():
    trs = traces(4000, 1)
    hours = Counter((t.start_us // HOUR_US) % 24 for t in trs)
    weekday = Counter((t.start_us // DAY_US + 3) % 7 for t in trs)  # Monday = 0
    office = sum(hours[h] for h in range(8, 18)) / 10
    night = sum(hours[h] for h in range(0, 5)) / 5
    assert office > 3 * night
    assert sum(weekday[d] for d in range(5)) / 5 > 2 * (weekday[5] + weekday[6]) / 2
    # sessions: turns spaced seconds to minutes apart, ids shaped like real ones
    by_session = defaultdict(list)
    for t in trs:
        by_session[t.session_id].append(t)
    assert all(s.startswith("sess_") for s in by_session)
    assert 1 <= max(len(v) for v in by_session.values()) <= 8
    gaps = [b.start_us - a.end_us for v in by_session.values() for a, b in itertools.pairwise(v)]
    assert min(gaps) >= 1_000_000
    assert statistics.median(gaps) < 10 * 60 * 1_000_000


# --- planted effects ---


def test_prompt_version_switches_at_the_declared_time():
    c = cfg(traces=1500)
    start, end = c.period()
    switch = c.prompt_switch_us()
    assert switch == start + int((end - start) * PROMPT_SWITCH_FRACTION)
    chat = [t for t in traces() if t.route == "support-chat"]
    assert {t.prompt_version for t in chat if t.start_us < switch} == {3}
    assert {t.prompt_version for t in chat if t.start_us >= switch} == {4}
    assert all(t.prompt_name == PROMPT_NAME for t in chat)
    # the prompt reaches the wire on every support-chat LLM span
    versions = {}
    for _, _, sp in flat_spans(r for _, r in timed()):
        a = attributes_dict(sp.attributes)
        if a.get("langfuse.observation.prompt.name") == PROMPT_NAME:
            versions[sp.trace_id] = a["langfuse.observation.prompt.version"]
    by_id = {t.trace_id: t for t in chat}
    assert versions and all(by_id[tid].prompt_version == v for tid, v in versions.items())


def test_error_ratio_is_plausible_and_failures_are_retried():
    trs = traces()
    llm = sum(t.llm_calls for t in trs)
    errors = sum(t.llm_errors for t in trs)
    assert 0.025 <= errors / llm <= 0.08
    assert 0 < sum(t.failed for t in trs) < 0.03 * len(trs)
    assert sum(t.tool_errors for t in trs) > 0
    for t in trs:
        llm_spans = [s for s in t.spans if s.kind == KIND_LLM]
        for i, s in enumerate(llm_spans):
            if s.failed and not t.failed:
                retry = llm_spans[i + 1]  # a failed call is followed by a retry of the same call
                assert retry.name == s.name and retry.start_us >= s.end_us
    # failures reach the wire as status ERROR with an exception event
    failed = [sp for _, _, sp in flat_spans(r for _, r in timed()) if sp.status.code == ERROR]
    assert failed
    for sp in failed:
        assert sp.status.message
        ev = [e for e in sp.events if e.name == "exception"]
        assert ev and attributes_dict(ev[0].attributes)["exception.message"] == sp.status.message


def test_new_prompt_is_measurably_better():
    trs = traces(12000, 7)
    chat = [t for t in trs if t.route == "support-chat" and not t.in_incident]
    stats = {}
    for v in (3, 4):
        xs = [t for t in chat if t.prompt_version == v]
        calls = sum(t.llm_calls for t in xs)
        lat = [
            s.end_us - s.start_us
            for t in xs
            for s in t.spans
            if s.kind == KIND_LLM and not s.failed and s.model == "gpt-4o-mini"
        ]
        stats[v] = (
            sum(t.llm_errors for t in xs) / calls,
            statistics.mean(lat),
            sum(t.rephrased for t in xs) / len(xs),
        )
    err3, lat3, reph3 = stats[3]
    err4, lat4, reph4 = stats[4]
    assert err4 < err3
    assert abs(err3 - LLM_ERROR_RATE[3]) < 0.015 and abs(err4 - LLM_ERROR_RATE[4]) < 0.015
    assert 0.75 < lat4 / lat3 < 0.95  # LLM_LATENCY_FACTOR[4] = 0.85
    assert LLM_LATENCY_FACTOR[4] < 1
    # but the terser prompt gives up more often: its users rephrase more
    assert reph4 > reph3 * 1.3


# --- content of the scenario ---


def test_user_behaviour_facts_are_consistent():
    trs = traces(4000, 1)
    by_hex = {t.trace_id_hex: t for t in trs}
    rephrases = [t for t in trs if t.rephrase_of]
    assert len(rephrases) > 0.01 * len(trs)
    for t in rephrases:
        prev = by_hex[t.rephrase_of]
        assert prev.session_id == t.session_id and prev.turn < t.turn
        assert prev.rephrased and prev.topic == t.topic
        assert prev.question != t.question
    assert sum(t.feedback == 1 for t in trs) > 0 and sum(t.feedback == 0 for t in trs) > 0
    abandoned = [t for t in trs if t.abandoned]
    assert abandoned and all(t.last_user_turn for t in abandoned)
    later_user_turns = {
        (t.session_id, t.turn) for t in trs if t.behaviour is not None and t.turn > 1
    }
    for t in abandoned:  # only background jobs (a summary) may follow
        assert not any((t.session_id, k) in later_user_turns for k in range(t.turn + 1, 9))
    routes = Counter(t.route for t in trs)
    assert set(routes) == set(ROUTES)
    assert routes["support-chat"] > 0.6 * len(trs)
    assert {t.release for t in trs} == {"v1.4.0", "v1.5.0", "v1.6.0"}
    assert 0 < sum(t.environment == "staging" for t in trs) < 0.1 * len(trs)
    for t in trs:
        if t.route == "ticket-triage":
            assert by_hex[t.trace_id_hex].session_id == t.session_id
        assert t.start_us == t.spans[0].start_us and t.end_us == t.spans[0].end_us


def test_models_tokens_and_latencies_are_realistic():
    trs = traces(4000, 1)
    llm = [s for t in trs for s in t.spans if s.kind == KIND_LLM and not s.failed]
    models = Counter(s.model for s in llm)
    assert {"gpt-4o-mini", "gpt-4o", "gemini-2.0-flash", "llama-3.1-8b-instruct"} <= set(models)
    assert {"claude-3-5-sonnet-20241022", "claude-sonnet-4-5"} <= set(models)
    assert any(s.reasoning_tokens for s in llm) and any(s.cached_tokens for s in llm)
    assert all(s.cached_tokens <= s.input_tokens for s in llm)
    assert 300 <= statistics.median(s.input_tokens for s in llm) <= 3000
    durations = sorted((s.end_us - s.start_us) / 1000 for s in llm)
    assert 150 <= durations[len(durations) // 2] <= 4000
    assert durations[int(len(durations) * 0.995)] > 3 * durations[len(durations) // 2]  # tail
    assert max(durations) <= 30_000
    assert all(s.ttft_us is None or 0 < s.ttft_us < s.end_us - s.start_us for s in llm)


def test_all_three_attribute_conventions_are_present_and_well_formed():
    seen = Counter()
    facts = {t.trace_id: t for t in traces()}
    for _, res, sp in flat_spans(r for _, r in timed()):
        a = attributes_dict(sp.attributes)
        service = res["service.name"]
        tr = facts[sp.trace_id]
        assert service == ROUTE_SERVICE[tr.route]
        assert res["service.version"] == tr.release
        if not sp.parent_span_id:
            assert sp.name == tr.route
            assert a["user.id"] == tr.user_id and a["session.id"] == tr.session_id
        if "openinference.span.kind" in a:
            seen["openinference"] += 1
            assert service == "acme-triage-worker"
            assert a["session.id"].startswith("sess_") and a["user.id"]
            assert isinstance(a["tag.tags"], list) and json.loads(a["metadata"])["plan"]
            if a["openinference.span.kind"] == "LLM" and "llm.token_count.prompt" in a:
                assert a["llm.model_name"] and a["llm.input_messages.0.message.role"] == "system"
                assert json.loads(a["input.value"])["messages"]
        elif "langfuse.observation.type" in a and service == "acme-summarizer":
            seen["langfuse"] += 1
            assert a["langfuse.release"] == res["service.version"]
            assert a["langfuse.environment"] == res["deployment.environment.name"]
            if a["langfuse.observation.type"] == "generation" and not sp.status.code:
                usage = json.loads(a["langfuse.observation.usage_details"])
                assert usage["input"] > 0 and usage["output"] > 0
                assert a["langfuse.observation.model.name"].startswith("claude")
            if not sp.parent_span_id:
                assert a["langfuse.trace.name"] == "summarize-conversation"
        elif a.get("gen_ai.operation.name") == "chat":
            seen["otel"] += 1
            assert sp.name == "chat " + a["gen_ai.request.model"]
            msgs = json.loads(a["gen_ai.input.messages"])
            assert all(m["role"] and m["parts"][0]["type"] for m in msgs)
            json.loads(a["gen_ai.system_instructions"])
            if not sp.status.code:
                assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
                out = json.loads(a["gen_ai.output.messages"])
                assert out[0]["role"] == "assistant"
        elif a.get("gen_ai.operation.name") == "execute_tool":
            seen["otel_tool"] += 1
            assert a["gen_ai.tool.name"] in {"lookup_order", "get_account_status", "create_ticket"}
            json.loads(a["gen_ai.tool.call.arguments"])
            json.loads(a["gen_ai.tool.call.result"])
    assert seen["otel"] > seen["openinference"] > 0
    assert seen["langfuse"] > 0 and seen["otel_tool"] > 0
    assert set(ROUTE_CONVENTION.values()) == {"otel", "openinference", "langfuse"}


def test_default_period_ends_now():
    before = time.time_ns() // 1000
    spans = [sp for _, _, sp in flat_spans(generate(DemoConfig(traces=40, days=2)))]
    after = time.time_ns() // 1000
    assert len(spans) > 40
    assert all(before - 2 * DAY_US <= sp.start_time_unix_nano // 1000 for sp in spans)
    assert all(sp.end_time_unix_nano // 1000 <= after for sp in spans)


def test_rejects_too_short_a_period():
    with pytest.raises(ValueError):
        list(iter_traces(cfg(traces=10, days=0.01)))


# --- sending (against a mock transport, not a server) ---


def test_send_posts_protobuf_retries_and_counts():
    calls = []
    scores = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/public/scores":
            assert request.headers["authorization"] == "Bearer sk-test"
            scores.extend(json.loads(request.content))
            return httpx.Response(202, json={"accepted": len(scores)})
        calls.append(request)
        assert request.url.path == "/v1/traces"
        assert request.headers["authorization"] == "Bearer sk-test"
        assert request.headers["content-type"] == "application/x-protobuf"
        if len(calls) == 2:
            return httpx.Response(503, headers={"Retry-After": "0"}, text="busy")
        req = ExportTraceServiceRequest.FromString(request.content)
        assert req.resource_spans
        resp = ExportTraceServiceResponse()
        if len(calls) == 3:
            resp.partial_success.rejected_spans = 1
        return httpx.Response(
            200,
            content=resp.SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
        )

    c = cfg(traces=60)
    expected = sum(
        len(ss.spans) for r in generate(c) for rs in r.resource_spans for ss in rs.scope_spans
    )
    n_requests = sum(1 for _ in generate(c))
    progressed = []
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        stats = send(c, "http://heron.test/", "sk-test", client=client, progress=progressed.append)
    assert stats.requests == n_requests
    assert stats.spans == expected == sum(progressed)
    assert stats.rejected_spans == 1
    assert stats.retries == 1
    assert len(calls) == n_requests + 1
    rated = {t.trace_id_hex: t.feedback for t in iter_traces(c) if t.feedback is not None}
    assert stats.scores == len(scores) == len(list(demo_scores(c))) > len(rated) > 0
    thumbs = [s for s in scores if s["name"] == FEEDBACK_SCORE]
    assert {s["traceId"]: int(s["value"]) for s in thumbs} == rated
    assert all(s["dataType"] == "BOOLEAN" for s in thumbs)
    assert len({s["id"] for s in scores}) == len(scores)  # stable ids: a re-send replaces


def test_send_raises_with_the_response_text_on_4xx():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text="invalid secret key")

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        pytest.raises(SendError, match="invalid secret key") as info,
    ):
        send_requests(generate(cfg(traces=20)), "http://x", "bad", client=client)
    assert info.value.status == 401
