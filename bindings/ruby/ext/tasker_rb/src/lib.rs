//! `tasker_rb`: the native half of the `tasker-rb` gem. Thin glue only: the worker foundation's
//! [`EmbeddedWorker`](tasker_worker_foundation::EmbeddedWorker) claims, leases, times out, persists and
//! reports steps; Ruby waits for step events (with the GVL released), runs its handlers and hands back
//! outcomes as JSON. The idiomatic API lives in `bindings/ruby/lib/tasker/`.
//!
//! Defines `Tasker::Native::Worker` (see [`worker`]) and `Tasker::Native.init_logging`.

mod error;
mod nogvl;
mod worker;

use magnus::{function, prelude::*, Error, Ruby};

/// Install the tracing subscriber once per process (`RUST_LOG` filters, default `info`).
fn init_logging() {
    tasker_shared::observability::init_tracing();
}

#[magnus::init(name = "tasker_rb")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let tasker = ruby.define_module("Tasker")?;
    let native = tasker.define_module("Native")?;
    native.define_singleton_method("init_logging", function!(init_logging, 0))?;
    worker::define(ruby, native)
}
