//! Where subscriptions live: the [`Ledgers`] trait and its two backends, sled (`sled`, a database in
//! the data directory beside the projections' one) and PostgreSQL (`postgres`, tables in the event
//! store's schema beside the fold checkpoints). Each change is one atomic write, made under a lock
//! that covers the subscription (a mutex on sled, where one process owns the directory; the
//! subscription's row lock on PostgreSQL, which several servers share).

use crate::definition::Definition;
use crate::error::SubscriptionError;
use crate::ledger::{Bounds, Change, Ledger, Outcome, ParkReason};
use crate::limits::{PARKED_EVENTS_MAX, PENDING_EVENTS_MAX};
use async_trait::async_trait;
use std::collections::HashSet;

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub definition: Definition,
    pub ledger: Ledger,
}

/// One parked event as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParkedEvent {
    pub position: u64,
    pub attempts: u32,
    pub reason: ParkReason,
    /// When it was parked, ms since the epoch.
    pub parked_at_ms: i64,
}

/// Durable subscriptions: definitions, ledgers and parked lists.
#[async_trait]
pub trait Ledgers: Send + Sync + 'static {
    /// Creates `name` with a ledger starting at `start`, or replaces an existing subscription's definition
    /// and keeps its ledger. Returns whether it was created. At most
    /// [`crate::limits::SUBSCRIPTIONS_MAX`] subscriptions (`LimitExceeded`, nothing written).
    async fn put(&self, name: &str, definition: &Definition, start: u64) -> Result<bool, SubscriptionError>;

    /// The subscription, `None` if there is none of that name.
    async fn get(&self, name: &str) -> Result<Option<Stored>, SubscriptionError>;

    /// Every subscription's name, sorted (at most `SUBSCRIPTIONS_MAX`).
    async fn names(&self) -> Result<Vec<String>, SubscriptionError>;

    /// Deletes the subscription with its ledger and parked list; whether it existed.
    async fn delete(&self, name: &str) -> Result<bool, SubscriptionError>;

    /// Applies `change` atomically under the subscription's lock and writes what changed, parked events
    /// stamped `now_ms`. `NotFound` if there is no such subscription.
    async fn change(&self, name: &str, change: Change, now_ms: i64) -> Result<Outcome, SubscriptionError>;

    /// Takes up to `limit` parked events (lowest positions first) off the parked list and makes them
    /// pending again with their attempts reset, atomically.
    async fn retry_parked(&self, name: &str, limit: usize) -> Result<Outcome, SubscriptionError>;

    /// Up to `limit` parked events after position `after`, in position order.
    async fn parked(&self, name: &str, after: Option<u64>, limit: usize)
        -> Result<Vec<ParkedEvent>, SubscriptionError>;

    /// Of the deadline alerts `ids`, those not yet recorded as sent to `name` (in the given order).
    async fn unsent_alerts(&self, name: &str, ids: &[String]) -> Result<Vec<String>, SubscriptionError>;

    /// Records the alerts `ids` as sent to `name`, durably (so a restart does not send them again).
    async fn record_alerts(&self, name: &str, ids: &[String]) -> Result<(), SubscriptionError>;

    /// Forgets the alerts sent to `name` that are not in `current` (their deadline was met, moved, or
    /// its complaint closed): the record stays as large as the alerts still standing. Returns how many.
    async fn forget_alerts(&self, name: &str, current: &HashSet<String>) -> Result<usize, SubscriptionError>;
}

/// The bounds a definition's changes are judged by.
pub(crate) fn bounds(definition: &Definition) -> Bounds {
    Bounds { max_attempts: definition.max_attempts, pending_max: PENDING_EVENTS_MAX, parked_max: PARKED_EVENTS_MAX }
}

pub(crate) fn not_found(name: &str) -> SubscriptionError {
    SubscriptionError::NotFound { name: name.to_owned() }
}
