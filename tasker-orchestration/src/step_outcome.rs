//! What happens to a step whose outcome a worker reported: complete, retry after a backoff, or fail.

use chrono::Utc;
use std::time::Duration;
use tasker_shared::backoff::retry_delay;
use tasker_shared::states::StepState;
use uuid::Uuid;

/// The longest a retry waits, whatever a handler's `retry_after` asks: a year (a handler's absurd delay, 10^16 ms
/// say, would otherwise overflow the timestamp and stop the result processor).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A step whose reported outcome awaits orchestration.
pub(crate) struct ReportedStep {
    pub step_uuid: Uuid,
    pub attempts: i32,
    pub max_attempts: i32,
    pub backoff_base_ms: i32,
    pub backoff_max_ms: i32,
    pub error: Option<serde_json::Value>,
}

impl ReportedStep {
    /// Next state and, for a retry, when the retry message becomes visible.
    pub fn decide(&self) -> (StepState, Option<chrono::DateTime<Utc>>) {
        let Some(error) = &self.error else {
            return (StepState::Complete, None);
        };
        let retryable = error.get("retryable").and_then(|v| v.as_bool()).unwrap_or(false);
        if !retryable || self.attempts >= self.max_attempts {
            return (StepState::Error, None);
        }
        let explicit = error.get("retry_after_ms").and_then(|v| v.as_u64()).map(Duration::from_millis);
        let delay = retry_delay(self.attempts, self.backoff_base_ms as u64, self.backoff_max_ms as u64, explicit)
            .min(MAX_RETRY_DELAY);
        let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::zero());
        (StepState::WaitingForRetry, Some(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(attempts: i32, max: i32, error: Option<serde_json::Value>) -> ReportedStep {
        ReportedStep {
            step_uuid: Uuid::nil(),
            attempts,
            max_attempts: max,
            backoff_base_ms: 100,
            backoff_max_ms: 1000,
            error,
        }
    }

    #[test]
    fn success_completes() {
        assert_eq!(step(1, 3, None).decide().0, StepState::Complete);
    }

    #[test]
    fn retryable_error_retries_until_attempts_run_out() {
        let e = serde_json::json!({"message": "flaky", "retryable": true});
        let (state, at) = step(1, 3, Some(e.clone())).decide();
        assert_eq!(state, StepState::WaitingForRetry);
        assert!(at.unwrap() > Utc::now());
        assert_eq!(step(3, 3, Some(e)).decide().0, StepState::Error);
    }

    #[test]
    fn permanent_error_fails_at_once() {
        let e = serde_json::json!({"message": "no", "retryable": false});
        assert_eq!(step(1, 5, Some(e)).decide().0, StepState::Error);
    }

    #[test]
    fn retry_after_is_honoured() {
        let e = serde_json::json!({"message": "later", "retryable": true, "retry_after_ms": 60_000});
        let (_, at) = step(1, 3, Some(e)).decide();
        let wait = at.unwrap() - Utc::now();
        assert!(wait > chrono::Duration::seconds(55), "{wait}");
    }

    #[test]
    fn an_absurd_retry_after_waits_a_year_at_most() {
        for ms in [10_000_000_000_000_000u64, u64::MAX] {
            let e = serde_json::json!({"message": "much later", "retryable": true, "retry_after_ms": ms});
            let (state, at) = step(1, 3, Some(e)).decide();
            assert_eq!(state, StepState::WaitingForRetry);
            let wait = at.unwrap() - Utc::now();
            assert!(wait > chrono::Duration::days(364) && wait <= chrono::Duration::days(365), "{wait}");
        }
    }
}
