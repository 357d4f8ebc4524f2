# frozen_string_literal: true

require "json"
require "net/http"
require "uri"

module Tasker
  # The server refused a request (`status` 4xx/5xx with the API's `code`, `message` and `field`), or could not
  # be reached (`status` 0, `code` "unreachable").
  class ClientError < Error
    attr_reader :status, :code, :field

    def initialize(status, code, message, field = nil)
      super("#{status} #{code}: #{message}#{field ? " (field `#{field}`)" : ''}")
      @status = status
      @code = code
      @field = field
    end
  end

  # The task was not finished within the time given to `wait`; `task` is its latest state.
  class WaitTimeout < Error
    attr_reader :task

    def initialize(task, timeout)
      super("task #{task.task_uuid} is still `#{task.state}` after #{timeout} s")
      @task = task
    end
  end

  # A task as the server last described it.
  class Task
    TERMINAL_STATES = %w[complete error cancelled resolved_manually].freeze

    attr_reader :data

    def initialize(client, data)
      @client = client
      @data = data
    end

    def task_uuid = @data.fetch("task_uuid")
    def state = @data.fetch("state")
    def steps = @data.fetch("steps", [])
    def done? = TERMINAL_STATES.include?(state)

    # The result of step `name` (nil until it has one); a name the task lacks raises KeyError.
    def result(name) = step(name)["result"]

    # The last error of step `name` (Hash with "message", "retryable", "error_class", …), or nil.
    def error(name) = step(name)["error"]

    # Read the task again; returns self.
    def refresh
      @data = @client.task_data(task_uuid)
      self
    end

    # Block until the task is final (Tasker::WaitTimeout after `timeout` seconds); returns self, refreshed.
    def wait(timeout = nil)
      @data = @client.wait_data(task_uuid, timeout)
      self
    end

    def inspect = "#<Tasker::Task #{task_uuid} #{state}>"

    private

    def step(name)
      steps.find { |s| s["name"] == name.to_s } or
        raise KeyError, "task #{task_uuid} has no step `#{name}` (its steps: #{steps.map { |s| s['name'] }.join(', ')})"
    end
  end

  # Start tasks and follow them from application code; standard library only.
  #
  #   client = Tasker::Client.new(url: "http://127.0.0.1:8080")
  #   task = client.create("linear_workflow", "mathematical_sequence", { even_number: 6 }, wait: true, timeout: 30)
  #   task.state                    # => "complete"
  #   task.result("linear_step_4")  # => {"value" => "..."}
  #
  # `wait` follows the server's event stream for the task (Server-Sent Events), which ends with its final
  # transition, then reads the task once: no polling loop.
  class Client
    attr_reader :url

    # `api_key` is sent as X-API-Key when the server requires one.
    def initialize(url:, api_key: nil, request_timeout: 30)
      @url = url.to_s.chomp("/")
      @api_key = api_key
      @request_timeout = request_timeout
    end

    # Create a task; with `wait: true`, return it once final (Tasker::WaitTimeout after `timeout` s). Other
    # request fields (priority:, correlation_id:, tags:) pass through.
    def create(namespace, name, context, wait: false, timeout: nil, idempotency_key: nil, version: nil, **fields)
      body = { namespace: namespace, name: name, context: context }.merge(fields)
      body[:idempotency_key] = idempotency_key if idempotency_key
      body[:version] = version if version
      task = Task.new(self, request(Net::HTTP::Post, "/v1/tasks", body))
      wait ? task.wait(timeout) : task
    end

    # The task `task_uuid` (Tasker::ClientError 404 when there is none).
    def get(task_uuid) = Task.new(self, task_data(task_uuid))

    # (Used by Task.)
    def task_data(task_uuid)
      request(Net::HTTP::Get, "/v1/tasks/#{URI.encode_www_form_component(task_uuid)}")
    end

    # (Used by Task.) Follow the task's events until its final one, then read it.
    def wait_data(task_uuid, timeout)
      deadline = timeout && (monotonic + timeout)
      last_id = nil
      loop do
        data = task_data(task_uuid)
        return data if Task::TERMINAL_STATES.include?(data["state"])
        raise WaitTimeout.new(Task.new(self, data), timeout) if deadline && monotonic >= deadline

        last_id = follow(task_uuid, last_id, deadline)
      end
    rescue Net::ReadTimeout, Timeout::Error
      raise WaitTimeout.new(get(task_uuid), timeout)
    end

    private

    def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    def headers(accept = "application/json")
      h = { "accept" => accept, "content-type" => "application/json" }
      h["x-api-key"] = @api_key if @api_key
      h
    end

    def http(read_timeout)
      uri = URI(@url)
      Net::HTTP.new(uri.host, uri.port).tap do |h|
        h.use_ssl = uri.scheme == "https"
        h.open_timeout = @request_timeout
        h.read_timeout = read_timeout
      end
    end

    def request(klass, path, body = nil)
      req = klass.new(URI(@url + path), headers)
      req.body = JSON.generate(body) if body
      res = http(@request_timeout).start { |h| h.request(req) }
      raise api_error(res) unless res.is_a?(Net::HTTPSuccess)

      JSON.parse(res.body)
    rescue SystemCallError, SocketError, Net::OpenTimeout, IOError => e
      raise ClientError.new(0, "unreachable", "#{@url}: #{e.message}")
    end

    # Read the task's event stream until its final event or the stream's end; the last event id seen.
    def follow(task_uuid, last_id, deadline)
      req = Net::HTTP::Get.new(URI("#{@url}/v1/tasks/#{URI.encode_www_form_component(task_uuid)}/events"),
                               headers("text/event-stream"))
      req["last-event-id"] = last_id if last_id
      read_timeout = deadline ? [deadline - monotonic, 0.001].max : nil
      buffer = +""
      http(read_timeout).start do |h|
        h.request(req) do |res|
          raise api_error(res) unless res.is_a?(Net::HTTPSuccess)

          res.read_body do |chunk|
            buffer << chunk
            while (line = buffer.slice!(/\A[^\n]*\n/))
              line = line.chomp
              last_id = line[3..].strip if line.start_with?("id:")
              next unless line.start_with?("data:")

              event = JSON.parse(line[5..])
              return last_id if event["step_uuid"].nil? && Task::TERMINAL_STATES.include?(event["to_state"])
              raise Net::ReadTimeout if deadline && monotonic > deadline
            end
          end
        end
      end
      last_id
    end

    def api_error(res)
      error = (JSON.parse(res.body.to_s)["error"] rescue nil) || {} # rubocop:disable Style/RescueModifier
      ClientError.new(res.code.to_i, error["code"] || "http_error", error["message"] || res.body.to_s[0, 200],
                      error["field"])
    end
  end
end
