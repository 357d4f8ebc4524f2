# frozen_string_literal: true

require "fileutils"
require "json"
require "net/http"
require "open3"
require "securerandom"
require "socket"
require "timeout"
require "tmpdir"
require "uri"

module TaskerTest
  ROOT = File.expand_path("../../../..", __dir__)

  # A throwaway database on the server named by $DATABASE_URL (default: local PostgreSQL), created with
  # psql and dropped on `drop`.
  class ScratchDatabase
    attr_reader :url

    def initialize(prefix)
      @admin_url = ENV.fetch("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
      @name = "#{prefix}_#{Process.pid}_#{SecureRandom.hex(3)}"
      base = URI(@admin_url)
      base.path = "/#{@name}"
      @url = base.to_s
      psql("CREATE DATABASE #{@name}")
    end

    def drop
      psql("DROP DATABASE IF EXISTS #{@name} WITH (FORCE)")
    end

    private

    def psql(sql)
      out, status = Open3.capture2e("psql", @admin_url, "-v", "ON_ERROR_STOP=1", "-qc", sql)
      raise "psql failed (#{sql}): #{out}" unless status.success?
    rescue Errno::ENOENT
      raise "psql not found: install the PostgreSQL client (apt-get install postgresql-client)"
    end
  end

  # A port nobody listens on right now.
  def self.free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  # The directory of the built binaries: $TASKER_BIN_DIR, $CARGO_TARGET_DIR/debug, or target/debug.
  def self.bin_dir
    [ENV.fetch("TASKER_BIN_DIR", nil), ENV["CARGO_TARGET_DIR"] && File.join(ENV["CARGO_TARGET_DIR"], "debug"),
     File.join(ROOT, "target/debug")].compact.find { |d| File.executable?(File.join(d, "tasker-server")) } or
      raise "tasker-server not found: run `cargo build --workspace --all-targets` (or set TASKER_BIN_DIR)"
  end

  # The environment every Tasker process of a test cluster gets (this one's Ruby worker included).
  def self.env(database_url)
    {
      "DATABASE_URL" => database_url,
      "TASKER_ENV" => "test",
      "TASKER_CONFIG_DIR" => File.join(ROOT, "config/tasker"),
      "TASKER_TEMPLATE_PATH" => File.join(ROOT, "config/templates"),
      "TASKER__WORKER__POLL_INTERVAL_MS" => "200",
      "TASKER__ORCHESTRATION__POLL_INTERVAL_MS" => "200",
      "TASKER__DATABASE__MAX_CONNECTIONS" => "6",
      "RUST_LOG" => ENV.fetch("RUST_LOG", "warn"),
      "NO_COLOR" => "1"
    }
  end

  # A `tasker-server` or `tasker-worker` process, logging to a file; killed on `stop`.
  class Proc
    attr_reader :port, :log_path

    def initialize(binary, database_url, env = {})
      @port = TaskerTest.free_port
      @log_path = File.join(Dir.tmpdir, "tasker-rb-#{binary}-#{Process.pid}-#{@port}.log")
      full_env = TaskerTest.env(database_url).merge(
        "TASKER_BIND" => "127.0.0.1:#{@port}", "TASKER_WORKER_BIND" => "127.0.0.1:#{@port}"
      ).merge(env)
      @pid = Process.spawn(full_env, File.join(TaskerTest.bin_dir, binary),
                           chdir: ROOT, in: File::NULL, %i[out err] => [@log_path, "w"])
    end

    # Wait until GET /health/live answers.
    def wait_live(seconds = 30)
      deadline = Time.now + seconds
      loop do
        raise "#{File.basename(@log_path)} exited:\n#{log_tail}" if Process.wait(@pid, Process::WNOHANG)

        begin
          return self if Net::HTTP.get_response(URI("http://127.0.0.1:#{@port}/health/live")).code == "200"
        rescue SystemCallError
          nil
        end
        raise "not live after #{seconds} s:\n#{log_tail}" if Time.now > deadline

        sleep 0.1
      end
    end

    def log_tail(lines = 30)
      File.exist?(@log_path) ? File.readlines(@log_path).last(lines).join : "(no log)"
    end

    def stop
      Process.kill("TERM", @pid)
      Process.wait(@pid)
      File.delete(@log_path) if File.exist?(@log_path)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
  end

  # A minimal JSON client of the REST API.
  class Api
    def initialize(port)
      @http = Net::HTTP.new("127.0.0.1", port)
      @http.start
      @lock = Mutex.new
    end

    def create(namespace, name, context = {})
      status, body = request(Net::HTTP::Post.new("/v1/tasks"), namespace: namespace, name: name, context: context)
      raise "POST /v1/tasks #{namespace}/#{name} -> #{status}: #{body}" unless status == 201

      body.fetch("task_uuid")
    end

    def task(uuid)
      status, body = request(Net::HTTP::Get.new("/v1/tasks/#{uuid}"))
      raise "GET /v1/tasks/#{uuid} -> #{status}: #{body}" unless status == 200

      body
    end

    # POST `body` to `path`; returns [status, parsed body].
    def post(path, body = {})
      request(Net::HTTP::Post.new(path), body)
    end

    TERMINAL = %w[complete error cancelled resolved_manually].freeze

    # Poll until the task is terminal; returns it.
    def wait_terminal(uuid, seconds = 60, poll: 0.05)
      deadline = Time.now + seconds
      loop do
        task = task(uuid)
        return task if TERMINAL.include?(task["state"])
        raise "task #{uuid} not terminal after #{seconds} s: #{JSON.pretty_generate(task)}" if Time.now > deadline

        sleep poll
      end
    end

    def close
      @http.finish if @http.started?
    end

    private

    def request(req, body = nil)
      req["content-type"] = "application/json"
      req.body = JSON.generate(body) if body
      res = @lock.synchronize { @http.request(req) }
      [res.code.to_i, res.body && !res.body.empty? ? JSON.parse(res.body) : nil]
    end
  end

  # The step named `name` of a task.
  def self.step(task, name)
    task.fetch("steps").find { |s| s["name"] == name } or raise "no step #{name} in #{task['steps'].map { |s| s['name'] }}"
  end
end
