//! CPU time, read from `/proc`: this process's (server + worker + API clients, in-process) and the whole
//! machine's (PostgreSQL is the rest, the bench running alone). CPU time per step is a steadier measure of the
//! work a step costs than a rate on a machine whose speed drifts.

use std::time::Duration;

/// Clock ticks per second of `/proc`'s counters on Linux.
const TICKS_PER_SEC: f64 = 100.0;

/// CPU used so far by this process and by the whole machine (all cores).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    pub process: Duration,
    pub machine: Duration,
}

impl CpuTimes {
    pub fn now() -> Self {
        Self { process: process_cpu(), machine: machine_busy_cpu() }
    }

    /// CPU used since `earlier`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            process: self.process.saturating_sub(earlier.process),
            machine: self.machine.saturating_sub(earlier.machine),
        }
    }
}

fn ticks(n: f64) -> Duration {
    Duration::from_secs_f64(n / TICKS_PER_SEC)
}

/// utime + stime of this process: fields 14 and 15 of `/proc/self/stat`.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    ticks(field(11) + field(12))
}

/// Busy time of all cores: the first line of `/proc/stat` without idle and iowait.
fn machine_busy_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or("");
    let fields: Vec<f64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already counted in user)
    let busy: f64 = fields.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    ticks(busy)
}
