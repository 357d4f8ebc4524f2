# syntax=docker/dockerfile:1
# tasker-worker: the Rust worker with the example catalog's handlers, plus the `tasker` CLI for the HEALTHCHECK
# (`tasker health` against the worker's own /health/ready; no curl in the image).
#
#   docker build -f deploy/docker/worker-rust.Dockerfile -t tasker-worker-rust:dev .   (from the repository root)
#
# A worker of your own (WorkerBuilder + your handlers) builds the same way: change the --bin below.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tasker-worker --bin tasker \
    && install -D -m 0755 target/release/tasker-worker target/release/tasker -t /out/

FROM ${RUNTIME_IMAGE}
# CA certificates: handlers of a worker built from this file call HTTPS services. Debian package versions are not
# pinned: bookworm's archive keeps only the current ones; the base image tag pins the distribution.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tasker \
    && useradd --system --uid 10001 --gid tasker --home-dir /app --no-create-home --shell /usr/sbin/nologin tasker
WORKDIR /app
COPY --from=build /out/ /usr/local/bin/
COPY config/tasker /app/config/tasker
# The worker chooses its queues from the templates: it serves those whose every handler it has.
COPY config/templates /app/config/templates
# production binds the health endpoints on 0.0.0.0:8081; the HEALTHCHECK's CLI calls TASKER_URL.
ENV TASKER_ENV=production \
    TASKER_CONFIG_DIR=/app/config/tasker \
    TASKER_TEMPLATE_PATH=/app/config/templates \
    TASKER_URL=http://127.0.0.1:8081
USER 10001:10001
EXPOSE 8081
# On SIGTERM the worker stops claiming (readiness 503 at once), lets handlers finish within
# worker.shutdown_grace_ms, then releases the unfinished steps to other workers.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["tasker", "health", "--output", "json"]
ENTRYPOINT ["tasker-worker"]
