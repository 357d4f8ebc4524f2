# frozen_string_literal: true

# Tasker step handlers in Ruby.
#
#   require "tasker"
#
#   class SquareHandler < Tasker::StepHandler
#     def call(ctx)
#       n = ctx.task_context.fetch("even_number")
#       success(value: (n * n).to_s)
#     end
#   end
#
#   worker = Tasker::Worker.new(database_url: ENV["DATABASE_URL"], template_path: "config/templates")
#   worker.register("linear_workflow_rb.square", SquareHandler)
#   worker.run # until SIGINT/SIGTERM
#
# The Rust worker foundation runs inside this process (the native extension `tasker_rb`): it claims steps,
# keeps their leases, enforces timeouts and persists results. Ruby only runs handlers.
# See docs/handlers/ruby.md.

require "json"

require_relative "tasker/version"
require_relative "tasker/errors"
require "tasker_rb" # the native extension (lib/tasker_rb.so, built by bindings/ruby/build.sh)
require_relative "tasker/step_context"
require_relative "tasker/step_handler"
require_relative "tasker/outcome"
require_relative "tasker/logging"
require_relative "tasker/client"
require_relative "tasker/worker"

