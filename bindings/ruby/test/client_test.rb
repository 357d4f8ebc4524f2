# frozen_string_literal: true

# Tasker::Client against the end-to-end cluster (a real tasker-server, Rust and Ruby workers): creating,
# waiting on the event stream, reading results and errors, and every refusal as a Tasker::ClientError.

require_relative "test_helper"
require_relative "e2e_test"

class ClientTest < Minitest::Test
  def setup
    E2E.start
    @client = Tasker::Client.new(url: "http://127.0.0.1:#{E2E.server.port}")
  end

  def test_create_and_wait_returns_the_finished_task
    task = @client.create("linear_workflow_rb", "mathematical_sequence", { even_number: 6 }, wait: true, timeout: 30)
    assert_equal "complete", task.state
    assert task.done?
    assert_equal({ "value" => (6**16).to_s }, task.result("linear_step_4"))
    assert_nil task.error(:linear_step_4)
    assert_raises(KeyError) { task.result("nope") }
  end

  def test_a_task_can_be_waited_for_later_and_refreshed
    task = @client.create("diamond_workflow_rb", "diamond_pattern", { even_number: 2 })
    assert_equal "steps_in_process", task.state
    assert_same task, task.wait(30)
    assert_equal "complete", task.state
    assert_equal task.result("diamond_end"), @client.get(task.task_uuid).refresh.result("diamond_end")
  end

  def test_a_failed_step_reads_its_error
    task = @client.create("rb_e2e", "crash", {}, wait: true, timeout: 30)
    assert_equal "error", task.state
    assert_includes task.error("crash_step")["message"], "no_such_key"
  end

  def test_wait_gives_up_at_its_timeout
    # The Python step of this workflow has no worker here: the task cannot finish.
    task = @client.create("polyglot", "priced_order", { unit_cents: 1, quantity: 1 })
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    error = assert_raises(Tasker::WaitTimeout) { task.wait(1) }
    assert_in_delta 1.0, Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0, 2.5
    assert_equal "steps_in_process", error.task.state
  end

  def test_refusals_are_client_errors_naming_code_and_field
    error = assert_raises(Tasker::ClientError) { @client.create("nowhere", "nothing", {}) }
    assert_equal [404, "not_found"], [error.status, error.code]
    error = assert_raises(Tasker::ClientError) do
      @client.create("linear_workflow_rb", "mathematical_sequence", { even_number: 3 })
    end
    assert_equal [422, "context.even_number"], [error.status, error.field]
    @client.create("linear_workflow_rb", "mathematical_sequence", { even_number: 2 }, idempotency_key: "rb-client-1")
    error = assert_raises(Tasker::ClientError) do
      @client.create("linear_workflow_rb", "mathematical_sequence", { even_number: 4 }, idempotency_key: "rb-client-1")
    end
    assert_equal [409, "idempotency_conflict", "idempotency_key"], [error.status, error.code, error.field]
    error = assert_raises(Tasker::ClientError) { Tasker::Client.new(url: "http://127.0.0.1:1").get("x") }
    assert_equal [0, "unreachable"], [error.status, error.code]
  end
end
