"""Dataset items as files: import from and export to JSONL and CSV.

JSONL: one JSON object per line, with the item's fields as the API names them (``id``,
``input``, ``expectedOutput``, ``metadata``, ``sourceTraceId``, ``sourceObservationId``,
``status``; the snake_case spellings are taken too); blank lines are skipped.

CSV: a header row naming the columns (``input``, ``expected_output``, ``metadata``, and
optionally ``id``, ``source_trace_id``, ``source_observation_id``, ``status``; camelCase
spellings taken too), then one item per row. A cell of ``input``, ``expected_output`` or
``metadata`` is JSON text when it parses as JSON (``{"q": 1}``, ``42``, ``"quoted"``) and
a plain string otherwise; an empty cell is "not given". Export writes every string that
would parse as JSON, or that starts like a spreadsheet formula (``= + - @``), as a JSON
string, so an export imports back to the same values and opens safely in a spreadsheet.

An import is all or nothing: every line is checked (and, by the store, validated against
the dataset's schemas) before any is written; a file with problems is a 400 listing them by
line, and nothing is imported. At most :data:`MAX_ROWS` items per file; the body's size is
bounded by the server's ``HERON_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import orjson

from heron.datasets.spec import ITEM_KEYS, MAX_VALUE_BYTES, ItemSpec, parse_item
from heron.datasets.validation import Invalid
from heron.errors import BadRequest, UnsupportedMedia

MAX_ROWS = 10_000
FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("id", "input", "expected_output", "metadata", "source_trace_id",
               "source_observation_id", "status")  # fmt: skip
_JSON_COLUMNS = ("input", "expectedOutput", "metadata")
_SNAKE = {"expected_output": "expectedOutput", "source_trace_id": "sourceTraceId",
          "source_observation_id": "sourceObservationId"}  # fmt: skip
_MEDIA = {
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/json-lines": "jsonl",
    "text/jsonl": "jsonl",
    "text/csv": "csv",
    "application/csv": "csv",
}
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}

# A cell may hold a whole input (the body's size bounds it anyway); the csv module's own
# limit (128 KiB) is process-wide, so it is only ever raised.
csv.field_size_limit(max(csv.field_size_limit(), MAX_VALUE_BYTES * 2))


def file_format(requested: str | None, content_type: str | None) -> str:
    """``jsonl`` or ``csv``: ``requested`` (``?format=``) when given, else by Content-Type;
    a 400 for an unknown format, a 415 for a body type that is neither."""
    if requested is not None:
        if requested not in FORMATS:
            raise BadRequest(f"format: one of {', '.join(FORMATS)}, got {requested[:50]!r}")
        return requested
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _MEDIA:
        return _MEDIA[media]
    raise UnsupportedMedia(
        f"Content-Type {media[:100]!r}: send JSONL ({MEDIA_TYPES['jsonl']}) or CSV (text/csv), "
        "or name the format with ?format=jsonl|csv"
    )


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body: not UTF-8 text (byte {exc.start:,})") from None


def _too_many(count: int) -> None:
    if count > MAX_ROWS:
        raise BadRequest(f"body: at most {MAX_ROWS:,} items per import, got more")


def _checked(fields: dict[str, Any], line: int, problems: list[tuple[str, str]]) -> ItemSpec | None:
    try:
        return replace(parse_item(fields), where=f"line {line}: ")
    except BadRequest as exc:
        problems.append((f"line {line}", exc.message))
        return None


def _finish(items: list[ItemSpec | None], problems: list[tuple[str, str]]) -> list[ItemSpec]:
    if problems:
        raise Invalid(problems, f"{len(problems):,} line(s) with problems; nothing imported: ")
    if not items:
        raise BadRequest("body: no items (the file is empty)")
    return [i for i in items if i is not None]


def parse_jsonl(data: bytes) -> list[ItemSpec]:
    """The items of a JSONL file; a 400 listing the problems by line otherwise."""
    items: list[ItemSpec | None] = []
    problems: list[tuple[str, str]] = []
    for number, line in enumerate(_text(data).split("\n"), start=1):
        if not line.strip():
            continue
        _too_many(len(items) + 1)
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append((f"line {number}", f"invalid JSON at column {exc.colno}: {exc.msg}"))
            continue
        if not isinstance(obj, dict):
            problems.append((f"line {number}", "expected a JSON object (one item per line)"))
            continue
        items.append(_checked({_SNAKE.get(k, k): v for k, v in obj.items()}, number, problems))
    return _finish(items, problems)


def _cell(column: str, text: str) -> Any:
    if text == "":
        return None
    if column not in _JSON_COLUMNS:
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def parse_csv(data: bytes) -> list[ItemSpec]:
    """The items of a CSV file with a header row; a 400 listing the problems by line."""
    reader = csv.reader(io.StringIO(_text(data), newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise BadRequest(f"line 1: not CSV: {exc}") from None
    if not header:
        raise BadRequest("body: no items (the file is empty)")
    columns = [_SNAKE.get(h.strip(), h.strip()) for h in header]
    for column in columns:
        if column not in ITEM_KEYS:
            raise BadRequest(
                f"line 1: unknown column {column[:100]!r}; columns: {', '.join(CSV_COLUMNS)}"
            )
    if len(set(columns)) < len(columns):
        raise BadRequest("line 1: a column is named twice")
    items: list[ItemSpec | None] = []
    problems: list[tuple[str, str]] = []
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            problems.append((f"line {start}", f"not CSV: {exc}"))
            break  # the reader cannot resynchronise after a broken quote
        if row is None:
            break
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        _too_many(len(items) + 1)
        if len(row) != len(columns):
            problems.append((f"line {number}", f"{len(row)} cells, the header has {len(columns)}"))
            continue
        fields = {c: _cell(c, cell) for c, cell in zip(columns, row, strict=True)}
        items.append(_checked(fields, number, problems))
    return _finish(items, problems)


def parse_file(data: bytes, fmt: str) -> list[ItemSpec]:
    return parse_jsonl(data) if fmt == "jsonl" else parse_csv(data)


# -- export -----------------------------------------------------------------------------------


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "input": item["input"],
        "expectedOutput": item["expectedOutput"],
        "metadata": item["metadata"],
        "sourceTraceId": item["sourceTraceId"],
        "sourceObservationId": item["sourceObservationId"],
        "status": item["status"],
    }


def jsonl_lines(items: Iterable[dict[str, Any]]) -> bytes:
    """Items (as the store returns them) as JSONL lines."""
    return b"".join(orjson.dumps(_record(i)) + b"\n" for i in items)


def _export_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column not in _JSON_COLUMNS or not isinstance(value, str):
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    if value == "" or value[0] in "=+-@\t\r" or _parses(value):
        return orjson.dumps(value).decode()
    return value


def _parses(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def csv_header() -> str:
    out = io.StringIO()
    csv.writer(out).writerow(CSV_COLUMNS)
    return out.getvalue()


def csv_rows(items: Iterable[dict[str, Any]]) -> str:
    """Items (as the store returns them) as CSV rows under :func:`csv_header`."""
    out = io.StringIO()
    writer = csv.writer(out)
    for item in items:
        record = _record(item)
        writer.writerow(
            [_export_cell(k, record[k]) for k in (_SNAKE.get(c, c) for c in CSV_COLUMNS)]
        )
    return out.getvalue()
