//! The single writer: drains the queue, stages every append of the group into one sled batch, applies
//! it, flushes, syncs once, then publishes and answers. Checks run against the writer's own view (which
//! includes earlier appends of the same group), so one group may hold dependent appends.

use super::durability::DiskSync;
use super::keys::{self, IdEntry};
use super::Shared;
use crate::error::StoreError;
use crate::lifecycle::{self, StreamState};
use crate::prepare::PreparedEvent;
use crate::staging::{self, ImportIds, StoredId, StreamCache, StreamHead, WriteCommand as Command};
use crate::store::{AppendOutcome, ExpectedVersion, Head, StoreOptions};
use redress_schemas::{
    codec, EventId, Hash, Position, RecordHeader, RecordedEvent, StreamName, Timestamp, WrittenEvent,
};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

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
    options: StoreOptions,
    /// Set when a write or sync failed: the writer refuses everything after it.
    failure: Option<String>,
    scratch: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(
        db: sled::Db,
        shared: Arc<Shared>,
        disk: DiskSync,
        recovered: Recovered,
        options: StoreOptions,
    ) -> Writer {
        Writer {
            db,
            shared,
            disk,
            next_position: recovered.next_position,
            last_hash: recovered.last_hash,
            last_recorded_at: recovered.last_recorded_at,
            streams: StreamCache::default(),
            options,
            failure: None,
            scratch: Vec::with_capacity(1024),
        }
    }

    /// Runs until every sender is gone, then returns (after the last group is synced).
    pub(crate) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.blocking_recv() {
            let group = staging::drain_group(first, &mut commands);
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

    /// The idempotency rule (see [`staging::idempotent_outcome`]) against this store's id index.
    fn idempotent_outcome(
        &self,
        stream: &StreamName,
        events: &[PreparedEvent],
        staged: &Staged,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let mut found = Vec::with_capacity(events.len());
        for event in events {
            found.push(self.stored_id(&event.event_id, staged)?.map(|(stream, entry)| StoredId {
                stream,
                position: entry.position,
                append: entry.append,
            }));
        }
        // The id index does not keep the stream: the stored record says which it is.
        staging::idempotent_outcome(stream, events, &found, |_, entry| {
            if let Some(event) = staging::staged_event(&staged.events, entry.position) {
                return Ok(event.clone());
            }
            let record = self.shared.tree.get(keys::log(entry.position.0))?.ok_or_else(|| StoreError::Corruption {
                position: entry.position,
                reason: "the id index points at a missing log entry".into(),
            })?;
            staging::decode_stored(entry.position, &record)
        })
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
        let state = staging::check_append(stream, expected, &head, &events, now, &self.options)?;
        // Everything is checked: from here on the append only writes.
        let (result, built, _) = staging::build_append(
            stream,
            head.last_version,
            self.next_position,
            self.last_hash,
            events,
            now,
            &mut self.scratch,
        )?;
        for staging::BuiltEvent { header, record, data } in built {
            let entry = IdEntry { position: header.position, append: result };
            self.put(staged, &header, record, entry);
            staged.events.push(RecordedEvent::from_header(header, data));
        }
        self.streams.insert(stream.clone(), StreamHead { last_version: Some(result.last_version), state });
        Ok(AppendOutcome { result, idempotent_retry: false })
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
        let mut ids = ImportIds::new();
        let mut previous = self.last_hash;
        let mut accepted = Vec::with_capacity(events.len());
        for (position, written) in (self.next_position..).zip(events) {
            let h = &written.header;
            let head = match heads.remove(&h.stream) {
                Some(head) => head,
                None => self.stream_head(&h.stream)?,
            };
            let stored = !ids.insert(h.event_id) || self.stored_id(&h.event_id, staged)?.is_some();
            let (head, event, record) =
                staging::check_import(&written, position, &previous, head, stored, &mut self.scratch)?;
            heads.insert(h.stream.clone(), head);
            previous = h.hash;
            accepted.push((event, record));
        }
        for (event, record) in accepted {
            let header = event.header();
            let entry = IdEntry { position: header.position, append: staging::single_event_append(&header) };
            self.put(staged, &header, record, entry);
            staged.events.push(event);
        }
        for (stream, head) in heads {
            self.streams.insert(stream, head);
        }
        Ok(())
    }
}
