//! The envelope: what a publisher proposes ([`ProposedEvent`]) and what a read returns ([`RecordedEvent`]).

use crate::canonical::{put_str, write_canonical_json, CANONICAL_TAG, CANONICAL_TAG_RECORDED_BY};
use crate::catalogue::{EventData, EventType, LINK_TARGET_PREFIXES};
use crate::codec::RecordHeader;
use crate::ids::{EventId, Position, StreamKind, StreamName};
use crate::recorded_by::RecordedBy;
use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// The most metadata entries one event may carry.
pub const METADATA_ENTRIES_MAX: usize = 64;

/// Why an event was refused before it reached the store. Each variant names the offending field.
///
/// Handling: the request is malformed; report it to the publisher (HTTP 422) and do not retry unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidEvent {
    /// `event_type` is not in the catalogue.
    #[error("unknown event type {event_type:?}")]
    UnknownEventType { event_type: String },
    /// The type exists but may not be appended to this kind of stream.
    #[error("event type {event_type} is not registered for stream {stream:?}")]
    WrongStream { event_type: EventType, stream: String },
    /// A field is missing, of the wrong type, unknown, or breaks a value rule.
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    /// The data names another stream than the one it is appended to (`complaint_received.complaint_id`
    /// must be the `<id>` of `complaint-<id>`): a rule of the stream, not of the type's schema.
    #[error("{field}: {reason}")]
    NotThisStream { field: String, reason: String },
}

impl InvalidEvent {
    fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        InvalidEvent::Field { field: field.into(), reason: reason.into() }
    }
}

/// Publisher-supplied string metadata: `actor`, `source`, `correlation_id`, `causation_id`, and any other keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Metadata(pub BTreeMap<String, String>);

impl Metadata {
    /// The value under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Who did it.
    pub fn actor(&self) -> Option<&str> {
        self.get("actor")
    }

    /// Metadata with one entry, handy in tests and examples.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.0.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The metadata as a JSON object.
    pub fn to_json_value(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    fn from_json_value(value: Value) -> Result<Self, InvalidEvent> {
        let Value::Object(map) = value else {
            return Err(InvalidEvent::field("metadata", "must be an object of strings"));
        };
        if map.len() > METADATA_ENTRIES_MAX {
            return Err(InvalidEvent::field(
                "metadata",
                format!("has {} entries, the limit is {METADATA_ENTRIES_MAX}", map.len()),
            ));
        }
        let mut entries = BTreeMap::new();
        for (key, value) in map {
            match value {
                Value::String(text) => {
                    entries.insert(key, text);
                }
                Value::Null => {}
                _ => return Err(InvalidEvent::field(format!("metadata.{key}"), "must be a string")),
            }
        }
        Ok(Metadata(entries))
    }
}

/// A 32-byte SHA-256 value of the audit chain, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash before the first event.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(64);
        for byte in self.0 {
            text.push(DIGITS[usize::from(byte >> 4)] as char);
            text.push(DIGITS[usize::from(byte & 0xf)] as char);
        }
        text
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Hash> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Hash(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An event a publisher wants appended. The engine assigns version, position, `recorded_at` and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedEvent {
    /// The identity; `None` lets the engine pick a v7 UUID (then a retry cannot be recognised).
    pub event_id: Option<EventId>,
    /// When it happened in the world; `None` means "when the store accepted it".
    pub occurred_at: Option<Timestamp>,
    pub metadata: Metadata,
    pub data: EventData,
    /// Who appends it (v1.1), set by the trusted caller of the engine from the credential it checked —
    /// never parsed from a publisher's body. `None`: the engine stamps [`RecordedBy::UNATTRIBUTED`].
    pub recorded_by: Option<RecordedBy>,
}

impl ProposedEvent {
    /// An event with no id, time, metadata or `recorded_by`.
    pub fn new(data: EventData) -> Self {
        ProposedEvent { event_id: None, occurred_at: None, metadata: Metadata::default(), data, recorded_by: None }
    }

    /// The same event, appended by `by`.
    pub fn recorded_by(mut self, by: RecordedBy) -> Self {
        self.recorded_by = Some(by);
        self
    }

    /// The same event with id `id`.
    pub fn with_id(mut self, id: EventId) -> Self {
        self.event_id = Some(id);
        self
    }

    /// The same event, happened at `at`.
    pub fn occurred_at(mut self, at: Timestamp) -> Self {
        self.occurred_at = Some(at);
        self
    }

    /// Parses one event object of an append request: `{"event_id"?, "event_type", "occurred_at"?, "metadata"?, "data"}`.
    ///
    /// Unknown members are refused (a typo must not be silently dropped). The data is checked against its
    /// type and against the stream it goes to; the error names the first bad field. `recorded_by` is
    /// refused with its own reason: the server stamps it from the credential, a publisher cannot forge it.
    pub fn from_json(value: Value, stream: &StreamName) -> Result<Self, InvalidEvent> {
        let Value::Object(mut object) = value else {
            return Err(InvalidEvent::field("event", "must be a JSON object"));
        };
        if object.contains_key("recorded_by") {
            return Err(InvalidEvent::field(
                "recorded_by",
                "is stamped by the server from the credential that appends; a publisher cannot set it",
            ));
        }
        if let Some(unknown) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "event_id" | "event_type" | "occurred_at" | "metadata" | "data"))
        {
            return Err(InvalidEvent::field(unknown.clone(), "unknown field"));
        }
        let event_type = match object.remove("event_type") {
            Some(Value::String(name)) => {
                EventType::from_name(&name).ok_or(InvalidEvent::UnknownEventType { event_type: name })?
            }
            Some(_) => return Err(InvalidEvent::field("event_type", "must be a string")),
            None => return Err(InvalidEvent::field("event_type", "missing")),
        };
        let event_id = match object.remove("event_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(EventId(
                uuid::Uuid::parse_str(&text)
                    .map_err(|_| InvalidEvent::field("event_id", format!("{text:?} is not a UUID")))?,
            )),
            Some(_) => return Err(InvalidEvent::field("event_id", "must be a UUID string")),
        };
        let occurred_at = match object.remove("occurred_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                Some(Timestamp::parse(&text).map_err(|e| InvalidEvent::field("occurred_at", e.to_string()))?)
            }
            Some(_) => return Err(InvalidEvent::field("occurred_at", "must be an RFC 3339 string")),
        };
        let metadata = match object.remove("metadata") {
            None | Some(Value::Null) => Metadata::default(),
            Some(value) => Metadata::from_json_value(value)?,
        };
        let data_value = object.remove("data").ok_or_else(|| InvalidEvent::field("data", "missing"))?;
        let data = parse_data(event_type, data_value)?;
        validate_for_stream(&data, stream)?;
        Ok(ProposedEvent { event_id, occurred_at, metadata, data, recorded_by: None })
    }
}

/// Parses the `data` object of an event of `event_type` and checks its value rules.
pub fn parse_data(event_type: EventType, mut value: Value) -> Result<EventData, InvalidEvent> {
    if !value.is_object() {
        return Err(InvalidEvent::field("data", "must be a JSON object"));
    }
    integral_numbers_as_integers(&mut value);
    let data = EventData::from_json_value(event_type, value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() { "data".to_owned() } else { format!("data.{path}") };
        InvalidEvent::Field { field, reason: e.into_inner().to_string() }
    })?;
    validate_values(&data)?;
    Ok(data)
}

/// JSON does not tell `3` from `3.0`, and JSON Schema's `integer` admits both; serde's integer types
/// take only the first. Every number with no fractional part (within ±2^63) becomes an integer, so an
/// integer field reads either. Request bodies other than events are read through it too.
pub fn integral_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18) {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// Checks the value rules the types cannot express: required text is not blank, grades are 1..=5, ...
pub fn validate_values(data: &EventData) -> Result<(), InvalidEvent> {
    fn text(field: &str, value: &str) -> Result<(), InvalidEvent> {
        if value.trim().is_empty() {
            Err(InvalidEvent::field(format!("data.{field}"), "must not be empty"))
        } else {
            Ok(())
        }
    }
    fn optional_text(field: &str, value: &Option<String>) -> Result<(), InvalidEvent> {
        value.as_deref().map_or(Ok(()), |value| text(field, value))
    }
    fn keywords(field: &str, list: &[String]) -> Result<(), InvalidEvent> {
        match list.iter().position(|k| k.trim().is_empty()) {
            Some(i) => Err(InvalidEvent::field(format!("{field}[{i}]"), "must not be empty")),
            None => Ok(()),
        }
    }
    fn translations(all: &crate::catalogue::Translations) -> Result<(), InvalidEvent> {
        use crate::catalogue::{is_language_tag, TRANSLATIONS_MAX};
        if all.is_empty() || all.len() > TRANSLATIONS_MAX {
            let reason = format!("holds {} languages: 1 to {TRANSLATIONS_MAX} may be given", all.len());
            return Err(InvalidEvent::field("data.translations", reason));
        }
        for (tag, translation) in all {
            if !is_language_tag(tag) {
                let reason = "is not a language tag (BCP 47: \"en\", \"zh-Hant\", \"pt-BR\")";
                return Err(InvalidEvent::field(format!("data.translations.{tag}"), reason));
            }
            text(&format!("translations.{tag}.title"), &translation.title)?;
            text(&format!("translations.{tag}.answer"), &translation.answer)?;
            keywords(&format!("data.translations.{tag}.keywords"), &translation.keywords)?;
        }
        Ok(())
    }
    match data {
        EventData::ComplaintReceived(d) => {
            text("complaint_id", &d.complaint_id)?;
            text("customer_id", &d.customer_id)?;
            text("category", &d.category)?;
            text("description", &d.description)
        }
        EventData::ComplaintAcknowledged(d) => text("message", &d.message),
        EventData::ApologySent(d) => text("message", &d.message),
        EventData::CauseAnalyzed(d) => {
            text("root_cause", &d.root_cause)?;
            text("responsible_department", &d.responsible_department)
        }
        EventData::SolutionOffered(d) => {
            text("solution_id", &d.solution_id)?;
            text("description", &d.description)
        }
        EventData::SolutionAccepted(d) => text("solution_id", &d.solution_id),
        EventData::SolutionRejected(d) => {
            text("solution_id", &d.solution_id)?;
            text("reason", &d.reason)
        }
        EventData::CommitmentMade(d) => {
            text("what", &d.what)?;
            optional_text("solution_id", &d.solution_id)
        }
        EventData::ProgressUpdated(d) => text("note", &d.note),
        EventData::Escalated(d) => {
            text("to", &d.to)?;
            text("reason", &d.reason)
        }
        EventData::StandardAnswerUsed(d) => text("answer_id", &d.answer_id),
        EventData::SolutionDelivered(d) => {
            text("solution_id", &d.solution_id)?;
            text("note", &d.note)
        }
        EventData::ResolutionConfirmed(_) => Ok(()),
        EventData::RevisitDone(d) => {
            if (1..=5).contains(&d.satisfaction) {
                Ok(())
            } else {
                Err(InvalidEvent::field("data.satisfaction", format!("{} is not in 1..=5", d.satisfaction)))
            }
        }
        EventData::ApologyVisitMade(d) => text("visitor", &d.visitor),
        EventData::ComplaintReopened(d) => text("reason", &d.reason),
        EventData::ComplaintClosed(d) => optional_text("override_reason", &d.override_reason),
        EventData::ComplaintAssigned(d) => {
            text("assignee", &d.assignee)?;
            optional_text("team", &d.team)
        }
        EventData::WaitingOnCustomer(d) => text("reason", &d.reason),
        EventData::CustomerResponded(_) => Ok(()),
        EventData::ComplaintLinked(d) => link_target(&d.target),
        EventData::StandardAnswerPublished(d) => {
            text("answer_id", &d.answer_id)?;
            text("category", &d.category)?;
            text("title", &d.title)?;
            text("answer", &d.answer)?;
            keywords("data.keywords", &d.keywords)?;
            d.translations.as_ref().map_or(Ok(()), translations)
        }
        EventData::StandardAnswerRevised(d) => {
            let none = d.title.is_none() && d.answer.is_none() && d.keywords.is_none() && d.category.is_none();
            if none && d.translations.is_none() {
                return Err(InvalidEvent::field(
                    "data",
                    "names none of title, answer, keywords, category, translations",
                ));
            }
            for (field, value) in [("title", &d.title), ("answer", &d.answer), ("category", &d.category)] {
                if let Some(value) = value {
                    text(field, value)?;
                }
            }
            d.keywords.as_deref().map_or(Ok(()), |list| keywords("data.keywords", list))?;
            d.translations.as_ref().map_or(Ok(()), translations)
        }
        EventData::StandardAnswerRetired(d) => text("reason", &d.reason),
        EventData::ProblemIdentified(d) => {
            text("problem_id", &d.problem_id)?;
            text("title", &d.title)?;
            text("category", &d.category)?;
            text("root_cause", &d.root_cause)?;
            text("responsible_department", &d.responsible_department)
        }
        EventData::CorrectiveActionTaken(d) => {
            text("action", &d.action)?;
            text("owner", &d.owner)
        }
        EventData::ProblemResolved(d) => text("verification", &d.verification),
        EventData::ProblemReopened(d) => text("reason", &d.reason),
        EventData::CustomerDataErased(d) => {
            text("customer_id", &d.customer_id)?;
            text("requested_by", &d.requested_by)?;
            text("legal_basis", &d.legal_basis)
        }
    }
}

/// A `complaint_linked` target: a valid stream name with a prefix of [`LINK_TARGET_PREFIXES`] and an id after it.
fn link_target(target: &str) -> Result<(), InvalidEvent> {
    let name = StreamName::new(target).map_err(|e| InvalidEvent::field("data.target", e.to_string()))?;
    let (kind, id) = name.kind();
    if matches!(kind, StreamKind::Complaint | StreamKind::Problem) && !id.is_empty() {
        Ok(())
    } else {
        Err(InvalidEvent::field(
            "data.target",
            format!("{target:?} names no complaint or problem stream; it starts with one of {LINK_TARGET_PREFIXES:?}"),
        ))
    }
}

/// Checks that `data` may go to `stream`: its type belongs to the stream's kind, and the id it carries
/// matches the stream name (`complaint_received.complaint_id` in `complaint-<id>`, likewise for answers).
pub fn validate_for_stream(data: &EventData, stream: &StreamName) -> Result<(), InvalidEvent> {
    let (kind, id) = stream.kind();
    let event_type = data.event_type();
    if event_type.stream_kind() != kind || kind == StreamKind::Other {
        return Err(InvalidEvent::WrongStream { event_type, stream: stream.to_string() });
    }
    let carried = match data {
        EventData::ComplaintReceived(d) => Some(("data.complaint_id", &d.complaint_id)),
        EventData::StandardAnswerPublished(d) => Some(("data.answer_id", &d.answer_id)),
        EventData::ProblemIdentified(d) => Some(("data.problem_id", &d.problem_id)),
        EventData::CustomerDataErased(d) => Some(("data.customer_id", &d.customer_id)),
        _ => None,
    };
    match carried {
        Some((field, value)) if value != id => Err(InvalidEvent::NotThisStream {
            field: field.to_owned(),
            reason: format!("{value:?} does not match the stream name {stream:?}"),
        }),
        _ => Ok(()),
    }
}

/// An event as stored: the envelope of EVENTS.md. `data` is always in the current schema version of its
/// type (upcast on read); `schema_version` says which version it was written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub event_id: EventId,
    pub stream: StreamName,
    pub version: u64,
    pub position: Position,
    pub schema_version: u16,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    /// Who appended it (v1.1); `None` for events written before v1.1.
    pub recorded_by: Option<RecordedBy>,
    pub metadata: Metadata,
    pub data: EventData,
    pub hash: Hash,
}

impl RecordedEvent {
    /// The event with envelope `header` and payload `data` (in its current schema version).
    pub fn from_header(header: RecordHeader, data: EventData) -> RecordedEvent {
        RecordedEvent {
            event_id: header.event_id,
            stream: header.stream,
            version: header.version,
            position: header.position,
            schema_version: header.schema_version,
            occurred_at: header.occurred_at,
            recorded_at: header.recorded_at,
            recorded_by: header.recorded_by,
            metadata: header.metadata,
            data,
            hash: header.hash,
        }
    }

    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    /// The JSON envelope of EVENTS.md, with `data` in its current form.
    pub fn to_json(&self) -> Value {
        envelope_json(&self.header(), self.data.to_json_value())
    }

    /// The envelope fields without the payload.
    pub fn header(&self) -> RecordHeader {
        RecordHeader {
            event_id: self.event_id,
            stream: self.stream.clone(),
            version: self.version,
            position: self.position,
            event_type: self.event_type(),
            schema_version: self.schema_version,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            recorded_by: self.recorded_by.clone(),
            metadata: self.metadata.clone(),
            hash: self.hash,
        }
    }
}

impl EventData {
    /// The payload as JSON, absent optional fields left out.
    pub fn to_json_value(&self) -> Value {
        strip_nulls(self.to_json_value_with_nulls())
    }
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// The JSON envelope of `event` carrying `data` (the current form, or the as-written form for exports).
pub(crate) fn envelope_json(event: &RecordHeader, data: Value) -> Value {
    let mut map = Map::new();
    map.insert("event_id".into(), Value::String(event.event_id.to_string()));
    map.insert("stream".into(), Value::String(event.stream.to_string()));
    map.insert("version".into(), Value::from(event.version));
    map.insert("position".into(), Value::from(event.position.0));
    map.insert("event_type".into(), Value::String(event.event_type.name().into()));
    map.insert("schema_version".into(), Value::from(event.schema_version));
    map.insert("occurred_at".into(), Value::String(event.occurred_at.to_rfc3339()));
    map.insert("recorded_at".into(), Value::String(event.recorded_at.to_rfc3339()));
    if let Some(by) = &event.recorded_by {
        map.insert("recorded_by".into(), Value::String(by.as_str().to_owned()));
    }
    map.insert("metadata".into(), event.metadata.to_json_value());
    map.insert("data".into(), data);
    map.insert("hash".into(), Value::String(event.hash.to_hex()));
    Value::Object(map)
}

/// The fields of one event that its hash covers, in the form the canonical layout needs.
#[derive(Debug, Clone, Copy)]
pub struct ContentFields<'a> {
    pub position: Position,
    pub stream: &'a str,
    pub version: u64,
    pub event_id: &'a EventId,
    pub event_type: &'a str,
    pub schema_version: u16,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    /// Who appended it; `Some` selects the `RDX2` layout, `None` (events from before v1.1) `RDX1`.
    pub recorded_by: Option<&'a str>,
    /// Canonical JSON of the metadata ([`canonical_json_bytes`]).
    pub metadata_json: &'a [u8],
    /// Canonical JSON of the data as written ([`canonical_json_bytes`]).
    pub data_json: &'a [u8],
}

/// The canonical bytes the audit hash covers (layout in [`crate::canonical`]).
pub fn canonical_content(fields: &ContentFields<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(if fields.recorded_by.is_some() { CANONICAL_TAG_RECORDED_BY } else { CANONICAL_TAG });
    out.extend_from_slice(&fields.position.0.to_be_bytes());
    put_str(out, fields.stream.as_bytes());
    out.extend_from_slice(&fields.version.to_be_bytes());
    out.extend_from_slice(fields.event_id.as_bytes());
    put_str(out, fields.event_type.as_bytes());
    out.extend_from_slice(&fields.schema_version.to_be_bytes());
    out.extend_from_slice(&fields.occurred_at.unix_nanos().to_be_bytes());
    out.extend_from_slice(&fields.recorded_at.unix_nanos().to_be_bytes());
    if let Some(by) = fields.recorded_by {
        put_str(out, by.as_bytes());
    }
    put_str(out, fields.metadata_json);
    put_str(out, fields.data_json);
}

/// `value` in canonical JSON form.
pub fn canonical_json_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_canonical_json(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stream(name: &str) -> StreamName {
        StreamName::new(name).unwrap()
    }

    fn received(id: &str) -> Value {
        json!({"event_type": "complaint_received", "data": {
            "complaint_id": id, "customer_id": "cust-1", "channel": "hotline",
            "category": "delivery", "severity": "high", "description": "配送延迟"}})
    }

    fn field_of(err: InvalidEvent) -> String {
        match err {
            InvalidEvent::Field { field, .. } => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_event_parses_with_its_defaults() {
        let event = ProposedEvent::from_json(received("c1"), &stream("complaint-c1")).unwrap();
        assert_eq!(event.event_id, None);
        assert_eq!(event.occurred_at, None);
        let EventData::ComplaintReceived(d) = event.data else { panic!("wrong variant") };
        assert_eq!(d.customer_tier, None);
        assert_eq!(d.description, "配送延迟");
    }

    #[test]
    fn a_wrongly_typed_field_is_named() {
        let mut v = received("c1");
        v["data"]["severity"] = json!(3);
        let err = ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err();
        assert_eq!(field_of(err), "data.severity");
    }

    #[test]
    fn a_missing_field_is_reported() {
        let mut v = received("c1");
        v["data"].as_object_mut().unwrap().remove("customer_id");
        let err = ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err();
        assert!(err.to_string().contains("customer_id"), "{err}");
    }

    #[test]
    fn an_unknown_enum_value_is_named() {
        let mut v = received("c1");
        v["data"]["channel"] = json!("carrier_pigeon");
        let err = ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err();
        assert_eq!(field_of(err), "data.channel");
    }

    #[test]
    fn unknown_fields_are_refused_in_data_and_envelope() {
        let mut v = received("c1");
        v["data"]["colour"] = json!("red");
        assert!(ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err().to_string().contains("colour"));
        let mut v = received("c1");
        v["evnt_id"] = json!("x");
        assert_eq!(field_of(ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err()), "evnt_id");
    }

    #[test]
    fn unknown_event_types_are_refused() {
        let v = json!({"event_type": "complaint_teleported", "data": {}});
        assert_eq!(
            ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err(),
            InvalidEvent::UnknownEventType { event_type: "complaint_teleported".into() }
        );
    }

    #[test]
    fn the_v1_1_types_parse_and_name_their_bad_fields() {
        let on = |stream_name: &str, event_type: &str, data: Value| {
            ProposedEvent::from_json(json!({"event_type": event_type, "data": data}), &stream(stream_name))
        };
        let c1 = "complaint-c1";
        assert!(on(c1, "complaint_assigned", json!({"assignee": "agent-7", "team": "north"})).is_ok());
        assert_eq!(field_of(on(c1, "complaint_assigned", json!({"assignee": " "})).unwrap_err()), "data.assignee");
        assert_eq!(
            field_of(on(c1, "complaint_assigned", json!({"assignee": "a", "team": ""})).unwrap_err()),
            "data.team"
        );
        assert!(on(c1, "waiting_on_customer", json!({"reason": "which order number?"})).is_ok());
        assert!(on(c1, "customer_responded", json!({})).is_ok());
        assert!(on(c1, "complaint_linked", json!({"target": "problem-P1", "relation": "same_problem"})).is_ok());
        assert!(on(c1, "complaint_linked", json!({"target": "complaint-c0", "relation": "duplicate_of"})).is_ok());
        for target in ["qa-1", "complaint-", "problem-a b", "orders"] {
            let err = on(c1, "complaint_linked", json!({"target": target, "relation": "follow_up_of"})).unwrap_err();
            assert_eq!(field_of(err), "data.target", "{target}");
        }
        let err = on(c1, "complaint_linked", json!({"target": "problem-P1", "relation": "cousin_of"})).unwrap_err();
        assert_eq!(field_of(err), "data.relation");
        let err = on(c1, "complaint_closed", json!({"outcome": "resolved", "override_reason": " "})).unwrap_err();
        assert_eq!(field_of(err), "data.override_reason");
        let err = on(c1, "commitment_made", json!({"what": "x", "due_at": "2026-01-01T00:00:00Z", "solution_id": ""}));
        assert_eq!(field_of(err.unwrap_err()), "data.solution_id");
        let identified = json!({"problem_id": "P1", "title": "t", "category": "delivery", "root_cause": "r",
                                "responsible_department": "logistics"});
        assert!(on("problem-P1", "problem_identified", identified.clone()).is_ok());
        assert!(matches!(
            on("problem-P2", "problem_identified", identified.clone()).unwrap_err(),
            InvalidEvent::NotThisStream { field, .. } if field == "data.problem_id"
        ));
        assert!(matches!(on(c1, "problem_identified", identified).unwrap_err(), InvalidEvent::WrongStream { .. }));
        assert_eq!(
            field_of(on("problem-P1", "corrective_action_taken", json!({"action": "a", "owner": ""})).unwrap_err()),
            "data.owner"
        );
        assert_eq!(
            field_of(on("problem-P1", "problem_resolved", json!({"verification": ""})).unwrap_err()),
            "data.verification"
        );
    }

    #[test]
    fn blank_text_and_out_of_range_grades_are_refused() {
        let mut v = received("c1");
        v["data"]["description"] = json!("   ");
        assert_eq!(field_of(ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err()), "data.description");
        let v =
            json!({"event_type": "revisit_done", "data": {"via": "phone", "satisfaction": 6, "issue_persists": false}});
        assert_eq!(field_of(ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err()), "data.satisfaction");
        let v = json!({"event_type": "revisit_done", "data": {"via": "phone", "satisfaction": -1, "issue_persists": false}});
        assert_eq!(field_of(ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err()), "data.satisfaction");
    }

    #[test]
    fn events_must_fit_their_stream() {
        assert!(matches!(
            ProposedEvent::from_json(received("c1"), &stream("qa-1")).unwrap_err(),
            InvalidEvent::WrongStream { .. }
        ));
        assert!(matches!(
            ProposedEvent::from_json(received("c1"), &stream("orders-1")).unwrap_err(),
            InvalidEvent::WrongStream { .. }
        ));
        // A schema-valid event naming another stream breaks a rule of the stream, and names the field.
        let other = ProposedEvent::from_json(received("c2"), &stream("complaint-c1")).unwrap_err();
        assert!(
            matches!(&other, InvalidEvent::NotThisStream { field, .. } if field == "data.complaint_id"),
            "{other:?}"
        );
    }

    #[test]
    fn an_integer_written_with_a_zero_fraction_is_an_integer() {
        let revisit = json!({"event_type": "revisit_done",
            "data": {"via": "phone", "satisfaction": 4.0, "issue_persists": false}});
        let event = ProposedEvent::from_json(revisit, &stream("complaint-c1")).unwrap();
        let EventData::RevisitDone(d) = event.data else { panic!("wrong variant") };
        assert_eq!(d.satisfaction, 4);
        let half = json!({"event_type": "revisit_done",
            "data": {"via": "phone", "satisfaction": 4.5, "issue_persists": false}});
        assert_eq!(field_of(ProposedEvent::from_json(half, &stream("complaint-c1")).unwrap_err()), "data.satisfaction");
    }

    #[test]
    fn bad_envelope_fields_are_named() {
        let mut v = received("c1");
        v["event_id"] = json!("not-a-uuid");
        assert_eq!(field_of(ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err()), "event_id");
        let mut v = received("c1");
        v["occurred_at"] = json!("last tuesday");
        assert_eq!(field_of(ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err()), "occurred_at");
        let mut v = received("c1");
        v["metadata"] = json!({"actor": 7});
        assert_eq!(field_of(ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err()), "metadata.actor");
    }

    #[test]
    fn a_publisher_cannot_set_recorded_by() {
        let mut v = received("c1");
        v["recorded_by"] = json!("head-of-service");
        let err = ProposedEvent::from_json(v, &stream("complaint-c1")).unwrap_err();
        assert_eq!(field_of(err.clone()), "recorded_by");
        assert!(err.to_string().contains("stamped by the server"), "{err}");
    }

    #[test]
    fn recorded_by_is_covered_by_the_rdx2_layout_and_its_absence_keeps_rdx1() {
        let id = EventId(uuid::Uuid::from_u128(1));
        let fields = ContentFields {
            position: Position(0),
            stream: "complaint-c1",
            version: 0,
            event_id: &id,
            event_type: "complaint_closed",
            schema_version: 2,
            occurred_at: Timestamp::from_unix_nanos(1),
            recorded_at: Timestamp::from_unix_nanos(2),
            recorded_by: None,
            metadata_json: b"{}",
            data_json: b"{\"outcome\":\"withdrawn\"}",
        };
        let mut old = Vec::new();
        canonical_content(&fields, &mut old);
        assert_eq!(&old[..4], b"RDX1");
        let mut new = Vec::new();
        canonical_content(&ContentFields { recorded_by: Some("callcenter"), ..fields }, &mut new);
        assert_eq!(&new[..4], b"RDX2");
        // RDX2 = RDX1 with the name (u32 length + bytes) inserted after recorded_at (offset 4 + 8 + 4 + 12 +
        // 8 + 16 + 4 + 16 + 2 + 8 + 8 = 90).
        let at = 90;
        assert_eq!(&new[4..at], &old[4..at]);
        assert_eq!(&new[at..at + 4], &10u32.to_be_bytes());
        assert_eq!(&new[at + 4..at + 14], b"callcenter");
        assert_eq!(&new[at + 14..], &old[at..]);
    }

    #[test]
    fn a_revision_must_change_something() {
        let v = json!({"event_type": "standard_answer_revised", "data": {}});
        assert_eq!(field_of(ProposedEvent::from_json(v, &stream("qa-1")).unwrap_err()), "data");
    }

    #[test]
    fn hashes_round_trip_through_hex() {
        let h = Hash([0xab; 32]);
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
    }

    #[test]
    fn translations_of_a_standard_answer_are_checked_like_its_own_text() {
        let stream = stream("qa-qa-1");
        let published = |translations: Value| {
            json!({"event_type": "standard_answer_published", "data": {"answer_id": "qa-1", "category": "delivery",
                "title": "配送延迟", "answer": "非常抱歉", "keywords": ["物流"], "translations": translations}})
        };
        let english = json!({"title": "Late delivery", "answer": "We are sorry.", "keywords": ["late"]});
        let ok = ProposedEvent::from_json(published(json!({"en": english, "zh-Hant": english})), &stream).unwrap();
        validate_values(&ok.data).expect("two languages");
        let EventData::StandardAnswerPublished(p) = &ok.data else { panic!("published") };
        assert_eq!(p.translations.as_ref().unwrap()["en"].title, "Late delivery");
        let refused = |translations: Value| {
            let event = ProposedEvent::from_json(published(translations), &stream);
            field_of(event.and_then(|e| validate_values(&e.data).map(|()| e)).unwrap_err())
        };
        assert_eq!(refused(json!({"english": english})), "data.translations.english", "not a language tag");
        assert_eq!(refused(json!({})), "data.translations", "no language");
        let blank = json!({"title": " ", "answer": "We are sorry.", "keywords": ["late"]});
        assert_eq!(refused(json!({"en": blank})), "data.translations.en.title");
        let blank_keyword = json!({"title": "Late", "answer": "Sorry.", "keywords": ["late", ""]});
        assert_eq!(refused(json!({"en": blank_keyword})), "data.translations.en.keywords[1]");
        let many: serde_json::Map<String, Value> =
            (0..17).map(|i| (format!("x{}", char::from(b'a' + i)), english.clone())).collect();
        assert_eq!(refused(Value::Object(many)), "data.translations", "at most 16 languages");
        assert!(
            ProposedEvent::from_json(published(json!({"en": {"title": "t"}})), &stream).is_err(),
            "a missing field"
        );

        let revision = json!({"event_type": "standard_answer_revised", "data": {"translations": {"en": english}}});
        let revision = ProposedEvent::from_json(revision, &stream).unwrap();
        validate_values(&revision.data).expect("a revision of one translation alone");
    }

    #[test]
    fn an_integral_number_written_with_a_fraction_reads_as_that_integer_even_near_2_to_the_53() {
        // serde_json's default float parsing is off by a fraction for numbers this large; the workspace
        // enables `float_roundtrip` so that 2^51 - 1 written as "2251799813685247.0" stays integral.
        let mut value: Value =
            serde_json::from_str(r#"{"positions": [3.0, 2251799813685247.0, 9007199254740991.0, 1.5]}"#).unwrap();
        integral_numbers_as_integers(&mut value);
        let read: Vec<Option<u64>> = value["positions"].as_array().unwrap().iter().map(Value::as_u64).collect();
        assert_eq!(read, [Some(3), Some(2_251_799_813_685_247), Some(9_007_199_254_740_991), None]);
    }
}
