//! The binary form of stored records. The only module that knows bincode.
//!
//! ```text
//! record  = 1 | bincode(Layout)                 format 1 = bincode 1.3.3, varint integers, little-endian
//!         | 2 | bincode(recorded_by str) | bincode(Layout)    format 2 (v1.1): the same, after who appended it
//! Layout  = position, stream, version, event_id, type_code, schema_version,
//!           occurred_at, recorded_at, metadata, hash, payload bytes
//! payload = bincode(the payload struct of (type_code, schema_version))
//! ```
//! Format 2 is written for every event that has `recorded_by`; an event without it (an import of
//! history from before v1.1) is written as format 1 again, byte for byte what the old build wrote.
//! The format byte lets a later codec (a maintained bincode-compatible crate, or another format) read old
//! records and write new ones without rewriting history: add format 2, keep the reader of format 1.

use crate::catalogue::{EventData, EventType};
use crate::envelope::{Hash, Metadata, RecordedEvent};
use crate::ids::{EventId, Position, StreamName};
use crate::recorded_by::RecordedBy;
use crate::time::Timestamp;
use crate::upcast;
use bincode::Options;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Records of events without `recorded_by` (written before v1.1, or imported from then) start with this byte.
pub const FORMAT_BINCODE_1: u8 = 1;

/// Records of events with `recorded_by` (v1.1) start with this byte.
pub const FORMAT_BINCODE_2: u8 = 2;

/// The largest record the codec reads (a defence against corrupt length prefixes).
pub const RECORD_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Why bytes could not be read as a record. Handling: the store is damaged or was written by a newer
/// build; report the position, never skip the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("empty record")]
    Empty,
    #[error("unknown record format {0} (written by a newer Redress?)")]
    UnknownFormat(u8),
    #[error("unknown event type code {0}")]
    UnknownEventType(u16),
    #[error("event type {event_type} has no schema version {schema_version}")]
    UnknownSchemaVersion { event_type: EventType, schema_version: u16 },
    #[error("malformed record: {0}")]
    Malformed(String),
}

impl From<bincode::Error> for CodecError {
    fn from(e: bincode::Error) -> Self {
        CodecError::Malformed(e.to_string())
    }
}

fn options() -> impl Options {
    // DefaultOptions: varint integers, little-endian, trailing bytes rejected.
    bincode::DefaultOptions::new().with_limit(RECORD_BYTES_MAX)
}

/// Appends the bincode form of `value` to `out`.
pub(crate) fn encode_into<T: Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), bincode::Error> {
    options().serialize_into(out, value)
}

/// Reads a `T` that must span all of `bytes`.
pub(crate) fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, bincode::Error> {
    options().deserialize(bytes)
}

struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

#[derive(Serialize)]
struct LayoutOut<'a> {
    position: u64,
    stream: &'a str,
    version: u64,
    event_id: [u8; 16],
    type_code: u16,
    schema_version: u16,
    occurred_at: i64,
    recorded_at: i64,
    metadata: &'a BTreeMap<String, String>,
    hash: [u8; 32],
    payload: Bytes<'a>,
}

#[derive(Deserialize)]
struct LayoutIn<'a> {
    position: u64,
    stream: Cow<'a, str>,
    version: u64,
    event_id: [u8; 16],
    type_code: u16,
    schema_version: u16,
    occurred_at: i64,
    recorded_at: i64,
    metadata: BTreeMap<String, String>,
    hash: [u8; 32],
    #[serde(borrow)]
    payload: &'a [u8],
}

/// The envelope fields of a record, everything but the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub event_id: EventId,
    pub stream: StreamName,
    pub version: u64,
    pub position: Position,
    pub event_type: EventType,
    pub schema_version: u16,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    /// Who appended it (v1.1); `None` for events written before v1.1.
    pub recorded_by: Option<RecordedBy>,
    pub metadata: Metadata,
    pub hash: Hash,
}

/// Encodes a record from its header and an already-encoded payload (see [`encode_payload`]).
pub fn encode_record(header: &RecordHeader, payload: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    match &header.recorded_by {
        None => out.push(FORMAT_BINCODE_1),
        Some(by) => {
            out.push(FORMAT_BINCODE_2);
            encode_into(out, &by.as_str())?;
        }
    }
    let layout = LayoutOut {
        position: header.position.0,
        stream: header.stream.as_str(),
        version: header.version,
        event_id: *header.event_id.as_bytes(),
        type_code: header.event_type.code(),
        schema_version: header.schema_version,
        occurred_at: header.occurred_at.unix_nanos(),
        recorded_at: header.recorded_at.unix_nanos(),
        metadata: &header.metadata.0,
        hash: header.hash.0,
        payload: Bytes(payload),
    };
    encode_into(out, &layout).map_err(CodecError::from)
}

/// The current-version binary payload of `data`.
pub fn encode_payload(data: &EventData) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    data.encode_payload(&mut out).expect("payload structs always encode into a Vec");
    out
}

/// Splits a record into its header and its payload bytes (as written).
pub fn decode_header(bytes: &[u8]) -> Result<(RecordHeader, &[u8]), CodecError> {
    let (&format, mut rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    let recorded_by = match format {
        FORMAT_BINCODE_1 => None,
        FORMAT_BINCODE_2 => {
            // Reading from the slice advances it past the name; the layout must then span the rest.
            let text: String = options().deserialize_from(&mut rest)?;
            Some(RecordedBy::new(text).map_err(|e| CodecError::Malformed(format!("recorded_by: {e}")))?)
        }
        other => return Err(CodecError::UnknownFormat(other)),
    };
    let layout: LayoutIn<'_> = options().deserialize(rest)?;
    let event_type = EventType::from_code(layout.type_code).ok_or(CodecError::UnknownEventType(layout.type_code))?;
    let stream =
        StreamName::new(layout.stream.into_owned()).map_err(|e| CodecError::Malformed(format!("stream name: {e}")))?;
    let header = RecordHeader {
        event_id: EventId(uuid::Uuid::from_bytes(layout.event_id)),
        stream,
        version: layout.version,
        position: Position(layout.position),
        event_type,
        schema_version: layout.schema_version,
        occurred_at: Timestamp::from_unix_nanos(layout.occurred_at),
        recorded_at: Timestamp::from_unix_nanos(layout.recorded_at),
        recorded_by,
        metadata: Metadata(layout.metadata),
        hash: Hash(layout.hash),
    };
    Ok((header, layout.payload))
}

/// Reads a whole record, upcasting its payload to the current schema version of its type.
pub fn decode_record(bytes: &[u8]) -> Result<RecordedEvent, CodecError> {
    let (header, payload) = decode_header(bytes)?;
    let data = decode_payload(header.event_type, header.schema_version, payload)?;
    Ok(RecordedEvent::from_header(header, data))
}

/// Reads a payload written with `schema_version` of `event_type`, as the current version.
pub fn decode_payload(event_type: EventType, schema_version: u16, payload: &[u8]) -> Result<EventData, CodecError> {
    if schema_version == event_type.schema_version() {
        Ok(EventData::decode_current(event_type, payload)?)
    } else {
        upcast::upcast_payload(event_type, schema_version, payload)
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn header(event_type: EventType, schema_version: u16) -> RecordHeader {
        RecordHeader {
            event_id: EventId(uuid::Uuid::from_u128(7)),
            stream: StreamName::new("complaint-c1").unwrap(),
            version: 3,
            position: Position(41),
            event_type,
            schema_version,
            occurred_at: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
            recorded_at: Timestamp::from_unix_nanos(1_700_000_000_500_000_000),
            recorded_by: None,
            metadata: Metadata::default().with("actor", "agent-7"),
            hash: Hash([9; 32]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::header;
    use super::*;
    use crate::catalogue::*;

    #[test]
    fn a_record_round_trips() {
        let data = EventData::SolutionOffered(SolutionOffered {
            solution_id: "s1".into(),
            description: "换新".into(),
            promised_by: Some(Timestamp::from_unix_nanos(5)),
        });
        let h = header(EventType::SolutionOffered, 1);
        let mut bytes = Vec::new();
        encode_record(&h, &encode_payload(&data), &mut bytes).unwrap();
        assert_eq!(bytes[0], FORMAT_BINCODE_1);
        let event = decode_record(&bytes).unwrap();
        assert_eq!(event.data, data);
        assert_eq!(event.position, Position(41));
        assert_eq!(event.metadata.actor(), Some("agent-7"));
        assert_eq!(event.hash, Hash([9; 32]));
    }

    #[test]
    fn recorded_by_selects_format_2_and_its_absence_writes_format_1_unchanged() {
        let data = EventData::ComplaintClosed(ComplaintClosed { outcome: Outcome::Withdrawn, override_reason: None });
        let payload = encode_payload(&data);
        let old = header(EventType::ComplaintClosed, 2);
        let mut v1 = Vec::new();
        encode_record(&old, &payload, &mut v1).unwrap();
        assert_eq!(v1[0], FORMAT_BINCODE_1);
        let by = RecordedBy::credential("callcenter").unwrap();
        let new = RecordHeader { recorded_by: Some(by.clone()), ..old.clone() };
        let mut v2 = Vec::new();
        encode_record(&new, &payload, &mut v2).unwrap();
        assert_eq!(v2[0], FORMAT_BINCODE_2);
        // Format 2 is format 1's layout behind the name: the old reader's bytes are all still there.
        assert_eq!(&v2[v2.len() - (v1.len() - 1)..], &v1[1..]);
        assert_eq!(decode_record(&v1).unwrap().recorded_by, None);
        let read = decode_record(&v2).unwrap();
        assert_eq!((read.recorded_by, read.data), (Some(by), data));
        let mut garbled = v2.clone();
        garbled[2] = b' ';
        assert!(matches!(decode_record(&garbled), Err(CodecError::Malformed(_))), "a bad name is not read");
    }

    #[test]
    fn unknown_format_bytes_and_trailing_garbage_are_refused() {
        let data = EventData::ComplaintClosed(ComplaintClosed { outcome: Outcome::Resolved, override_reason: None });
        let mut bytes = Vec::new();
        encode_record(&header(EventType::ComplaintClosed, 1), &encode_payload(&data), &mut bytes).unwrap();
        let mut other = bytes.clone();
        other[0] = 3;
        assert_eq!(decode_record(&other), Err(CodecError::UnknownFormat(3)));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode_record(&longer), Err(CodecError::Malformed(_))));
        assert_eq!(decode_record(&[]), Err(CodecError::Empty));
    }
}

/// Snapshots (projection states) start with this byte.
pub const FORMAT_SNAPSHOT_BINCODE_1: u8 = 1;

/// The largest snapshot the codec reads.
pub const SNAPSHOT_BYTES_MAX: u64 = 1 << 32;

fn snapshot_options() -> impl Options {
    bincode::DefaultOptions::new().with_limit(SNAPSHOT_BYTES_MAX)
}

/// Encodes any serde value as a snapshot: a format byte, then bincode.
pub fn encode_snapshot<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT_SNAPSHOT_BINCODE_1];
    snapshot_options().serialize_into(&mut out, value)?;
    Ok(out)
}

/// Reads a snapshot written by [`encode_snapshot`].
pub fn decode_snapshot<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&format, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    if format != FORMAT_SNAPSHOT_BINCODE_1 {
        return Err(CodecError::UnknownFormat(format));
    }
    Ok(snapshot_options().deserialize(rest)?)
}
