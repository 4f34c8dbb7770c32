"""``@heron.observe()``: one observation per call of a function, coroutine or generator.

The argument names of a function are read once, at decoration. Per call the wrapper builds
``{name: value}`` of the arguments as passed (``self`` / ``cls`` dropped, ``ignore_args``
left out), serialises it with orjson and starts a span; the return value (or the yielded
items) becomes the output. Exceptions mark the observation ERROR and are re-raised as they
are. Not initialised: the function is called directly.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context

from heron.sdk import attributes as A
from heron.sdk import client as _client_mod
from heron.sdk.spans import Observation, activate, set_fast

__all__ = ["observe"]

F = TypeVar("F", bound=Callable[..., Any])

_attach = otel_context.attach
_get_current = otel_context.get_current
_detach = otel_context.detach
_MAX_ITEMS = 10_000  # yielded items kept for the output of a generator


class _Args:
    """How to turn ``(args, kwargs)`` into ``{name: value}`` for one function (precomputed)."""

    __slots__ = ("ignore", "names", "skip_first", "varargs")

    def __init__(self, fn: Callable[..., Any], ignore: Iterable[str]) -> None:
        self.ignore = frozenset(ignore)
        names: list[str] = []
        self.varargs: str | None = None
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # builtins without a signature
            params = []
        for p in params:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.append(p.name)
            elif p.kind is p.VAR_POSITIONAL:
                self.varargs = p.name
        self.skip_first = bool(names) and names[0] in ("self", "cls")
        self.names = tuple(names)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self.names
        if self.skip_first:
            args = args[1:]
            names = names[1:]
        n = len(names)
        d = dict(zip(names, args, strict=False))
        if len(args) > n:
            d[self.varargs or "args"] = list(args[n:])
        if kwargs:
            d.update(kwargs)
        if self.ignore:
            for k in self.ignore:
                d.pop(k, None)
        return d


@overload
def observe(func: F) -> F: ...


@overload
def observe(
    func: None = None,
    *,
    name: str | None = None,
    as_type: str = "span",
    capture_input: bool = True,
    capture_output: bool = True,
    ignore_args: Iterable[str] = (),
) -> Callable[[F], F]: ...


def observe(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    as_type: str = "span",
    capture_input: bool = True,
    capture_output: bool = True,
    ignore_args: Iterable[str] = (),
) -> Any:
    """Record every call of the decorated function as an observation.

    ``as_type``: span (default), generation, tool, retriever, agent, chain, embedding,
    guardrail, evaluator or event. ``name`` defaults to the function's ``__qualname__``.
    ``ignore_args`` leaves arguments out of the input; ``capture_input`` /
    ``capture_output`` switch input / output off. Usable as ``@observe`` or ``@observe()``.
    """
    if as_type not in A.TYPES:
        raise ValueError(f"as_type must be one of {sorted(A.TYPES)}, got {as_type!r}")

    def decorate(fn: Callable[..., Any]) -> Any:
        if isinstance(fn, classmethod | staticmethod):
            return type(fn)(decorate(fn.__func__))
        span_name = name or getattr(fn, "__qualname__", None) or repr(fn)
        spec = _Args(fn, ignore_args) if capture_input else None
        if inspect.isasyncgenfunction(fn):
            return _wrap_async_gen(fn, span_name, as_type, spec, capture_output)
        if inspect.isgeneratorfunction(fn):
            return _wrap_gen(fn, span_name, as_type, spec, capture_output)
        if inspect.iscoroutinefunction(fn):
            return _wrap_async(fn, span_name, as_type, spec, capture_output)
        return _wrap_sync(fn, span_name, as_type, spec, capture_output)

    return decorate(func) if func is not None else decorate


def _start(
    client: Any, span_name: str, as_type: str, spec: _Args | None, args: Any, kwargs: Any
) -> tuple[Any, Any]:
    parent = _get_current()
    span = client.tracer.start_span(span_name, parent)
    if span.is_recording():  # sampled-out spans cost no serialisation
        attrs = {A.OBS_TYPE: as_type}
        if spec is not None:
            cfg = client.config
            try:
                attrs[A.OBS_INPUT] = A.io_value(
                    spec.bind(args, kwargs), cfg.max_field_bytes, cfg.mask
                )
            except Exception:
                attrs[A.OBS_INPUT] = "<heron: input not serialisable>"
        set_fast(span, attrs)
    return span, activate(span, parent)


def _finish(client: Any, span: Any, output: Any, capture: bool) -> None:
    try:
        if capture and output is not None and span.is_recording():
            cfg = client.config
            set_fast(span, {A.OBS_OUTPUT: A.io_value(output, cfg.max_field_bytes, cfg.mask)})
        span.end()
    except Exception:
        pass


def _fail(
    span: Any, exc: BaseException, partial: _Collector | None = None, client: Any = None
) -> None:
    """Mark the span ERROR (WARNING for a cancellation) and end it; a generator's output
    is what it yielded before."""
    if partial is not None and partial.items and client is not None and span.is_recording():
        cfg = client.config
        output = A.io_value(partial.output(), cfg.max_field_bytes, cfg.mask)
        span.set_attribute(A.OBS_OUTPUT, output)
    Observation(None, span, None, "span").record_error(exc)
    span.end()


def _wrap_sync(
    fn: Callable[..., Any], span_name: str, as_type: str, spec: _Args | None, capture: bool
) -> Any:
    mod = _client_mod
    active = mod.active_client

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        client = mod._active or active()  # the global first: one attribute read
        if client is None:
            return fn(*args, **kwargs)
        try:
            span, ctx = _start(client, span_name, as_type, spec, args, kwargs)
            token = _attach(ctx)
        except Exception:
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            _fail(span, exc)
            raise
        _detach(token)
        _finish(client, span, result, capture)
        return result

    return wrapper


def _wrap_async(
    fn: Callable[..., Any], span_name: str, as_type: str, spec: _Args | None, capture: bool
) -> Any:
    active = _client_mod.active_client

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        client = active()
        if client is None:
            return await fn(*args, **kwargs)
        try:
            span, ctx = _start(client, span_name, as_type, spec, args, kwargs)
            token = _attach(ctx)
        except Exception:
            return await fn(*args, **kwargs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            _fail(span, exc)
            raise
        _detach(token)
        _finish(client, span, result, capture)
        return result

    return wrapper


class _Collector:
    """The output of a generator: its items, joined when all are strings."""

    __slots__ = ("items", "more")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.more = 0

    def add(self, item: Any) -> None:
        if len(self.items) < _MAX_ITEMS:
            self.items.append(item)
        else:
            self.more += 1

    def output(self) -> Any:
        items = self.items
        if items and all(i.__class__ is str for i in items):
            return "".join(items)
        if self.more:
            items = [*items, f"<heron: {self.more} more items not recorded>"]
        return items


def _wrap_gen(
    fn: Callable[..., Any], span_name: str, as_type: str, spec: _Args | None, capture: bool
) -> Any:
    active = _client_mod.active_client

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        client = active()
        if client is None:
            return (yield from fn(*args, **kwargs))
        span, ctx = _start(client, span_name, as_type, spec, args, kwargs)
        out = _Collector()
        gen = fn(*args, **kwargs)
        send: Any = None
        throw: BaseException | None = None
        while True:
            token = _attach(ctx)
            try:
                item = gen.throw(throw) if throw is not None else gen.send(send)
            except StopIteration as stop:
                _detach(token)
                _finish(client, span, out.output(), capture)
                return stop.value
            except BaseException as exc:
                _detach(token)
                _fail(span, exc, out if capture else None, client)
                raise
            _detach(token)
            out.add(item)
            throw = None
            try:
                send = yield item
            except GeneratorExit:  # the consumer stopped early (close / garbage collection)
                gen.close()
                _finish(client, span, out.output(), capture)
                raise
            except BaseException as exc:  # thrown in by the consumer: forward it
                throw = exc

    return wrapper


def _wrap_async_gen(
    fn: Callable[..., Any], span_name: str, as_type: str, spec: _Args | None, capture: bool
) -> Any:
    active = _client_mod.active_client

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        client = active()
        if client is None:
            async for item in fn(*args, **kwargs):
                yield item
            return
        span, ctx = _start(client, span_name, as_type, spec, args, kwargs)
        out = _Collector()
        gen = fn(*args, **kwargs)
        send: Any = None
        throw: BaseException | None = None
        while True:
            token = _attach(ctx)
            try:
                if throw is not None:
                    item = await gen.athrow(throw)
                else:
                    item = await gen.asend(send)
            except StopAsyncIteration:
                _detach(token)
                _finish(client, span, out.output(), capture)
                return
            except BaseException as exc:
                _detach(token)
                _fail(span, exc, out if capture else None, client)
                raise
            _detach(token)
            out.add(item)
            throw = None
            try:
                send = yield item
            except GeneratorExit:
                await gen.aclose()
                _finish(client, span, out.output(), capture)
                raise
            except BaseException as exc:
                throw = exc

    return wrapper
