//! Times on the command line: an RFC 3339 instant, a date, or a duration ago.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Parses `2026-11-28T10:00:00Z` (any RFC 3339 time), `2026-11-28` (midnight UTC), or a
/// duration before now: `90s`, `30m`, `2h`, `7d`.
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    parse_at(raw.trim(), Utc::now())
}

fn parse_at(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    let unit_at = raw.len().saturating_sub(1);
    let (number, unit) = (
        raw.get(..unit_at).unwrap_or_default(),
        raw.get(unit_at..).unwrap_or_default(),
    );
    let amount: i64 = number.parse().map_err(|_| explain(raw))?;
    let ago = match unit {
        "s" => Duration::try_seconds(amount),
        "m" => Duration::try_minutes(amount),
        "h" => Duration::try_hours(amount),
        "d" => Duration::try_days(amount),
        _ => None,
    }
    .filter(|d| *d >= Duration::zero())
    .ok_or_else(|| explain(raw))?;
    now.checked_sub_signed(ago).ok_or_else(|| explain(raw))
}

fn explain(raw: &str) -> String {
    format!(
        "'{raw}' is not a time: use RFC 3339 (2026-11-28T10:00:00Z), a date (2026-11-28), \
         or a duration ago (90s, 30m, 2h, 7d)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_dates_and_durations_ago_parse() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .to_utc();
        let at = |raw| parse_at(raw, now).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2026-11-28T10:00:00+01:00").unwrap(),
            "2026-11-28T09:00:00+00:00"
        );
        assert_eq!(at("2026-11-27").unwrap(), "2026-11-27T00:00:00+00:00");
        assert_eq!(at("30m").unwrap(), "2026-11-28T11:30:00+00:00");
        assert_eq!(at("2h").unwrap(), "2026-11-28T10:00:00+00:00");
        assert_eq!(at("7d").unwrap(), "2026-11-21T12:00:00+00:00");
        assert_eq!(at("90s").unwrap(), "2026-11-28T11:58:30+00:00");
    }

    #[test]
    fn anything_else_is_refused_with_the_accepted_forms() {
        let now = Utc::now();
        for raw in [
            "",
            "yesterday",
            "2h30m",
            "-5m",
            "5w",
            "m",
            "2026-13-01",
            "99999999999999d",
            "é",
        ] {
            let error = parse_at(raw, now).unwrap_err();
            assert!(error.contains("RFC 3339"), "{raw}: {error}");
        }
    }
}
