"""A ClickHouse HTTP interface over one in-process chdb session, for tests only.

``python -m tests.support.chdb_server --data DIR [--port 0]`` serves on 127.0.0.1 and prints
its port on stdout once ready. It answers enough of ClickHouse's HTTP protocol for
``clickhouse_connect.get_client(host=..., port=..., username="default", password="")`` with
the client's defaults: ``GET /ping``; the query in the ``query`` URL parameter, the POST
body, or both (ClickHouse's rule: parameter, newline, body); ``database``; ``param_<name>``
server-side parameters; settings as URL parameters (applied for the one request, unknown
names ignored, transport settings such as ``session_id`` accepted and ignored); the output
format the query names (``FORMAT Native`` for the client's reads, ``TabSeparated`` when none);
inserts whose data is the body (``INSERT INTO t (...) FORMAT Native|Arrow|...``, the body
lz4/zstd/gzip/deflate compressed or not, per ``Content-Encoding``), run by chdb as
``INSERT ... SELECT * FROM file(tmp, fmt)``; the ``X-ClickHouse-*`` response headers the
client reads (summary, query id, format, timezone, exception code); errors as ClickHouse
sends them (HTTP 500, ``Code: N. DB::Exception: ...``), so the client raises
``DatabaseError``. Responses are never compressed (the client accepts identity).

Not supported: ClickHouse sessions (every request shares the one chdb session, settings
reset after each request), multipart external data, ``client_protocol_version`` (the
client's probe then falls back to protocol 0), authentication (any user is accepted).

chdb sessions are not thread-safe: one lock serialises every query. Several client
processes share the server (several heron replicas, one engine).

The ``chdb_server`` pytest fixture (session scope, so one per xdist worker) runs it as a
subprocess and stops it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import email.policy
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

# URL parameters that are not ClickHouse settings, or settings of the HTTP transport itself.
_TRANSPORT = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "user",
        "password",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "enable_http_compression",
        "http_zlib_compression_level",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "wait_end_of_query",
        "buffer_size",
        "cancel_http_readonly_queries_on_client_close",
        "client_protocol_version",
        "quota_key",
    }
)

_FORMAT_AT_END = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
# An insert whose data follows: everything up to "FORMAT <name>", then the data.
_INSERT_HEAD = re.compile(r"^\s*INSERT\s+INTO\s+(.*?)\bFORMAT\s+(\w+)[ \t]*(\r?\n)?", re.I | re.S)
_ERROR_CODE = re.compile(r"Code:\s*(\d+)")


class QueryError(Exception):
    """A query that failed: ClickHouse's error code and message."""

    def __init__(self, code: int, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class Answer:
    body: bytes
    fmt: str
    summary: dict[str, str]


def _decompress(body: bytes, encoding: str | None) -> bytes:
    encoding = (encoding or "").strip().lower()
    if not encoding or encoding == "identity":
        return body
    if encoding == "lz4":  # the client sends one frame per block: decode them all
        import lz4.frame

        out = bytearray()
        while body:
            frame = lz4.frame.LZ4FrameDecompressor()
            out += frame.decompress(body)
            body = frame.unused_data if frame.eof else b""
        return bytes(out)
    if encoding == "zstd":
        if sys.version_info >= (3, 14):
            from compression import zstd
        else:
            from backports import zstd
        return zstd.decompress(body)
    if encoding == "gzip":
        out = bytearray()
        while body:
            member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += member.decompress(body)
            body = member.unused_data
        return bytes(out)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise QueryError(
        634, f"Code: 634. DB::Exception: Unknown Content-Encoding {encoding!r}.", status=400
    )


class Engine:
    """One chdb session behind a lock, with per-request database and settings."""

    def __init__(self, path: Path) -> None:
        from chdb import session

        self._session = session.Session(str(path))
        self._lock = threading.Lock()
        self._database = "default"
        self._applied: set[str] = set()
        rows = self._session.query("SELECT name FROM system.settings", "TabSeparated")
        self.settings = frozenset(rows.bytes().decode().split())
        tz = self._session.query("SELECT timezone()", "TabSeparated").bytes()
        self.timezone = tz.decode().strip() or "UTC"
        # beside the data directory, so whoever removes that removes these too (a shim is
        # stopped by SIGTERM, which runs no clean-up)
        self._tmp = path.parent / f"{path.name}-inserts"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def run(
        self,
        sql: str,
        data: bytes | None,
        database: str,
        settings: dict[str, str],
        params: dict[str, str],
        default_format: str,
    ) -> Answer:
        """Run one request's SQL; ``data`` is an insert's body when the SQL came apart."""
        insert = _INSERT_HEAD.match(sql)
        fmt = default_format
        if insert is None:
            found = _FORMAT_AT_END.search(sql)
            if found:
                fmt = found.group(1)
        with self._lock:
            self._prepare(database, settings)
            try:
                if insert is not None:
                    result = self._insert(insert, sql[insert.end() :].encode(), data, params)
                    fmt = "TabSeparated"
                else:
                    result = self._query(sql, fmt, params)
            finally:
                self._reset()
        summary = {
            "read_rows": str(result.rows_read()),
            "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_written()),
            "written_bytes": str(result.bytes_written()),
            "total_rows_to_read": "0",
            "result_rows": "0",
            "result_bytes": "0",
            "elapsed_ns": str(int(result.elapsed() * 1e9)),
        }
        body = b"" if insert is not None else result.bytes()
        return Answer(body, fmt, summary)

    def _query(self, sql: str, fmt: str, params: dict[str, str]) -> Any:
        try:
            return (
                self._session.query(sql, fmt, params=params)
                if params
                else (self._session.query(sql, fmt))
            )
        except Exception as exc:  # chdb raises ChdbError (a RuntimeError) with CH's text
            raise _as_query_error(exc) from None

    def _insert(
        self, head: re.Match[str], inline: bytes, data: bytes | None, params: dict[str, str]
    ) -> Any:
        target, fmt = head.group(1).strip(), head.group(2)
        path = self._tmp / f"{uuid.uuid4().hex}.{fmt.lower()}"
        path.write_bytes(inline + (data or b""))
        try:
            columns = ""
            if target.endswith(")"):  # "db.t (a, b)": name the columns the data holds
                table, _, cols = target.partition("(")
                target, columns = table.strip(), "(" + cols
            sql = f"INSERT INTO {target} {columns} SELECT * FROM file('{path}', {fmt})"
            return self._query(sql, "TabSeparated", params)
        finally:
            path.unlink(missing_ok=True)

    def _prepare(self, database: str, settings: dict[str, str]) -> None:
        if database != self._database:
            self._query(f"USE `{database.replace('`', '')}`", "TabSeparated", {})
            self._database = database
        for name, value in settings.items():
            if name not in self.settings:
                continue  # unknown (or a client-side option): ignored, as documented
            self._query(f"SET {name} = {{v:String}}", "TabSeparated", {"v": value})
            self._applied.add(name)

    def _reset(self) -> None:
        for name in self._applied:
            with contextlib.suppress(Exception):  # one that cannot reset stays as it is
                self._session.query(f"SET {name} = DEFAULT", "TabSeparated")
        self._applied.clear()


def _read_form(content_type: str, body: bytes, args: dict[str, str]) -> bytes:
    """A form body (the client sends the query and large parameters as a multipart form):
    its fields join the URL's arguments; the body left is empty."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        args.update(parse_qsl(body.decode(), keep_blank_values=True))
        return b""
    if kind != "multipart/form-data":
        return body
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            raise QueryError(
                48, "Code: 48. DB::Exception: external data is not supported here.", 400
            )
        payload = part.get_payload(decode=True) or b""
        args[str(name)] = payload.decode()
    return b""


_INSERT_HEAD_BYTES = re.compile(_INSERT_HEAD.pattern.encode(), re.I | re.S)


def _split_request(query: str | None, body: bytes) -> tuple[str, bytes | None]:
    """The SQL text and an insert's data: ClickHouse reads the ``query`` parameter, then the
    body; an ``INSERT ... FORMAT x`` takes what follows it (binary, maybe) as its data."""
    if query is None:
        head = _INSERT_HEAD_BYTES.match(body)
        if head is not None:
            return body[: head.end()].decode(), body[head.end() :]
        return body.decode(errors="replace"), None
    if not body:
        return query, None
    if _INSERT_HEAD.match(query):
        return query, body
    return query + "\n" + body.decode(errors="replace"), None


def _as_query_error(exc: Exception) -> QueryError:
    text = str(exc).strip()
    found = _ERROR_CODE.search(text)
    code = int(found.group(1)) if found else 1001
    if not found:
        text = f"Code: {code}. DB::Exception: {text}"
    return QueryError(code, text)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes: without this, Nagle's algorithm meets the
    # client's delayed ACK and every answer waits 40 ms
    disable_nagle_algorithm = True
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("CHDB_SERVER_LOG"):
            super().log_message(format, *args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/ping" or (url.path == "/" and not url.query):
            self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        self._handle(body)

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    def _handle(self, body: bytes) -> None:
        url = urlsplit(self.path)
        args = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = args.get("query_id") or str(uuid.uuid4())
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self.server.engine.timezone,
            "X-ClickHouse-Server-Display-Name": "chdb-test-server",
        }
        try:
            body = _decompress(body, self.headers.get("Content-Encoding"))
            body = _read_form(self.headers.get("Content-Type", ""), body, args)
            sql, data = _split_request(args.get("query"), body)
            if not sql.strip():
                raise QueryError(62, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)", 400)
            params = {k[6:]: v for k, v in args.items() if k.startswith("param_")}
            settings = {
                k: v for k, v in args.items() if k not in _TRANSPORT and not k.startswith("param_")
            }
            database = self.headers.get("X-ClickHouse-Database") or args.get("database")
            answer = self.server.engine.run(
                sql,
                data,
                database or "default",
                settings,
                params,
                args.get("default_format") or "TabSeparated",
            )
        except QueryError as exc:
            headers["X-ClickHouse-Exception-Code"] = str(exc.code)
            text = (exc.message + "\n").encode()
            self._send(exc.status, text, {**headers, "Content-Type": "text/plain; charset=UTF-8"})
            return
        headers["X-ClickHouse-Format"] = answer.fmt
        headers["X-ClickHouse-Summary"] = json.dumps(answer.summary)
        content_type = (
            "application/octet-stream"
            if answer.fmt in ("Native", "Arrow", "ArrowStream", "Parquet", "RowBinary")
            else "text/plain; charset=UTF-8"
        )
        self._send(200, answer.body, {**headers, "Content-Type": content_type})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, engine: Engine) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.engine = engine


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="chdb data directory")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the starting process ends"
    )
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    server = Server(args.port, Engine(args.data))
    if args.exit_with_parent:
        threading.Thread(target=_exit_with, args=(os.getppid(), server), daemon=True).start()
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _exit_with(parent: int, server: Server) -> None:
    """Stop serving once ``parent`` is gone (a test run killed never leaves the server)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    server.shutdown()


# -- the pytest fixture ------------------------------------------------------------------------


@dataclass
class ChdbServer:
    """A running shim: its port and process."""

    port: int
    proc: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://default:@127.0.0.1:{self.port}"

    def database_url(self, database: str) -> str:
        return f"{self.url}/{database}"


def start_server(data: Path, timeout: float = 60.0) -> ChdbServer:
    """Start the shim as a subprocess and wait for its port."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.chdb_server",
            "--data",
            str(data),
            "--exit-with-parent",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until ready (or the process dies: "")
    if not line.strip().isdigit() or time.monotonic() > deadline:
        stop_server(proc)
        raise RuntimeError(f"chdb server did not start (exit code {proc.poll()})")
    return ChdbServer(int(line), proc)


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def chdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbServer]:
    """One shim per test session (per xdist worker); tests take a database each."""
    server = start_server(tmp_path_factory.mktemp("chdb"))
    try:
        yield server
    finally:
        stop_server(server.proc)


if __name__ == "__main__":
    main()
