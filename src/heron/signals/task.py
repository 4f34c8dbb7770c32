"""Trace rules as a runner task: every enabled rule of a project on each changed trace.

The runner (:mod:`heron.runner`) hands the task the traces written since its cursor, and,
since it ``follows_scores``, the traces whose scores changed (an API score, a feedback
widget's thumbs-down, an implicit detector's score arriving after the trace). Per chunk and
project, each rule is evaluated on all the chunk's traces at once (one query per rule), and
the matches are written as signals (:func:`heron.store.signals.write_signals`) with
deterministic ids: a redo (a crash before the cursor moved, a backfill) inserts nothing new
and notifies no one twice. Signals are events: a later change of the trace retracts none.

The task writes no scores: its outcomes are empty, so nothing it does re-triggers it or any
other task.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from heron.query.filters import parse_filters
from heron.runner.task import Outcome, Target
from heron.signals import fingerprint as fp
from heron.signals.durations import parse_duration
from heron.signals.rules import effective_rules
from heron.store.signals import Signal

log = logging.getLogger("heron.signals")

REFRESH_S = 2.0  # rule definitions are read again at most this often
BASELINE_S = 600.0  # a trailing percentile is recomputed at most this often
PERSON_SOURCES = ("API", "ANNOTATION")
_ERROR = [{"column": "level", "operator": "=", "value": "ERROR"}]


def signal_id(project_id: str, rule: str, trace_id: str, part: str = "") -> str:
    """The deterministic id of a signal: one per (rule, trace, observation or score)."""
    key = "\x00".join(("heron-signal", project_id, rule, trace_id, part))
    return "sig_" + hashlib.sha256(key.encode()).hexdigest()[:28]


class RulesTask:
    """The ``rules`` runner task (``heron.signals.task:RulesTask`` in HERON_RUNNER_TASKS)."""

    name = "rules"
    version = "1"
    scope = "trace"
    follows_scores = True
    fields = ("name", "user_id", "session_id", "metadata", "latency_ms", "total_cost")

    def __init__(self) -> None:
        self.store: Any = None
        self._rules: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._read_at = -REFRESH_S
        self._baselines: dict[tuple[Any, ...], tuple[float, dict[str, float]]] = {}
        self._lock = threading.Lock()

    def bind(self, store: Any) -> None:
        self.store = store

    def refresh(self) -> None:
        """Read the rules again at the next run (after an edit in this process)."""
        with self._lock:
            self._read_at = -REFRESH_S

    def rules(self, project_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The project's enabled rules, (name, spec), built-ins first."""
        with self._lock:
            if time.monotonic() - self._read_at > REFRESH_S:
                stored: dict[str, dict[str, dict[str, Any]]] = {}
                for r in self.store.list_signal_rules(None):
                    stored.setdefault(r["project_id"], {})[r["name"]] = r["spec"]
                self._rules = {
                    p: [(n, s) for n, s in effective_rules(specs).items() if s["enabled"]]
                    for p, specs in stored.items()
                }
                self._rules[""] = [(n, s) for n, s in effective_rules({}).items() if s["enabled"]]
                self._read_at = time.monotonic()
            return self._rules.get(project_id, self._rules[""])

    # -- the runner's entry points -----------------------------------------------------------

    def run(self, target: Target, now: datetime) -> Outcome:
        return self.run_many([target], now)[0]

    def run_many(self, targets: Sequence[Target], now: datetime) -> list[Outcome | Exception]:
        by_project: dict[str, list[Target]] = {}
        for t in targets:
            if t.traces:
                by_project.setdefault(t.project_id, []).append(t)
        signals: list[Signal] = []
        notify: dict[tuple[str, str], list[str]] = {}
        for project_id, group in by_project.items():
            traces = {t.id: t.traces[0] for t in group}
            rules = self.rules(project_id)
            for name, spec in rules:
                notify[(project_id, name)] = spec["notify"]
            try:
                signals.extend(self.evaluate(project_id, rules, traces, now))
            except Exception:  # one project's rules failing must not keep the others'
                log.exception("rules failed in project %s", project_id)
        self.store.write_signals(signals, notify)
        return [Outcome() for _ in targets]

    # -- rules -------------------------------------------------------------------------------

    def evaluate(
        self,
        project_id: str,
        rules: list[tuple[str, dict[str, Any]]],
        traces: dict[str, dict[str, Any]],
        now: datetime,
    ) -> list[Signal]:
        """The signals ``rules`` raise on ``traces`` (by id). The filters of all rules are
        evaluated in one scan of the chunk's traces and one of their observations."""
        on_traces = {
            name: parse_filters(spec["filter"])
            for name, spec in rules
            if spec["target"] == "traces" and (spec["filter"] or not spec["builtin"])
        }
        on_observations = {
            name: parse_filters((_ERROR if name == "error" else []) + spec["filter"])
            for name, spec in rules
            if spec["target"] == "observations"
        }
        ids = list(traces)
        matched = self.store.signal_trace_matches(project_id, ids, on_traces)
        found = self.store.signal_observation_matches(project_id, ids, on_observations)
        out: list[Signal] = []
        for name, spec in rules:
            make = _Maker(project_id, name, spec["severity"], traces)
            if spec["target"] == "observations":
                out.extend(self._observations(found[name], make, spec))
                continue
            hits = matched.get(name, set(traces))
            if not spec["builtin"]:
                for t in sorted(hits):
                    label = traces[t].get("name") or t
                    out.append(
                        make.on_trace(t, spec.get("message") or f"trace {label} matched {name}")
                    )
            elif hits and name in ("slow", "expensive"):
                out.extend(self._above(project_id, name, spec["args"], traces, hits, make, now))
            elif hits and name == "retry_cluster":
                out.extend(self._retries(project_id, spec["args"]["min_calls"], hits, make))
            elif hits:
                out.extend(self._scores(project_id, name, spec["args"], hits, make))
        return out

    def _observations(
        self, found: list[dict[str, Any]], make: _Maker, spec: dict[str, Any]
    ) -> list[Signal]:
        out = []
        for obs in found:
            label = f"{obs['type']} {obs['name'] or obs['id']}"
            if spec.get("message"):
                message = spec["message"]
            elif make.rule == "error":
                message = obs.get("status_message") or f"{label} failed"
            else:
                message = f"{label} matched {make.rule}"
            out.append(make.on_observation(obs, message))
        return out

    def _above(
        self,
        project_id: str,
        name: str,
        args: dict[str, Any],
        traces: dict[str, dict[str, Any]],
        ids: set[str],
        make: _Maker,
        now: datetime,
    ) -> list[Signal]:
        column = "latency_ms" if name == "slow" else "total_cost"
        limits = self.baseline(project_id, column, args, now)
        pct = f"p{args['percentile']:g}"
        out = []
        for trace_id in sorted(ids):
            t = traces[trace_id]
            value, limit = t.get(column), limits.get(t.get("name") or "")
            if value is None or limit is None or value <= limit:
                continue
            if column == "latency_ms":
                message = f"latency {value:.0f} ms above the {pct} of {t['name']} ({limit:.0f} ms)"
            else:
                message = f"cost {value:.6g} above the {pct} of {t['name']} ({limit:.6g})"
            out.append(make.on_trace(trace_id, message))
        return out

    def baseline(
        self, project_id: str, column: str, args: dict[str, Any], now: datetime
    ) -> dict[str, float]:
        """Per trace name, the trailing percentile of ``column`` (cached ``BASELINE_S``)."""
        key = (project_id, column, args["percentile"], args["window"], args["min_traces"])
        with self._lock:
            cached = self._baselines.get(key)
        if cached is not None and time.monotonic() - cached[0] < BASELINE_S:
            return cached[1]
        since = now - parse_duration(args["window"])
        value = self.store.signal_percentiles(
            project_id, column, args["percentile"] / 100.0, since, args["min_traces"]
        )
        with self._lock:
            self._baselines[key] = (time.monotonic(), value)
        return value

    def _retries(
        self, project_id: str, min_calls: int, ids: set[str], make: _Maker
    ) -> list[Signal]:
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for call in self.store.trace_calls(project_id, sorted(ids)):
            if call["type"] == "tool":
                key = (call["trace_id"], "tool", call["name"] or "")
            else:
                key = (call["trace_id"], "model", call["model"] or call["name"] or "")
            groups.setdefault(key, []).append(call)
        out = []
        for (_, kind, what), calls in sorted(groups.items()):
            failed = [i for i, c in enumerate(calls) if c["level"] == "ERROR"]
            if not failed:
                continue
            retries = len(calls) - failed[0]  # the failed call and every call after it
            if retries < min_calls:
                continue
            last = calls[-1]
            message = f"{kind} {what} called {retries} times after {len(failed)} failures"
            out.append(make.on_observation({**last, "name": what}, message))
        return out

    def _scores(
        self, project_id: str, name: str, args: dict[str, Any], ids: set[str], make: _Maker
    ) -> list[Signal]:
        out = []
        for score in self.store.trace_scores(project_id, sorted(ids)):
            message = _score_message(name, args, score)
            if message is not None:
                custom = score["name"] if name == "implicit" else None
                out.append(make.on_score(score, message, custom))
        return out


def _score_message(name: str, args: dict[str, Any], score: dict[str, Any]) -> str | None:
    """The message of a score that the negative-feedback or implicit rule flags, or None."""
    kind, value, sname = score["data_type"], score["value"], score["name"]
    if name == "implicit":
        wanted = args["names"]
        if (
            sname.startswith("implicit_")
            and kind == "BOOLEAN"
            and value == 1
            and (wanted is None or sname in wanted)
        ):
            return f"{sname} detected"
        return None
    if score["source"] not in PERSON_SOURCES or value is None:
        return None
    if kind == "BOOLEAN" and value == 0:
        wanted = args["boolean_names"]
        if wanted is None or sname in wanted:
            return f"negative feedback: {sname} false"
    if kind == "NUMERIC" and sname in args["rating_names"] and value <= args["rating_at_most"]:
        return f"negative feedback: {sname} {value:g}"
    return None


class _Maker:
    """Builds one rule's signals on a chunk's traces (ids, fingerprints, issue ids)."""

    def __init__(
        self, project_id: str, rule: str, severity: str, traces: dict[str, dict[str, Any]]
    ) -> None:
        self.project_id = project_id
        self.rule = rule
        self.severity = severity
        self.traces = traces

    def _signal(
        self,
        trace_id: str,
        part: str,
        name: str | None,
        message: str,
        at: datetime | None,
        *,
        observation_id: str | None = None,
        score_id: str | None = None,
        metadata: Any = None,
        custom: str | None = None,
    ) -> Signal:
        t = self.traces[trace_id]
        custom = custom if custom is not None else fp.override(metadata, t.get("metadata"))
        text = fp.fingerprint(self.rule, name, message, custom)
        return Signal(
            project_id=self.project_id,
            id=signal_id(self.project_id, self.rule, trace_id, part),
            rule=self.rule,
            severity=self.severity,
            trace_id=trace_id,
            observation_id=observation_id,
            score_id=score_id,
            time=at or t["start_time"],
            message=message[:2000],
            issue_id=fp.issue_id(self.project_id, text),
            fingerprint=text[:4000],
            name=name,
            user_id=t.get("user_id"),
            session_id=t.get("session_id"),
        )

    def on_trace(self, trace_id: str, message: str) -> Signal:
        return self._signal(trace_id, "", self.traces[trace_id].get("name"), message, None)

    def on_observation(self, obs: dict[str, Any], message: str) -> Signal:
        return self._signal(
            obs["trace_id"],
            "o:" + obs["id"],
            obs.get("name"),
            message,
            obs.get("start_time"),
            observation_id=obs["id"],
            metadata={fp.ATTRIBUTE: obs.get("fingerprint")},
        )

    def on_score(self, score: dict[str, Any], message: str, custom: str | None) -> Signal:
        at = score.get("timestamp")
        return self._signal(
            score["trace_id"],
            "s:" + score["id"],
            score["name"],
            message,
            at if isinstance(at, datetime) else None,
            observation_id=score.get("observation_id"),
            score_id=score["id"],
            custom=custom,
        )
