# frozen_string_literal: true

module Tasker
  # Base class of every error this gem raises.
  class Error < StandardError; end

  # The native worker could not start or failed: database unreachable, no template served by the
  # registered handlers, an invalid option. Raised by `Worker#start`, `#run` and `#stop`.
  class WorkerError < Error; end

  # A handler registration is invalid. Raised by `Worker#register`.
  class ConfigurationError < Error; end

  # Two handlers were registered under one name.
  class DuplicateHandlerError < ConfigurationError; end

  # Raised by a handler to fail its step and say what happens next. Raising it directly is the same as
  # raising a RetryableError; any other exception is retryable too, with its class, message and backtrace.
  class StepError < Error
    # Seconds to wait at least before the retry (overrides the template's backoff), or nil.
    attr_reader :retry_after

    def initialize(message = nil, retry_after: nil)
      super(message)
      unless retry_after.nil? || (retry_after.is_a?(Numeric) && retry_after >= 0)
        raise ArgumentError, "retry_after must be a non-negative number of seconds, got #{retry_after.inspect}"
      end

      @retry_after = retry_after
    end

    # Whether the step runs again (while attempts remain).
    def retryable?
      true
    end
  end

  # The step fails for now and is retried with backoff while attempts remain:
  #   raise Tasker::RetryableError.new("rate limited", retry_after: 2)
  class RetryableError < StepError; end

  # The step fails for good; no retry:
  #   raise Tasker::PermanentError, "card declined"
  class PermanentError < StepError
    def initialize(message = nil)
      super(message)
    end

    def retryable?
      false
    end
  end

  # A handler read the result of a step that is not upstream of its own (a typo, or a step of another
  # branch): permanent unless the handler rescues it; the message names the steps that are upstream.
  class UnknownDependencyError < PermanentError; end

  # A checkpoint could not be saved: the step's claim was lost (cancelled, or taken by another worker after
  # this one's lease expired). Unrescued, it fails the attempt; its outcome is rejected anyway.
  class CheckpointError < PermanentError; end

  # A checkpoint could not be saved because the database could not be reached (the claim may well still hold).
  # Unrescued, it fails the attempt as a retryable error.
  class CheckpointUnavailableError < RetryableError; end
end
