//! `tasker-worker`: a worker process with the native Rust handlers of the example catalog.
//!
//! Reads configuration (see `docs/configuration.md`), `DATABASE_URL`, `TASKER_WORKER_BIND` and
//! `TASKER_TEMPLATE_PATH`; serves the namespaces of the templates whose handlers it has; stops gracefully on
//! SIGTERM or Ctrl-C.

use anyhow::Context;
use tasker_shared::config::TaskerConfig;
use tasker_worker_foundation::WorkerBuilder;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tasker_shared::observability::init_tracing();
    let config = TaskerConfig::load().context("loading configuration")?;
    let worker = tasker_worker_rust::register_catalog(WorkerBuilder::new(config)).build().await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(tasker_shared::shutdown::cancel_on_signal(shutdown.clone()));
    worker.run(shutdown).await?;
    Ok(())
}
