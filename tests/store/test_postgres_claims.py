"""Claims shared by replicas on PostgreSQL: two deliverers claiming due notifications at once
never get the same one (the embedded store's admin lock made this true on DuckDB alone)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from heron.store import channels
from heron.store.postgres.connect import connect
from heron.store.postgres.cursor import PgCursor
from heron.store.postgres.migrations import migrate


def test_concurrent_claims_take_each_notification_once(postgres_url: str) -> None:
    """Replica A claims and holds its transaction open; replica B claims meanwhile (it waits
    for A's row locks), then A commits: B must skip what A leased."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with connect(postgres_url) as conn:
        migrate(conn)
        cur = PgCursor(conn.cursor())
        for i in range(6):
            cur.execute(
                "INSERT INTO notifications VALUES (?, 'p', 'c', '{}', ?, 'pending', 0, ?, NULL, "
                "NULL)",
                [f"n{i}", now, now - timedelta(seconds=10 - i)],
            )
        conn.commit()
    lease = now + timedelta(minutes=5)
    a_claimed = threading.Event()
    claims: dict[str, list[str]] = {}

    def replica(name: str, limit: int, hold: bool) -> None:
        with connect(postgres_url) as conn:
            cur = PgCursor(conn.cursor())
            if not hold:
                a_claimed.wait(10)
            rows = channels.claim_due(cur, now, lease, limit)
            claims[name] = [r["id"] for r in rows]
            if hold:
                a_claimed.set()
                threading.Event().wait(0.5)  # B is blocked on A's row locks meanwhile
            conn.commit()

    a = threading.Thread(target=replica, args=("a", 4, True))
    b = threading.Thread(target=replica, args=("b", 4, False))
    a.start()
    b.start()
    a.join()
    b.join()
    assert claims["a"] == ["n0", "n1", "n2", "n3"]
    assert not set(claims["a"]) & set(claims["b"])
    with connect(postgres_url) as conn:
        cur = PgCursor(conn.cursor())
        # the rest is still due and goes to the next claim
        assert [n["id"] for n in channels.claim_due(cur, now, lease, 10)] == sorted(
            {"n4", "n5"} - set(claims["b"])
        )
