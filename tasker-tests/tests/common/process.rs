//! Real processes for the fault suite: the built `tasker-server` and `tasker-worker` binaries on the test's own
//! database, killed in `Drop` whatever happens, and a minimal HTTP client. The database checks they share live
//! in `audit.rs` and are re-exported here.
//!
//! The binaries come from the same target directory as the test binary (`cargo build --workspace
//! --all-targets` builds them); each process logs to `$CARGO_TARGET_TMPDIR/faults/<database>-<name>.log`,
//! kept (and its tail printed) only when the test fails.

use serde_json::Value;
use sqlx::PgPool;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

pub use super::audit::*;

/// The workspace root (`tasker-tests/..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("workspace root")
}

/// The directory holding `tasker-server` and `tasker-worker`: next to this test binary (`target/debug/deps/..`),
/// else `$CARGO_TARGET_DIR/debug`, else `<workspace>/target/debug`.
pub fn bin_dir() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent().and_then(Path::parent) {
            candidates.push(dir.to_path_buf());
        }
    }
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug"));
    }
    candidates.push(workspace_root().join("target/debug"));
    for dir in &candidates {
        if dir.join("tasker-server").is_file() && dir.join("tasker-worker").is_file() {
            return dir.clone();
        }
    }
    panic!(
        "tasker-server and tasker-worker binaries not found in any of {candidates:?}; \
         run `cargo build --workspace --all-targets` before these tests"
    );
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind an ephemeral port").port()
}

/// The URL of the test's database (`#[sqlx::test]` creates one per test): `DATABASE_URL` with its database
/// name replaced.
pub async fn database_url(pool: &PgPool) -> String {
    let db: String = sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await.expect("current_database()");
    let base = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (without_query, query) = match base.split_once('?') {
        Some((b, q)) => (b.to_string(), format!("?{q}")),
        None => (base.clone(), String::new()),
    };
    let server = match without_query.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, _)) => format!("{scheme}://{authority}"),
            None => format!("{scheme}://{rest}"),
        },
        None => panic!("DATABASE_URL `{base}` is not a URL"),
    };
    format!("{server}/{db}{query}")
}

/// Which binary a [`Proc`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `tasker-server` (API on `port`).
    Server,
    /// `tasker-worker` (health endpoint on `port`).
    Worker,
}

/// A running `tasker-server` or `tasker-worker`; killed (SIGKILL) and reaped on drop.
pub struct Proc {
    /// Name used in logs and as the worker id.
    pub name: String,
    /// HTTP port (API for a server, health for a worker).
    pub port: u16,
    /// Its log file (stdout and stderr).
    pub log_path: PathBuf,
    child: Option<Child>,
}

/// Start `kind` on `database_url` with the repository's templates, `TASKER_ENV=test` and `env` on top
/// (e.g. `("TASKER__WORKER__LEASE_SECONDS", "2")`). Workers get `name` as their worker id; every connection
/// of the process carries `name` as its `application_name`.
pub fn spawn(kind: Kind, name: &str, database_url: &str, env: &[(&str, &str)]) -> Proc {
    let root = workspace_root();
    let binary = bin_dir().join(match kind {
        Kind::Server => "tasker-server",
        Kind::Worker => "tasker-worker",
    });
    let port = free_port();
    let db = database_url.rsplit('/').next().unwrap_or("db").split('?').next().unwrap_or("db");
    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faults");
    std::fs::create_dir_all(&log_dir).expect("create log dir");
    let log_path = log_dir.join(format!("{db}-{name}.log"));
    let log = File::create(&log_path).expect("create log file");
    // Tag every connection with the process name, so tests can find its sessions in pg_stat_activity.
    let tagged_url =
        format!("{database_url}{}application_name={name}", if database_url.contains('?') { '&' } else { '?' });
    let mut cmd = Command::new(&binary);
    cmd.current_dir(&root)
        .env("DATABASE_URL", tagged_url)
        .env("TASKER_ENV", "test")
        .env("TASKER_CONFIG_DIR", root.join("config/tasker"))
        .env("TASKER_TEMPLATE_PATH", root.join("config/templates"))
        .env("TASKER_BIND", format!("127.0.0.1:{port}"))
        .env("TASKER_WORKER_BIND", format!("127.0.0.1:{port}"))
        .env("TASKER__DATABASE__MAX_CONNECTIONS", "4")
        .env("TASKER__WORKER__POLL_INTERVAL_MS", "200")
        .env("TASKER__ORCHESTRATION__POLL_INTERVAL_MS", "200")
        .env("RUST_LOG", "info,sqlx=warn")
        .env("NO_COLOR", "1")
        .env_remove("TASKER_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log);
    if kind == Kind::Worker {
        cmd.env("TASKER__WORKER__WORKER_ID", name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    Proc { name: name.to_string(), port, log_path, child: Some(child) }
}

impl Proc {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("process already reaped").id()
    }

    /// Send a signal by name (`STOP`, `CONT`, `TERM`, `KILL`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().expect("run kill(1)");
        assert!(status.success(), "kill -{signal} {} failed", self.name);
    }

    /// SIGKILL and reap; returns the exit status.
    pub fn kill(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("process already reaped");
        let _ = child.kill();
        child.wait().expect("reap killed process")
    }

    /// Wait up to `limit` for the process to exit by itself and reap it; `None` if it is still running
    /// (it is then left running, and killed on drop).
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let child = self.child.as_mut().expect("process already reaped");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether it has exited (without reaping a still-running process).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            None => true,
            Some(c) => c.try_wait().expect("try_wait").is_some(),
        }
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Wait until `/health/ready` answers 200 (the server has prepared the database and registered the
    /// templates; the worker's claim loops run). Panics with the log if it exits or takes over a minute.
    pub async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("{} exited during start-up ({status}); log:\n{}", self.name, tail(&self.log(), 60));
            }
            if let Ok((200, _)) = try_http(self.port, "GET", "/health/ready", None).await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} not ready after 60 s; log:\n{}",
                self.name,
                tail(&self.log(), 60)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- log of {} ({}) ----\n{}", self.name, self.log_path.display(), tail(&self.log(), 40));
        } else {
            // Logs are kept only for failed tests.
            let _ = std::fs::remove_file(&self.log_path);
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Start a server and wait until it is ready.
pub async fn start_server(name: &str, database_url: &str, env: &[(&str, &str)]) -> Proc {
    let mut p = spawn(Kind::Server, name, database_url, env);
    p.wait_ready().await;
    p
}

/// Start a worker and wait until it is ready.
pub async fn start_worker(name: &str, database_url: &str, env: &[(&str, &str)]) -> Proc {
    let mut p = spawn(Kind::Worker, name, database_url, env);
    p.wait_ready().await;
    p
}

/// A server and two workers (`worker-a`, `worker-b`) whose leases last `lease_seconds`, all ready.
pub async fn server_and_two_workers(database_url: &str, lease_seconds: u32) -> (Proc, Proc, Proc) {
    let lease = lease_seconds.to_string();
    let env = [("TASKER__WORKER__LEASE_SECONDS", lease.as_str())];
    let server = start_server("server", database_url, &[]).await;
    let a = start_worker("worker-a", database_url, &env).await;
    let b = start_worker("worker-b", database_url, &env).await;
    (server, a, b)
}

/// One HTTP/1.1 request to 127.0.0.1:`port` (Connection: close); the status and the JSON body
/// (`Null` when the body is not JSON).
pub async fn try_http(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<(u16, Value)> {
    let method = method.to_string();
    let path = path.to_string();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    tokio::task::spawn_blocking(move || -> std::io::Result<(u16, Value)> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no end of headers"))?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no status"))?;
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        let payload = if chunked { dechunk(rest) } else { rest.to_string() };
        Ok((status, serde_json::from_str(&payload).unwrap_or(Value::Null)))
    })
    .await
    .expect("HTTP thread")
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// `GET path` on 127.0.0.1:`port` as text (Prometheus metrics, say).
pub async fn get_text(port: u16, path: &str) -> String {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        raw.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
    })
    .await
    .expect("HTTP thread")
}

/// [`try_http`] that panics on a transport error.
pub async fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    try_http(port, method, path, body).await.unwrap_or_else(|e| panic!("{method} {path} on port {port}: {e}"))
}

/// `POST /v1/tasks` on a server process; expects 201 and returns the task uuid.
pub async fn create_task(port: u16, namespace: &str, name: &str, context: Value) -> uuid::Uuid {
    let body = serde_json::json!({"namespace": namespace, "name": name, "context": context});
    let (status, created) = http(port, "POST", "/v1/tasks", Some(&body)).await;
    assert_eq!(status, 201, "create {namespace}/{name}: {created}");
    created["task_uuid"].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no task_uuid in {created}"))
}

// ---- Database observations ------------------------------------------------------------------------------

/// SIGSTOP `proc` at a moment when it holds no open transaction (a frozen transaction would hold row locks
/// and block everyone, which is a different fault): stop, look for a connection of this database left idle in
/// a transaction, and if there is one, resume and try again.
pub async fn stop_between_transactions(proc: &Proc, pool: &PgPool) {
    for _ in 0..50 {
        proc.signal("STOP");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let open = scalar(
            pool,
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND state LIKE 'idle in transaction%' AND now() - state_change > interval '200 milliseconds'",
        )
        .await;
        if open == 0 {
            return;
        }
        proc.signal("CONT");
        tokio::time::sleep(Duration::from_millis(37)).await;
    }
    panic!("{} was frozen inside a transaction 50 times", proc.name);
}
