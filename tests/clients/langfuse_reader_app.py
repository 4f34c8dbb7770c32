"""A script reading traces, observations and sessions through the Langfuse SDK, the way each
major offers it: v2's ``fetch_*`` helpers, v3's and v4's ``langfuse.api`` clients. Every
response is parsed by the SDK's own models; a field heron got wrong fails the script.

Run under each major's environment by tests/clients/test_langfuse_api.py:
``argv[1:]`` = trace id, session id, observation id. It also sends a score with
``create_score`` (v3 and v4 send it as a ``score-create`` event to ``/api/public/ingestion``).
Prints what it read as one JSON line.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

import httpx

trace_id, session_id, observation_id = sys.argv[1:4]
MAJOR = int(version("langfuse").split(".")[0])
CONSISTENT = {"X-Heron-Consistent": "true"}  # read what was just acknowledged


def v2() -> dict:
    from langfuse import Langfuse

    langfuse = Langfuse(httpx_client=httpx.Client(headers=CONSISTENT, timeout=30))
    traces = langfuse.fetch_traces(session_id=session_id, limit=10)
    trace = langfuse.fetch_trace(trace_id).data
    observations = langfuse.fetch_observations(trace_id=trace_id, type="GENERATION")
    one = langfuse.fetch_observation(observation_id).data
    sessions = langfuse.fetch_sessions(limit=50)
    session = langfuse.client.sessions.get(session_id)
    langfuse.score(trace_id=trace_id, name="v2-read", value=1, id="score-from-v2")
    langfuse.flush()
    return {
        "listed": [t.id for t in traces.data],
        "total": traces.meta.total_items,
        "trace_name": trace.name,
        "latency": trace.latency,
        "types": sorted(o.type for o in trace.observations),
        "scores": sorted((s.name, s.data_type) for s in trace.scores),
        "generations": [(o.id, o.model, o.usage.input, o.usage.output) for o in observations.data],
        "one": [one.id, one.type, one.parent_observation_id],
        "sessions": [s.id for s in sessions.data],
        "session_traces": [t.id for t in session.traces],
    }


def v3_v4() -> dict:
    from langfuse import Langfuse

    langfuse = Langfuse(additional_headers=CONSISTENT)
    api = langfuse.api
    traces = api.trace.list(session_id=session_id, limit=10, order_by="timestamp.asc")
    trace = api.trace.get(trace_id)
    v1 = api.legacy.observations_v1 if MAJOR >= 4 else api.observations
    observations = v1.get_many(trace_id=trace_id, type="GENERATION")
    one = v1.get(observation_id)
    sessions = api.sessions.list(limit=50)
    session = api.sessions.get(session_id)
    out = {
        "listed": [t.id for t in traces.data],
        "total": traces.meta.total_items,
        "trace_name": trace.name,
        "latency": trace.latency,
        "types": sorted(o.type for o in trace.observations),
        "scores": sorted((s.name, s.data_type) for s in trace.scores),
        "generations": [(o.id, o.model, o.usage.input, o.usage.output) for o in observations.data],
        "one": [one.id, one.type, one.parent_observation_id],
        "sessions": [s.id for s in sessions.data],
        "session_traces": [t.id for t in session.traces],
    }
    if MAJOR >= 4:  # the v2 observations API (cursor, field groups)
        page = api.observations.get_many(trace_id=trace_id, fields="core,basic,usage", limit=2)
        out["v2_page"] = [(o.id, o.type) for o in page.data]
        out["v2_cursor"] = page.meta.cursor is not None
    langfuse.create_score(
        trace_id=trace_id, observation_id=observation_id, name=f"v{MAJOR}-read", value=0.5,
        score_id=f"score-from-v{MAJOR}", comment="through ingestion",
    )  # fmt: skip
    langfuse.flush()
    return out


if __name__ == "__main__":
    print(json.dumps(v2() if MAJOR == 2 else v3_v4()))
