# frozen_string_literal: true

module Tasker
  # A worker process's handlers and the loop that serves them.
  #
  #   worker = Tasker::Worker.new(database_url: ENV["DATABASE_URL"], template_path: "config/templates")
  #   worker.register("linear_workflow_rb.square", SquareHandler)        # a StepHandler subclass
  #   worker.register("bench_rb.noop") { |ctx| { ok: true } }            # or a block / lambda / callable
  #   worker.run                                                          # blocks until SIGINT/SIGTERM
  #
  # or, embedded in an application: `worker.start` … `worker.stop`.
  #
  # The native worker (Rust) claims steps, keeps their leases, enforces timeouts and persists outcomes.
  # `concurrency` Ruby threads each wait for the next step event (with the GVL released), run its
  # handler and hand back the outcome. The worker serves a queue (a step's `queue`, or its namespace) only
  # when every step that any template routes there names a handler registered here.
  class Worker
    # How long one native wait lasts before the thread looks at the worker's state again (ms), and so how soon
    # a waiting thread sees Thread#raise. Stopping does not wait for it: the native worker wakes every waiting
    # thread once it has stopped.
    POLL_MS = 500

    # Handler threads, and so steps claimed and run at once, when `concurrency:` is not given. With fewer, a
    # worker of quick handlers spends its time waiting on claim and report round trips rather than running
    # steps: 16 ran 0.8 of the Rust worker's steps/s; 64 is the Rust worker's `worker.max_concurrency`
    # (docs/performance.md). Lower it for CPU-bound handlers (they hold the GVL).
    DEFAULT_CONCURRENCY = 64

    # How long `stop` waits for the handler threads after the native worker stopped (the grace period is
    # over by then, and unfinished steps were released).
    STOP_JOIN_SECONDS = 1

    attr_reader :concurrency

    # database_url:  PostgreSQL URL (default: the configuration's, or $DATABASE_URL)
    # template_path: directory of task templates (default: the configuration's, `config/templates`)
    # concurrency:   steps run at once (threads), default DEFAULT_CONCURRENCY (64)
    # queues:        serve exactly these queues (as templates name them: a step's `queue`, or its namespace)
    #                instead of deriving them from the templates; start fails (Tasker::WorkerError) if a step
    #                routed to one of them names a handler not registered here
    # namespaces:    the same as queues, under its older name
    # bind:          serve /health and /metrics on this address (e.g. "127.0.0.1:8082"); off by default
    # The rest of the configuration comes from config/tasker (TASKER_CONFIG_DIR, TASKER_ENV) and TASKER__*
    # environment variables, as for the Rust worker.
    def initialize(database_url: nil, template_path: nil, concurrency: DEFAULT_CONCURRENCY, queues: nil,
                   namespaces: nil, bind: nil)
      unless concurrency.is_a?(Integer) && concurrency.positive?
        raise ArgumentError, "concurrency must be a positive Integer, got #{concurrency.inspect}"
      end

      @database_url = database_url&.to_s
      @template_path = template_path&.to_s
      @served_queues = (queues || namespaces)&.map(&:to_s)
      @bind = bind&.to_s
      @concurrency = concurrency
      @handlers = {}
      @threads = []
      @state = :new
      @lock = Mutex.new
    end

    # Register a handler under `name` (the `handler:` of template steps): a StepHandler subclass (a new
    # instance per step), any object responding to `call(ctx)` (shared by all threads), or a block.
    # Returns self. Raises Tasker::DuplicateHandlerError if `name` is taken.
    def register(name, handler = nil, &block)
      name = name.to_s
      raise ConfigurationError, "handler name must not be empty" if name.empty?
      raise ConfigurationError, "register `#{name}` with a handler or a block, not both" if handler && block
      raise ConfigurationError, "register `#{name}` with a handler or a block" unless handler || block

      callable = to_callable(name, handler || block)
      @lock.synchronize do
        raise ConfigurationError, "register `#{name}` before the worker starts" unless @state == :new
        raise DuplicateHandlerError, "a handler named `#{name}` is already registered" if @handlers.key?(name)

        @handlers[name] = callable
      end
      self
    end

    # The registered handler names.
    def handler_names
      @handlers.keys
    end

    # The handler registered under `name` (as called: a class is wrapped), or nil.
    def handler(name)
      @handlers[name.to_s]
    end

    # Connect, start claiming steps and start the handler threads; returns self at once. Raises
    # Tasker::WorkerError if the worker cannot start (e.g. no template is fully served by the handlers).
    def start
      @lock.synchronize do
        raise WorkerError, "the worker was already started" unless @state == :new
        raise ConfigurationError, "register at least one handler before starting" if @handlers.empty?

        Tasker.init_logging
        begin
          @native = Native::Worker.start(@handlers.keys, @database_url, @template_path, @served_queues,
                                         @concurrency, @bind)
        rescue WorkerError
          Logging.drain(50) # the queues skipped and why, before the error
          raise
        end
        @state = :running
        @threads = Array.new(@concurrency) do |i|
          Thread.new(@native) { |native| serve(native) }.tap { |t| t.name = "tasker-handler-#{i}" }
        end
      end
      Worker.running_workers[self] = true
      self
    end

    # Whether the worker is running (started, not stopped, and its native side alive).
    def running?
      @state == :running && @native.running?
    end

    # The queues being read (e.g. "worker_linear_workflow_rb_queue"); empty before start.
    def queues
      @native ? @native.queues : []
    end

    # Stop claiming steps, let the steps in flight finish within the configured grace period (the
    # handler threads keep running meanwhile), release the rest to other workers, and join the threads
    # (waiting at most `timeout` seconds in all, STOP_JOIN_SECONDS by default). A handler still running
    # then is stuck: its step was released, and its thread is killed, so a stuck handler never keeps the
    # process from stopping. Idempotent. Raises Tasker::WorkerError if the native worker had failed.
    def stop(timeout: nil)
      native = @lock.synchronize do
        return self unless @state == :running

        @state = :stopping
        @native
      end
      begin
        native.stop # GVL released: handler threads keep completing their steps
      ensure
        @state = :stopped
        join_or_kill(timeout || STOP_JOIN_SECONDS)
        Worker.running_workers.delete(self)
        Logging.drain(100)
      end
      self
    end

    # Start, then block until SIGINT or SIGTERM (or until the native worker fails), then stop. Installs
    # signal traps for the duration and restores the previous ones. Call from the main thread.
    def run
      reader, writer = IO.pipe
      previous = {}
      %w[INT TERM].each do |signal|
        previous[signal] = Signal.trap(signal) { writer.write_nonblock(".", exception: false) }
      end
      start
      loop do
        break if IO.select([reader], nil, nil, 1)
        break unless @native.running? # failed on its own; `stop` raises its error
      end
      self
    ensure
      previous&.each { |signal, handler| Signal.trap(signal, handler || "DEFAULT") }
      stop
      reader&.close
      writer&.close
    end

    def inspect
      "#<#{self.class} #{@state} concurrency=#{@concurrency} handlers=#{@handlers.keys.inspect}>"
    end

    # Workers started and not yet stopped; stopped at exit so that their steps are finished or released
    # at once rather than when their leases expire.
    def self.running_workers
      @running_workers ||= {}.compare_by_identity
    end

    at_exit { Worker.running_workers.keys.each { |w| w.stop(timeout: 5) } }

    private

    # One handler thread: take step events until the worker has stopped and drained.
    def serve(native)
      until @state == :stopped
        event = native.next_event(POLL_MS)
        # nil at once once the native worker has stopped (it wakes every waiting thread): done.
        break if event.nil? && !native.running?

        serve_one(native, event) if event
      end
    end

    # Dispatch one event; what escapes it (an `exit` in a handler, after its event was completed) is logged, and
    # the thread goes on to the next event instead of ending.
    def serve_one(native, event)
      dispatch(native, event)
    rescue Exception => e # rubocop:disable Lint/RescueException -- a handler thread outlives any one step
      Tasker.logger.error("handler thread: #{e.class}: #{e.message}")
    end

    # Run one step event's handler and complete the event, whatever happens (an exception that is not
    # a step error, such as a Thread#kill or `exit`, still completes it as a retryable error).
    def dispatch(native, event_json)
      event = JSON.parse(event_json)
      outcome = nil
      begin
        handler = @handlers[event["handler"]]
        outcome =
          if handler
            cancel_check = -> { native.cancelled?(event["event_id"]) }
            saver = lambda do |data|
              native.save_checkpoint(event["event_id"], JSON.generate(data))
            rescue WorkerError => e
              raise CheckpointError, e.message
            end
            Outcome.run(handler, StepContext.from_event(event, cancel_check, saver))
          else
            Outcome.error("no Ruby handler is registered for `#{event['handler']}`",
                          retryable: false, error_class: "Tasker::ConfigurationError")
          end
      ensure
        outcome ||= Outcome.error("the handler was interrupted", retryable: true, error_class: "Interrupt")
        native.complete(event["event_id"], outcome)
      end
    end

    # Join the handler threads within `seconds` in all; kill those still running a handler (stuck: their
    # steps were released by the native stop). A handler may call stop itself: its own thread is skipped.
    def join_or_kill(seconds)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
      stuck = @threads.reject do |t|
        t == Thread.current || t.join([deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max)
      end
      return if stuck.empty?

      Tasker.logger.warn("#{stuck.size} handler thread(s) still running after stop; their steps were released; " \
                         "killing them")
      stuck.each(&:kill)
    end

    def to_callable(name, handler)
      if handler.is_a?(Class)
        unless handler.method_defined?(:call)
          raise ConfigurationError, "handler class #{handler} for `#{name}` must define #call(ctx)"
        end

        ->(ctx) { handler.new.call(ctx) }
      elsif handler.respond_to?(:call)
        arity = handler.respond_to?(:arity) ? handler.arity : 1
        if handler.is_a?(Proc) && handler.lambda? && arity.zero?
          raise ConfigurationError, "handler lambda for `#{name}` must take the step context"
        end

        handler
      else
        raise ConfigurationError, "handler for `#{name}` must be a StepHandler class or respond to #call"
      end
    end
  end
end
