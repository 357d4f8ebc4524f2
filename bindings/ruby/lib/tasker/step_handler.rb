# frozen_string_literal: true

module Tasker
  # A successful step's result, as returned by `success`. (`decision` and `batches` return the result Hash
  # itself, so a handler may add to it.)
  StepResult = Struct.new(:result)

  # Base class of step handlers: implement `call(ctx)` and return `success(...)` (or any JSON value), or
  # raise to fail the step (Tasker::RetryableError, Tasker::PermanentError, or any exception: retryable).
  #
  #   class SquareHandler < Tasker::StepHandler
  #     def call(ctx)
  #       n = ctx.task_context.fetch("even_number")
  #       success(value: (n * n).to_s)
  #     end
  #   end
  #
  # A registered class gets a new instance for every step, so instance variables are per step.
  class StepHandler
    def call(_ctx)
      raise NotImplementedError, "#{self.class} must implement #call(ctx)"
    end

    # The step's result: `success(value: 1)` or `success({"value" => 1})` (any JSON value).
    def success(result = nil, **fields)
      Tasker.success(result, **fields)
    end

    # A `decision` step's result: create and run these of its direct dependents (possibly none); the others
    # are never created. Keywords are stored alongside: `decision(["manager_approval"], amount: 2500)`.
    def decision(branches, **extra)
      Tasker.decision(branches, **extra)
    end

    # A `batchable` step's result: one instance of its batch worker per item (a Hash, e.g. a cursor range),
    # named `<worker>_001`, `<worker>_002`, ...; each instance reads its item as `ctx.batch`.
    def batches(items)
      Tasker.batches(items)
    end
  end

  # `success` for blocks and lambdas (a plain return value works too).
  def self.success(result = nil, **fields)
    raise ArgumentError, "pass a result or keywords, not both" if !result.nil? && !fields.empty?

    StepResult.new(fields.empty? ? result : fields)
  end

  # `decision` for blocks and lambdas: `{"branches" => [...], **extra}`, the step's result as stored.
  def self.decision(branches, **extra)
    unless branches.is_a?(Enumerable)
      raise ArgumentError, "branches must be a list of step names, got #{branches.inspect}"
    end

    extra = extra.transform_keys(&:to_s)
    raise ArgumentError, "pass the branches as the first argument, not as a keyword" if extra.key?("branches")

    { "branches" => branches.map(&:to_s) }.merge(extra)
  end

  # `batches` for blocks and lambdas: `{"batches" => [...]}`, the step's result as stored.
  def self.batches(items)
    { "batches" => items.map { |item| item.to_h.transform_keys(&:to_s) } }
  end
end
