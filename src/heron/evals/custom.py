"""Custom Python evaluators: a function of yours, run in a worker process with a timeout.

**Trusted code.** A custom evaluator is code that whoever configures heron installed on the
machine; heron imports and runs it with heron's own rights, with no sandbox. The worker
process and the timeout protect heron's availability (a slow or crashing function cannot
stall or kill the server), not the machine: the function can read files, use the network and
do anything the heron process can. Only install evaluators you would run yourself.

**Reference.** A definition names the function by ``package.module:function`` (an attribute
path such as ``package.module:Class.method`` works too), or by the name of an entry point in
the group ``heron.evaluators`` of an installed distribution::

    # pyproject.toml of the package that provides it
    [project.entry-points."heron.evaluators"]
    tone = "my_evals.tone:polite"

**Calling convention.** ``fn(**variables, **args)``: each variable of the definition (after
its field is resolved) and each of its ``args`` is a keyword argument, so a function reads
like ``def polite(output: str, threshold: float = 0.5) -> bool``. A name used both as a
variable and as an arg is an error. :func:`load_custom` with ``variables`` and ``args`` checks
at definition time that the function accepts them.

**Return value.** ``bool`` (a BOOLEAN score), ``int`` or ``float`` (NUMERIC, finite), ``str``
(CATEGORICAL, at most :data:`MAX_CATEGORY_CHARS` characters), or ``{"value": <one of
those>, "comment": <str or None>}``; numpy scalars count as their Python types. Anything
else is an error naming the type.

**Running.** :class:`CustomRunner` keeps ``max_workers`` worker processes (``spawn``: a fresh
interpreter that inherits ``sys.path`` and, as multiprocessing does, imports the parent's
main module, so a script that runs evaluators guards its code with ``if __name__ ==
"__main__"``). A worker imports each function once and keeps it. A call past ``timeout_s``
kills the worker (and only it) and a new one is started for the next call; the first use of
a function in a worker has ``load_timeout_s`` for the import. Processes the function starts
itself are not killed with the worker. :meth:`CustomRunner.run_many` sends a worker its
calls ahead of the answers (about 30 µs a call rather than 55 for ``run`` on a 2 KB text),
each call keeping its own timeout. :meth:`CustomRunner.validate` checks a reference in a
worker, for a server that does not want to import the code itself.

Exceptions::

    CustomEvaluatorError        .ref: the reference
    ├── CustomLoadError         the reference names no importable callable, or not one that
    │                           accepts the variables and args (also a BadRequest)
    ├── CustomError             the function raised or returned a bad value, or its worker
    │                           died; .last_line is the traceback's last line
    └── CustomTimeout           the call or the import ran past its timeout
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import math
import multiprocessing
import pickle
import queue
import re
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from heron.errors import BadRequest
from heron.evals.checks import BOOLEAN, CATEGORICAL, NUMERIC, CheckResult

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAX_CATEGORY_CHARS",
    "MAX_COMMENT_CHARS",
    "CustomError",
    "CustomEvaluatorError",
    "CustomLoadError",
    "CustomRunner",
    "CustomTimeout",
    "load_custom",
    "result_of",
]

ENTRY_POINT_GROUP = "heron.evaluators"
MAX_CATEGORY_CHARS = 200
MAX_COMMENT_CHARS = 1000
_MAX_TRACEBACK_CHARS = 8000
_NAME = r"[A-Za-z_]\w*"
_MODULE_REF = re.compile(rf"{_NAME}(?:\.{_NAME})*:{_NAME}(?:\.{_NAME})*")


class CustomEvaluatorError(Exception):
    """A custom evaluator that did not produce a result; ``ref`` names it."""

    def __init__(self, ref: str, message: str) -> None:
        super().__init__(message)
        self.ref = ref
        self.message = message


class CustomLoadError(CustomEvaluatorError, BadRequest, ValueError):
    """The reference names no importable callable, or one that does not accept the
    definition's variables and args."""


class CustomError(CustomEvaluatorError):
    """The function raised, returned something that is not a score, or its worker died."""

    def __init__(self, ref: str, last_line: str, traceback_text: str = "") -> None:
        super().__init__(ref, f"custom evaluator {ref!r} failed: {last_line}")
        self.last_line = last_line
        self.traceback = traceback_text


class CustomTimeout(CustomEvaluatorError):
    """The call (or the function's import) ran past its timeout; the worker was killed."""

    def __init__(self, ref: str, timeout_s: float, what: str = "call") -> None:
        super().__init__(
            ref,
            f"custom evaluator {ref!r}: the {what} ran past its {timeout_s:g} s timeout; "
            "its worker was killed and will be replaced",
        )
        self.timeout_s = timeout_s


# -- loading -------------------------------------------------------------------------------


def load_custom(
    ref: str, variables: Iterable[str] | None = None, args: Mapping[str, Any] | None = None
) -> Callable[..., Any]:
    """The function ``ref`` names, imported in this process (trusted code: importing runs the
    module's top-level code here). With ``variables`` (names) and ``args``, also checks that
    ``fn(**variables, **args)`` binds. Raises :class:`CustomLoadError` saying what is wrong."""
    module_name, attribute = _split(ref)
    try:
        target: Any = importlib.import_module(module_name)
    except BaseException as exc:  # the module's own code: any error, even SystemExit
        raise CustomLoadError(ref, f"cannot import {module_name!r}: {_last_line(exc)}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CustomLoadError(ref, f"{module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise CustomLoadError(ref, f"{ref!r} is a {type(target).__name__}, not a function")
    if variables is not None or args is not None:
        _check_signature(ref, target, list(variables or ()), dict(args or {}))
    return target


def _split(ref: Any) -> tuple[str, str]:
    """(module, attribute path) of a ``module:function`` reference or an entry point's name."""
    if not isinstance(ref, str) or not ref.strip():
        raise CustomLoadError(str(ref), "a custom evaluator is 'package.module:function' or "
                              f"the name of an entry point in {ENTRY_POINT_GROUP!r}")  # fmt: skip
    if ":" in ref:
        if not _MODULE_REF.fullmatch(ref):
            raise CustomLoadError(ref, f"{ref!r} is not 'package.module:function'")
        module_name, attribute = ref.split(":")
        return module_name, attribute
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=ref)
    if not found:
        names = sorted({ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})
        known = ", ".join(names) if names else "none are installed"
        raise CustomLoadError(ref, f"no entry point {ref!r} in {ENTRY_POINT_GROUP!r} ({known})")
    entry = next(iter(found))
    if not entry.attr:
        raise CustomLoadError(ref, f"entry point {ref!r} names a module, not a function")
    return entry.module, entry.attr


def _check_signature(
    ref: str, fn: Callable[..., Any], names: list[str], args: dict[str, Any]
) -> None:
    both = sorted(set(names) & set(args))
    if both:
        raise CustomLoadError(ref, f"{', '.join(both)}: both a variable and an arg")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: find out when called
        return
    try:
        signature.bind(**dict.fromkeys(names), **args)
    except TypeError as exc:
        given = ", ".join([*names, *args]) or "no arguments"
        raise CustomLoadError(ref, f"{ref}{signature} cannot take {given}: {exc}") from None


def _last_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


# -- results -------------------------------------------------------------------------------


def result_of(value: Any) -> CheckResult:
    """A custom evaluator's return value as a result; TypeError or ValueError naming what is
    wrong with it."""
    comment = None
    if isinstance(value, dict):
        extra = sorted(str(k) for k in value if k not in ("value", "comment"))
        if "value" not in value or extra:
            detail = f"unknown keys {', '.join(extra)}" if extra else "no 'value'"
            raise TypeError(f"custom evaluator returned a dict with {detail}; "
                            "expected {'value': ..., 'comment': ...}")  # fmt: skip
        comment = value.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise TypeError(f"custom evaluator's comment is {type(comment).__name__}, not str")
        if comment is not None:
            comment = comment[:MAX_COMMENT_CHARS]
        value = value["value"]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # numpy scalars: bool_, int64, float32...
    if isinstance(value, bool):
        return CheckResult(value, BOOLEAN, comment)
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"custom evaluator returned {value!r}; a score is finite")
        return CheckResult(number, NUMERIC, comment)
    if isinstance(value, str):
        if len(value) > MAX_CATEGORY_CHARS:
            raise ValueError(f"custom evaluator returned a str of {len(value):,} characters; "
                             f"a category has at most {MAX_CATEGORY_CHARS}")  # fmt: skip
        return CheckResult(value, CATEGORICAL, comment)
    raise TypeError(
        f"custom evaluator returned {type(value).__name__}; expected bool, int, float, str "
        "or {'value': ..., 'comment': ...}"
    )


# -- the worker process ----------------------------------------------------------------------


def _serve(conn: Connection) -> None:
    """A worker's loop: ``("load", ref, (names, args))`` -> ``("ok", None)``;
    ``("call", ref, (variables, args))`` -> ``("ok", (value, data_type, comment))``; failures
    -> ``("load_error", message, "")`` or ``("error", last line, traceback)``."""
    functions: dict[str, Callable[..., Any]] = {}
    while True:
        try:
            kind, ref, payload = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if kind == "load" or ref not in functions:
                names, args = payload if kind == "load" else (None, None)
                functions[ref] = load_custom(ref, names, args)
            if kind == "load":
                answer: tuple[str, Any, str] = ("ok", None, "")
            else:
                variables, args = payload
                result = result_of(functions[ref](**variables, **args))
                answer = ("ok", (result.value, result.data_type, result.comment), "")
        except CustomLoadError as exc:
            answer = ("load_error", exc.message, "")
        except BaseException as exc:  # user code: SystemExit and KeyboardInterrupt included
            answer = ("error", _last_line(exc), traceback.format_exc()[-_MAX_TRACEBACK_CHARS:])
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return


Answer = tuple[str, Any, str]
# run_many sends calls ahead to a worker (it answers them in order) while fewer than this
# many bytes are unanswered: far below a socket's buffer, so a send never waits on a worker
# that is stuck in a call, and the timeout of that call is kept
_PIPELINE_BYTES = 32 * 1024
_PIPELINE_CALLS = 64


def _encode(message: tuple[str, str, Any]) -> tuple[bytes, None] | tuple[None, Answer]:
    try:
        return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL), None
    except Exception as exc:  # variables or args that do not pickle
        return None, ("error", f"cannot pass the arguments to the worker: {_last_line(exc)}", "")


class _Worker:
    """One worker process and the pipe to it; ``loaded`` are the refs it has imported."""

    def __init__(self, context: Any) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child,), name="heron-custom-evaluator", daemon=True
        )
        self.process.start()
        child.close()
        self.loaded: set[str] = set()

    def send(self, data: bytes) -> bool:
        """Whether the request was sent (False: the worker is gone)."""
        try:
            self.conn.send_bytes(data)
        except (EOFError, OSError):
            return False
        return True

    def receive(self, timeout_s: float) -> Answer | None:
        """The next answer; None when none came in time; ``("died", exit code, "")`` when the
        worker's process ended."""
        try:
            if self.conn.poll(timeout_s):
                return self.conn.recv()
        except (EOFError, OSError):
            self.process.join(1)
            return ("died", self.process.exitcode, "")
        return None

    def ask(self, message: tuple[str, str, Any], timeout_s: float) -> Answer | None:
        data, failure = _encode(message)
        if data is None:
            return failure
        if not self.send(data):
            return self.receive(0)  # the worker is gone: report how it ended
        return self.receive(timeout_s)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


Call = tuple[str, dict[str, Any], dict[str, Any]]


class CustomRunner:
    """Runs custom evaluators in ``max_workers`` worker processes, started on first use.

    Thread-safe: concurrent calls use different workers, and wait for one when all are
    busy. ``close`` (or leaving a ``with`` block) stops the workers."""

    def __init__(
        self, max_workers: int = 1, timeout_s: float = 5.0, load_timeout_s: float = 60.0
    ) -> None:
        if max_workers < 1 or timeout_s <= 0 or load_timeout_s <= 0:
            raise ValueError("max_workers is at least 1 and the timeouts are positive")
        self.max_workers = max_workers
        self.timeout_s = timeout_s
        self.load_timeout_s = load_timeout_s
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(max_workers):
            self._idle.put(None)
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._closed = False

    def run(self, ref: str, variables: dict[str, Any], args: dict[str, Any]) -> CheckResult:
        """``fn(**variables, **args)`` in a worker, as a result. Raises :class:`CustomError`,
        :class:`CustomTimeout` or :class:`CustomLoadError`."""
        (result,) = self.run_many([(ref, variables, args)])
        if isinstance(result, CustomEvaluatorError):
            raise result
        return result

    def run_many(self, calls: Sequence[Call]) -> list[CheckResult | CustomEvaluatorError]:
        """``run`` for each ``(ref, variables, args)``, spread over the workers, each worker
        sent its calls ahead of its answers; a failure is returned in its place, not raised.
        Each call still has its own timeout, counted from when its worker starts it."""
        results: list[Any] = [None] * len(calls)
        shares = min(self.max_workers, len(calls))
        chunks = [range(k, len(calls), shares) for k in range(shares)]
        if shares <= 1:
            for chunk in chunks:
                self._run_chunk(calls, chunk, results)
        else:
            with ThreadPoolExecutor(shares) as pool:
                for done in [pool.submit(self._run_chunk, calls, c, results) for c in chunks]:
                    done.result()
        return results

    def validate(
        self, ref: str, variables: Iterable[str] = (), args: Mapping[str, Any] | None = None
    ) -> None:
        """:func:`load_custom` in a worker rather than in this process: raises
        :class:`CustomLoadError` (or :class:`CustomTimeout`) when the reference is wrong."""
        message = ("load", ref, (list(variables), dict(args or {})))
        worker = self._take()
        try:
            answer = worker.ask(message, self.load_timeout_s)
            if answer is None or answer[0] == "died":
                self._stop(worker)
                worker = None
        finally:
            self._idle.put(worker)
        if answer is not None and answer[0] == "ok":
            return
        failure = self._failure(ref, answer, self.load_timeout_s, "import")
        if isinstance(failure, CustomError):
            raise CustomLoadError(ref, failure.last_line)
        raise failure

    def _run_chunk(self, calls: Sequence[Call], chunk: range, results: list[Any]) -> None:
        todo = deque(chunk)
        worker: _Worker | None = self._take()
        try:
            while todo:
                if worker is None:
                    worker = self._start()
                worker = self._import(worker, calls, todo, results)
                if worker is not None and todo:
                    worker = self._pipeline(worker, calls, todo, results)
        finally:
            self._idle.put(worker)

    def _import(
        self, worker: _Worker, calls: Sequence[Call], todo: deque[int], results: list[Any]
    ) -> _Worker | None:
        """Import each function of ``todo`` new to the worker, with the import timeout; the
        calls of a function that fails to import get its failure and leave ``todo``."""
        for ref in dict.fromkeys(calls[i][0] for i in todo):
            if ref in worker.loaded:
                continue
            answer = worker.ask(("load", ref, (None, None)), self.load_timeout_s)
            if answer is not None and answer[0] == "ok":
                worker.loaded.add(ref)
                continue
            failure = self._failure(ref, answer, self.load_timeout_s, "import")
            kept = [i for i in todo if calls[i][0] != ref]
            for i in todo:
                if calls[i][0] == ref:
                    results[i] = failure
            todo.clear()
            todo.extend(kept)
            if answer is None or answer[0] == "died":
                self._stop(worker)
                return None
        return worker

    def _pipeline(
        self, worker: _Worker, calls: Sequence[Call], todo: deque[int], results: list[Any]
    ) -> _Worker | None:
        """Send calls ahead and read their answers in order; on a timeout or a crash, kill
        the worker and put the calls it had not answered back at the head of ``todo``."""
        sent: deque[tuple[int, int]] = deque()  # (call, bytes) in the order sent
        in_flight = 0
        while todo or sent:
            while (
                todo and len(sent) < _PIPELINE_CALLS and (not sent or in_flight < _PIPELINE_BYTES)
            ):
                i = todo.popleft()
                ref, variables, args = calls[i]
                both = sorted(set(variables) & set(args))
                if both:
                    results[i] = CustomError(ref, f"{', '.join(both)}: both a variable and an arg")
                    continue
                data, failure = _encode(("call", ref, (variables, args)))
                if data is None:
                    results[i] = self._failure(ref, failure, self.timeout_s)
                    continue
                if not worker.send(data):
                    todo.appendleft(i)
                    if not sent:  # gone between calls: a new worker takes the rest
                        self._stop(worker)
                        return None
                    break
                sent.append((i, len(data)))
                in_flight += len(data)
            if not sent:
                break
            i, size = sent.popleft()
            in_flight -= size
            ref = calls[i][0]
            answer = worker.receive(self.timeout_s)
            if answer is None or answer[0] == "died":
                results[i] = self._failure(ref, answer, self.timeout_s)
                todo.extendleft(j for j, _ in reversed(sent))
                self._stop(worker)
                return None
            if answer[0] == "ok":
                results[i] = CheckResult(*answer[1])
            else:
                results[i] = self._failure(ref, answer, self.timeout_s)
        return worker

    @staticmethod
    def _failure(
        ref: str, answer: Answer | None, timeout_s: float, what: str = "call"
    ) -> CustomEvaluatorError:
        if answer is None:
            return CustomTimeout(ref, timeout_s, what)
        kind, detail, trace = answer
        if kind == "died":
            return CustomError(ref, f"its worker process exited (code {detail})")
        if kind == "load_error":
            return CustomLoadError(ref, detail)
        return CustomError(ref, detail, trace)

    def _take(self) -> _Worker:
        if self._closed:
            raise RuntimeError("this CustomRunner is closed")
        worker = self._idle.get()
        if worker is None:
            try:
                worker = self._start()
            except BaseException:
                self._idle.put(None)
                raise
        return worker

    def _start(self) -> _Worker:
        worker = _Worker(self._context)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _stop(self, worker: _Worker) -> None:
        """Kill a worker that timed out or died; its slot starts a new one when next used."""
        worker.kill()
        with self._lock:
            self._workers.discard(worker)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.kill()

    def __enter__(self) -> CustomRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
