//! Timestamps on the wire: RFC 3339 UTC with microseconds, parsed leniently from what SDKs send.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Timestamp = DateTime<Utc>;

pub fn format(timestamp: &Timestamp) -> String {
    timestamp.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Accepts RFC 3339 with or without fraction and with any offset; returns UTC.
pub fn parse(text: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|naive| naive.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_microseconds() {
        let parsed = parse("2024-12-11T14:30:00.123456Z");
        assert_eq!(
            parsed.map(|t| format(&t)).as_deref(),
            Some("2024-12-11T14:30:00.123456Z")
        );
    }

    #[test]
    fn accepts_offsets_and_naive_times() {
        assert_eq!(
            parse("2024-12-11T16:30:00+02:00")
                .map(|t| format(&t))
                .as_deref(),
            Some("2024-12-11T14:30:00.000000Z")
        );
        assert!(parse("2024-12-11T14:30:00").is_some());
        assert!(parse("yesterday").is_none());
    }
}
