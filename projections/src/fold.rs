//! The `Fold` trait: one state folded from the log, checkpointed by key, answering any number of views.
//!
//! A fold is the costly part of a read model — reading, decoding and applying events, and saving what
//! changed — and a view is a cheap question to its state. So one fold serves many views: the complaints
//! fold answers open complaints, customer history, repeat issues, satisfaction and a single complaint,
//! all from one state at one log position.
//!
//! State lives in two places. What the views must scan lives in memory; what is large and read one key
//! at a time (a complaint's full history) lives in the fold's keyed store and is brought into memory
//! only while it is needed. `apply` is pure — no I/O, no clock — so before a batch is applied the runner
//! asks the fold which stored keys the batch needs ([`Fold::wanted`]), reads them, and hands them in
//! ([`Fold::provide`]). A checkpoint writes only the keys that changed since the last one
//! ([`Fold::take_changes`]), atomically with the position.

use crate::projection::{ProjectionError, Query};
use async_trait::async_trait;
use redress_schemas::{EventType, RecordedEvent};
use serde_json::Value;

/// A key in a fold's keyed store. Folds choose their own layout (a prefix byte and an id is usual).
pub type Key = Vec<u8>;

/// One change of a checkpoint: the key's new bytes, or `None` to delete it.
pub type Change = (Key, Option<Vec<u8>>);

/// Reads a fold's keyed store as of its last checkpoint.
#[async_trait]
pub trait StateReader: Send + Sync {
    /// The stored values of `keys`, in order (`None`: not stored).
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>, ProjectionError>;

    /// Up to `limit` entries whose key starts with `prefix`, in key order, after `after` when given.
    async fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Vec<u8>)>, ProjectionError>;
}

/// An event the fold could not apply. The fold skips it and goes on: the store accepted the event, so
/// a read model must not stop at it (a back-dated event in an "as of occurred" replay, history imported
/// from an older store). The runner reports the count and the latest few.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly(pub String);

impl<T: Into<String>> From<T> for Anomaly {
    fn from(message: T) -> Anomaly {
        Anomaly(message.into())
    }
}

/// A read model folded from the log, answering named views.
///
/// The runner guarantees: events arrive in log order, each once, only those of [`Fold::event_types`];
/// every key [`Fold::wanted`] names for an event has been [`Fold::provide`]d before that event is
/// applied; a checkpoint's changes and position are written together, so after a crash the fold reopens
/// at a position whose state it has, neither ahead nor behind.
#[async_trait]
pub trait Fold: Send + Sync + 'static {
    /// What is held in memory.
    type State: Send + Sync + 'static;

    /// A stable name: the key of the fold's storage and of its status.
    fn name(&self) -> &'static str;

    /// Bump it when `apply` (or the stored layout) changes meaning: the fold then rebuilds from position 0.
    fn version(&self) -> u32;

    /// The event types `apply` cares about (`None`: all).
    fn event_types(&self) -> Option<Vec<EventType>> {
        None
    }

    /// The views it answers (`GET /projections/{view}`), by name.
    fn views(&self) -> Vec<&'static str>;

    /// The state at the fold's checkpoint, from its keyed store: load what must be in memory (a compact
    /// index), leave the rest on disk. An empty store gives the state before any event.
    async fn open(&self, stored: &dyn StateReader) -> Result<Self::State, ProjectionError>;

    /// Adds to `keys` the stored keys that must be in memory before `event` is applied.
    fn wanted(&self, _state: &Self::State, _event: &RecordedEvent, _keys: &mut Vec<Key>) {}

    /// Hands in the stored value of a key [`Fold::wanted`] asked for (`None`: not stored).
    fn provide(&self, _state: &mut Self::State, _key: Key, _value: Option<Vec<u8>>) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Folds one event in. Pure: no I/O, no clock, the same state for the same events every time. An
    /// [`Anomaly`] skips the event (the runner reports it); a panic marks the fold failed.
    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), Anomaly>;

    /// The changes since the last call, encoded, for the next checkpoint. Everything changed must be in
    /// them; nothing unchanged needs to be.
    fn take_changes(&self, state: &mut Self::State) -> Result<Vec<Change>, ProjectionError>;

    /// Called after a checkpoint is written: values written then may leave memory (bounded memory).
    fn committed(&self, _state: &mut Self::State) {}

    /// Answers `view` from the state, reading the keyed store for what is not in memory.
    async fn query(
        &self,
        state: &Self::State,
        stored: &dyn StateReader,
        view: &str,
        query: &Query,
    ) -> Result<Value, ProjectionError>;
}
