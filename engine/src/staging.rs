//! The backend-neutral core of a writer, shared by the sled writer and the PostgreSQL writer: the
//! commands they drain, the cache of hot streams, and the pure steps of staging an append or an import
//! (idempotency, expected version, lifecycle, positions, hashes, records). Each backend keeps only its
//! own I/O: where it looks ids and streams up, and how it writes the result.

use crate::chain::chain_hash;
use crate::error::StoreError;
use crate::lifecycle::{self, StreamState};
use crate::limits::STREAM_STATE_CACHE_STREAMS_MAX;
use crate::prepare::PreparedEvent;
use crate::store::{AppendOutcome, AppendResult, ExpectedVersion, StoreOptions};
use redress_schemas::{
    canonical_content, canonical_json_bytes, codec, ContentFields, EventData, EventId, Hash, Position, RecordHeader,
    RecordedBy, RecordedEvent, StreamName, Timestamp, WrittenEvent,
};
use std::collections::HashMap;
use tokio::sync::oneshot;

/// What a writer's queue carries.
pub enum WriteCommand {
    Append {
        stream: StreamName,
        expected: ExpectedVersion,
        events: Vec<PreparedEvent>,
        reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    },
    Import {
        events: Vec<WrittenEvent>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// A command a writer's check refused, answered only when the rest of its group is durable or has
/// failed. The check read the writer's view, which includes the group's staged events: answered at
/// once, "wrong expected version, current 0" could reach a caller who then reads the stream and finds
/// no version 0 (seen: an HTTP client's next append was refused "no complaint yet").
pub enum Refusal {
    Append(oneshot::Sender<Result<AppendOutcome, StoreError>>, StoreError),
    Import(oneshot::Sender<Result<(), StoreError>>, StoreError),
}

impl Refusal {
    pub fn send(self) {
        match self {
            Refusal::Append(reply, error) => drop(reply.send(Err(error))),
            Refusal::Import(reply, error) => drop(reply.send(Err(error))),
        }
    }
}

impl WriteCommand {
    /// How many events the command carries (group commits are bounded in events).
    pub fn event_count(&self) -> usize {
        match self {
            WriteCommand::Append { events, .. } => events.len(),
            WriteCommand::Import { events, .. } => events.len(),
        }
    }

    /// Roughly how many bytes the command will write (its payloads and canonical JSON), for the
    /// store's free-space check before a group is written.
    pub fn payload_bytes(&self) -> usize {
        match self {
            WriteCommand::Append { events, .. } => {
                events.iter().map(|e| e.payload.len() + e.data_json.len() + e.metadata_json.len() + 128).sum()
            }
            // Imports are rare and their sizes are not at hand; a kibibyte an event is a fair guess.
            WriteCommand::Import { events, .. } => events.len() * 1024,
        }
    }

    /// Answers the command with `error`.
    pub fn fail(self, error: StoreError) {
        match self {
            WriteCommand::Append { reply, .. } => drop(reply.send(Err(error))),
            WriteCommand::Import { reply, .. } => drop(reply.send(Err(error))),
        }
    }
}

/// A stream's last version and lifecycle state, as a writer knows it.
#[derive(Debug, Clone, Default)]
pub struct StreamHead {
    pub last_version: Option<u64>,
    pub state: StreamState,
}

/// A bounded cache of hot streams: two generations; when the young one fills, it becomes the old one
/// and the old one is dropped. A hit in the old generation moves the entry back to the young one.
#[derive(Default)]
pub struct StreamCache {
    young: HashMap<StreamName, StreamHead>,
    old: HashMap<StreamName, StreamHead>,
}

impl StreamCache {
    /// The cached head of `stream`.
    pub fn get(&mut self, stream: &StreamName) -> Option<&StreamHead> {
        if !self.young.contains_key(stream) {
            let head = self.old.remove(stream)?;
            self.insert(stream.clone(), head);
        }
        self.young.get(stream)
    }

    /// Caches `head` for `stream`.
    pub fn insert(&mut self, stream: StreamName, head: StreamHead) {
        if self.young.len() >= STREAM_STATE_CACHE_STREAMS_MAX && !self.young.contains_key(&stream) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(stream, head);
    }
}

/// Where an event id is stored: its stream when the backend knows it cheaply, its position, and the
/// append that stored it.
#[derive(Debug, Clone)]
pub struct StoredId {
    pub stream: Option<StreamName>,
    pub position: Position,
    pub append: AppendResult,
}

/// The idempotency rule: `Some(outcome)` when every id of `events` was stored by one earlier append to
/// `stream`, in this order, each with the same content ([`content_difference`]); `None` when none was;
/// [`StoreError::IdempotencyConflict`] for anything in between. `found[i]` is where `events[i]`'s id is
/// stored; `stored_event(i, id)` reads that stored event.
///
/// Cheap for what is common: an append with fresh ids returns at the first check, and stored events are
/// read only once the ids line up with one earlier append (a retry, which is rare).
pub fn idempotent_outcome(
    stream: &StreamName,
    events: &[PreparedEvent],
    found: &[Option<StoredId>],
    mut stored_event: impl FnMut(usize, &StoredId) -> Result<RecordedEvent, StoreError>,
) -> Result<Option<AppendOutcome>, StoreError> {
    debug_assert_eq!(found.len(), events.len());
    let stored = found.iter().filter(|f| f.is_some()).count();
    if stored == 0 {
        return Ok(None);
    }
    let first_stored = events[found.iter().position(Option::is_some).expect("stored > 0")].event_id;
    let conflict = |reason: String| StoreError::IdempotencyConflict { event_id: first_stored, reason };
    if stored < events.len() {
        return Err(conflict(format!("{stored} of the {} event ids were stored before", events.len())));
    }
    let first = found[0].as_ref().expect("all stored").append;
    let count = first.last_position.0 - first.first_position.0 + 1;
    if count != events.len() as u64 {
        return Err(conflict(format!("the earlier append held {count} events, this one {}", events.len())));
    }
    let another_stream = || conflict(format!("the earlier append went to another stream than {stream}"));
    for (i, entry) in found.iter().enumerate() {
        let entry = entry.as_ref().expect("all stored");
        if entry.append != first || entry.position.0 != first.first_position.0 + i as u64 {
            return Err(conflict("the ids were stored by different appends or in another order".into()));
        }
        if entry.stream.as_ref().is_some_and(|s| s != stream) {
            return Err(another_stream());
        }
    }
    // The ids line up with one earlier append: it is a retry only if every event says the same again.
    for (i, (event, entry)) in events.iter().zip(found).enumerate() {
        let entry = entry.as_ref().expect("all stored");
        let stored = stored_event(i, entry)?;
        if stored.event_id != event.event_id || stored.position != entry.position {
            return Err(StoreError::Corruption {
                position: entry.position,
                reason: format!(
                    "the id index puts event {} at {}, the log holds another event there",
                    event.event_id, entry.position
                ),
            });
        }
        match content_difference(stream, event, &stored) {
            None => {}
            Some(Difference::Stream) => return Err(another_stream()),
            Some(difference) => {
                return Err(StoreError::IdempotencyConflict {
                    event_id: event.event_id,
                    reason: format!("event {i} has the id of a stored event with other {difference}"),
                })
            }
        }
    }
    Ok(Some(AppendOutcome { result: first, idempotent_retry: true }))
}

/// Which part of an event's content differs from the stored event that has its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    /// It was stored on another stream.
    Stream,
    /// It was stored as another event type (two types may share a data shape).
    EventType,
    /// Its data differs (as canonical JSON of the current schema version).
    Data,
    /// Its metadata differs (as canonical JSON).
    Metadata,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Difference::Stream => "stream",
            Difference::EventType => "event_type",
            Difference::Data => "data",
            Difference::Metadata => "metadata",
        })
    }
}

/// Where `event`, proposed for `stream`, differs from `stored`, the event stored under its id — in the
/// content EVENTS.md names: stream, event type, data and metadata. Data and metadata are compared as
/// canonical JSON, the stored data in its current schema version (upcast on decode), so an event stored
/// in an older version and retried as written then is the same content.
///
/// `occurred_at` is deliberately not content: EVENTS.md's list leaves it out, and a publisher that stamps
/// each attempt with its own clock would otherwise turn every retry into a conflict. A retry is answered
/// with the first append's result; the stored event keeps the `occurred_at` it was first written with.
///
/// `recorded_by` is not content either, for the same reason: it says who sent an attempt, not what the
/// event says, and a retry through another credential (a failover client) must not become a conflict.
/// The stored event keeps the name of the credential that wrote it first.
pub fn content_difference(stream: &StreamName, event: &PreparedEvent, stored: &RecordedEvent) -> Option<Difference> {
    if stored.stream != *stream {
        Some(Difference::Stream)
    } else if stored.event_type() != event.data.event_type() {
        Some(Difference::EventType)
    } else if canonical_json_bytes(&stored.data.to_json_value()) != event.data_json {
        Some(Difference::Data)
    } else if canonical_json_bytes(&stored.metadata.to_json_value()) != event.metadata_json {
        Some(Difference::Metadata)
    } else {
        None
    }
}

/// The event a group has staged at `position` (`staged` holds the group's events in position order):
/// a retry within the group compares with it before it is readable from the store.
pub fn staged_event(staged: &[RecordedEvent], position: Position) -> Option<&RecordedEvent> {
    let first = staged.first()?.position.0;
    let event = staged.get(usize::try_from(position.0.checked_sub(first)?).ok()?)?;
    debug_assert_eq!(event.position, position, "a group's staged events are contiguous");
    Some(event)
}

/// Decodes the record stored at `position`, paired with the check that it says so.
pub fn decode_stored(position: Position, record: &[u8]) -> Result<RecordedEvent, StoreError> {
    let event = codec::decode_record(record).map_err(|error| StoreError::Codec { position, error })?;
    check_position(position.0, event.position)?;
    Ok(event)
}

/// The streams the cross-stream rules of `events` read ([`lifecycle::referenced_stream`]), each once: the
/// writer puts their heads, as its own view has them, in the `referenced` map of [`check_append`]. At most
/// one per event, so the lookup is bounded by the append's size.
pub fn referenced_streams(events: &[PreparedEvent]) -> Vec<StreamName> {
    let mut streams: Vec<StreamName> = Vec::new();
    for stream in events.iter().filter_map(|event| lifecycle::referenced_stream(&event.data)) {
        if !streams.contains(&stream) {
            streams.push(stream);
        }
    }
    streams
}

/// Checks an append against its stream's head — the expected version, then each event's lifecycle
/// rules and its instants in order ([`lifecycle::check`], [`lifecycle::check_times`],
/// [`lifecycle::check_tightened`], and [`lifecycle::check_reference`] against the head `referenced` holds
/// for [`referenced_streams`]; an event without `occurred_at` happened at `now`, the append's
/// `recorded_at`) — and returns the state after it.
///
/// `referenced` is the writer's own view, so it includes appends staged earlier in the same group: an answer
/// published and used in one group is usable. A referenced stream missing from it counts as empty (the
/// event is refused, never wrongly accepted).
pub fn check_append(
    stream: &StreamName,
    expected: ExpectedVersion,
    head: &StreamHead,
    events: &[PreparedEvent],
    now: Timestamp,
    options: &StoreOptions,
    referenced: &HashMap<StreamName, StreamHead>,
) -> Result<StreamState, StoreError> {
    if !expected.admits(head.last_version) {
        return Err(StoreError::WrongExpectedVersion { stream: stream.clone(), expected, current: head.last_version });
    }
    let nothing = StreamState::Empty;
    let mut state = head.state.clone();
    for (index, event) in events.iter().enumerate() {
        let times = lifecycle::EventTimes {
            occurred_at: event.occurred_at.unwrap_or(now),
            recorded_at: now,
            clock_skew_max: options.clock_skew_max,
        };
        let target = lifecycle::referenced_stream(&event.data);
        debug_assert!(
            target.as_ref().is_none_or(|t| referenced.contains_key(t)),
            "the writer looked up every referenced stream"
        );
        let target_state = target.and_then(|t| referenced.get(&t)).map_or(&nothing, |head| &head.state);
        lifecycle::check(&state, &event.data)
            .and_then(|()| lifecycle::check_times(&state, &event.data, times))
            .and_then(|()| lifecycle::check_tightened(&state, &event.data))
            .and_then(|()| lifecycle::check_reference(&event.data, target_state))
            .map_err(|violation| StoreError::Lifecycle {
                stream: stream.clone(),
                index,
                event_type: event.data.event_type().name(),
                violation,
            })?;
        state = lifecycle::evolve(state, &event.data, times.occurred_at);
    }
    Ok(state)
}

/// One event of an accepted append, ready to write.
pub struct BuiltEvent {
    pub header: RecordHeader,
    /// The codec record (what sled stores under `L` and PostgreSQL in `events.record`).
    pub record: Vec<u8>,
    pub data: EventData,
}

/// The records of an accepted append: positions from `next_position`, versions after `last_version`,
/// hashes chained from `previous`. Returns where it landed, the events, and the last hash.
pub fn build_append(
    stream: &StreamName,
    last_version: Option<u64>,
    next_position: u64,
    previous: Hash,
    events: Vec<PreparedEvent>,
    now: Timestamp,
    scratch: &mut Vec<u8>,
) -> Result<(AppendResult, Vec<BuiltEvent>, Hash), StoreError> {
    let count = events.len() as u64;
    let first_version = last_version.map_or(0, |v| v + 1);
    let result = AppendResult {
        first_version,
        last_version: first_version + count - 1,
        first_position: Position(next_position),
        last_position: Position(next_position + count - 1),
    };
    let mut previous = previous;
    let mut built = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let header = RecordHeader {
            event_id: event.event_id,
            stream: stream.clone(),
            version: first_version + i as u64,
            position: Position(next_position + i as u64),
            event_type: event.data.event_type(),
            schema_version: event.data.event_type().schema_version(),
            occurred_at: event.occurred_at.unwrap_or(now),
            recorded_at: now,
            recorded_by: Some(event.recorded_by),
            metadata: event.metadata,
            hash: Hash::GENESIS,
        };
        let hash = header_hash(&previous, &header, &event.metadata_json, &event.data_json, scratch);
        let header = RecordHeader { hash, ..header };
        let mut record = Vec::with_capacity(event.payload.len() + 128);
        codec::encode_record(&header, &event.payload, &mut record)
            .map_err(|error| StoreError::Codec { position: header.position, error })?;
        previous = hash;
        built.push(BuiltEvent { header, record, data: event.data });
    }
    Ok((result, built, previous))
}

/// The hash of `header` (its own `hash` field ignored) with the canonical JSON of its metadata and
/// data, chained after `previous`.
pub fn header_hash(
    previous: &Hash,
    header: &RecordHeader,
    metadata_json: &[u8],
    data_json: &[u8],
    scratch: &mut Vec<u8>,
) -> Hash {
    scratch.clear();
    canonical_content(
        &ContentFields {
            position: header.position,
            stream: header.stream.as_str(),
            version: header.version,
            event_id: &header.event_id,
            event_type: header.event_type.name(),
            schema_version: header.schema_version,
            occurred_at: header.occurred_at,
            recorded_at: header.recorded_at,
            recorded_by: header.recorded_by.as_ref().map(RecordedBy::as_str),
            metadata_json,
            data_json,
        },
        scratch,
    );
    chain_hash(previous, scratch)
}

/// Checks one imported event against the log it must continue — the next position, the chain, an id
/// not stored yet, the stream's next version, the lifecycle rule — and returns its stream's new head,
/// the event and its record. Refusals are [`StoreError::ImportRejected`] naming the event's position.
pub fn check_import(
    written: &WrittenEvent,
    next_position: u64,
    previous: &Hash,
    head: StreamHead,
    id_already_stored: bool,
    scratch: &mut Vec<u8>,
) -> Result<(StreamHead, RecordedEvent, Vec<u8>), StoreError> {
    let h = &written.header;
    let reject = |reason: String| StoreError::ImportRejected { position: h.position, reason };
    if h.position.0 != next_position {
        return Err(reject(format!("the store's next position is {next_position}")));
    }
    scratch.clear();
    written.canonical_content(scratch);
    if chain_hash(previous, scratch) != h.hash {
        return Err(reject("the hash does not continue the chain".into()));
    }
    if id_already_stored {
        return Err(reject(format!("event id {} is already stored", h.event_id)));
    }
    if h.version != head.last_version.map_or(0, |v| v + 1) {
        return Err(reject(format!("stream {} is at version {:?}", h.stream, head.last_version)));
    }
    let event = written.to_recorded().map_err(|e| reject(e.to_string()))?;
    lifecycle::check(&head.state, &event.data).map_err(|v| reject(v.to_string()))?;
    let state = lifecycle::evolve(head.state, &event.data, event.occurred_at);
    let record = written.encode().map_err(|e| reject(e.to_string()))?;
    Ok((StreamHead { last_version: Some(h.version), state }, event, record))
}

/// The "append" an imported event is indexed under: itself alone (an export does not record append
/// boundaries, so a retry of a multi-event append that was imported is a conflict, not a retry).
pub fn single_event_append(header: &RecordHeader) -> AppendResult {
    AppendResult {
        first_version: header.version,
        last_version: header.version,
        first_position: header.position,
        last_position: header.position,
    }
}

/// Ids seen so far within one import (a duplicate inside the import is refused like a stored one).
pub type ImportIds = std::collections::HashSet<EventId>;

/// Paired with the writer's check before writing: a record must sit at the position it names.
pub fn check_position(stored_at: u64, recorded: Position) -> Result<(), StoreError> {
    if recorded.0 == stored_at {
        Ok(())
    } else {
        Err(StoreError::Corruption {
            position: Position(stored_at),
            reason: format!("the record stored at position {stored_at} says it is at {recorded}"),
        })
    }
}

/// A page of events as written, from `(position, record)` entries in position order starting at
/// `from`, for a log whose durable end is `end`: every gap, entry past the end, early end, undecodable
/// record or misplaced record is [`StoreError::Corruption`] / [`StoreError::Codec`] naming the position.
pub fn written_page<B: AsRef<[u8]>>(
    entries: impl IntoIterator<Item = Result<(u64, B), StoreError>>,
    from: u64,
    end: u64,
    limit: usize,
) -> Result<crate::store::Page<WrittenEvent>, StoreError> {
    let mut events = Vec::with_capacity(limit.min(1024));
    let mut next = None;
    let mut expected = from;
    for entry in entries {
        let (position, record) = entry?;
        if position != expected {
            return Err(StoreError::Corruption {
                position: Position(expected),
                reason: format!("the log jumps from position {expected} to {position}"),
            });
        }
        if position >= end {
            return Err(StoreError::Corruption {
                position: Position(position),
                reason: format!("the log holds position {position} past its head ({end})"),
            });
        }
        if events.len() == limit {
            next = Some(position);
            break;
        }
        let event = WrittenEvent::decode(record.as_ref())
            .map_err(|error| StoreError::Codec { position: Position(position), error })?;
        check_position(position, event.header.position)?;
        events.push(event);
        expected += 1;
    }
    if next.is_none() && expected < end {
        return Err(StoreError::Corruption {
            position: Position(expected),
            reason: format!("the log ends at position {expected}, its head says {end}"),
        });
    }
    Ok(crate::store::Page { events, next })
}

/// An append as every backend takes it: prepare on the caller's task (limits, canonical JSON,
/// payload), queue it for the writer, wait for the durable answer.
pub async fn submit_append(
    writer: Result<tokio::sync::mpsc::Sender<WriteCommand>, StoreError>,
    stream: &StreamName,
    expected: ExpectedVersion,
    events: Vec<redress_schemas::ProposedEvent>,
) -> Result<AppendOutcome, StoreError> {
    let events = crate::prepare::prepare(stream, events)?;
    let (reply, answer) = oneshot::channel();
    let command = WriteCommand::Append { stream: stream.clone(), expected, events, reply };
    writer?.send(command).await.map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
    // A writer that dropped the reply may have been in the middle of writing this command's group.
    answer.await.map_err(|_| StoreError::OutcomeUnknown("the writer stopped before answering".into()))?
}

/// An import as every backend takes it: at most [`crate::limits::APPEND_EVENTS_MAX`] events, queued
/// for the writer, answered once durable (or refused whole).
pub async fn submit_import(
    writer: Result<tokio::sync::mpsc::Sender<WriteCommand>, StoreError>,
    events: Vec<WrittenEvent>,
) -> Result<(), StoreError> {
    let max = crate::limits::APPEND_EVENTS_MAX;
    if events.len() > max {
        return Err(StoreError::LimitExceeded { limit: "append_events_max", max, actual: events.len() });
    }
    if events.is_empty() {
        return Ok(());
    }
    let (reply, answer) = oneshot::channel();
    writer?
        .send(WriteCommand::Import { events, reply })
        .await
        .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
    // A writer that dropped the reply may have been in the middle of writing this command's group.
    answer.await.map_err(|_| StoreError::OutcomeUnknown("the writer stopped before answering".into()))?
}

/// One group commit's commands: `first`, then whatever is already queued, up to
/// [`crate::limits::GROUP_COMMIT_EVENTS_MAX`] events. Never waits: a group is what arrived while the
/// previous one was being made durable.
pub fn drain_group(first: WriteCommand, commands: &mut tokio::sync::mpsc::Receiver<WriteCommand>) -> Vec<WriteCommand> {
    let mut events = first.event_count();
    let mut group = vec![first];
    while events < crate::limits::GROUP_COMMIT_EVENTS_MAX {
        match commands.try_recv() {
            Ok(command) => {
                events += command.event_count();
                group.push(command);
            }
            Err(_) => break,
        }
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;
    use redress_schemas::{Metadata, ProposedEvent};
    use serde_json::{json, Value};

    fn complaint() -> StreamName {
        StreamName::new("complaint-C-1").expect("a valid name")
    }

    fn proposed(event_type: &str, data: Value, metadata: Value) -> ProposedEvent {
        let event = json!({"event_id": uuid::Uuid::from_u128(7).to_string(), "event_type": event_type,
                           "data": data, "metadata": metadata});
        ProposedEvent::from_json(event, &complaint()).expect("a valid test event")
    }

    fn prepared(event: ProposedEvent) -> PreparedEvent {
        crate::prepare::prepare(&complaint(), vec![event]).expect("prepares").remove(0)
    }

    fn apology() -> ProposedEvent {
        proposed("apology_sent", json!({"via": "phone", "message": "sorry"}), json!({"actor": "agent-1"}))
    }

    /// `event` as the store holds it at position 3 of `stream`, recorded at `occurred_at`.
    fn stored_as(stream: &StreamName, event: ProposedEvent, at: Timestamp) -> RecordedEvent {
        let event_id = event.event_id.expect("the test events carry ids");
        RecordedEvent {
            event_id,
            stream: stream.clone(),
            version: 3,
            position: Position(3),
            schema_version: event.data.event_type().schema_version(),
            occurred_at: event.occurred_at.unwrap_or(at),
            recorded_at: at,
            recorded_by: Some(event.recorded_by.unwrap_or_else(RecordedBy::unattributed)),
            metadata: event.metadata,
            data: event.data,
            hash: Hash::GENESIS,
        }
    }

    fn noon() -> Timestamp {
        Timestamp::parse("2026-03-01T12:00:00Z").expect("a valid instant")
    }

    // ---- content_difference: given the stored event, when the same id comes again, then ... --------------

    #[test]
    fn the_same_stream_type_data_and_metadata_is_the_same_content() {
        let stored = stored_as(&complaint(), apology(), noon());
        assert_eq!(content_difference(&complaint(), &prepared(apology()), &stored), None);
    }

    #[test]
    fn another_recorded_by_is_still_the_same_content() {
        // A retry may come through another credential (a failover client, a replayed queue): it is answered
        // with the first result and the stored event keeps the name it was first written by.
        let by = |name: &str| RecordedBy::credential(name).expect("a valid name");
        let stored = stored_as(&complaint(), apology().recorded_by(by("callcenter")), noon());
        let retry = apology().recorded_by(by("backoffice"));
        assert_eq!(content_difference(&complaint(), &prepared(retry), &stored), None);
    }

    #[test]
    fn another_occurred_at_is_still_the_same_content() {
        let stored = stored_as(&complaint(), apology().occurred_at(noon()), noon());
        let retry = apology().occurred_at(noon().plus_seconds(60));
        assert_eq!(content_difference(&complaint(), &prepared(retry), &stored), None);
    }

    #[test]
    fn metadata_key_order_and_null_entries_do_not_make_other_content() {
        let stored = stored_as(&complaint(), apology(), noon());
        let retry = proposed(
            "apology_sent",
            json!({"message": "sorry", "via": "phone"}),
            json!({"source": null, "actor": "agent-1"}),
        );
        assert_eq!(content_difference(&complaint(), &prepared(retry), &stored), None);
    }

    #[test]
    fn each_part_of_the_content_is_compared() {
        let stored = stored_as(&complaint(), apology(), noon());
        let other_stream = StreamName::new("complaint-C-2").expect("a valid name");
        assert_eq!(content_difference(&other_stream, &prepared(apology()), &stored), Some(Difference::Stream));
        // The same data under another type: only the type tells them apart.
        let acknowledged = proposed(
            "complaint_acknowledged",
            json!({"via": "phone", "message": "sorry"}),
            json!({"actor": "agent-1"}),
        );
        assert_eq!(content_difference(&complaint(), &prepared(acknowledged), &stored), Some(Difference::EventType));
        let other_data =
            proposed("apology_sent", json!({"via": "phone", "message": "SORRY"}), json!({"actor": "agent-1"}));
        assert_eq!(content_difference(&complaint(), &prepared(other_data), &stored), Some(Difference::Data));
        let other_metadata =
            proposed("apology_sent", json!({"via": "phone", "message": "sorry"}), json!({"actor": "agent-2"}));
        assert_eq!(content_difference(&complaint(), &prepared(other_metadata), &stored), Some(Difference::Metadata));
    }

    #[test]
    fn an_event_stored_in_an_older_schema_version_is_compared_in_its_current_form() {
        // cause_analyzed as written with schema version 1 (no corrective_action), through the real codec.
        let v1 = json!({"root_cause": "courier", "responsible_department": "logistics", "founded": true});
        let header = RecordHeader {
            event_id: EventId(uuid::Uuid::from_u128(7)),
            stream: complaint(),
            version: 3,
            position: Position(3),
            event_type: redress_schemas::EventType::CauseAnalyzed,
            schema_version: 1,
            occurred_at: noon(),
            recorded_at: noon(),
            recorded_by: None,
            metadata: Metadata::default(),
            hash: Hash::GENESIS,
        };
        let record = WrittenEvent { header, data: v1.clone() }.encode().expect("a v1 record encodes");
        let stored = decode_stored(Position(3), &record).expect("and decodes, upcast");
        assert_eq!(stored.schema_version, 1);
        let same = prepared(proposed("cause_analyzed", v1, json!({})));
        assert_eq!(content_difference(&complaint(), &same, &stored), None);
        let with_action = proposed(
            "cause_analyzed",
            json!({"root_cause": "courier", "responsible_department": "logistics", "founded": true,
                   "corrective_action": "new courier"}),
            json!({}),
        );
        assert_eq!(content_difference(&complaint(), &prepared(with_action), &stored), Some(Difference::Data));
    }

    // ---- idempotent_outcome ------------------------------------------------------------------------------

    fn append_at_3() -> AppendResult {
        AppendResult { first_version: 3, last_version: 3, first_position: Position(3), last_position: Position(3) }
    }

    fn found_at_3(stream: Option<StreamName>) -> Vec<Option<StoredId>> {
        vec![Some(StoredId { stream, position: Position(3), append: append_at_3() })]
    }

    #[test]
    fn fresh_ids_are_no_retry_and_read_no_stored_event() {
        let outcome = idempotent_outcome(&complaint(), &[prepared(apology())], &[None], |_, _| {
            panic!("a fresh append must not read stored events")
        });
        assert_eq!(outcome.expect("no conflict"), None);
    }

    #[test]
    fn ids_on_another_known_stream_are_a_conflict_before_any_event_is_read() {
        let other = StreamName::new("complaint-C-2").expect("a valid name");
        let outcome = idempotent_outcome(&complaint(), &[prepared(apology())], &found_at_3(Some(other)), |_, _| {
            panic!("the stream alone decides")
        });
        assert!(matches!(outcome, Err(StoreError::IdempotencyConflict { .. })), "{outcome:?}");
    }

    #[test]
    fn the_same_content_again_is_a_retry_answered_with_the_first_result() {
        let stored = stored_as(&complaint(), apology(), noon());
        let outcome =
            idempotent_outcome(&complaint(), &[prepared(apology())], &found_at_3(None), |_, _| Ok(stored.clone()));
        assert_eq!(outcome.expect("a retry"), Some(AppendOutcome { result: append_at_3(), idempotent_retry: true }));
    }

    #[test]
    fn other_content_under_a_stored_id_is_a_conflict_naming_the_event_and_what_differs() {
        let stored = stored_as(&complaint(), apology(), noon());
        let other = proposed("apology_sent", json!({"via": "email", "message": "sorry"}), json!({"actor": "agent-1"}));
        let outcome =
            idempotent_outcome(&complaint(), &[prepared(other)], &found_at_3(None), |_, _| Ok(stored.clone()));
        match outcome {
            Err(StoreError::IdempotencyConflict { event_id, reason }) => {
                assert_eq!(event_id, EventId(uuid::Uuid::from_u128(7)));
                assert_eq!(reason, "event 0 has the id of a stored event with other data");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let elsewhere = stored_as(&StreamName::new("complaint-C-2").expect("valid"), apology(), noon());
        let outcome =
            idempotent_outcome(&complaint(), &[prepared(apology())], &found_at_3(None), |_, _| Ok(elsewhere.clone()));
        assert!(matches!(outcome, Err(StoreError::IdempotencyConflict { .. })), "{outcome:?}");
    }

    #[test]
    fn an_id_index_that_points_at_another_event_is_corruption() {
        let mut stored = stored_as(&complaint(), apology(), noon());
        stored.event_id = EventId(uuid::Uuid::from_u128(8));
        let outcome =
            idempotent_outcome(&complaint(), &[prepared(apology())], &found_at_3(None), |_, _| Ok(stored.clone()));
        assert!(matches!(outcome, Err(StoreError::Corruption { position: Position(3), .. })), "{outcome:?}");
    }

    #[test]
    fn a_staged_event_is_found_by_its_position_within_the_group() {
        let first = stored_as(&complaint(), apology(), noon());
        let second = RecordedEvent { position: Position(4), ..first.clone() };
        let staged = [first, second];
        assert_eq!(staged_event(&staged, Position(4)).map(|e| e.position), Some(Position(4)));
        assert!(staged_event(&staged, Position(2)).is_none(), "before the group: stored, not staged");
        assert!(staged_event(&staged, Position(5)).is_none());
        assert!(staged_event(&[], Position(0)).is_none());
    }
}
