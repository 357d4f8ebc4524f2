//! `[retention]`: how long finished tasks are kept, and the durations it is written in (`"30d"`, `"12h"`, `"5s"`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// A duration written as a whole number and a unit: `ms`, `s`, `m`, `h` or `d` (`"30d"`, `"90s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parse `"<n><unit>"`; the error says what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let n: u64 =
            number.parse().map_err(|_| format!("`{text}` is not a duration such as \"30d\", \"12h\" or \"5s\""))?;
        let seconds = match unit {
            "ms" => return Ok(Self(Duration::from_millis(n))),
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(format!("`{text}`: the unit must be one of ms, s, m, h, d")),
        };
        n.checked_mul(seconds).map(|s| Self(Duration::from_secs(s))).ok_or_else(|| format!("`{text}` is too long"))
    }
}

impl std::fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        let units = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")];
        match units.iter().find(|(size, _)| ms > 0 && ms.is_multiple_of(*size)) {
            Some((size, unit)) => write!(f, "{}{unit}", ms / size),
            None if ms == 0 => write!(f, "0s"),
            None => write!(f, "{ms}ms"),
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Deleting finished tasks (with their steps and audit trail) once they are old enough. One server sweeps at a
/// time, in small batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Whether the sweep runs at all.
    pub enabled: bool,
    /// Tasks that ended (`complete`, `cancelled`, `error`) longer ago than this are deleted.
    pub keep_terminal_tasks: HumanDuration,
    /// Tasks in `error` are kept this long instead, when set (dead letters often deserve longer).
    pub keep_failed_tasks: Option<HumanDuration>,
    /// How often the sweep looks for old tasks.
    pub interval: HumanDuration,
    /// Most tasks deleted per transaction.
    pub batch_size: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            keep_terminal_tasks: HumanDuration(Duration::from_secs(30 * 86_400)),
            keep_failed_tasks: None,
            interval: HumanDuration(Duration::from_secs(60)),
            batch_size: 500,
        }
    }
}

impl RetentionConfig {
    /// How long tasks in `error` are kept.
    pub fn keep_failed(&self) -> Duration {
        self.keep_failed_tasks.unwrap_or(self.keep_terminal_tasks).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit_and_print_back() {
        for (text, secs) in [("30d", 30 * 86_400), ("12h", 43_200), ("5m", 300), ("5s", 5)] {
            let d = HumanDuration::parse(text).unwrap();
            assert_eq!(d.0, Duration::from_secs(secs), "{text}");
            assert_eq!(d.to_string(), text);
        }
        assert_eq!(HumanDuration::parse("250ms").unwrap().0, Duration::from_millis(250));
        for bad in ["", "d", "5", "5 weeks", "-1d", "1.5h", "99999999999999999999d"] {
            assert!(HumanDuration::parse(bad).is_err(), "{bad}");
        }
    }
}
