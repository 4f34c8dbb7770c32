"""Custom Python evaluators: loading by module path and by entry point, the calling
convention, return values, and workers that recover from timeouts, errors and crashes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from heron.errors import BadRequest
from heron.evals.checks import CheckResult
from heron.evals.custom import (
    ENTRY_POINT_GROUP,
    CustomError,
    CustomEvaluatorError,
    CustomLoadError,
    CustomRunner,
    CustomTimeout,
    load_custom,
    result_of,
)
from tests.evals import custom_fns

FNS = "tests.evals.custom_fns"


@pytest.fixture(scope="module")
def runner() -> Iterator[CustomRunner]:
    with CustomRunner(max_workers=2, timeout_s=5.0) as r:
        yield r


# -- loading ---------------------------------------------------------------------------------


def test_load_by_module_path() -> None:
    assert load_custom(f"{FNS}:word_count") is custom_fns.word_count
    assert load_custom(f"{FNS}:Scorer.length")("abc") == 3


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "is 'package.module:function' or the name of an entry point"),
        ("tests.evals.custom_fns:", "is not 'package.module:function'"),
        ("tests/evals/custom_fns.py:word_count", "is not 'package.module:function'"),
        ("a:b:c", "is not 'package.module:function'"),
        ("no_such_module_xyz:check", "cannot import 'no_such_module_xyz': ModuleNotFoundError"),
        ("tests.evals.custom_broken:check", "RuntimeError: this module is broken on purpose"),
        (f"{FNS}:missing", "has no attribute 'missing'"),
        (f"{FNS}:NOT_CALLABLE", "is a int, not a function"),
        ("no-such-entry-point", "no entry point 'no-such-entry-point' in 'heron.evaluators'"),
    ],
)
def test_bad_references_are_refused_saying_why(ref: str, message: str) -> None:
    with pytest.raises(CustomLoadError) as caught:
        load_custom(ref)
    assert message in caught.value.message
    assert isinstance(caught.value, BadRequest)  # a 400 when a definition names it


def test_the_signature_is_checked_against_variables_and_args() -> None:
    load_custom(f"{FNS}:word_count", ["text"], {"min_words": 3})
    load_custom(f"{FNS}:calls", ["anything", "at_all"], {"x": 1})  # **kwargs
    with pytest.raises(CustomLoadError, match="cannot take text, limit: got an unexpected"):
        load_custom(f"{FNS}:word_count", ["text"], {"limit": 3})
    with pytest.raises(CustomLoadError, match="missing a required argument: 'text'"):
        load_custom(f"{FNS}:word_count", ["output"], {})
    with pytest.raises(CustomLoadError, match="text: both a variable and an arg"):
        load_custom(f"{FNS}:word_count", ["text"], {"text": "x"})


def write_distribution(root: Path, entry_points: str) -> None:
    info = root / "heron_test_evaluators-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: heron-test-evaluators\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(entry_points)


def test_entry_points_are_found_through_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_distribution(
        tmp_path,
        f"[{ENTRY_POINT_GROUP}]\nwords = {FNS}:word_count\nwhole = {FNS}\n\n"
        f"[other.group]\npolite = {FNS}:is_polite\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_custom("words") is custom_fns.word_count
    with pytest.raises(CustomLoadError, match="names a module, not a function"):
        load_custom("whole")
    with pytest.raises(CustomLoadError, match=r"no entry point 'polite' .* \(whole, words\)"):
        load_custom("polite")  # another group's
    # the worker process, spawned with this sys.path, finds it too
    with CustomRunner(timeout_s=10) as fresh:
        result = fresh.run("words", {"text": "a b c"}, {"min_words": 2})
    assert result == CheckResult(3.0, "NUMERIC", "3 words, at least 2 wanted")


# -- results ---------------------------------------------------------------------------------


def test_result_of_each_return_type() -> None:
    assert result_of(True) == CheckResult(True, "BOOLEAN", None)
    assert result_of(3) == CheckResult(3.0, "NUMERIC", None)
    assert result_of(0.25) == CheckResult(0.25, "NUMERIC", None)
    assert result_of("calm") == CheckResult("calm", "CATEGORICAL", None)
    assert result_of({"value": False, "comment": "rude"}) == CheckResult(False, "BOOLEAN", "rude")
    assert result_of({"value": 1}) == CheckResult(1.0, "NUMERIC", None)
    assert result_of(np.float32(0.5)) == CheckResult(0.5, "NUMERIC", None)
    assert result_of(np.bool_(True)) == CheckResult(True, "BOOLEAN", None)
    assert result_of({"value": "x", "comment": "c" * 5000}).comment == "c" * 1000


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1], "returned list; expected bool, int, float, str"),
        (None, "returned NoneType"),
        ({"value": [1]}, "returned list"),
        ({"score": 1}, "a dict with unknown keys score"),
        ({"comment": "x"}, "a dict with no 'value'"),
        ({"value": 1, "comment": 2}, "comment is int, not str"),
        (float("inf"), "a score is finite"),
        ("x" * 201, "a category has at most 200"),
    ],
)
def test_result_of_refuses_other_values(value: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        result_of(value)


# -- running ---------------------------------------------------------------------------------


def test_run_calls_the_function_with_variables_and_args_as_keywords(runner: CustomRunner) -> None:
    assert runner.run(f"{FNS}:word_count", {"text": "one two"}, {"min_words": 5}) == CheckResult(
        2.0, "NUMERIC", "2 words, at least 5 wanted"
    )
    assert runner.run(f"{FNS}:is_polite", {"text": "Please help"}, {}).value is True
    assert runner.run(f"{FNS}:tone", {"text": "now!"}, {}) == CheckResult(
        "angry", "CATEGORICAL", None
    )
    assert runner.run(f"{FNS}:numpy_scores", {"text": "x"}, {}) == CheckResult(
        True, "BOOLEAN", None
    )
    assert runner.run(f"{FNS}:pid", {}, {}).value != os.getpid()  # another process


def test_a_worker_imports_a_function_once_and_keeps_it() -> None:
    with CustomRunner(max_workers=1) as single:
        counts = [single.run(f"{FNS}:calls", {}, {}).value for _ in range(3)]
    assert counts == [1.0, 2.0, 3.0]


def test_errors_in_user_code_are_returned_with_the_last_line(runner: CustomRunner) -> None:
    with pytest.raises(CustomError) as caught:
        runner.run(f"{FNS}:boom", {"text": ""}, {})
    error = caught.value
    assert error.last_line == "ZeroDivisionError: division by zero"
    assert error.message == (
        f"custom evaluator '{FNS}:boom' failed: ZeroDivisionError: division by zero"
    )
    assert "custom_fns.py" in error.traceback and error.ref == f"{FNS}:boom"
    with pytest.raises(CustomError, match="TypeError: custom evaluator returned list"):
        runner.run(f"{FNS}:bad_type", {"text": "a b"}, {})
    with pytest.raises(CustomError, match="a dict with unknown keys score"):
        runner.run(f"{FNS}:bad_dict", {"text": "a b"}, {})
    with pytest.raises(CustomError, match="returned nan; a score is finite"):
        runner.run(f"{FNS}:not_finite", {"text": "a"}, {})
    with pytest.raises(CustomError, match="SystemExit: bye"):
        runner.run(f"{FNS}:quits", {"text": "a"}, {})
    with pytest.raises(CustomError, match="unexpected keyword argument 'extra'"):
        runner.run(f"{FNS}:is_polite", {"text": "a"}, {"extra": 1})
    with pytest.raises(CustomError, match="text: both a variable and an arg"):
        runner.run(f"{FNS}:is_polite", {"text": "a"}, {"text": "b"})
    with pytest.raises(CustomLoadError, match="has no attribute 'missing'"):
        runner.run(f"{FNS}:missing", {"text": "a"}, {})
    # the workers are still there and serve the next call
    assert runner.run(f"{FNS}:is_polite", {"text": "please"}, {}).value is True


def test_a_timeout_kills_the_worker_and_a_new_one_serves_the_next_call() -> None:
    with CustomRunner(max_workers=1, timeout_s=1.0) as single:
        before = single.run(f"{FNS}:pid", {}, {}).value
        started = time.perf_counter()
        with pytest.raises(CustomTimeout) as caught:
            single.run(f"{FNS}:slow", {"text": "x"}, {"seconds": 30})
        assert time.perf_counter() - started < 5
        assert caught.value.timeout_s == 1.0 and caught.value.ref == f"{FNS}:slow"
        assert "the call ran past its 1 s timeout" in caught.value.message
        with pytest.raises(ProcessLookupError):
            os.kill(int(before), 0)  # the stuck worker is gone
        after = single.run(f"{FNS}:pid", {}, {}).value
        assert after != before
        assert single.run(f"{FNS}:slow", {"text": "x"}, {"seconds": 0.01}).value is True


def test_a_crashed_worker_is_replaced() -> None:
    with CustomRunner(max_workers=1, timeout_s=5.0) as single:
        before = single.run(f"{FNS}:pid", {}, {}).value
        with pytest.raises(CustomError, match="its worker process exited \\(code 3\\)"):
            single.run(f"{FNS}:exits", {"text": "x"}, {})
        assert single.run(f"{FNS}:pid", {}, {}).value != before


def test_a_slow_import_has_its_own_timeout() -> None:
    with CustomRunner(max_workers=1, timeout_s=5.0, load_timeout_s=1.0) as single:
        with pytest.raises(CustomTimeout, match="the import ran past its 1 s timeout"):
            single.run("tests.evals.custom_slow_import:check", {"text": "x"}, {})
        assert single.run(f"{FNS}:tone", {"text": "x"}, {}).value == "calm"


def test_run_many_uses_every_worker_and_returns_failures_in_place() -> None:
    with CustomRunner(max_workers=2, timeout_s=2.0) as pair:
        calls = [(f"{FNS}:slow", {"text": "x"}, {"seconds": 0.5}) for _ in range(4)]
        calls += [(f"{FNS}:boom", {"text": ""}, {}), (f"{FNS}:tone", {"text": "!"}, {})]
        pair.run_many(calls[:2])  # start both workers and import the function
        started = time.perf_counter()
        results = pair.run_many(calls)
        elapsed = time.perf_counter() - started
        pids = {r.value for r in pair.run_many([(f"{FNS}:pid", {}, {"seconds": 0.2})] * 4)}
    assert results[:4] == [CheckResult(True, "BOOLEAN", None)] * 4
    assert isinstance(results[4], CustomError) and isinstance(results[4], CustomEvaluatorError)
    assert results[5] == CheckResult("angry", "CATEGORICAL", None)
    assert elapsed < 1.9  # four half-second calls on two workers, not one after another
    assert len(pids) == 2


def test_validate_imports_in_a_worker_not_here(runner: CustomRunner) -> None:
    runner.validate(f"{FNS}:word_count", ["text"], {"min_words": 1})
    with pytest.raises(CustomLoadError, match="cannot take text, limit"):
        runner.validate(f"{FNS}:word_count", ["text"], {"limit": 1})
    with pytest.raises(CustomLoadError, match="RuntimeError: this module is broken"):
        runner.validate("tests.evals.custom_broken:check")


def test_run_many_sends_calls_ahead_and_keeps_each_calls_timeout() -> None:
    calls = [(f"{FNS}:tone", {"text": str(i) + "!" * (i % 2)}, {}) for i in range(300)]
    calls[100] = (f"{FNS}:slow", {"text": "x"}, {"seconds": 30})  # stuck behind 99 calls
    calls[200] = (f"{FNS}:exits", {"text": "x"}, {})
    with CustomRunner(max_workers=1, timeout_s=1.0) as single:
        started = time.perf_counter()
        results = single.run_many(calls)
        assert time.perf_counter() - started < 6
    assert isinstance(results[100], CustomTimeout)
    assert isinstance(results[200], CustomError) and "exited (code 3)" in results[200].message
    expected = [CheckResult("angry" if i % 2 else "calm", "CATEGORICAL", None) for i in range(300)]
    for i in (100, 200):
        expected[i] = results[i]
    assert results == expected  # the calls sent after the stuck one were run by a new worker


def test_a_closed_runner_refuses_calls() -> None:
    closed = CustomRunner()
    closed.close()
    with pytest.raises(RuntimeError, match="closed"):
        closed.run(f"{FNS}:tone", {"text": "x"}, {})
    with pytest.raises(ValueError, match="max_workers"):
        CustomRunner(max_workers=0)
