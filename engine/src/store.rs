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

/// How a store judges what it is given. Every backend takes the same options (`SledStore::open_with`,
/// `PostgresStore::connect_with`); the plain `open`/`connect` use [`StoreOptions::default`], EVENTS.md's
/// values. Build one from the default, `StoreOptions::default().with_clock_skew_max(..)`: it is
/// `non_exhaustive`, so a later option is not a breaking change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// How far an event's `occurred_at` may be later than the store's clock (its `recorded_at`): publishers'
    /// clocks run a little ahead or behind. Default [`crate::limits::CLOCK_SKEW_MAX_DEFAULT`] (5 minutes).
    pub clock_skew_max: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { clock_skew_max: crate::limits::CLOCK_SKEW_MAX_DEFAULT }
    }
}

impl StoreOptions {
    /// The same options with `clock_skew_max` set.
    pub fn with_clock_skew_max(self, clock_skew_max: Duration) -> Self {
        StoreOptions { clock_skew_max, ..self }
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

    /// A receiver of every batch that becomes durable from now on. It may lag (then it reports
    /// `Lagged`); [`crate::Subscription`] turns it into a gap-free feed.
    fn live(&self) -> broadcast::Receiver<CommittedBatch>;

    /// Stops accepting appends, finishes (durably) those already queued, and releases resources.
    /// Reads may keep working. The default does nothing.
    async fn close(&self) {}
}
