//! The subscriptions' errors. Each variant says how a caller handles it.

use redress_engine::StoreError;

/// What can go wrong with a subscription.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// No subscription has this name. Handling: create it first (HTTP 404).
    #[error("no subscription named {name:?}")]
    NotFound { name: String },

    /// A definition or request field is malformed or out of range; nothing was written.
    /// Handling: fix the request (HTTP 400).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    /// A bound of [`crate::limits`] was hit; nothing was written. Handling: fewer items per request,
    /// or delete subscriptions no longer used (HTTP 400 / 409).
    #[error("{limit}: {actual} exceeds the limit of {max}")]
    LimitExceeded { limit: &'static str, max: usize, actual: usize },

    /// The webhook URL's host is not on the allow-list (`--webhook-hosts`; default: loopback only), so
    /// the server is not made to call into the network it sits in. Handling: an operator adds the host.
    #[error("webhook host {host:?} is not allowed (allowed: {allowed})")]
    HostNotAllowed { host: String, allowed: String },

    /// The event store failed while reading the log. Handling: as the store error says (HTTP 503).
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The webhook did not take a delivery of deadline alerts (no answer, or not 2xx); they were not
    /// recorded as sent. Handling: none needed, the next look sends them again (HTTP 503).
    #[error("deadline alerts not delivered: {0}")]
    Delivery(String),

    /// The subscription storage (sled or PostgreSQL) failed; nothing is known to be written.
    /// Handling: retry later (HTTP 503).
    #[error("subscription storage: {0}")]
    Storage(String),
}

pub(crate) fn storage(error: impl std::fmt::Display) -> SubscriptionError {
    SubscriptionError::Storage(error.to_string())
}
