"""Exceptions a handler raises to say what happens next. Any other exception is a retryable failure."""

from __future__ import annotations

import math
from typing import Optional


class TaskerError(Exception):
    """Base class of Tasker's exceptions."""


class RetryableError(TaskerError):
    """The step failed but may succeed later: retry with backoff, or after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        if retry_after is not None and not (
            isinstance(retry_after, (int, float)) and math.isfinite(retry_after) and retry_after >= 0
        ):
            raise ValueError(f"retry_after must be a non-negative number of seconds, got {retry_after!r}")
        self.retry_after = retry_after


class PermanentError(TaskerError):
    """The step failed and retrying cannot help: fail it now."""


class UnknownDependencyError(PermanentError, LookupError):
    """A handler read the result of a step that is not upstream of its own (a typo, or a step of another
    branch). It fails the step permanently unless the handler catches it; the message names the steps that are
    upstream."""


class CheckpointError(PermanentError):
    """A checkpoint could not be saved: the step's claim was lost (it was cancelled, or another worker took it
    after this one's lease expired). Uncaught, it fails the attempt; its outcome is rejected anyway."""


class CheckpointUnavailableError(RetryableError):
    """A checkpoint could not be saved because the database could not be reached (the claim may well still hold).
    Uncaught, it fails the attempt as a retryable error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class WorkerError(TaskerError, RuntimeError):
    """The worker cannot start: no queue to serve with the registered handlers, a queue given explicitly whose
    steps name a handler not registered here, or the database unreachable. The message names the cause (the
    template path and handlers, or the queue, template, field and handler)."""
