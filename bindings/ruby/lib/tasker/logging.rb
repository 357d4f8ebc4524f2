# frozen_string_literal: true

require "logger"

module Tasker
  # The worker's log lines in a Ruby Logger (`Tasker.logger`): start and the queues served or skipped and why,
  # each step failure with its task, step, attempt, error and what follows, releases at shutdown, stop. The
  # native worker queues them; one thread per process hands them to the logger. By default the logger writes
  # to $stderr, plain text, or one JSON object per line with TASKER_LOG_FORMAT=json (`Tasker::JsonLogFormatter`).
  # Set `Tasker.logger = Rails.logger` (or any Logger) to route them elsewhere.
  module Logging
    LEVELS = { "ERROR" => Logger::ERROR, "WARN" => Logger::WARN, "INFO" => Logger::INFO,
               "DEBUG" => Logger::DEBUG, "TRACE" => Logger::DEBUG }.freeze

    # One line's message and fields; a plain formatter prints it as "message key=value …".
    Line = Struct.new(:message, :fields) do
      def to_s
        ([message] + fields.map { |k, v| "#{k}=#{v}" }).join(" ")
      end
    end

    @lock = Mutex.new
    @thread = nil

    class << self
      # Start forwarding the native log lines to `Tasker.logger` (once per process).
      def start
        @lock.synchronize do
          return if @thread

          Native.install_logging
          @thread = Thread.new do
            loop do
              line = Native.next_log(500)
              emit(line) if line
            end
          end
          @thread.name = "tasker-logs"
        end
      end

      # Log every queued line now (waiting at most `timeout_ms` for the first).
      def drain(timeout_ms = 0)
        line = Native.next_log(timeout_ms)
        while line
          emit(line)
          line = Native.next_log(0)
        end
      end

      # Log one native line (JSON).
      def emit(json)
        record = JSON.parse(json)
        logger = Tasker.logger
        message = record["message"].to_s
        fields = record["fields"] || {}
        logger.add(LEVELS.fetch(record["level"], Logger::INFO), Line.new(message, fields), "tasker")
      end
    end
  end

  # "2026-12-02T10:00:00Z WARN tasker: step failed task_uuid=… attempt=1 …"
  class PlainLogFormatter < Logger::Formatter
    def call(severity, time, progname, msg)
      "#{time.utc.strftime('%Y-%m-%dT%H:%M:%S.%LZ')} #{severity} #{progname || 'tasker'}: #{msg}\n"
    end
  end

  # One JSON object per line: ts, level, logger, message and the line's fields.
  class JsonLogFormatter < Logger::Formatter
    def call(severity, time, progname, msg)
      line = { "ts" => time.utc.strftime("%Y-%m-%dT%H:%M:%S.%LZ"), "level" => severity, "logger" => progname || "tasker" }
      if msg.is_a?(Logging::Line)
        line["message"] = msg.message
        line.merge!(msg.fields)
      else
        line["message"] = msg.is_a?(String) ? msg : msg.inspect
      end
      "#{JSON.generate(line)}\n"
    end
  end

  class << self
    # Where the worker's log lines go (a Logger); by default $stderr, JSON when TASKER_LOG_FORMAT=json.
    def logger
      @logger ||= Logger.new($stderr, progname: "tasker", level: Logger::INFO).tap do |l|
        l.formatter = ENV["TASKER_LOG_FORMAT"] == "json" ? JsonLogFormatter.new : PlainLogFormatter.new
      end
    end

    attr_writer :logger

    # Forward the worker's log lines to `Tasker.logger` (idempotent). `Worker#start` calls it.
    def init_logging
      Logging.start
    end
  end
end
