//! The engine's errors. Each variant says how a caller handles it.

use crate::lifecycle::LifecycleViolation;
use crate::store::ExpectedVersion;
use redress_schemas::{CodecError, EventId, InvalidEvent, Position, StreamName, StreamNameError};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stream is not at the version the caller expected.
    /// Handling: re-read the stream, decide again, retry (HTTP 409).
    #[error("stream {stream}: expected version {expected}, current version is {}", current.map_or("none (no stream)".to_string(), |v| v.to_string()))]
    WrongExpectedVersion { stream: StreamName, expected: ExpectedVersion, current: Option<u64> },

    /// An event breaks the complaint or Q&A lifecycle, or its instants do not fit (v1.1). Nothing was written.
    /// Handling: the history the publisher believes in is not the stored one; re-read (HTTP 422).
    #[error("event {index} ({event_type}) of the append to {stream}: {violation}")]
    Lifecycle { stream: StreamName, index: usize, event_type: &'static str, violation: LifecycleViolation },

    /// An event is malformed (unknown type, bad field, wrong stream). Nothing was written (HTTP 422).
    #[error("event {index}: {error}")]
    InvalidEvent { index: usize, error: InvalidEvent },

    /// A bad stream name (HTTP 400).
    #[error("bad stream name: {0}")]
    StreamName(#[from] StreamNameError),

    /// A bound was exceeded: see [`crate::limits`]. Nothing was written (HTTP 413 or 400).
    #[error("{limit}: {actual} exceeds the limit of {max}")]
    LimitExceeded { limit: &'static str, max: usize, actual: usize },

    /// An append with no events (HTTP 400).
    #[error("an append needs at least one event")]
    EmptyAppend,

    /// The same event id twice in one append (HTTP 422 with `rule`: each event may be well formed;
    /// JSON Schema cannot say that ids differ across a list's items).
    #[error("event id {0} appears twice in one append")]
    DuplicateEventId(EventId),

    /// Some of the append's event ids are stored and some are not, or they were stored by a different
    /// append, to a different stream, or with other content (type, data, metadata): it is not a retry of
    /// one earlier append. Nothing was written. Handling: a publisher bug (ids reused for other events);
    /// HTTP 409 `idempotency_conflict`.
    #[error(
        "event id {event_id} was already stored, but this append is not a retry of the one that stored it: {reason}"
    )]
    IdempotencyConflict { event_id: EventId, reason: String },

    /// Stored data does not read back: a damaged or foreign store. Handling: stop and run `verify`.
    #[error("corrupt record at position {position}: {reason}")]
    Corruption { position: Position, reason: String },

    /// A record could not be decoded.
    #[error("record at position {position}: {error}")]
    Codec { position: Position, error: CodecError },

    /// An imported event does not continue the store's chain or order. Nothing was written.
    #[error("import refused at position {position}: {reason}")]
    ImportRejected { position: Position, reason: String },

    /// Personal data of a customer whose data was erased (v1.1): their key is destroyed and none is made
    /// again. Nothing was written. Handling: a returning customer gets a new customer id (HTTP 422
    /// `invalid_event` with a `rule`).
    #[error("customer {customer_id} was erased: no personal data of theirs is stored any more")]
    CustomerErased { customer_id: String },

    /// An erasure of a customer the key table does not know: no sealed event names them (v1.1). Nothing
    /// was written. Handling: check the id (HTTP 404); events stored before sealing cannot be erased.
    #[error("customer {customer_id} has no personal data key: no event sealed with one names them")]
    UnknownCustomer { customer_id: String },

    /// The disk failed while reading, or while opening the store (HTTP 503).
    #[error("storage I/O failed: {0}")]
    Io(String),

    /// The store is closed, or cannot write for now; see the message. Nothing of this request was
    /// written. Handling: retry later (HTTP 503); `GET /health` says when appends work again.
    #[error("store unavailable: {0}")]
    Unavailable(String),

    /// The store failed after the events may have reached the disk: they may or may not be in the log.
    /// Handling: retry the same append with the same event ids once the store is healthy again; the
    /// retry answers the original result if the events were written, and writes them if they were not
    /// (HTTP 503 with `"outcome": "unknown"`). An append without event ids cannot be retried safely.
    #[error("the outcome of this append is unknown: {0}; retry it with the same event ids")]
    OutcomeUnknown(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { at, .. } => StoreError::Corruption {
                position: Position(u64::MAX),
                reason: format!("sled reports corruption at {at:?}"),
            },
            other => StoreError::Io(other.to_string()),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}
