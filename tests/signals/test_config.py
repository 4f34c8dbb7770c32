"""Configuration as code for signals: the channels, rules and alerts sections of
POST /api/config/apply and GET /api/config, on the real app and store."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DOC = textwrap.dedent(
    f"""
    channels:
      - {{name: oncall, type: webhook, url: "https://example.com/hook", secret: "{SECRET}"}}
      - {{name: team-chat, type: apprise, url: "json://127.0.0.1:9/heron-team-chat"}}
    rules:
      - name: very-slow-chat
        target: traces
        filter: [{{column: name, operator: "=", value: support-chat}},
                 {{column: latency_ms, operator: ">", value: 20000}}]
        severity: warning
        notify: [team-chat]
      - {{name: error, severity: critical, notify: [oncall]}}
    alerts:
      - name: chat-error-rate
        query: {{view: traces, metric: {{measure: error_rate, aggregation: avg}},
                filters: [{{column: name, operator: "=", value: support-chat}}]}}
        window: 5m
        every: 1m
        condition: {{operator: ">", warning: 0.05, alert: 0.1}}
        notify: [oncall]
      - name: chat-latency-anomaly
        query: {{view: traces, metric: {{measure: latency, aggregation: p50}}, filters: []}}
        window: 1h
        every: 5m
        anomaly: {{sensitivity: medium}}
        notify: [oncall]
    """
)


def apply(client: TestClient, text: str, dry_run: bool = False, status: int = 200) -> dict:
    r = client.post(
        f"/api/config/apply?dry_run={str(dry_run).lower()}",
        content=text,
        headers={"Content-Type": "application/yaml"},
    )
    assert r.status_code == status, r.text
    return r.json()


def actions(result: dict) -> dict[tuple[str, str], str]:
    return {(c["kind"], c["name"]): c["action"] for c in result["changes"]}


def test_channels_and_rules_apply_reapply_unchanged_and_export_round_trips(
    client: TestClient, settings
) -> None:
    assert set(actions(apply(client, DOC, dry_run=True)).values()) == {"create"}
    assert client.get("/api/channels").json()["data"] == []  # a dry run changes nothing
    assert actions(apply(client, DOC)) == {
        ("channel", "oncall"): "create",
        ("channel", "team-chat"): "create",
        ("rule", "very-slow-chat"): "create",
        ("rule", "error"): "create",
        ("alert", "chat-error-rate"): "create",
        ("alert", "chat-latency-anomaly"): "create",
    }
    assert set(actions(apply(client, DOC)).values()) == {"unchanged"}  # same secrets too

    rules = {r["name"]: r for r in client.get("/api/rules").json()["data"]}
    assert rules["very-slow-chat"]["severity"] == "warning"
    assert rules["error"]["severity"] == "critical" and rules["error"]["notify"] == ["oncall"]
    assert rules["slow"]["enabled"]  # built-ins the document leaves out stay as they are

    exported = client.get("/api/config").text
    assert SECRET not in exported and "heron-team-chat" not in exported
    doc = yaml.safe_load(exported)
    assert [c["name"] for c in doc["channels"]] == ["oncall", "team-chat"]
    assert {r["name"] for r in doc["rules"]} == {"very-slow-chat", "error"}
    assert [a["name"] for a in doc["alerts"]] == ["chat-error-rate", "chat-latency-anomaly"]
    alerts = {a["name"]: a for a in client.get("/api/alerts").json()["data"]}
    assert set(alerts) == {"chat-error-rate", "chat-latency-anomaly"}
    assert set(actions(apply(client, exported)).values()) == {"unchanged"}

    # a changed secret is an update, stored encrypted
    changed = DOC.replace(SECRET, "whsec_" + "A" * 40)
    assert actions(apply(client, changed))[("channel", "oncall")] == "update"
    data = (Path(settings.data_dir) / "heron.duckdb").read_bytes()
    assert b"A" * 40 not in data and SECRET.encode() not in data


def test_every_problem_is_named_with_its_path_and_nothing_changes(client: TestClient) -> None:
    bad = textwrap.dedent(
        """
        channels:
          - {name: hook, type: webhook, url: "https://example.com/hook"}
          - {name: chat, type: carrier-pigeon}
        rules:
          - {name: r1, target: traces, filter: [], severity: loud, notify: [nowhere]}
          - {name: r2, target: spans, filter: [{column: nope, operator: "=", value: 1}]}
        alerts:
          - {name: a1, query: {view: traces, metric: {measure: latency, aggregation: p50}},
             window: 5 minutes, every: 1m, condition: {operator: ">", alert: 1}}
          - {name: a2, query: {view: traces, metric: {measure: latency, aggregation: p50}},
             window: 5m, every: 1m, notify: [nowhere]}
        """
    )
    problems = {p["path"] for p in apply(client, bad, status=400)["error"]["problems"]}
    assert {
        "channels[0].secret",  # a new webhook needs its secret in configuration
        "channels[1].type",
        "rules[0].severity",
        "rules[0].notify[0]",
        "rules[1].target",
        "alerts[0].window",
    } <= problems, problems
    assert any(p.startswith("alerts[1]") for p in problems)  # neither condition nor anomaly
    assert client.get("/api/channels").json()["data"] == []
    assert "r1" not in {r["name"] for r in client.get("/api/rules").json()["data"]}


def test_a_rule_may_name_a_channel_the_same_document_creates(client: TestClient) -> None:
    doc = DOC.replace("notify: [team-chat]", "notify: [team-chat, oncall]")
    assert actions(apply(client, doc))[("rule", "very-slow-chat")] == "create"
