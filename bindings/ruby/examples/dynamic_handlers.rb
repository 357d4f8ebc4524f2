# frozen_string_literal: true

# Ruby handlers of the dynamic workflow examples (templates in config/templates/ruby/, namespaces suffixed `_rb`):
# decisions, batches and convergence steps, with exactly the results of the Rust handlers in
# tasker-worker-rust/src/handlers/{approval,batches,combined}.rs. handlers.rb merges `dynamic_catalog` into the
# catalog it registers.

require "tasker"

module TaskerExamples
  # Field `key` of the task's context, which must be an Integer.
  def self.context_integer(ctx, key)
    value = ctx.task_context[key]
    raise Tasker::PermanentError, "context field `#{key}` must be an integer" unless value.is_a?(Integer)

    value
  end

  # conditional_approval_rb/approval_routing: a decision routes a request by amount (< 1,000 auto; < 5,000 a
  # manager; otherwise a manager and finance); a convergence step lists who approved.
  module Approval
    # A non-negative `amount` and a non-blank `requester`.
    class ValidateRequest < Tasker::StepHandler
      def call(ctx)
        amount = TaskerExamples.context_integer(ctx, "amount")
        requester = ctx.task_context["requester"]
        if amount.negative? || !requester.is_a?(String) || requester.strip.empty?
          raise Tasker::PermanentError, "a request needs an amount >= 0 and a requester"
        end

        success(amount: amount, requester: requester)
      end
    end

    # The approvers an amount needs, as branch names.
    def self.route(amount)
      if amount < 1_000 then %w[auto_approve]
      elsif amount < 5_000 then %w[manager_approval]
      else %w[manager_approval finance_review]
      end
    end

    # The decision: which approval branches are created.
    class RoutingDecision < Tasker::StepHandler
      def call(ctx)
        amount = (ctx.dependency_result("validate_request") || {}).fetch("amount", 0)
        decision(Approval.route(amount), amount: amount)
      end
    end

    # One approver's approval (`auto`, `manager` or `finance`).
    def self.approver(name)
      ->(_ctx) { { approved: true, approver: name } }
    end

    # The convergence: every approver of the branches that were created, sorted.
    class FinalizeApproval < Tasker::StepHandler
      def call(ctx)
        approvers = ctx.dependency_results.values.filter_map { |r| r["approver"] if r.is_a?(Hash) }
        success(approved_by: approvers.grep(String).sort)
      end
    end
  end

  # batch_processing_rb/csv_inventory (a batch fan-out added up by a convergence step) and
  # batch_processing_rb/checkpoint_resume (a long batch that resumes from its checkpoint after a failure).
  module Batches
    # Row `i` of the generated inventory: quantity `i % 7 + 1`, unit price `100 + (37 i mod 900)` cents.
    def self.row_value_cents(i)
      ((i % 7) + 1) * (100 + ((37 * i) % 900))
    end

    # `cents` as an exact decimal string ("1234.05").
    def self.cents_to_decimal(cents)
      format("%<units>d.%<cents>02d", units: cents / 100, cents: cents % 100)
    end

    # A batch worker instance's cursor range `[start, end)`, as [start, end].
    def self.range(ctx)
      batch = ctx.batch or raise Tasker::PermanentError, "not a batch worker instance"
      %w[start end].map do |key|
        batch[key].is_a?(Integer) ? batch[key] : raise(Tasker::PermanentError, "batch has no `#{key}`")
      end
    end

    # The batchable step: `rows` in cursor ranges of `batch_size`.
    class Analyze < Tasker::StepHandler
      def call(ctx)
        rows = TaskerExamples.context_integer(ctx, "rows")
        size = TaskerExamples.context_integer(ctx, "batch_size")
        raise Tasker::PermanentError, "batch_size must be at least 1" if size < 1

        batches((0...rows).step(size).map { |start| { start: start, end: [start + size, rows].min } })
      end
    end

    # A batch worker: values the rows of its range.
    class ProcessBatch < Tasker::StepHandler
      def call(ctx)
        start, finish = Batches.range(ctx)
        success(processed: finish - start, value_cents: (start...finish).sum { |i| Batches.row_value_cents(i) })
      end
    end

    # The convergence: adds up the batches that ran (none when there were no rows).
    class Aggregate < Tasker::StepHandler
      def call(ctx)
        results = ctx.batch_results("process_batch")
        success(total_processed: results.sum { |r| r["processed"] }, workers: results.size,
                inventory_value: Batches.cents_to_decimal(results.sum { |r| r["value_cents"] }))
      end
    end

    # Works through its range from the last checkpoint, saving one every `every` items; on its first attempt
    # it fails (retryably) at item `fail_at`.
    class ProcessItems < Tasker::StepHandler
      def call(ctx)
        start, finish = Batches.range(ctx)
        every = TaskerExamples.context_integer(ctx, "every")
        fail_at = TaskerExamples.context_integer(ctx, "fail_at")
        resumed_from = (ctx.checkpoint || {}).fetch("next", start)
        (resumed_from...finish).each do |i|
          raise Tasker::RetryableError, "simulated failure at item #{i}" if ctx.attempt == 1 && i == fail_at

          ctx.save_checkpoint({ next: i + 1 }) if ((i + 1) % every).zero?
        end
        success(resumed_from: resumed_from, processed: finish - start)
      end
    end
  end

  # combined_rb/diamond_decision_batch: a diamond counts the even and odd numbers, its join decides the path
  # (evens win ties), and the chosen path fans its numbers out in pairs and adds them up.
  module Combined
    # The task's `numbers`; only the even (`parity` 0) or odd (1) ones when `parity` is given, in order.
    def self.numbers(ctx, parity = nil)
      numbers = ctx.task_context["numbers"]
      unless numbers.is_a?(Array) && numbers.all?(Integer)
        raise Tasker::PermanentError, "context field `numbers` must be a list of integers"
      end

      parity.nil? ? numbers : numbers.select { |n| n % 2 == parity }
    end

    # Counts the numbers of one parity under `key` (registered as an instance: shared by every thread).
    class CountParity < Tasker::StepHandler
      def initialize(parity, key)
        super()
        @parity = parity
        @key = key
      end

      def call(ctx)
        success({ @key => Combined.numbers(ctx, @parity).size })
      end
    end

    # A path's batchable step: its numbers in pairs (the last may be alone).
    class PathBatches < Tasker::StepHandler
      def initialize(parity)
        super()
        @parity = parity
      end

      def call(ctx)
        batches(Combined.numbers(ctx, @parity).each_slice(2).map { |pair| { values: pair } })
      end
    end

    # A path's convergence step: the total of the batches that ran.
    class PathTotal < Tasker::StepHandler
      def call(ctx)
        path = ctx.step_name.start_with?("even") ? "even" : "odd"
        sums = ctx.batch_results("#{path}_batch")
        success(path: path, batches: sums.size, total: sums.sum { |r| r["sum"] })
      end
    end
  end

  # Every handler of the dynamic examples, by registered name.
  def self.dynamic_catalog
    {
      "conditional_approval_rb.validate_request" => Approval::ValidateRequest,
      "conditional_approval_rb.routing_decision" => Approval::RoutingDecision,
      "conditional_approval_rb.auto_approve" => Approval.approver("auto"),
      "conditional_approval_rb.manager_approval" => Approval.approver("manager"),
      "conditional_approval_rb.finance_review" => Approval.approver("finance"),
      "conditional_approval_rb.finalize_approval" => Approval::FinalizeApproval,
      "batch_processing_rb.analyze" => Batches::Analyze,
      "batch_processing_rb.process_batch" => Batches::ProcessBatch,
      "batch_processing_rb.aggregate" => Batches::Aggregate,
      # Tasker.batches and Tasker.decision build the same results from lambdas and blocks.
      "batch_processing_rb.plan" => ->(ctx) { Tasker.batches([{ start: 0, end: context_integer(ctx, "items") }]) },
      "batch_processing_rb.process_items" => Batches::ProcessItems,
      "combined_rb.start" => ->(ctx) { { count: Combined.numbers(ctx).size } },
      "combined_rb.count_evens" => Combined::CountParity.new(0, "evens"),
      "combined_rb.count_odds" => Combined::CountParity.new(1, "odds"),
      "combined_rb.choose_path" => lambda do |ctx|
        evens = ctx.dependency_result("count_evens").fetch("evens")
        odds = ctx.dependency_result("count_odds").fetch("odds")
        Tasker.decision([evens >= odds ? "even_path" : "odd_path"])
      end,
      "combined_rb.even_path" => Combined::PathBatches.new(0),
      "combined_rb.odd_path" => Combined::PathBatches.new(1),
      "combined_rb.sum_batch" => lambda do |ctx|
        values = ctx.batch && ctx.batch["values"]
        raise Tasker::PermanentError, "no values" unless values.is_a?(Array)

        { sum: values.grep(Integer).sum }
      end,
      "combined_rb.path_total" => Combined::PathTotal
    }
  end
end
