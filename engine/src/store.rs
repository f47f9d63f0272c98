//! The store trait: the API boundary every backend (sled, PostgreSQL) implements, and its value types.

use crate::error::StoreError;
use async_trait::async_trait;
use redress_schemas::{EventType, Hash, Position, ProposedEvent, RecordedEvent, StreamName, WrittenEvent};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// What the caller believes about a stream before appending (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist (hold at least one event).
    Exists,
    /// The stream's last event must have exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose last version is `current` satisfies this expectation.
    pub fn admits(self, current: Option<u64>) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current.is_none(),
            ExpectedVersion::Exists => current.is_some(),
            ExpectedVersion::Exact(v) => current == Some(v),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no_stream"),
            ExpectedVersion::Exists => f.write_str("exists"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// How a store is opened and how it judges what it is given. Every backend takes the same options
/// (`SledStore::open_with`, `PostgresStore::connect_with`; the sled-only ones are ignored by
/// PostgreSQL); the plain `open`/`connect` use [`StoreOptions::default`], EVENTS.md's values and what
/// production uses. Build one from the default, `StoreOptions::default().with_clock_skew_max(..)`: it is
/// `non_exhaustive`, so a later option is not a breaking change.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// How far an event's `occurred_at` may be later than the store's clock (its `recorded_at`): publishers'
    /// clocks run a little ahead or behind. Default [`crate::limits::CLOCK_SKEW_MAX_DEFAULT`] (5 minutes).
    pub clock_skew_max: Duration,
    /// Free bytes the embedded store keeps on its filesystem. Below this (plus the group being
    /// written), appends are refused before anything is written, so the store does not run the disk
    /// full in the middle of a write; they succeed again once space is freed. 0 turns the check off.
    pub disk_free_bytes_min: u64,
    /// The longest wait between two attempts to recover from a failed write (attempts start at
    /// [`crate::limits::RECOVERY_BACKOFF_MIN`] and double).
    pub recovery_backoff_max: Duration,
    /// How long `close` waits for queued appends to be written before it gives up on them.
    pub close_timeout: Duration,
    /// Switches a fault-injection test may arm; never armed in production.
    pub faults: crate::faults::DiskFaults,
    /// The embedded store's page cache (sled's own default is 1 GiB); the OS caches the files too.
    pub cache_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock_skew_max: crate::limits::CLOCK_SKEW_MAX_DEFAULT,
            disk_free_bytes_min: crate::limits::DISK_FREE_BYTES_MIN_DEFAULT,
            recovery_backoff_max: crate::limits::RECOVERY_BACKOFF_MAX_DEFAULT,
            close_timeout: crate::limits::CLOSE_TIMEOUT_DEFAULT,
            faults: crate::faults::DiskFaults::default(),
            cache_bytes: crate::limits::CACHE_BYTES_DEFAULT,
        }
    }
}

impl StoreOptions {
    /// The same options with `clock_skew_max` set.
    pub fn with_clock_skew_max(self, clock_skew_max: Duration) -> Self {
        StoreOptions { clock_skew_max, ..self }
    }

    /// The same options with `disk_free_bytes_min` set (0: no reserve).
    pub fn with_disk_free_bytes_min(self, disk_free_bytes_min: u64) -> Self {
        StoreOptions { disk_free_bytes_min, ..self }
    }

    /// The same options with `recovery_backoff_max` set.
    pub fn with_recovery_backoff_max(self, recovery_backoff_max: Duration) -> Self {
        StoreOptions { recovery_backoff_max, ..self }
    }

    /// The same options with `close_timeout` set.
    pub fn with_close_timeout(self, close_timeout: Duration) -> Self {
        StoreOptions { close_timeout, ..self }
    }

    /// The same options with a page cache of `cache_bytes`.
    pub fn with_cache_bytes(self, cache_bytes: u64) -> Self {
        StoreOptions { cache_bytes, ..self }
    }

    /// The same options with these fault switches (tests only).
    pub fn with_faults(self, faults: crate::faults::DiskFaults) -> Self {
        StoreOptions { faults, ..self }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendResult {
    pub first_version: u64,
    pub last_version: u64,
    pub first_position: Position,
    pub last_position: Position,
}

/// The answer to an append: where it landed, and whether it was an idempotent retry that wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    pub result: AppendResult,
    /// `true` when every event id was already stored, with the same content, by one earlier append:
    /// `result` is that append's.
    pub idempotent_retry: bool,
}

/// Reading direction within a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

/// Which events of `$all` a read or subscription wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// `None` = every type.
    pub event_types: Option<Vec<EventType>>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        EventFilter::default()
    }

    /// Only these types.
    pub fn types(types: impl IntoIterator<Item = EventType>) -> Self {
        EventFilter { event_types: Some(types.into_iter().collect()) }
    }

    /// Whether `event_type` passes.
    pub fn admits(&self, event_type: EventType) -> bool {
        self.event_types.as_ref().is_none_or(|types| types.contains(&event_type))
    }
}

/// One page of a read, with where the next page starts (`None`: nothing more right now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub events: Vec<T>,
    /// The stream version or log position to pass as `from` for the next page.
    pub next: Option<u64>,
}

/// The last event of the log: its position and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub position: Position,
    pub hash: Hash,
}

/// A batch of events that became durable together, in position order, as live subscribers see it.
pub type CommittedBatch = Arc<[RecordedEvent]>;

/// Whether a store can take appends right now (`GET /health`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum StoreHealth {
    /// Appends can succeed.
    Ok,
    /// Appends are refused for now; the store is working its way back by itself (a transient I/O error,
    /// a disk that is nearly full, a lost database connection). `reason` says what it is waiting for.
    Recovering {
        reason: String,
        /// Recovery attempts since the failure.
        attempts: u64,
    },
    /// Appends are refused until an operator acts: the store found something it must not paper over
    /// (stored data that does not verify, acknowledged events missing after a reopen).
    Failed { reason: String },
    /// The store was closed.
    Closed,
}

impl StoreHealth {
    /// Whether appends can succeed.
    pub fn is_ok(&self) -> bool {
        matches!(self, StoreHealth::Ok)
    }
}

/// An append-only event store. Implementations are object-safe (`Arc<dyn EventStore>`) and share one
/// conformance suite.
///
/// Guarantees every implementation keeps:
/// - an append is all-or-nothing and returns only once its events are durable (synced to stable storage);
/// - positions are gapless and strictly increasing; readers never see a position before every lower one is
///   readable, and never see an event that is not yet durable;
/// - versions within a stream are gapless from 0;
/// - an append whose event ids were all stored by one earlier append, each event with the same content
///   (stream, type, data, metadata), returns that append's result and writes nothing; reused ids with other
///   content are [`StoreError::IdempotencyConflict`];
/// - each event's hash chains the previous event's hash and its canonical content.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` if it is at `expected`, atomically and in order.
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendOutcome, StoreError>;

    /// Up to `limit` events of `stream` starting at version `from` (inclusive), in `direction`.
    /// Backward from `u64::MAX` starts at the stream's last event. An unknown stream is an empty page.
    async fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Page<RecordedEvent>, StoreError>;

    /// Up to `limit` events of `$all` at positions ≥ `from` that pass `filter`, in order.
    async fn read_all(
        &self,
        from: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Page<RecordedEvent>, StoreError>;

    /// Up to `limit` events of `$all` from `from`, exactly as written (for verify and export).
    async fn read_written(&self, from: Position, limit: usize) -> Result<Page<WrittenEvent>, StoreError>;

    /// The version of the last event of `stream`, `None` if it has none.
    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, StoreError>;

    /// The last durable event of the log, `None` when the log is empty.
    async fn head(&self) -> Result<Option<Head>, StoreError>;

    /// Appends events exactly as written elsewhere (an export), keeping their positions, times and
    /// hashes. Refused unless they continue this store's log: the next position, the chain, the stream
    /// versions and the lifecycle rules. Durable on return.
    async fn import(&self, events: Vec<WrittenEvent>) -> Result<(), StoreError>;

    /// Saves `checkpoint` as the newest signed head, unless the store already holds one at or past its
    /// position (then nothing is written), and returns the newest stored checkpoint afterwards. All
    /// servers of one store share one sequence; at most [`crate::CHECKPOINTS_KEPT_MAX`] are kept.
    /// Required, with no default: a store that wraps another must forward it, or the checkpoints it
    /// serves would silently stop (a store that keeps none refuses with [`StoreError::Unavailable`]).
    async fn save_checkpoint(&self, checkpoint: &crate::Checkpoint) -> Result<crate::Checkpoint, StoreError>;

    /// The newest signed checkpoint, `None` before the first. Required, like [`EventStore::save_checkpoint`].
    async fn latest_checkpoint(&self) -> Result<Option<crate::Checkpoint>, StoreError>;

    /// A receiver of every batch that becomes durable from now on. It may lag (then it reports
    /// `Lagged`); [`crate::Subscription`] turns it into a gap-free feed.
    fn live(&self) -> broadcast::Receiver<CommittedBatch>;

    /// Whether appends can succeed right now, and if not, why. Cheap: no I/O.
    fn health(&self) -> StoreHealth {
        StoreHealth::Ok
    }

    /// Stops accepting appends, finishes (durably) those already queued, and releases resources.
    /// Reads may keep working. Bounded in time: when the store cannot finish within its close timeout
    /// it gives up and says what it abandoned ([`StoreError::Unavailable`]). The default does nothing.
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Runs `work` to completion on tokio's blocking pool, driven by the current runtime: for long jobs
/// that read the whole store with few awaits (verifying the chain, replaying a fold as of a past instant).
/// On a runtime worker such a job would hold the worker, and every task queued behind it, as long as
/// it runs. Must be called from within a runtime. A panic in `work` comes back as the `JoinError`.
pub async fn on_blocking_pool<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(work)).await
}
