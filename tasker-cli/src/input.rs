//! Reading what the user typed: JSON or YAML documents, times and durations.

use crate::error::{CliError, CliResult};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// A JSON document given inline (`what` names the option in errors).
pub fn json_arg(what: &str, text: &str) -> CliResult<Value> {
    serde_json::from_str(text).map_err(|e| CliError::Input(format!("{what} is not valid JSON: {e}")))
}

/// A file holding one JSON or YAML document.
pub fn document_file(path: &str) -> CliResult<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("cannot read {path}: {e}")))?;
    document(path, &text)
}

/// One JSON or YAML document (JSON is YAML, but JSON's own errors read better).
pub fn document(name: &str, text: &str) -> CliResult<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| CliError::Input(format!("{name} is neither JSON nor YAML: {e}")))
}

/// A duration: `90s`, `10m`, `2h`, `1d`, `500ms`, or whole seconds.
pub fn duration(text: &str) -> CliResult<Duration> {
    let t = text.trim();
    let bad = || CliError::Input(format!("`{text}` is not a duration (e.g. 30s, 10m, 2h, 1d)"));
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let per_unit = match unit {
        "" | "s" => 1,
        "ms" => return Ok(Duration::from_millis(n)),
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(per_unit).map(Duration::from_secs).ok_or_else(bad)
}

/// A time: RFC 3339, or `+DURATION` from now.
pub fn time(text: &str, now: DateTime<Utc>) -> CliResult<DateTime<Utc>> {
    if let Some(relative) = text.strip_prefix('+') {
        let too_far = || CliError::Input(format!("`{text}` is too far from now"));
        let d = chrono::Duration::from_std(duration(relative)?).map_err(|_| too_far())?;
        return now.checked_add_signed(d).ok_or_else(too_far);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| CliError::Input(format!("`{text}` is not a time (RFC 3339, or +10m from now)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_too_large_are_input_errors_not_panics() {
        assert!(matches!(duration("300000000000000d"), Err(CliError::Input(_))));
        assert!(matches!(time("+100000000d", Utc::now()), Err(CliError::Input(_))));
        assert_eq!(duration("2d").unwrap(), Duration::from_secs(172_800));
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("45").unwrap(), Duration::from_secs(45));
        assert!(duration("ten").is_err() && duration("5w").is_err());
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(time("+1h", now).unwrap().to_rfc3339(), "2026-12-02T11:00:00+00:00");
        assert_eq!(time("2026-12-03T00:00:00+01:00", now).unwrap().to_rfc3339(), "2026-12-02T23:00:00+00:00");
        assert!(time("tomorrow", now).is_err());
    }

    #[test]
    fn documents_are_json_or_yaml() {
        assert_eq!(document("x", "{\"a\": 1}").unwrap()["a"], 1);
        assert_eq!(document("x", "a: 1\nb: [x]\n").unwrap()["b"][0], "x");
        assert!(document("x", "{not: [json").is_err());
    }
}
