"""Writes holdout.jsonl, fresh.jsonl, dev.jsonl and fresh2.jsonl from the hand-written
holdout.txt, fresh.txt, dev.txt and fresh2.txt (same line format as labelled.jsonl).

Run from the repository root: python tests/implicit/data/build_holdout.py [holdout fresh dev fresh2]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
_HEADER = re.compile(r"^## (\S+) (ended|open)$")
_USER = re.compile(r"^U(?: \+(\d+))?: (.*)$")
_ANSWER = re.compile(r"^A(!|~\d+)?: ?(.*)$")
_LABEL = re.compile(r"^> (\w+) (\d+)$")


def parse(text: str) -> list[dict]:
    rows: list[dict] = []
    clock = 0.0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or (line.startswith("#") and not line.startswith("## ")):
            continue
        if m := _HEADER.match(line):
            rows.append({"id": m[1], "ended": m[2] == "ended", "turns": [], "labels": []})
            clock = 0.0
        elif m := _USER.match(line):
            turns = rows[-1]["turns"]
            if turns:
                clock += float(m[1] or 60)
            turns.append({"user": m[2], "t": clock, "latency_ms": 1500.0})
        elif m := _ANSWER.match(line):
            turn = rows[-1]["turns"][-1]
            flag = m[1] or ""
            turn["level"] = "ERROR" if flag == "!" else None
            turn["answer"] = None if flag == "!" else m[2]
            if flag.startswith("~"):
                turn["latency_ms"] = float(flag[1:])
        elif m := _LABEL.match(line):
            rows[-1]["labels"].append({"turn": int(m[2]), "name": f"implicit_{m[1]}"})
        else:
            raise ValueError(f"line {n}: cannot read {line!r}")
    return rows


SETS = ("holdout", "fresh", "dev", "fresh2")


def main() -> None:
    for name in sys.argv[1:] or SETS:
        source = HERE / f"{name}.txt"
        if not source.exists():
            continue
        rows = parse(source.read_text())
        out = HERE / f"{name}.jsonl"
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        print(f"{len(rows)} conversations -> {out}")


if __name__ == "__main__":
    main()
