"""Handlers: subclasses of :class:`StepHandler`, or functions (sync or ``async``) registered with
:func:`handler`. Both return the step's result (any JSON value); :func:`decision` and :func:`batches` build the
results of ``decision`` and ``batchable`` steps."""

from __future__ import annotations

import inspect
import math
import traceback
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Mapping, Optional, Sequence, Union

from tasker.context import StepContext
from tasker.errors import PermanentError, RetryableError

if TYPE_CHECKING:
    import asyncio

HandlerFn = Callable[[StepContext], Union[Any, Awaitable[Any]]]

_DECORATED: Dict[str, HandlerFn] = {}


class StepHandler:
    """Base class of handler classes. Override :meth:`call` (it may be ``async def``)."""

    def call(self, ctx: StepContext) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.call is not implemented")

    def success(self, result: Any = None, /, **fields: Any) -> Any:
        """The step's result: ``result`` (any JSON value), or the keyword fields as a dict."""
        if fields:
            if result is not None:
                raise TypeError("pass either a result or keyword fields, not both")
            return dict(fields)
        return result

    def decision(self, branches: Sequence[str], **extra: Any) -> Dict[str, Any]:
        """A ``decision`` step's result: create and run these of its direct dependents (possibly none); the
        others are never created. Keyword fields are stored alongside: ``{"branches": [...], **extra}``."""
        return decision(branches, **extra)

    def batches(self, items: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        """A ``batchable`` step's result: one instance of its batch worker per item (a JSON object, e.g. a
        cursor range), named ``<worker>_001``, ``<worker>_002``, …; each reads its item as ``ctx.batch``."""
        return batches(items)


def decision(branches: Sequence[str], **extra: Any) -> Dict[str, Any]:
    """:meth:`StepHandler.decision` for function handlers."""
    if isinstance(branches, str):
        raise TypeError("branches must be a list of step names, not a string")
    return {"branches": list(branches), **extra}


def batches(items: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """:meth:`StepHandler.batches` for function handlers."""
    return {"batches": [dict(item) for item in items]}


def handler(name: str) -> Callable[[HandlerFn], HandlerFn]:
    """Register a function as the handler ``name``; :class:`tasker.Worker` picks it up."""

    def register(fn: HandlerFn) -> HandlerFn:
        if name in _DECORATED:
            raise ValueError(f"handler {name!r} is registered twice")
        _DECORATED[name] = fn
        return fn

    return register


def registered_handlers() -> Dict[str, HandlerFn]:
    """Every function registered with :func:`handler` so far."""
    return dict(_DECORATED)


def as_callable(target: Any) -> HandlerFn:
    """A handler class, instance or function as one callable."""
    if inspect.isclass(target) and issubclass(target, StepHandler):
        return target().call
    if isinstance(target, StepHandler):
        return target.call
    if callable(target):
        return target  # type: ignore[no-any-return]
    raise TypeError(f"not a handler: {target!r} (use a StepHandler subclass, instance or a function)")


def invoke(
    fn: HandlerFn,
    ctx: StepContext,
    loop: "asyncio.AbstractEventLoop | None",
    loop_factory: "Optional[Callable[[], asyncio.AbstractEventLoop]]" = None,
) -> Dict[str, Any]:
    """Run a handler and describe its outcome the way the native bridge expects. An ``async`` handler runs on
    ``loop``, or on the loop ``loop_factory`` gives (asyncio is imported only then: about 7 MB a worker of sync
    handlers never carries)."""
    try:
        value = fn(ctx)
        if inspect.isawaitable(value):
            if loop is None and loop_factory is not None:
                loop = loop_factory()
            if loop is None:
                raise RuntimeError("async handler without an event loop")
            import asyncio

            value = asyncio.run_coroutine_threadsafe(_await(value), loop).result()
        return {"success": True, "result": value}
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a step error
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return {"success": False, "error": error_payload(exc)}


async def _await(value: Awaitable[Any]) -> Any:
    return await value


# The largest delay the outcome can carry (an unsigned 64-bit count of milliseconds); the engine waits a year at most.
_MAX_RETRY_AFTER_MS = 2**64 - 1


def error_payload(exc: BaseException) -> Dict[str, Any]:
    """A Python exception as a step error: type, message, traceback, and whether to retry."""
    payload: Dict[str, Any] = {
        "message": str(exc) or type(exc).__name__,
        "retryable": not isinstance(exc, PermanentError),
        "error_class": f"{type(exc).__module__}.{type(exc).__qualname__}"
        if type(exc).__module__ not in ("builtins", "__main__")
        else type(exc).__qualname__,
        "backtrace": [line.rstrip("\n") for line in traceback.format_exception(type(exc), exc, exc.__traceback__)],
    }
    retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
    if isinstance(retry_after, (int, float)) and math.isfinite(retry_after) and retry_after >= 0:
        payload["retry_after_ms"] = min(math.ceil(retry_after * 1000), _MAX_RETRY_AFTER_MS)
    return payload
