# syntax=docker/dockerfile:1
# Ruby worker images: `base` has the tasker-rb gem installed, for your handlers to be copied on top;
# `example` (the default target) adds the example catalog (bindings/ruby/examples) and every template.
#
#   docker build -f deploy/docker/worker-ruby.Dockerfile -t tasker-worker-ruby:dev .                   (example)
#   docker build -f deploy/docker/worker-ruby.Dockerfile --target base -t tasker-worker-ruby-base:dev .
#
# Your own image:   FROM tasker-worker-ruby-base:dev
#                   COPY my_handlers/ /app/
#                   CMD ["ruby", "/app/worker.rb"]
# where worker.rb passes bind: ENV["TASKER_WORKER_BIND"] to Tasker::Worker.new (needed for /health/*).

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUBY_IMAGE=ruby:3.1-slim-bookworm
ARG RUBY_BUILD_IMAGE=ruby:3.1-bookworm

FROM ${RUST_IMAGE} AS rust

# The gem's extension is built against the Ruby it will run on (same official Ruby 3.1 as the runtime image), with
# the Rust toolchain copied in; rb-sys needs libclang for its bindings.
FROM ${RUBY_BUILD_IMAGE} AS gem
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
# Debian package versions are not pinned: bookworm's archive keeps only the current ones, so a pin breaks the
# build at the next point release; the base image tag pins the distribution.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libclang-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    bash bindings/ruby/build.sh --release
# build.sh copied the library to bindings/ruby/lib/tasker_rb.so (outside the cache mount), so the gemspec packages
# it as a platform gem.
WORKDIR /src/bindings/ruby
RUN mkdir -p /gems && gem build tasker-rb.gemspec --output /gems/tasker-rb.gem

FROM ${RUBY_IMAGE} AS base
RUN groupadd --system --gid 10001 tasker \
    && useradd --system --uid 10001 --gid tasker --home-dir /app --no-create-home --shell /usr/sbin/nologin tasker
COPY --from=gem /gems/ /tmp/gems/
# A local file built above (its version is the repository's): nothing to pin.
# hadolint ignore=DL3028
RUN gem install --local --no-document /tmp/gems/tasker-rb.gem && rm -rf /tmp/gems
WORKDIR /app
COPY config/tasker /app/config/tasker
ENV TASKER_ENV=production \
    TASKER_CONFIG_DIR=/app/config/tasker \
    TASKER_TEMPLATE_PATH=/app/config/templates \
    TASKER_WORKER_BIND=0.0.0.0:8081
USER 10001:10001
EXPOSE 8081
# Tasker::Worker#run traps SIGTERM: stop claiming, finish within worker.shutdown_grace_ms, release the rest.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["ruby", "-rnet/http", "-e", "exit Net::HTTP.get_response(URI('http://127.0.0.1:8081/health/ready')).is_a?(Net::HTTPOK)"]
CMD ["ruby", "-e", "abort 'copy your handlers and worker.rb on top of this image (see deploy/docker/worker-ruby.Dockerfile)'"]

FROM base AS example
COPY bindings/ruby/examples/ /app/
COPY config/templates /app/config/templates
CMD ["ruby", "/app/worker.rb"]
