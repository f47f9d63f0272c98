//! Every bound of the engine, named as nouns with the unit last (TigerBeetle style).

use std::time::Duration;

/// The largest `data` + `metadata` of one event, in bytes of canonical JSON.
pub const EVENT_BYTES_MAX: usize = 1024 * 1024;
/// The most events one append may carry.
pub const APPEND_EVENTS_MAX: usize = 1_000;
/// The most events one group commit writes (one apply, one sync).
pub const GROUP_COMMIT_EVENTS_MAX: usize = 10_000;
/// Appends waiting for the writer; a full queue makes callers wait (back-pressure, not memory growth).
pub const WRITER_QUEUE_APPENDS_MAX: usize = 4_096;
/// Committed batches a live subscriber may fall behind before it falls back to reading the log.
pub const SUBSCRIPTION_QUEUE_BATCHES_MAX: usize = 1_024;
/// The most events one read returns.
pub const READ_EVENTS_MAX: usize = 10_000;
/// The most records a filtered `$all` read scans before it returns what it found with a `next` to go on.
pub const READ_SCAN_EVENTS_MAX: usize = 100_000;
/// Streams whose lifecycle state the writer keeps in memory (about twice this many at most).
pub const STREAM_STATE_CACHE_STREAMS_MAX: usize = 100_000;
/// How far an event's `occurred_at` may be later than the store's clock unless configured otherwise
/// ([`crate::StoreOptions::clock_skew_max`]; EVENTS.md v1.1).
pub const CLOCK_SKEW_MAX_DEFAULT: Duration = Duration::from_secs(5 * 60);
