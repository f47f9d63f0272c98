//! The embedded store on sled 0.34.
//!
//! One writer thread owns every write: the hash chain needs a total order, and one flush + sync covers
//! every append waiting in its queue (group commit). Readers go straight to sled but never past
//! `durable_next`, the first position not yet synced, so nobody sees an event that a crash could lose.

mod durability;
mod keys;
mod writer;

use crate::error::StoreError;
use crate::limits::{READ_EVENTS_MAX, READ_SCAN_EVENTS_MAX, SUBSCRIPTION_QUEUE_BATCHES_MAX, WRITER_QUEUE_APPENDS_MAX};
use crate::staging::WriteCommand as Command;
use crate::staging::{self, check_position};
use crate::store::{
    AppendOutcome, CommittedBatch, Direction, EventFilter, EventStore, ExpectedVersion, Head, Page, StoreOptions,
};
use async_trait::async_trait;
use redress_schemas::{codec, Position, ProposedEvent, RecordedEvent, StreamName, WrittenEvent};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};
use writer::Writer;

/// State shared by the writer thread and readers.
struct Shared {
    tree: sled::Tree,
    /// Positions below this are durable and readable.
    durable_next: AtomicU64,
    head: Mutex<Option<Head>>,
    live: broadcast::Sender<CommittedBatch>,
}

/// The sled-backed [`EventStore`]. Open one per directory (sled locks it).
pub struct SledStore {
    shared: Arc<Shared>,
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    path: PathBuf,
}

impl SledStore {
    /// Opens (or creates) the store in directory `path` with the default [`StoreOptions`]: see
    /// [`SledStore::open_with`], whose writer judges appends by the options it is given.
    pub fn open(path: impl AsRef<Path>) -> Result<SledStore, StoreError> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens (or creates) the store in directory `path`, recovers its head and checks that the log and
    /// the head agree, makes the recovered state durable, and starts the writer thread.
    ///
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<SledStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = open_sled(&path)?;
        let tree = db.open_tree("events")?;
        let recovered = writer::Recovered::load(&tree)?;
        let disk = durability::DiskSync::open(&path)?;
        let (live, _) = broadcast::channel(SUBSCRIPTION_QUEUE_BATCHES_MAX);
        let shared = Arc::new(Shared {
            tree,
            durable_next: AtomicU64::new(recovered.next_position),
            head: Mutex::new(recovered.head()),
            live,
        });
        let (tx, rx) = mpsc::channel(WRITER_QUEUE_APPENDS_MAX);
        let writer = Writer::new(db, Arc::clone(&shared), disk, recovered, options);
        let handle = std::thread::Builder::new().name("redress-writer".into()).spawn(move || writer.run(rx))?;
        Ok(SledStore { shared, commands: Mutex::new(Some(tx)), writer: Mutex::new(Some(handle)), path })
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting appends, lets the writer finish (and sync) every append already queued, and waits
    /// for it. Appends after this fail with [`StoreError::Unavailable`]; reads keep working.
    pub async fn shutdown(&self) {
        self.commands.lock().expect("commands lock").take();
        let handle = self.writer.lock().expect("writer lock").take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Command>, StoreError> {
        self.commands
            .lock()
            .expect("commands lock")
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".into()))
    }

    fn durable_end(&self) -> u64 {
        self.shared.durable_next.load(Ordering::Acquire)
    }

    fn record_at(&self, position: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
        let event =
            codec::decode_record(bytes).map_err(|error| StoreError::Codec { position: Position(position), error })?;
        check_position(position, event.position)?;
        Ok(event)
    }

    fn position_of(&self, value: &[u8], key: &[u8]) -> Result<u64, StoreError> {
        keys::u64_value(value).ok_or_else(|| StoreError::Corruption {
            position: Position(u64::MAX),
            reason: format!("stream index entry {key:?} holds {} bytes, not a position", value.len()),
        })
    }

    fn read_log(&self, position: u64) -> Result<RecordedEvent, StoreError> {
        let bytes = self.shared.tree.get(keys::log(position))?.ok_or_else(|| StoreError::Corruption {
            position: Position(position),
            reason: "the stream index points at a missing log entry".into(),
        })?;
        self.record_at(position, &bytes)
    }
}

/// How long `open` waits for another holder of sled's directory lock to let go.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn open_sled(path: &Path) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(path)
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
        // is opened again.
        self.commands.get_mut().expect("commands lock").take();
        if let Some(handle) = self.writer.get_mut().expect("writer lock").take() {
            let _ = handle.join();
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
        let mut events = Vec::new();
        let mut next = None;
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match direction {
            Direction::Forward => Box::new(self.shared.tree.range(keys::stream_version(stream, from)..).take_while({
                let prefix = prefix.clone();
                move |r| r.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix))
            })),
            Direction::Backward => {
                Box::new(self.shared.tree.range(prefix.clone()..=keys::stream_version(stream, from)).rev())
            }
        };
        for entry in entries {
            let (key, value) = entry?;
            let position = self.position_of(&value, &key)?;
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
            events.push(self.read_log(position)?);
        }
        Ok(Page { events, next })
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Page<RecordedEvent>, StoreError> {
        let limit = limit.min(READ_EVENTS_MAX);
        let end = self.durable_end();
        let mut events = Vec::with_capacity(limit.min(1024));
        if from.0 >= end || limit == 0 {
            return Ok(Page { events, next: None });
        }
        let mut next = None;
        for (scanned, entry) in self.shared.tree.range(keys::log(from.0)..keys::log(end)).enumerate() {
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
    }

    async fn read_written(&self, from: Position, limit: usize) -> Result<Page<WrittenEvent>, StoreError> {
        let limit = limit.min(READ_EVENTS_MAX);
        let end = self.durable_end();
        if from.0 >= end {
            return Ok(Page { events: Vec::new(), next: None });
        }
        let entries = self.shared.tree.range(keys::log(from.0)..keys::log(end)).map(|entry| {
            let (key, value) = entry?;
            Ok((keys::log_position(&key).unwrap_or(u64::MAX), value))
        });
        staging::written_page(entries, from.0, end, limit)
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, StoreError> {
        let end = self.durable_end();
        for entry in self.shared.tree.scan_prefix(keys::stream_prefix(stream)).rev() {
            let (key, value) = entry?;
            if self.position_of(&value, &key)? < end {
                return Ok(Some(keys::version_of_stream_key(&key)));
            }
        }
        Ok(None)
    }

    async fn head(&self) -> Result<Option<Head>, StoreError> {
        Ok(*self.shared.head.lock().expect("head lock"))
    }

    async fn import(&self, events: Vec<WrittenEvent>) -> Result<(), StoreError> {
        staging::submit_import(self.sender(), events).await
    }

    fn live(&self) -> broadcast::Receiver<CommittedBatch> {
        self.shared.live.subscribe()
    }

    async fn close(&self) {
        self.shutdown().await;
    }
}
