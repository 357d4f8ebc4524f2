#!/usr/bin/env bash
# Build the native extension and put it where `require "tasker"` finds it:
#   bash bindings/ruby/build.sh            # debug build  -> bindings/ruby/lib/tasker_rb.so
#   bash bindings/ruby/build.sh --release  # optimised build (for benchmarks and production)
# Needs Ruby with its headers (Debian: ruby ruby-dev) and libclang (libclang-dev): rb-sys generates the
# Ruby bindings at build time from the `ruby` on PATH (or $RUBY).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
# cargo prints one JSON message per artifact; the cdylib's path is the one ending in .so.
so=$(cargo build -p tasker-rb --message-format=json-render-diagnostics "$@" |
    ruby -rjson -ne 'm = JSON.parse($_) rescue next
        next unless m["reason"] == "compiler-artifact" && m.dig("target", "name") == "tasker_rb"
        f = m["filenames"].find { |x| x.end_with?(".so", ".bundle", ".dylib") } and puts f')
if [ -z "$so" ]; then
    echo "build.sh: cargo built no tasker_rb library" >&2
    exit 1
fi
# The file must be named after its Init_ function (Init_tasker_rb). Copy to a temporary name first so
# that a Ruby process loading the old file never sees a half-written one.
cp "$so" "$here/lib/.tasker_rb.so.tmp"
mv -f "$here/lib/.tasker_rb.so.tmp" "$here/lib/tasker_rb.so"
echo "build.sh: $so -> bindings/ruby/lib/tasker_rb.so"
