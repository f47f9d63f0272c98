//! The subscriptions' bounds. A bound that is hit is a typed error ([`crate::SubscriptionError`]), never
//! a silent truncation.

use std::time::Duration;

/// Subscriptions per server (also bounds the `/metrics` label set: one series set per subscription).
pub const SUBSCRIPTIONS_MAX: usize = 64;
/// Bytes of a subscription name (`[a-z0-9_-]`).
pub const SUBSCRIPTION_NAME_BYTES_MAX: usize = 64;
/// Events per fetch, and positions per ack or nack.
pub const FETCH_EVENTS_MAX: usize = 1_000;
/// Events a subscription owes at once (leased or waiting); a fetch reads no further while this many are.
pub const PENDING_EVENTS_MAX: usize = 10_000;
/// Parked events per subscription; beyond it events past `max_attempts` are delivered again instead.
pub const PARKED_EVENTS_MAX: u64 = 100_000;
/// The highest `max_attempts`.
pub const MAX_ATTEMPTS_MAX: u32 = 1_000;
/// How long a fetch may wait for events.
pub const FETCH_WAIT_MAX: Duration = Duration::from_secs(30);
/// How long a leased event belongs to its fetch (API.md: 30 s).
pub const LEASE_DEFAULT: Duration = Duration::from_secs(30);
/// Log events read per step when a fetch looks for new ones.
pub const SCAN_EVENTS_MAX: usize = 1_000;
/// Events per webhook POST.
pub const WEBHOOK_BATCH_EVENTS_MAX: usize = 500;
/// Bytes of a webhook URL.
pub const WEBHOOK_URL_BYTES_MAX: usize = 2_048;
/// Bytes of a webhook secret (at least [`WEBHOOK_SECRET_BYTES_MIN`]).
pub const WEBHOOK_SECRET_BYTES_MAX: usize = 256;
/// The shortest secret: shorter ones are guessable.
pub const WEBHOOK_SECRET_BYTES_MIN: usize = 16;
/// Bytes of a stored last error.
pub const LAST_ERROR_BYTES_MAX: usize = 512;
/// Delivery latencies kept per subscription for the p99 (a ring).
pub const LATENCY_SAMPLES_MAX: usize = 1_024;
