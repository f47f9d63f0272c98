//! The writer of one server: drains the queue and writes a whole group in one transaction.
//!
//! A group's transaction first locks the single-row head (`FOR UPDATE`): appenders of every server take
//! turns there, so positions are assigned in commit order and a reader sees them in that order. Under the
//! lock the writer reads what it needs in one pipelined round trip — the head, the touched streams' last
//! versions, the stored event ids — folds any stream whose cached state is not at the stored version
//! (another server appended to it), checks each append against that view (which includes earlier appends
//! of the same group), and answers a refused append at once; it stages nothing. The accepted rows go in
//! as `UNNEST` arrays, the streams and the head are updated, the commit notifies the other servers, and
//! only then are the callers answered. `synchronous_commit` stays on: a commit is durable.

use super::schema::Statements;
use super::{describe, pg_error, pool_error, to_hash, to_u64};
use crate::lifecycle;
use crate::staging::{self, ImportIds, Refusal, StoredId, StreamCache, StreamHead, WriteCommand as Command};
use crate::{AppendOutcome, AppendResult, CommittedBatch, ExpectedVersion, PreparedEvent, StoreError, StoreOptions};
use deadpool_postgres::{Pool, Transaction};
use redress_schemas::{
    codec, EventId, Hash, Position, RecordHeader, RecordedEvent, StreamName, Timestamp, WrittenEvent,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::IsolationLevel;

/// Rows one `INSERT … SELECT FROM UNNEST` carries at most.
const INSERT_ROWS_MAX: usize = 1_000;
/// Record bytes one `INSERT` carries at most (PostgreSQL refuses a parameter over 1 GiB).
const INSERT_RECORD_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Where an event id is stored: its stream, its position, the append that stored it, and its record
/// when it was committed before this group (`None`: staged by this group, in `Staged::events`).
#[derive(Clone)]
struct IdRow {
    stream: StreamName,
    position: Position,
    append: AppendResult,
    record: Option<Vec<u8>>,
}

/// The log as the group sees it: read under the head lock, advanced by every staged append.
struct View {
    next_position: u64,
    last_hash: Hash,
    last_recorded_at: Timestamp,
    now: Timestamp,
    heads: HashMap<StreamName, StreamHead>,
    ids: HashMap<EventId, IdRow>,
}

/// The columns of the rows to insert, as the `UNNEST` arrays of `insert_events`.
#[derive(Default)]
struct Rows {
    positions: Vec<i64>,
    streams: Vec<String>,
    versions: Vec<i64>,
    ids: Vec<String>,
    types: Vec<&'static str>,
    recorded_at: Vec<i64>,
    records: Vec<Vec<u8>>,
    first_positions: Vec<i64>,
    last_positions: Vec<i64>,
    first_versions: Vec<i64>,
    last_versions: Vec<i64>,
}

impl Rows {
    fn push(&mut self, header: &RecordHeader, record: Vec<u8>, append: &AppendResult) {
        let int = |v: u64| i64::try_from(v).expect("positions and versions stay below 2^63");
        self.positions.push(int(header.position.0));
        self.streams.push(header.stream.as_str().to_owned());
        self.versions.push(int(header.version));
        self.ids.push(header.event_id.0.to_string());
        self.types.push(header.event_type.name());
        self.recorded_at.push(header.recorded_at.unix_nanos());
        self.records.push(record);
        self.first_positions.push(int(append.first_position.0));
        self.last_positions.push(int(append.last_position.0));
        self.first_versions.push(int(append.first_version));
        self.last_versions.push(int(append.last_version));
    }

    /// Row ranges for one `INSERT` each, bounded in rows and bytes.
    fn chunks(&self) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for (i, record) in self.records.iter().enumerate() {
            if i > start && (i - start == INSERT_ROWS_MAX || bytes + record.len() > INSERT_RECORD_BYTES_MAX) {
                out.push(start..i);
                (start, bytes) = (i, 0);
            }
            bytes += record.len();
        }
        if start < self.records.len() {
            out.push(start..self.records.len());
        }
        out
    }
}

struct StagedAppend {
    reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    outcome: AppendOutcome,
    stream: StreamName,
    expected: ExpectedVersion,
    first_id: EventId,
}

/// What one group has staged so far.
#[derive(Default)]
struct Staged {
    rows: Rows,
    events: Vec<RecordedEvent>,
    touched: HashSet<StreamName>,
    appends: Vec<StagedAppend>,
    imports: Vec<(oneshot::Sender<Result<(), StoreError>>, Position)>,
    /// Refused by a check: answered once the group has committed or failed (see [`Refusal`]).
    refusals: Vec<Refusal>,
}

pub(crate) struct Writer {
    pool: Pool,
    statements: Arc<Statements>,
    streams: StreamCache,
    /// Committed batches, to the live publisher. Never waited on: when it is full the publisher reads
    /// the log instead (it is woken by the commit's notification).
    committed: mpsc::Sender<CommittedBatch>,
    options: StoreOptions,
    scratch: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(
        pool: Pool,
        statements: Arc<Statements>,
        committed: mpsc::Sender<CommittedBatch>,
        options: StoreOptions,
    ) -> Writer {
        Writer {
            pool,
            statements,
            streams: StreamCache::default(),
            committed,
            options,
            scratch: Vec::with_capacity(1024),
        }
    }

    /// Runs until every sender is gone, then returns (after the last group is committed).
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.recv().await {
            let group = staging::drain_group(first, &mut commands);
            self.commit_group(group).await;
        }
    }

    async fn commit_group(&mut self, group: Vec<Command>) {
        let mut client = match self.pool.get().await {
            Ok(client) => client,
            Err(e) => return fail_all(group, &pool_error(e)),
        };
        // READ COMMITTED whatever the database's default: once the head lock is granted, every later
        // statement of the group sees every append committed before it (under REPEATABLE READ the lock
        // would fail with a serialization error instead).
        let tx = match client.build_transaction().isolation_level(IsolationLevel::ReadCommitted).start().await {
            Ok(tx) => tx,
            Err(e) => return fail_all(group, &pg_error(e)),
        };
        let mut view = match self.load(&tx, &group).await {
            Ok(view) => view,
            Err(e) => return fail_all(group, &e),
        };
        let mut staged = Staged::default();
        for command in group {
            match command {
                Command::Append { stream, expected, events, reply } => {
                    let first_id = events[0].event_id;
                    match self.stage_append(&mut view, &stream, expected, events, &mut staged) {
                        Ok(outcome) => {
                            staged.appends.push(StagedAppend { reply, outcome, stream, expected, first_id });
                        }
                        Err(error) => staged.refusals.push(Refusal::Append(reply, error)),
                    }
                }
                Command::Import { events, reply } => {
                    let first = events[0].header.position;
                    match self.stage_import(&mut view, events, &mut staged) {
                        Ok(()) => staged.imports.push((reply, first)),
                        Err(error) => staged.refusals.push(Refusal::Import(reply, error)),
                    }
                }
            }
        }
        if staged.events.is_empty() {
            // Only refusals and idempotent retries: nothing to write; let go of the head at once.
            let _ = tx.rollback().await;
            return answer(staged);
        }
        let written = match self.write(&tx, &view, &staged).await {
            Ok(()) => tx.commit().await.map_err(WriteError::from),
            Err(e) => {
                drop(tx); // rolls back
                Err(e)
            }
        };
        match written {
            Ok(()) => {
                for stream in &staged.touched {
                    self.streams.insert(stream.clone(), view.heads[stream].clone());
                }
                // No publisher (the store is being dropped) or a full queue: the log has it all.
                let _ = self.committed.try_send(Arc::from(std::mem::take(&mut staged.events)));
                answer(staged);
            }
            Err(WriteError::Unique { constraint }) => {
                self.answer_unique_violation(&client, &constraint, staged).await;
            }
            Err(WriteError::Other(error)) => {
                staged.refusals.into_iter().for_each(Refusal::send);
                // A commit whose answer was lost may have happened: a retry with the same ids finds out.
                for append in staged.appends {
                    let _ = append.reply.send(Err(replicate(&error)));
                }
                for (reply, _) in staged.imports {
                    let _ = reply.send(Err(replicate(&error)));
                }
            }
        }
    }

    /// Takes the head lock and reads, in one pipelined round trip, everything the group's checks need.
    async fn load(&mut self, tx: &Transaction<'_>, group: &[Command]) -> Result<View, StoreError> {
        let st = &self.statements;
        let (lock, stream_heads, stored_ids) = tokio::try_join!(
            tx.prepare_cached(&st.lock_head),
            tx.prepare_cached(&st.stream_heads),
            tx.prepare_cached(&st.stored_ids),
        )
        .map_err(pg_error)?;
        let mut names = HashSet::new();
        let mut ids = Vec::new();
        for command in group {
            match command {
                Command::Append { stream, events, .. } => {
                    names.insert(stream.clone());
                    // The streams the cross-stream rules read are read under the same lock.
                    names.extend(staging::referenced_streams(events));
                    ids.extend(events.iter().map(|e| e.event_id.0.to_string()));
                }
                Command::Import { events, .. } => {
                    for event in events {
                        names.insert(event.header.stream.clone());
                        ids.push(event.header.event_id.0.to_string());
                    }
                }
            }
        }
        let name_texts: Vec<&str> = names.iter().map(StreamName::as_str).collect();
        let (stream_params, id_params): ([&(dyn ToSql + Sync); 1], [&(dyn ToSql + Sync); 1]) = ([&name_texts], [&ids]);
        // Sent in this order on one connection, so the reads run after the lock is granted and see
        // every append committed before it.
        let (head, stream_rows, id_rows) = tokio::try_join!(
            tx.query_one(&lock, &[]),
            tx.query(&stream_heads, &stream_params),
            tx.query(&stored_ids, &id_params),
        )
        .map_err(pg_error)?;

        let last_recorded_at = Timestamp::from_unix_nanos(head.get::<_, i64>(2));
        let mut view = View {
            next_position: to_u64(head.get(0), "head.next_position")?,
            last_hash: to_hash(head.get(1))?,
            last_recorded_at,
            now: Timestamp::now().max(last_recorded_at),
            heads: HashMap::with_capacity(names.len()),
            ids: HashMap::with_capacity(id_rows.len()),
        };
        for row in id_rows {
            let id: &str = row.get(0);
            let id = uuid::Uuid::parse_str(id).map(EventId).map_err(|e| corrupt(format!("event id {id:?}: {e}")))?;
            let int = |i: usize, column: &str| to_u64(row.get(i), column);
            let append = AppendResult {
                first_position: Position(int(3, "events.append_first_position")?),
                last_position: Position(int(4, "events.append_last_position")?),
                first_version: int(5, "events.append_first_version")?,
                last_version: int(6, "events.append_last_version")?,
            };
            let stream = stream_name(row.get(1))?;
            let (position, record) = (Position(int(2, "events.position")?), Some(row.get(7)));
            view.ids.insert(id, IdRow { stream, position, append, record });
        }
        let mut stored = HashMap::with_capacity(stream_rows.len());
        for row in stream_rows {
            stored.insert(stream_name(row.get(0))?, to_u64(row.get(1), "streams.last_version")?);
        }
        let mut to_fold = Vec::new();
        for stream in names {
            let version = stored.get(&stream).copied();
            match self.streams.get(&stream) {
                Some(cached) if cached.last_version == version => {
                    view.heads.insert(stream, cached.clone());
                }
                _ if version.is_none() => {
                    view.heads.insert(stream, StreamHead::default());
                }
                _ => to_fold.push(stream),
            }
        }
        if !to_fold.is_empty() {
            for (stream, head) in self.fold(tx, &to_fold).await? {
                if head.last_version != stored.get(&stream).copied() {
                    return Err(corrupt(format!(
                        "stream {stream}: the streams table says version {:?}, the log ends at {:?}",
                        stored.get(&stream),
                        head.last_version
                    )));
                }
                self.streams.insert(stream.clone(), head.clone());
                view.heads.insert(stream, head);
            }
        }
        Ok(view)
    }

    /// Folds `streams` from the log (another server appended to them, or they are not cached).
    async fn fold(
        &self,
        tx: &Transaction<'_>,
        streams: &[StreamName],
    ) -> Result<HashMap<StreamName, StreamHead>, StoreError> {
        let statement = tx.prepare_cached(&self.statements.fold_streams).await.map_err(pg_error)?;
        let names: Vec<&str> = streams.iter().map(StreamName::as_str).collect();
        let rows = tx.query(&statement, &[&names]).await.map_err(pg_error)?;
        let mut heads: HashMap<StreamName, StreamHead> =
            streams.iter().map(|s| (s.clone(), StreamHead::default())).collect();
        for row in rows {
            let stream = stream_name(row.get(0))?;
            let version = to_u64(row.get(1), "events.version")?;
            let position = Position(to_u64(row.get(2), "events.position")?);
            let event = codec::decode_record(row.get(3)).map_err(|error| StoreError::Codec { position, error })?;
            let head = heads.get_mut(&stream).ok_or_else(|| corrupt(format!("unasked-for stream {stream}")))?;
            if head.last_version.map_or(0, |v| v + 1) != version
                || event.version != version
                || event.position != position
                || event.stream != stream
            {
                return Err(StoreError::Corruption {
                    position,
                    reason: format!("stream {stream} has a gap or mismatch at version {version}"),
                });
            }
            head.state = lifecycle::evolve(std::mem::take(&mut head.state), &event.data, event.occurred_at);
            head.last_version = Some(version);
        }
        Ok(heads)
    }

    /// The idempotency rule (see [`staging::idempotent_outcome`]) against the ids read under the lock.
    fn idempotent_outcome(
        view: &View,
        stream: &StreamName,
        events: &[PreparedEvent],
        staged: &Staged,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let rows: Vec<Option<&IdRow>> = events.iter().map(|e| view.ids.get(&e.event_id)).collect();
        let found: Vec<Option<StoredId>> = rows
            .iter()
            .map(|row| {
                row.map(|row| StoredId { stream: Some(row.stream.clone()), position: row.position, append: row.append })
            })
            .collect();
        staging::idempotent_outcome(stream, events, &found, |i, entry| {
            match rows[i].and_then(|row| row.record.as_deref()) {
                Some(record) => staging::decode_stored(entry.position, record),
                None => staging::staged_event(&staged.events, entry.position)
                    .cloned()
                    .ok_or_else(|| corrupt(format!("event id {} is neither stored nor staged", events[i].event_id))),
            }
        })
    }

    fn stage_append(
        &mut self,
        view: &mut View,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<PreparedEvent>,
        staged: &mut Staged,
    ) -> Result<AppendOutcome, StoreError> {
        if let Some(outcome) = Self::idempotent_outcome(view, stream, &events, staged)? {
            return Ok(outcome);
        }
        let head = view.heads.get(stream).expect("every stream of the group is loaded");
        let now = view.now;
        // `view.heads` holds the referenced streams too (loaded with the group, advanced by its appends).
        let state = staging::check_append(stream, expected, head, &events, now, &self.options, &view.heads)?;
        // Everything is checked: from here on the append only stages.
        let (result, built, _) = staging::build_append(
            stream,
            head.last_version,
            view.next_position,
            view.last_hash,
            events,
            now,
            &mut self.scratch,
        )?;
        for staging::BuiltEvent { header, record, data } in built {
            put(view, staged, &header, record, result);
            staged.events.push(RecordedEvent::from_header(header, data));
        }
        view.last_recorded_at = view.last_recorded_at.max(now);
        view.heads.insert(stream.clone(), StreamHead { last_version: Some(result.last_version), state });
        staged.touched.insert(stream.clone());
        Ok(AppendOutcome { result, idempotent_retry: false })
    }

    /// Stages events exported elsewhere, keeping their positions and hashes; all or nothing.
    fn stage_import(
        &mut self,
        view: &mut View,
        events: Vec<WrittenEvent>,
        staged: &mut Staged,
    ) -> Result<(), StoreError> {
        // Check everything against local copies first, so a refusal leaves the view untouched.
        let mut heads: HashMap<StreamName, StreamHead> = HashMap::new();
        let mut ids = ImportIds::new();
        let mut previous = view.last_hash;
        let mut accepted = Vec::with_capacity(events.len());
        for (position, written) in (view.next_position..).zip(events) {
            let h = &written.header;
            let head = match heads.remove(&h.stream) {
                Some(head) => head,
                None => view.heads.get(&h.stream).expect("every stream of the group is loaded").clone(),
            };
            let stored = !ids.insert(h.event_id) || view.ids.contains_key(&h.event_id);
            let (head, event, record) =
                staging::check_import(&written, position, &previous, head, stored, &mut self.scratch)?;
            heads.insert(h.stream.clone(), head);
            previous = h.hash;
            accepted.push((event, record));
        }
        for (event, record) in accepted {
            let header = event.header();
            view.last_recorded_at = view.last_recorded_at.max(header.recorded_at);
            put(view, staged, &header, record, staging::single_event_append(&header));
            staged.events.push(event);
        }
        for (stream, head) in heads {
            staged.touched.insert(stream.clone());
            view.heads.insert(stream, head);
        }
        Ok(())
    }

    /// Inserts the staged rows and moves the streams and the head, pipelined; the notification is
    /// delivered to the other servers when (and only if) the transaction commits.
    async fn write(&self, tx: &Transaction<'_>, view: &View, staged: &Staged) -> Result<(), WriteError> {
        let st = &self.statements;
        let (insert, upsert, update, notify) = tokio::try_join!(
            tx.prepare_cached(&st.insert_events),
            tx.prepare_cached(&st.upsert_streams),
            tx.prepare_cached(&st.update_head),
            tx.prepare_cached(&st.notify),
        )
        .map_err(WriteError::from)?;
        let rows = &staged.rows;
        debug_assert_eq!(
            rows.positions.first().map(|&p| p as u64 + rows.positions.len() as u64),
            Some(view.next_position),
            "a group's positions are contiguous and end at the next position"
        );
        let chunks: Vec<_> = rows
            .chunks()
            .into_iter()
            .map(|r| {
                (
                    &rows.positions[r.clone()],
                    &rows.streams[r.clone()],
                    &rows.versions[r.clone()],
                    &rows.ids[r.clone()],
                    &rows.types[r.clone()],
                    &rows.recorded_at[r.clone()],
                    &rows.records[r.clone()],
                    &rows.first_positions[r.clone()],
                    &rows.last_positions[r.clone()],
                    &rows.first_versions[r.clone()],
                    &rows.last_versions[r],
                )
            })
            .collect();
        let chunk_params: Vec<[&(dyn ToSql + Sync); 11]> = chunks
            .iter()
            .map(|c| -> [&(dyn ToSql + Sync); 11] {
                [&c.0, &c.1, &c.2, &c.3, &c.4, &c.5, &c.6, &c.7, &c.8, &c.9, &c.10]
            })
            .collect();
        let names: Vec<&str> = staged.touched.iter().map(StreamName::as_str).collect();
        let int = |v: u64| i64::try_from(v).expect("positions and versions stay below 2^63");
        let versions: Vec<i64> = staged
            .touched
            .iter()
            .map(|s| int(view.heads[s].last_version.expect("a touched stream holds events")))
            .collect();
        let next_position = int(view.next_position);
        let last_hash = &view.last_hash.0[..];
        let recorded_at = view.last_recorded_at.unix_nanos();
        let last_position = (view.next_position - 1).to_string();
        let upsert_params: [&(dyn ToSql + Sync); 2] = [&names, &versions];
        let update_params: [&(dyn ToSql + Sync); 3] = [&next_position, &last_hash, &recorded_at];
        let notify_params: [&(dyn ToSql + Sync); 2] = [&st.channel, &last_position];
        let mut pending = Vec::with_capacity(chunk_params.len() + 3);
        for params in &chunk_params {
            pending.push(tx.execute(&insert, params));
        }
        pending.push(tx.execute(&upsert, &upsert_params));
        pending.push(tx.execute(&update, &update_params));
        pending.push(tx.execute(&notify, &notify_params));
        let results = futures_util::future::join_all(pending).await;
        // After the first failure every statement fails with "transaction aborted": report the first.
        let mut failure = None;
        for result in results {
            if let Err(e) = result {
                let root = e.code() != Some(&SqlState::IN_FAILED_SQL_TRANSACTION);
                if failure.is_none() || root {
                    failure = Some(e);
                    if root {
                        break;
                    }
                }
            }
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// A unique index refused a row. Under the head lock it cannot happen between Redress servers; if a
    /// foreign writer bypassed the lock, each append gets the conflict the sled store would give.
    async fn answer_unique_violation(&self, client: &deadpool_postgres::Client, constraint: &str, staged: Staged) {
        staged.refusals.into_iter().for_each(Refusal::send);
        for append in staged.appends {
            let error = if constraint.contains("event_id") {
                StoreError::IdempotencyConflict {
                    event_id: append.first_id,
                    reason: format!("an event id was stored concurrently ({constraint})"),
                }
            } else {
                let current = match client.prepare_cached(&self.statements.stream_version).await {
                    Ok(statement) => match client.query_opt(&statement, &[&append.stream.as_str()]).await {
                        Ok(row) => row.and_then(|row| u64::try_from(row.get::<_, i64>(0)).ok()),
                        Err(_) => None,
                    },
                    Err(_) => None,
                };
                StoreError::WrongExpectedVersion { stream: append.stream, expected: append.expected, current }
            };
            let _ = append.reply.send(Err(error));
        }
        for (reply, position) in staged.imports {
            let reason = format!("a row was stored concurrently ({constraint})");
            let _ = reply.send(Err(StoreError::ImportRejected { position, reason }));
        }
    }
}

/// Stages one event's row and advances the view.
fn put(view: &mut View, staged: &mut Staged, header: &RecordHeader, record: Vec<u8>, append: AppendResult) {
    debug_assert_eq!(header.position.0, view.next_position, "positions are assigned in order");
    staged.rows.push(header, record, &append);
    let row = IdRow { stream: header.stream.clone(), position: header.position, append, record: None };
    view.ids.insert(header.event_id, row);
    view.next_position += 1;
    view.last_hash = header.hash;
}

/// Answers every staged append and import after the commit.
fn answer(staged: Staged) {
    staged.refusals.into_iter().for_each(Refusal::send);
    for append in staged.appends {
        let _ = append.reply.send(Ok(append.outcome));
    }
    for (reply, _) in staged.imports {
        let _ = reply.send(Ok(()));
    }
}

fn fail_all(group: Vec<Command>, error: &StoreError) {
    for command in group {
        command.fail(replicate(error));
    }
}

/// The same error for another caller (`StoreError` is not `Clone`).
fn replicate(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Corruption { position, reason } => {
            StoreError::Corruption { position: *position, reason: reason.clone() }
        }
        StoreError::Codec { position, error } => StoreError::Codec { position: *position, error: error.clone() },
        StoreError::Io(m) => StoreError::Io(m.clone()),
        other => StoreError::Io(other.to_string()),
    }
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corruption { position: Position(u64::MAX), reason }
}

fn stream_name(name: &str) -> Result<StreamName, StoreError> {
    StreamName::new(name).map_err(|e| corrupt(format!("stored stream name {name:?}: {e}")))
}

enum WriteError {
    /// A unique index refused a row: (stream, version) or event_id.
    Unique {
        constraint: String,
    },
    Other(StoreError),
}

impl From<tokio_postgres::Error> for WriteError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) if *db.code() == SqlState::UNIQUE_VIOLATION => {
                WriteError::Unique { constraint: db.constraint().unwrap_or("unknown").to_owned() }
            }
            _ => WriteError::Other(StoreError::Io(describe(&e))),
        }
    }
}
