"""open_database moves a damaged write-ahead log aside, and never a live server's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from heron.store.recovery import open_database, wal_path
from tests.support.wal import refused_damage

HOLD = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], config={"checkpoint_threshold": "1GB"})
con.execute("CREATE TABLE t AS SELECT range AS i FROM range(1000)")
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_log_locked_by_another_process_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "heron.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().startswith(b"ready")
        before = wal_path(path).read_bytes()
        with pytest.raises(duckdb.Error, match="lock"):
            open_database(path, {})
        assert wal_path(path).read_bytes() == before
        assert not list(tmp_path.glob("*.corrupt-*"))
    finally:
        holder.kill()
        holder.wait(10)


CRASH = """
import duckdb, os, sys
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE t (i INTEGER)")
con.execute("CHECKPOINT")
con.execute("SET checkpoint_threshold = '1GB'")
for _ in range(20):
    con.execute("INSERT INTO t SELECT range FROM range(1000)")
os._exit(0)  # as a crash: no checkpoint at close
"""


def test_a_log_duckdb_refuses_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "heron.duckdb"
    subprocess.run([sys.executable, "-c", CRASH, str(path)], check=True)
    damaged = refused_damage(path, tmp_path / "scratch")
    wal_path(path).write_bytes(damaged)

    con = open_database(path, {})
    try:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)  # as of the checkpoint
    finally:
        con.close()
    kept = list(tmp_path.glob("heron.duckdb.wal.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged
