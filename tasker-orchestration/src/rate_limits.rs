//! Rate limits (`rate_limit:` on a step, `docs/scheduling.md`): one token bucket per key in `tasker.rate_limits`,
//! shared by every step naming the key in any task or template. The buckets are declared here, when a template
//! is registered; workers draw tokens as they claim (`claim_steps.sql` in the worker foundation), so a step
//! without a token stays in its queue, unclaimed and with no attempt counted, until one is due.

use crate::error::Result;
use sqlx::PgPool;
use tasker_shared::template::TaskTemplate;

/// A bucket as `/metrics` shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct Bucket {
    pub key: String,
    /// Tokens left at the last claim (refills are computed when a claim draws).
    pub tokens: f64,
    /// Step messages put back for want of a token, since the bucket was declared.
    pub waits: i64,
}

/// Declare the buckets `template`'s steps name: a new key starts full; a known key takes this template's rate
/// and burst (the last registration wins; steps sharing a key should agree on it).
pub async fn declare(pool: &PgPool, template: &TaskTemplate) -> Result<()> {
    let limits: Vec<_> = template.steps.iter().filter_map(|s| s.rate_limit.as_ref()).collect();
    if limits.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tasker.rate_limits (key, per_second, burst, tokens)
         SELECT DISTINCT ON (key) key, per_second, burst, burst
         FROM unnest($1::text[], $2::float8[], $3::float8[]) AS l(key, per_second, burst)
         ON CONFLICT (key) DO UPDATE SET per_second = excluded.per_second, burst = excluded.burst,
             tokens = LEAST(tasker.rate_limits.tokens, excluded.burst)
         WHERE (tasker.rate_limits.per_second, tasker.rate_limits.burst)
               IS DISTINCT FROM (excluded.per_second, excluded.burst)",
    )
    .bind(limits.iter().map(|l| l.key.clone()).collect::<Vec<_>>())
    .bind(limits.iter().map(|l| l.per_second).collect::<Vec<_>>())
    .bind(limits.iter().map(|l| l.burst() as f64).collect::<Vec<_>>())
    .execute(pool)
    .await?;
    Ok(())
}

/// Every bucket, by key.
pub async fn buckets(pool: &PgPool) -> Result<Vec<Bucket>> {
    Ok(sqlx::query_as("SELECT key, tokens, waits FROM tasker.rate_limits ORDER BY key").fetch_all(pool).await?)
}
