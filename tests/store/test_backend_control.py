"""The control store on both backends: the same calls on the DuckDB ``EmbeddedStore`` (a real
file) and on ``PostgresControl`` (a real PostgreSQL server) give the same results
(transcripts compared call by call, see :mod:`tests.support.transcript`); and what only
replicas sharing PostgreSQL can do: start together, race for names and keys, demote each
other. More topics: tests/store/test_backend_topics.py."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heron.bootstrap import bootstrap, bootstrap_users
from heron.errors import HeronError
from heron.settings import Settings
from heron.store import EmbeddedStore
from heron.store.keys import hash_secret
from heron.store.postgres import PostgresControl
from tests.support.transcript import Transcript, assert_same, race

PASSWORD = "long enough password"


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "duckdb":
        s: Any = EmbeddedStore(tmp_path / "heron.duckdb")
    else:
        s = PostgresControl(request.getfixturevalue("postgres_url"), pool_size=2)
    yield s
    s.close()


def _scenario(s: Any) -> list[tuple[str, Any]]:
    """Projects, keys, users, members, invitations, sessions and login tokens: the calls the
    server makes, including the refused ones."""
    t = Transcript()
    admin = t("admin", lambda: s.create_user("Root@X.test", PASSWORD, is_admin=True))
    alpha = t("alpha", lambda: s.create_project("alpha"))
    alice = t("alice", lambda: s.create_user("alice@x.test", PASSWORD, project_ids=[alpha["id"]]))
    beta = t("beta", lambda: s.create_project(" beta ", owner_id=alice["id"]))
    t("dup project", lambda: s.create_project("alpha"))
    t("empty project", lambda: s.create_project("  "))
    t("dup user", lambda: s.create_user("alice@X.test", PASSWORD))
    t("bad email", lambda: s.create_user("nobody", PASSWORD))
    t("short password", lambda: s.create_user("b@x.test", "short"))
    t("unknown project", lambda: s.create_user("c@x.test", PASSWORD, project_ids=["prj_no"]))
    t("projects", s.list_projects)
    t("by name", lambda: s.project_by_name("beta"))
    t("by name none", lambda: s.project_by_name("gamma"))

    fixed = t("fixed key", lambda: s.create_key(alpha["id"], "pk-hr-fixed", "sk-hr-fixed-secret"))
    t("random key", lambda: s.create_key(beta["id"], scope="ingest"))
    t("dup key", lambda: s.create_key(beta["id"], "pk-hr-fixed", "sk-hr-other"))
    t("dup secret", lambda: s.create_key(beta["id"], "pk-hr-other", "sk-hr-fixed-secret"))
    t("bad scope", lambda: s.create_key(beta["id"], scope="root"))
    t("key of no project", lambda: s.create_key("prj_none"))
    t("keys", s.list_keys)
    t("keys of beta", lambda: s.list_keys(beta["id"]))
    t("key table", lambda: sorted(s.key_table().values()))
    t("hash looked up", lambda: s.key_table()[hash_secret("sk-hr-fixed-secret")])
    t("has key", lambda: [s.has_key("pk-hr-fixed"), s.has_key("pk-hr-none")])
    t("revoke elsewhere", lambda: s.revoke_key(beta["id"], fixed["public_key"]))
    t("revoke", lambda: s.revoke_key(alpha["id"], fixed["public_key"]))
    t("revoked", lambda: [s.has_key("pk-hr-fixed"), s.list_keys(alpha["id"])])
    t("retention", lambda: s.set_retention(alpha["id"], 30))
    t("bad retention", lambda: s.set_retention(alpha["id"], 0))
    t("retention of none", lambda: s.set_retention("prj_none", 3))
    t("rename", lambda: s.rename_project(alpha["id"], "alpha two"))
    t("rename clash", lambda: s.rename_project(alpha["id"], "beta"))
    t("projects after", s.list_projects)

    bob = t("bob", lambda: s.create_user("bob@x.test", PASSWORD))
    t("add bob", lambda: s.add_member(beta["id"], bob["id"], "viewer"))
    t("bad role", lambda: s.add_member(beta["id"], bob["id"], "boss"))
    t("add nobody", lambda: s.add_member(beta["id"], "usr_none", "viewer"))
    t("demote last owner", lambda: s.set_member_role(beta["id"], alice["id"], "member"))
    t("remove last owner", lambda: s.remove_member(beta["id"], alice["id"]))
    t("bob owner", lambda: s.add_member(beta["id"], bob["id"], "owner"))
    t("demote alice", lambda: s.set_member_role(beta["id"], alice["id"], "member"))
    t("members", lambda: s.list_members(beta["id"]))
    t("remove alice", lambda: s.remove_member(beta["id"], alice["id"]))
    t("remove non-member", lambda: s.remove_member(beta["id"], alice["id"]))
    t("members after", lambda: s.list_members(beta["id"]))
    t("alice projects", lambda: s.user_projects(alice["id"]))
    t("admin projects", lambda: s.user_projects(admin["id"]))

    invite = t("invite", lambda: s.create_invite(beta["id"], "member", bob["id"]))
    t("bad invite", lambda: s.create_invite(beta["id"], "boss"))
    t("peek", lambda: s.peek_invite(invite["token"]))
    t("peek unknown", lambda: s.peek_invite("nope"))
    t("accept", lambda: s.accept_invite(invite["token"], email="carol@x.test", password=PASSWORD))
    t("accept again", lambda: s.accept_invite(invite["token"], user_id=alice["id"]))
    invite2 = t("invite 2", lambda: s.create_invite(beta["id"], "viewer"))
    t("accept existing", lambda: s.accept_invite(invite2["token"], user_id=alice["id"]))
    t("members with invited", lambda: s.list_members(beta["id"]))

    t("accounts", s.list_accounts)
    t("by email", lambda: s.user_by_email(" ALICE@x.test"))
    t("by email none", lambda: s.user_by_email("zed@x.test"))
    t("login", lambda: s.check_login("alice@x.test", PASSWORD))
    t("login wrong", lambda: s.check_login("alice@x.test", "wrong password"))
    t("login unknown", lambda: s.check_login("zed@x.test", PASSWORD))
    session = t("session", lambda: s.create_web_session(alice["id"], 3600))
    t("session user", lambda: s.web_session(session["token"]))
    t("session unknown", lambda: s.web_session("nope"))
    t("new password", lambda: s.set_password("alice@x.test", "another long password"))
    t("password ends sessions", lambda: s.web_session(session["token"]))
    t("old password", lambda: s.check_login("alice@x.test", PASSWORD))
    t("new login", lambda: s.check_login("alice@x.test", "another long password"))
    t("password of nobody", lambda: s.set_password("zed@x.test", "another long password"))
    session2 = t("session 2", lambda: s.create_web_session(bob["id"], 3600))
    t("logout", lambda: s.delete_web_session(session2["token"]))
    t("logged out", lambda: s.web_session(session2["token"]))
    t("expired session", lambda: s.web_session(s.create_web_session(bob["id"], -1)["token"]))
    token = t("login token", lambda: s.create_login_token(bob["id"], 600))
    t("use token", lambda: s.use_login_token(token))
    t("use token again", lambda: s.use_login_token(token))
    t("expired token", lambda: s.use_login_token(s.create_login_token(bob["id"], -1)))

    t("meta none", lambda: s.get_meta("k"))
    t("meta set", lambda: [s.set_meta("k", "1"), s.set_meta("k", "2"), s.get_meta("k")])
    return t.lines


@pytest.fixture(scope="module")
def duckdb_transcript(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Any]]:
    s = EmbeddedStore(tmp_path_factory.mktemp("duck") / "heron.duckdb")
    try:
        return _scenario(s)
    finally:
        s.close()


def test_postgres_answers_as_duckdb(
    postgres_url: str, duckdb_transcript: list[tuple[str, Any]]
) -> None:
    s = PostgresControl(postgres_url, pool_size=2)
    try:
        got = _scenario(s)
    finally:
        s.close()
    assert_same(got, duckdb_transcript)


def test_scenario_checks_what_it_should(duckdb_transcript: list[tuple[str, Any]]) -> None:
    """The transcript holds the refusals and results the comparison relies on (a scenario
    that silently did nothing would compare equal too)."""
    lines = dict(duckdb_transcript)
    assert lines["dup project"] == ("Conflict", "project 'alpha' already exists")
    assert lines["demote last owner"][0] == "Conflict"
    assert lines["has key"] == [True, False]
    assert lines["revoked"] == [False, []]
    assert lines["use token again"] is None and lines["use token"]["email"] == "bob@x.test"
    assert lines["password ends sessions"] is None
    assert [p["name"] for p in lines["projects after"]] == ["alpha two", "beta"]
    assert [m["email"] for m in lines["members with invited"]] == [
        "root@x.test",
        "alice@x.test",
        "bob@x.test",
        "carol@x.test",
    ]
    assert lines["meta set"] == [None, None, "2"]


def test_racing_creates_are_conflicts(store: Any) -> None:
    """Of two writes racing past the check, the second is refused as a Conflict, never
    a duplicate: on PostgreSQL the unique constraints do what DuckDB's lock does."""
    pid = store.create_project("p")["id"]
    results: list[str] = []
    barrier = threading.Barrier(4)

    def create(i: int) -> None:
        barrier.wait()
        try:
            store.create_key(pid, f"pk-hr-race-{i % 2}", f"sk-hr-race-secret-{i}")
            results.append("created")
        except HeronError as e:
            results.append(type(e).__name__)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["Conflict", "Conflict", "created", "created"]
    assert sorted(k["public_key"] for k in store.list_keys(pid)) == [
        "pk-hr-race-0",
        "pk-hr-race-1",
    ]


INIT = Settings(
    init_project="shared",
    init_public_key="pk-hr-init",
    init_secret_key="sk-hr-init-secret",
    init_admin_email="ops@x.test",
    init_admin_password=PASSWORD,
)


@pytest.mark.parametrize("replicas", [2, 4])
def test_replicas_starting_together_create_the_init_set_once(
    postgres_url: str, replicas: int
) -> None:
    """Replicas, each with its own pool, run the first-start set-up at once on one database:
    one project, one key, one admin; exactly one replica reports creating each."""
    stores = [PostgresControl(postgres_url, pool_size=1) for _ in range(replicas)]
    barrier = threading.Barrier(replicas)
    created: list[tuple[list[dict[str, str]], list[dict[str, Any]]]] = []
    errors: list[BaseException] = []

    def start(s: PostgresControl) -> None:
        barrier.wait()
        try:
            created.append((bootstrap(s, INIT), bootstrap_users(s, INIT)))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        s = stores[0]
        assert [p["name"] for p in s.list_projects()] == ["shared"]
        assert [k["public_key"] for k in s.list_keys()] == ["pk-hr-init"]
        assert [u["email"] for u in s.list_accounts()] == ["ops@x.test"]
        assert sum(len(keys) for keys, _ in created) == 1
        assert sum(len(users) for _, users in created) == 1
        assert s.check_login("ops@x.test", PASSWORD) is not None
        # a replica starting later finds everything and creates nothing
        assert bootstrap(s, INIT) == [] and bootstrap_users(s, INIT) == []
    finally:
        for s in stores:
            s.close()


def test_replicas_without_init_create_one_default_project(postgres_url: str) -> None:
    stores = [PostgresControl(postgres_url, pool_size=1) for _ in range(3)]
    barrier = threading.Barrier(3)
    created: list[list[dict[str, str]]] = []

    def start(s: PostgresControl) -> None:
        barrier.wait()
        created.append(bootstrap(s, Settings()))

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert len(created) == 3
        assert [p["name"] for p in stores[0].list_projects()] == ["default"]
        assert len(stores[0].list_keys()) == 1
        assert sum(len(c) for c in created) == 1
    finally:
        for s in stores:
            s.close()


def test_two_owners_demoting_each_other_at_once_leave_one_owner(store: Any) -> None:
    """The last-owner rule holds across concurrent writers (on PostgreSQL a per-project
    advisory lock serialises member writes, as DuckDB's admin lock does)."""
    users = [store.create_user(f"o{i}@x.test", PASSWORD)["id"] for i in range(2)]
    for round_ in range(8):
        pid = store.create_project(f"owners {round_}", owner_id=users[0])["id"]
        store.add_member(pid, users[1], "owner")
        demotions = [functools.partial(store.set_member_role, pid, u, "member") for u in users]
        outcomes = race(*demotions)
        assert outcomes == ["Conflict", "done"], round_
        assert [m["role"] for m in store.list_members(pid)].count("owner") == 1


def test_every_method_has_the_embedded_stores_signature() -> None:
    """PostgresControl stands in for EmbeddedStore method by method: same names, same
    parameters, same defaults, same annotations."""
    import inspect

    mine = {n for n in dir(PostgresControl) if not n.startswith("_") and n != "close"}
    assert len(mine) > 100
    # what the cluster store's mixins call on the control half beside the Store methods
    helpers = {
        "dataset_reads", "dataset_writes", "delete_session_items", "delete_trace_links",
        "queued_trace_ids", "session_item_targets",
    }  # fmt: skip
    assert {n for n in mine if not hasattr(EmbeddedStore, n)} == helpers
    for name in sorted(mine - helpers):
        expected = getattr(EmbeddedStore, name)
        assert inspect.signature(getattr(PostgresControl, name)) == inspect.signature(expected), (
            name
        )
