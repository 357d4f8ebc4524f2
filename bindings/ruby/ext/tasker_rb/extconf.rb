# frozen_string_literal: true

# Run by `gem install`: writes the Makefile that builds the native extension with cargo from the Rust sources this
# gem carries (ext/Cargo.toml: this crate and the Tasker crates it needs, ext/Cargo.lock), then installs
# tasker_rb.so where `require "tasker_rb"` finds it. Needs cargo, and libclang for rb-sys's bindings.
#   TASKER_RB_CARGO_PROFILE  cargo profile (default `release`; `dev` builds faster, for CI)
#   CARGO_TARGET_DIR         where cargo builds (default ext/target, inside the installed gem)
require "rbconfig"

manifest = File.expand_path("../Cargo.toml", __dir__)
profile = ENV.fetch("TASKER_RB_CARGO_PROFILE", "release")
target = ENV.fetch("CARGO_TARGET_DIR", File.expand_path("../target", __dir__))
out_dir = profile == "dev" ? "debug" : profile
library = RbConfig::CONFIG["host_os"].match?(/darwin/) ? "libtasker_rb.dylib" : "libtasker_rb.so"
dlext = RbConfig::CONFIG["DLEXT"]
ruby = RbConfig.ruby
# RubyGems points sitearchdir at the gem's extension directory (its siteconf.rb, required before this file).
sitearchdir = RbConfig.expand(RbConfig::MAKEFILE_CONFIG["sitearchdir"].dup, RbConfig::MAKEFILE_CONFIG.dup)

File.write("Makefile", <<~MAKE)
  all: tasker_rb.#{dlext}

  tasker_rb.#{dlext}:
  \tRUBY="#{ruby}" cargo build --manifest-path "#{manifest}" -p tasker-rb --lib --profile #{profile}
  \tcp "#{target}/#{out_dir}/#{library}" tasker_rb.#{dlext}

  install: all
  \tmkdir -p "#{sitearchdir}"
  \tcp tasker_rb.#{dlext} "#{sitearchdir}/tasker_rb.#{dlext}"

  clean:
  \trm -f tasker_rb.#{dlext}
MAKE
