//! How much runs at once: a template's concurrency limits (`concurrency:`) and a step's rate limit
//! (`rate_limit:`), as written in YAML, validated, and reduced to what a task row carries (`docs/scheduling.md`).

use super::TemplateError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most tasks of one template (or one key) a limit may let run at once.
pub const MAX_RUNNING: u32 = 100_000;

/// Highest `per_second` of a rate limit.
pub const MAX_PER_SECOND: f64 = 1_000_000.0;

/// Slowest rate limit: a token every ~11.6 days. (Slower ones put back step messages for longer than a
/// timestamp can count once a backlog waits.)
pub const MIN_PER_SECOND: f64 = 0.000_001;

/// Longest concurrency key value, in bytes (it is indexed).
pub const MAX_KEY_VALUE_LEN: usize = 255;

/// `concurrency:` of a template: one limit, or a list of at most one whole-template limit and one keyed limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConcurrencySpec {
    /// `concurrency: {key: customer_id, max_running: 2}`.
    One(ConcurrencyLimit),
    /// `concurrency: [{max_running: 10}, {key: customer_id, max_running: 2}]`.
    Many(Vec<ConcurrencyLimit>),
}

/// One concurrency limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyLimit {
    /// A context field (`customer_id`) or JSON pointer (`/customer/id`) whose value is the key; unset, the limit
    /// holds for the whole template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Most tasks (with one key value, when keyed) running at once.
    pub max_running: u32,
}

/// What a task row carries of its template's limits (`tasks.concurrency_*`): tasks of one template share a
/// gate, and a keyed limit counts only the tasks whose context gives the same key value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLimits {
    /// Most tasks of the template running at once.
    pub max_running: Option<i32>,
    /// The key (field or pointer) of the keyed limit, and its most tasks per key value.
    pub keyed: Option<(String, i32)>,
}

impl ConcurrencySpec {
    /// The limits, as a list.
    pub fn limits(&self) -> &[ConcurrencyLimit] {
        match self {
            ConcurrencySpec::One(limit) => std::slice::from_ref(limit),
            ConcurrencySpec::Many(limits) => limits,
        }
    }

    /// Check the limits: each `max_running` within 1..=[`MAX_RUNNING`], keys non-empty pointers or fields, at
    /// most one limit without a key and one with.
    pub fn validate(&self) -> Result<(), TemplateError> {
        let limits = self.limits();
        if limits.is_empty() {
            return Err(TemplateError::new("concurrency", "lists no limit"));
        }
        for (i, limit) in limits.iter().enumerate() {
            let field = |name: &str| match self {
                ConcurrencySpec::One(_) => format!("concurrency.{name}"),
                ConcurrencySpec::Many(_) => format!("concurrency[{i}].{name}"),
            };
            if limit.max_running == 0 || limit.max_running > MAX_RUNNING {
                return Err(TemplateError::new(field("max_running"), format!("must be 1 to {MAX_RUNNING}")));
            }
            if let Some(key) = &limit.key {
                if key.trim().is_empty() || key == "/" || key.len() > 200 || key.chars().any(char::is_control) {
                    return Err(TemplateError::new(
                        field("key"),
                        "must name a context field or a JSON pointer (`/customer/id`): 1-200 characters, no control character",
                    ));
                }
            }
        }
        let keyed = limits.iter().filter(|l| l.key.is_some()).count();
        if keyed > 1 || limits.len() - keyed > 1 {
            return Err(TemplateError::new("concurrency", "takes at most one limit without a key and one with a key"));
        }
        Ok(())
    }

    /// What a task row carries of these limits.
    pub fn task_limits(&self) -> TaskLimits {
        let limits = self.limits();
        TaskLimits {
            max_running: limits.iter().find(|l| l.key.is_none()).map(|l| l.max_running as i32),
            keyed: limits.iter().find_map(|l| l.key.clone().map(|k| (k, l.max_running as i32))),
        }
    }
}

impl TaskLimits {
    /// The key value of a task with `context` under the keyed limit (`None` without one): a string value as it
    /// is, any other value as its JSON text. A missing or null value, or one longer than [`MAX_KEY_VALUE_LEN`]
    /// bytes, is an error naming the field.
    pub fn key_value(&self, context: &Value) -> Result<Option<String>, TemplateError> {
        let Some((key, _)) = &self.keyed else { return Ok(None) };
        let pointer =
            if key.starts_with('/') { key.clone() } else { format!("/{}", key.replace('~', "~0").replace('/', "~1")) };
        let field = || format!("context{}", pointer.replace('/', "."));
        let value = match context.pointer(&pointer) {
            None | Some(Value::Null) => {
                return Err(TemplateError::new(
                    field(),
                    format!("is required: the template limits how many tasks run at once per `{key}`"),
                ))
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if value.len() > MAX_KEY_VALUE_LEN {
            return Err(TemplateError::new(
                field(),
                format!("is {} bytes long; a concurrency key value may be at most {MAX_KEY_VALUE_LEN}", value.len()),
            ));
        }
        Ok(Some(value))
    }
}

/// `rate_limit:` of a step: every step naming the same key, in any task or template, draws from one token
/// bucket of `burst` tokens refilled at `per_second`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// The bucket's name, shared across templates.
    pub key: String,
    /// Tokens added per second (may be fractional: `0.5` is one every two seconds).
    pub per_second: f64,
    /// Most tokens the bucket holds (how many steps may start at once after a quiet spell); default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

impl RateLimitSpec {
    /// The bucket size.
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(1)
    }

    /// Check the limit of step `i`.
    pub fn validate(&self, i: usize) -> Result<(), TemplateError> {
        if self.key.trim().is_empty() || self.key.len() > 200 || self.key.chars().any(char::is_control) {
            return Err(TemplateError::new(
                format!("steps[{i}].rate_limit.key"),
                "must be 1-200 characters, none of them a control character",
            ));
        }
        if !(self.per_second.is_finite() && (MIN_PER_SECOND..=MAX_PER_SECOND).contains(&self.per_second)) {
            return Err(TemplateError::new(
                format!("steps[{i}].rate_limit.per_second"),
                format!("must be {MIN_PER_SECOND} to {MAX_PER_SECOND}"),
            ));
        }
        if self.burst == Some(0) || self.burst() > MAX_RUNNING {
            return Err(TemplateError::new(
                format!("steps[{i}].rate_limit.burst"),
                format!("must be 1 to {MAX_RUNNING}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(yaml: &str) -> ConcurrencySpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn one_limit_or_a_list_of_a_whole_and_a_keyed_one() {
        let one = spec("{key: customer_id, max_running: 2}");
        one.validate().unwrap();
        assert_eq!(one.task_limits(), TaskLimits { max_running: None, keyed: Some(("customer_id".into(), 2)) });
        let both = spec("[{max_running: 10}, {key: /customer/id, max_running: 2}]");
        both.validate().unwrap();
        assert_eq!(both.task_limits(), TaskLimits { max_running: Some(10), keyed: Some(("/customer/id".into(), 2)) });
        assert_eq!(spec("[{max_running: 1}, {max_running: 2}]").validate().unwrap_err().field, "concurrency");
        assert_eq!(spec("{max_running: 0}").validate().unwrap_err().field, "concurrency.max_running");
        assert_eq!(spec("[{key: '', max_running: 1}]").validate().unwrap_err().field, "concurrency[0].key");
        assert_eq!(spec("[]").validate().unwrap_err().field, "concurrency");
    }

    #[test]
    fn key_values_come_from_a_field_or_a_pointer_and_must_be_there() {
        let by_field = spec("{key: customer_id, max_running: 2}").task_limits();
        assert_eq!(by_field.key_value(&json!({"customer_id": "acme"})).unwrap(), Some("acme".into()));
        assert_eq!(by_field.key_value(&json!({"customer_id": 7})).unwrap(), Some("7".into()));
        let missing = by_field.key_value(&json!({"other": 1})).unwrap_err();
        assert_eq!(missing.field, "context.customer_id");
        assert!(by_field.key_value(&json!({"customer_id": null})).is_err());
        let by_pointer = spec("{key: /customer/id, max_running: 2}").task_limits();
        assert_eq!(by_pointer.key_value(&json!({"customer": {"id": "c1"}})).unwrap(), Some("c1".into()));
        assert_eq!(by_pointer.key_value(&json!({"customer": {}})).unwrap_err().field, "context.customer.id");
        let long = by_field.key_value(&json!({"customer_id": "x".repeat(256)})).unwrap_err();
        assert_eq!(long.field, "context.customer_id");
        assert!(by_field.key_value(&json!({"customer_id": "x".repeat(255)})).is_ok());
        let whole = spec("{max_running: 3}").task_limits();
        assert_eq!(whole.key_value(&json!({})).unwrap(), None);
    }

    #[test]
    fn rate_limits_need_a_key_a_positive_rate_and_a_burst() {
        let ok: RateLimitSpec = serde_saphyr::from_str("{key: email, per_second: 0.5}").unwrap();
        ok.validate(0).unwrap();
        assert_eq!(ok.burst(), 1);
        let zero: RateLimitSpec = serde_saphyr::from_str("{key: email, per_second: 0}").unwrap();
        assert_eq!(zero.validate(2).unwrap_err().field, "steps[2].rate_limit.per_second");
        let glacial: RateLimitSpec = serde_saphyr::from_str("{key: email, per_second: 1.0e-15}").unwrap();
        assert_eq!(glacial.validate(0).unwrap_err().field, "steps[0].rate_limit.per_second");
        let hourly: RateLimitSpec = serde_saphyr::from_str("{key: email, per_second: 0.0003}").unwrap();
        hourly.validate(0).unwrap();
        let no_burst: RateLimitSpec = serde_saphyr::from_str("{key: email, per_second: 5, burst: 0}").unwrap();
        assert_eq!(no_burst.validate(0).unwrap_err().field, "steps[0].rate_limit.burst");
        let no_key: RateLimitSpec = serde_saphyr::from_str("{key: ' ', per_second: 5}").unwrap();
        assert_eq!(no_key.validate(1).unwrap_err().field, "steps[1].rate_limit.key");
        let nul = RateLimitSpec { key: "a\u{0}b".into(), per_second: 1.0, burst: None };
        assert_eq!(nul.validate(0).unwrap_err().field, "steps[0].rate_limit.key");
    }
}
