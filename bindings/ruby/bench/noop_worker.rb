# frozen_string_literal: true

# A Ruby worker with one no-op handler (`bench_rb.noop`, the twin of the Rust `bench.noop`), started by
# bridge.rb. Runs until SIGTERM.
require "tasker"

worker = Tasker::Worker.new(concurrency: Integer(ENV.fetch("TASKER_CONCURRENCY", "16")),
                            bind: ENV.fetch("TASKER_WORKER_BIND", nil)) # /health, /metrics
worker.register("bench_rb.noop") { |_ctx| { ok: true } }
worker.run
