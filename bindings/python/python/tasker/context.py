"""What a handler sees of the step it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from tasker.errors import CheckpointError, UnknownDependencyError


@dataclass(frozen=True)
class StepContext:
    """One attempt of one step. ``task_context`` and dependency results are plain dicts (JSON objects).
    ``batch`` is a batch worker instance's work item (its element of the batchable step's ``batches``, with its
    1-based ``"index"``); ``None`` for other steps."""

    task_uuid: str
    step_uuid: str
    step_name: str
    handler: str
    attempt: int
    max_attempts: int
    task_context: Dict[str, Any] = field(default_factory=dict)
    dependency_results: Dict[str, Any] = field(default_factory=dict)
    upstream_results: Dict[str, Any] = field(default_factory=dict)
    step_config: Dict[str, Any] = field(default_factory=dict)
    timeout_ms: int = 0
    checkpoint: Optional[Any] = None
    batch: Optional[Dict[str, Any]] = None
    cancel_check: Optional[Callable[[], bool]] = field(default=None, repr=False, compare=False)
    checkpoint_saver: Optional[Callable[[Any], None]] = field(default=None, repr=False, compare=False)

    def save_checkpoint(self, data: Any) -> None:
        """Durably store ``data`` (JSON) as this step's checkpoint while this worker's claim holds, and renew the
        lease; returns once stored. The next attempt (after a retry, a crash or a lease expiry) reads it as
        ``checkpoint``. A lost claim raises ``tasker.CheckpointError``. Works from sync and async handlers."""
        if self.checkpoint_saver is None:
            raise CheckpointError("this context has no worker to save checkpoints")
        self.checkpoint_saver(data)

    def dependency_result(self, step_name: str) -> Any:
        """The result of step ``step_name``, which must be upstream of this one: a direct dependency (also in
        ``dependency_results``) or any step above it. A ``null`` result is ``None``. Any other name raises
        ``tasker.UnknownDependencyError`` (a ``PermanentError`` and a ``LookupError``), naming the steps that are
        upstream."""
        if step_name in self.dependency_results:
            return self.dependency_results[step_name]
        if step_name in self.upstream_results:
            return self.upstream_results[step_name]
        upstream = ", ".join(sorted({*self.dependency_results, *self.upstream_results})) or "none"
        raise UnknownDependencyError(
            f"step `{step_name}` is not upstream of `{self.step_name}`; the steps upstream are: {upstream}")

    def batch_results(self, worker: str) -> List[Any]:
        """The results of the instances of batch worker step ``worker`` among this step's dependencies (a
        convergence step's view of a fan-out), in index order: ``process_batch_001``, ``process_batch_002``, …
        Empty when the batchable step asked for no batches."""
        prefix = f"{worker}_"
        found: List[Tuple[int, Any]] = []
        for name, result in self.dependency_results.items():
            digits = name[len(prefix):]
            if name.startswith(prefix) and digits.isascii() and digits.isdigit():
                found.append((int(digits), result))
        return [result for _, result in sorted(found, key=lambda item: item[0])]

    @property
    def cancelled(self) -> bool:
        """True once the step is no longer this worker's to finish: its task was cancelled by an operator, or
        its claim was lost. Seen at the worker's next lease heartbeat; a long handler can check it between
        units of work and return early (its outcome is then rejected: the step is no longer this
        worker's)."""
        return self.cancel_check is not None and self.cancel_check()

    @property
    def is_last_attempt(self) -> bool:
        """Whether a failure now fails the step for good."""
        return self.attempt >= self.max_attempts

    @classmethod
    def from_event(
        cls, event: Dict[str, Any], cancel_check: Optional[Callable[[], bool]] = None,
        checkpoint_saver: Optional[Callable[[Any], None]] = None,
    ) -> "StepContext":
        """Build a context from a native step event; ``cancel_check`` answers ``cancelled``, ``checkpoint_saver``
        stores checkpoints."""
        return cls(
            task_uuid=event["task_uuid"],
            step_uuid=event["step_uuid"],
            step_name=event["step_name"],
            handler=event["handler"],
            attempt=event["attempt"],
            max_attempts=event["max_attempts"],
            task_context=event.get("task_context") or {},
            dependency_results=event.get("dependency_results") or {},
            upstream_results=event.get("upstream_results") or {},
            step_config=event.get("step_config") or {},
            timeout_ms=event.get("timeout_ms", 0),
            checkpoint=event.get("checkpoint"),
            batch=event.get("batch"),
            cancel_check=cancel_check,
            checkpoint_saver=checkpoint_saver,
        )
