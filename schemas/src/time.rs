//! Instants as stored: nanoseconds since the Unix epoch, UTC. RFC 3339 at the JSON edge.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant in UTC with nanosecond resolution (range 1677..2262).
///
/// JSON (and every human-readable format) sees an RFC 3339 string; the binary codec sees an `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A string that is not an RFC 3339 instant, or one outside the representable range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 timestamp: {0:?}")]
pub struct TimestampError(pub String);

impl Timestamp {
    /// The instant `nanos` nanoseconds after 1970-01-01T00:00:00Z.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// The current wall-clock time. Only the engine's edge calls this; the domain takes time as data.
    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// Parses an RFC 3339 instant (any offset; stored as UTC).
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| TimestampError(text.to_owned()))?;
        i64::try_from(parsed.unix_timestamp_nanos()).map(Timestamp).map_err(|_| TimestampError(text.to_owned()))
    }

    /// This instant plus `seconds` (saturating).
    pub const fn plus_seconds(self, seconds: i64) -> Self {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1_000_000_000)))
    }

    /// This instant plus `duration`, saturating at the end of the range (year 2262).
    pub fn saturating_add(self, duration: std::time::Duration) -> Self {
        Timestamp(self.0.saturating_add(i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)))
    }

    /// RFC 3339 in UTC (`Z`), with as many fractional digits as needed.
    pub fn to_rfc3339(self) -> String {
        let instant = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .expect("every i64 nanosecond count is within time's range");
        instant.format(&Rfc3339).expect("RFC 3339 formats every instant of years 1677..2262")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_rfc3339())
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Timestamp::parse(&text).map_err(serde::de::Error::custom)
        } else {
            i64::deserialize(deserializer).map(Timestamp)
        }
    }
}

/// The years of an RFC 3339 text that [`Timestamp::parse`] accepts whatever the rest of it says:
/// 1678..=2261 (an offset moves the instant by less than a day, and the range ends in 1677 and 2262).
/// `format: date-time` alone admits years 0000..=9999, which the store cannot hold.
pub const TIMESTAMP_PATTERN: &str = "^(167[89]|16[89][0-9]|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])-";

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> String {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            format: Some("date-time".into()),
            string: Some(Box::new(schemars::schema::StringValidation {
                pattern: Some(TIMESTAMP_PATTERN.into()),
                ..Default::default()
            })),
            ..Default::default()
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_nanoseconds() {
        for text in ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123456789Z", "1999-12-31T23:59:59.5Z"] {
            let t = Timestamp::parse(text).unwrap();
            assert_eq!(t.to_rfc3339(), text);
            assert_eq!(Timestamp::parse(&t.to_rfc3339()).unwrap(), t);
        }
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = Timestamp::parse("2026-01-02T11:04:05+08:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05Z");
    }

    #[test]
    fn adding_a_duration_saturates_at_the_end_of_the_range() {
        let t = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(t.saturating_add(std::time::Duration::from_secs(300)).to_rfc3339(), "2026-01-02T03:09:05Z");
        assert_eq!(t.saturating_add(std::time::Duration::MAX), Timestamp::from_unix_nanos(i64::MAX));
    }

    #[test]
    fn the_schema_pattern_admits_exactly_the_years_parse_takes() {
        let pattern = regex::Regex::new(TIMESTAMP_PATTERN).unwrap();
        for year in 0..=9999 {
            let in_range = ["01-01T00:00:00+23:59", "12-31T23:59:59.999999999-23:59"]
                .iter()
                .all(|rest| Timestamp::parse(&format!("{year:04}-{rest}")).is_ok());
            assert_eq!(pattern.is_match(&format!("{year:04}-01-01T00:00:00Z")), in_range, "year {year}");
        }
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("2026-13-01T00:00:00Z").is_err());
    }
}
