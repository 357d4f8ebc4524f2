# frozen_string_literal: true

module Tasker
  # What a handler sees of the step it runs. JSON objects are Hashes with String keys, exactly as stored.
  class StepContext
    # The task's input (Hash).
    attr_reader :task_context
    # Results of the steps this one depends on directly, by step name (Hash of step name => result).
    attr_reader :dependency_results
    # Results of the steps further upstream (ancestors that are not direct dependencies), by step name.
    attr_reader :upstream_results
    # The step's `config` from the template (Hash, empty when unset).
    attr_reader :step_config
    # This attempt's number (1 for the first run) and the attempts allowed in all.
    attr_reader :attempt, :max_attempts
    # Step name from the template, and the handler name it was routed by.
    attr_reader :step_name, :handler_name
    # Ids (UUID strings) of the task and the step.
    attr_reader :task_uuid, :step_uuid
    # Seconds the handler may run before the step fails with a timeout (Float), or nil.
    attr_reader :timeout
    # The last checkpoint an earlier attempt saved (parsed JSON), or nil.
    attr_reader :checkpoint
    # A batch worker instance's work item: its element of the batchable step's `batches` (a Hash), with its
    # 1-based "index"; nil for other steps.
    attr_reader :batch

    # A context built by hand, e.g. to unit-test a handler. The JSON fields go through JSON, so Symbol
    # keys become Strings as they would in production.
    def initialize(task_context: {}, dependency_results: {}, step_config: {}, attempt: 1, max_attempts: 1,
                   upstream_results: {}, step_name: "step", handler_name: nil, task_uuid: "00000000-0000-0000-0000-000000000000",
                   step_uuid: "00000000-0000-0000-0000-000000000000", timeout: nil, batch: nil)
      @task_context = JSON.parse(JSON.generate(task_context))
      @dependency_results = JSON.parse(JSON.generate(dependency_results))
      @upstream_results = JSON.parse(JSON.generate(upstream_results))
      @step_config = JSON.parse(JSON.generate(step_config))
      @batch = batch.nil? ? nil : JSON.parse(JSON.generate(batch))
      @attempt = attempt
      @max_attempts = max_attempts
      @step_name = step_name
      @handler_name = handler_name
      @task_uuid = task_uuid
      @step_uuid = step_uuid
      @timeout = timeout
    end

    # The context of a step event from the native worker (a parsed JSON object); `cancel_check` (a callable)
    # answers `cancelled?`.
    def self.from_event(event, cancel_check = nil, checkpoint_saver = nil)
      ctx = allocate
      ctx.send(:load_event, event)
      ctx.instance_variable_set(:@cancel_check, cancel_check)
      ctx.instance_variable_set(:@checkpoint_saver, checkpoint_saver)
      ctx
    end

    # Durably store `data` (JSON) as this step's checkpoint while this worker's claim holds, and renew the
    # lease; returns once stored. The next attempt reads it as `checkpoint`. A lost claim raises
    # Tasker::CheckpointError.
    def save_checkpoint(data)
      raise CheckpointError, "this context has no worker to save checkpoints" unless @checkpoint_saver

      @checkpoint_saver.call(data)
      nil
    end

    # True once the step is no longer this worker's to finish: its task was cancelled by an operator, or its
    # claim was lost. Seen at the worker's next lease heartbeat; a long handler can check it between units of
    # work and return early (its outcome is then rejected: the step is no longer this worker's).
    def cancelled?
      @cancel_check ? @cancel_check.call : false
    end

    # The result of step `step_name` (a String or Symbol), which must be upstream of this one: a direct
    # dependency or any step above it. A null result is nil. Any other name raises
    # Tasker::UnknownDependencyError (a PermanentError), naming the steps that are upstream.
    def dependency_result(step_name)
      name = step_name.to_s
      return @dependency_results[name] if @dependency_results.key?(name)
      return @upstream_results[name] if @upstream_results.key?(name)

      upstream = (@dependency_results.keys + @upstream_results.keys).uniq.sort
      raise UnknownDependencyError,
            "step `#{name}` is not upstream of `#{@step_name}`; the steps upstream are: " \
            "#{upstream.empty? ? 'none' : upstream.join(', ')}"
    end

    # The results of the instances of batch worker step `worker` (a String or Symbol) among this step's
    # dependencies (a convergence step's view of a fan-out), in index order: `process_batch_001`,
    # `process_batch_002`, ... Empty when the batchable step asked for no batches.
    def batch_results(worker)
      prefix = "#{worker}_"
      @dependency_results.filter_map do |name, result|
        digits = name.delete_prefix(prefix)
        [digits.to_i, result] if name.start_with?(prefix) && digits.match?(/\A[0-9]+\z/)
      end.sort_by(&:first).map(&:last)
    end

    # Whether this is the last attempt allowed.
    def last_attempt?
      @attempt >= @max_attempts
    end

    def to_h
      {
        task_uuid: @task_uuid, step_uuid: @step_uuid, step_name: @step_name, handler_name: @handler_name,
        attempt: @attempt, max_attempts: @max_attempts, task_context: @task_context,
        dependency_results: @dependency_results, upstream_results: @upstream_results, step_config: @step_config,
        timeout: @timeout, batch: @batch
      }
    end

    def inspect
      "#<#{self.class} #{@handler_name || @step_name} step=#{@step_name} attempt=#{@attempt}/#{@max_attempts} " \
        "task=#{@task_uuid}>"
    end

    private

    def load_event(event)
      @task_context = event["task_context"]
      @dependency_results = event["dependency_results"] || {}
      @upstream_results = event["upstream_results"] || {}
      @checkpoint = event["checkpoint"]
      @batch = event["batch"]
      @step_config = event["step_config"] || {}
      @attempt = event["attempt"]
      @max_attempts = event["max_attempts"]
      @step_name = event["step_name"]
      @handler_name = event["handler"]
      @task_uuid = event["task_uuid"]
      @step_uuid = event["step_uuid"]
      @timeout = event["timeout_ms"] && event["timeout_ms"] / 1000.0
    end
  end
end
