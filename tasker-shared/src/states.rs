//! Task and step states, their string forms (lowercase snake case, as stored and served) and the transitions
//! each state machine allows. Every transition in the database is a guarded `UPDATE … WHERE state = <expected>`
//! plus an audit row; these enums are the vocabulary of those statements.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The lifecycle of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Created, not yet initialised (the audit trail's starting point).
    Pending,
    /// Created with a `run_at` in the future: its root steps are enqueued when that time comes.
    Scheduled,
    /// Its template's concurrency limit is reached: it starts when a running task of its gate (and key) ends.
    Queued,
    /// Steps are enqueued, running or waiting for their dependencies or retries.
    StepsInProcess,
    /// Every step completed.
    Complete,
    /// A step failed permanently (or exhausted its retries) and nothing else can progress.
    Error,
    /// Cancelled by an operator.
    Cancelled,
    /// An operator resolved a failed task by hand.
    ResolvedManually,
}

/// The lifecycle of a workflow step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Waiting for its dependencies.
    Pending,
    /// A message for it is in its namespace queue.
    Enqueued,
    /// Claimed by a worker under a lease.
    InProgress,
    /// A worker reported its outcome; orchestration has not applied it yet.
    EnqueuedForOrchestration,
    /// Completed with a result.
    Complete,
    /// Failed permanently or exhausted its attempts.
    Error,
    /// Failed with a retryable error; a delayed message will bring it back.
    WaitingForRetry,
    /// Cancelled with its task.
    Cancelled,
    /// Resolved by an operator with a result.
    ResolvedManually,
}

macro_rules! string_forms {
    ($ty:ident { $($variant:ident => $s:literal),* $(,)? }) => {
        impl $ty {
            /// Every state, in lifecycle order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The stored and served string form.
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $s),* }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                match s {
                    $($s => Ok($ty::$variant),)*
                    other => Err(UnknownState(other.to_string())),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_forms!(TaskState {
    Pending => "pending",
    Scheduled => "scheduled",
    Queued => "queued",
    StepsInProcess => "steps_in_process",
    Complete => "complete",
    Error => "error",
    Cancelled => "cancelled",
    ResolvedManually => "resolved_manually",
});

string_forms!(StepState {
    Pending => "pending",
    Enqueued => "enqueued",
    InProgress => "in_progress",
    EnqueuedForOrchestration => "enqueued_for_orchestration",
    Complete => "complete",
    Error => "error",
    WaitingForRetry => "waiting_for_retry",
    Cancelled => "cancelled",
    ResolvedManually => "resolved_manually",
});

/// A state string that names no known state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`")]
pub struct UnknownState(pub String);

impl TaskState {
    /// Terminal states never change again (except `error`, which an operator may resolve or retry).
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Error | Self::Cancelled | Self::ResolvedManually)
    }

    /// Whether the task state machine allows `self → to`.
    pub fn can_transition_to(self, to: TaskState) -> bool {
        use TaskState::*;
        match (self, to) {
            (Pending, StepsInProcess | Scheduled | Queued) => true,
            (Scheduled, StepsInProcess | Queued) => true,
            (Queued, StepsInProcess) => true,
            (StepsInProcess, Complete | Error) => true,
            // An operator retries or resolves a failed task, or gives up on it.
            (Error, ResolvedManually | StepsInProcess | Cancelled) => true,
            (from, Cancelled) => !from.is_terminal(),
            _ => false,
        }
    }
}

impl StepState {
    /// Terminal step states: the step will not run again without an operator.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Error | Self::Cancelled | Self::ResolvedManually)
    }

    /// States that satisfy a dependency.
    pub const fn satisfies_dependency(self) -> bool {
        matches!(self, Self::Complete | Self::ResolvedManually)
    }

    /// Whether the step state machine allows `self → to`.
    ///
    /// `in_progress → in_progress` is a re-claim after an expired lease; `waiting_for_retry → in_progress` is the
    /// claim of a retry whose delayed message became visible (the `enqueued` hop is folded into the claim);
    /// `in_progress → enqueued` is a release at worker shutdown; `in_progress → complete` is a success the worker
    /// settled itself (the `enqueued_for_orchestration` hop is folded into it).
    pub fn can_transition_to(self, to: StepState) -> bool {
        use StepState::*;
        match (self, to) {
            (Pending, Enqueued) => true,
            (Enqueued | WaitingForRetry | InProgress, InProgress) => true,
            (InProgress, EnqueuedForOrchestration | Complete) => true,
            // A graceful shutdown gives an unfinished step back.
            (InProgress, Enqueued) => true,
            (EnqueuedForOrchestration, Complete | Error | WaitingForRetry) => true,
            (WaitingForRetry, Enqueued) => true,
            // An operator resolves a failed or retrying step by hand, or retries a failed one.
            (Error | WaitingForRetry, ResolvedManually) => true,
            (Error, Enqueued) => true,
            (from, Cancelled) => !from.is_terminal(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_round_trip() {
        for s in StepState::ALL {
            assert_eq!(s.as_str().parse::<StepState>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for s in TaskState::ALL {
            assert_eq!(s.as_str().parse::<TaskState>().unwrap(), *s);
        }
        assert_eq!("steps_in_process".parse::<TaskState>(), Ok(TaskState::StepsInProcess));
        assert!("Complete".parse::<TaskState>().is_err());
    }

    #[test]
    fn step_happy_path_is_allowed() {
        use StepState::*;
        let reported = [Pending, Enqueued, InProgress, EnqueuedForOrchestration, Complete];
        let settled_by_worker = [Pending, Enqueued, InProgress, Complete];
        for pair in reported.windows(2).chain(settled_by_worker.windows(2)) {
            assert!(pair[0].can_transition_to(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
        assert!(!InProgress.can_transition_to(Error), "a failure is always decided by the orchestration");
    }

    #[test]
    fn terminal_steps_do_not_move_except_by_operator() {
        use StepState::*;
        assert!(!Complete.can_transition_to(InProgress));
        assert!(!Complete.can_transition_to(Cancelled));
        assert!(!Pending.can_transition_to(Complete));
        assert!(!EnqueuedForOrchestration.can_transition_to(InProgress));
        assert!(Error.can_transition_to(ResolvedManually));
        assert!(WaitingForRetry.can_transition_to(InProgress));
        assert!(InProgress.can_transition_to(Cancelled));
    }

    #[test]
    fn task_transitions() {
        use TaskState::*;
        assert!(Pending.can_transition_to(StepsInProcess));
        assert!(StepsInProcess.can_transition_to(Complete));
        assert!(StepsInProcess.can_transition_to(Error));
        assert!(!Complete.can_transition_to(Error));
        assert!(!Complete.can_transition_to(Cancelled));
        assert!(StepsInProcess.can_transition_to(Cancelled));
        assert!(Error.can_transition_to(ResolvedManually));
        assert!(Complete.is_terminal() && !StepsInProcess.is_terminal());
    }
}
