# frozen_string_literal: true

# Serve the Ruby example catalog (config/templates/ruby/, namespaces suffixed `_rb`) until Ctrl-C.
#
#   bash bindings/ruby/build.sh                    # once: build the native extension
#   target/debug/tasker-server &                   # the REST API, on the same database
#   ruby -I bindings/ruby/lib bindings/ruby/examples/worker.rb
#   curl -s -XPOST localhost:8080/v1/tasks -H 'content-type: application/json' \
#     -d '{"namespace":"linear_workflow_rb","name":"mathematical_sequence","context":{"even_number":6}}'
#
# Run from the repository root (configuration in config/tasker, templates in config/templates).
# DATABASE_URL picks the database; TASKER_CONCURRENCY the number of handler threads (default 4);
# TASKER_WORKER_BIND, when set, the address of /health/* and /metrics.

require "tasker"
require_relative "handlers"

worker = Tasker::Worker.new(
  database_url: ENV.fetch("DATABASE_URL", nil),
  template_path: ENV.fetch("TASKER_TEMPLATE_PATH", "config/templates"),
  concurrency: Integer(ENV.fetch("TASKER_CONCURRENCY", "4")),
  bind: ENV.fetch("TASKER_WORKER_BIND", nil) # /health/* and /metrics (containers, probes); unset: no HTTP
)
TaskerExamples.register_all(worker)
warn "tasker: serving #{worker.handler_names.size} Ruby handlers; Ctrl-C to stop"
worker.run
warn "tasker: stopped"
