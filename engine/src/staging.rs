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
    canonical_content, codec, ContentFields, EventData, EventId, Hash, Position, RecordHeader, RecordedEvent,
    StreamName, Timestamp, WrittenEvent,
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

impl WriteCommand {
    /// How many events the command carries (group commits are bounded in events).
    pub fn event_count(&self) -> usize {
        match self {
            WriteCommand::Append { events, .. } => events.len(),
            WriteCommand::Import { events, .. } => events.len(),
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
/// `stream`, in this order; `None` when none was; [`StoreError::IdempotencyConflict`] for anything in
/// between. `found[i]` is where `events[i]`'s id is stored; `stored_on_stream(i, id)` answers, for an
/// entry whose stream is not known, whether it was stored on `stream`.
pub fn idempotent_outcome(
    stream: &StreamName,
    events: &[PreparedEvent],
    found: &[Option<StoredId>],
    mut stored_on_stream: impl FnMut(usize, &StoredId) -> Result<bool, StoreError>,
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
    for (i, entry) in found.iter().enumerate() {
        let entry = entry.as_ref().expect("all stored");
        if entry.append != first || entry.position.0 != first.first_position.0 + i as u64 {
            return Err(conflict("the ids were stored by different appends or in another order".into()));
        }
        let same_stream = match &entry.stream {
            Some(s) => s == stream,
            None => stored_on_stream(i, entry)?,
        };
        if !same_stream {
            return Err(conflict(format!("the earlier append went to another stream than {stream}")));
        }
    }
    Ok(Some(AppendOutcome { result: first, idempotent_retry: true }))
}

/// Checks an append against its stream's head — the expected version, then each event's lifecycle
/// rule and its instants in order ([`lifecycle::check`], [`lifecycle::check_times`]; an event without
/// `occurred_at` happened at `now`, the append's `recorded_at`) — and returns the state after it.
pub fn check_append(
    stream: &StreamName,
    expected: ExpectedVersion,
    head: &StreamHead,
    events: &[PreparedEvent],
    now: Timestamp,
    options: &StoreOptions,
) -> Result<StreamState, StoreError> {
    if !expected.admits(head.last_version) {
        return Err(StoreError::WrongExpectedVersion { stream: stream.clone(), expected, current: head.last_version });
    }
    let mut state = head.state.clone();
    for (index, event) in events.iter().enumerate() {
        let times = lifecycle::EventTimes {
            occurred_at: event.occurred_at.unwrap_or(now),
            recorded_at: now,
            clock_skew_max: options.clock_skew_max,
        };
        lifecycle::check(&state, &event.data)
            .and_then(|()| lifecycle::check_times(&state, &event.data, times))
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

impl BuiltEvent {
    /// The event as readers and subscribers see it.
    pub fn into_recorded(self) -> RecordedEvent {
        RecordedEvent::from_header(self.header, self.data)
    }
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
    answer.await.map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
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
    answer.await.map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
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
