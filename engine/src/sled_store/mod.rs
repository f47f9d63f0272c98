//! The embedded store on sled 0.34.
//!
//! One writer thread owns every write: the hash chain needs a total order, and one flush + sync covers
//! every append waiting in its queue (group commit). Readers go straight to sled but never past
//! `durable_next`, the first position not yet synced, so nobody sees an event that a crash could lose.

mod durability;
mod keys;
mod writer;

use crate::checkpoint::{Checkpoint, CHECKPOINTS_KEPT_MAX};
use crate::error::StoreError;
use crate::limits::{READ_EVENTS_MAX, READ_SCAN_EVENTS_MAX, SUBSCRIPTION_QUEUE_BATCHES_MAX, WRITER_QUEUE_APPENDS_MAX};
use crate::staging::WriteCommand as Command;
use crate::staging::{self, check_position};
use crate::store::{
    AppendOutcome, CommittedBatch, Direction, EventFilter, EventStore, ExpectedVersion, Head, Page, StoreHealth,
    StoreOptions,
};
use async_trait::async_trait;
use redress_schemas::{codec, Position, ProposedEvent, RecordedEvent, StreamName, WrittenEvent};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::{broadcast, mpsc};
use writer::Writer;

/// State shared by the writer thread and readers.
struct Shared {
    /// The storage instance readers use. `None` only while the writer replaces a failed instance; a
    /// reader holds the read guard for the whole (synchronous) read, so when the writer takes the
    /// instance away no reader is still inside it.
    tree: RwLock<Option<sled::Tree>>,
    /// Positions below this are durable and readable.
    durable_next: AtomicU64,
    head: Mutex<Option<Head>>,
    live: broadcast::Sender<CommittedBatch>,
    /// What the writer knows about its ability to write.
    health: Mutex<StoreHealth>,
    /// When the group being written started (ns since the store opened; 0 when none is).
    writing_since_nanos: AtomicU64,
    /// Failed instances replaced by a reopen, and how many of them had to be cut off their files.
    reopened: AtomicU64,
    fenced: AtomicU64,
    /// Log entries past the head removed by opening the files (see `writer::roll_back_uncommitted`).
    rolled_back: AtomicU64,
    opened: Instant,
    options: StoreOptions,
    path: PathBuf,
}

impl Shared {
    /// Runs `read` on the current storage instance.
    fn with_tree<T>(&self, read: impl FnOnce(&sled::Tree) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let guard = self.tree.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        match guard.as_ref() {
            Some(tree) => read(tree),
            None => Err(StoreError::Unavailable(
                "the store is reopening its files after a failed write; retry in a moment".into(),
            )),
        }
    }

    fn set_health(&self, health: StoreHealth) {
        *self.health.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = health;
    }
}

/// Counts of [`SledStore::recoveries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recoveries {
    /// Failed storage instances replaced by reopening the files.
    pub reopened: u64,
    /// Failed instances that would not close within [`crate::limits::DISPOSE_WAIT`] and were cut off
    /// from their files; each keeps its memory until the process ends.
    pub fenced: u64,
    /// Log entries found past the head when the files were opened (at start or by a reopen) and
    /// removed with their index entries: the remnant of a write that failed before it was
    /// acknowledged, which sled 0.34 can leave behind when the disk fills mid-write.
    pub rolled_back: u64,
}

/// The sled-backed [`EventStore`]. Open one per directory (sled locks it).
pub struct SledStore {
    shared: Arc<Shared>,
    /// Serializes checkpoint saves (the HTTP handler and the periodic task may save at once): the
    /// sequence is read and the next one written under it.
    checkpoint_saves: Mutex<()>,
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    writer: Mutex<Option<WriterHandle>>,
}

/// The writer thread, and the signal it sends when it has finished.
struct WriterHandle {
    thread: std::thread::JoinHandle<()>,
    finished: std::sync::mpsc::Receiver<()>,
}

impl WriterHandle {
    /// Waits for the writer to finish, at most `timeout`. `false`: it did not (and is left running).
    fn join(self, timeout: std::time::Duration) -> bool {
        match self.finished.recv_timeout(timeout) {
            // Finished (or gone): the join returns at once.
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = self.thread.join();
                true
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => false,
        }
    }
}

impl SledStore {
    /// Opens (or creates) the store in directory `path` with the default [`StoreOptions`].
    ///
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<SledStore, StoreError> {
        SledStore::open_with(path, StoreOptions::default())
    }

    /// Opens (or creates) the store in directory `path`, recovers its head and checks that the log and
    /// the head agree, makes the recovered state durable, and starts the writer thread.
    ///
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<SledStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let dev_null = std::fs::File::options().read(true).write(true).open("/dev/null")?;
        let instance = writer::Instance::open(&path, &options, &dev_null)?;
        let (live, _) = broadcast::channel(SUBSCRIPTION_QUEUE_BATCHES_MAX);
        let shared = Arc::new(Shared {
            tree: RwLock::new(Some(instance.tree.clone())),
            durable_next: AtomicU64::new(instance.recovered.next_position),
            head: Mutex::new(instance.recovered.head()),
            live,
            health: Mutex::new(StoreHealth::Ok),
            writing_since_nanos: AtomicU64::new(0),
            reopened: AtomicU64::new(0),
            fenced: AtomicU64::new(0),
            rolled_back: AtomicU64::new(instance.rolled_back),
            opened: Instant::now(),
            options,
            path,
        });
        let (tx, rx) = mpsc::channel(WRITER_QUEUE_APPENDS_MAX);
        let writer = Writer::new(Arc::clone(&shared), instance, dev_null);
        let (done, finished) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("redress-writer".into()).spawn(move || {
            writer.run(rx);
            let _ = done.send(());
        })?;
        Ok(SledStore {
            shared,
            checkpoint_saves: Mutex::new(()),
            commands: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(WriterHandle { thread, finished })),
        })
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// How often this store recovered from a failed write by reopening its files, and how many of
    /// the failed instances had to be cut off from their files because they would not close.
    pub fn recoveries(&self) -> Recoveries {
        Recoveries {
            reopened: self.shared.reopened.load(Ordering::Relaxed),
            fenced: self.shared.fenced.load(Ordering::Relaxed),
            rolled_back: self.shared.rolled_back.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting appends, lets the writer finish (and sync) every append already queued, and waits
    /// for it — at most the close timeout of [`StoreOptions`]. Appends after this fail with
    /// [`StoreError::Unavailable`]; reads keep working.
    ///
    /// Errors: [`StoreError::Unavailable`] when the writer did not finish in time; the appends it still
    /// held are abandoned (their callers get [`StoreError::OutcomeUnknown`] when it is dropped, or wait
    /// for the process to end). The directory lock is released when the process exits.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        let queued = self
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map_or(0, |tx| WRITER_QUEUE_APPENDS_MAX - tx.capacity());
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(handle) = handle else { return Ok(()) };
        let timeout = self.shared.options.close_timeout;
        let finished = tokio::task::spawn_blocking(move || handle.join(timeout)).await.unwrap_or(false);
        self.shared.set_health(StoreHealth::Closed);
        if finished {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "the writer did not finish within {timeout:?} ({}); abandoned it with up to {queued} queued appends",
                self.writer_state()
            )))
        }
    }

    fn writer_state(&self) -> String {
        match self.health() {
            StoreHealth::Ok => "healthy".into(),
            StoreHealth::Recovering { reason, .. } => format!("recovering: {reason}"),
            StoreHealth::Failed { reason } => format!("failed: {reason}"),
            StoreHealth::Closed => "closed".into(),
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Command>, StoreError> {
        self.commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".into()))
    }

    fn durable_end(&self) -> u64 {
        self.shared.durable_next.load(Ordering::Acquire)
    }
}

fn record_at(position: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    let event =
        codec::decode_record(bytes).map_err(|error| StoreError::Codec { position: Position(position), error })?;
    check_position(position, event.position)?;
    Ok(event)
}

/// The newest checkpoint in `tree` and its sequence number.
fn latest_checkpoint_in(tree: &sled::Tree) -> Result<Option<(u64, Checkpoint)>, StoreError> {
    let Some((key, value)) = tree.scan_prefix([keys::CHECKPOINT]).next_back().transpose()? else {
        return Ok(None);
    };
    let corrupt = |reason: String| StoreError::Corruption { position: Position(u64::MAX), reason };
    let sequence = key
        .get(1..)
        .and_then(keys::u64_value)
        .ok_or_else(|| corrupt(format!("checkpoint key {key:?} is not C + 8 bytes")))?;
    let checkpoint = Checkpoint::decode(&value).map_err(|e| corrupt(e.to_string()))?;
    Ok(Some((sequence, checkpoint)))
}

fn position_of(value: &[u8], key: &[u8]) -> Result<u64, StoreError> {
    keys::u64_value(value).ok_or_else(|| StoreError::Corruption {
        position: Position(u64::MAX),
        reason: format!("stream index entry {key:?} holds {} bytes, not a position", value.len()),
    })
}

fn read_log(tree: &sled::Tree, position: u64) -> Result<RecordedEvent, StoreError> {
    let bytes = tree.get(keys::log(position))?.ok_or_else(|| StoreError::Corruption {
        position: Position(position),
        reason: "the stream index points at a missing log entry".into(),
    })?;
    record_at(position, &bytes)
}

/// How long `open` waits for another holder of sled's directory lock to let go.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        // Redress flushes (and syncs) after every group commit; sled's timer would only add I/O.
        .flush_every_ms(None);
    let started = std::time::Instant::now();
    loop {
        match config.open() {
            // A store dropped a moment ago may still hold the lock from sled's I/O threads: wait a little.
            Err(sled::Error::Io(e)) if is_lock_held(&e) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(sled::Error::Io(e)) if is_lock_held(&e) => {
                return Err(StoreError::Unavailable(format!(
                    "{} is in use by another Redress process (sled's lock is held): {e}",
                    path.display()
                )))
            }
            other => return other.map_err(StoreError::from),
        }
    }
}

/// sled reports a held directory lock as an `Other` I/O error with this text (config.rs, 0.34.7).
fn is_lock_held(e: &std::io::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Let the writer drain and sync what is queued, and release sled's lock before the directory
        // is opened again — but never hang the dropping thread on a writer that cannot finish.
        self.commands.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = self.writer.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            handle.join(self.shared.options.close_timeout);
        }
    }
}

#[async_trait]
impl EventStore for SledStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        staging::submit_append(self.sender(), stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Page<RecordedEvent>, StoreError> {
        let limit = limit.min(READ_EVENTS_MAX);
        let end = self.durable_end();
        let prefix = keys::stream_prefix(stream);
        self.shared.with_tree(|tree| {
            let mut events = Vec::new();
            let mut next = None;
            let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match direction {
                Direction::Forward => Box::new(tree.range(keys::stream_version(stream, from)..).take_while({
                    let prefix = prefix.clone();
                    move |r| r.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix))
                })),
                Direction::Backward => Box::new(tree.range(prefix.clone()..=keys::stream_version(stream, from)).rev()),
            };
            for entry in entries {
                let (key, value) = entry?;
                let position = position_of(&value, &key)?;
                if position >= end {
                    // Written by a group commit that is not durable yet: invisible, and so is all after it.
                    if direction == Direction::Forward {
                        break;
                    }
                    continue;
                }
                if events.len() == limit {
                    next = Some(keys::version_of_stream_key(&key));
                    break;
                }
                events.push(read_log(tree, position)?);
            }
            Ok(Page { events, next })
        })
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Page<RecordedEvent>, StoreError> {
        let limit = limit.min(READ_EVENTS_MAX);
        let end = self.durable_end();
        if from.0 >= end || limit == 0 {
            return Ok(Page { events: Vec::new(), next: None });
        }
        self.shared.with_tree(|tree| {
            let mut events = Vec::with_capacity(limit.min(1024));
            let mut next = None;
            for (scanned, entry) in tree.range(keys::log(from.0)..keys::log(end)).enumerate() {
                let (key, value) = entry?;
                let position = keys::log_position(&key).ok_or_else(|| StoreError::Corruption {
                    position: from,
                    reason: format!("unexpected key {key:?} in the log"),
                })?;
                if events.len() == limit || scanned == READ_SCAN_EVENTS_MAX {
                    next = Some(position);
                    break;
                }
                let (header, payload) = codec::decode_header(&value)
                    .map_err(|error| StoreError::Codec { position: Position(position), error })?;
                check_position(position, header.position)?;
                if !filter.admits(header.event_type) {
                    continue;
                }
                let data = codec::decode_payload(header.event_type, header.schema_version, payload)
                    .map_err(|error| StoreError::Codec { position: Position(position), error })?;
                events.push(RecordedEvent::from_header(header, data));
            }
            Ok(Page { events, next })
        })
    }

    async fn read_written(&self, from: Position, limit: usize) -> Result<Page<WrittenEvent>, StoreError> {
        let limit = limit.min(READ_EVENTS_MAX);
        let end = self.durable_end();
        if from.0 >= end {
            return Ok(Page { events: Vec::new(), next: None });
        }
        self.shared.with_tree(|tree| {
            let entries = tree.range(keys::log(from.0)..keys::log(end)).map(|entry| {
                let (key, value) = entry?;
                Ok((keys::log_position(&key).unwrap_or(u64::MAX), value))
            });
            staging::written_page(entries, from.0, end, limit)
        })
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, StoreError> {
        let end = self.durable_end();
        self.shared.with_tree(|tree| {
            for entry in tree.scan_prefix(keys::stream_prefix(stream)).rev() {
                let (key, value) = entry?;
                if position_of(&value, &key)? < end {
                    return Ok(Some(keys::version_of_stream_key(&key)));
                }
            }
            Ok(None)
        })
    }

    async fn head(&self) -> Result<Option<Head>, StoreError> {
        Ok(*self.shared.head.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn import(&self, events: Vec<WrittenEvent>) -> Result<(), StoreError> {
        staging::submit_import(self.sender(), events).await
    }

    /// Checkpoints are keyed `C | sequence` in the log's tree, written beside the writer (they need no
    /// place in the chain's total order) and flushed before the answer; the writer's next sync makes them
    /// durable against a power cut as well.
    async fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<Checkpoint, StoreError> {
        let _serial = self.checkpoint_saves.lock().unwrap_or_else(|p| p.into_inner());
        self.shared.with_tree(|tree| {
            let latest = latest_checkpoint_in(tree)?;
            if let Some((_, stored)) = latest.as_ref().filter(|(_, stored)| stored.position >= checkpoint.position) {
                return Ok(stored.clone());
            }
            let sequence = latest.map_or(0, |(sequence, _)| sequence + 1);
            tree.insert(keys::checkpoint(sequence), checkpoint.encode())?;
            if let Some(oldest_kept) = sequence.checked_sub(CHECKPOINTS_KEPT_MAX - 1) {
                for entry in tree.range(keys::checkpoint(0)..keys::checkpoint(oldest_kept)) {
                    tree.remove(entry?.0)?;
                }
            }
            tree.flush()?;
            Ok(checkpoint.clone())
        })
    }

    async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.shared.with_tree(|tree| Ok(latest_checkpoint_in(tree)?.map(|(_, checkpoint)| checkpoint)))
    }

    fn live(&self) -> broadcast::Receiver<CommittedBatch> {
        self.shared.live.subscribe()
    }

    /// The writer's own view, then two checks it cannot make while it waits for work: a write that
    /// has not come back ([`crate::limits::WRITE_STALL`]), and a disk that filled up while the store
    /// was idle.
    fn health(&self) -> StoreHealth {
        let health = self.shared.health.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if !health.is_ok() {
            return health;
        }
        let since = self.shared.writing_since_nanos.load(Ordering::Acquire);
        let now = self.shared.opened.elapsed().as_nanos() as u64;
        if since != 0 && now.saturating_sub(since) > crate::limits::WRITE_STALL.as_nanos() as u64 {
            return StoreHealth::Recovering {
                reason: format!(
                    "a write has been in progress for {} s: the disk does not answer",
                    (now - since) / 1_000_000_000
                ),
                attempts: 0,
            };
        }
        match writer::disk_space_problem(&self.shared.path, self.shared.options.disk_free_bytes_min, 0) {
            Some(reason) => StoreHealth::Recovering { reason, attempts: 0 },
            None => StoreHealth::Ok,
        }
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.shutdown().await
    }
}
