//! Cron expressions as schedules use them: 5 fields (`minute hour day-of-month month day-of-week`, minute
//! resolution) or 6 (a leading `second`), in an IANA timezone. Day-of-week numbers are the usual cron ones (0 or
//! 7 = Sunday, 1 = Monday); names (`MON-FRI`) work too. Parsing and the calendar are the `cron` crate's; this
//! module adapts the field count and the day numbers to it (it counts days 1-7 from Sunday).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

/// A parsed cron expression and its timezone.
#[derive(Debug, Clone)]
pub struct CronSpec {
    schedule: cron::Schedule,
    timezone: Tz,
}

/// What is wrong with a cron expression or timezone, and which of the two (`cron` or `timezone`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CronError {
    /// `cron` or `timezone`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn cron_error(message: impl Into<String>) -> CronError {
    CronError { field: "cron", message: message.into() }
}

/// A usual cron day number (0-7, 0 and 7 Sunday) as the `cron` crate counts it (1-7 from Sunday).
fn crate_day(text: &str) -> Result<Option<u32>, CronError> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None); // a name such as MON, kept as it is
    }
    match text.parse::<u32>() {
        Ok(n) if n <= 7 => Ok(Some(n % 7 + 1)),
        _ => Err(cron_error(format!("day of week `{text}` must be 0-7 (0 and 7 are Sunday) or a name such as MON"))),
    }
}

/// The day-of-week field rewritten for the `cron` crate.
fn day_of_week_field(field: &str) -> Result<String, CronError> {
    let mut parts = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        let step = step.map(|s| format!("/{s}")).unwrap_or_default();
        match range.split_once('-') {
            Some((a, b)) => match (crate_day(a)?, crate_day(b)?) {
                (Some(a), Some(b)) if a <= b => parts.push(format!("{a}-{b}{step}")),
                // Past Saturday: 5-7 (Friday to Sunday) is 6-7 then 1 in the crate's numbering.
                (Some(a), Some(b)) if step.is_empty() => parts.push(format!("{a}-7,1-{b}")),
                (Some(_), Some(_)) => {
                    return Err(cron_error(format!(
                        "day-of-week range `{range}` with a step wraps past Saturday; list the days instead"
                    )))
                }
                _ => parts.push(format!("{range}{step}")),
            },
            None => match crate_day(range)? {
                Some(n) => parts.push(format!("{n}{step}")),
                None => parts.push(format!("{range}{step}")),
            },
        }
    }
    Ok(parts.join(","))
}

impl CronSpec {
    /// Parse `expression` (5 or 6 fields) in `timezone` (an IANA name such as `Europe/Paris`, or `UTC`).
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, CronError> {
        let timezone: Tz = timezone.parse().map_err(|_| CronError {
            field: "timezone",
            message: format!("`{timezone}` is not an IANA timezone name such as `UTC` or `Europe/Paris`"),
        })?;
        let mut fields: Vec<String> = expression.split_whitespace().map(str::to_string).collect();
        match fields.len() {
            5 => fields.insert(0, "0".into()),
            6 => {}
            n => {
                return Err(cron_error(format!(
                    "`{expression}` has {n} fields; a cron expression has 5 (minute hour day-of-month month day-of-week) or 6 (with a leading second)"
                )))
            }
        }
        fields[5] = day_of_week_field(&fields[5])?;
        let schedule = cron::Schedule::from_str(&fields.join(" "))
            .map_err(|e| cron_error(format!("`{expression}` is not a valid cron expression: {e}")))?;
        if schedule.upcoming(timezone).next().is_none() {
            return Err(cron_error(format!("`{expression}` never fires")));
        }
        Ok(Self { schedule, timezone })
    }

    /// The fire times after `after`, in order. The `cron` crate walks the wall clock: in the hour a clock goes
    /// back, a repeated local time comes out as its FIRST instant, which can be before `after` (and out of order).
    /// Those are skipped, so the repeated hour fires once, in its first pass. Bounded like `latest_until`.
    fn after(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let mut last = after;
        self.schedule.after(&after.with_timezone(&self.timezone)).take(100_000).filter_map(move |t| {
            let t = t.with_timezone(&Utc);
            (t > last).then(|| {
                last = t;
                t
            })
        })
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.after(after).next()
    }

    /// The last fire time at or before `now`, starting from fire time `from` (itself at or before `now`).
    /// Looks at most 100,000 fire times ahead (more than a day of one per second); then gives the last one seen.
    pub fn latest_until(&self, from: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut latest = from;
        for t in self.after(from) {
            if t > now {
                break;
            }
            latest = t;
        }
        latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_fields_have_minute_resolution_and_weekdays_count_from_sunday_zero() {
        let weekdays = CronSpec::parse("30 9 * * 1-5", "UTC").unwrap();
        // 2026-12-04 is a Friday: the next weekday 09:30 after Friday 10:00 is Monday the 7th.
        assert_eq!(weekdays.next_after(at("2026-12-04T10:00:00Z")), Some(at("2026-12-07T09:30:00Z")));
        let sundays = CronSpec::parse("0 0 * * 0", "UTC").unwrap();
        assert_eq!(sundays.next_after(at("2026-12-02T00:00:00Z")), Some(at("2026-12-06T00:00:00Z")));
        let sunday_seven = CronSpec::parse("0 0 * * 7", "UTC").unwrap();
        assert_eq!(sunday_seven.next_after(at("2026-12-02T00:00:00Z")), Some(at("2026-12-06T00:00:00Z")));
        let weekend = CronSpec::parse("0 0 * * 6-7", "UTC").unwrap();
        assert_eq!(weekend.next_after(at("2026-12-06T12:00:00Z")), Some(at("2026-12-12T00:00:00Z")));
        let names = CronSpec::parse("0 8 * * MON-FRI", "UTC").unwrap();
        assert_eq!(names.next_after(at("2026-12-05T00:00:00Z")), Some(at("2026-12-07T08:00:00Z")));
    }

    #[test]
    fn six_fields_lead_with_seconds_and_timezones_follow_the_wall_clock() {
        let every_two = CronSpec::parse("*/2 * * * * *", "UTC").unwrap();
        assert_eq!(every_two.next_after(at("2026-12-02T10:00:01Z")), Some(at("2026-12-02T10:00:02Z")));
        let paris = CronSpec::parse("0 9 * * *", "Europe/Paris").unwrap();
        // 09:00 in Paris is 08:00 UTC in winter.
        assert_eq!(
            paris.next_after(at("2026-12-02T00:00:00Z")),
            Some(Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap())
        );
        assert_eq!(
            every_two.latest_until(at("2026-12-02T10:00:00Z"), at("2026-12-02T10:00:09Z")),
            at("2026-12-02T10:00:08Z")
        );
    }

    #[test]
    fn the_hour_a_clock_goes_back_never_yields_a_time_in_the_past() {
        // Paris goes back from 03:00 CEST to 02:00 CET at 01:00 UTC on 2026-10-25: 02:00-02:59 happens twice.
        let every_five = CronSpec::parse("*/5 * * * *", "Europe/Paris").unwrap();
        let second_pass = at("2026-10-25T01:30:00Z"); // 02:30 CET, the second 02:30
        let next = every_five.next_after(second_pass).unwrap();
        assert!(next > second_pass, "next fire {next} is not after {second_pass}");
        let latest = every_five.latest_until(at("2026-10-25T00:55:00Z"), second_pass);
        assert!(latest <= second_pass && latest >= at("2026-10-25T00:55:00Z"), "latest {latest}");
        // Every step forward from a fire time is later than it, all through the night.
        let mut t = at("2026-10-24T23:00:00Z");
        while t < at("2026-10-25T03:00:00Z") {
            let next = every_five.next_after(t).unwrap();
            assert!(next > t, "{next} after {t}");
            t = next;
        }
    }

    #[test]
    fn bad_expressions_and_timezones_name_their_field() {
        assert_eq!(CronSpec::parse("* * *", "UTC").unwrap_err().field, "cron");
        assert_eq!(CronSpec::parse("61 * * * *", "UTC").unwrap_err().field, "cron");
        assert_eq!(CronSpec::parse("0 0 * * 8", "UTC").unwrap_err().field, "cron");
        assert_eq!(CronSpec::parse("0 0 * * *", "Mars/Olympus").unwrap_err().field, "timezone");
    }
}
