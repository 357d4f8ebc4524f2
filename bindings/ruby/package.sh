#!/usr/bin/env bash
# Build the tasker-rb source gem: the Ruby library plus the Rust sources of its native extension (the extension
# crate, the Tasker crates it needs with the migrations they embed, the workspace's lockfile), compiled by cargo
# when the gem is installed (ext/tasker_rb/extconf.rb).
#   bash bindings/ruby/package.sh [OUT_DIR]     # -> OUT_DIR/tasker-rb-<version>.gem (default bindings/ruby/pkg)
#   gem install --local OUT_DIR/tasker-rb-<version>.gem
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "${1:-$here/pkg}" && cd "${1:-$here/pkg}" && pwd)"
stage="$(mktemp -d)/tasker-rb"
trap 'rm -rf "$(dirname "$stage")"' EXIT
mkdir -p "$stage/lib" "$stage/ext/vendor"
(cd "$here" && find lib -name '*.rb' -exec cp --parents {} "$stage/" \;)
cp "$here/tasker-rb.gemspec" "$root/LICENSE" "$stage/"
cp -r "$here/ext/tasker_rb" "$stage/ext/tasker_rb"
for crate in tasker-shared tasker-worker-foundation; do
    cp -r "$root/$crate" "$stage/ext/vendor/$crate"
done
# tasker-shared/migrations is a link to the workspace's migrations: the gem carries a copy.
rm "$stage/ext/vendor/tasker-shared/migrations"
cp -r "$root/migrations" "$stage/ext/vendor/tasker-shared/migrations"
cp "$root/Cargo.lock" "$stage/ext/Cargo.lock"
python3 "$here/package_manifest.py" "$root/Cargo.toml" > "$stage/ext/Cargo.toml"
(cd "$stage" && gem build --quiet tasker-rb.gemspec >/dev/null && mv tasker-rb-*.gem "$out/")
ls "$out"/tasker-rb-*.gem
