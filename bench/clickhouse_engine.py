"""The engine's own time for the metrics queries of bench/clickhouse.py, on a loaded store.

On a machine shared with other work, medians of a few runs move by 2x between runs. This
runs the queries of ``bench/clickhouse.py`` in process (chdb, no HTTP) on an existing store
(``--store bench/results/clickhouse-N/chdb``) or the DuckDB file beside it (``--duckdb``),
``--repeat`` times each, and prints the minimum per query as JSON: the least disturbed run.
To compare two versions of the code or schema, run it alternately on each (same machine,
same minutes) and compare the minima.

Usage: python bench/clickhouse_engine.py --store DIR [--duckdb] [--repeat 15] [--only WORD]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import clickhouse as bench
from heron.query.metrics import parse_metrics_query
from heron.store import EmbeddedStore
from heron.store.clickhouse.metrics import compile_metrics
from metrics import single_queries


def _queries(only: str) -> list[tuple[str, Any]]:
    window = {"fromTimestamp": f"{bench.START:%Y-%m-%dT%H:%M:%SZ}",
              "toTimestamp": f"{bench.END:%Y-%m-%dT%H:%M:%SZ}"}  # fmt: skip
    return [
        (label, parse_metrics_query({**window, **body}))
        for label, body in [*single_queries(), *bench.recent_queries()]
        if only in label
    ]


def _minimum(run: Any, repeat: int) -> float:
    run()  # warm
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="the chdb directory")
    parser.add_argument("--duckdb", action="store_true", help="time DuckDB's file beside it")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    queries = _queries(args.only)
    out: dict[str, float] = {}
    if args.duckdb:
        store = EmbeddedStore(args.store.parent / "heron.duckdb")
        for label, q in queries:
            out[label] = _minimum(lambda q=q: store.metrics(bench.PROJECT, q), args.repeat)
        store.close()
    else:
        import chdb.session

        session = chdb.session.Session(str(args.store))
        session.query("USE bench")
        materialize = bench.materialized_ctes_chdb(session)
        hidden: dict[str, bool] = {}
        if "hidden_traces" in compile_metrics.__code__.co_varnames:  # else an older heron's
            found = session.query(
                f"SELECT count() FROM traces WHERE project_id = '{bench.PROJECT}' "
                "AND startsWith(coalesce(environment, ''), 'heron-')",
                "CSV",
            )
            hidden["hidden_traces"] = str(found).strip() != "0"
        for label, q in queries:
            c = compile_metrics(bench.PROJECT, q, materialize=materialize, **hidden)
            settings = "join_use_nulls = 1" + (
                ", enable_materialized_cte = 1" if materialize else ""
            )
            sql = f"{c.sql} SETTINGS {settings}"
            params = {k: bench._chdb_value(v) for k, v in c.params.items()}
            out[label] = _minimum(
                lambda sql=sql, params=params: session.query(sql, "Null", params=params),
                args.repeat,
            )
        session.close()
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    sys.exit(main())
