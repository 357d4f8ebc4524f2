#!/usr/bin/env bash
# Install what building and testing the Ruby bindings needs, from Debian packages, if anything is missing:
# Ruby 3.1+ with its headers (ruby, ruby-dev), libclang (rb-sys generates the Ruby bindings with bindgen)
# and minitest. Idempotent and quiet when everything is there. RubyGems.org is not used.
#   bash bindings/ruby/install-deps.sh
set -euo pipefail

need=()
if ! command -v ruby >/dev/null; then
    need+=(ruby ruby-dev)
else
    hdr=$(ruby -rrbconfig -e 'print RbConfig::CONFIG["rubyhdrdir"]')
    [ -f "$hdr/ruby.h" ] || need+=(ruby-dev)
    ruby -e 'gem "minitest", ">= 5"; require "minitest"' 2>/dev/null || need+=(ruby-minitest)
fi
if command -v dpkg-query >/dev/null; then
    dpkg-query -W -f='${Status}' libclang-dev 2>/dev/null | grep -q "ok installed" || need+=(libclang-dev)
elif ! ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib*/libclang*.so* >/dev/null 2>&1; then
    need+=(libclang-dev)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [[ " ${need[*]} " == *" ruby "* ]]; then need+=(ruby-minitest); fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-deps.sh: missing ${need[*]}; install them (Debian/Ubuntu: apt-get install ${need[*]})" >&2
    exit 1
fi
echo "== installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
ruby --version
