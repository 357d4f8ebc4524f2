"""Tasker step handlers in Python.

The Rust worker foundation runs inside this process: it claims steps, keeps their leases, enforces
timeouts and persists results. Python code only implements handlers::

    import tasker

    class Square(tasker.StepHandler):
        def call(self, ctx):
            n = ctx.task_context["even_number"]
            return self.success({"value": str(n * n)})

    worker = tasker.Worker(database_url=os.environ["DATABASE_URL"], template_path="config/templates")
    worker.register("linear_workflow_py.square", Square)
    worker.run()  # until SIGTERM / SIGINT
"""

from typing import TYPE_CHECKING, Any

from tasker.context import StepContext
from tasker.errors import (
    CheckpointError,
    CheckpointUnavailableError,
    PermanentError,
    RetryableError,
    TaskerError,
    UnknownDependencyError,
    WorkerError,
)
from tasker.handler import StepHandler, batches, decision, handler, registered_handlers
from tasker.logs import JsonFormatter
from tasker.worker import Worker

if TYPE_CHECKING:
    from tasker.client import AsyncClient, AsyncTask, Client, ClientError, Task, WaitTimeout

# The client (HTTP, TLS) is imported on first use: a worker process that never calls the API does not carry
# urllib and ssl (about 4 MB of resident memory).
_CLIENT_NAMES = {"AsyncClient", "AsyncTask", "Client", "ClientError", "Task", "WaitTimeout"}


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from tasker import client

        return getattr(client, name)
    raise AttributeError(f"module 'tasker' has no attribute {name!r}")

__all__ = [
    "AsyncClient",
    "AsyncTask",
    "CheckpointError",
    "CheckpointUnavailableError",
    "Client",
    "ClientError",
    "JsonFormatter",
    "PermanentError",
    "RetryableError",
    "StepContext",
    "StepHandler",
    "Task",
    "TaskerError",
    "UnknownDependencyError",
    "WaitTimeout",
    "Worker",
    "WorkerError",
    "batches",
    "decision",
    "handler",
    "registered_handlers",
]
