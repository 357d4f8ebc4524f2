//! `tasker-server`: the orchestration server (REST API + result processing).
//!
//! Reads configuration (see `docs/configuration.md`), `DATABASE_URL`, `TASKER_BIND` and
//! `TASKER_TEMPLATE_PATH`; applies migrations at start-up (unless `database.run_migrations = false`: then it
//! only checks them); stops gracefully on SIGTERM or Ctrl-C.
//!
//! `tasker-server migrate` installs pgmq, applies the migrations and exits: the Kubernetes migration job.

use anyhow::Context;
use std::time::Duration;
use tasker_orchestration::OrchestrationServer;
use tasker_shared::config::TaskerConfig;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tasker_shared::observability::init_tracing();
    let config = TaskerConfig::load().context("loading configuration")?;
    let migrate_only = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("migrate") => true,
        Some("-h" | "--help" | "help") => {
            println!("usage: tasker-server            serve the API, process results, run the scheduler");
            println!("       tasker-server migrate    install pgmq, apply the migrations and exit");
            return Ok(());
        }
        Some(other) => anyhow::bail!("unknown argument `{other}`: expected nothing, `migrate` or `--help`"),
    };
    let pool = connect_with_retry(&config).await?;
    if migrate_only {
        tasker_shared::db::prepare(&pool).await.context("applying the migrations")?;
        tracing::info!(migrations = tasker_shared::MIGRATOR.iter().count(), "migrations applied");
        return Ok(());
    }
    let bind = config.orchestration.bind.clone();
    let server = OrchestrationServer::new(pool, config).await.context("preparing the database")?;
    let listener = tokio::net::TcpListener::bind(&bind).await.with_context(|| format!("binding {bind}"))?;
    tracing::info!(%bind, "tasker-server listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(tasker_shared::shutdown::cancel_on_signal(shutdown.clone()));
    server.run(listener, shutdown).await?;
    tracing::info!("tasker-server stopped");
    Ok(())
}

/// The database may start after us (containers, restarts): retry with backoff for a minute.
async fn connect_with_retry(config: &TaskerConfig) -> anyhow::Result<sqlx::PgPool> {
    let mut delay = Duration::from_millis(200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tasker_shared::db::connect(&config.database).await {
            Ok(pool) => return Ok(pool),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "database not reachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e).context("connecting to the database"),
        }
    }
}
