//! Timestamps on the wire: RFC 3339 in UTC with exactly three fractional
//! digits and a `Z`, like `"2026-11-29T15:21:35.876Z"` — what JavaScript's
//! `Date.prototype.toISOString` writes, so a NestJS peer reads and writes
//! the same text. chrono's own `Serialize` would write as many digits as the
//! value has (Postgres keeps microseconds), which changes the JSON.
//!
//! Use as `#[serde(with = "contracts::timestamp")]`. Reading accepts any
//! RFC 3339 timestamp, with any offset and precision.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(at))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

/// The wire text of `at`, for places that write it outside serde (gRPC
/// messages carry timestamps as strings).
pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Stamped(#[serde(with = "super")] DateTime<Utc>);

    #[test]
    fn writes_milliseconds_and_z_whatever_the_precision() {
        let micros = Utc.timestamp_opt(1_795_965_695, 876_543_000).unwrap();
        let whole = Utc.timestamp_opt(1_795_965_695, 0).unwrap();
        assert_eq!(
            serde_json::to_string(&Stamped(micros)).unwrap(),
            r#""2026-11-29T15:21:35.876Z""#
        );
        assert_eq!(
            serde_json::to_string(&Stamped(whole)).unwrap(),
            r#""2026-11-29T15:21:35.000Z""#
        );
    }

    #[test]
    fn reads_what_it_writes_and_other_offsets() {
        let text = r#""2026-11-29T15:21:35.876Z""#;
        let read: Stamped = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), text);
        let shifted: Stamped = serde_json::from_str(r#""2026-11-29T16:21:35.876+01:00""#).unwrap();
        assert_eq!(shifted, read);
        assert!(serde_json::from_str::<Stamped>(r#""yesterday""#).is_err());
    }
}
