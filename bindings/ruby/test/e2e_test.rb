# frozen_string_literal: true

# End to end: a fresh database, the real `tasker-server`, a Rust `tasker-worker` (the reference), and a
# Ruby worker in this process serving the `_rb` catalog. Every example runs through the REST API and its
# exact result is checked, against fixed values and against its Rust twin.

require "stringio"
require_relative "test_helper"
require_relative "support/cluster"
require_relative "../examples/handlers"

module E2E
  class << self
    attr_reader :db, :server, :rust_worker, :ruby_worker, :api, :template_dir

    # Started by the first test that needs it, stopped after the last.
    def start
      return if @api

      @template_dir = Dir.mktmpdir("tasker-rb-templates")
      File.symlink(File.join(TaskerTest::ROOT, "config/templates"), File.join(@template_dir, "catalog"))
      File.symlink(File.join(__dir__, "templates"), File.join(@template_dir, "rb_e2e"))
      @db = TaskerTest::ScratchDatabase.new("tasker_rb_e2e")
      env = { "TASKER_TEMPLATE_PATH" => @template_dir }
      @server = TaskerTest::Proc.new("tasker-server", db.url, env).wait_live
      @rust_worker = TaskerTest::Proc.new("tasker-worker", db.url, env).wait_live
      @api = TaskerTest::Api.new(server.port)
      TaskerTest.env(db.url).merge(env).each { |k, v| ENV[k] = v } # read by the embedded worker's config
      @ruby_worker = Tasker::Worker.new(database_url: db.url, template_path: @template_dir, concurrency: 4)
      TaskerExamples.register_all(@ruby_worker)
      @ruby_worker.register("rb_e2e.crash") { |ctx| ctx.task_context.fetch("no_such_key") }
      @ruby_worker.register("rb_e2e.hang") do |_ctx|
        sleep 1.5
        { late: true }
      end
      @ruby_worker.start
    end

    def stop
      @ruby_worker&.stop
      @api&.close
      @rust_worker&.stop
      @server&.stop
      @db&.drop
      FileUtils.rm_rf(@template_dir) if @template_dir
    end

    # Run `namespace/name` with `context` on the Ruby catalog (`<namespace>_rb`) and on the Rust one;
    # returns [ruby_task, rust_task] once both are terminal.
    def run_twins(namespace, name, context)
      ids = [api.create("#{namespace}_rb", name, context), api.create(namespace, name, context)]
      ids.map { |id| api.wait_terminal(id) }
    end
  end
end
Minitest.after_run { E2E.stop }

class EndToEndTest < Minitest::Test
  def setup
    E2E.start
  end

  def api = E2E.api
  def step(task, name) = TaskerTest.step(task, name)

  def value(task, name)
    step(task, name).fetch("result").fetch("value")
  end

  # Step name => [state, attempts, result] of every step.
  def shape(task)
    task["steps"].to_h { |s| [s["name"], [s["state"], s["attempts"], s["result"]]] }
  end

  def test_math_workflows_are_exact_and_match_rust
    cases = [
      ["linear_workflow", "mathematical_sequence", 6, { "linear_step_1" => 6**2, "linear_step_4" => 6**16 }],
      ["diamond_workflow", "diamond_pattern", 6, { "diamond_branch_b" => 6**4, "diamond_end" => 6**16 }],
      ["tree_workflow", "hierarchical_tree", 2, { "tree_final_convergence" => 2**64 }],
      ["mixed_dag_workflow", "complex_dag", 4, { "dag_transform" => 4**8, "dag_finalize" => 4**64 }]
    ]
    ids = cases.map do |ns, name, n, _|
      [api.create("#{ns}_rb", name, { even_number: n }), api.create(ns, name, { even_number: n })]
    end
    cases.zip(ids).each do |(ns, _, _, expected), (ruby_id, rust_id)|
      ruby, rust = api.wait_terminal(ruby_id), api.wait_terminal(rust_id)
      assert_equal "complete", ruby["state"], "#{ns}_rb: #{JSON.pretty_generate(ruby)}"
      assert ruby["completed_at"]
      expected.each { |step_name, v| assert_equal v.to_s, value(ruby, step_name), "#{ns}_rb #{step_name}" }
      assert_equal shape(rust), shape(ruby), "#{ns}_rb differs from its Rust twin"
      ruby["steps"].each { |s| assert_equal "#{ns}_rb.square", s["handler"] }
    end
  end

  ORDER = {
    customer: { id: 1, name: "Ada", email: "ada@example.com" },
    items: [{ sku: "WIDGET-001", quantity: 2, price: 29.99 }, { sku: "GADGET-002", quantity: 1, price: 149.99 }],
    payment: { method: "credit_card", token: "tok_test" },
    shipping: { method: "standard", address: "1 Main St" }
  }.freeze

  def test_order_fulfillment_charges_the_exact_total
    ruby, rust = E2E.run_twins("order_fulfillment", "business_workflow", ORDER)
    assert_equal "complete", ruby["state"], JSON.pretty_generate(ruby)
    compact = ruby["task_uuid"].delete("-")
    assert_equal({ "validated" => true, "order_total" => "209.97", "item_count" => 3, "customer_id" => 1 },
                 step(ruby, "validate_order")["result"])
    assert_equal({ "reservation_id" => "RES-#{compact}",
                   "reserved_items" => [{ "sku" => "WIDGET-001", "quantity" => 2 },
                                        { "sku" => "GADGET-002", "quantity" => 1 }] },
                 step(ruby, "reserve_inventory")["result"])
    assert_equal({ "payment_id" => "PAY-#{compact}", "amount_charged" => "209.97",
                   "payment_method" => "credit_card", "status" => "captured" },
                 step(ruby, "process_payment")["result"])
    assert_equal({ "shipping_status" => "label_created", "tracking_number" => "TRK#{compact[0, 12].upcase}",
                   "shipping_method" => "standard" },
                 step(ruby, "ship_order")["result"])
    # Identical to the Rust handlers' results once the task id is the same.
    rust_compact = rust["task_uuid"].delete("-")
    normalized = JSON.parse(JSON.generate(shape(rust)).gsub(rust_compact, compact)
                                                       .gsub(rust_compact[0, 12].upcase, compact[0, 12].upcase))
    assert_equal normalized, shape(ruby)
  end

  def test_retries_then_succeeds
    ruby, rust = E2E.run_twins("retry_workflow", "retry_mechanics", { fail_count: 2 })
    assert_equal "complete", ruby["state"], JSON.pretty_generate(ruby)
    s = step(ruby, "flaky_step")
    assert_equal [3, { "attempts_before_success" => 2 }], [s["attempts"], s["result"]]
    assert_equal shape(rust), shape(ruby)
  end

  def test_retry_exhaustion_keeps_the_ruby_error_and_retry_after
    ruby, rust = E2E.run_twins("retry_workflow", "retry_exhaustion", {})
    assert_equal %w[error error], [ruby["state"], rust["state"]]
    s = step(ruby, "always_failing_step")
    assert_equal ["error", 3], [s["state"], s["attempts"]]
    assert_equal ["attempt 3 failed, as it always does", true, "Tasker::RetryableError", 50],
                 s["error"].values_at("message", "retryable", "error_class", "retry_after_ms")
    assert_match(/examples\/handlers\.rb:\d+/, s["error"]["backtrace"].first)
  end

  def test_permanent_error_carries_a_ruby_backtrace
    ruby, rust = E2E.run_twins("error_workflow", "permanent_error", {})
    assert_equal %w[error error], [ruby["state"], rust["state"]]
    s = step(ruby, "permanent_failure_step")
    assert_equal ["error", 1, false], [s["state"], s["attempts"], s["error"]["retryable"]]
    assert_equal "Tasker::PermanentError", s["error"]["error_class"]
    assert_equal "this step can never succeed", s["error"]["message"]
    backtrace = s["error"]["backtrace"]
    refute_empty backtrace
    assert_match(/examples\/handlers\.rb:\d+:in /, backtrace.first)
    assert(backtrace.any? { |line| line.include?("lib/tasker/worker.rb") }, backtrace.inspect)
  end

  # The names of the steps a task has (dynamic workflows create some of them), sorted.
  def names(task)
    task["steps"].map { |s| s["name"] }.sort
  end

  # Row i of csv_inventory is worth (i % 7 + 1) x (100 + 37 i mod 900) cents.
  def inventory_cents(rows)
    rows.sum { |i| ((i % 7) + 1) * (100 + ((37 * i) % 900)) }
  end

  def test_a_decision_creates_only_the_branches_it_chooses
    cases = [
      [500, %w[auto_approve], %w[auto]],
      [2_500, %w[manager_approval], %w[manager]],
      [7_500, %w[manager_approval finance_review], %w[finance manager]]
    ]
    cases.each do |amount, branches, approved_by|
      ruby, rust = E2E.run_twins("conditional_approval", "approval_routing", { amount: amount, requester: "ann" })
      assert_equal "complete", ruby["state"], JSON.pretty_generate(ruby)
      expected = (%w[validate_request routing_decision finalize_approval] + branches).sort
      assert_equal expected, names(ruby), "amount #{amount}"
      assert_equal({ "amount" => amount, "requester" => "ann" }, step(ruby, "validate_request")["result"])
      assert_equal({ "branches" => branches, "amount" => amount }, step(ruby, "routing_decision")["result"])
      assert_equal({ "approved_by" => approved_by }, step(ruby, "finalize_approval")["result"])
      assert_equal shape(rust), shape(ruby), "amount #{amount}: differs from its Rust twin"
    end
  end

  def test_a_batchable_step_fans_out_and_the_convergence_adds_up_exactly_what_ran
    ruby, rust = E2E.run_twins("batch_processing", "csv_inventory", { rows: 10, batch_size: 3 })
    assert_equal "complete", ruby["state"], JSON.pretty_generate(ruby)
    ranges = [0...3, 3...6, 6...9, 9...10]
    assert_equal %w[aggregate analyze process_batch_001 process_batch_002 process_batch_003 process_batch_004],
                 names(ruby)
    assert_equal({ "batches" => ranges.map { |r| { "start" => r.begin, "end" => r.end } } },
                 step(ruby, "analyze")["result"])
    ranges.each.with_index(1) do |rows, i|
      assert_equal({ "processed" => rows.size, "value_cents" => inventory_cents(rows) },
                   step(ruby, format("process_batch_%03d", i))["result"])
    end
    cents = inventory_cents(0...10)
    assert_equal({ "total_processed" => 10, "workers" => 4,
                   "inventory_value" => format("%d.%02d", cents / 100, cents % 100) },
                 step(ruby, "aggregate")["result"])
    assert_equal shape(rust), shape(ruby)

    # No rows: no batches, no workers; the convergence step still runs.
    ruby, rust = E2E.run_twins("batch_processing", "csv_inventory", { rows: 0, batch_size: 3 })
    assert_equal ["complete", %w[aggregate analyze]], [ruby["state"], names(ruby)]
    assert_equal({ "total_processed" => 0, "workers" => 0, "inventory_value" => "0.00" },
                 step(ruby, "aggregate")["result"])
    assert_equal shape(rust), shape(ruby)
  end

  def test_a_batch_worker_resumes_from_its_checkpoint_after_a_failure
    ruby, rust = E2E.run_twins("batch_processing", "checkpoint_resume", { items: 100, fail_at: 50, every: 25 })
    assert_equal "complete", ruby["state"], JSON.pretty_generate(ruby)
    assert_equal %w[plan process_items_001], names(ruby)
    assert_equal [2, { "resumed_from" => 50, "processed" => 100 }, { "next" => 100 }],
                 step(ruby, "process_items_001").values_at("attempts", "result", "checkpoint")
    assert_equal shape(rust), shape(ruby)
  end

  def test_a_diamond_joins_into_a_decision_that_picks_one_batch_path
    cases = [
      [[1, 2, 3, 4, 6], "even", 2, 12],
      [[1, 3, 4], "odd", 1, 4]
    ]
    cases.each do |numbers, path, instances, total|
      ruby, rust = E2E.run_twins("combined", "diamond_decision_batch", { numbers: numbers })
      assert_equal "complete", ruby["state"], JSON.pretty_generate(ruby)
      expected = %w[start count_evens count_odds choose_path] + ["#{path}_path", "#{path}_total"] +
                 (1..instances).map { |i| format("%s_batch_%03d", path, i) }
      assert_equal expected.sort, names(ruby), "numbers #{numbers}: only the #{path} path is created"
      assert_equal({ "branches" => ["#{path}_path"] }, step(ruby, "choose_path")["result"])
      assert_equal({ "path" => path, "batches" => instances, "total" => total }, step(ruby, "#{path}_total")["result"])
      assert_equal shape(rust), shape(ruby)
    end
  end

  def test_any_ruby_exception_is_a_retryable_step_error
    task = api.wait_terminal(api.create("rb_e2e", "crash"))
    s = step(task, "crash_step")
    assert_equal ["error", "error", 2], [task["state"], s["state"], s["attempts"]]
    assert_equal ["KeyError", true], s["error"].values_at("error_class", "retryable")
    assert_match(/no_such_key/, s["error"]["message"])
    assert_match(/e2e_test\.rb:\d+/, s["error"]["backtrace"].first)
  end

  def test_a_handler_that_outlives_the_step_timeout_fails_the_step
    task = api.wait_terminal(api.create("rb_e2e", "hang"))
    s = step(task, "hang_step")
    assert_equal ["error", "error", 1], [task["state"], s["state"], s["attempts"]]
    assert_equal ["Timeout", true], s["error"].values_at("error_class", "retryable")
    assert_nil s["result"]
  end

  # An operator cancels the task while its Ruby handler runs: the handler sees `ctx.cancelled?` (at the
  # worker's next lease heartbeat) and the step's late result is not recorded.
  def test_a_running_handler_sees_ctx_cancelled
    seen = Queue.new
    started = Queue.new
    wait = lambda do |ctx|
      started << true
      deadline = Time.now + 20
      sleep 0.05 until ctx.cancelled? || Time.now > deadline
      seen << ctx.cancelled?
      { waited: true }
    end
    worker = Tasker::Worker.new(database_url: E2E.db.url, template_path: E2E.template_dir, concurrency: 2,
                                namespaces: ["operator_tests"])
    worker.register("operator_tests.wait", wait)
    worker.register("operator_tests.gate") { |_ctx| { opened: true } }
    worker.register("operator_tests.pass") { |_ctx| {} }
    worker.start
    begin
      id = api.create("operator_tests", "waiting")
      Timeout.timeout(20) { started.pop }
      status, body = api.post("/v1/tasks/#{id}/cancel", { reason: "from ruby" })
      assert_equal 200, status, body
      assert_equal true, Timeout.timeout(15) { seen.pop }
      task = api.task(id)
      assert_equal ["cancelled", "from ruby"], [task["state"], step(task, "waiting_step")["reason"]]
      assert_nil step(task, "waiting_step")["result"]
    ensure
      worker.stop
    end
  end

  # A Ruby handler checkpoints every 25 items and fails at item 50 on its first attempt; the retry resumes.
  def test_a_retry_resumes_from_the_checkpoint
    template = { namespace: "ckpt_rb", name: "resume", version: "1.0.0",
                 steps: [{ name: "work", handler: "ckpt_rb.work", retry: { max_attempts: 2, base_ms: 10, max_ms: 10 } }] }
    dir = Dir.mktmpdir("tasker-rb-ckpt")
    File.write(File.join(dir, "resume.yaml"), JSON.generate(template))
    status, body = api.post("/v1/templates", template)
    assert_includes [200, 201], status, body
    worker = Tasker::Worker.new(database_url: E2E.db.url, template_path: dir, concurrency: 1)
    worker.register("ckpt_rb.work") do |ctx|
      resumed_from = (ctx.checkpoint || {}).fetch("done", 0)
      ((resumed_from + 1)..100).each do |item|
        ctx.save_checkpoint({ done: item }) if (item % 25).zero?
        raise Tasker::RetryableError, "failed at item 50" if item == 50 && ctx.attempt == 1
      end
      { resumed_from: resumed_from, processed: 100 }
    end
    worker.start
    begin
      task = api.wait_terminal(api.create("ckpt_rb", "resume"))
      work = step(task, "work")
      assert_equal ["complete", 2, { "resumed_from" => 50, "processed" => 100 }, { "done" => 100 }],
                   [task["state"], work["attempts"], work["result"], work["checkpoint"]]
    ensure
      worker.stop
      FileUtils.rm_rf(dir)
    end
    assert_raises(Tasker::CheckpointError) { Tasker::StepContext.new.save_checkpoint({ done: 1 }) }
  end

  # Each step failure is a warning on Tasker.logger with the task, step, attempt, error and what follows.
  def test_step_failures_are_logged_with_what_follows
    io = StringIO.new
    previous = Tasker.logger
    Tasker.logger = Logger.new(io).tap { |l| l.formatter = Tasker::JsonLogFormatter.new }
    begin
      task = api.wait_terminal(api.create("rb_e2e", "crash"))
      assert_equal "error", task["state"]
      lines = []
      deadline = Time.now + 10
      until lines.size >= 2 || Time.now > deadline
        sleep 0.05
        lines = io.string.lines.map { |l| JSON.parse(l) }
                  .select { |l| l["message"] == "step failed" && l["task_uuid"] == task["task_uuid"] }
      end
      assert_equal [1, 2], lines.map { |l| l["attempt"] }, io.string
      assert(lines.all? { |l| l["level"] == "WARN" && l["step"] == "crash_step" && l["error"].include?("no_such_key") })
      assert_equal "retry 2 of 2 in 0.025-0.050 s", lines[0]["next"]
      assert_equal "no retry: attempt 2 was the last of 2", lines[1]["next"]
    ensure
      Tasker.logger = previous
    end
  end

  # A handler stuck past the grace period does not hold `stop`: its step is released, its thread killed.
  def test_stop_does_not_wait_for_a_stuck_handler
    started = Queue.new
    stuck = lambda do |ctx|
      started << ctx.step_name
      sleep 3600
    end
    worker = Tasker::Worker.new(database_url: E2E.db.url, template_path: E2E.template_dir, concurrency: 1)
    worker.register("rb_e2e_stop.slow", stuck).start
    id = api.create("rb_e2e_stop", "slow_pair", { sleep_ms: 1 })
    assert_equal "first", Timeout.timeout(20) { started.pop }
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    worker.stop
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    assert_operator elapsed, :<, 4.5, "grace is 2 s, the join 1 s more"
    assert(worker.instance_variable_get(:@threads).none?(&:alive?), "the stuck thread was killed")
    assert_equal "enqueued", step(api.task(id), "first")["state"], "the stuck step was released"
    api.post("/v1/tasks/#{id}/cancel", {})
  end

  # Stopping waits for the step in flight (its handler thread completes it during the grace period),
  # claims nothing more, joins the threads; the next worker carries on.
  def test_shutdown_finishes_the_step_in_flight_and_claims_nothing_more
    started = Queue.new
    slow = lambda do |ctx|
      started << ctx.step_name
      sleep ctx.task_context["sleep_ms"] / 1000.0
      { slept: ctx.step_name }
    end
    worker = Tasker::Worker.new(database_url: E2E.db.url, template_path: E2E.template_dir, concurrency: 2)
    worker.register("rb_e2e_stop.slow", slow).start
    assert_equal ["worker_rb_e2e_stop_queue"], worker.queues
    assert worker.running?

    id = api.create("rb_e2e_stop", "slow_pair", { sleep_ms: 600 })
    assert_equal "first", Timeout.timeout(20) { started.pop }
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    worker.stop
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    assert_operator elapsed, :<, 1.8, "stop waited past the step (grace is 2 s)"
    refute worker.running?
    assert(worker.instance_variable_get(:@threads).none?(&:alive?), "handler threads still alive")
    worker.stop # idempotent

    deadline = Time.now + 20
    task = api.task(id)
    until step(task, "first")["state"] == "complete" || Time.now > deadline
      sleep 0.05
      task = api.task(id)
    end
    assert_equal ["complete", 1, { "slept" => "first" }], step(task, "first").values_at("state", "attempts", "result")
    sleep 0.3
    assert_equal 0, step(api.task(id), "second")["attempts"], "a stopped worker claimed a step"

    successor = Tasker::Worker.new(database_url: E2E.db.url, template_path: E2E.template_dir, concurrency: 1)
    successor.register("rb_e2e_stop.slow", slow).start
    task = api.wait_terminal(id)
    successor.stop
    assert_equal "complete", task["state"]
    assert_equal({ "slept" => "second" }, step(task, "second")["result"])
  end

  # examples/worker.rb (Worker#run) serves until SIGTERM, then stops cleanly and exits 0.
  def test_the_example_worker_stops_on_sigterm
    env = TaskerTest.env(E2E.db.url).merge("TASKER_TEMPLATE_PATH" => E2E.template_dir, "RUST_LOG" => "info")
    reader, writer = IO.pipe
    pid = Process.spawn(env, RbConfig.ruby, "-I", File.join(TaskerTest::ROOT, "bindings/ruby/lib"),
                        File.join(TaskerTest::ROOT, "bindings/ruby/examples/worker.rb"),
                        chdir: TaskerTest::ROOT, in: File::NULL, %i[out err] => writer)
    writer.close
    output = +""
    Timeout.timeout(30) { output << reader.readpartial(4096) until output.include?("worker started") }
    Process.kill("TERM", pid)
    status = Timeout.timeout(10) { Process.wait2(pid).last }
    output << reader.read
    assert status.success?, "exit #{status.inspect}:\n#{output}"
    assert_match(/worker stopped/, output)
    assert_match(/tasker: stopped/, output)
  ensure
    reader&.close
    begin
      Process.kill("KILL", pid) if pid && !status
    rescue Errno::ESRCH
      nil
    end
  end
end
