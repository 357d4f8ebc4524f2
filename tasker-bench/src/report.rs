//! The benchmark report: a table for people, one JSON object for machines.

use crate::fan_out::FanOut;
use crate::floor::Floor;
use crate::scenarios::{Latency, LoadCost, Throughput};
use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct Report {
    pub mode: String,
    /// The mean of the two measurements below: what the ratios are taken against.
    pub floor: Floor,
    pub floor_before: Floor,
    pub floor_after: Floor,
    pub throughput: Throughput,
    pub linear: Latency,
    pub diamond: Latency,
    pub loaded: Latency,
    pub loaded_cost: LoadCost,
    pub linear_relaxed: Latency,
    pub diamond_relaxed: Latency,
    pub idle_cpu_percent: f64,
    pub shutdown_ms: f64,
    pub fan_out: FanOut,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

impl Report {
    pub fn to_json(&self) -> Value {
        let t = &self.throughput;
        let f = &self.floor;
        json!({
            "mode": self.mode,
            "processes": "in-process (orchestration server + worker in the bench process), PostgreSQL over TCP",
            "steps_per_sec": t.steps_per_sec,
            "tasks_per_sec": t.tasks_per_sec,
            "pgmq_single_cycles_per_sec": f.pgmq_single_cycles_per_sec,
            "pgmq_batched_cycles_per_sec": f.pgmq_batched_cycles_per_sec,
            "commit_rate_per_sec": f.commit_rate_per_sec,
            "steps_per_sec_vs_pgmq_batched": ratio(t.steps_per_sec, f.pgmq_batched_cycles_per_sec),
            "steps_per_sec_vs_pgmq_single": ratio(t.steps_per_sec, f.pgmq_single_cycles_per_sec),
            "steps_per_sec_vs_commit_rate": ratio(t.steps_per_sec, f.commit_rate_per_sec),
            "linear4_p50_ms": self.linear.p50_ms,
            "linear4_p95_ms": self.linear.p95_ms,
            "linear4_p99_ms": self.linear.p99_ms,
            "diamond_p50_ms": self.diamond.p50_ms,
            "diamond_p99_ms": self.diamond.p99_ms,
            "linear4_relaxed_commit_p50_ms": self.linear_relaxed.p50_ms,
            "linear4_relaxed_commit_p99_ms": self.linear_relaxed.p99_ms,
            "diamond_relaxed_commit_p50_ms": self.diamond_relaxed.p50_ms,
            "loaded_p50_ms": self.loaded.p50_ms,
            "loaded_p99_ms": self.loaded.p99_ms,
            "loaded_machine_busy_percent": self.loaded_cost.machine_busy_percent,
            "loaded_machine_cpu_us_per_step": self.loaded_cost.machine_cpu_us_per_step,
            "commits_per_step": t.commits_per_step,
            "wal_bytes_per_step": t.wal_bytes_per_step,
            "wal_range": t.wal_range,
            "machine_cpu_us_per_step": t.machine_cpu_us_per_step,
            "bench_cpu_us_per_step": t.bench_cpu_us_per_step,
            "statements_per_step": t.statements.as_ref().map(|s| s.statements_per_step),
            "statement_exec_ms_per_step": t.statements.as_ref().map(|s| s.exec_ms_per_step),
            "fan_out": self.fan_out,
            "idle_cpu_percent": self.idle_cpu_percent,
            "shutdown_ms": self.shutdown_ms,
            "fan_out_run_vs_static_steps_per_sec": ratio(self.fan_out.instances_run_per_sec, t.steps_per_sec),
            "details": {"floor": f, "floor_before": self.floor_before, "floor_after": self.floor_after, "throughput": t, "linear4": self.linear, "diamond": self.diamond, "loaded_linear4": self.loaded},
        })
    }

    pub fn print_table(&self) {
        let t = &self.throughput;
        let f = &self.floor;
        println!("Tasker benchmark ({} mode; in-process server + worker, PostgreSQL over TCP)", self.mode);
        println!("{:-<78}", "");
        println!("{:<44} {:>14} {:>18}", "figure", "value", "ratio");
        let row = |name: &str, v: String, r: String| println!("{name:<44} {v:>14} {r:>18}");
        row("floor: commit rate (1-row txn/s)", format!("{:.0}", f.commit_rate_per_sec), "baseline".into());
        row(
            "floor: pgmq single send+read+delete /s",
            format!("{:.0}", f.pgmq_single_cycles_per_sec),
            "baseline".into(),
        );
        row("floor: pgmq batched(100) cycles /s", format!("{:.0}", f.pgmq_batched_cycles_per_sec), "baseline".into());
        row(
            "  (measured before / after the burst)",
            format!(
                "{:.0}/{:.0}",
                self.floor_before.pgmq_batched_cycles_per_sec, self.floor_after.pgmq_batched_cycles_per_sec
            ),
            "mean is used".into(),
        );
        row(
            "throughput: steps/s",
            format!("{:.0}", t.steps_per_sec),
            format!("{:.1}% of batched", 100.0 * ratio(t.steps_per_sec, f.pgmq_batched_cycles_per_sec)),
        );
        row("", String::new(), format!("{:.2}x pgmq single", ratio(t.steps_per_sec, f.pgmq_single_cycles_per_sec)));
        row("", String::new(), format!("{:.2}x commit rate", ratio(t.steps_per_sec, f.commit_rate_per_sec)));
        row("throughput: tasks/s", format!("{:.0}", t.tasks_per_sec), format!("{} tasks", t.tasks));
        row("throughput: API submissions/s", format!("{:.0}", t.submit_per_sec), format!("{} clients", t.clients));
        row("commits per step", format!("{:.2}", t.commits_per_step), String::new());
        row("WAL bytes per step", format!("{:.0}", t.wal_bytes_per_step), String::new());
        row(
            "CPU per step, whole machine, us",
            format!("{:.0}", t.machine_cpu_us_per_step),
            format!("{:.0} in-process", t.bench_cpu_us_per_step),
        );
        match &t.statements {
            Some(s) => {
                row("statements per step", format!("{:.2}", s.statements_per_step), String::new());
                row("statement exec ms per step", format!("{:.3}", s.exec_ms_per_step), String::new());
            }
            None => row("statements per step", "n/a".into(), "no pg_stat_statements".into()),
        }
        for (name, l) in [
            ("linear 4-step", &self.linear),
            ("diamond", &self.diamond),
            ("linear under half load", &self.loaded),
            ("linear, async step commits", &self.linear_relaxed),
            ("diamond, async step commits", &self.diamond_relaxed),
        ] {
            row(
                &format!("latency {name}: p50 / p95 / p99 ms"),
                format!("{:.1}/{:.1}/{:.1}", l.p50_ms, l.p95_ms, l.p99_ms),
                format!("n={}", l.samples),
            );
        }
        row(
            "CPU per step under half load, whole machine, us",
            format!("{:.0}", self.loaded_cost.machine_cpu_us_per_step),
            format!("{:.0}% busy", self.loaded_cost.machine_busy_percent),
        );
        let fo = &self.fan_out;
        row(
            &format!("fan-out of {}: instances created /s", fo.batches),
            format!("{:.0}", fo.instances_created_per_sec),
            format!("{:.1} ms, upper bound", fo.creation_ms),
        );
        row(
            "fan-out: instances run /s (to convergence)",
            format!("{:.0}", fo.instances_run_per_sec),
            format!("{:.2}x static steps/s", ratio(fo.instances_run_per_sec, t.steps_per_sec)),
        );
        row(
            "fan-out: to convergence / whole task, ms",
            format!("{:.0}/{:.0}", fo.fan_out_to_convergence_ms, fo.task_ms),
            String::new(),
        );
        row("idle CPU (server + worker), % of a core", format!("{:.2}", self.idle_cpu_percent), String::new());
        row("shutdown with steps in flight, ms", format!("{:.0}", self.shutdown_ms), String::new());
        if let Some(s) = &t.statements {
            println!("\ncostliest statements of the throughput run (pg_stat_statements):");
            println!("{:>8} {:>10} {:>8} {:>9}  statement", "calls", "total ms", "ms/step", "rows");
            for c in &s.top {
                let per_step = c.total_ms / t.steps.max(1) as f64;
                println!("{:>8} {:>10.1} {:>8.4} {:>9}  {}", c.calls, c.total_ms, per_step, c.rows, c.query);
            }
        }
    }
}
