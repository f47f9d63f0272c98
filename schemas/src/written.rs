//! [`WrittenEvent`]: an event exactly as it was written, the form that exports carry and the hash covers.

use crate::catalogue::{EventData, EventType};
use crate::codec::{decode_header, encode_record, CodecError, RecordHeader};
use crate::envelope::{
    canonical_content, canonical_json_bytes, envelope_json, parse_data, ContentFields, Hash, Metadata, RecordedEvent,
};
use crate::ids::{EventId, Position, StreamName};
use crate::recorded_by::RecordedBy;
use crate::time::Timestamp;
use crate::upcast::{old_version, upcast_json};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// An event as written: the envelope and the payload in the schema version it was written with.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenEvent {
    pub header: RecordHeader,
    /// The payload as written, as JSON.
    pub data: Value,
}

/// Why a line of an export is not an event. Names the position when the line got that far.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ExportLineError {
    pub field: String,
    pub reason: String,
}

fn line_error(field: &str, reason: impl Into<String>) -> ExportLineError {
    ExportLineError { field: field.to_owned(), reason: reason.into() }
}

impl WrittenEvent {
    /// Reads a stored record without upcasting.
    pub fn decode(bytes: &[u8]) -> Result<WrittenEvent, CodecError> {
        let (header, payload) = decode_header(bytes)?;
        let data = if header.schema_version == header.event_type.schema_version() {
            EventData::decode_current(header.event_type, payload)?.to_json_value()
        } else if header.schema_version > header.event_type.schema_version() {
            return Err(CodecError::UnknownSchemaVersion {
                event_type: header.event_type,
                schema_version: header.schema_version,
            });
        } else {
            strip_nulls((old_version(header.event_type, header.schema_version)?.to_json)(payload)?)
        };
        Ok(WrittenEvent { header, data })
    }

    /// The record bytes of this event as written (what an import stores).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let event_type = self.header.event_type;
        let payload = if self.header.schema_version == event_type.schema_version() {
            let data = parse_data(event_type, self.data.clone()).map_err(|e| CodecError::Malformed(e.to_string()))?;
            crate::codec::encode_payload(&data)
        } else {
            let old = old_version(event_type, self.header.schema_version)?;
            (old.from_json)(self.data.clone()).map_err(CodecError::Malformed)?
        };
        let mut out = Vec::with_capacity(payload.len() + 128);
        encode_record(&self.header, &payload, &mut out)?;
        Ok(out)
    }

    /// The same event with its payload upcast to the current version.
    pub fn to_recorded(&self) -> Result<RecordedEvent, CodecError> {
        let h = &self.header;
        let current = upcast_json(h.event_type, h.schema_version, self.data.clone())?;
        let data = parse_data(h.event_type, current).map_err(|e| CodecError::Malformed(e.to_string()))?;
        Ok(RecordedEvent {
            event_id: h.event_id,
            stream: h.stream.clone(),
            version: h.version,
            position: h.position,
            schema_version: h.schema_version,
            occurred_at: h.occurred_at,
            recorded_at: h.recorded_at,
            recorded_by: h.recorded_by.clone(),
            metadata: h.metadata.clone(),
            data,
            hash: h.hash,
        })
    }

    /// The canonical bytes the audit hash covers.
    pub fn canonical_content(&self, out: &mut Vec<u8>) {
        let h = &self.header;
        let metadata_json = canonical_json_bytes(&h.metadata.to_json_value());
        let data_json = canonical_json_bytes(&self.data);
        canonical_content(
            &ContentFields {
                position: h.position,
                stream: h.stream.as_str(),
                version: h.version,
                event_id: &h.event_id,
                event_type: h.event_type.name(),
                schema_version: h.schema_version,
                occurred_at: h.occurred_at,
                recorded_at: h.recorded_at,
                recorded_by: h.recorded_by.as_ref().map(RecordedBy::as_str),
                metadata_json: &metadata_json,
                data_json: &data_json,
            },
            out,
        );
    }

    /// The JSON envelope (one line of an export).
    pub fn to_json(&self) -> Value {
        envelope_json(&self.header, self.data.clone())
    }

    /// Parses one line of an export. The payload is kept as given (verification hashes what the auditor
    /// holds); [`WrittenEvent::encode`] validates it against its schema version.
    pub fn from_json(value: Value) -> Result<WrittenEvent, ExportLineError> {
        let Value::Object(mut map) = value else {
            return Err(line_error("line", "is not a JSON object"));
        };
        let text = |map: &mut Map<String, Value>, field: &str| -> Result<String, ExportLineError> {
            match map.remove(field) {
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(line_error(field, "must be a string")),
                None => Err(line_error(field, "missing")),
            }
        };
        let number = |map: &mut Map<String, Value>, field: &str| -> Result<u64, ExportLineError> {
            map.remove(field)
                .and_then(|v| v.as_u64())
                .ok_or_else(|| line_error(field, "must be a non-negative integer"))
        };
        let position = Position(number(&mut map, "position")?);
        let version = number(&mut map, "version")?;
        let schema_version = u16::try_from(number(&mut map, "schema_version")?)
            .map_err(|_| line_error("schema_version", "out of range"))?;
        let event_id = text(&mut map, "event_id")?;
        let event_id = EventId(uuid::Uuid::parse_str(&event_id).map_err(|_| line_error("event_id", "not a UUID"))?);
        let stream = StreamName::new(text(&mut map, "stream")?).map_err(|e| line_error("stream", e.to_string()))?;
        let type_name = text(&mut map, "event_type")?;
        let event_type = EventType::from_name(&type_name)
            .ok_or_else(|| line_error("event_type", format!("unknown {type_name:?}")))?;
        let time = |map: &mut Map<String, Value>, field: &str| -> Result<Timestamp, ExportLineError> {
            let raw = text(map, field)?;
            Timestamp::parse(&raw).map_err(|e| line_error(field, e.to_string()))
        };
        let occurred_at = time(&mut map, "occurred_at")?;
        let recorded_at = time(&mut map, "recorded_at")?;
        let hash = Hash::from_hex(&text(&mut map, "hash")?).ok_or_else(|| line_error("hash", "not 64 hex digits"))?;
        // Absent on lines exported before v1.1; present, it is covered by the hash like any other field.
        let recorded_by = match map.remove("recorded_by") {
            None | Some(Value::Null) => None,
            Some(Value::String(by)) => Some(RecordedBy::new(by).map_err(|e| line_error("recorded_by", e.to_string()))?),
            Some(_) => return Err(line_error("recorded_by", "must be a string")),
        };
        let metadata = match map.remove("metadata") {
            None | Some(Value::Null) => Metadata::default(),
            Some(Value::Object(entries)) => {
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    match v {
                        Value::String(s) => {
                            out.insert(k, s);
                        }
                        _ => return Err(line_error(&format!("metadata.{k}"), "must be a string")),
                    }
                }
                Metadata(out)
            }
            Some(_) => return Err(line_error("metadata", "must be an object")),
        };
        let data = map.remove("data").ok_or_else(|| line_error("data", "missing"))?;
        if let Some(extra) = map.keys().next() {
            return Err(line_error(extra, "unknown field"));
        }
        let header = RecordHeader {
            event_id,
            stream,
            version,
            position,
            event_type,
            schema_version,
            occurred_at,
            recorded_at,
            recorded_by,
            metadata,
            hash,
        };
        Ok(WrittenEvent { header, data })
    }
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}
