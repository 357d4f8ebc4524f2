# Helpers for the scripts that run real processes (source it): a free local port, and a process started in the
# background whose /health/ready must answer before the script goes on. Each started pid is added to `pids`.

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_ready PORT LOG COMMAND...: run COMMAND (with the caller's environment) logging to LOG, wait up to 30 s for
# http://127.0.0.1:PORT/health/ready; print the log and fail if the process dies first.
start_ready() {
    local port=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:${port}/health/ready" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$log"; return 1; }
        sleep 0.1
    done
    echo "no answer on port ${port} after 30 s"; cat "$log"; return 1
}
