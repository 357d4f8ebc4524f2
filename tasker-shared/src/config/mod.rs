//! Layered configuration: `config/tasker/base/*.toml`, then `config/tasker/environments/<TASKER_ENV>/*.toml`,
//! then `TASKER__SECTION__KEY` environment variables, then the well-known variables `DATABASE_URL`,
//! `TASKER_BIND`, `TASKER_WORKER_BIND` and `TASKER_TEMPLATE_PATH`. Validated once at start-up.

mod auth;
mod retention;
mod scheduling;

pub use auth::{ApiKey, AuthConfig, CorsConfig};
pub use retention::{HumanDuration, RetentionConfig};
pub use scheduling::SchedulingConfig;

use crate::error::{Result, TaskerError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole Tasker configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskerConfig {
    /// Database connection settings.
    pub database: DatabaseConfig,
    /// Orchestration server settings.
    pub orchestration: OrchestrationConfig,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// Defaults for steps whose template leaves retry or timeout unset.
    pub execution: ExecutionConfig,
    /// Where task templates are loaded from.
    pub templates: TemplatesConfig,
    /// API authentication.
    pub auth: AuthConfig,
    /// Cross-origin requests to the API.
    pub cors: CorsConfig,
    /// Deleting old finished tasks.
    pub retention: RetentionConfig,
    /// Delayed tasks, cron schedules and event triggers.
    pub scheduling: SchedulingConfig,
}

/// How a loop learns about new work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchMode {
    /// LISTEN/NOTIFY only.
    EventDriven,
    /// Poll at `poll_interval_ms` only.
    Polling,
    /// LISTEN/NOTIFY with a fallback poll.
    #[default]
    Hybrid,
}

impl DispatchMode {
    /// Whether this mode listens for notifications.
    pub fn listens(self) -> bool {
        !matches!(self, Self::Polling)
    }
    /// Whether this mode polls on a timer.
    pub fn polls(self) -> bool {
        !matches!(self, Self::EventDriven)
    }
}

/// Database connection settings. Its `Debug` output hides the URL's password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// PostgreSQL URL; `DATABASE_URL` overrides it.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a pooled connection.
    pub acquire_timeout_ms: u64,
    /// `statement_timeout` set on every connection (0 = none).
    pub statement_timeout_ms: u64,
    /// `idle_in_transaction_session_timeout` on every connection (0 = none): a process frozen inside a
    /// transaction (VM pause, partition, SIGSTOP) loses it after this long, so its locks and read messages
    /// go back to the others. Tasker's own transactions never idle.
    pub idle_in_transaction_timeout_ms: u64,
    /// Whether result-batch transactions (which apply outcomes, enqueue steps and finalize tasks) wait for their
    /// WAL flush (`synchronous_commit`), and whether a worker's settling commit waits when it finalizes a task. A
    /// worker's claims, reports and other settling commits never wait: the next durable commit flushes them (see
    /// `db::relaxed_commit_pool`).
    /// `false` trades durability of the last moments of step progress on a PostgreSQL crash (that work is
    /// redone: messages reappear, steps re-run) for roughly half the per-step latency. Task creation always
    /// commits synchronously.
    pub synchronous_step_commits: bool,
    /// Whether this process installs pgmq and applies the migrations at start-up (under an advisory lock, so
    /// concurrent starts are safe). `false`: it only checks that they are applied (waiting up to a minute for a
    /// migration job), as in the Kubernetes manifests, where `tasker-server migrate` runs them once.
    pub run_migrations: bool,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_password(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("idle_in_transaction_timeout_ms", &self.idle_in_transaction_timeout_ms)
            .field("synchronous_step_commits", &self.synchronous_step_commits)
            .field("run_migrations", &self.run_migrations)
            .finish()
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:<redacted>@host/db`; URLs without a password are unchanged.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_string(),
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "postgres://localhost:5432/tasker_development".into(),
            max_connections: 10,
            acquire_timeout_ms: 5_000,
            statement_timeout_ms: 30_000,
            idle_in_transaction_timeout_ms: 10_000,
            synchronous_step_commits: true,
            run_migrations: true,
        }
    }
}

/// Orchestration server settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrchestrationConfig {
    /// HTTP bind address; `TASKER_BIND` overrides it.
    pub bind: String,
    /// Most result messages processed in one transaction.
    pub batch_size: u32,
    /// Fallback poll interval.
    pub poll_interval_ms: u64,
    /// Event-driven, polling or hybrid.
    pub dispatch_mode: DispatchMode,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Deadline of one HTTP request.
    pub request_timeout_ms: u64,
    /// Grace period for in-flight work on SIGTERM.
    pub shutdown_grace_ms: u64,
    /// After activity, vacuum the queue tables at most this often (0: leave it to autovacuum).
    pub queue_vacuum_interval_ms: u64,
}

impl Default for OrchestrationConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            batch_size: 100,
            poll_interval_ms: 1_000,
            dispatch_mode: DispatchMode::Hybrid,
            max_body_bytes: 1024 * 1024,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 5_000,
            queue_vacuum_interval_ms: 1_000,
        }
    }
}

/// Worker settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Health/metrics bind address; `TASKER_WORKER_BIND` overrides it.
    pub bind: String,
    /// Name reported in `claimed_by`; defaults to host name and process id.
    pub worker_id: Option<String>,
    /// Most step messages read (and claimed) at once.
    pub batch_size: u32,
    /// Most steps running at once in this process.
    pub max_concurrency: u32,
    /// Lease (pgmq visibility timeout) of a claimed step, in seconds; extended by heartbeats while it runs.
    pub lease_seconds: u32,
    /// Fallback poll interval.
    pub poll_interval_ms: u64,
    /// Event-driven, polling or hybrid.
    pub dispatch_mode: DispatchMode,
    /// Grace period for in-flight steps on SIGTERM; unfinished ones are released.
    pub shutdown_grace_ms: u64,
    /// Complete successful `standard` steps in the worker (enqueueing their ready dependents and finalizing
    /// their tasks under the task lock, as the orchestration would) instead of reporting them to the
    /// orchestration: one hop less per step. Failures, decisions, batches, batch worker instances and gated tasks are always reported.
    pub settle_completions: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8081".into(),
            worker_id: None,
            batch_size: 50,
            max_concurrency: 64,
            lease_seconds: 30,
            poll_interval_ms: 1_000,
            dispatch_mode: DispatchMode::Hybrid,
            shutdown_grace_ms: 5_000,
            settle_completions: true,
        }
    }
}

/// Step defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutionConfig {
    /// Attempts when the template sets none.
    pub default_max_attempts: u32,
    /// First retry delay when the template sets none.
    pub default_backoff_base_ms: u64,
    /// Retry delay cap when the template sets none.
    pub default_backoff_max_ms: u64,
    /// Handler timeout when the template sets none.
    pub default_timeout_seconds: u32,
    /// Most batch worker instances one `batchable` step may create (more fails that step permanently).
    pub max_batch_instances: u32,
    /// Most branches one `decision` step may choose (more fails that step permanently).
    pub max_decision_branches: u32,
    /// Most steps one task may have, static and dynamic together (a decision or batch that would pass it fails).
    pub max_steps_per_task: u32,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        Self {
            default_max_attempts: 3,
            default_backoff_base_ms: 1_000,
            default_backoff_max_ms: 60_000,
            default_timeout_seconds: 60,
            max_batch_instances: 1_000,
            max_decision_branches: 100,
            max_steps_per_task: 10_000,
        }
    }
}

/// Template loading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Directory of YAML templates; `TASKER_TEMPLATE_PATH` overrides it.
    pub path: PathBuf,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self { path: PathBuf::from("config/templates") }
    }
}

fn invalid(key: &str, message: impl Into<String>) -> TaskerError {
    TaskerError::Config { key: key.into(), message: message.into() }
}

impl TaskerConfig {
    /// Load from `TASKER_CONFIG_DIR` (default `config/tasker`) for `TASKER_ENV` (default `development`),
    /// apply environment overrides and validate.
    pub fn load() -> Result<Self> {
        let dir = std::env::var("TASKER_CONFIG_DIR").unwrap_or_else(|_| "config/tasker".into());
        let env = std::env::var("TASKER_ENV").unwrap_or_else(|_| "development".into());
        Self::load_from(Path::new(&dir), &env, |k| std::env::var(k).ok())
    }

    /// Load from an explicit directory and environment name; `var` reads environment variables.
    pub fn load_from(dir: &Path, env: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut builder = config::Config::builder();
        for sub in [dir.join("base"), dir.join("environments").join(env)] {
            for file in toml_files(&sub) {
                builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
            }
        }
        // `vars_os`: `vars` panics on any variable that is not UTF-8, Tasker's or not.
        let overrides: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
            .filter(|(k, _)| k.starts_with("TASKER__"))
            .filter_map(|(k, _)| var(&k).map(|v| (k, v)))
            .collect();
        for (k, v) in overrides {
            let key = k.trim_start_matches("TASKER__").to_lowercase().replace("__", ".");
            builder = builder.set_override(key.clone(), v).map_err(|e| invalid(&key, e.to_string()))?;
        }
        let mut cfg: TaskerConfig = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| invalid(&config_error_key(&e), e.to_string()))?;
        if let Some(url) = var("DATABASE_URL") {
            cfg.database.url = url;
        }
        if let Some(bind) = var("TASKER_BIND") {
            cfg.orchestration.bind = bind;
        }
        if let Some(bind) = var("TASKER_WORKER_BIND") {
            cfg.worker.bind = bind;
        }
        if let Some(path) = var("TASKER_TEMPLATE_PATH") {
            cfg.templates.path = PathBuf::from(path);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check value ranges; the error names the offending key.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("database.max_connections", self.database.max_connections as u64),
            ("orchestration.batch_size", self.orchestration.batch_size as u64),
            ("orchestration.poll_interval_ms", self.orchestration.poll_interval_ms),
            ("worker.batch_size", self.worker.batch_size as u64),
            ("worker.max_concurrency", self.worker.max_concurrency as u64),
            ("worker.lease_seconds", self.worker.lease_seconds as u64),
            ("worker.poll_interval_ms", self.worker.poll_interval_ms),
            ("execution.default_max_attempts", self.execution.default_max_attempts as u64),
            ("execution.default_timeout_seconds", self.execution.default_timeout_seconds as u64),
            ("execution.max_batch_instances", self.execution.max_batch_instances as u64),
            ("execution.max_decision_branches", self.execution.max_decision_branches as u64),
            ("execution.max_steps_per_task", self.execution.max_steps_per_task as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "must be greater than zero"));
            }
            // Every one of these reaches SQL as a 32-bit integer (or a count of them).
            if value > i32::MAX as u64 {
                return Err(invalid(key, format!("must be at most {}", i32::MAX)));
            }
        }
        if !self.database.url.starts_with("postgres://") && !self.database.url.starts_with("postgresql://") {
            return Err(invalid("database.url", "must be a postgres:// URL"));
        }
        for (i, key) in self.auth.api_keys.iter().enumerate() {
            if key.sha256.len() != 64 || !key.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(&format!("auth.api_keys[{i}].sha256"), "must be 64 hex digits (a SHA-256 digest)"));
            }
        }
        // An empty secret (an unset variable behind a secretKeyRef, say) would sign tokens anyone can forge.
        if self.auth.jwt_secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(invalid("auth.jwt_secret", "must not be empty (unset it to accept no JWT)"));
        }
        if self.auth.enabled && self.auth.api_keys.is_empty() && self.auth.jwt_secret.is_none() {
            return Err(invalid("auth.enabled", "needs api_keys or jwt_secret"));
        }
        // Step messages are made visible up to four of these early (by priority): past a day, the arithmetic would
        // leave the timestamps' range long before it meant anything.
        if self.scheduling.max_priority_wait.0 > std::time::Duration::from_secs(86_400) {
            return Err(invalid("scheduling.max_priority_wait", "must be at most 1d"));
        }
        if self.scheduling.poll_interval.0.is_zero() || self.scheduling.batch_size == 0 {
            return Err(invalid("scheduling.poll_interval", "poll_interval and batch_size must be greater than zero"));
        }
        if self.retention.interval.0.is_zero() || self.retention.batch_size == 0 {
            return Err(invalid("retention.interval", "interval and batch_size must be greater than zero"));
        }
        if self.orchestration.max_body_bytes == 0 {
            return Err(invalid("orchestration.max_body_bytes", "must be greater than zero"));
        }
        if self.execution.default_backoff_base_ms > self.execution.default_backoff_max_ms {
            return Err(invalid("execution.default_backoff_base_ms", "must not exceed default_backoff_max_ms"));
        }
        Ok(())
    }
}

fn config_error_key(e: &config::ConfigError) -> String {
    let text = e.to_string();
    // config-rs reports e.g. `unknown field `x`, expected ... for key `worker`` or `... in path/file.toml`.
    text.rsplit_once("for key `")
        .map(|(_, rest)| rest.trim_end_matches('`').to_string())
        .unwrap_or_else(|| "(config)".into())
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn repo_config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/tasker")
    }

    #[test]
    fn the_shipped_configuration_parses_for_every_environment() {
        for env in ["development", "test", "production"] {
            let cfg = TaskerConfig::load_from(&repo_config_dir(), env, |_| None).unwrap();
            assert!(cfg.worker.batch_size > 0, "{env}");
        }
    }

    #[test]
    fn an_empty_jwt_secret_is_refused() {
        let mut cfg = TaskerConfig::load_from(&repo_config_dir(), "development", |_| None).unwrap();
        for empty in ["", "  "] {
            cfg.auth.jwt_secret = Some(empty.into());
            match cfg.validate() {
                Err(TaskerError::Config { key, .. }) => assert_eq!(key, "auth.jwt_secret"),
                other => panic!("an empty secret was accepted: {other:?}"),
            }
        }
        cfg.auth.jwt_secret = Some("a-secret".into());
        cfg.validate().unwrap();
    }

    #[test]
    fn values_past_what_sql_takes_are_refused_naming_the_key() {
        let base = TaskerConfig::load_from(&repo_config_dir(), "development", |_| None).unwrap();
        let key_of = |cfg: &TaskerConfig| match cfg.validate() {
            Err(TaskerError::Config { key, .. }) => key,
            other => panic!("accepted: {other:?}"),
        };
        let mut cfg = base.clone();
        cfg.orchestration.batch_size = u32::MAX;
        assert_eq!(key_of(&cfg), "orchestration.batch_size");
        let mut cfg = base.clone();
        cfg.scheduling.max_priority_wait = HumanDuration(std::time::Duration::from_secs(10 * 86_400));
        assert_eq!(key_of(&cfg), "scheduling.max_priority_wait");
    }

    #[test]
    fn environment_layer_overrides_base() {
        let base = TaskerConfig::load_from(&repo_config_dir(), "development", |_| None).unwrap();
        let test = TaskerConfig::load_from(&repo_config_dir(), "test", |_| None).unwrap();
        assert_ne!(base.worker.lease_seconds, test.worker.lease_seconds);
    }

    #[test]
    fn well_known_variables_override_files() {
        let vars: HashMap<&str, &str> = [
            ("DATABASE_URL", "postgres://db.example:5432/x"),
            ("TASKER_BIND", "0.0.0.0:9000"),
            ("TASKER_TEMPLATE_PATH", "/tmp/templates"),
        ]
        .into();
        let cfg =
            TaskerConfig::load_from(&repo_config_dir(), "development", |k| vars.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(cfg.database.url, "postgres://db.example:5432/x");
        assert_eq!(cfg.orchestration.bind, "0.0.0.0:9000");
        assert_eq!(cfg.templates.path, PathBuf::from("/tmp/templates"));
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("base")).unwrap();
        std::fs::write(dir.path().join("base/worker.toml"), "[worker]\nbatch_sise = 3\n").unwrap();
        let err = TaskerConfig::load_from(dir.path(), "development", |_| None).unwrap_err();
        assert!(err.to_string().contains("batch_sise"), "{err}");
    }

    #[test]
    fn zero_values_are_rejected_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("base")).unwrap();
        std::fs::write(dir.path().join("base/worker.toml"), "[worker]\nlease_seconds = 0\n").unwrap();
        let err = TaskerConfig::load_from(dir.path(), "development", |_| None).unwrap_err();
        assert!(matches!(&err, TaskerError::Config { key, .. } if key == "worker.lease_seconds"), "{err}");
    }

    #[test]
    fn missing_directory_gives_defaults() {
        let cfg = TaskerConfig::load_from(Path::new("/nonexistent"), "development", |_| None).unwrap();
        assert_eq!(cfg, TaskerConfig::default());
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let mut cfg = DatabaseConfig { url: "postgres://tasker:s3cret@db:5432/tasker".into(), ..Default::default() };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://tasker:<redacted>@db:5432/tasker"), "{shown}");
        cfg.url = "postgres://postgres@127.0.0.1:5432/postgres".into();
        assert!(format!("{cfg:?}").contains("postgres://postgres@127.0.0.1:5432/postgres"));
    }
}
