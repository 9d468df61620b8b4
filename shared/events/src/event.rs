use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::Format;

/// The version of the canonical envelope written by this build.
pub const SCHEMA_VERSION: u32 = 1;

/// The canonical event: one envelope for every source format, close to CloudEvents 1.0.
///
/// `(source, id)` is the idempotency key everywhere; `helios_id` is derived from it, so the
/// same event sent twice has the same Helios id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub helios_id: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(with = "rfc3339")]
    pub time: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub received_at: DateTime<Utc>,
    pub schema_version: u32,
    /// The format the event arrived in.
    pub format: Format,
    /// Attributes of the source format with no place in the envelope (EventBridge account
    /// and region, Pub/Sub attributes, CloudEvents extensions, …).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
    /// Keys that relate this event to others (subject, repository, branch, commit, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub correlation: BTreeMap<String, String>,
    pub data: serde_json::Value,
    /// The registered schema `data` was checked against when the event was accepted, and
    /// whether it fitted; absent when its `(source, type)` has no schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaCheck>,
    /// The W3C trace context of the ingest request that carried the event
    /// (`00-<trace id>-<span id>-01`): its decision, workflows and tasks are spans of the
    /// same trace. Observability only: the decider takes it off before any rule sees the
    /// event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// What checking an event's data against its subject's latest schema found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaCheck {
    /// The schema's id (`sch_…`) and its version under the subject.
    pub id: String,
    pub version: u32,
    pub valid: bool,
    /// The subject's policy then: `enforce`, `quarantine` or `observe`.
    pub policy: String,
}

impl Event {
    /// Every family [`Event::family`] answers (the archive's `family` partition takes these).
    pub const FAMILIES: [&'static str; 7] = [
        "github",
        "ci",
        "aws",
        "gcp",
        "azure",
        "cloudevents",
        "native",
    ];

    /// The family of sources the event comes from, as people group them: `github`, `ci`,
    /// `aws`, `gcp`, `azure`, `cloudevents` or `native` (any other app's own JSON). The
    /// format decides, except for native events, whose source names a CI system or an AWS
    /// service (`aws.…`, as EventBridge writes them) when it does.
    pub fn family(&self) -> &'static str {
        use crate::Format;
        match self.format {
            Format::Github => "github",
            Format::Eventbridge => "aws",
            Format::Pubsub => "gcp",
            Format::Eventgrid => "azure",
            Format::Cloudevents => "cloudevents",
            Format::Native => native_family(&self.source),
        }
    }
}

/// The family of a native event's source.
fn native_family(source: &str) -> &'static str {
    const CI: [&str; 8] = [
        "ci",
        "jenkins",
        "gitlab",
        "circleci",
        "buildkite",
        "travis",
        "teamcity",
        "drone",
    ];
    let head = source
        .split(['.', '/', ':'])
        .next()
        .unwrap_or(source)
        .to_ascii_lowercase();
    if head == "github" {
        "github"
    } else if head == "aws" {
        "aws"
    } else if CI.contains(&head.as_str()) || head.ends_with("-ci") {
        "ci"
    } else {
        "native"
    }
}

/// The Helios id of the event `(source, id)`: stable, opaque, URL-safe.
///
/// `source ‖ 0x00 ‖ id` is unambiguous because neither may hold a control character
/// ([`crate::normalise`] refuses them), so no two pairs hash the same bytes.
pub fn helios_id(source: &str, id: &str) -> String {
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0u8]);
    h.update(id.as_bytes());
    let digest = h.finalize();
    format!("evt_{}", hex::encode(&digest[..16]))
}

/// Parses an RFC 3339 timestamp into UTC, with a message that says what was wrong.
///
/// The time must fall within years 1 to 9999 once in UTC: RFC 3339 has four-digit years
/// only, so `0000-01-01T00:00:00+01:00` (the year before year 1 in UTC) could be accepted
/// but never written back as RFC 3339, nor stored by PostgreSQL, which has no year 0.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("is not an RFC 3339 timestamp ({e}): {s:?}"))?;
    if !(1..=9999).contains(&t.year()) {
        return Err(format!(
            "is outside the years 0001 to 9999 once in UTC ({}): {s:?}",
            t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ));
    }
    Ok(t)
}

/// The earliest time Helios accepts or stores: 0001-01-01T00:00:00Z.
pub fn earliest_time() -> DateTime<Utc> {
    // 719,162 days from 0001-01-01 to 1970-01-01 (proleptic Gregorian).
    DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Formats a time as Helios writes it: RFC 3339, UTC, `Z`, as few fraction digits as exact.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Times are kept to the microsecond, the precision of every store Helios writes to.
pub(crate) fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_time(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helios_id_depends_on_source_and_id_only() {
        assert_eq!(helios_id("github", "1"), helios_id("github", "1"));
        assert_ne!(helios_id("github", "1"), helios_id("github", "2"));
        assert_ne!(helios_id("a", "bc"), helios_id("ab", "c"));
        assert!(helios_id("s", "i").starts_with("evt_"));
        assert_eq!(helios_id("s", "i").len(), 36);
    }

    #[test]
    fn times_round_trip_with_offsets_normalised_to_utc() {
        let t = parse_time("2026-01-01T02:00:00.250+02:00").unwrap();
        assert_eq!(format_time(&t), "2026-01-01T00:00:00.250Z");
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn times_outside_years_1_to_9999_in_utc_are_refused() {
        // Accepted by an RFC 3339 parser, but in UTC one is in year 0 (written `-0001-…`
        // or refused by PostgreSQL) and the other in year 10000.
        for s in [
            "0000-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-01:00",
            "0000-06-01T00:00:00Z",
        ] {
            let e = parse_time(s).unwrap_err();
            assert!(e.contains("outside the years 0001 to 9999"), "{s}: {e}");
        }
        assert_eq!(format_time(&earliest_time()), "0001-01-01T00:00:00Z");
        for s in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"] {
            let t = parse_time(s).unwrap();
            assert_eq!(parse_time(&format_time(&t)).unwrap(), t, "{s} reads back");
        }
    }
}

#[cfg(test)]
mod family_tests {
    use super::native_family;

    #[test]
    fn native_sources_are_grouped_by_what_their_name_says() {
        for (source, family) in [
            ("ci", "ci"),
            ("jenkins.prod", "ci"),
            ("GitLab/acme", "ci"),
            ("acme-ci", "ci"),
            ("aws.cloudwatch", "aws"),
            ("github", "github"),
            ("heartbeat", "native"),
            ("city.lots", "native"),
            ("circle", "native"),
        ] {
            assert_eq!(native_family(source), family, "{source}");
        }
    }
}
