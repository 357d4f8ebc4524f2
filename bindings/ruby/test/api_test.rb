# frozen_string_literal: true

require_relative "test_helper"

# The Ruby API without a database: contexts, outcomes, registration.
class StepContextTest < Minitest::Test
  EVENT = {
    "event_id" => 7, "handler" => "ns_rb.square", "task_uuid" => "01a2-task", "step_uuid" => "01a2-step",
    "step_name" => "linear_step_2", "attempt" => 2, "max_attempts" => 3,
    "task_context" => { "even_number" => 6, "nested" => { "k" => [1, 2] } },
    "dependency_results" => { "linear_step_1" => { "value" => "36" } }, "upstream_results" => { "root" => nil },
    "step_config" => { "mode" => "fast" }, "timeout_ms" => 1500
  }.freeze

  def test_accessors_expose_the_event
    ctx = Tasker::StepContext.from_event(EVENT)
    assert_equal({ "even_number" => 6, "nested" => { "k" => [1, 2] } }, ctx.task_context)
    assert_equal({ "value" => "36" }, ctx.dependency_result("linear_step_1"))
    assert_equal({ "value" => "36" }, ctx.dependency_result(:linear_step_1))
    error = assert_raises(Tasker::UnknownDependencyError) { ctx.dependency_result("nope") }
    assert_equal "step `nope` is not upstream of `linear_step_2`; the steps upstream are: linear_step_1, root", error.message
    assert_nil ctx.dependency_result(:root), "a null result of a step further upstream"
    assert_operator Tasker::UnknownDependencyError, :<, Tasker::PermanentError
    assert_equal({ "linear_step_1" => { "value" => "36" } }, ctx.dependency_results)
    assert_equal({ "mode" => "fast" }, ctx.step_config)
    assert_equal [2, 3], [ctx.attempt, ctx.max_attempts]
    assert_equal %w[linear_step_2 ns_rb.square 01a2-task 01a2-step],
                 [ctx.step_name, ctx.handler_name, ctx.task_uuid, ctx.step_uuid]
    assert_in_delta 1.5, ctx.timeout
    refute ctx.last_attempt?
  end

  def test_a_hand_built_context_has_string_keys_like_production
    ctx = Tasker::StepContext.new(task_context: { even_number: 2, list: [{ a: 1 }] },
                                  dependency_results: { step_a: { value: "4" } }, attempt: 3, max_attempts: 3)
    assert_equal({ "even_number" => 2, "list" => [{ "a" => 1 }] }, ctx.task_context)
    assert_equal({ "value" => "4" }, ctx.dependency_result(:step_a))
    assert_equal({}, ctx.step_config)
    assert ctx.last_attempt?
  end

  def test_a_batch_worker_reads_its_item_and_a_convergence_its_batches_in_order
    assert_nil Tasker::StepContext.from_event(EVENT).batch
    ctx = Tasker::StepContext.from_event(EVENT.merge("batch" => { "start" => 3, "end" => 6, "index" => 2 }))
    assert_equal({ "start" => 3, "end" => 6, "index" => 2 }, ctx.batch)
    assert_equal({ "values" => [1] }, Tasker::StepContext.new(batch: { values: [1] }).batch)

    results = { "w_002" => "two", "w_010" => "ten", "w_1000" => "thousand", "w_001" => "one",
                "w" => "worker itself", "w_x" => "not an index", "wide_003" => "another step", "other" => "static" }
    converge = Tasker::StepContext.from_event(EVENT.merge("dependency_results" => results))
    assert_equal %w[one two ten thousand], converge.batch_results("w")
    assert_equal %w[one two ten thousand], converge.batch_results(:w)
    assert_empty converge.batch_results("absent")
  end
end

class OutcomeTest < Minitest::Test
  class Square < Tasker::StepHandler
    def call(ctx)
      n = ctx.task_context.fetch("n")
      success(value: (n * n).to_s)
    end
  end

  def run_outcome(handler, context = {})
    JSON.parse(Tasker::Outcome.run(handler, Tasker::StepContext.new(task_context: context)))
  end

  def test_success_with_keywords_a_value_or_a_plain_return
    assert_equal({ "success" => true, "result" => { "value" => "16" } },
                 run_outcome(->(ctx) { Square.new.call(ctx) }, n: 4))
    assert_equal({ "success" => true, "result" => [1, "two"] },
                 run_outcome(->(_) { Tasker.success([1, "two"]) }))
    assert_equal({ "success" => true, "result" => { "plain" => true } }, run_outcome(->(_) { { plain: true } }))
    assert_equal({ "success" => true, "result" => nil }, run_outcome(->(_) { Tasker.success }))
    assert_raises(ArgumentError) { Tasker.success({ "a" => 1 }, b: 2) }
  end

  def test_decision_and_batches_are_the_step_result_exactly
    assert_equal({ "branches" => ["a"], "why" => "x" }, Tasker.decision(["a"], why: "x"))
    assert_equal({ "branches" => [] }, Tasker.decision([]))
    assert_raises(ArgumentError) { Tasker.decision("a") }
    assert_raises(ArgumentError) { Tasker.decision(["a"], branches: ["b"]) }
    assert_equal({ "batches" => [{ "start" => 0, "end" => 3 }] }, Tasker.batches([{ start: 0, end: 3 }]))

    decide = Class.new(Tasker::StepHandler) do
      def call(ctx) = decision(%w[left right], n: ctx.task_context["n"])
    end
    fan = Class.new(Tasker::StepHandler) do
      def call(ctx) = batches(Array.new(ctx.task_context["n"]) { |i| { i: i } })
    end
    assert_equal({ "success" => true, "result" => { "branches" => %w[left right], "n" => 3 } },
                 run_outcome(->(ctx) { decide.new.call(ctx) }, n: 3))
    assert_equal({ "success" => true, "result" => { "batches" => [{ "i" => 0 }, { "i" => 1 }] } },
                 run_outcome(->(ctx) { fan.new.call(ctx) }, n: 2))
  end

  def test_big_integers_stay_exact
    out = run_outcome(->(ctx) { Square.new.call(ctx) }, n: 2**64)
    assert_equal((2**128).to_s, out["result"]["value"])
    assert_equal 2**100, run_outcome(->(_) { 2**100 })["result"]
  end

  def test_retryable_error_with_retry_after_and_backtrace
    out = run_outcome(->(_) { raise Tasker::RetryableError.new("rate limited", retry_after: 2) })
    error = out.fetch("error")
    assert_equal false, out["success"]
    assert_equal ["rate limited", true, 2000, "Tasker::RetryableError"],
                 error.values_at("message", "retryable", "retry_after_ms", "error_class")
    assert_match(/api_test\.rb:\d+/, error["backtrace"].first)
  end

  def test_permanent_error_is_not_retryable
    error = run_outcome(->(_) { raise Tasker::PermanentError, "card declined" })["error"]
    assert_equal ["card declined", false, "Tasker::PermanentError"],
                 error.values_at("message", "retryable", "error_class")
    refute error.key?("retry_after_ms")
    refute_empty error["backtrace"]
  end

  def test_subclasses_keep_their_class_name
    declined = Class.new(Tasker::PermanentError)
    OutcomeTest.const_set(:CardDeclined, declined) unless OutcomeTest.const_defined?(:CardDeclined)
    error = run_outcome(->(_) { raise OutcomeTest::CardDeclined, "no" })["error"]
    assert_equal ["OutcomeTest::CardDeclined", false], error.values_at("error_class", "retryable")
  end

  def test_any_other_exception_is_retryable_with_class_message_and_backtrace
    error = run_outcome(->(ctx) { ctx.task_context.fetch("missing") })["error"]
    assert_equal ["KeyError", true], error.values_at("error_class", "retryable")
    assert_match(/missing/, error["message"])
    assert(error["backtrace"].any? { |line| line.include?("api_test.rb") }, error["backtrace"].inspect)

    error = run_outcome(->(_) { Tasker::StepHandler.new.call(nil) })["error"]
    assert_equal ["NotImplementedError", true], error.values_at("error_class", "retryable")
  end

  def test_a_result_that_is_not_json_becomes_an_error
    error = run_outcome(->(_) { { bad: Float::NAN } })["error"]
    assert_equal true, error["retryable"]
    assert_match(/GeneratorError/, error["error_class"])
  end

  def test_invalid_utf8_in_messages_is_replaced
    error = run_outcome(->(_) { raise "bad \xff bytes" })["error"]
    assert_equal "bad \uFFFD bytes", error["message"]
  end

  def test_retry_after_must_be_a_non_negative_number
    assert_raises(ArgumentError) { Tasker::RetryableError.new("x", retry_after: -1) }
    assert_raises(ArgumentError) { Tasker::RetryableError.new("x", retry_after: "2") }
    assert_in_delta 0.25, Tasker::RetryableError.new("x", retry_after: 0.25).retry_after
  end

  def test_error_hierarchy
    assert_operator Tasker::RetryableError, :<, Tasker::StepError
    assert_operator Tasker::PermanentError, :<, Tasker::StepError
    assert_operator Tasker::StepError, :<, Tasker::Error
    assert_operator Tasker::DuplicateHandlerError, :<, Tasker::ConfigurationError
    assert_operator Tasker::WorkerError, :<, Tasker::Error
    assert Tasker::StepError.new("x").retryable?
    refute Tasker::PermanentError.new("x").retryable?
  end
end

class RegistrationTest < Minitest::Test
  class Double < Tasker::StepHandler
    def call(ctx)
      @calls = (@calls || 0) + 1 # a new instance per step: always 1
      success(value: ctx.task_context["n"] * 2, calls: @calls)
    end
  end

  def setup
    @worker = Tasker::Worker.new(concurrency: 2)
  end

  def call(name, context = {})
    JSON.parse(Tasker::Outcome.run(@worker.handler(name), Tasker::StepContext.new(task_context: context)))
  end

  def test_classes_blocks_lambdas_and_callables
    callable = Object.new
    def callable.call(_ctx) = { from: "callable" }
    @worker.register("ns.class", Double)
           .register("ns.block") { |ctx| Tasker.success(n: ctx.task_context["n"] + 1) }
           .register(:"ns.lambda", ->(ctx) { { seen: ctx.attempt } })
           .register("ns.callable", callable)
    assert_equal %w[ns.class ns.block ns.lambda ns.callable], @worker.handler_names
    assert_equal({ "value" => 10, "calls" => 1 }, call("ns.class", n: 5)["result"])
    assert_equal({ "value" => 10, "calls" => 1 }, call("ns.class", n: 5)["result"])
    assert_equal({ "n" => 6 }, call("ns.block", n: 5)["result"])
    assert_equal({ "seen" => 1 }, call("ns.lambda")["result"])
    assert_equal({ "from" => "callable" }, call("ns.callable")["result"])
  end

  def test_duplicate_names_are_rejected
    @worker.register("ns.square", Double)
    error = assert_raises(Tasker::DuplicateHandlerError) { @worker.register("ns.square") { |_| 1 } }
    assert_match(/ns\.square/, error.message)
    assert_raises(Tasker::DuplicateHandlerError) { @worker.register(:"ns.square", Double) }
  end

  def test_invalid_registrations
    assert_raises(Tasker::ConfigurationError) { @worker.register("ns.none") }
    assert_raises(Tasker::ConfigurationError) { @worker.register("ns.both", Double) { |_| 1 } }
    assert_raises(Tasker::ConfigurationError) { @worker.register("ns.obj", Object.new) }
    assert_raises(Tasker::ConfigurationError) { @worker.register("ns.nocall", Class.new) }
    assert_raises(Tasker::ConfigurationError) { @worker.register("ns.noarg", -> { 1 }) }
    assert_raises(Tasker::ConfigurationError) { @worker.register("", Double) }
    assert_empty @worker.handler_names
  end

  def test_worker_options_are_checked
    assert_raises(ArgumentError) { Tasker::Worker.new(concurrency: 0) }
    assert_raises(Tasker::ConfigurationError) { Tasker::Worker.new.start }
  end

  def test_starting_without_a_served_template_raises_worker_error
    worker = Tasker::Worker.new(template_path: File.expand_path("../../../config/templates", __dir__))
    worker.register("nobody_uses.this", Double)
    error = assert_raises(Tasker::WorkerError) { worker.start }
    assert_match(/nobody_uses\.this/, error.message)
    refute worker.running?
    worker.stop # a worker that never started stops as a no-op
  end
end
