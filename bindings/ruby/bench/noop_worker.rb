# frozen_string_literal: true

# A Ruby worker with one no-op handler (`bench_rb.noop`, the twin of the Rust `bench.noop`), started by
# bridge.rb. Runs until SIGTERM.
require "tasker"

# The library's default unless TASKER_CONCURRENCY says otherwise: the bench measures the defaults.
concurrency = Integer(ENV.fetch("TASKER_CONCURRENCY", Tasker::Worker::DEFAULT_CONCURRENCY.to_s))
worker = Tasker::Worker.new(concurrency: concurrency,
                            bind: ENV.fetch("TASKER_WORKER_BIND", nil)) # /health, /metrics
worker.register("bench_rb.noop") { |_ctx| { ok: true } }
worker.run
