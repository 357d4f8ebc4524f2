# frozen_string_literal: true

require_relative "lib/tasker/version"

# A source gem: the Ruby library and the Rust sources of its native extension, compiled by cargo at install
# (ext/tasker_rb/extconf.rb). Build it with bash bindings/ruby/package.sh, which gathers the Rust sources beside
# this file; then gem install --local bindings/ruby/pkg/tasker-rb-<version>.gem (needs cargo and libclang).
Gem::Specification.new do |spec|
  spec.name = "tasker-rb"
  spec.version = Tasker::VERSION
  spec.summary = "Ruby step handlers for Tasker workflows (PostgreSQL + pgmq)"
  spec.description = "Write Tasker step handlers in Ruby. The Rust worker foundation runs in the Ruby " \
                     "process, claims steps, enforces timeouts and persists results; Ruby runs handlers."
  spec.authors = ["Tasker contributors"]
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir.chdir(__dir__) do
    Dir["lib/**/*.rb"] + Dir["LICENSE"] +
      Dir["ext/**/*"].reject { |f| File.directory?(f) || f.start_with?("ext/target/") || f.include?("/target/") }
  end
  spec.extensions = ["ext/tasker_rb/extconf.rb"]
  spec.require_paths = ["lib"]
  spec.metadata["rubygems_mfa_required"] = "true"
end
