//! The `Projection` trait a developer implements, and the query it answers.

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

/// A query: named string parameters and the instant it is judged at.
#[derive(Debug, Clone)]
pub struct Query {
    pub params: BTreeMap<String, String>,
    /// "Now" for this answer (deadlines, windows); from the request, never from the machine's clock
    /// inside `query`.
    pub as_of: Timestamp,
}

impl Query {
    /// A query at `as_of` with no parameters.
    pub fn at(as_of: Timestamp) -> Query {
        Query { params: BTreeMap::new(), as_of }
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
    /// The projection stopped at an event it could not apply; rebuild it after fixing the cause (HTTP 503).
    #[error("projection {name} failed at position {position}: {error}")]
    Failed { name: String, position: u64, error: String },
    /// The projection has not caught up far enough to answer yet (HTTP 503).
    #[error("projection {0} is starting")]
    Starting(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("projection snapshot: {0}")]
    Codec(#[from] CodecError),
    #[error("checkpoint storage: {0}")]
    Checkpoints(String),
}
