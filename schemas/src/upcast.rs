//! Old schema versions, frozen, and the upcasters that read them as the current version.
//!
//! Events on disk are never rewritten. When a payload changes shape, its old struct is copied here
//! unchanged, registered in [`OLD_VERSIONS`] with a function that turns its JSON form into the next
//! version's, and reads chain those functions up to the current version. Exports keep the as-written
//! form (the audit hash covers it), so the frozen struct also re-encodes an imported old event.

use crate::catalogue::{EventData, EventType, Outcome};
use crate::codec::{decode_exact, encode_into, CodecError};
use crate::time::Timestamp;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

/// One frozen schema version of one event type.
pub(crate) struct OldVersion {
    pub event_type: EventType,
    pub schema_version: u16,
    /// The as-written payload bytes as JSON.
    pub to_json: fn(&[u8]) -> Result<Value, CodecError>,
    /// JSON in this version's shape back to its binary payload (imports of old events).
    pub from_json: fn(Value) -> Result<Vec<u8>, String>,
    /// This version's JSON form to the next version's.
    pub to_next: fn(Value) -> Value,
}

fn to_json<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<Value, CodecError> {
    let value: T = decode_exact(bytes)?;
    serde_json::to_value(value).map_err(|e| CodecError::Malformed(e.to_string()))
}

fn from_json<T: DeserializeOwned + Serialize>(value: Value) -> Result<Vec<u8>, String> {
    let typed: T = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    encode_into(&mut out, &typed).map_err(|e| e.to_string())?;
    Ok(out)
}

/// `cause_analyzed` as written with schema version 1, before `corrective_action` was added in version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseAnalyzedV1 {
    pub root_cause: String,
    pub responsible_department: String,
    pub founded: bool,
}

fn cause_analyzed_v1_to_v2(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert("corrective_action".into(), Value::Null);
    }
    value
}

/// `commitment_made` as written with schema version 1, before `solution_id` was added in version 2 (v1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitmentMadeV1 {
    pub what: String,
    pub due_at: Timestamp,
}

/// `resolution_confirmed` as written with schema version 1, before `via` was added in version 2 (v1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionConfirmedV1 {
    pub satisfied: bool,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `complaint_closed` as written with schema version 1, before `override_reason` was added in version 2 (v1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintClosedV1 {
    pub outcome: Outcome,
}

/// `standard_answer_published` as written with schema version 1, before `translations` (v1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardAnswerPublishedV1 {
    pub answer_id: String,
    pub category: String,
    pub title: String,
    pub answer: String,
    pub keywords: Vec<String>,
}

/// `standard_answer_revised` as written with schema version 1, before `translations` (v1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardAnswerRevisedV1 {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub answer: Option<String>,
    #[serde(default)]
    pub keywords: Option<Vec<String>>,
    #[serde(default)]
    pub category: Option<String>,
}

/// The next version's JSON: the same fields, and `field` absent (`null`), as every optional field added so far.
fn with_null(field: &'static str) -> impl Fn(Value) -> Value {
    move |mut value| {
        if let Value::Object(map) = &mut value {
            map.insert(field.into(), Value::Null);
        }
        value
    }
}

fn commitment_made_v1_to_v2(value: Value) -> Value {
    with_null("solution_id")(value)
}

fn resolution_confirmed_v1_to_v2(value: Value) -> Value {
    with_null("via")(value)
}

fn complaint_closed_v1_to_v2(value: Value) -> Value {
    with_null("override_reason")(value)
}

fn standard_answer_v1_to_v2(value: Value) -> Value {
    with_null("translations")(value)
}

pub(crate) static OLD_VERSIONS: &[OldVersion] = &[
    OldVersion {
        event_type: EventType::CauseAnalyzed,
        schema_version: 1,
        to_json: to_json::<CauseAnalyzedV1>,
        from_json: from_json::<CauseAnalyzedV1>,
        to_next: cause_analyzed_v1_to_v2,
    },
    OldVersion {
        event_type: EventType::CommitmentMade,
        schema_version: 1,
        to_json: to_json::<CommitmentMadeV1>,
        from_json: from_json::<CommitmentMadeV1>,
        to_next: commitment_made_v1_to_v2,
    },
    OldVersion {
        event_type: EventType::ResolutionConfirmed,
        schema_version: 1,
        to_json: to_json::<ResolutionConfirmedV1>,
        from_json: from_json::<ResolutionConfirmedV1>,
        to_next: resolution_confirmed_v1_to_v2,
    },
    OldVersion {
        event_type: EventType::ComplaintClosed,
        schema_version: 1,
        to_json: to_json::<ComplaintClosedV1>,
        from_json: from_json::<ComplaintClosedV1>,
        to_next: complaint_closed_v1_to_v2,
    },
    OldVersion {
        event_type: EventType::StandardAnswerPublished,
        schema_version: 1,
        to_json: to_json::<StandardAnswerPublishedV1>,
        from_json: from_json::<StandardAnswerPublishedV1>,
        to_next: standard_answer_v1_to_v2,
    },
    OldVersion {
        event_type: EventType::StandardAnswerRevised,
        schema_version: 1,
        to_json: to_json::<StandardAnswerRevisedV1>,
        from_json: from_json::<StandardAnswerRevisedV1>,
        to_next: standard_answer_v1_to_v2,
    },
];

pub(crate) fn old_version(event_type: EventType, schema_version: u16) -> Result<&'static OldVersion, CodecError> {
    OLD_VERSIONS
        .iter()
        .find(|v| v.event_type == event_type && v.schema_version == schema_version)
        .ok_or(CodecError::UnknownSchemaVersion { event_type, schema_version })
}

/// JSON of `event_type` written at `schema_version` lifted to the current version.
pub(crate) fn upcast_json(event_type: EventType, schema_version: u16, mut value: Value) -> Result<Value, CodecError> {
    let current = event_type.schema_version();
    if schema_version > current {
        return Err(CodecError::UnknownSchemaVersion { event_type, schema_version });
    }
    for version in schema_version..current {
        value = (old_version(event_type, version)?.to_next)(value);
    }
    Ok(value)
}

/// Reads an old payload as the current version of its type.
pub(crate) fn upcast_payload(
    event_type: EventType,
    schema_version: u16,
    payload: &[u8],
) -> Result<EventData, CodecError> {
    let as_written = (old_version(event_type, schema_version)?.to_json)(payload)?;
    let current = upcast_json(event_type, schema_version, as_written)?;
    EventData::from_json_value(event_type, current).map_err(|e| CodecError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::CauseAnalyzed;
    use crate::codec::{decode_record, encode_record, tests_support::header};

    fn v1_payload() -> Vec<u8> {
        let mut out = Vec::new();
        let v1 = CauseAnalyzedV1 {
            root_cause: "courier lost parcel".into(),
            responsible_department: "logistics".into(),
            founded: true,
        };
        encode_into(&mut out, &v1).unwrap();
        out
    }

    #[test]
    fn a_v1_payload_reads_as_v2_after_the_field_was_added() {
        let mut record = Vec::new();
        encode_record(&header(EventType::CauseAnalyzed, 1), &v1_payload(), &mut record).unwrap();
        let event = decode_record(&record).unwrap();
        assert_eq!(event.schema_version, 1, "the envelope says what it was written with");
        assert_eq!(
            event.data,
            EventData::CauseAnalyzed(CauseAnalyzed {
                root_cause: "courier lost parcel".into(),
                responsible_department: "logistics".into(),
                founded: true,
                corrective_action: None,
            })
        );
    }

    #[test]
    fn without_the_upcaster_the_v1_bytes_do_not_read_as_v2() {
        // bincode is not self-describing: the layout change is real, and only the upcaster bridges it.
        assert!(EventData::decode_current(EventType::CauseAnalyzed, &v1_payload()).is_err());
    }

    #[test]
    fn versions_newer_than_this_build_are_refused() {
        let mut record = Vec::new();
        encode_record(&header(EventType::CauseAnalyzed, 9), &v1_payload(), &mut record).unwrap();
        assert_eq!(
            decode_record(&record),
            Err(CodecError::UnknownSchemaVersion { event_type: EventType::CauseAnalyzed, schema_version: 9 })
        );
    }

    #[test]
    fn every_old_version_is_below_its_current_version() {
        for old in OLD_VERSIONS {
            assert!(old.schema_version < old.event_type.schema_version());
        }
    }

    #[test]
    fn every_version_below_the_current_one_has_its_frozen_struct() {
        for event_type in EventType::ALL {
            for version in 1..event_type.schema_version() {
                assert!(old_version(*event_type, version).is_ok(), "{event_type} v{version} has no upcaster");
            }
        }
    }

    fn decoded(event_type: EventType, payload: &[u8]) -> EventData {
        let mut record = Vec::new();
        encode_record(&header(event_type, 1), payload, &mut record).unwrap();
        let event = decode_record(&record).unwrap();
        assert_eq!(event.schema_version, 1);
        event.data
    }

    #[test]
    fn v1_payloads_of_the_types_that_gained_optional_fields_in_v1_1_read_with_those_fields_absent() {
        use crate::catalogue::{CommitmentMade, ComplaintClosed, ResolutionConfirmed};
        let due_at = Timestamp::parse("2026-03-01T09:00:00Z").unwrap();
        let mut commitment = Vec::new();
        encode_into(&mut commitment, &CommitmentMadeV1 { what: "new screen".into(), due_at }).unwrap();
        assert!(EventData::decode_current(EventType::CommitmentMade, &commitment).is_err(), "the layout changed");
        assert_eq!(
            decoded(EventType::CommitmentMade, &commitment),
            EventData::CommitmentMade(CommitmentMade { what: "new screen".into(), due_at, solution_id: None })
        );

        let mut confirmation = Vec::new();
        let v1 = ResolutionConfirmedV1 { satisfied: true, comment: Some("谢谢".into()) };
        encode_into(&mut confirmation, &v1).unwrap();
        assert!(EventData::decode_current(EventType::ResolutionConfirmed, &confirmation).is_err());
        assert_eq!(
            decoded(EventType::ResolutionConfirmed, &confirmation),
            EventData::ResolutionConfirmed(ResolutionConfirmed {
                satisfied: true,
                comment: Some("谢谢".into()),
                via: None
            })
        );

        let mut close = Vec::new();
        encode_into(&mut close, &ComplaintClosedV1 { outcome: Outcome::Refunded }).unwrap();
        assert!(EventData::decode_current(EventType::ComplaintClosed, &close).is_err());
        assert_eq!(
            decoded(EventType::ComplaintClosed, &close),
            EventData::ComplaintClosed(ComplaintClosed { outcome: Outcome::Refunded, override_reason: None })
        );
    }

    #[test]
    fn standard_answers_written_before_translations_read_untranslated() {
        use crate::catalogue::{StandardAnswerPublished, StandardAnswerRevised};
        let v1 = StandardAnswerPublishedV1 {
            answer_id: "qa-1".into(),
            category: "delivery".into(),
            title: "配送延迟".into(),
            answer: "非常抱歉".into(),
            keywords: vec!["物流".into()],
        };
        let mut published = Vec::new();
        encode_into(&mut published, &v1).unwrap();
        assert!(EventData::decode_current(EventType::StandardAnswerPublished, &published).is_err());
        assert_eq!(
            decoded(EventType::StandardAnswerPublished, &published),
            EventData::StandardAnswerPublished(StandardAnswerPublished {
                answer_id: "qa-1".into(),
                category: "delivery".into(),
                title: "配送延迟".into(),
                answer: "非常抱歉".into(),
                keywords: vec!["物流".into()],
                translations: None,
            })
        );
        let mut revised = Vec::new();
        let v1 =
            StandardAnswerRevisedV1 { title: Some("新标题".into()), answer: None, keywords: None, category: None };
        encode_into(&mut revised, &v1).unwrap();
        assert_eq!(
            decoded(EventType::StandardAnswerRevised, &revised),
            EventData::StandardAnswerRevised(StandardAnswerRevised {
                title: Some("新标题".into()),
                answer: None,
                keywords: None,
                category: None,
                translations: None,
            })
        );
    }
}
