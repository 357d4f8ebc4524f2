//! `tasker_rb`: the native half of the `tasker-rb` gem. Thin glue only: the worker foundation's
//! [`EmbeddedWorker`](tasker_worker_foundation::EmbeddedWorker) claims, leases, times out, persists and
//! reports steps; Ruby waits for step events (with the GVL released), runs its handlers and hands back
//! outcomes as JSON. The idiomatic API lives in `bindings/ruby/lib/tasker/`.
//!
//! Defines `Tasker::Native::Worker` (see [`worker`]), `Tasker::Native.install_logging` and
//! `Tasker::Native.next_log` (see [`logs`]).

mod error;
mod logs;
mod nogvl;
mod worker;

use magnus::{function, prelude::*, Error, Ruby};

#[magnus::init(name = "tasker_rb")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let tasker = ruby.define_module("Tasker")?;
    let native = tasker.define_module("Native")?;
    native.define_singleton_method("install_logging", function!(logs::install_logging, 0))?;
    native.define_singleton_method("next_log", function!(logs::next_log, 1))?;
    worker::define(ruby, native)
}
