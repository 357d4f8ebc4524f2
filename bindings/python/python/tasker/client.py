"""Start tasks and follow them from application code: ``tasker.Client`` (blocking) and ``tasker.AsyncClient``
(asyncio). Standard library only. ``wait`` follows the server's event stream for the task (Server-Sent Events,
``GET /v1/tasks/{uuid}/events``), which ends with the task's final transition, then reads the task once; it
never polls in a sleep loop.

    client = tasker.Client("http://127.0.0.1:8080")
    task = client.create("linear_workflow", "mathematical_sequence", {"even_number": 6}, wait=True, timeout=30)
    task.state                      # "complete"
    task.result("linear_step_4")    # {"value": "..."}
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional

from tasker.errors import TaskerError

TERMINAL_STATES = frozenset({"complete", "error", "cancelled", "resolved_manually"})


class ClientError(TaskerError):
    """The server refused a request (``status`` 4xx/5xx, with the API's ``code``, ``message`` and ``field``), or
    could not be reached (``status`` 0, ``code`` ``unreachable``)."""

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (field `{field}`)" if field else ""))
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class WaitTimeout(TaskerError, TimeoutError):
    """The task was not finished within the time given to ``wait``; ``task`` is its latest state."""

    def __init__(self, task: "Task", timeout: float) -> None:
        super().__init__(f"task {task.task_uuid} is still `{task.state}` after {timeout} s")
        self.task = task


class Task:
    """A task as the server last described it: ``state`` (a string), its steps, results and errors."""

    def __init__(self, client: "Client", data: Dict[str, Any]) -> None:
        self._client = client
        self.data = data

    @property
    def task_uuid(self) -> str:
        return str(self.data["task_uuid"])

    @property
    def state(self) -> str:
        return str(self.data["state"])

    @property
    def done(self) -> bool:
        """Whether the task reached a final state."""
        return self.state in TERMINAL_STATES

    @property
    def steps(self) -> List[Dict[str, Any]]:
        return list(self.data.get("steps") or [])

    def _step(self, name: str) -> Dict[str, Any]:
        for s in self.steps:
            if s["name"] == name:
                return s
        names = ", ".join(s["name"] for s in self.steps)
        raise KeyError(f"task {self.task_uuid} has no step `{name}` (its steps: {names})")

    def result(self, step: str) -> Any:
        """The result of step ``step`` (None until it has one); a name the task lacks raises ``KeyError``."""
        return self._step(step).get("result")

    def error(self, step: str) -> Optional[Dict[str, Any]]:
        """The last error of step ``step`` (``message``, ``retryable``, ``error_class``, …), or None."""
        return self._step(step).get("error")

    def refresh(self) -> "Task":
        """Read the task again; returns self."""
        self.data = self._client._get_task(self.task_uuid)
        return self

    def wait(self, timeout: Optional[float] = None) -> "Task":
        """Block until the task is final (``WaitTimeout`` after ``timeout`` seconds); returns self, refreshed."""
        self.data = self._client._wait(self.task_uuid, timeout)
        return self

    def __repr__(self) -> str:
        return f"<tasker.Task {self.task_uuid} {self.state}>"


class Client:
    """A client of one Tasker server. ``api_key`` is sent as ``X-API-Key`` when the server requires one."""

    def __init__(self, url: str, api_key: Optional[str] = None, request_timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.request_timeout = request_timeout

    def create(self, namespace: str, name: str, context: Dict[str, Any], idempotency_key: Optional[str] = None,
               version: Optional[str] = None, wait: bool = False, timeout: Optional[float] = None,
               **fields: Any) -> Task:
        """Create a task (``POST /v1/tasks``); with ``wait=True``, return it once final (``WaitTimeout`` after
        ``timeout`` s). Other request fields (``priority``, ``correlation_id``, ``tags``) pass through."""
        body: Dict[str, Any] = {"namespace": namespace, "name": name, "context": context, **fields}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        if version is not None:
            body["version"] = version
        task = Task(self, self._request("POST", "/v1/tasks", body))
        return task.wait(timeout) if wait else task

    def get(self, task_uuid: str) -> Task:
        """The task ``task_uuid`` (``ClientError`` 404 when there is none)."""
        return Task(self, self._get_task(task_uuid))

    def _get_task(self, task_uuid: str) -> Dict[str, Any]:
        return dict(self._request("GET", f"/v1/tasks/{urllib.parse.quote(task_uuid)}"))

    def _headers(self) -> Dict[str, str]:
        headers = {"accept": "application/json", "content-type": "application/json"}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def _request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=self._headers())
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout) as res:
                return json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            raise _api_error(e.code, e.read()) from None
        except (urllib.error.URLError, OSError) as e:
            raise ClientError(0, "unreachable", f"{self.url}: {e}") from None

    def _wait(self, task_uuid: str, timeout: Optional[float]) -> Dict[str, Any]:
        """Follow the task's event stream until its final event, then read it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_id: Optional[str] = None
        while True:
            task = self._get_task(task_uuid)
            if task["state"] in TERMINAL_STATES:
                return task
            if deadline is not None and deadline <= time.monotonic():
                raise WaitTimeout(Task(self, task), timeout or 0.0)
            try:
                last_id = self._follow(task_uuid, last_id, deadline)
            except socket.timeout:
                raise WaitTimeout(Task(self, self._get_task(task_uuid)), timeout or 0.0) from None
            # The stream ended (the final event, or a dropped connection): read the task and go on if needed.

    def _follow(self, task_uuid: str, last_id: Optional[str], deadline: Optional[float]) -> Optional[str]:
        """Read the task's events until its final one (or the stream ends); the last event id seen. Raises
        ``socket.timeout`` at ``deadline``."""
        headers = {**self._headers(), "accept": "text/event-stream"}
        if last_id is not None:
            headers["last-event-id"] = last_id
        req = urllib.request.Request(f"{self.url}/v1/tasks/{urllib.parse.quote(task_uuid)}/events", headers=headers)
        read_timeout = None if deadline is None else max(0.001, deadline - time.monotonic())
        try:
            with urllib.request.urlopen(req, timeout=read_timeout) as res:
                for raw in res:
                    if deadline is not None and time.monotonic() > deadline:
                        raise socket.timeout()
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    elif line.startswith("data:"):
                        event = json.loads(line[5:])
                        if event.get("step_uuid") is None and event.get("to_state") in TERMINAL_STATES:
                            return last_id
        except urllib.error.HTTPError as e:
            raise _api_error(e.code, e.read()) from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, socket.timeout):
                raise e.reason from None
            raise ClientError(0, "unreachable", f"{self.url}: {e}") from None
        return last_id


class AsyncClient:
    """``Client`` for asyncio: the same methods as coroutines (each request runs in a worker thread), and tasks
    whose ``refresh`` and ``wait`` are awaited."""

    def __init__(self, url: str, api_key: Optional[str] = None, request_timeout: float = 30.0) -> None:
        self.sync = Client(url, api_key, request_timeout)

    async def create(self, namespace: str, name: str, context: Dict[str, Any], idempotency_key: Optional[str] = None,
                     version: Optional[str] = None, wait: bool = False, timeout: Optional[float] = None,
                     **fields: Any) -> "AsyncTask":
        task = await asyncio.to_thread(self.sync.create, namespace, name, context, idempotency_key, version,
                                       wait, timeout, **fields)
        return AsyncTask(task)

    async def get(self, task_uuid: str) -> "AsyncTask":
        return AsyncTask(await asyncio.to_thread(self.sync.get, task_uuid))


class AsyncTask:
    """A ``Task`` whose ``refresh`` and ``wait`` are coroutines; everything else reads the same."""

    def __init__(self, task: Task) -> None:
        self.task = task

    def __getattr__(self, name: str) -> Any:
        return getattr(self.task, name)

    async def refresh(self) -> "AsyncTask":
        await asyncio.to_thread(self.task.refresh)
        return self

    async def wait(self, timeout: Optional[float] = None) -> "AsyncTask":
        await asyncio.to_thread(self.task.wait, timeout)
        return self

    def __repr__(self) -> str:
        return repr(self.task).replace("tasker.Task", "tasker.AsyncTask")


def _api_error(status: int, body: bytes) -> ClientError:
    try:
        error = json.loads(body or b"{}").get("error") or {}
    except ValueError:
        error = {}
    return ClientError(status, str(error.get("code") or "http_error"), str(error.get("message") or body[:200]),
                       error.get("field"))
