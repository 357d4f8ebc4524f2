//! Rust errors as Ruby exceptions: everything the native worker raises is a `Tasker::WorkerError`
//! (defined in `lib/tasker/errors.rb`, loaded before this extension), or a `RuntimeError` if that class
//! is missing because the extension was required on its own.

use magnus::{prelude::*, Error, ExceptionClass, RModule, Ruby};

/// A `Tasker::WorkerError` carrying `message`.
pub fn worker_error(ruby: &Ruby, message: impl Into<String>) -> Error {
    tasker_error(ruby, "WorkerError", message)
}

/// A `Tasker::<class>` (a `RuntimeError` if it is missing) carrying `message`.
pub fn tasker_error(ruby: &Ruby, class: &str, message: impl Into<String>) -> Error {
    let class = ruby
        .class_object()
        .const_get::<_, RModule>("Tasker")
        .and_then(|tasker| tasker.const_get::<_, ExceptionClass>(class))
        .unwrap_or_else(|_| ruby.exception_runtime_error());
    Error::new(class, message.into())
}
