//! The single writer: drains the queue, stages every append of the group into one sled batch, applies
//! it, flushes, syncs once, then publishes and answers. Checks run against the writer's own view (which
//! includes earlier appends of the same group), so one group may hold dependent appends.

use super::durability::DiskSync;
use super::keys::{self, IdEntry};
use super::Shared;
use crate::chain::chain_hash;
use crate::error::StoreError;
use crate::lifecycle::{self, StreamState};
use crate::limits::{GROUP_COMMIT_EVENTS_MAX, STREAM_STATE_CACHE_STREAMS_MAX};
use crate::prepare::PreparedEvent;
use crate::store::{AppendOutcome, AppendResult, ExpectedVersion, Head};
use redress_schemas::{
    canonical_content, codec, ContentFields, EventId, Hash, Position, RecordHeader, RecordedEvent, StreamName,
    Timestamp, WrittenEvent,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub(crate) enum Command {
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

impl Command {
    fn event_count(&self) -> usize {
        match self {
            Command::Append { events, .. } => events.len(),
            Command::Import { events, .. } => events.len(),
        }
    }

    fn fail(self, error: StoreError) {
        match self {
            Command::Append { reply, .. } => drop(reply.send(Err(error))),
            Command::Import { reply, .. } => drop(reply.send(Err(error))),
        }
    }
}

/// What the log says at open.
pub(crate) struct Recovered {
    pub next_position: u64,
    pub last_hash: Hash,
    pub last_recorded_at: Timestamp,
}

impl Recovered {
    /// Reads the head and checks it against the last log entry (they are written in one batch).
    pub(crate) fn load(tree: &sled::Tree) -> Result<Recovered, StoreError> {
        let head = tree.get(keys::HEAD)?;
        let last = tree.scan_prefix([keys::LOG]).next_back().transpose()?;
        match (head, last) {
            (None, None) => Ok(Recovered {
                next_position: 0,
                last_hash: Hash::GENESIS,
                last_recorded_at: Timestamp::from_unix_nanos(0),
            }),
            (Some(head), Some((key, record))) => {
                let (next_position, last_hash) = keys::decode_head(&head).ok_or_else(|| StoreError::Corruption {
                    position: Position(u64::MAX),
                    reason: "the head entry is malformed".into(),
                })?;
                let last_position = keys::log_position(&key).unwrap_or(u64::MAX);
                if last_position.checked_add(1) != Some(next_position) {
                    return Err(StoreError::Corruption {
                        position: Position(last_position),
                        reason: format!("the head says next position {next_position}, the log ends at {last_position}"),
                    });
                }
                // The chain continues from the head's hash. A damaged last record must not stop an auditor
                // from opening the store: `verify` names it.
                let last_recorded_at = codec::decode_header(&record)
                    .map(|(header, _)| header.recorded_at)
                    .unwrap_or(Timestamp::from_unix_nanos(0));
                Ok(Recovered { next_position, last_hash, last_recorded_at })
            }
            _ => Err(StoreError::Corruption {
                position: Position(0),
                reason: "the head entry and the log disagree about whether the log is empty".into(),
            }),
        }
    }

    pub(crate) fn head(&self) -> Option<Head> {
        self.next_position.checked_sub(1).map(|last| Head { position: Position(last), hash: self.last_hash })
    }
}

/// A stream's last version and lifecycle state, as the writer knows it.
#[derive(Clone)]
struct StreamHead {
    last_version: Option<u64>,
    state: StreamState,
}

/// A bounded cache of hot streams: two generations; when the young one fills, it becomes the old one
/// and the old one is dropped. A hit in the old generation moves the entry back to the young one.
struct StreamCache {
    young: HashMap<StreamName, StreamHead>,
    old: HashMap<StreamName, StreamHead>,
}

impl StreamCache {
    fn get(&mut self, stream: &StreamName) -> Option<&StreamHead> {
        if !self.young.contains_key(stream) {
            let head = self.old.remove(stream)?;
            self.insert(stream.clone(), head);
        }
        self.young.get(stream)
    }

    fn insert(&mut self, stream: StreamName, head: StreamHead) {
        if self.young.len() >= STREAM_STATE_CACHE_STREAMS_MAX && !self.young.contains_key(&stream) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(stream, head);
    }
}

/// What one group has staged so far.
#[derive(Default)]
struct Staged {
    batch: sled::Batch,
    events: Vec<RecordedEvent>,
    /// Ids written by this group: their stream and entry (not yet readable from sled).
    ids: HashMap<EventId, (StreamName, IdEntry)>,
    appends: Vec<(oneshot::Sender<Result<AppendOutcome, StoreError>>, AppendOutcome)>,
    imports: Vec<oneshot::Sender<Result<(), StoreError>>>,
}

pub(crate) struct Writer {
    db: sled::Db,
    shared: Arc<Shared>,
    disk: DiskSync,
    next_position: u64,
    last_hash: Hash,
    last_recorded_at: Timestamp,
    streams: StreamCache,
    /// Set when a write or sync failed: the writer refuses everything after it.
    failure: Option<String>,
    scratch: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(db: sled::Db, shared: Arc<Shared>, disk: DiskSync, recovered: Recovered) -> Writer {
        Writer {
            db,
            shared,
            disk,
            next_position: recovered.next_position,
            last_hash: recovered.last_hash,
            last_recorded_at: recovered.last_recorded_at,
            streams: StreamCache { young: HashMap::new(), old: HashMap::new() },
            failure: None,
            scratch: Vec::with_capacity(1024),
        }
    }

    /// Runs until every sender is gone, then returns (after the last group is synced).
    pub(crate) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.blocking_recv() {
            let mut events = first.event_count();
            let mut group = vec![first];
            while events < GROUP_COMMIT_EVENTS_MAX {
                match commands.try_recv() {
                    Ok(command) => {
                        events += command.event_count();
                        group.push(command);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&mut self, group: Vec<Command>) {
        if let Some(failure) = &self.failure {
            for command in group {
                command.fail(StoreError::Unavailable(format!("an earlier write failed ({failure}); reopen the store")));
            }
            return;
        }
        let now = Timestamp::now().max(self.last_recorded_at);
        let mut staged = Staged::default();
        for command in group {
            match command {
                Command::Append { stream, expected, events, reply } => {
                    match self.stage_append(&stream, expected, events, now, &mut staged) {
                        Ok(outcome) => staged.appends.push((reply, outcome)),
                        Err(error) => drop(reply.send(Err(error))),
                    }
                }
                Command::Import { events, reply } => match self.stage_import(events, &mut staged) {
                    Ok(()) => staged.imports.push(reply),
                    Err(error) => drop(reply.send(Err(error))),
                },
            }
        }
        if !staged.events.is_empty() {
            if let Err(error) = self.write_durably(&mut staged) {
                let message = error.to_string();
                self.failure = Some(message.clone());
                for (reply, _) in staged.appends {
                    let _ = reply.send(Err(StoreError::Io(message.clone())));
                }
                for reply in staged.imports {
                    let _ = reply.send(Err(StoreError::Io(message.clone())));
                }
                return;
            }
            self.last_recorded_at = now;
            let head = Head { position: Position(self.next_position - 1), hash: self.last_hash };
            *self.shared.head.lock().expect("head lock") = Some(head);
            self.shared.durable_next.store(self.next_position, Ordering::Release);
            // No subscriber is not an error; a slow one lags and catches up from the log.
            let _ = self.shared.live.send(Arc::from(std::mem::take(&mut staged.events)));
        }
        for (reply, outcome) in staged.appends {
            let _ = reply.send(Ok(outcome));
        }
        for reply in staged.imports {
            let _ = reply.send(Ok(()));
        }
    }

    fn write_durably(&mut self, staged: &mut Staged) -> Result<(), StoreError> {
        debug_assert_eq!(
            staged.events.first().map(|e| e.position.0 + staged.events.len() as u64),
            Some(self.next_position),
            "a group's positions are contiguous and end at the next position"
        );
        staged.batch.insert(keys::HEAD, &keys::head_value(self.next_position, &self.last_hash)[..]);
        self.shared.tree.apply_batch(std::mem::take(&mut staged.batch))?;
        self.db.flush()?;
        self.disk.sync()?;
        Ok(())
    }

    /// The stream's head from the cache, or folded from the log.
    fn stream_head(&mut self, stream: &StreamName) -> Result<StreamHead, StoreError> {
        if let Some(head) = self.streams.get(stream) {
            return Ok(head.clone());
        }
        let mut last_version = None;
        let mut state = StreamState::default();
        for entry in self.shared.tree.scan_prefix(keys::stream_prefix(stream)) {
            let (key, value) = entry?;
            let version = keys::version_of_stream_key(&key);
            let position = keys::u64_value(&value).ok_or_else(|| StoreError::Corruption {
                position: Position(u64::MAX),
                reason: format!("stream index of {stream} at version {version} is malformed"),
            })?;
            let record = self.shared.tree.get(keys::log(position))?.ok_or_else(|| StoreError::Corruption {
                position: Position(position),
                reason: format!("stream {stream} version {version} points at a missing log entry"),
            })?;
            let event = codec::decode_record(&record)
                .map_err(|error| StoreError::Codec { position: Position(position), error })?;
            if last_version.map_or(0, |v: u64| v + 1) != version || event.version != version {
                return Err(StoreError::Corruption {
                    position: Position(position),
                    reason: format!("stream {stream} has a gap or mismatch at version {version}"),
                });
            }
            state = lifecycle::evolve(state, &event.data, event.occurred_at);
            last_version = Some(version);
        }
        let head = StreamHead { last_version, state };
        self.streams.insert(stream.clone(), head.clone());
        Ok(head)
    }

    fn stored_id(&self, id: &EventId, staged: &Staged) -> Result<Option<(Option<StreamName>, IdEntry)>, StoreError> {
        if let Some((stream, entry)) = staged.ids.get(id) {
            return Ok(Some((Some(stream.clone()), *entry)));
        }
        match self.shared.tree.get(keys::event_id(id))? {
            None => Ok(None),
            Some(bytes) => {
                let entry = IdEntry::decode(&bytes).ok_or_else(|| StoreError::Corruption {
                    position: Position(u64::MAX),
                    reason: format!("idempotency entry of {id} is malformed"),
                })?;
                Ok(Some((None, entry)))
            }
        }
    }

    /// `Some(outcome)` when every id of `events` was stored by one earlier append to `stream`, in this
    /// order; `None` when none was; an error for anything in between.
    fn idempotent_outcome(
        &self,
        stream: &StreamName,
        events: &[PreparedEvent],
        staged: &Staged,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let mut found = Vec::with_capacity(events.len());
        for event in events {
            found.push(self.stored_id(&event.event_id, staged)?);
        }
        let stored = found.iter().filter(|f| f.is_some()).count();
        if stored == 0 {
            return Ok(None);
        }
        let first_stored = events[found.iter().position(Option::is_some).expect("stored > 0")].event_id;
        let conflict = |reason: String| StoreError::IdempotencyConflict { event_id: first_stored, reason };
        if stored < events.len() {
            return Err(conflict(format!("{stored} of the {} event ids were stored before", events.len())));
        }
        let first = found[0].as_ref().expect("all stored").1.append;
        let count = first.last_position.0 - first.first_position.0 + 1;
        if count != events.len() as u64 {
            return Err(conflict(format!("the earlier append held {count} events, this one {}", events.len())));
        }
        for (i, item) in found.iter().enumerate() {
            let (staged_stream, entry) = item.as_ref().expect("all stored");
            if entry.append != first || entry.position.0 != first.first_position.0 + i as u64 {
                return Err(conflict("the ids were stored by different appends or in another order".into()));
            }
            let same_stream = match staged_stream {
                Some(s) => s == stream,
                None => {
                    let key = keys::stream_version(stream, first.first_version + i as u64);
                    self.shared.tree.get(key)?.and_then(|v| keys::u64_value(&v)) == Some(entry.position.0)
                }
            };
            if !same_stream {
                return Err(conflict(format!("the earlier append went to another stream than {stream}")));
            }
        }
        Ok(Some(AppendOutcome { result: first, idempotent_retry: true }))
    }

    fn stage_append(
        &mut self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<PreparedEvent>,
        now: Timestamp,
        staged: &mut Staged,
    ) -> Result<AppendOutcome, StoreError> {
        if let Some(outcome) = self.idempotent_outcome(stream, &events, staged)? {
            return Ok(outcome);
        }
        let head = self.stream_head(stream)?;
        if !expected.admits(head.last_version) {
            return Err(StoreError::WrongExpectedVersion {
                stream: stream.clone(),
                expected,
                current: head.last_version,
            });
        }
        let mut state = head.state;
        for (index, event) in events.iter().enumerate() {
            lifecycle::check(&state, &event.data).map_err(|violation| StoreError::Lifecycle {
                stream: stream.clone(),
                index,
                event_type: event.data.event_type().name(),
                violation,
            })?;
            state = lifecycle::evolve(state, &event.data, event.occurred_at.unwrap_or(now));
        }
        // Everything is checked: from here on the append only writes.
        let count = events.len() as u64;
        let first_version = head.last_version.map_or(0, |v| v + 1);
        let result = AppendResult {
            first_version,
            last_version: first_version + count - 1,
            first_position: Position(self.next_position),
            last_position: Position(self.next_position + count - 1),
        };
        for (i, event) in events.into_iter().enumerate() {
            let version = first_version + i as u64;
            let header = RecordHeader {
                event_id: event.event_id,
                stream: stream.clone(),
                version,
                position: Position(self.next_position),
                event_type: event.data.event_type(),
                schema_version: event.data.event_type().schema_version(),
                occurred_at: event.occurred_at.unwrap_or(now),
                recorded_at: now,
                metadata: event.metadata,
                hash: Hash::GENESIS,
            };
            let hash = self.chain(&header, &event.metadata_json, &event.data_json);
            let header = RecordHeader { hash, ..header };
            let mut record = Vec::with_capacity(event.payload.len() + 128);
            codec::encode_record(&header, &event.payload, &mut record)
                .map_err(|error| StoreError::Codec { position: header.position, error })?;
            let entry = IdEntry { position: header.position, append: result };
            self.put(staged, &header, record, entry);
            staged.events.push(recorded(header, event.data));
        }
        self.streams.insert(stream.clone(), StreamHead { last_version: Some(result.last_version), state });
        Ok(AppendOutcome { result, idempotent_retry: false })
    }

    /// Chains `header` (whose hash is ignored) after the last hash and returns its hash.
    fn chain(&mut self, header: &RecordHeader, metadata_json: &[u8], data_json: &[u8]) -> Hash {
        self.scratch.clear();
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
            &mut self.scratch,
        );
        chain_hash(&self.last_hash, &self.scratch)
    }

    /// Stages one event's three entries and advances the head.
    fn put(&mut self, staged: &mut Staged, header: &RecordHeader, record: Vec<u8>, entry: IdEntry) {
        debug_assert_eq!(header.position.0, self.next_position, "positions are assigned in order");
        staged.batch.insert(&keys::log(header.position.0)[..], record);
        staged.batch.insert(keys::stream_version(&header.stream, header.version), &header.position.0.to_be_bytes()[..]);
        staged.batch.insert(&keys::event_id(&header.event_id)[..], &entry.encode()[..]);
        staged.ids.insert(header.event_id, (header.stream.clone(), entry));
        self.next_position += 1;
        self.last_hash = header.hash;
    }

    /// Stages events exported elsewhere, keeping their positions and hashes; all or nothing.
    fn stage_import(&mut self, events: Vec<WrittenEvent>, staged: &mut Staged) -> Result<(), StoreError> {
        // Check everything against local copies first, so a refusal leaves the writer untouched.
        let mut heads: HashMap<StreamName, StreamHead> = HashMap::new();
        let mut ids = HashSet::new();
        let mut previous = self.last_hash;
        let mut accepted = Vec::with_capacity(events.len());
        for (position, written) in (self.next_position..).zip(events) {
            let h = &written.header;
            let reject = |reason: String| StoreError::ImportRejected { position: h.position, reason };
            if h.position.0 != position {
                return Err(reject(format!("the store's next position is {position}")));
            }
            self.scratch.clear();
            written.canonical_content(&mut self.scratch);
            if chain_hash(&previous, &self.scratch) != h.hash {
                return Err(reject("the hash does not continue the chain".into()));
            }
            if !ids.insert(h.event_id) || self.stored_id(&h.event_id, staged)?.is_some() {
                return Err(reject(format!("event id {} is already stored", h.event_id)));
            }
            let head = match heads.get(&h.stream) {
                Some(head) => head.clone(),
                None => self.stream_head(&h.stream)?,
            };
            if h.version != head.last_version.map_or(0, |v| v + 1) {
                return Err(reject(format!("stream {} is at version {:?}", h.stream, head.last_version)));
            }
            let event = written.to_recorded().map_err(|e| reject(e.to_string()))?;
            lifecycle::check(&head.state, &event.data).map_err(|v| reject(v.to_string()))?;
            let state = lifecycle::evolve(head.state, &event.data, event.occurred_at);
            let record = written.encode().map_err(|e| reject(e.to_string()))?;
            heads.insert(h.stream.clone(), StreamHead { last_version: Some(h.version), state });
            previous = h.hash;
            accepted.push((event, record));
        }
        for (event, record) in accepted {
            let header = event.header();
            let single = AppendResult {
                first_version: header.version,
                last_version: header.version,
                first_position: header.position,
                last_position: header.position,
            };
            self.put(staged, &header, record, IdEntry { position: header.position, append: single });
            staged.events.push(event);
        }
        for (stream, head) in heads {
            self.streams.insert(stream, head);
        }
        Ok(())
    }
}

fn recorded(header: RecordHeader, data: redress_schemas::EventData) -> RecordedEvent {
    RecordedEvent {
        event_id: header.event_id,
        stream: header.stream,
        version: header.version,
        position: header.position,
        schema_version: header.schema_version,
        occurred_at: header.occurred_at,
        recorded_at: header.recorded_at,
        metadata: header.metadata,
        data,
        hash: header.hash,
    }
}
