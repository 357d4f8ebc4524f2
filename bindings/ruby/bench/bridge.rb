# frozen_string_literal: true

# Measures the FFI bridge: a no-op Ruby handler against a no-op Rust handler, in the same run, on the
# same server and database.
#
#   cargo build --release --bin tasker-server --bin tasker-worker && bash bindings/ruby/build.sh --release
#   ruby -I bindings/ruby/lib bindings/ruby/bench/bridge.rb --release [--samples 40] [--tasks 300] [--json]
#
# Run from the repository root. A throwaway database is created on $DATABASE_URL's server and dropped.
# Processes: tasker-server; tasker-worker (Rust, serves `bench/linear_noop`); a Ruby worker process
# (noop_worker.rb, serves `bench_rb/linear_noop`), both with the same concurrency and one queue each (the
# template directory holds only the two bench templates), all on the built-in default configuration. Both templates are four
# no-op steps in a line. Per implementation, alternating Rust and Ruby in two rounds:
# - latency: one task at a time; per-step latency = (task completed_at - created_at) / 4;
# - throughput: `tasks` tasks submitted by 8 client threads; steps/s = 4 * tasks / (last completed_at -
#   first created_at). Timestamps are the server's (from the API), so polling adds no error;
# - handler time: the mean time the worker spent per step from starting the handler to its outcome
#   (`tasker_step_duration_seconds` from the worker's /metrics). For Rust that is the no-op call; for Ruby
#   it is the bridge: the event handed over, a Ruby thread woken, the handler run, the outcome back.

require "json"
require "optparse"
require "time"
require_relative "../test/support/cluster"

options = { samples: 40, tasks: 300, concurrency: 16, release: false, json: false }
OptionParser.new do |o|
  o.on("--samples N", Integer, "sequential tasks per latency measurement (default 40)") { |v| options[:samples] = v }
  o.on("--tasks N", Integer, "tasks per throughput measurement (default 300)") { |v| options[:tasks] = v }
  o.on("--concurrency N", Integer, "steps in flight per worker (default 16)") { |v| options[:concurrency] = v }
  o.on("--release", "use target/release binaries") { options[:release] = true }
  o.on("--json", "print one JSON object") { options[:json] = true }
end.parse!

ENV["TASKER_BIN_DIR"] ||= File.join(TaskerTest::ROOT, "target/release") if options[:release]
NAMESPACES = { "rust" => "bench", "ruby" => "bench_rb" }.freeze

def percentile(sorted, q) = sorted[((sorted.size - 1) * q).round]

# [sum in seconds, count] of a worker's tasker_step_duration_seconds.
def handler_totals(port)
  text = Net::HTTP.get(URI("http://127.0.0.1:#{port}/metrics"))
  %w[sum count].map { |k| text[/^tasker_step_duration_seconds_#{k}(?:\{[^}]*\})? (\S+)/, 1].to_f }
end

# Runs the block; returns its value and the worker's mean handler time (ms) meanwhile.
def with_handler_time(port)
  sum0, count0 = handler_totals(port)
  value = yield
  sleep 0.2 # the last outcomes' metrics
  sum1, count1 = handler_totals(port)
  [value, count1 > count0 ? (sum1 - sum0) / (count1 - count0) * 1000 : Float::NAN]
end

def latency(api, namespace, samples)
  per_step = Array.new(samples) do
    task = api.wait_terminal(api.create(namespace, "linear_noop"), 60, poll: 0.005)
    raise "#{namespace} task failed: #{task}" unless task["state"] == "complete"

    (Time.iso8601(task["completed_at"]) - Time.iso8601(task["created_at"])) * 1000.0 / 4
  end.sort
  { p50_ms: percentile(per_step, 0.5), p95_ms: percentile(per_step, 0.95), mean_ms: per_step.sum / per_step.size }
end

def throughput(api_port, namespace, tasks)
  queue = Queue.new
  tasks.times { queue << true }
  queue.close
  ids = Queue.new
  Array.new(8) do
    Thread.new do
      client = TaskerTest::Api.new(api_port)
      ids << client.create(namespace, "linear_noop") while queue.pop
      client.close
    end
  end.each(&:join)
  api = TaskerTest::Api.new(api_port)
  done = Array.new(ids.size) { api.wait_terminal(ids.pop, 300, poll: 0.02) }
  api.close
  raise "#{namespace}: not every task completed" unless done.all? { |t| t["state"] == "complete" }

  first = done.map { |t| Time.iso8601(t["created_at"]) }.min
  last = done.map { |t| Time.iso8601(t["completed_at"]) }.max
  { steps: tasks * 4, seconds: last - first, steps_per_sec: tasks * 4 / (last - first) }
end

# GET url until it answers (the worker installs its metrics recorder at the first scrape, so scraping
# before measuring matters too).
def wait_http(url, seconds = 30)
  deadline = Time.now + seconds
  begin
    Net::HTTP.get(URI(url))
  rescue SystemCallError
    raise if Time.now > deadline

    sleep 0.1
    retry
  end
end

db = TaskerTest::ScratchDatabase.new("tasker_rb_bench")
# The built-in defaults (an empty configuration directory), so that the binaries and the extension agree
# whatever config/tasker holds; TASKER_ENV=test is then only a name.
# Only the two bench templates, so that each worker reads exactly one queue.
config_dir = Dir.mktmpdir("tasker-rb-bench-config")
template_dir = Dir.mktmpdir("tasker-rb-bench-templates")
%w[examples/bench.yaml ruby/bench.yaml].each do |file|
  File.symlink(File.join(TaskerTest::ROOT, "config/templates", file), File.join(template_dir, file.tr("/", "_")))
end
env = { "RUST_LOG" => "warn", "TASKER__WORKER__MAX_CONCURRENCY" => options[:concurrency].to_s,
        "TASKER_CONFIG_DIR" => config_dir, "TASKER_TEMPLATE_PATH" => template_dir }
procs = []
ruby_pid = nil
begin
  server = TaskerTest::Proc.new("tasker-server", db.url, env).wait_live
  procs << server
  rust_worker = TaskerTest::Proc.new("tasker-worker", db.url, env).wait_live
  procs << rust_worker
  ports = { "rust" => rust_worker.port, "ruby" => TaskerTest.free_port }
  ruby_env = TaskerTest.env(db.url).merge(env).merge("TASKER_CONCURRENCY" => options[:concurrency].to_s,
                                                     "TASKER_WORKER_BIND" => "127.0.0.1:#{ports['ruby']}")
  ruby_pid = Process.spawn(ruby_env, RbConfig.ruby, "-I", File.join(TaskerTest::ROOT, "bindings/ruby/lib"),
                           File.join(__dir__, "noop_worker.rb"), chdir: TaskerTest::ROOT)
  ports.each_value { |port| wait_http("http://127.0.0.1:#{port}/metrics") }
  api = TaskerTest::Api.new(server.port)
  NAMESPACES.each_value { |ns| 5.times { api.wait_terminal(api.create(ns, "linear_noop"), 60) } } # warm up

  runs = Hash.new { |h, k| h[k] = { latency: [], throughput: [] } }
  [%w[rust ruby], %w[ruby rust]].each do |order|
    order.each do |impl|
      result, handler_ms = with_handler_time(ports[impl]) { latency(api, NAMESPACES[impl], options[:samples]) }
      runs[impl][:latency] << result.merge(handler_ms: handler_ms)
    end
    order.each do |impl|
      result, handler_ms = with_handler_time(ports[impl]) { throughput(server.port, NAMESPACES[impl], options[:tasks]) }
      runs[impl][:throughput] << result.merge(handler_ms: handler_ms)
    end
  end
  api.close

  avg = ->(list, key) { list.sum { |r| r[key] } / list.size }
  summary = runs.to_h do |impl, r|
    [impl, { step_p50_ms: avg.(r[:latency], :p50_ms), step_p95_ms: avg.(r[:latency], :p95_ms),
             step_mean_ms: avg.(r[:latency], :mean_ms), handler_ms_sequential: avg.(r[:latency], :handler_ms),
             steps_per_sec: avg.(r[:throughput], :steps_per_sec), handler_ms_burst: avg.(r[:throughput], :handler_ms),
             runs: r }]
  end
  rust, ruby = summary.values_at("rust", "ruby")
  overhead = {
    step_latency_p50_pct: (ruby[:step_p50_ms] / rust[:step_p50_ms] - 1) * 100,
    step_latency_mean_pct: (ruby[:step_mean_ms] / rust[:step_mean_ms] - 1) * 100,
    throughput_pct: (1 - ruby[:steps_per_sec] / rust[:steps_per_sec]) * 100
  }
  report = { build: options[:release] ? "release" : "debug", concurrency: options[:concurrency],
             samples: options[:samples], tasks: options[:tasks], rust: rust, ruby: ruby, overhead: overhead }
  if options[:json]
    puts JSON.generate(report)
  else
    puts format("%-5s %13s %13s %14s %16s %9s %14s", "", "step p50 ms", "step p95 ms", "step mean ms",
                "handler ms (seq)", "steps/s", "handler ms (burst)")
    { "Rust" => rust, "Ruby" => ruby }.each do |name, r|
      puts format("%-5s %13.2f %13.2f %14.2f %16.3f %9.0f %14.3f", name, r[:step_p50_ms], r[:step_p95_ms],
                  r[:step_mean_ms], r[:handler_ms_sequential], r[:steps_per_sec], r[:handler_ms_burst])
    end
    puts format("Ruby overhead: step latency p50 %+.1f%%, mean %+.1f%%; throughput %+.1f%% (%s build, " \
                "concurrency %d, %d sequential tasks and %d-task bursts per round, 2 rounds)",
                overhead[:step_latency_p50_pct], overhead[:step_latency_mean_pct], -overhead[:throughput_pct],
                report[:build], options[:concurrency], options[:samples], options[:tasks])
  end
ensure
  if ruby_pid
    Process.kill("TERM", ruby_pid)
    Process.wait(ruby_pid)
  end
  procs.reverse_each(&:stop)
  db.drop
  FileUtils.rm_rf([config_dir, template_dir])
end
