//! Embed the worker foundation with your own handler, in a few lines.
//!
//! Run (with a tasker-server running against the same database, which registers
//! `config/templates/examples/greeting.yaml`):
//!
//! ```sh
//! DATABASE_URL=postgres://localhost:5432/tasker_demo TASKER_WORKER_BIND=127.0.0.1:8082 \
//!   cargo run -p tasker-worker-rust --example custom_worker
//! curl -s localhost:8080/v1/tasks -H 'content-type: application/json' \
//!   -d '{"namespace":"greetings","name":"say_hello","context":{"name":"Ada"}}'
//! ```

use serde_json::json;
use tasker_shared::config::TaskerConfig;
use tasker_worker_foundation::{handler_fn, StepError, WorkerBuilder};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tasker_shared::observability::init_tracing();
    let worker = WorkerBuilder::new(TaskerConfig::load()?)
        .register(
            "greetings.hello",
            handler_fn(|ctx| async move {
                let name: String = ctx.context_field("name")?;
                if name.is_empty() {
                    return Err(StepError::permanent("name is empty"));
                }
                Ok(json!({"greeting": format!("Hello, {name}!")}))
            }),
        )
        .build()
        .await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(tasker_shared::shutdown::cancel_on_signal(shutdown.clone()));
    worker.run(shutdown).await?;
    Ok(())
}
