# frozen_string_literal: true

# Ruby handlers for the example catalog (templates in config/templates/ruby/, namespaces suffixed `_rb`).
# Same step names and exactly the same results as the Rust handlers in tasker-worker-rust.
# `TaskerExamples.register_all(worker)` registers them; examples/worker.rb runs them. The dynamic workflow
# examples (decisions, batches, convergence) are in dynamic_handlers.rb.

require "bigdecimal"
require "tasker"
require_relative "dynamic_handlers"

module TaskerExamples
  # value = (product of the dependencies' values, or the task's even_number for a root step)^2, as a
  # decimal string: Ruby Integers are exact at any size, so n^64 stays exact.
  class SquareHandler < Tasker::StepHandler
    def call(ctx)
      product =
        if ctx.dependency_results.empty?
          n = ctx.task_context["even_number"]
          raise Tasker::PermanentError, "context field `even_number` must be an integer" unless n.is_a?(Integer)

          n
        else
          ctx.dependency_results.reduce(1) { |acc, (step, result)| acc * value_of(step, result) }
        end
      success(value: (product * product).to_s)
    end

    private

    def value_of(step, result)
      raw = result.is_a?(Hash) ? result["value"] : nil
      raise Tasker::PermanentError, "dependency `#{step}` has no `value`" if raw.nil?

      Integer(raw.to_s, 10)
    rescue ArgumentError
      raise Tasker::PermanentError, "dependency `#{step}` value `#{raw}` is not an integer"
    end
  end

  # Order fulfillment: validate → reserve → charge → ship. Money is exact (BigDecimal).
  module Order
    # The task's items, checked.
    def self.items(ctx)
      items = ctx.task_context["items"]
      raise Tasker::PermanentError, "order has no items" unless items.is_a?(Array) && !items.empty?

      items
    end

    # A dependency's result, which must be there.
    def self.dependency(ctx, step)
      ctx.dependency_result(step) or raise Tasker::PermanentError, "missing result of `#{step}`"
    end

    # "209.97", "210" (no trailing zeros, like Rust's Decimal::normalize).
    def self.decimal_string(amount)
      amount.to_s("F").sub(/\.0\z/, "")
    end

    # The task id without dashes, for reference numbers.
    def self.compact_id(ctx)
      ctx.task_uuid.delete("-")
    end

    # Checks the items and computes the exact order total (sum of price x quantity).
    class ValidateOrder < Tasker::StepHandler
      def call(ctx)
        items = Order.items(ctx)
        total = items.sum(BigDecimal("0")) do |item|
          quantity = item["quantity"]
          unless quantity.is_a?(Integer) && quantity >= 1
            raise Tasker::PermanentError, "item #{item['sku']} has quantity #{quantity}"
          end

          # A JSON number arrives as an Integer or a Float; its shortest decimal form is the exact
          # amount that was sent (29.99 -> "29.99").
          BigDecimal(item["price"].to_s) * quantity
        end
        success(
          validated: true,
          order_total: Order.decimal_string(total),
          item_count: items.sum { |i| i["quantity"] },
          customer_id: ctx.task_context.dig("customer", "id")
        )
      end
    end

    # Reserves stock for every item.
    class ReserveInventory < Tasker::StepHandler
      def call(ctx)
        reserved = Order.items(ctx).map { |i| { sku: i["sku"], quantity: i["quantity"] } }
        success(reservation_id: "RES-#{Order.compact_id(ctx)}", reserved_items: reserved)
      end
    end

    # Charges the validated total.
    class ProcessPayment < Tasker::StepHandler
      def call(ctx)
        total = Order.dependency(ctx, "validate_order")["order_total"]
        Order.dependency(ctx, "reserve_inventory")
        method = ctx.task_context.dig("payment", "method")
        success(
          payment_id: "PAY-#{Order.compact_id(ctx)}",
          amount_charged: total,
          payment_method: method.is_a?(String) ? method : "unknown",
          status: "captured"
        )
      end
    end

    # Creates the shipping label.
    class ShipOrder < Tasker::StepHandler
      def call(ctx)
        payment = Order.dependency(ctx, "process_payment")
        raise Tasker::PermanentError, "payment not captured" unless payment["status"] == "captured"

        method = ctx.task_context.dig("shipping", "method")
        success(
          shipping_status: "label_created",
          tracking_number: "TRK#{Order.compact_id(ctx)[0, 12].upcase}",
          shipping_method: method.is_a?(String) ? method : "standard"
        )
      end
    end
  end

  # Fails with a retryable error while attempt <= context fail_count, then succeeds.
  class FlakyHandler < Tasker::StepHandler
    def call(ctx)
      fail_count = ctx.task_context.fetch("fail_count", 0)
      if ctx.attempt <= fail_count
        raise Tasker::RetryableError, "flaky failure #{ctx.attempt} of #{fail_count}"
      end

      success(attempts_before_success: ctx.attempt - 1)
    end
  end

  # The Ruby step of polyglot/priced_order (queue `polyglot_rb`): 8% tax on the Python step's subtotal,
  # rounded half up to the cent; the Rust step writes the receipt.
  class PolyglotTax < Tasker::StepHandler
    def call(ctx)
      subtotal = ctx.dependency_result("subtotal").fetch("subtotal_cents")
      languages = ctx.dependency_result("subtotal").fetch("languages")
      success(subtotal_cents: subtotal, tax_cents: ((subtotal * 8) + 50) / 100, languages: languages + ["ruby"])
    end
  end

  # Every handler of the Ruby catalog, by registered name.
  def self.catalog
    {
      "linear_workflow_rb.square" => SquareHandler,
      "diamond_workflow_rb.square" => SquareHandler,
      "tree_workflow_rb.square" => SquareHandler,
      "mixed_dag_workflow_rb.square" => SquareHandler,
      "order_fulfillment_rb.validate_order" => Order::ValidateOrder,
      "order_fulfillment_rb.reserve_inventory" => Order::ReserveInventory,
      "order_fulfillment_rb.process_payment" => Order::ProcessPayment,
      "order_fulfillment_rb.ship_order" => Order::ShipOrder,
      "retry_workflow_rb.flaky" => FlakyHandler,
      "polyglot.tax" => PolyglotTax,
      # Lambdas work as handlers too. retry_after overrides the template's backoff.
      "retry_workflow_rb.always_failing" => lambda do |ctx|
        raise Tasker::RetryableError.new("attempt #{ctx.attempt} failed, as it always does", retry_after: 0.05)
      end
    }.merge(dynamic_catalog)
  end

  # Register the whole Ruby catalog on `worker`.
  def self.register_all(worker)
    catalog.each { |name, handler| worker.register(name, handler) }
    # And a block.
    worker.register("error_workflow_rb.permanent_failure") do |_ctx|
      raise Tasker::PermanentError, "this step can never succeed"
    end
  end
end
