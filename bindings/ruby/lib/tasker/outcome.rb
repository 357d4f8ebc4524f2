# frozen_string_literal: true

module Tasker
  # Turns what a handler returned or raised into the outcome JSON the native worker persists:
  # `{"success": true, "result": …}` or
  # `{"success": false, "error": {"message", "retryable", "retry_after_ms", "error_class", "backtrace"}}`.
  module Outcome
    # Backtraces longer than this are cut (a SystemStackError's has ~10,000 frames).
    MAX_BACKTRACE = 200

    module_function

    # Run `handler` (anything with `call(ctx)`) and return its outcome JSON. Every StandardError and
    # ScriptError (e.g. NotImplementedError) becomes a step error; signals and `exit` propagate.
    def run(handler, ctx)
      success(handler.call(ctx))
    rescue StandardError, ScriptError, SystemStackError, NoMemoryError => e
      failure(e)
    end

    # The outcome JSON of a success: a StepResult's result, or the value itself.
    def success(value)
      result = value.is_a?(StepResult) ? value.result : value
      JSON.generate({ "success" => true, "result" => result })
    rescue StandardError => e # not representable as JSON (NaN, invalid UTF-8, a failing to_json)
      failure(e)
    end

    # The outcome JSON of an exception.
    def failure(exception)
      error = {
        "message" => utf8(exception.message),
        "retryable" => exception.is_a?(StepError) ? exception.retryable? : true,
        "error_class" => exception.class.name || exception.class.inspect,
        "backtrace" => (exception.backtrace || []).first(MAX_BACKTRACE).map { |line| utf8(line) }
      }
      if exception.is_a?(StepError) && exception.retry_after
        error["retry_after_ms"] = retry_after_ms(exception.retry_after)
      end
      JSON.generate({ "success" => false, "error" => error })
    end

    # The largest delay an outcome can carry (an unsigned 64-bit count of milliseconds); the engine waits a year
    # at most.
    MAX_RETRY_AFTER_MS = (2**64) - 1

    # `retry_after` seconds (a non-negative Numeric, StepError checks) as whole milliseconds, within range.
    def retry_after_ms(seconds)
      return MAX_RETRY_AFTER_MS if seconds.is_a?(Float) && seconds.infinite?

      [(seconds * 1000).ceil, MAX_RETRY_AFTER_MS].min
    end

    # The outcome JSON of an error built here rather than raised (no backtrace).
    def error(message, retryable:, error_class:)
      JSON.generate({ "success" => false,
                      "error" => { "message" => message, "retryable" => retryable, "error_class" => error_class } })
    end

    def utf8(text)
      text = text.to_s
      return text.scrub if text.encoding == Encoding::UTF_8

      text.encode(Encoding::UTF_8, invalid: :replace, undef: :replace)
    end
  end
end
