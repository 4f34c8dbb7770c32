"""The annotation-queue store: queues, items without duplicates, leases under threads,
double annotation, progress, assignments, scoping."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from heron.errors import BadRequest, Conflict, NotFound
from heron.store import EmbeddedStore


@pytest.fixture
def db(tmp_path: Path):
    s = EmbeddedStore(tmp_path / "heron.duckdb")
    p1 = s.create_project("one")["id"]
    p2 = s.create_project("two")["id"]
    yield s, p1, p2
    s.close()


def _queue(s: EmbeddedStore, project: str, name: str = "q", per_item: int = 1) -> str:
    spec = {"name": name, "description": "d", "score_config_ids": ["c1"],
            "annotations_per_item": per_item}  # fmt: skip
    return s.create_annotation_queue(project, spec)["id"]


def test_queue_crud_and_names(db) -> None:
    s, p1, p2 = db
    q = s.create_annotation_queue(
        p1, {"name": "review", "description": None, "score_config_ids": ["a", "b"]}
    )
    assert q["annotations_per_item"] == 1 and q["score_config_ids"] == ["a", "b"]
    assert s.get_annotation_queue(p1, "review")["id"] == q["id"]
    assert s.get_annotation_queue(p1, q["id"])["name"] == "review"
    assert s.get_annotation_queue(p2, q["id"]) is None  # another project's
    with pytest.raises(Conflict):
        s.create_annotation_queue(p1, {"name": "review", "score_config_ids": []})
    s.create_annotation_queue(p2, {"name": "review", "score_config_ids": []})  # its own names
    other = _queue(s, p1, "other")
    with pytest.raises(Conflict):
        s.update_annotation_queue(p1, other, {"name": "review"})
    changed = s.update_annotation_queue(p1, q["id"], {"description": "new", "name": "renamed"})
    assert (changed["name"], changed["description"]) == ("renamed", "new")
    assert changed["updated_at"] >= q["updated_at"]
    with pytest.raises(NotFound):
        s.update_annotation_queue(p2, q["id"], {"description": "theirs"})
    assert [x["name"] for x in s.list_annotation_queues(p1)] == ["renamed", "other"]
    assert not s.delete_annotation_queue(p2, q["id"])
    assert s.delete_annotation_queue(p1, q["id"])
    assert s.get_annotation_queue(p1, q["id"]) is None


def test_items_no_duplicates_order_and_status(db) -> None:
    s, p1, p2 = db
    q = _queue(s, p1)
    added = s.add_queue_items(p1, q, [("TRACE", "t1"), ("TRACE", "t2"), ("TRACE", "t1")])
    assert added == 2
    assert s.add_queue_items(p1, q, [("TRACE", "t2"), ("SESSION", "t2"), ("TRACE", "t3")]) == 2
    rows, total = s.list_queue_items(p1, q)
    assert total == 4
    assert [(r["object_type"], r["object_id"]) for r in rows] == [
        ("TRACE", "t1"), ("TRACE", "t2"), ("SESSION", "t2"), ("TRACE", "t3"),
    ]  # fmt: skip
    assert all(r["status"] == "PENDING" and r["completed_at"] is None for r in rows)
    page2, _ = s.list_queue_items(p1, q, page=2, limit=3)
    assert [r["object_id"] for r in page2] == ["t3"]
    done = s.update_queue_item(p1, q, rows[0]["id"], "COMPLETED")
    assert done["status"] == "COMPLETED" and done["completed_at"] is not None
    assert [r["id"] for r in s.list_queue_items(p1, q, status="COMPLETED")[0]] == [rows[0]["id"]]
    assert s.update_queue_item(p1, q, rows[0]["id"], "PENDING")["completed_at"] is None
    # another project sees and changes nothing
    with pytest.raises(NotFound):
        s.add_queue_items(p2, q, [("TRACE", "x")])
    assert s.list_queue_items(p2, q) == ([], 0)
    assert s.get_queue_item(p2, q, rows[0]["id"]) is None
    with pytest.raises(NotFound):
        s.update_queue_item(p2, q, rows[0]["id"], "COMPLETED")
    assert not s.delete_queue_item(p2, q, rows[0]["id"])
    assert s.delete_queue_item(p1, q, rows[0]["id"])
    assert s.list_queue_items(p1, q)[1] == 3
    assert s.object_queues(p1, "TRACE", "t2")[0]["queue_id"] == q


def test_claim_order_renew_release_and_expiry(db) -> None:
    s, p1, _ = db
    q = _queue(s, p1)
    s.add_queue_items(p1, q, [("TRACE", f"t{i}") for i in range(3)])
    a = s.claim_queue_item(p1, q, "alice")
    assert a["object_id"] == "t0" and a["lease_user_id"] == "alice"
    assert s.claim_queue_item(p1, q, "alice")["id"] == a["id"]  # the one she holds
    b = s.claim_queue_item(p1, q, "bob")
    assert b["object_id"] == "t1"
    assert s.claim_queue_item(p1, q, "bob", item_id=a["id"]) is None  # alice holds it
    assert s.release_queue_item(p1, q, a["id"], "alice")
    assert not s.release_queue_item(p1, q, a["id"], "alice")
    assert s.claim_queue_item(p1, q, "bob", item_id=a["id"])["lease_user_id"] == "bob"
    # one held item per user: bob's t1 was let go when he took t0
    assert s.get_queue_item(p1, q, b["id"])["lease_user_id"] is None
    # an expired lease is free again
    short = s.claim_queue_item(p1, q, "carol", lease_s=0.05)
    time.sleep(0.1)
    assert s.get_queue_item(p1, q, short["id"])["lease_user_id"] is None
    assert s.claim_queue_item(p1, q, "dave", item_id=short["id"])["lease_user_id"] == "dave"
    with pytest.raises(NotFound):
        s.claim_queue_item(p1, q, "bob", item_id="nope")


def test_double_annotation_completes_with_two_people(db) -> None:
    s, p1, _ = db
    q = _queue(s, p1, per_item=2)
    s.add_queue_items(p1, q, [("TRACE", "t0"), ("TRACE", "t1")])
    a = s.claim_queue_item(p1, q, "alice")
    first = s.complete_queue_item(p1, q, a["id"], "alice")
    assert first["status"] == "PENDING" and first["annotations"] == 1
    assert first["lease_user_id"] is None
    again = s.complete_queue_item(p1, q, a["id"], "alice")  # the same person again
    assert again["status"] == "PENDING" and again["annotations"] == 1
    # alice gets the next item, never one she did
    assert s.claim_queue_item(p1, q, "alice")["object_id"] == "t1"
    b = s.claim_queue_item(p1, q, "bob")
    assert b["id"] == a["id"]  # t1 is held by alice; t0 still needs a second person
    done = s.complete_queue_item(p1, q, b["id"], "bob")
    assert done["status"] == "COMPLETED" and done["completed_at"] is not None
    assert [x["user_id"] for x in s.queue_annotators(p1, q, a["id"])] == ["alice", "bob"]
    assert s.claim_queue_item(p1, q, "carol") is None  # t0 done, t1 held
    assert s.queue_progress(p1, q, "alice") == {"total": 2, "completed": 1, "pending": 1,
                                                 "mine": 1}  # fmt: skip
    assert s.queue_progress(p1, q)["mine"] == 0
    # another user cannot complete an item someone holds
    with pytest.raises(Conflict):
        s.complete_queue_item(p1, q, s.claim_queue_item(p1, q, "alice")["id"], "bob")
    # completed items stay editable: the annotator takes one back by id
    assert s.claim_queue_item(p1, q, "alice", item_id=a["id"]) is not None
    # lowering the queue to one annotation per item completes t1, which carol annotated
    s.complete_queue_item(p1, q, s.claim_queue_item(p1, q, "carol")["id"], "carol")
    s.update_annotation_queue(p1, q, {"annotations_per_item": 1})
    assert s.queue_progress(p1, q)["completed"] == 2


def test_claims_under_threads_never_share_an_item(db) -> None:
    s, p1, _ = db
    q = _queue(s, p1)
    s.add_queue_items(p1, q, [("TRACE", f"t{i:02d}") for i in range(40)])
    got: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def annotate(user: str) -> None:
        mine: list[str] = []
        try:
            barrier.wait()
            while (item := s.claim_queue_item(p1, q, user)) is not None:
                mine.append(item["id"])
                s.complete_queue_item(p1, q, item["id"], user)
        except BaseException as exc:
            errors.append(exc)
        got[user] = mine

    threads = [threading.Thread(target=annotate, args=(f"u{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    every = [i for ids in got.values() for i in ids]
    assert len(every) == 40 and len(set(every)) == 40  # each item exactly once
    assert sum(1 for ids in got.values() if ids) >= 2  # the work was shared
    assert s.queue_progress(p1, q)["completed"] == 40


def test_held_items_are_exclusive_under_threads(db) -> None:
    s, p1, _ = db
    q = _queue(s, p1, per_item=2)
    s.add_queue_items(p1, q, [("TRACE", f"t{i}") for i in range(6)])
    held: list[tuple[str, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def take(user: str) -> None:
        barrier.wait()
        item = s.claim_queue_item(p1, q, user)
        if item is not None:
            with lock:
                held.append((user, item["id"]))

    threads = [threading.Thread(target=take, args=(f"u{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(held) == 6 and len({i for _, i in held}) == 6


def test_queues_per_project_are_bounded(db, monkeypatch: pytest.MonkeyPatch) -> None:
    from heron.store import annotation

    s, p1, p2 = db
    monkeypatch.setattr(annotation, "MAX_QUEUES", 2)
    _queue(s, p1, "a")
    _queue(s, p1, "b")
    with pytest.raises(BadRequest) as caught:
        _queue(s, p1, "c")
    assert "at most 2 annotation queues" in caught.value.message
    _queue(s, p2, "c")  # per project


def test_items_per_queue_are_bounded(db, monkeypatch: pytest.MonkeyPatch) -> None:
    from heron.store import annotation

    s, p1, _ = db
    monkeypatch.setattr(annotation, "MAX_ITEMS", 3)
    q = _queue(s, p1)
    s.add_queue_items(p1, q, [("TRACE", "a"), ("TRACE", "b")])
    with pytest.raises(BadRequest) as caught:
        s.add_queue_items(p1, q, [("TRACE", "c"), ("TRACE", "d")])
    assert "at most 3 items" in caught.value.message
    assert s.add_queue_items(p1, q, [("TRACE", "c")]) == 1


def test_assignments(db) -> None:
    s, p1, p2 = db
    q = _queue(s, p1)
    assert s.assign_queue(p1, q, "alice")
    assert not s.assign_queue(p1, q, "alice")
    assert s.assign_queue(p1, q, "bob")
    assert s.queue_assignments(p1, q) == ["alice", "bob"]
    with pytest.raises(NotFound):
        s.assign_queue(p2, q, "mallory")
    assert not s.unassign_queue(p2, q, "alice")
    assert s.unassign_queue(p1, q, "alice")
    assert s.queue_assignments(p1, q) == ["bob"]
    s.delete_annotation_queue(p1, q)
    assert s.queue_assignments(p1, q) == []
