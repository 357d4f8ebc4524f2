//! The command line: global options and every command, with an example in each one's `--help`.

use crate::output::OutputMode;
use clap::{Args, Parser, Subcommand};

/// tasker: operate a Tasker server from the shell.
#[derive(Debug, Parser)]
#[command(
    name = "tasker",
    version,
    about,
    after_help = "\
Exit codes: 0 success; 1 the task ended in error or cancelled (--wait, watch); 2 usage error;
3 server unreachable or 5xx; 4 not found; 5 rejected input (4xx), with the server's message on stderr.

Example:
  tasker --server http://127.0.0.1:8080 task create linear_workflow/mathematical_sequence \\
      --context '{\"even_number\": 2}' --wait"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, before or after it.
#[derive(Debug, Args)]
pub struct Global {
    /// The server's base URL.
    #[arg(long, global = true, env = "TASKER_URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API key (sent as X-API-Key).
    #[arg(long, global = true, env = "TASKER_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// A JWT (sent as a bearer token).
    #[arg(long, global = true, env = "TASKER_TOKEN", hide_env_values = true, conflicts_with = "api_key")]
    pub token: Option<String>,
    /// `table` for people, `json` for scripts (default: table on a terminal, json otherwise).
    #[arg(long, global = true, value_enum)]
    pub output: Option<OutputMode>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, read, follow and act on tasks.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Act on one step.
    #[command(subcommand)]
    Step(StepCommand),
    /// Dead letters: tasks in error.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Task templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Counts, throughput and the slowest steps.
    #[command(after_help = "Example:\n  tasker stats --since 24h")]
    Stats {
        /// How far back (30m, 2h, 1d).
        #[arg(long, default_value = "1h")]
        since: String,
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Follow every task's events as they happen.
    #[command(after_help = "Example:\n  tasker events --namespace linear_workflow --output json")]
    Events {
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
        /// Start after this event id instead of now.
        #[arg(long)]
        after: Option<i64>,
    },
    /// Whether the server and its database are ready.
    #[command(after_help = "Example:\n  tasker health")]
    Health,
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  tasker completions bash > /etc/bash_completion.d/tasker")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Create a task from a template.
    #[command(
        after_help = "Examples:\n  tasker task create linear_workflow/mathematical_sequence --context '{\"even_number\": 2}'\n  \
        tasker task create orders/fulfil --context-file order.yaml --idempotency-key order-42 --wait --timeout 5m"
    )]
    Create(CreateArgs),
    /// A task with its steps, states, attempts, results and errors.
    #[command(after_help = "Example:\n  tasker task get 0193a1b2-…")]
    Get {
        /// The task.
        task_uuid: String,
    },
    /// Tasks, newest first.
    #[command(after_help = "Example:\n  tasker task list --namespace linear_workflow --state error --limit 20")]
    List {
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
        /// Only this state (steps_in_process, complete, error, cancelled, …).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Follow a task live until it ends.
    #[command(after_help = "Example:\n  tasker task watch 0193a1b2-…")]
    Watch {
        /// The task.
        task_uuid: String,
        /// Give up after this long (exit 3).
        #[arg(long)]
        timeout: Option<String>,
    },
    /// Cancel a task and its unfinished steps.
    #[command(after_help = "Example:\n  tasker task cancel 0193a1b2-… --reason 'customer withdrew'")]
    Cancel {
        /// The task.
        task_uuid: String,
        /// Why (kept in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Run a failed task's failed steps again, with fresh attempts.
    #[command(after_help = "Example:\n  tasker task retry 0193a1b2-…")]
    Retry {
        /// The task.
        task_uuid: String,
        /// Why (kept in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `tasker task create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// NAMESPACE/NAME of the template.
    pub template: String,
    /// The task's context, as JSON.
    #[arg(long, conflicts_with = "context_file")]
    pub context: Option<String>,
    /// A file holding the context, JSON or YAML.
    #[arg(long)]
    pub context_file: Option<String>,
    /// The template version (default: the newest active one).
    #[arg(long)]
    pub version: Option<String>,
    /// Creating twice with one key creates one task.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Priority (higher runs first).
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Start at this time: RFC 3339 or +DURATION (needs a server that schedules tasks).
    #[arg(long)]
    pub run_at: Option<String>,
    /// Wait until the task ends, showing progress; exit 1 if it ends in error or cancelled.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (exit 3).
    #[arg(long, requires = "wait")]
    pub timeout: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StepCommand {
    /// Resolve a failed or retrying step by hand with a result its dependents will read.
    #[command(
        after_help = "Example:\n  tasker step resolve 0193a1b2-… permanent_failure_step --result '{\"value\": \"42\"}' --reason 'ticket 123'"
    )]
    Resolve {
        /// The task.
        task_uuid: String,
        /// The step's name or uuid.
        step: String,
        /// The result, as JSON.
        #[arg(long)]
        result: String,
        /// Why (kept in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Failed tasks with their failed steps, newest first.
    #[command(after_help = "Example:\n  tasker dlq list --namespace error_workflow")]
    List {
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// The registered templates.
    #[command(after_help = "Example:\n  tasker template list")]
    List,
    /// Every version of one template.
    #[command(after_help = "Example:\n  tasker template show linear_workflow/mathematical_sequence")]
    Show {
        /// NAMESPACE/NAME.
        template: String,
    },
    /// Register template files (YAML or JSON).
    #[command(after_help = "Example:\n  tasker template register config/templates/*.yaml")]
    Register {
        /// The files.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Retire a version: no new tasks on it; running ones finish.
    #[command(after_help = "Example:\n  tasker template deactivate linear_workflow/mathematical_sequence/1.0.0")]
    Deactivate {
        /// NAMESPACE/NAME/VERSION.
        template: String,
    },
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
