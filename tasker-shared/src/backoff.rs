//! Retry backoff: exponential with full jitter in the upper half, capped, unless the handler asked for an
//! explicit `retry_after`.

use rand::Rng;
use std::time::Duration;

/// The delay before attempt `attempt + 1`, after `attempt` attempts have failed (`attempt` ≥ 1).
///
/// The un-jittered delay is `base_ms · 2^(attempt-1)` capped at `max_ms`; the returned delay is uniformly drawn
/// from `[d/2, d]` so that retries of many steps spread out instead of arriving together.
pub fn retry_delay(attempt: i32, base_ms: u64, max_ms: u64, retry_after: Option<Duration>) -> Duration {
    if let Some(explicit) = retry_after {
        return explicit;
    }
    let exp = attempt.saturating_sub(1).clamp(0, 32) as u32;
    let uncapped = base_ms.saturating_mul(1u64 << exp);
    let capped = uncapped.min(max_ms).max(1);
    let low = capped / 2;
    Duration::from_millis(rand::rng().random_range(low..=capped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_bounds() {
        for attempt in 1..=6 {
            let d = retry_delay(attempt, 100, 1_000_000, None).as_millis() as u64;
            let full = 100 * (1 << (attempt - 1));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} not in [{}, {full}]", full / 2);
        }
    }

    #[test]
    fn is_capped() {
        for _ in 0..50 {
            assert!(retry_delay(40, 200, 30_000, None) <= Duration::from_millis(30_000));
        }
    }

    #[test]
    fn explicit_retry_after_wins() {
        let d = retry_delay(3, 100, 1000, Some(Duration::from_secs(7)));
        assert_eq!(d, Duration::from_secs(7));
    }
}
