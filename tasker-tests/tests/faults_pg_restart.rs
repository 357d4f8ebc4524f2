//! PostgreSQL restarted under load, on a throwaway cluster of the test's own (never the shared server): a
//! real `tasker-server` and `tasker-worker` in event-driven mode (no fallback poll, so only a re-established
//! LISTEN can wake them) lose the database mid-work. While it is down both answer 503 on `/health/ready`;
//! after it is back they answer 200 without a restart, every task completes exactly once, and new tasks run.
//!
//! Needs root (to run `initdb` and `pg_ctl` as the `postgres` user with `runuser`) and the PostgreSQL server
//! binaries, as on the project's machines (see TOOLCHAIN.md), and the built binaries
//! (`cargo build --workspace --all-targets`).

mod common;

use common::pow;
use common::process::{
    assert_exactly_once, create_task, describe, free_port, http, scalar, start_server, start_worker, wait_all_terminal,
    wait_for, Proc,
};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The PostgreSQL server tools: on PATH or under /usr/lib/postgresql/<version>/bin.
fn pg_tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut v: Vec<PathBuf> = versions.flatten().map(|e| e.path().join("bin")).collect();
        v.sort();
        dirs.extend(v.into_iter().rev());
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found on PATH or under /usr/lib/postgresql/*/bin"))
}

/// A PostgreSQL cluster in a temporary directory, on its own port, run as the `postgres` user; stopped and
/// removed on drop.
struct ThrowawayCluster {
    dir: PathBuf,
    port: u16,
}

fn as_postgres(program: &Path, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("runuser {}: {e} (this test needs root)", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl ThrowawayCluster {
    fn create() -> Self {
        let dir = std::env::temp_dir().join(format!("tasker-faults-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create cluster dir");
        let chown = Command::new("chown").arg("postgres:postgres").arg(&dir).status().expect("chown");
        assert!(chown.success(), "chown postgres {}", dir.display());
        let cluster = Self { dir, port: free_port() };
        as_postgres(
            &pg_tool("initdb"),
            &["-D", cluster.data().to_str().unwrap(), "--auth=trust", "-U", "root", "--no-sync"],
        );
        cluster.start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn start(&self) {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off", self.port, self.dir.display());
        let log = self.dir.join("postgres.log");
        as_postgres(
            &pg_tool("pg_ctl"),
            &["-D", self.data().to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &options, "-w", "start"],
        );
    }

    fn stop(&self) {
        as_postgres(&pg_tool("pg_ctl"), &["-D", self.data().to_str().unwrap(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://root@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_tool("pg_ctl"))
            .args(["-D", self.data().to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Poll `/health/ready` of `proc` until it answers `want`; panics after `seconds`.
async fn wait_health(proc: &mut Proc, want: u16, seconds: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        assert!(!proc.has_exited(), "{} exited:\n{}", proc.name, proc.log());
        let (status, body) = http(proc.port, "GET", "/health/ready", None).await;
        if status == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} /health/ready still {status} ({body}) after {seconds} s, wanted {want}",
            proc.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connect(url: &str) -> PgPool {
    PgPoolOptions::new().max_connections(2).connect(url).await.expect("connect to the throwaway cluster")
}

#[tokio::test]
async fn postgres_restart_under_load_loses_nothing_and_listeners_come_back() {
    let cluster = ThrowawayCluster::create();
    let url = cluster.url();
    let event_driven =
        [("TASKER__WORKER__DISPATCH_MODE", "event_driven"), ("TASKER__ORCHESTRATION__DISPATCH_MODE", "event_driven")];
    let mut server = start_server("server", &url, &event_driven).await;
    let mut worker = start_worker("worker", &url, &event_driven).await;
    let pool = connect(&url).await;

    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let n = 2 + 2 * (i % 5);
        let task = if i % 2 == 0 {
            create_task(server.port, "test_scenarios", "sleepy_diamond", json!({"even_number": n, "sleep_ms": 300}))
                .await
        } else {
            create_task(server.port, "linear_workflow", "mathematical_sequence", json!({"even_number": n})).await
        };
        tasks.push(task);
    }
    wait_for(&pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'complete'", 60, |completed| {
        completed >= 10
    })
    .await;
    let open = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state NOT IN ('complete', 'error')").await;
    assert!(open > 0, "all work finished before the restart; the test proves nothing");
    eprintln!("stopping PostgreSQL with {open} of 40 tasks open");
    pool.close().await;

    // Down, with work in flight: both report not ready, neither exits.
    cluster.stop();
    wait_health(&mut server, 503, 30).await;
    wait_health(&mut worker, 503, 30).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.start();
    wait_health(&mut server, 200, 60).await;
    wait_health(&mut worker, 200, 60).await;

    let pool = connect(&url).await;
    wait_all_terminal(&pool, 120).await;
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'").await,
        40,
        "{}",
        describe(&pool).await
    );
    // Both listeners are back (nothing would wake an event-driven loop otherwise) ...
    wait_for(&pool, "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%'", 30, |listeners| {
        listeners >= 2
    })
    .await;
    // ... and new work flows through them end to end.
    let after = create_task(server.port, "diamond_workflow", "diamond_pattern", json!({"even_number": 4})).await;
    wait_all_terminal(&pool, 60).await;
    let value: Option<String> = sqlx::query_scalar(
        "SELECT results->>'value' FROM tasker.workflow_steps WHERE task_uuid = $1 AND name = 'diamond_end'",
    )
    .bind(after)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(value, Some(pow(4, 16)));
    assert_exactly_once(&pool).await;
    assert!(!server.has_exited() && !worker.has_exited());
    pool.close().await;
    drop(worker);
    drop(server);
    drop(cluster);
}
