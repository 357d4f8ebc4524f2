# frozen_string_literal: true

# Run every test from the repository root:
#   bash bindings/ruby/build.sh && ruby -I bindings/ruby/lib bindings/ruby/test/run.rb
# or one file: ruby -I bindings/ruby/lib bindings/ruby/test/api_test.rb

require "minitest/autorun"
require "tasker"
# The worker logs every start, step failure and stop; tests that check them swap Tasker.logger.
Tasker.logger.level = Logger::WARN unless ENV["TASKER_TEST_LOGS"]
