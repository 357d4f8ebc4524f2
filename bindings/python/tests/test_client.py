"""``tasker.Client`` and ``tasker.AsyncClient`` against a real ``tasker-server`` and a Python worker: creating,
waiting on the event stream, reading results and errors, and every kind of refusal as a ``ClientError``."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator

import pytest

import tasker
from conftest import ROOT, Api
from handlers import register_catalog


@pytest.fixture(scope="module")
def client(server: Api, database: str) -> Iterator[tasker.Client]:
    w = tasker.Worker(database_url=database, template_path=str(ROOT / "config" / "templates"), concurrency=4)
    register_catalog(w)
    with w:
        yield tasker.Client(server.base)


def test_create_and_wait_returns_the_finished_task(client: tasker.Client) -> None:
    task = client.create("linear_workflow_py", "mathematical_sequence", {"even_number": 6}, wait=True, timeout=30)
    assert task.state == "complete" and task.done
    assert task.result("linear_step_4") == {"value": str(6**16)}
    assert task.error("linear_step_4") is None
    with pytest.raises(KeyError, match="no step `nope`"):
        task.result("nope")


def test_a_task_can_be_waited_for_later_and_refreshed(client: tasker.Client) -> None:
    task = client.create("diamond_workflow_py", "diamond_pattern", {"even_number": 2})
    assert task.state == "steps_in_process"
    assert task.wait(30) is task and task.state == "complete"
    again = client.get(task.task_uuid).refresh()
    assert again.state == "complete" and again.result("diamond_end") == task.result("diamond_end")


def test_a_failed_step_reads_its_error(client: tasker.Client) -> None:
    task = client.create("error_workflow_py", "permanent_error", {}, wait=True, timeout=30)
    assert task.state == "error"
    error = task.error("permanent_failure_step")
    assert error is not None and error["retryable"] is False and "never succeed" in error["message"]


def test_wait_gives_up_at_its_timeout(client: tasker.Client) -> None:
    # The Ruby step of this workflow has no worker here: the task cannot finish.
    task = client.create("polyglot", "priced_order", {"unit_cents": 1, "quantity": 1})
    started = time.monotonic()
    with pytest.raises(tasker.WaitTimeout) as caught:
        task.wait(timeout=1.0)
    assert 0.9 <= time.monotonic() - started < 5
    assert caught.value.task.state == "steps_in_process"
    assert isinstance(caught.value, TimeoutError)


def test_refusals_are_client_errors_naming_code_and_field(client: tasker.Client) -> None:
    with pytest.raises(tasker.ClientError) as caught:
        client.create("nowhere", "nothing", {})
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    with pytest.raises(tasker.ClientError) as caught:
        client.create("linear_workflow_py", "mathematical_sequence", {"even_number": 3})
    assert (caught.value.status, caught.value.field) == (422, "context.even_number")
    client.create("linear_workflow_py", "mathematical_sequence", {"even_number": 2}, idempotency_key="py-client-1")
    same = client.create("linear_workflow_py", "mathematical_sequence", {"even_number": 2}, idempotency_key="py-client-1")
    assert same.state in ("steps_in_process", "complete")
    with pytest.raises(tasker.ClientError) as caught:
        client.create("linear_workflow_py", "mathematical_sequence", {"even_number": 4}, idempotency_key="py-client-1")
    assert (caught.value.status, caught.value.code, caught.value.field) == (409, "idempotency_conflict", "idempotency_key")
    with pytest.raises(tasker.ClientError) as caught:
        tasker.Client("http://127.0.0.1:1").get("00000000-0000-0000-0000-000000000000")
    assert (caught.value.status, caught.value.code) == (0, "unreachable")


def test_the_asyncio_client(client: tasker.Client) -> None:
    async def run() -> tasker.AsyncTask:
        async_client = tasker.AsyncClient(client.url)
        task = await async_client.create("tree_workflow_py", "hierarchical_tree", {"even_number": 2})
        await task.wait(30)
        return await (await async_client.get(task.task_uuid)).refresh()

    task = asyncio.run(run())
    assert task.state == "complete"
    assert task.result("tree_final_convergence") == {"value": str(2**64)}
