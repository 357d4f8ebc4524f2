//! `--soak MINUTES`: a real `tasker-server` and a worker (Rust, Python or Ruby) as separate processes under
//! back-to-back bursts of tasks; their resident memory at the start, every minute and at the end, and how fast
//! it grows per 100k steps once warmed up. With `--soak-rate`, a steady offered load instead of bursts, and the
//! latency of each minute (`offered_load.rs`).

use crate::cluster::{Finalized, ScratchDatabase};
use crate::http::Api;
use crate::offered_load::{self, MinuteLatency};
use crate::spawned::{Deployment, WorkerKind};
use anyhow::Context;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One reading of both processes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub seconds: f64,
    pub steps: u64,
    pub server_kb: u64,
    pub worker_kb: u64,
}

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub worker: WorkerKind,
    pub minutes: f64,
    pub tasks: u64,
    pub steps: u64,
    pub steps_per_sec: f64,
    /// Samples before this many steps are warm-up (connections, caches, allocator arenas).
    pub warmup_steps: u64,
    /// Least-squares slope of resident memory over steps after warm-up, in KB per 100,000 steps.
    pub server_growth_kb_per_100k_steps: f64,
    pub worker_growth_kb_per_100k_steps: f64,
    /// Both processes 5 s after the last burst.
    pub idle_after: Sample,
    pub samples: Vec<Sample>,
    /// With an offered rate (tasks/s): the latency of the tasks submitted in each minute.
    pub offered_tasks_per_sec: Option<f64>,
    pub latency_by_minute: Vec<MinuteLatency>,
}

/// What the soak submits.
#[derive(Debug, Clone, Copy)]
pub enum SoakLoad {
    /// Back-to-back bursts of this many tasks from `clients` clients, each waited for.
    Bursts { burst: usize, clients: usize },
    /// This many tasks per second, steadily.
    Rate(f64),
}

/// How often both processes are read; every sixth reading (each minute) is printed.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

pub async fn run(admin_url: &str, minutes: f64, worker: WorkerKind, load: SoakLoad) -> anyhow::Result<SoakReport> {
    let db = ScratchDatabase::create(admin_url).await?;
    let outcome = soak(&db, minutes, worker, load).await;
    db.drop_now().await;
    outcome
}

async fn soak(db: &ScratchDatabase, minutes: f64, worker: WorkerKind, load: SoakLoad) -> anyhow::Result<SoakReport> {
    let deployment = Deployment::start(db, worker, 1).await?;
    let api = deployment.api.clone();
    let pids = (deployment.server.id().context("server pid")?, deployment.workers[0].id().context("worker pid")?);
    let logs = deployment.logs.clone();
    let what = match load {
        SoakLoad::Bursts { burst, .. } => format!("bursts of {burst} tasks"),
        SoakLoad::Rate(rate) => format!("{rate} tasks/s"),
    };
    eprintln!("== soak: {minutes} min of {what} on a {worker:?} worker (logs in {})", logs.display());

    let stop = CancellationToken::new();
    let finalized = Finalized::listen(&db.pool(1).await?, stop.clone()).await?;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let sampler = tokio::spawn(sample_every(pids, finalized.clone(), samples.clone(), started, stop.clone()));
    let namespace = worker.namespace();
    let result = match load {
        SoakLoad::Bursts { burst, clients } => {
            bursts(&api, &finalized, namespace, burst, clients, started, minutes).await.map(|()| Vec::new())
        }
        SoakLoad::Rate(rate) => offered_load::offer(&api, &finalized, namespace, rate, started, minutes).await,
    };
    let elapsed = started.elapsed().as_secs_f64();
    stop.cancel();
    let _ = sampler.await;
    let tasks = finalized.count() as u64;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_after = read(pids, tasks * 4, started)?;
    deployment.stop().await;
    let latencies = result?;

    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let warmup_seconds = (minutes * 60.0 / 5.0).min(60.0);
    let warmup_steps = samples.iter().find(|s| s.seconds >= warmup_seconds).map_or(0, |s| s.steps);
    let after: Vec<&Sample> = samples.iter().filter(|s| s.steps >= warmup_steps).collect();
    let per_100k = |kb: fn(&Sample) -> u64| slope(&after, kb) * 100_000.0;
    Ok(SoakReport {
        worker,
        minutes,
        tasks,
        steps: tasks * 4,
        steps_per_sec: (tasks * 4) as f64 / elapsed,
        warmup_steps,
        server_growth_kb_per_100k_steps: per_100k(|s| s.server_kb),
        worker_growth_kb_per_100k_steps: per_100k(|s| s.worker_kb),
        idle_after,
        samples,
        offered_tasks_per_sec: match load {
            SoakLoad::Rate(rate) => Some(rate),
            SoakLoad::Bursts { .. } => None,
        },
        latency_by_minute: offered_load::per_minute(&latencies),
    })
}

/// Bursts of `burst` tasks (half linear, half diamond), each waited for to the end, until `minutes` have passed.
async fn bursts(
    api: &Api,
    finalized: &Finalized,
    namespace: &'static str,
    burst: usize,
    clients: usize,
    started: Instant,
    minutes: f64,
) -> anyhow::Result<()> {
    let mut submitted = 0usize;
    while started.elapsed().as_secs_f64() < minutes * 60.0 {
        api.submit_burst(namespace, burst, clients).await?;
        submitted += burst;
        tokio::time::timeout(Duration::from_secs(120), finalized.wait_count(submitted))
            .await
            .context("a burst did not finish within 2 minutes")?;
    }
    Ok(())
}

async fn sample_every(
    pids: (u32, u32),
    finalized: Finalized,
    samples: Arc<Mutex<Vec<Sample>>>,
    started: Instant,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    let mut n = 0u64;
    eprintln!("{:>8} {:>10} {:>12} {:>12}", "minute", "steps", "server MB", "worker MB");
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.cancelled() => true,
        };
        let Ok(s) = read(pids, finalized.count() as u64 * 4, started) else { break };
        if last || n.is_multiple_of(6) {
            let mb = |kb: u64| kb as f64 / 1024.0;
            let minute = s.seconds / 60.0;
            eprintln!("{minute:>8.1} {:>10} {:>12.1} {:>12.1}", s.steps, mb(s.server_kb), mb(s.worker_kb));
        }
        samples.lock().unwrap().push(s);
        n += 1;
        if last {
            break;
        }
    }
}

fn read(pids: (u32, u32), steps: u64, started: Instant) -> anyhow::Result<Sample> {
    Ok(Sample {
        seconds: started.elapsed().as_secs_f64(),
        steps,
        server_kb: resident_kb(pids.0)?,
        worker_kb: resident_kb(pids.1)?,
    })
}

/// `VmRSS` of a process, in KB.
fn resident_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("process gone")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// Least-squares slope of `y` over steps.
fn slope(samples: &[&Sample], y: fn(&Sample) -> u64) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = samples.iter().map(|s| s.steps as f64).sum::<f64>() / n;
    let my = samples.iter().map(|s| y(s) as f64).sum::<f64>() / n;
    let sxy: f64 = samples.iter().map(|s| (s.steps as f64 - mx) * (y(s) as f64 - my)).sum();
    let sxx: f64 = samples.iter().map(|s| (s.steps as f64 - mx).powi(2)).sum();
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

impl SoakReport {
    pub fn print(&self) {
        let mb = |kb: u64| kb as f64 / 1024.0;
        let first = self.samples.first().copied().unwrap_or(self.idle_after);
        println!(
            "soak: {:?} worker, {:.1} min, {} tasks, {} steps ({:.0} steps/s)",
            self.worker, self.minutes, self.tasks, self.steps, self.steps_per_sec
        );
        println!("{:<34} {:>10} {:>10}", "resident memory (MB)", "server", "worker");
        println!("{:<34} {:>10.1} {:>10.1}", "at the start", mb(first.server_kb), mb(first.worker_kb));
        println!(
            "{:<34} {:>10.1} {:>10.1}",
            "idle 5 s after the last burst",
            mb(self.idle_after.server_kb),
            mb(self.idle_after.worker_kb)
        );
        println!(
            "{:<34} {:>10.3} {:>10.3}",
            format!("growth, MB per 100k steps (after {} warm-up steps)", self.warmup_steps),
            self.server_growth_kb_per_100k_steps / 1024.0,
            self.worker_growth_kb_per_100k_steps / 1024.0
        );
        if let Some(rate) = self.offered_tasks_per_sec {
            println!("latency by minute at {rate} tasks/s offered (ms, tasks submitted in that minute)");
            println!("{:>8} {:>8} {:>8} {:>8} {:>8}", "minute", "tasks", "p50", "p95", "p99");
            for m in &self.latency_by_minute {
                let l = &m.latency;
                println!("{:>8} {:>8} {:>8.1} {:>8.1} {:>8.1}", m.minute, l.samples, l.p50_ms, l.p95_ms, l.p99_ms);
            }
        }
    }
}
