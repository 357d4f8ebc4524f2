//! Logging and metrics set-up shared by the binaries: `tracing` (JSON when `TASKER_LOG_FORMAT=json` or in
//! production) and one process-wide Prometheus recorder.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the global tracing subscriber (idempotent). Filter from `RUST_LOG`, default `info`.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = std::env::var("TASKER_LOG_FORMAT").map(|v| v == "json").unwrap_or(false)
        || std::env::var("TASKER_ENV").map(|v| v == "production").unwrap_or(false);
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// The process-wide Prometheus handle; installs the recorder on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (e.g. by an embedding application); then ours only renders.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
