# frozen_string_literal: true

module Tasker
  # A successful step's result, as returned by `success`.
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
  end

  # `success` for blocks and lambdas (a plain return value works too).
  def self.success(result = nil, **fields)
    raise ArgumentError, "pass a result or keywords, not both" if !result.nil? && !fields.empty?

    StepResult.new(fields.empty? ? result : fields)
  end
end
