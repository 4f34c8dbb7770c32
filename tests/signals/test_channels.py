"""Channel definitions (every problem named with its path; the secret kept apart; an export
applied back changes nothing) and their storage (secrets sealed, scoped to a project)."""

from __future__ import annotations

import base64

import pytest

from heron.evals.secrets import InvalidSecret
from heron.evals.spec import Problems
from heron.signals.channels import check_channel, export_channel, seal, secret_hint, unseal
from heron.signals.webhooks import generate_secret
from heron.store import EmbeddedStore

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
KEY = bytes(range(32))


def checked(raw: object, **kw: bool) -> tuple:
    problems = Problems()
    out = check_channel(raw, "$", problems, **kw)
    return out, problems.items


def test_a_webhook_keeps_its_secret_apart_and_its_export_applies_back_unchanged() -> None:
    raw = {"name": "oncall", "type": "webhook", "url": "https://example.com/hook",
           "secret": SECRET, "headers": {"X-Team": "sre"}}  # fmt: skip
    (name, spec, secret), problems = checked(raw)
    assert problems == [] and name == "oncall" and secret == SECRET
    assert spec == {"type": "webhook", "url": "https://example.com/hook",
                    "headers": {"X-Team": "sre"}}  # fmt: skip
    assert SECRET not in str(spec)
    exported = export_channel(name, spec)
    assert exported == {k: v for k, v in raw.items() if k != "secret"}
    (name2, spec2, secret2), problems = checked(exported, secret_required=False)
    assert (name2, spec2, secret2, problems) == (name, spec, None, [])


def test_an_apprise_url_is_the_secret_and_is_checked_by_apprise() -> None:
    raw = {"name": "team-chat", "type": "apprise", "url": "slack://T000/B000/XXXX"}
    (name, spec, secret), problems = checked(raw)
    assert problems == [] and spec == {"type": "apprise"} and secret == raw["url"]
    assert export_channel(name, spec) == {"name": "team-chat", "type": "apprise"}
    for url in ("json://127.0.0.1:8080/x", "mailto://u:p@example.com", "ntfy://alerts"):
        assert checked({**raw, "url": url})[1] == []
    # an export (no URL) applies back to an existing channel, not to a new one
    assert checked({"name": "team-chat", "type": "apprise"}, secret_required=False)[1] == []
    assert checked({"name": "team-chat", "type": "apprise"})[1] == [
        ("$.url", "required for a new apprise channel")
    ]


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ("oncall", "$", "expected an object"),
        ({"name": "x y", "type": "webhook", "url": "https://e.com"}, "$.name", "a name of 1"),
        ({"name": "a", "type": "sms", "url": "x"}, "$.type", "one of webhook, apprise"),
        ({"name": "a", "type": "webhook", "url": "ftp://e.com"}, "$.url", "an http(s) URL"),
        ({"name": "a", "type": "webhook"}, "$.url", "an http(s) URL"),
        ({"name": "a", "type": "webhook", "url": "https://u:p@e.com"}, "$.url", "credentials"),
        ({"name": "a", "type": "webhook", "url": "https://e.com/" + "x" * 2000}, "$.url", "URL"),
        ({"name": "a", "type": "webhook", "url": "https://e.com\n"}, "$.url", "URL"),
        ({"name": "a", "type": "webhook", "url": "https://e.com", "secret": "abc"},
         "$.secret", "starts with 'whsec_'"),
        ({"name": "a", "type": "webhook", "url": "https://e.com", "secret": "whsec_AAAA"},
         "$.secret", "24 to 64 bytes"),
        ({"name": "a", "type": "webhook", "url": "https://e.com",
          "secret": "${HERON_WEBHOOK_SECRET}"}, "$.secret", "unresolved"),
        ({"name": "a", "type": "webhook", "url": "https://e.com", "secret": 12},
         "$.secret", "unresolved or redacted"),
        ({"name": "a", "type": "webhook", "url": "https://e.com",
          "headers": {"webhook-signature": "v1,x"}}, "$.headers.webhook-signature", "not Host"),
        ({"name": "a", "type": "webhook", "url": "https://e.com",
          "headers": {"X-A": "b\r\nInjected: 1"}}, "$.headers.X-A", "one-line"),
        ({"name": "a", "type": "webhook", "url": "https://e.com", "headers": ["X-A"]},
         "$.headers", "an object"),
        ({"name": "a", "type": "webhook", "url": "https://e.com", "token": "t"},
         "$.token", "unknown field of a webhook channel"),
        ({"name": "a", "type": "apprise", "url": "slack://T/B/X", "secret": SECRET},
         "$.secret", "unknown field of an apprise"),
        ({"name": "a", "type": "apprise", "url": "bogus://x"}, "$.url", "scheme 'bogus'"),
        ({"name": "a", "type": "apprise", "url": "/etc/passwd"}, "$.url", "does not accept"),
        ({"name": "a", "type": "apprise", "url": "${SLACK_URL}"}, "$.url", "unresolved"),
        ({"name": "a", "type": "apprise", "url": ["slack://T/B/X"]}, "$.url", "one line"),
    ],
)  # fmt: skip
def test_problems_are_named_with_their_path(raw: object, path: str, message: str) -> None:
    (_, spec, secret), problems = checked(raw)
    assert spec is None and secret is None
    assert any(p == path and message in m for p, m in problems), problems


def test_several_problems_are_all_named() -> None:
    raw = {"name": "", "type": "webhook", "url": "nope", "secret": "x", "extra": 1}
    (_, spec, _), problems = checked(raw)
    assert spec is None
    assert {p for p, _ in problems} == {"$.name", "$.url", "$.secret", "$.extra"}


def test_hints_do_not_reveal_the_secret() -> None:
    secret = generate_secret()
    assert secret_hint("webhook", secret) == "whsec_…" + secret[-4:]
    url = "slack://T000AAAA/B000BBBB/XXXXYYYYZZZZ"
    hint = secret_hint("apprise", url)
    assert hint == "slack://…ZZZZ" and "T000" not in hint
    assert secret_hint("apprise", "ntfy://x") == "ntfy://…"


def test_a_sealed_secret_opens_only_with_its_key_and_unaltered() -> None:
    token, hint = seal(KEY, "webhook", SECRET)
    assert SECRET not in token and hint.startswith("whsec_…")
    assert seal(KEY, "webhook", SECRET)[0] != token  # a fresh nonce each time
    assert unseal(KEY, token) == SECRET
    altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for key, sealed in ((bytes(32), token), (KEY, altered), (KEY, "plain")):
        with pytest.raises(InvalidSecret):
            unseal(key, sealed)


# -- storage -------------------------------------------------------------------------------


def _project(store: EmbeddedStore, name: str) -> str:
    return store.create_project(name)["id"]


def test_the_store_keeps_channels_per_project_and_a_missing_secret_keeps_the_stored_one(
    store: EmbeddedStore,
) -> None:
    a, b = _project(store, "a"), _project(store, "b")
    spec = {"type": "webhook", "url": "https://example.com/hook", "headers": {}}
    token, hint = seal(KEY, "webhook", SECRET)
    ch, action = store.put_channel(a, "oncall", spec, token, hint)
    assert action == "created" and "secret" not in ch and ch["secret_hint"] == hint
    assert ch["type"] == "webhook" and ch["spec"] == spec
    assert store.put_channel(a, "oncall", spec, None, None)[1] == "unchanged"
    changed = {**spec, "url": "https://example.com/other"}
    assert store.put_channel(a, "oncall", changed, None, None)[1] == "updated"
    stored = store.get_channel(a, "oncall", with_secret=True)
    assert stored["secret"] == token and stored["spec"]["url"].endswith("/other")
    assert "secret" not in store.get_channel(a, "oncall")
    assert [c["name"] for c in store.list_channels(a)] == ["oncall"]
    assert all("secret" not in c for c in store.list_channels(a))
    # another project sees nothing of it, and deleting there removes nothing
    assert store.list_channels(b) == [] and store.get_channel(b, "oncall") is None
    assert store.delete_channel(b, "oncall") is False
    assert store.delete_channel(a, "oncall") is True
    assert store.get_channel(a, "oncall") is None


def test_a_channel_of_an_unknown_project_is_refused(store: EmbeddedStore) -> None:
    from heron.errors import NotFound

    with pytest.raises(NotFound):
        store.put_channel("nope", "x", {"type": "apprise"}, "v1:t", "h")


def test_a_plan_names_its_action_and_applying_it_twice_changes_nothing(
    store: EmbeddedStore,
) -> None:
    """What configuration as code does with a ``channels`` section: plan each definition,
    then save it; the plan writes nothing."""
    from heron.signals.channels import plan_channel

    pid = _project(store, "cfg")
    raw = {"name": "oncall", "type": "webhook", "url": "https://e.com/h", "secret": SECRET}

    def plan(definition: dict) -> tuple:
        problems = Problems()
        planned = plan_channel(store, KEY, pid, definition, "$.channels[0]", problems)
        return planned, problems.items

    planned, problems = plan(raw)
    assert problems == [] and planned.action == "create" and planned.generated is None
    assert store.get_channel(pid, "oncall") is None  # planning wrote nothing
    store.put_channel(pid, planned.name, planned.spec, planned.token, planned.hint)
    assert unseal(KEY, store.get_channel(pid, "oncall", True)["secret"]) == SECRET
    assert plan(raw)[0].action == "unchanged"  # the same secret given again
    assert plan(export_channel("oncall", planned.spec))[0].action == "unchanged"
    assert plan({**raw, "url": "https://e.com/other"})[0].action == "update"
    assert plan({**raw, "secret": generate_secret()})[0].action == "update"
    fresh, _ = plan({"name": "new", "type": "webhook", "url": "https://e.com/h"})
    assert fresh.action == "create" and fresh.generated.startswith("whsec_")
    assert plan({"name": "chat", "type": "apprise"})[1] == [
        ("$.channels[0].url", "required for a new apprise channel")
    ]
    bad, problems = plan({**raw, "url": "ftp://x"})
    assert bad is None and problems[0][0] == "$.channels[0].url"
