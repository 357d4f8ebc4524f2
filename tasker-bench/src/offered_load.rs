//! A steady offered load over HTTP (`--soak-rate`): linear and diamond tasks alternately at a fixed rate, each timed
//! from submission to finalization, and the latencies summarized minute by minute, so drift shows.

use crate::cluster::Finalized;
use crate::http::Api;
use crate::scenarios::{distribution, Latency};
use serde::Serialize;
use std::time::{Duration, Instant};

/// One minute of the run: latencies of the tasks submitted in it.
#[derive(Debug, Serialize)]
pub struct MinuteLatency {
    pub minute: usize,
    pub latency: Latency,
}

/// Submit tasks at `rate` per second until `minutes` after `started`; returns each task's (submission second,
/// latency ms), waiting for the last ones to finish.
pub async fn offer(
    api: &Api,
    finalized: &Finalized,
    namespace: &'static str,
    rate: f64,
    started: Instant,
    minutes: f64,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut waits = Vec::new();
    let mut i = 0usize;
    while started.elapsed().as_secs_f64() < minutes * 60.0 {
        ticker.tick().await;
        let (api, finalized) = (api.clone(), finalized.clone());
        let name = if i.is_multiple_of(2) { "linear_noop" } else { "diamond_noop" };
        i += 1;
        waits.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let id = api.create_task(namespace, name).await?;
            let done = tokio::time::timeout(Duration::from_secs(120), finalized.wait_for(id)).await?;
            anyhow::Ok((t0.duration_since(started).as_secs_f64(), done.duration_since(t0).as_secs_f64() * 1000.0))
        }));
    }
    let mut out = Vec::with_capacity(waits.len());
    for w in waits {
        out.push(w.await??);
    }
    Ok(out)
}

/// The latencies grouped by the minute they were submitted in.
pub fn per_minute(samples: &[(f64, f64)]) -> Vec<MinuteLatency> {
    let minutes = samples.iter().map(|(s, _)| (*s / 60.0) as usize).max().map_or(0, |m| m + 1);
    (0..minutes)
        .map(|minute| MinuteLatency {
            minute,
            latency: distribution(
                samples.iter().filter(|(s, _)| (*s / 60.0) as usize == minute).map(|(_, ms)| *ms).collect(),
            ),
        })
        .collect()
}
