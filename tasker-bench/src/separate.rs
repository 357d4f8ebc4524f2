//! `--processes N`: the engine as deployed, a real `tasker-server` and N worker processes (Rust, Python or Ruby),
//! driven over HTTP: sequential latency, then a burst's throughput and CPU per step bracketed by the floor
//! references, as in the in-process run.

use crate::cluster::{Finalized, ScratchDatabase};
use crate::cpu::CpuTimes;
use crate::floor::{self, Floor};
use crate::scenarios::{distribution, Latency};
use crate::spawned::{Deployment, WorkerKind};
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Serialize)]
pub struct SeparateReport {
    pub worker: WorkerKind,
    pub processes: usize,
    /// One 4-step linear task at a time, submit → finalized.
    pub linear: Latency,
    pub tasks: usize,
    pub steps_per_sec: f64,
    /// `steps_per_sec` / the batched pgmq cycle rate (mean of before and after the burst).
    pub ratio_to_batched_pgmq: f64,
    pub machine_cpu_us_per_step: f64,
    pub floor_before: Floor,
    pub floor_after: Floor,
}

pub struct Plan {
    pub processes: usize,
    pub worker: WorkerKind,
    pub tasks: usize,
    pub samples: usize,
    pub clients: usize,
    pub floor_duration: Duration,
}

pub async fn run(admin_url: &str, plan: &Plan) -> anyhow::Result<SeparateReport> {
    let db = ScratchDatabase::create(admin_url).await?;
    let outcome = measure(&db, plan).await;
    db.drop_now().await;
    outcome
}

async fn measure(db: &ScratchDatabase, plan: &Plan) -> anyhow::Result<SeparateReport> {
    let deployment = Deployment::start(db, plan.worker, plan.processes).await?;
    eprintln!(
        "== {} {:?} worker process(es) and a server, over HTTP (logs in {})",
        plan.processes,
        plan.worker,
        deployment.logs.display()
    );
    let stop = CancellationToken::new();
    let pool = db.pool(10).await?;
    let finalized = Finalized::listen(&pool, stop.clone()).await?;
    let outcome = async {
        let api = &deployment.api;
        let namespace = plan.worker.namespace();
        eprintln!("== latency ({} sequential linear tasks)", plan.samples);
        let mut ms = Vec::with_capacity(plan.samples);
        for _ in 0..plan.samples {
            let started = Instant::now();
            let id = api.create_task(namespace, "linear_noop").await?;
            ms.push(finalized.wait_for(id).await.duration_since(started).as_secs_f64() * 1000.0);
        }
        let linear = distribution(ms);
        let floor_before = floor::measure(&pool, "before", 4, plan.floor_duration).await?;
        eprintln!("== throughput ({} tasks)", plan.tasks);
        let before = finalized.count();
        let cpu_before = CpuTimes::now();
        let started = Instant::now();
        api.submit_burst(namespace, plan.tasks, plan.clients).await?;
        let last = finalized.wait_count(before + plan.tasks).await;
        let cpu = CpuTimes::now().since(&cpu_before);
        let steps = plan.tasks * 4;
        let steps_per_sec = steps as f64 / last.duration_since(started).as_secs_f64();
        let floor_after = floor::measure(&pool, "after", 4, plan.floor_duration).await?;
        let batched = Floor::mean(&floor_before, &floor_after).pgmq_batched_cycles_per_sec;
        anyhow::Ok(SeparateReport {
            worker: plan.worker,
            processes: plan.processes,
            linear,
            tasks: plan.tasks,
            steps_per_sec,
            ratio_to_batched_pgmq: if batched > 0.0 { steps_per_sec / batched } else { 0.0 },
            machine_cpu_us_per_step: cpu.machine.as_secs_f64() * 1e6 / steps as f64,
            floor_before,
            floor_after,
        })
    }
    .await;
    stop.cancel();
    deployment.stop().await;
    outcome
}

impl SeparateReport {
    pub fn print(&self) {
        println!("separate processes: tasker-server + {} {:?} worker(s), over HTTP", self.processes, self.worker);
        let l = &self.linear;
        println!(
            "{:<40} {:>8.1} / {:.1} / {:.1}   n={}",
            "latency linear 4-step p50 / p95 / p99 ms", l.p50_ms, l.p95_ms, l.p99_ms, l.samples
        );
        println!(
            "{:<40} {:>8.0}   {:.1}% of batched pgmq ({:.0}/s), {} tasks",
            "throughput: steps/s",
            self.steps_per_sec,
            self.ratio_to_batched_pgmq * 100.0,
            Floor::mean(&self.floor_before, &self.floor_after).pgmq_batched_cycles_per_sec,
            self.tasks
        );
        println!("{:<40} {:>8.0}", "CPU per step, whole machine, us", self.machine_cpu_us_per_step);
    }
}
