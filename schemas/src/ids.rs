//! Identifiers as newtypes, so a position can never be passed where a version is meant.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The longest stream name, in bytes (EVENTS.md).
pub const STREAM_NAME_BYTES_MAX: usize = 200;

/// A validated stream name: 1..=200 bytes of `[A-Za-z0-9_.:-]`, not starting with `$` (reserved).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct StreamName(String);

/// Why a stream name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamNameError {
    /// The name is empty.
    #[error("stream name is empty")]
    Empty,
    /// The name is longer than [`STREAM_NAME_BYTES_MAX`].
    #[error("stream name is {actual} bytes, the limit is {limit}")]
    TooLong { limit: usize, actual: usize },
    /// Names starting with `$` belong to the engine (`$all`).
    #[error("stream names starting with '$' are reserved for the engine")]
    Reserved,
    /// A byte outside `[A-Za-z0-9_.:-]`.
    #[error("stream name contains {character:?}; allowed are A-Z a-z 0-9 _ . : -")]
    BadCharacter { character: char },
}

/// What a stream holds, decided by its name's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `complaint-<complaint_id>`: one complaint's life.
    Complaint,
    /// `qa-<answer_id>`: one standard answer.
    StandardAnswer,
    /// `problem-<problem_id>` (v1.1): one root cause several complaints share, and what was done about it.
    Problem,
    /// `customer-<customer_id>` (v1.1): what was done about one customer's personal data (its erasure).
    Customer,
    /// Any other name: only event types registered for it are accepted (none are, today).
    Other,
}

impl StreamName {
    /// Validates `name` against the rules of EVENTS.md.
    pub fn new(name: impl Into<String>) -> Result<Self, StreamNameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(StreamNameError::Empty);
        }
        if name.len() > STREAM_NAME_BYTES_MAX {
            return Err(StreamNameError::TooLong { limit: STREAM_NAME_BYTES_MAX, actual: name.len() });
        }
        if name.starts_with('$') {
            return Err(StreamNameError::Reserved);
        }
        if let Some(character) =
            name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
        {
            return Err(StreamNameError::BadCharacter { character });
        }
        Ok(StreamName(name))
    }

    /// The stream of complaint `complaint_id`.
    pub fn complaint(complaint_id: &str) -> Result<Self, StreamNameError> {
        Self::new(format!("complaint-{complaint_id}"))
    }

    /// The stream of standard answer `answer_id`.
    pub fn standard_answer(answer_id: &str) -> Result<Self, StreamNameError> {
        Self::new(format!("qa-{answer_id}"))
    }

    /// The stream of problem `problem_id` (v1.1).
    pub fn problem(problem_id: &str) -> Result<Self, StreamNameError> {
        Self::new(format!("problem-{problem_id}"))
    }

    /// The stream of customer `customer_id` (v1.1: where its erasure is recorded).
    pub fn customer(customer_id: &str) -> Result<Self, StreamNameError> {
        Self::new(format!("customer-{customer_id}"))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the stream holds, and the entity id its name carries.
    pub fn kind(&self) -> (StreamKind, &str) {
        if let Some(id) = self.0.strip_prefix("complaint-") {
            (StreamKind::Complaint, id)
        } else if let Some(id) = self.0.strip_prefix("qa-") {
            (StreamKind::StandardAnswer, id)
        } else if let Some(id) = self.0.strip_prefix("problem-") {
            (StreamKind::Problem, id)
        } else if let Some(id) = self.0.strip_prefix("customer-") {
            (StreamKind::Customer, id)
        } else {
            (StreamKind::Other, &self.0)
        }
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StreamName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        StreamName::new(text).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for StreamName {
    type Err = StreamNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StreamName::new(s)
    }
}

/// An event's identity, chosen by the publisher (or a v7 UUID from the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    /// A new time-ordered (v7) id.
    pub fn new_v7() -> Self {
        EventId(Uuid::now_v7())
    }

    /// The 16 bytes of the UUID.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An event's index in the global log (`$all`): from 0, strictly increasing, no gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Position(pub u64);

impl Position {
    /// The position after this one.
    pub const fn next(self) -> Position {
        Position(self.0 + 1)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_catalogue_rules() {
        assert!(StreamName::new("complaint-C-2026.001:a_b").is_ok());
        assert_eq!(StreamName::new(""), Err(StreamNameError::Empty));
        assert_eq!(StreamName::new("$all"), Err(StreamNameError::Reserved));
        assert_eq!(StreamName::new("a b"), Err(StreamNameError::BadCharacter { character: ' ' }));
        assert_eq!(StreamName::new("订单"), Err(StreamNameError::BadCharacter { character: '订' }));
        assert!(StreamName::new("x".repeat(200)).is_ok());
        assert_eq!(StreamName::new("x".repeat(201)), Err(StreamNameError::TooLong { limit: 200, actual: 201 }));
    }

    #[test]
    fn kind_comes_from_the_prefix() {
        assert_eq!(StreamName::new("complaint-42").unwrap().kind(), (StreamKind::Complaint, "42"));
        assert_eq!(StreamName::new("qa-7").unwrap().kind(), (StreamKind::StandardAnswer, "7"));
        assert_eq!(StreamName::new("problem-P1").unwrap().kind(), (StreamKind::Problem, "P1"));
        assert_eq!(StreamName::new("orders").unwrap().kind(), (StreamKind::Other, "orders"));
    }
}
