# syntax=docker/dockerfile:1
# tasker-server (REST API + result processor), plus the `tasker` CLI, whose `tasker health` is the HEALTHCHECK:
# the runtime image has no curl, and the CLI already probes /health/ready and exits non-zero unless it answers 200.
#
#   docker build -f deploy/docker/server.Dockerfile -t tasker-server:dev .      (from the repository root)
#
# Configuration and templates are baked in under /app/config (the repository's config/tasker and config/templates)
# and read from TASKER_CONFIG_DIR / TASKER_TEMPLATE_PATH; mount your own over them or point those variables
# elsewhere (Kubernetes mounts ConfigMaps at /etc/tasker). See docs/deployment.md.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target/ between builds; the binaries are copied out of the mounted
# target/ inside the same RUN, since the mount is gone afterwards.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tasker-server --bin tasker \
    && install -D -m 0755 target/release/tasker-server target/release/tasker -t /out/

FROM ${RUNTIME_IMAGE}
# The binaries need only glibc and libgcc (no OpenSSL: the database connection is plain TCP, the CLI uses rustls),
# so the slim base gets no extra packages.
RUN groupadd --system --gid 10001 tasker \
    && useradd --system --uid 10001 --gid tasker --home-dir /app --no-create-home --shell /usr/sbin/nologin tasker
WORKDIR /app
COPY --from=build /out/ /usr/local/bin/
COPY config/tasker /app/config/tasker
COPY config/templates /app/config/templates
# production: binds 0.0.0.0:8080 and logs JSON lines. TASKER_URL is what the `tasker` CLI (and so HEALTHCHECK) calls.
ENV TASKER_ENV=production \
    TASKER_CONFIG_DIR=/app/config/tasker \
    TASKER_TEMPLATE_PATH=/app/config/templates \
    TASKER_URL=http://127.0.0.1:8080
USER 10001:10001
EXPOSE 8080
# The server finishes its current result batch and in-flight requests on SIGTERM (orchestration.shutdown_grace_ms).
STOPSIGNAL SIGTERM
# start-period: the server retries its database connection for up to 60 s before it listens.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["tasker", "health", "--output", "json"]
ENTRYPOINT ["tasker-server"]
