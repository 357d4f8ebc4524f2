//! `tasker-bench`: measures Tasker against floor references taken in the same run.
//!
//! ```sh
//! cargo run --release -p tasker-bench -- --quick          # under a minute
//! cargo run --release -p tasker-bench -- --json           # full run, one JSON object on stdout
//! cargo build --release --bins && cargo run --release -p tasker-bench -- --soak 10   # memory under load
//! ```
//!
//! `--soak MINUTES` is a separate mode: a real `tasker-server` and worker process (`--soak-worker rust|python|
//! ruby`) under back-to-back bursts, reporting their resident memory (see `soak.rs`). So is `--processes N`: a
//! real server and N worker processes (`--process-worker`), latency and throughput over HTTP (`separate.rs`), and
//! `--history STEPS`: throughput on a fresh database and again with STEPS completed steps in the tables.
//! Otherwise everything runs in this process (orchestration server + result processor + Rust worker with no-op
//! handlers, talking to PostgreSQL over TCP) on a fresh database that is created and dropped. See
//! `docs/performance.md` for the method and results.

mod cluster;
mod cpu;
mod fan_out;
mod floor;
mod history;
mod http;
mod offered_load;
mod report;
mod scenarios;
mod separate;
mod soak;
mod spawned;
mod statements;

use clap::Parser;
use report::Report;
use std::time::Duration;

/// Command-line options.
#[derive(Parser, Debug, Clone)]
#[command(about = "Tasker benchmark harness")]
pub struct Args {
    /// A small run (< 1 minute).
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Tasks in the throughput run (half linear, half diamond; 4 steps each).
    #[arg(long)]
    tasks: Option<usize>,
    /// Concurrent API clients submitting the throughput run's tasks.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Orchestration servers (result processors) in the cluster.
    #[arg(long, default_value_t = 1)]
    servers: usize,
    /// Workers in the cluster.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Sequential tasks per latency measurement.
    #[arg(long)]
    samples: Option<usize>,
    /// Seconds of idle measurement.
    #[arg(long)]
    idle_seconds: Option<u64>,
    /// Keep the scratch database at the end (its name is printed), to inspect transitions and timings.
    #[arg(long)]
    keep_database: bool,
    /// Soak mode: run bursts against separate server and worker processes for this many minutes and report
    /// their resident memory (start, every minute, end) and its growth per 100k steps.
    #[arg(long, value_name = "MINUTES")]
    soak: Option<f64>,
    /// The worker process of the soak.
    #[arg(long, value_enum, default_value = "rust")]
    soak_worker: spawned::WorkerKind,
    /// Separate processes: a real `tasker-server` and this many worker processes (`--process-worker`), driven
    /// over HTTP: sequential latency and a burst's throughput (`--tasks`, `--samples`).
    #[arg(long, value_name = "WORKERS")]
    processes: Option<usize>,
    /// History mode: a burst (`--tasks`) on a fresh database, then twice more after writing this many completed
    /// steps into the tables: does throughput hold as they fill?
    #[arg(long, value_name = "STEPS")]
    history: Option<usize>,
    /// The worker program of `--processes`.
    #[arg(long, value_enum, default_value = "rust")]
    process_worker: spawned::WorkerKind,
    /// Tasks per soak burst (half linear, half diamond).
    #[arg(long, default_value_t = 500)]
    soak_burst: usize,
    /// Soak at this steady rate (tasks/s, linear and diamond alternately) instead of bursts, and report the
    /// latency of each minute.
    #[arg(long, value_name = "TASKS_PER_SEC")]
    soak_rate: Option<f64>,
    /// Offer this rate (tasks/s) in the latency-under-load phase instead of half the measured maximum: compares
    /// two builds at the same load (half their own maxima differ when their throughput does).
    #[arg(long, value_name = "TASKS_PER_SEC")]
    load_rate: Option<f64>,
    /// Server to create the throwaway database on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    admin_url: String,
}

impl Args {
    fn tasks(&self) -> usize {
        self.tasks.unwrap_or(if self.quick { 400 } else { 4000 })
    }
    fn samples(&self) -> usize {
        self.samples.unwrap_or(if self.quick { 40 } else { 200 })
    }
    fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_seconds.unwrap_or(if self.quick { 3 } else { 30 }))
    }
    fn floor_duration(&self) -> Duration {
        Duration::from_secs(if self.quick { 2 } else { 5 })
    }
}

/// Print a mode's report: one JSON object with `--json`, else its table.
fn emit<R: serde::Serialize>(json: bool, report: &R, table: fn(&R)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        table(report);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.json {
        tasker_shared::observability::init_tracing();
    }
    if let Some(minutes) = args.soak {
        let load = match args.soak_rate {
            Some(rate) => soak::SoakLoad::Rate(rate),
            None => soak::SoakLoad::Bursts { burst: args.soak_burst, clients: args.clients },
        };
        let report = soak::run(&args.admin_url, minutes, args.soak_worker, load).await?;
        return emit(args.json, &report, soak::SoakReport::print);
    }
    if let Some(steps) = args.history {
        let report = history::run(&args.admin_url, steps, args.tasks(), args.clients).await?;
        return emit(args.json, &report, history::HistoryReport::print);
    }
    if let Some(processes) = args.processes {
        let plan = separate::Plan {
            processes,
            worker: args.process_worker,
            tasks: args.tasks(),
            samples: args.samples(),
            clients: args.clients,
            floor_duration: args.floor_duration(),
        };
        let report = separate::run(&args.admin_url, &plan).await?;
        return emit(args.json, &report, separate::SeparateReport::print);
    }
    let db = cluster::ScratchDatabase::create(&args.admin_url).await?;
    let outcome = run(&args, &db).await;
    if args.keep_database {
        eprintln!("== kept database {}", db.name);
    } else {
        db.drop_now().await;
    }
    let report = outcome?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        report.print_table();
    }
    Ok(())
}

async fn run(args: &Args, db: &cluster::ScratchDatabase) -> anyhow::Result<Report> {
    let mut report = Report { mode: if args.quick { "quick" } else { "full" }.into(), ..Default::default() };
    tasker_shared::db::prepare(&db.engine_pool(&cluster::bench_config(&db.url, true)).await?).await?;
    let pool = db.pool(10).await?;

    let cluster = cluster::Cluster::start(db, args.servers, args.workers, true).await?;
    // Latency first, on an idle machine and a fresh database.
    eprintln!("== latency ({} sequential tasks per shape)", args.samples());
    report.linear = scenarios::sequential_latency(&cluster, "linear_noop", args.samples()).await?;
    report.diamond = scenarios::sequential_latency(&cluster, "diamond_noop", args.samples()).await?;
    // The floor is measured right before and right after the burst, and the ratios use the mean: the machine's
    // speed drifts by tens of percent over a minute here, and bracketing the burst cancels most of that.
    eprintln!("== floor references (before the throughput run)");
    report.floor_before = floor::measure(&pool, "before", 4, args.floor_duration()).await?;
    eprintln!("== throughput ({} tasks)", args.tasks());
    report.throughput = scenarios::throughput(&cluster, args.tasks(), args.clients).await?;
    eprintln!("== floor references (after the throughput run)");
    report.floor_after = floor::measure(&pool, "after", 4, args.floor_duration()).await?;
    report.floor = floor::Floor::mean(&report.floor_before, &report.floor_after);
    // Let PostgreSQL clean up after the burst, as autovacuum would, before measuring the steady state.
    scenarios::vacuum(&cluster.pool).await?;
    let rate = args.load_rate.unwrap_or(report.throughput.tasks_per_sec / 2.0).max(1.0);
    let why = if args.load_rate.is_some() { "--load-rate" } else { "half the measured maximum" };
    eprintln!("== latency at {rate:.0} tasks/s offered ({why})");
    (report.loaded, report.loaded_cost) =
        scenarios::latency_under_load(&cluster, rate, args.floor_duration() * 2).await?;
    eprintln!("== fan-out (1,000 batch workers, {} round(s))", if args.quick { 1 } else { 3 });
    report.fan_out = fan_out::measure(&cluster, 1_000, if args.quick { 1 } else { 3 }).await?;
    eprintln!("== idle cost ({} s)", args.idle().as_secs());
    report.idle_cpu_percent = scenarios::idle_cpu_percent(args.idle()).await;
    eprintln!("== shutdown with steps in flight");
    report.shutdown_ms = scenarios::shutdown_ms(cluster).await?;

    eprintln!("== latency with synchronous_step_commits = false");
    let relaxed = cluster::Cluster::start(db, args.servers, args.workers, false).await?;
    report.linear_relaxed = scenarios::sequential_latency(&relaxed, "linear_noop", args.samples()).await?;
    report.diamond_relaxed = scenarios::sequential_latency(&relaxed, "diamond_noop", args.samples()).await?;
    scenarios::shutdown_ms(relaxed).await?;
    Ok(report)
}
