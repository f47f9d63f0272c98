//! Turning proposed events into what the writer stores, outside the writer: validation, limits, the
//! canonical JSON the hash covers, and the binary payload. This work runs on the caller's task, so the
//! single writer only assigns positions, chains hashes and writes.

use crate::error::StoreError;
use crate::limits::{APPEND_EVENTS_MAX, EVENT_BYTES_MAX};
use redress_schemas::{
    canonical_json_bytes, codec, validate_for_stream, validate_values, EventData, EventId, Metadata, ProposedEvent,
    RecordedBy, StreamName, Timestamp, METADATA_ENTRIES_MAX,
};
use std::collections::HashSet;

/// An event ready for the writer.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub event_id: EventId,
    pub occurred_at: Option<Timestamp>,
    pub metadata: Metadata,
    pub data: EventData,
    /// Who appends it: the caller's name, or [`RecordedBy::UNATTRIBUTED`] when the caller gave none.
    pub recorded_by: RecordedBy,
    /// Canonical JSON of `metadata`.
    pub metadata_json: Vec<u8>,
    /// Canonical JSON of `data`.
    pub data_json: Vec<u8>,
    /// The current-version binary payload.
    pub payload: Vec<u8>,
}

/// Checks an append's events against every limit and value rule and prepares them.
///
/// Refuses: no events, more than [`APPEND_EVENTS_MAX`], an event whose canonical data + metadata exceed
/// [`EVENT_BYTES_MAX`], the same id twice, data that breaks a value rule or does not fit the stream.
pub fn prepare(stream: &StreamName, events: Vec<ProposedEvent>) -> Result<Vec<PreparedEvent>, StoreError> {
    if events.is_empty() {
        return Err(StoreError::EmptyAppend);
    }
    if events.len() > APPEND_EVENTS_MAX {
        return Err(StoreError::LimitExceeded {
            limit: "append_events_max",
            max: APPEND_EVENTS_MAX,
            actual: events.len(),
        });
    }
    let mut seen = HashSet::with_capacity(events.len());
    let mut prepared = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        validate_values(&event.data).map_err(|error| StoreError::InvalidEvent { index, error })?;
        validate_for_stream(&event.data, stream).map_err(|error| StoreError::InvalidEvent { index, error })?;
        let event_id = event.event_id.unwrap_or_else(EventId::new_v7);
        if !seen.insert(event_id) {
            return Err(StoreError::DuplicateEventId(event_id));
        }
        if event.metadata.0.len() > METADATA_ENTRIES_MAX {
            return Err(StoreError::LimitExceeded {
                limit: "metadata_entries_max",
                max: METADATA_ENTRIES_MAX,
                actual: event.metadata.0.len(),
            });
        }
        let metadata_json = canonical_json_bytes(&event.metadata.to_json_value());
        let data_json = canonical_json_bytes(&event.data.to_json_value());
        let size = metadata_json.len() + data_json.len();
        if size > EVENT_BYTES_MAX {
            return Err(StoreError::LimitExceeded { limit: "event_bytes_max", max: EVENT_BYTES_MAX, actual: size });
        }
        let payload = codec::encode_payload(&event.data);
        prepared.push(PreparedEvent {
            event_id,
            occurred_at: event.occurred_at,
            metadata: event.metadata,
            data: event.data,
            recorded_by: event.recorded_by.unwrap_or_else(RecordedBy::unattributed),
            metadata_json,
            data_json,
            payload,
        });
    }
    Ok(prepared)
}
