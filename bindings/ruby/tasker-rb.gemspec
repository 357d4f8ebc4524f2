# frozen_string_literal: true

require_relative "lib/tasker/version"

# The native extension is built with cargo from the workspace (bash build.sh), not by RubyGems: with
# lib/tasker_rb.so present this spec packages it as a platform gem for this machine.
#   bash build.sh --release && gem build tasker-rb.gemspec && gem install --local tasker-rb-*.gem
Gem::Specification.new do |spec|
  spec.name = "tasker-rb"
  spec.version = Tasker::VERSION
  spec.summary = "Ruby step handlers for Tasker workflows (PostgreSQL + pgmq)"
  spec.description = "Write Tasker step handlers in Ruby. The Rust worker foundation runs in the Ruby " \
                     "process, claims steps, enforces timeouts and persists results; Ruby runs handlers."
  spec.authors = ["Tasker contributors"]
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir.chdir(__dir__) { Dir["lib/**/*.rb"] }
  spec.require_paths = ["lib"]
  spec.metadata["rubygems_mfa_required"] = "true"

  if File.exist?(File.join(__dir__, "lib/tasker_rb.so"))
    spec.files << "lib/tasker_rb.so"
    spec.platform = Gem::Platform.local
  end
end
