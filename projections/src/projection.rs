//! The query every view answers, paging, the errors of the read side, and the `Projection` trait: a
//! read model whose whole state is small enough to be saved as one value (served by [`Snapshot`]).

use async_trait::async_trait;
use redress_engine::StoreError;
use redress_schemas::{CodecError, EventType, RecordedEvent, Timestamp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;

/// A read model built from the log.
///
/// `apply` is a plain function of the state and one event (no I/O: it runs for every event, in a
/// replay too, and must give the same state every time). `query` answers from the state; it is async
/// so a projection may consult something else while answering.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The whole state; saved with its checkpoint as one snapshot.
    type State: Default + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// A stable name (`open-complaints`): the route, the CLI argument and the checkpoint key.
    fn name(&self) -> &'static str;

    /// Bump it when `apply` changes meaning: a stored state of another version is rebuilt from 0.
    fn version(&self) -> u32;

    /// The event types `apply` cares about (`None`: all). Others are skipped without a call.
    fn event_types(&self) -> Option<Vec<EventType>> {
        None
    }

    /// Folds one event into the state. An error marks the projection failed at this event.
    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), String>;

    /// Answers a query from the state.
    async fn query(&self, state: &Self::State, query: &Query) -> Result<Value, ProjectionError>;
}

/// A query: named string parameters, the instant it is judged at, and how far the log must be applied.
#[derive(Debug, Clone)]
pub struct Query {
    pub params: BTreeMap<String, String>,
    /// "Now" for this answer (deadlines, windows); from the request, never from the machine's clock
    /// inside `query`.
    pub as_of: Timestamp,
    /// Answer only once this position is applied (read your own writes: the `last_position` of a 201).
    pub min_position: Option<u64>,
    /// How long to wait for `min_position` before answering "not caught up".
    pub wait: std::time::Duration,
}

impl Query {
    /// A query at `as_of` with no parameters.
    pub fn at(as_of: Timestamp) -> Query {
        Query {
            params: BTreeMap::new(),
            as_of,
            min_position: None,
            wait: std::time::Duration::from_millis(crate::folds::WAIT_MS_DEFAULT),
        }
    }

    /// The same query with `key = value`.
    pub fn with(mut self, key: &str, value: &str) -> Query {
        self.params.insert(key.to_owned(), value.to_owned());
        self
    }

    /// A parameter as text.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A parameter parsed as `T`; a value that does not parse is a [`ProjectionError::BadQuery`].
    pub fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, ProjectionError> {
        self.get(key)
            .map(|v| v.parse().map_err(|_| ProjectionError::BadQuery(format!("{key}: {v:?} is not valid"))))
            .transpose()
    }

    /// Refuses parameters not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), ProjectionError> {
        match self.params.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ProjectionError::BadQuery(format!("unknown parameter {k:?}; known: {}", known.join(", ")))),
            None => Ok(()),
        }
    }
}

/// Lists are paged: `limit` (default [`PAGE_LIMIT_DEFAULT`], at most [`PAGE_LIMIT_MAX`]) and an opaque
/// `cursor` from the previous page's `next_cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub limit: usize,
    pub cursor: Option<String>,
}

/// Items in a page when the query does not say.
pub const PAGE_LIMIT_DEFAULT: usize = 100;
/// The most items one page holds.
pub const PAGE_LIMIT_MAX: usize = 1_000;

impl Query {
    /// The query's paging (`limit`, `cursor`); a bad `limit` is [`ProjectionError::BadQuery`].
    pub fn paging(&self) -> Result<Paging, ProjectionError> {
        let limit = self.parse::<usize>("limit")?.unwrap_or(PAGE_LIMIT_DEFAULT);
        if !(1..=PAGE_LIMIT_MAX).contains(&limit) {
            return Err(ProjectionError::BadQuery(format!("limit must be in 1..={PAGE_LIMIT_MAX}")));
        }
        Ok(Paging { limit, cursor: self.get("cursor").map(str::to_owned) })
    }
}

impl Paging {
    /// One page of `items` (already in answer order), each with its cursor key: the items after the
    /// query's cursor, at most `limit`, and the cursor of the next page (`None` at the end).
    pub fn page<T>(&self, items: impl IntoIterator<Item = (String, T)>) -> (Vec<T>, Option<String>) {
        let mut out = Vec::with_capacity(self.limit.min(256));
        let mut started = self.cursor.is_none();
        let mut last = None;
        for (key, item) in items {
            if !started {
                started = self.cursor.as_deref().is_some_and(|c| key.as_str() > c);
                if !started {
                    continue;
                }
            }
            if out.len() == self.limit {
                return (out, last);
            }
            last = Some(key);
            out.push(item);
        }
        (out, None)
    }
}

/// What can go wrong with a projection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// A query parameter is wrong (HTTP 400).
    #[error("bad query: {0}")]
    BadQuery(String),
    /// No projection by that name (HTTP 404).
    #[error("no projection named {0:?}")]
    Unknown(String),
    /// The view has nothing under the key asked for (a complaint, a customer) (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The projection stopped at an event it could not apply; rebuild it after fixing the cause (HTTP 503).
    #[error("projection {name} failed at position {position}: {error}")]
    Failed { name: String, position: u64, error: String },
    /// The projection has not caught up far enough to answer yet (HTTP 503).
    #[error("projection {0} is starting")]
    Starting(String),
    /// The view has not applied `min_position` within the wait (HTTP 503 `not_caught_up`). Handling:
    /// retry, or wait longer (`wait_ms`).
    #[error("{name} has applied the log up to {checkpoint:?}, not yet position {min_position}")]
    NotCaughtUp { name: String, checkpoint: Option<u64>, min_position: u64 },
    /// Too much of this work is running already (one replay at a time per process) (HTTP 503). Retry later.
    #[error("busy: {0}")]
    Busy(String),
    /// Folds were registered wrongly (two serve one view): a programming error at start.
    #[error("projection setup: {0}")]
    Setup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("projection snapshot: {0}")]
    Codec(#[from] CodecError),
    #[error("checkpoint storage: {0}")]
    Checkpoints(String),
}

/// A [`Projection`]'s whole state as a [`crate::Fold`] serving one view named after it: saved as one
/// value (so only for small states: at most [`SNAPSHOT_BYTES_MAX`]; larger state belongs in a keyed
/// fold, see `crate::keyed`). An `apply` error skips that event and is reported, the fold goes on.
pub struct Snapshot<P>(pub P);

/// The largest whole-state snapshot a [`Snapshot`] saves; beyond it the checkpoint is refused (and the
/// projection keeps folding in memory, its checkpoint stuck, which `GET /projections` shows).
pub const SNAPSHOT_BYTES_MAX: usize = 64 * 1024 * 1024;
const SNAPSHOT_KEY: &[u8] = b"snapshot";

/// What a [`Snapshot`] holds: the projection's state, and whether it changed since the last checkpoint.
pub struct SnapshotState<S> {
    pub state: S,
    changed: bool,
}

#[async_trait]
impl<P: Projection> crate::fold::Fold for Snapshot<P> {
    type State = SnapshotState<P::State>;

    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn version(&self) -> u32 {
        self.0.version()
    }

    fn event_types(&self) -> Option<Vec<EventType>> {
        self.0.event_types()
    }

    fn views(&self) -> Vec<&'static str> {
        vec![self.0.name()]
    }

    async fn open(&self, stored: &dyn crate::fold::StateReader) -> Result<Self::State, ProjectionError> {
        let state = match stored.get_many(&[SNAPSHOT_KEY.to_vec()]).await?.pop().flatten() {
            Some(bytes) => redress_schemas::codec::decode_snapshot(&bytes)?,
            None => P::State::default(),
        };
        Ok(SnapshotState { state, changed: false })
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), crate::fold::Anomaly> {
        state.changed = true;
        self.0.apply(&mut state.state, event).map_err(crate::fold::Anomaly)
    }

    fn take_changes(&self, state: &mut Self::State) -> Result<Vec<crate::fold::Change>, ProjectionError> {
        if !state.changed {
            return Ok(Vec::new());
        }
        let bytes = redress_schemas::codec::encode_snapshot(&state.state)?;
        if bytes.len() > SNAPSHOT_BYTES_MAX {
            return Err(ProjectionError::Checkpoints(format!(
                "the snapshot of {} is {} bytes, over the {SNAPSHOT_BYTES_MAX} a whole-state projection may save",
                self.0.name(),
                bytes.len()
            )));
        }
        state.changed = false;
        Ok(vec![(SNAPSHOT_KEY.to_vec(), Some(bytes))])
    }

    async fn query(
        &self,
        state: &Self::State,
        _stored: &dyn crate::fold::StateReader,
        _view: &str,
        query: &Query,
    ) -> Result<Value, ProjectionError> {
        self.0.query(&state.state, query).await
    }
}
