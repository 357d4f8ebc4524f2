//! Logging and metrics set-up shared by the binaries: `tracing` (JSON when `TASKER_LOG_FORMAT=json` or in
//! production) and one process-wide Prometheus recorder.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often recorded histogram samples are folded into their buckets. The recorder keeps every sample in
/// a growing buffer until this upkeep (or a scrape) drains it, so without it a worker that is never scraped
/// grows by ~9 bytes a step for ever.
pub const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Bucket bounds (seconds) of the duration histograms: 1 ms to 5 minutes.
const DURATION_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Install the global tracing subscriber (idempotent). Filter from `RUST_LOG`, default `info`.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = std::env::var("TASKER_LOG_FORMAT").map(|v| v == "json").unwrap_or(false)
        || std::env::var("TASKER_ENV").map(|v| v == "production").unwrap_or(false);
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// The process-wide Prometheus handle; installs the recorder and starts its upkeep thread on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
            .expect("duration buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (e.g. by an embedding application); then ours only renders.
        let _ = metrics::set_global_recorder(recorder);
        // A plain thread rather than a tokio task: the bindings run their own runtimes, and the recorder is
        // process-wide. It only drains buffers, once a second.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("tasker-metrics-upkeep".into()).spawn(move || loop {
            std::thread::sleep(METRICS_UPKEEP_INTERVAL);
            upkeep.run_upkeep();
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the metrics upkeep thread; histograms drain only when scraped");
        }
        handle
    })
}
