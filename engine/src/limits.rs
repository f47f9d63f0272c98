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
/// Free bytes the embedded store keeps in reserve on its filesystem by default (see
/// `StoreOptions::disk_free_bytes_min`): room for sled's own bookkeeping and a few large groups.
pub const DISK_FREE_BYTES_MIN_DEFAULT: u64 = 64 * 1024 * 1024;
/// The first wait before retrying to recover from a failed write; each failed attempt doubles it.
pub const RECOVERY_BACKOFF_MIN: std::time::Duration = std::time::Duration::from_millis(50);
/// The longest wait between recovery attempts, by default.
pub const RECOVERY_BACKOFF_MAX_DEFAULT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long closing a store waits for its writer by default.
pub const CLOSE_TIMEOUT_DEFAULT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a failed storage instance may take to shut down before it is cut off from its files.
pub const DISPOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// A write in progress for longer than this makes the store report itself unhealthy.
pub const WRITE_STALL: std::time::Duration = std::time::Duration::from_secs(10);
/// Free bytes a failed store waits for before it opens its files again, whatever its reserve: sled
/// writes while opening, and must not run out of space doing it.
pub const RECOVERY_FREE_BYTES_MIN: u64 = 4 * 1024 * 1024;
/// The embedded store's page cache by default (sled's own default, 1 GiB, would be most of a small
/// server's memory; the OS page cache holds the files as well).
pub const CACHE_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;
