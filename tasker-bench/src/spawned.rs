//! The engine as separate processes, as deployed: a real `tasker-server` and workers (Rust, Python or Ruby) on a
//! scratch database, each on its own port, logging to files. Used by `--soak` and `--processes`.

use crate::cluster::ScratchDatabase;
use crate::http::Api;
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Which worker program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerKind {
    /// `tasker-worker` (the release binary next to this one), namespace `bench`.
    Rust,
    /// `bindings/python/bench/noop_worker.py` on `.venv/bin/python` (or `$PYTHON`), namespace `bench_py`.
    Python,
    /// `bindings/ruby/bench/noop_worker.rb` on `ruby` (or `$RUBY`), namespace `bench_rb`.
    Ruby,
}

impl WorkerKind {
    pub fn namespace(self) -> &'static str {
        match self {
            WorkerKind::Rust => "bench",
            WorkerKind::Python => "bench_py",
            WorkerKind::Ruby => "bench_rb",
        }
    }
}

/// A running server and its workers. Dropping it kills them; [`Deployment::stop`] terminates them cleanly.
pub struct Deployment {
    pub server: Child,
    pub workers: Vec<Child>,
    /// The server's API.
    pub api: Api,
    /// Where `server.log` and `worker-<i>.log` are.
    pub logs: PathBuf,
}

impl Deployment {
    /// Start the server, then `workers` workers of `kind`, each waited for until `/health/ready`.
    pub async fn start(db: &ScratchDatabase, kind: WorkerKind, workers: usize) -> anyhow::Result<Self> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize()?;
        let logs = std::env::temp_dir().join(format!("tasker-bench-{}", db.name));
        std::fs::create_dir_all(&logs)?;
        let server_port = free_port()?;
        let env = [
            ("DATABASE_URL", db.url.clone()),
            ("TASKER_BIND", format!("127.0.0.1:{server_port}")),
            ("RUST_LOG", "warn".into()),
        ];
        let mut server = spawn(sibling_binary("tasker-server")?, &[], &root, &env, &logs.join("server.log"))?;
        let api = Api::new(server_port);
        api.wait_ready(&mut server, "tasker-server", &logs.join("server.log")).await?;
        let (program, args) = worker_command(kind, &root)?;
        let mut children = Vec::with_capacity(workers);
        for i in 0..workers {
            let port = free_port()?;
            let mut worker_env = env.to_vec();
            worker_env.push(("TASKER_WORKER_BIND", format!("127.0.0.1:{port}")));
            if kind == WorkerKind::Rust {
                worker_env.push(("TASKER_TEMPLATE_PATH", root.join("config/templates/examples").display().to_string()));
            }
            let log = logs.join(format!("worker-{i}.log"));
            let mut child = spawn(program.clone(), &args, &root, &worker_env, &log)?;
            Api::new(port).wait_ready(&mut child, "worker", &log).await?;
            children.push(child);
        }
        Ok(Self { server, workers: children, api, logs })
    }

    /// SIGTERM every process, workers first.
    pub async fn stop(mut self) {
        for w in &mut self.workers {
            terminate(w).await;
        }
        terminate(&mut self.server).await;
    }
}

fn worker_command(worker: WorkerKind, root: &Path) -> anyhow::Result<(PathBuf, Vec<String>)> {
    Ok(match worker {
        WorkerKind::Rust => (sibling_binary("tasker-worker")?, vec![]),
        WorkerKind::Python => {
            let python = std::env::var_os("PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
            (python, vec!["bindings/python/bench/noop_worker.py".into()])
        }
        WorkerKind::Ruby => {
            let ruby = std::env::var_os("RUBY").map(PathBuf::from).unwrap_or_else(|| "ruby".into());
            (ruby, vec!["-I".into(), "bindings/ruby/lib".into(), "bindings/ruby/bench/noop_worker.rb".into()])
        }
    })
}

/// A binary built next to this one (`target/release/tasker-server` for a release bench).
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.parent().context("bench binary has no directory")?.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build it with the same profile as this bench (cargo build --release --bins)",
        path.display()
    );
    Ok(path)
}

fn spawn(program: PathBuf, args: &[String], cwd: &Path, env: &[(&str, String)], log: &Path) -> anyhow::Result<Child> {
    let out = std::fs::File::create(log)?;
    Command::new(&program)
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))
}

/// SIGTERM (through `kill`, this crate has no unsafe code), then SIGKILL after 10 s.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
