# syntax=docker/dockerfile:1
# Python worker images: `base` has the tasker-py wheel installed, for your handlers to be copied on top;
# `example` (the default target) adds the example catalog (bindings/python/examples) and every template.
#
#   docker build -f deploy/docker/worker-python.Dockerfile -t tasker-worker-python:dev .               (example)
#   docker build -f deploy/docker/worker-python.Dockerfile --target base -t tasker-worker-python-base:dev .
#
# Your own image:   FROM tasker-worker-python-base:dev
#                   COPY my_handlers/ /app/
#                   COPY my_templates/ /app/config/templates/
#                   CMD ["python", "/app/worker.py"]
# where worker.py passes bind=os.environ["TASKER_WORKER_BIND"] to tasker.Worker: an embedded worker serves
# /health/* and /metrics only when given a bind address, and the HEALTHCHECK and the Kubernetes probes call it.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG PYTHON_BUILD_IMAGE=python:3.11-bookworm

# The Rust toolchain, copied into the Python build image below (the wheel is built against that Python).
FROM ${RUST_IMAGE} AS rust

FROM ${PYTHON_BUILD_IMAGE} AS wheel
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
RUN pip install --no-cache-dir maturin==1.16.0
WORKDIR /src
COPY . .
# abi3 wheel (pyo3 abi3-py39): one wheel for every CPython >= 3.9 on this platform.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    maturin build --release --locked -m bindings/python/Cargo.toml -o /wheels

FROM ${PYTHON_IMAGE} AS base
RUN groupadd --system --gid 10001 tasker \
    && useradd --system --uid 10001 --gid tasker --home-dir /app --no-create-home --shell /usr/sbin/nologin tasker
COPY --from=wheel /wheels/ /tmp/wheels/
RUN pip install --no-cache-dir /tmp/wheels/tasker_py-*.whl && rm -rf /tmp/wheels
WORKDIR /app
COPY config/tasker /app/config/tasker
# TASKER_WORKER_BIND is read by the worker script (see above); production logs JSON lines.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TASKER_ENV=production \
    TASKER_CONFIG_DIR=/app/config/tasker \
    TASKER_TEMPLATE_PATH=/app/config/templates \
    TASKER_WORKER_BIND=0.0.0.0:8081
USER 10001:10001
EXPOSE 8081
# tasker.Worker.run() traps SIGTERM: stop claiming, finish within worker.shutdown_grace_ms, release the rest.
STOPSIGNAL SIGTERM
# The interpreter is the probe: urlopen raises (exit 1) on a 503 or a refused connection.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/health/ready', timeout=2)"]
CMD ["python", "-c", "import sys; sys.exit('copy your handlers and worker.py on top of this image (see deploy/docker/worker-python.Dockerfile)')"]

FROM base AS example
COPY bindings/python/examples/ /app/
COPY config/templates /app/config/templates
CMD ["python", "/app/worker.py"]
