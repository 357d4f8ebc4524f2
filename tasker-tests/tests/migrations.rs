//! Start-up against a database that a newer Tasker already migrated (a rolling upgrade): an older build must
//! still start, leaving the newer migrations alone.

use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn a_build_starts_on_a_database_migrated_by_a_newer_one(pool: PgPool) {
    tasker_shared::db::prepare(&pool).await.expect("first start-up migrates");
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    // What a newer build leaves behind: a migration this build does not know.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99991231000000, 'from a newer release', true, '\\x00'::bytea, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    tasker_shared::db::prepare(&pool).await.expect("an older build still starts");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(after, before + 1, "the newer migration is left as it is, nothing is re-applied");
}

#[sqlx::test(migrations = false)]
async fn a_start_up_queued_behind_another_ones_migrations_waits_past_the_statement_timeout(pool: PgPool) {
    tasker_shared::db::prepare(&pool).await.unwrap();
    // Pools carry a statement timeout (30 s in production); here 1 s, while another start-up holds the migration
    // lock for 2.5 s (its long index build, say).
    let options = (*pool.connect_options()).clone().options([("statement_timeout", "1000")]);
    let tight = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect_with(options).await.unwrap();
    let mut other = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(tasker_shared::db::PREPARE_LOCK)
        .execute(&mut *other)
        .await
        .unwrap();
    let waiting = tokio::spawn(async move { tasker_shared::db::prepare(&tight).await });
    common::wait_for_lock_waiter(&pool).await;
    // Past the 1 s statement timeout, it still waits.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert!(!waiting.is_finished(), "it waits for the lock");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(tasker_shared::db::PREPARE_LOCK)
        .execute(&mut *other)
        .await
        .unwrap();
    waiting.await.unwrap().expect("the start-up goes on once the other one is done");
}

mod common;

use common::process::{
    bin_dir, create_task, database_url, scalar, spawn, start_worker, wait_all_terminal, workspace_root, Kind,
};
use serde_json::json;
use std::process::Command;

/// Run `tasker-server <args>` to its end against `url`; its exit status.
fn server_command(url: &str, args: &[&str]) -> std::process::ExitStatus {
    Command::new(bin_dir().join("tasker-server"))
        .args(args)
        .current_dir(workspace_root())
        .env("DATABASE_URL", url)
        .env("TASKER_ENV", "test")
        .env("TASKER_CONFIG_DIR", workspace_root().join("config/tasker"))
        .env("RUST_LOG", "warn")
        .status()
        .expect("tasker-server runs")
}

/// The Kubernetes layout: `tasker-server migrate` runs the migrations once; servers and workers started with
/// `database.run_migrations = false` wait for them instead of running them. Needs the binaries.
#[sqlx::test(migrations = false)]
async fn with_run_migrations_off_processes_wait_for_the_migration_job(pool: PgPool) {
    let url = database_url(&pool).await;
    let off = [("TASKER__DATABASE__RUN_MIGRATIONS", "false")];
    let mut server = spawn(Kind::Server, "server", &url, &off);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(!server.has_exited(), "it waits for the migrations:\n{}", server.log());
    let tables = scalar(&pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'tasker'").await;
    assert_eq!(tables, 0, "a process with run_migrations = false migrated");
    assert!(!server_command(&url, &["no-such-command"]).success(), "an unknown argument is refused");
    assert!(server_command(&url, &["migrate"]).success(), "the migration job succeeds");
    assert!(server_command(&url, &["migrate"]).success(), "and can run again");
    server.wait_ready().await;
    let _worker = start_worker("worker", &url, &off).await;
    create_task(server.port, "linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await;
    wait_all_terminal(&pool, 30).await;
    let complete = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'").await;
    assert_eq!(complete, 1);
}
