"""Project settings in the store: roles, the last owner, invitations, rename, key revocation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.errors import BadRequest, Conflict, NotFound
from heron.store import EmbeddedStore

PASSWORD = "long enough password"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "heron.duckdb")
    yield s
    s.close()


def _user(store: EmbeddedStore, email: str) -> str:
    return store.create_user(email, PASSWORD)["id"]


def test_creator_is_owner_and_roles_are_validated(store: EmbeddedStore) -> None:
    alice = _user(store, "alice@x.test")
    pid = store.create_project("p", owner_id=alice)["id"]
    assert store.user_projects(alice) == [{"id": pid, "name": "p", "role": "owner"}]
    bob = _user(store, "bob@x.test")
    with pytest.raises(BadRequest, match="unknown role 'boss'"):
        store.add_member(pid, bob, "boss")
    store.add_member(pid, bob, "viewer")
    assert [(m["email"], m["role"]) for m in store.list_members(pid)] == [
        ("alice@x.test", "owner"),
        ("bob@x.test", "viewer"),
    ]


def test_last_owner_can_be_neither_demoted_nor_removed(store: EmbeddedStore) -> None:
    alice, bob = _user(store, "alice@x.test"), _user(store, "bob@x.test")
    pid = store.create_project("p", owner_id=alice)["id"]
    store.add_member(pid, bob, "member")
    with pytest.raises(Conflict, match="last owner"):
        store.set_member_role(pid, alice, "admin")
    with pytest.raises(Conflict, match="last owner"):
        store.remove_member(pid, alice)
    store.set_member_role(pid, bob, "owner")
    store.set_member_role(pid, alice, "viewer")  # bob is owner now
    store.remove_member(pid, alice)
    assert store.user_projects(alice) == []
    with pytest.raises(NotFound):
        store.remove_member(pid, alice)


def test_invitation_is_one_time_and_adds_a_new_user_with_its_role(store: EmbeddedStore) -> None:
    pid = store.create_project("p")["id"]
    invite = store.create_invite(pid, "viewer")
    assert store.peek_invite(invite["token"])["role"] == "viewer"
    with pytest.raises(BadRequest):  # too short a password: the invitation survives
        store.accept_invite(invite["token"], email="new@x.test", password="short")
    joined = store.accept_invite(invite["token"], email="new@x.test", password=PASSWORD)
    assert joined is not None and joined["role"] == "viewer"
    assert store.user_projects(joined["user_id"])[0]["role"] == "viewer"
    assert store.accept_invite(invite["token"], email="b@x.test", password=PASSWORD) is None
    assert store.peek_invite(invite["token"]) is None
    existing = _user(store, "old@x.test")
    second = store.create_invite(pid, "admin")
    assert store.accept_invite(second["token"], user_id=existing)["role"] == "admin"
    assert store.check_login("old@x.test", PASSWORD) is not None


def test_rename_and_revoke(store: EmbeddedStore) -> None:
    pid = store.create_project("p")["id"]
    store.create_project("q")
    with pytest.raises(Conflict):
        store.rename_project(pid, "q")
    with pytest.raises(BadRequest):
        store.rename_project(pid, "  ")
    assert store.rename_project(pid, "renamed")["name"] == "renamed"
    assert store.project_by_name("renamed")["id"] == pid
    key = store.create_key(pid)
    assert [k["public_key"] for k in store.list_keys(pid)] == [key["public_key"]]
    assert key["secret_key"] not in str(store.list_keys(pid))
    store.revoke_key(pid, key["public_key"])
    assert store.list_keys(pid) == [] and store.key_table() == {}
    with pytest.raises(NotFound):
        store.revoke_key(pid, key["public_key"])
