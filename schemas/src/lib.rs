//! The Redress event catalogue: the event types of EVENTS.md, their validation, their binary encoding
//! and its versioning (upcasters), and their JSON Schema.
//!
//! Architecture invariant: no I/O, no async, no storage. Everything here is a pure function of its input.
//!
//! ```
//! use redress_schemas::{ProposedEvent, StreamName, EventData};
//! let stream = StreamName::new("complaint-C-1001").unwrap();
//! let event = ProposedEvent::from_json(serde_json::json!({
//!     "event_type": "complaint_received",
//!     "data": {"complaint_id": "C-1001", "customer_id": "K-7", "channel": "hotline",
//!              "category": "delivery", "severity": "high", "description": "货到了但是屏幕碎了"}
//! }), &stream).unwrap();
//! assert!(matches!(event.data, EventData::ComplaintReceived(_)));
//!
//! // A wrong value is refused with the field's name.
//! let err = ProposedEvent::from_json(serde_json::json!({
//!     "event_type": "complaint_closed", "data": {"outcome": "vanished"}
//! }), &stream).unwrap_err();
//! assert!(err.to_string().starts_with("data.outcome"));
//! ```

mod canonical;
mod catalogue;
pub mod codec;
mod envelope;
mod ids;
mod jsonschema;
mod personal;
mod recorded_by;
pub mod rng;
mod time;
mod upcast;
mod written;

pub use canonical::{write_canonical_json, CANONICAL_TAG, CANONICAL_TAG_RECORDED_BY};
pub use catalogue::*;
pub use codec::{CodecError, RecordHeader};
pub use envelope::{
    canonical_content, canonical_json_bytes, integral_numbers_as_integers, parse_data, validate_for_stream,
    validate_values, ContentFields, Hash, InvalidEvent, Metadata, ProposedEvent, RecordedEvent, METADATA_ENTRIES_MAX,
};
pub use ids::{EventId, Position, StreamKind, StreamName, StreamNameError, STREAM_NAME_BYTES_MAX};
pub use jsonschema::{all_schema_files, event_schema};
pub use personal::ERASED_TEXT;
pub use recorded_by::{RecordedBy, RecordedByError, CREDENTIAL_NAME_BYTES_MAX, RECORDED_BY_BYTES_MAX};
pub use time::{Timestamp, TimestampError, TIMESTAMP_PATTERN};
pub use upcast::{CauseAnalyzedV1, CommitmentMadeV1, ComplaintClosedV1, ResolutionConfirmedV1};
pub use written::{ExportLineError, WrittenEvent};
