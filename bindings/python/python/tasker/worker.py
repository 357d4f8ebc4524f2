"""The worker: registers Python handlers and runs them for steps the native worker claims."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from tasker.context import StepContext
from tasker import logs
from tasker.errors import CheckpointError, CheckpointUnavailableError, WorkerError
from tasker.handler import HandlerFn, as_callable, invoke, registered_handlers

if TYPE_CHECKING:
    import asyncio

# How long one native wait lasts before an idle handler thread looks at the worker's state again (ms). Stopping
# does not wait for it: the native worker wakes every waiting thread once it has stopped.
_POLL_MS = 1000

#: Handler threads, and so steps claimed and run at once, when ``Worker(concurrency=...)`` is not given. With
#: fewer, a worker of quick handlers spends its time waiting on claim and report round trips rather than running
#: steps: 4 threads ran 0.41 of the Rust worker's steps/s, 16 ran 0.8, 64 (the Rust worker's
#: ``worker.max_concurrency``) 0.93 (docs/performance.md). Idle threads wait in the native extension without the
#: GIL and wake once a second. Lower it for CPU-bound handlers (they hold the GIL).
DEFAULT_CONCURRENCY = 64

# How long ``stop`` waits for the handler threads after the native worker stopped (its grace period is over by
# then, and unfinished steps were released).
STOP_JOIN_SECONDS = 1.0


def _run_loop(loop: "asyncio.AbstractEventLoop") -> None:
    """Run ``loop`` until ``stop`` stops it; then cancel what is still pending on it (a handler stuck past the grace
    period: its step was released) and close it, so that a worker started and stopped again leaks no loop."""
    import asyncio

    loop.run_forever()
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def _checkpoint_saver(native: Any, event_id: int) -> Callable[[Any], None]:
    def save(data: Any) -> None:
        try:
            native.save_checkpoint(event_id, json.dumps(data))
        except ConnectionError as e:
            raise CheckpointUnavailableError(str(e)) from None
        except RuntimeError as e:
            raise CheckpointError(str(e)) from None

    return save


class Worker:
    """A Tasker worker whose handlers are Python code.

    ``run()`` blocks until SIGTERM/SIGINT; ``start()``/``stop()`` embed it in a larger program. Handlers run on
    ``concurrency`` threads; ``async`` handlers run on one asyncio loop in its own thread.
    """

    def __init__(
        self,
        database_url: Optional[str] = None,
        template_path: Optional[str] = None,
        namespaces: Optional[List[str]] = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        bind: Optional[str] = None,
        queues: Optional[List[str]] = None,
    ) -> None:
        """``queues``: serve exactly these queues (as templates name them: a step's ``queue``, or its namespace)
        instead of deriving them from the templates; start-up fails if a step routed to one of them names a
        handler not registered here. ``namespaces`` is the same thing under its older name."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.database_url = database_url or os.environ.get("DATABASE_URL")
        self.template_path = template_path
        self.served_queues = queues if queues is not None else namespaces
        self.concurrency = concurrency
        self.bind = bind
        self._handlers: Dict[str, HandlerFn] = {}
        self._native: Any = None
        self._threads: List[threading.Thread] = []
        # The event loop of ``async`` handlers, started by the first one (see ``_event_loop``).
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread: Optional[threading.Thread] = None
        self._loop_lock = threading.Lock()
        self._stopping = threading.Event()

    def register(self, name: str, target: Any) -> "Worker":
        """Register a handler class, instance or function under ``name``. A name may be registered once."""
        if name in self._handlers:
            raise ValueError(f"handler {name!r} is registered twice")
        self._handlers[name] = as_callable(target)
        return self

    @property
    def handler_names(self) -> List[str]:
        return sorted(set(self._handlers) | set(registered_handlers()))

    @property
    def queues(self) -> List[str]:
        return list(self._native.queues) if self._native is not None else []

    def start(self) -> "Worker":
        """Connect, start claiming and start the handler threads."""
        from tasker._native import NativeWorker

        handlers = {**registered_handlers(), **self._handlers}
        self._handlers = handlers
        if not handlers:
            raise ValueError("register at least one handler before starting")
        logs.start_forwarding()
        try:
            self._native = NativeWorker(
                sorted(handlers),
                database_url=self.database_url,
                template_path=self.template_path,
                queues=self.served_queues,
                concurrency=self.concurrency,
                bind=self.bind,
            )
        except RuntimeError as e:
            logs.drain(50)  # the queues skipped and why, before the error
            raise WorkerError(str(e)) from e
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._serve, name=f"tasker-handler-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for t in self._threads:
            t.start()
        return self

    def _serve(self) -> None:
        native = self._native
        while True:
            raw = native.next_event(_POLL_MS)
            if raw is None:
                if not native.is_running():
                    return
                continue
            try:
                self._run_event(native, raw)
            except BaseException as exc:  # noqa: BLE001 - a handler thread outlives any one step
                # `_run_event` completes its event whatever the handler did; this is what escaped it (a
                # `SystemExit` in a handler, a failing `complete`). The thread goes on to the next event.
                logs.LOGGER.error("handler thread %s: %s: %s", threading.current_thread().name,
                                  type(exc).__name__, exc)

    def _run_event(self, native: Any, raw: str) -> None:
        """Run one step event's handler and complete the event, whatever the handler does."""
        event = json.loads(raw)
        fn = self._handlers.get(event["handler"])
        event_id = event["event_id"]
        ctx = StepContext.from_event(event, cancel_check=lambda: bool(native.is_cancelled(event_id)),
                                     checkpoint_saver=_checkpoint_saver(native, event_id))
        outcome: Optional[Dict[str, Any]] = None
        try:
            if fn is None:
                outcome = {
                    "success": False,
                    "error": {"message": f"no Python handler {event['handler']!r}", "retryable": False},
                }
            else:
                outcome = invoke(fn, ctx, None, loop_factory=self._event_loop)
        finally:
            # A handler that ended its thread (`sys.exit()`) still completes its step, as a retryable error; what
            # it raised then goes on up to `_serve`.
            if outcome is None:
                outcome = {"success": False, "error": {"message": "the handler was interrupted", "retryable": True,
                                                       "error_class": "Interrupt"}}
            try:
                payload = json.dumps(outcome, allow_nan=False)
            except (TypeError, ValueError) as exc:
                payload = json.dumps(
                    {"success": False, "error": {"message": f"result is not JSON: {exc}", "retryable": False,
                                                 "error_class": type(exc).__name__}}
                )
            native.complete(event_id, payload)

    def stop(self) -> None:
        """Stop claiming, let in-flight steps finish (within the configured grace period), release the rest to
        other workers, then return. A handler still running after that is stuck: its step was released, and its
        (daemon) thread is left behind after a short wait, so a stuck handler never keeps the process from
        stopping."""
        if self._native is None:
            return
        self._stopping.set()
        self._native.stop()
        deadline = time.monotonic() + STOP_JOIN_SECONDS
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            logs.LOGGER.warning("%d handler thread(s) still running after stop; their steps were released", len(stuck))
        logs.drain(100)
        with self._loop_lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=5)
            self._loop, self._loop_thread = None, None
        self._native = None

    def _event_loop(self) -> "asyncio.AbstractEventLoop":
        """The event loop ``async`` handlers run on, in a thread of its own, started on first use: a worker of
        sync handlers never imports asyncio."""
        with self._loop_lock:
            if self._loop is None:
                import asyncio

                loop = asyncio.new_event_loop()
                self._loop = loop
                self._loop_thread = threading.Thread(target=_run_loop, args=(loop,), name="tasker-asyncio", daemon=True)
                self._loop_thread.start()
            return self._loop

    def run(self) -> None:
        """Start, then block until SIGTERM or SIGINT, then stop gracefully."""
        self.start()
        done = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            done.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not done.wait(0.2):
                if self._native is None or not self._native.is_running():
                    break
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            self.stop()

    def __enter__(self) -> "Worker":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
