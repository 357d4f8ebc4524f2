# frozen_string_literal: true

# Runs every *_test.rb here (unit tests of the Ruby API, then end-to-end tests against a real server).
Dir[File.join(__dir__, "*_test.rb")].sort.each { |file| require file }
