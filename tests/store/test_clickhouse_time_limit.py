"""One time limit shared by the queries of a read (heron.store.clickhouse.time_limit), on the
chdb shim over ClickHouse's HTTP interface."""

from __future__ import annotations

import time
import uuid

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from heron.errors import QueryTimeout
from heron.store.clickhouse.client import connect
from heron.store.clickhouse.time_limit import NO_LIMIT, TimeLimit
from tests.support.chdb_server import ChdbServer

# long enough to outlast any limit below: counted row by row, never answered from metadata
SLOW = "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) % 7 = 3"


def test_each_query_gets_what_is_left_and_none_runs_once_it_is_spent() -> None:
    limit = TimeLimit(30, "the read")
    first = limit.settings({"join_use_nulls": 1})["max_execution_time"]
    time.sleep(0.05)
    second = limit.settings()["max_execution_time"]
    assert 29 < second < first <= 30
    spent = TimeLimit(0.01, "the experiment's read")
    time.sleep(0.02)
    with pytest.raises(QueryTimeout, match=r"the experiment's read ran longer than 0.01 s"):
        spent.settings()
    assert NO_LIMIT.settings({"a": 1}) == {"a": 1}  # no limit: nothing added
    assert TimeLimit(0, "x").settings() == {}


def test_the_server_cancels_a_query_at_what_is_left(chdb_server: ChdbServer) -> None:
    client = connect(chdb_server.database_url("limit_" + uuid.uuid4().hex[:8]))
    try:
        limit = TimeLimit(0.5, "the comparison")
        assert limit.query(client, "SELECT 1", {}).result_rows == [(1,)]
        started = time.monotonic()
        with pytest.raises(QueryTimeout, match=r"the comparison ran longer than 0.5 s"):
            limit.query(client, SLOW, {})
        assert time.monotonic() - started < 5
        # other failures are the server's, unchanged
        with pytest.raises(DatabaseError):
            TimeLimit(5, "x").query(client, "SELECT nonsense_function()", {})
    finally:
        client.close()
