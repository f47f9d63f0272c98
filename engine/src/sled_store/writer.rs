//! The single writer: drains the queue, stages every append of the group into one sled batch, applies
//! it, flushes, syncs once, then publishes and answers. Checks run against the writer's own view (which
//! includes earlier appends of the same group), so one group may hold dependent appends.
//!
//! When a write or a sync fails, the writer answers that group "outcome unknown", refuses new appends
//! (nothing written) and recovers by itself: it retires the failed sled instance, has the kernel write
//! back and forget the file's cached pages, opens the files again, and adopts what it finds past the
//! last durable position only if that tail continues the hash chain. It retries with backoff until the
//! cause (a full disk, no free descriptors, a failing device) is gone.

use super::durability::{self, DiskSync};
use super::keys::{self, IdEntry};
use super::Shared;
use crate::chain::ChainVerifier;
use crate::error::StoreError;
use crate::lifecycle::{self, StreamState};
use crate::limits::{DISPOSE_WAIT, RECOVERY_BACKOFF_MIN, RECOVERY_FREE_BYTES_MIN};
use crate::prepare::PreparedEvent;
use crate::staging::{self, ImportIds, Refusal, StoredId, StreamCache, StreamHead, WriteCommand as Command};
use crate::store::{AppendOutcome, ExpectedVersion, Head, StoreHealth, StoreOptions};
use redress_schemas::{
    codec, EventId, Hash, Position, RecordHeader, RecordedEvent, StreamName, Timestamp, WrittenEvent,
};
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// What the log says at open.
pub(crate) struct Recovered {
    pub next_position: u64,
    pub last_hash: Hash,
    pub last_recorded_at: Timestamp,
}

impl Recovered {
    /// Reads the head and checks it against the last log entry (they are written in one batch). Run
    /// [`roll_back_uncommitted`] first: a log that runs past the head is refused here.
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
                let (next_position, last_hash) = decode_head(&head)?;
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

fn decode_head(head: &[u8]) -> Result<(u64, Hash), StoreError> {
    keys::decode_head(head).ok_or_else(|| StoreError::Corruption {
        position: Position(u64::MAX),
        reason: "the head entry is malformed".into(),
    })
}

/// Removes what a failed write left in the log past the head, with the stream-index and id entries
/// of those events; returns how many log entries it removed.
///
/// The head is the commit record: every group writes it in the same sled batch as its events, and
/// is answered only after that batch is flushed and synced. So no acknowledged event lies past the
/// head. sled 0.34 has been seen to break that batch's atomicity when the disk filled mid-write
/// (a later open found the log entry of a never-acknowledged group, but not its head): such an
/// entry is the remnant of an append whose caller heard "outcome unknown", possibly only part of
/// its batch, so it is rolled back, never adopted. A log that ends *before* the head is another
/// matter (acknowledged events are missing) and stays a refusal.
pub(crate) fn roll_back_uncommitted(tree: &sled::Tree) -> Result<u64, StoreError> {
    let Some(head) = tree.get(keys::HEAD)? else { return Ok(0) };
    let (next_position, _) = decode_head(&head)?;
    let mut batch = sled::Batch::default();
    let mut removed = 0u64;
    for entry in tree.range(keys::log(next_position)..=keys::log(u64::MAX)) {
        let (key, record) = entry?;
        let Some(position) = keys::log_position(&key) else { break };
        batch.remove(key);
        removed += 1;
        // A remnant too damaged to name its stream and id leaves nothing they could find: the writer
        // reads the log entry behind every index entry it uses, and that entry is gone now.
        let Ok((header, _)) = codec::decode_header(&record) else { continue };
        let stream_key = keys::stream_version(&header.stream, header.version);
        if tree.get(&stream_key)?.as_deref().and_then(keys::u64_value) == Some(position) {
            batch.remove(stream_key);
        }
        let id_key = keys::event_id(&header.event_id);
        if tree.get(id_key)?.as_deref().and_then(IdEntry::decode).is_some_and(|e| e.position.0 == position) {
            batch.remove(&id_key[..]);
        }
    }
    if removed > 0 {
        tree.apply_batch(batch)?;
        // Flushed here; the open that follows syncs the files.
        tree.flush()?;
        tracing::warn!(
            removed,
            next_position,
            "removed log entries past the head: the remnant of a write that failed before it was acknowledged"
        );
    }
    Ok(removed)
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
    /// Refused by a check: answered once the group is durable or has failed (see [`Refusal`]).
    refusals: Vec<Refusal>,
}

/// One opened sled database: the handle the writer flushes, the tree it writes, the syncs that make
/// its files durable.
pub(crate) struct Instance {
    db: sled::Db,
    pub(crate) tree: sled::Tree,
    disk: DiskSync,
    pub(crate) recovered: Recovered,
    /// Log entries past the head that opening removed (see [`roll_back_uncommitted`]).
    pub(crate) rolled_back: u64,
}

impl Instance {
    /// Opens the database in `path`, reads its head, and makes what sled recovered durable. A sled
    /// instance that fails while opening is abandoned, not closed (see [`abandon`]).
    pub(crate) fn open(path: &Path, options: &StoreOptions, dev_null: &File) -> Result<Instance, StoreError> {
        let faults = &options.faults;
        let db = super::open_sled(path, options.cache_bytes)?;
        let loaded = db.open_tree("events").map_err(StoreError::from).and_then(|tree| {
            let rolled_back = roll_back_uncommitted(&tree)?;
            let recovered = Recovered::load(&tree)?;
            Ok((tree, recovered, rolled_back))
        });
        let (tree, recovered, rolled_back) = match loaded {
            Ok(loaded) => loaded,
            Err(error @ StoreError::Io(_)) => {
                abandon(db, None, path, dev_null);
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        // A failure here is ours (a sync), not sled's: sled can be closed normally.
        let disk = DiskSync::open(path, faults.clone())?;
        Ok(Instance { db, tree, disk, recovered, rolled_back })
    }
}

/// Gives up on a sled instance that returned an I/O error, without ever calling into it again.
///
/// sled 0.34 may hang forever flushing such an instance (closing it flushes), and that flush holds
/// sled's process-wide concurrency lock, which would then stop every other sled database of the
/// process at its next batch. So the instance is leaked (its memory stays until the process ends)
/// and its descriptors are fenced off the files ([`durability::fence`]), which releases the directory
/// lock for the reopened instance. Returns whether a descriptor was fenced.
fn abandon(db: sled::Db, tree: Option<sled::Tree>, path: &Path, dev_null: &File) -> bool {
    std::mem::forget(tree);
    std::mem::forget(db);
    durability::fence(&path.join("db"), dev_null).is_ok_and(|n| n > 0)
}

/// Which part of a write failed.
enum Culprit {
    /// sled returned an error: the instance must never be called again.
    Sled,
    /// Making sled's files durable failed: sled itself is fine and can be closed.
    Sync,
}

/// Whether the writer can write.
enum Mode {
    Healthy,
    /// A write or sync failed: the instance must be replaced before anything else is written.
    Broken {
        cause: String,
        last_error: Option<String>,
        attempts: u64,
        backoff: Duration,
        next_attempt: Instant,
    },
    /// Recovery found something it must not paper over; an operator has to look.
    Failed {
        reason: String,
    },
}

/// Why an attempt to recover did not succeed.
enum Setback {
    /// The cause may still be there (no space, no descriptors, the device still failing): try later.
    Retry(String),
    /// The files disagree with what the store acknowledged: stop.
    Fatal(String),
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    /// `None` only while a failed instance is being replaced.
    instance: Option<Instance>,
    next_position: u64,
    last_hash: Hash,
    last_recorded_at: Timestamp,
    streams: StreamCache,
    mode: Mode,
    /// Opened at start, so that cutting a wedged instance off its files needs no new descriptor (the
    /// failure may be that there are none left).
    dev_null: File,
    scratch: Vec<u8>,
}

/// How long an unhealthy writer sleeps between looks at its queue.
const UNHEALTHY_POLL: Duration = Duration::from_millis(20);

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, instance: Instance, dev_null: File) -> Writer {
        Writer {
            next_position: instance.recovered.next_position,
            last_hash: instance.recovered.last_hash,
            last_recorded_at: instance.recovered.last_recorded_at,
            shared,
            instance: Some(instance),
            streams: StreamCache::default(),
            mode: Mode::Healthy,
            dev_null,
            scratch: Vec::with_capacity(1024),
        }
    }

    /// Runs until every sender is gone, then returns (after the last group is synced and the sled
    /// instance is closed — or cut off, if it cannot close).
    pub(crate) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            if matches!(self.mode, Mode::Healthy) {
                let Some(first) = commands.blocking_recv() else { break };
                let group = staging::drain_group(first, &mut commands);
                self.commit_group(group);
            } else {
                if !self.refuse_until_next_attempt(&mut commands) {
                    break;
                }
                self.try_recover();
            }
        }
        if matches!(self.mode, Mode::Healthy) {
            // Readers keep their handle (reads work after close); the files close when the store is dropped.
            drop(self.instance.take());
        } else {
            self.retire_instance(DISPOSE_WAIT);
        }
    }

    /// While unhealthy: answers every append that arrives with [`StoreError::Unavailable`] (nothing is
    /// written) until the next recovery attempt is due. `false` when every sender is gone.
    fn refuse_until_next_attempt(&mut self, commands: &mut mpsc::Receiver<Command>) -> bool {
        loop {
            let (reason, due) = match &self.mode {
                Mode::Healthy => return true,
                Mode::Broken { cause, last_error, next_attempt, .. } => {
                    let reason = match last_error {
                        Some(error) => format!("{cause}; still recovering: {error}"),
                        None => format!("{cause}; recovering"),
                    };
                    (reason, Some(*next_attempt))
                }
                Mode::Failed { reason } => (reason.clone(), None),
            };
            match commands.try_recv() {
                Ok(command) => command.fail(StoreError::Unavailable(format!("the store cannot write: {reason}"))),
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let now = Instant::now();
                    match due {
                        Some(due) if now >= due => return true,
                        Some(due) => std::thread::sleep(UNHEALTHY_POLL.min(due - now)),
                        None => std::thread::sleep(UNHEALTHY_POLL),
                    }
                }
            }
        }
    }

    fn commit_group(&mut self, group: Vec<Command>) {
        let bytes: usize = group.iter().map(Command::payload_bytes).sum();
        if let Some(reason) = disk_space_problem(&self.shared.path, self.shared.options.disk_free_bytes_min, bytes) {
            // Refused before anything is staged: these appends certainly wrote nothing.
            for command in group {
                command.fail(StoreError::Unavailable(reason.clone()));
            }
            return;
        }
        let now = Timestamp::now().max(self.last_recorded_at);
        let mut staged = Staged::default();
        let mut rest = group.into_iter();
        let mut failed_read = None;
        for command in rest.by_ref() {
            let error = match command {
                Command::Append { stream, expected, events, reply } => {
                    match self.stage_append(&stream, expected, events, now, &mut staged) {
                        Ok(outcome) => {
                            staged.appends.push((reply, outcome));
                            continue;
                        }
                        Err(error) => {
                            let failed = storage_failure(&error);
                            staged.refusals.push(Refusal::Append(reply, refusal_for(error, &failed)));
                            failed
                        }
                    }
                }
                Command::Import { events, reply } => match self.stage_import(events, &mut staged) {
                    Ok(()) => {
                        staged.imports.push(reply);
                        continue;
                    }
                    Err(error) => {
                        let failed = storage_failure(&error);
                        staged.refusals.push(Refusal::Import(reply, refusal_for(error, &failed)));
                        failed
                    }
                },
            };
            if error.is_some() {
                failed_read = error;
                break;
            }
        }
        if let Some(cause) = failed_read {
            // sled could not even read: the instance is broken (sled turns an earlier failed background
            // write into an error on every later call). Nothing of this group was applied, so every
            // append in it certainly wrote nothing.
            let cause = format!("reading the store failed: {cause}");
            self.break_down(cause.clone(), Culprit::Sled);
            let refusal = || StoreError::Unavailable(format!("the store cannot write: {cause}"));
            staged.refusals.into_iter().for_each(Refusal::send);
            for (reply, _) in staged.appends {
                let _ = reply.send(Err(refusal()));
            }
            for reply in staged.imports {
                let _ = reply.send(Err(refusal()));
            }
            for command in rest {
                command.fail(refusal());
            }
            return;
        }
        if !staged.events.is_empty() {
            self.shared
                .writing_since_nanos
                .store(self.shared.opened.elapsed().as_nanos().max(1) as u64, Ordering::Release);
            let written = self.write_durably(&mut staged);
            self.shared.writing_since_nanos.store(0, Ordering::Release);
            if let Err((error, culprit)) = written {
                // The batch may have reached the disk before the failure: nobody can say whether these
                // appends are stored until the files are read again.
                let cause = format!("a write failed: {error}");
                // Unhealthy before anyone hears of the failure, so a caller who then asks sees why.
                self.break_down(cause.clone(), culprit);
                staged.refusals.into_iter().for_each(Refusal::send);
                for (reply, _) in staged.appends {
                    let _ = reply.send(Err(StoreError::OutcomeUnknown(cause.clone())));
                }
                for reply in staged.imports {
                    let _ = reply.send(Err(StoreError::OutcomeUnknown(cause.clone())));
                }
                return;
            }
            self.last_recorded_at = now;
            let head = Head { position: Position(self.next_position - 1), hash: self.last_hash };
            *self.shared.head.lock().unwrap_or_else(|p| p.into_inner()) = Some(head);
            self.shared.durable_next.store(self.next_position, Ordering::Release);
            // No subscriber is not an error; a slow one lags and catches up from the log.
            let _ = self.shared.live.send(Arc::from(std::mem::take(&mut staged.events)));
        }
        staged.refusals.into_iter().for_each(Refusal::send);
        for (reply, outcome) in staged.appends {
            let _ = reply.send(Ok(outcome));
        }
        for reply in staged.imports {
            let _ = reply.send(Ok(()));
        }
    }

    fn write_durably(&mut self, staged: &mut Staged) -> Result<(), (StoreError, Culprit)> {
        debug_assert_eq!(
            staged.events.first().map(|e| e.position.0 + staged.events.len() as u64),
            Some(self.next_position),
            "a group's positions are contiguous and end at the next position"
        );
        staged.batch.insert(keys::HEAD, &keys::head_value(self.next_position, &self.last_hash)[..]);
        let instance = self.instance_mut().map_err(|e| (e, Culprit::Sync))?;
        let sled_error = |e: sled::Error| (StoreError::from(e), Culprit::Sled);
        instance.tree.apply_batch(std::mem::take(&mut staged.batch)).map_err(sled_error)?;
        instance.db.flush().map_err(sled_error)?;
        // Not retried on failure: after a failed fsync the kernel may already have dropped the pages it
        // could not write, so a second fsync on the same file could succeed and prove nothing. The
        // instance is retired instead, and its files are read again from the disk.
        instance.disk.sync().map_err(|e| (StoreError::from(e), Culprit::Sync))?;
        Ok(())
    }

    fn instance(&self) -> Result<&Instance, StoreError> {
        self.instance.as_ref().ok_or_else(|| StoreError::Unavailable("the storage instance is being replaced".into()))
    }

    fn instance_mut(&mut self) -> Result<&mut Instance, StoreError> {
        self.instance.as_mut().ok_or_else(|| StoreError::Unavailable("the storage instance is being replaced".into()))
    }

    fn tree(&self) -> Result<&sled::Tree, StoreError> {
        Ok(&self.instance()?.tree)
    }

    /// A write failed: stop writing and start recovering. An instance that sled itself failed is
    /// abandoned at once, so no reader calls into it either (reads answer "unavailable" until the
    /// reopen); one whose sync failed keeps serving reads until the first recovery attempt.
    fn break_down(&mut self, cause: String, culprit: Culprit) {
        self.shared.set_health(StoreHealth::Recovering { reason: cause.clone(), attempts: 0 });
        if matches!(culprit, Culprit::Sled) {
            self.abandon_instance();
        }
        self.mode = Mode::Broken {
            cause,
            last_error: None,
            attempts: 0,
            backoff: RECOVERY_BACKOFF_MIN,
            next_attempt: Instant::now() + RECOVERY_BACKOFF_MIN,
        };
    }

    /// One recovery attempt; on a setback, the next one is scheduled (or recovery stops, if fatal).
    fn try_recover(&mut self) {
        let Mode::Broken { cause, attempts, backoff, .. } = &self.mode else { return };
        let (cause, attempts, backoff) = (cause.clone(), *attempts + 1, *backoff);
        match self.reopen() {
            Ok(tail) => {
                self.mode = Mode::Healthy;
                self.shared.set_health(StoreHealth::Ok);
                if !tail.is_empty() {
                    let _ = self.shared.live.send(Arc::from(tail));
                }
            }
            Err(Setback::Retry(error)) => {
                let backoff = (backoff * 2).min(self.shared.options.recovery_backoff_max.max(RECOVERY_BACKOFF_MIN));
                self.shared.set_health(StoreHealth::Recovering {
                    reason: format!("{cause}; recovery attempt {attempts} failed: {error}"),
                    attempts,
                });
                self.mode = Mode::Broken {
                    cause,
                    last_error: Some(error),
                    attempts,
                    backoff,
                    next_attempt: Instant::now() + backoff,
                };
            }
            Err(Setback::Fatal(reason)) => {
                let reason = format!("{cause}; recovery stopped: {reason}");
                self.shared.set_health(StoreHealth::Failed { reason: reason.clone() });
                self.mode = Mode::Failed { reason };
            }
        }
    }

    /// Replaces the failed instance: retire it, read the files again from the disk, and adopt the tail
    /// past the last durable position if it continues the chain. Returns the adopted tail's events
    /// (now durable, for live subscribers).
    fn reopen(&mut self) -> Result<Vec<RecordedEvent>, Setback> {
        let path = self.shared.path.clone();
        // Cheap checks first: while the cause is plainly still there, the old instance keeps serving reads.
        // Opening sled writes (a snapshot, the log's tail), and a sled that runs out of space while
        // opening can leave files it later calls corrupt: never try it on a disk with no room at all.
        let reserve = self.shared.options.disk_free_bytes_min.max(RECOVERY_FREE_BYTES_MIN);
        if let Some(problem) = disk_space_problem(&path, reserve, 0) {
            return Err(Setback::Retry(problem));
        }
        File::open(&path).map_err(|e| Setback::Retry(format!("cannot open {}: {e}", path.display())))?;

        self.retire_instance(DISPOSE_WAIT);
        durability::write_back_and_evict(&path).map_err(|e| Setback::Retry(format!("write-back: {e}")))?;
        let instance = match Instance::open(&path, &self.shared.options, &self.dev_null) {
            Ok(instance) => instance,
            Err(error @ (StoreError::Corruption { .. } | StoreError::Codec { .. })) => {
                return Err(Setback::Fatal(error.to_string()))
            }
            Err(error) => return Err(Setback::Retry(format!("reopen: {error}"))),
        };
        let durable_next = self.shared.durable_next.load(Ordering::Acquire);
        let durable_head = *self.shared.head.lock().unwrap_or_else(|p| p.into_inner());
        let found_next = instance.recovered.next_position;
        if found_next < durable_next {
            return Err(Setback::Fatal(format!(
                "the reopened log ends before position {durable_next}, which was acknowledged as durable \
                 (it now ends at {found_next})"
            )));
        }
        let mut verifier =
            ChainVerifier::continuing(Position(durable_next), durable_head.map_or(Hash::GENESIS, |h| h.hash));
        let mut tail = Vec::with_capacity((found_next - durable_next) as usize);
        for position in durable_next..found_next {
            let record = instance
                .tree
                .get(keys::log(position))
                .map_err(|e| Setback::Retry(format!("reading the recovered tail: {e}")))?
                .ok_or_else(|| Setback::Fatal(format!("the recovered log has no entry at position {position}")))?;
            let written = WrittenEvent::decode(&record)
                .map_err(|e| Setback::Fatal(format!("the recovered record at position {position}: {e}")))?;
            verifier.check(&written).map_err(|(at, reason)| {
                Setback::Fatal(format!("the recovered tail does not continue the chain at position {at}: {reason}"))
            })?;
            tail.push(
                written
                    .to_recorded()
                    .map_err(|e| Setback::Fatal(format!("the recovered record at position {position}: {e}")))?,
            );
        }
        // Adopt it.
        let instance_rolled_back = instance.rolled_back;
        let recovered = &instance.recovered;
        self.next_position = recovered.next_position;
        self.last_hash = recovered.last_hash;
        self.last_recorded_at = self.last_recorded_at.max(recovered.last_recorded_at);
        self.streams = StreamCache::default();
        *self.shared.tree.write().unwrap_or_else(|p| p.into_inner()) = Some(instance.tree.clone());
        *self.shared.head.lock().unwrap_or_else(|p| p.into_inner()) = recovered.head();
        self.shared.durable_next.store(recovered.next_position, Ordering::Release);
        self.instance = Some(instance);
        self.shared.reopened.fetch_add(1, Ordering::Relaxed);
        self.shared.rolled_back.fetch_add(instance_rolled_back, Ordering::Relaxed);
        Ok(tail)
    }

    /// Takes the current instance away from readers and abandons it (see [`abandon`]).
    fn abandon_instance(&mut self) {
        self.shared.tree.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(Instance { db, tree, disk, .. }) = self.instance.take() {
            drop(disk);
            if abandon(db, Some(tree), &self.shared.path, &self.dev_null) {
                self.shared.fenced.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Closes the current instance (one sled has not failed) on a thread of its own and waits up to
    /// `wait`; an instance that does not close in time is cut off from its files
    /// ([`durability::fence`]), so the directory can be opened again in this process and nothing it
    /// still does reaches the disk.
    fn retire_instance(&mut self, wait: Duration) {
        // Readers hold the read guard for a whole read: once this write lock is ours, none is inside.
        self.shared.tree.write().unwrap_or_else(|p| p.into_inner()).take();
        let Some(instance) = self.instance.take() else { return };
        let db_path = self.shared.path.join("db");
        let slot = Arc::new(Mutex::new(Some(instance)));
        let (done, closed) = std::sync::mpsc::channel();
        let retiring = Arc::clone(&slot);
        let spawned = std::thread::Builder::new().name("redress-retire".into()).spawn(move || {
            let instance = retiring.lock().unwrap_or_else(|p| p.into_inner()).take();
            // sled may panic closing a database whose files were cut off: that is the point of the fence.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(instance)));
            let _ = done.send(());
        });
        let closed_in_time = match spawned {
            Ok(_) => closed.recv_timeout(wait).is_ok(),
            Err(_) => {
                // No thread to close it on, and closing it here could hang this one: leak it.
                std::mem::forget(slot.lock().unwrap_or_else(|p| p.into_inner()).take());
                false
            }
        };
        if !closed_in_time {
            // The fence is best effort: if it fails, reopening finds the lock held and retries later.
            if durability::fence(&db_path, &self.dev_null).is_ok_and(|n| n > 0) {
                self.shared.fenced.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The stream's head from the cache, or folded from the log.
    fn stream_head(&mut self, stream: &StreamName) -> Result<StreamHead, StoreError> {
        if let Some(head) = self.streams.get(stream) {
            return Ok(head.clone());
        }
        let mut last_version = None;
        let mut state = StreamState::default();
        for entry in self.tree()?.scan_prefix(keys::stream_prefix(stream)) {
            let (key, value) = entry?;
            let version = keys::version_of_stream_key(&key);
            let position = keys::u64_value(&value).ok_or_else(|| StoreError::Corruption {
                position: Position(u64::MAX),
                reason: format!("stream index of {stream} at version {version} is malformed"),
            })?;
            let record = self.tree()?.get(keys::log(position))?.ok_or_else(|| StoreError::Corruption {
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
        match self.tree()?.get(keys::event_id(id))? {
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
            let record = self.tree()?.get(keys::log(entry.position.0))?.ok_or_else(|| StoreError::Corruption {
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
        // The cross-stream rules read the writer's own view: the cache holds this group's staged appends.
        let mut referenced = HashMap::new();
        for name in staging::referenced_streams(&events) {
            let target = self.stream_head(&name)?;
            referenced.insert(name, target);
        }
        let state = staging::check_append(stream, expected, &head, &events, now, &self.shared.options, &referenced)?;
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

/// Why the store must not write a group of about `bytes` now, if it must not: the filesystem holding
/// `path` would keep less than `reserve` bytes free (a `reserve` of 0 turns the check off). `None` also when the free space cannot be read
/// (the write itself will then say what is wrong).
pub(crate) fn disk_space_problem(path: &Path, reserve: u64, bytes: usize) -> Option<String> {
    if reserve == 0 {
        // No reserve asked for: the check is off (tests let sled itself run the disk full this way).
        return None;
    }
    let free = crate::disk::free_bytes(path).ok()?;
    // sled writes a record, its index entries and segment bookkeeping: twice the payload is ample.
    let needed = reserve.saturating_add(2 * bytes as u64);
    (free < needed).then(|| {
        format!(
            "the disk is nearly full: {free} bytes free on the filesystem of {}, and the store keeps {reserve} \
             in reserve; appends resume once space is freed",
            path.display()
        )
    })
}

/// What a caller is told when staging its command failed: a storage failure is a refusal (nothing
/// was applied), anything else is the command's own error.
fn refusal_for(error: StoreError, failed: &Option<String>) -> StoreError {
    match failed {
        Some(cause) => StoreError::Unavailable(format!("the store cannot write: reading the store failed: {cause}")),
        None => error,
    }
}

/// The message of an error that means the storage instance itself failed (an I/O error from sled),
/// as opposed to a refusal of the append.
fn storage_failure(error: &StoreError) -> Option<String> {
    match error {
        StoreError::Io(message) => Some(message.clone()),
        _ => None,
    }
}
