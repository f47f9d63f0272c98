//! The bounds of the HTTP edge (API.md, "Errors and limits"): every connection, request head, body and
//! request in flight has one, and each is enforced before the work it bounds is done.

use std::time::Duration;

/// The longest request line accepted: method, path and query, in bytes (`414` beyond). A long complaint
/// text for `/projections/suggestions?text=` fits below it.
pub const REQUEST_LINE_BYTES_MAX: usize = 64 * 1024;
/// The most header bytes accepted in all, counted as sent (`name: value\r\n` per field; `431` beyond).
pub const HEADER_BYTES_MAX: usize = 16 * 1024;
/// The most header fields accepted (`431` beyond). hyper parses a head into an array of this many
/// entries, allocated for every request, so this stays near hyper's own default of 100.
pub const HEADER_FIELDS_MAX: usize = 100;
/// The largest request body accepted, in bytes (`413` beyond).
pub const BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// How long a client may take to send a whole request head, from the moment the server waits for it.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a whole request body, from the moment the handler reads it.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a keep-alive connection may wait, idle, for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long closing a connection waits for the client to stop sending (see `connection::Linger`):
/// a client whose request was answered before its body was read then still receives the answer.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// Open connections at most; more wait in the listen backlog until one closes.
pub const CONNECTIONS_MAX: usize = 1024;
/// Requests handled at once at most; more are answered `503` at once (load shedding).
pub const REQUESTS_IN_FLIGHT_MAX: usize = 512;
/// What a `503` from load shedding tells the client to wait before retrying, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// Every bound of `redress serve`'s HTTP edge. [`ServeLimits::default`] is API.md's; tests use short
/// timeouts and small counts; the benchmark compares [`ServeLimits::unenforced`] with the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeLimits {
    /// Open connections at most (SSE streams included); more wait in the listen backlog.
    pub connections_max: usize,
    /// Requests handled at once at most; more are answered `503 unavailable` with `Retry-After`.
    pub requests_in_flight_max: usize,
    /// A request head must arrive within this.
    pub header_read_timeout: Duration,
    /// A request body must arrive within this (`408` beyond; the connection is closed).
    pub body_read_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    pub idle_timeout: Duration,
    /// A closing connection reads and discards what the client still sends for at most this long
    /// (and at most `body_bytes_max` bytes), so an early answer is not lost to a reset.
    pub linger_timeout: Duration,
    /// See [`REQUEST_LINE_BYTES_MAX`].
    pub request_line_bytes_max: usize,
    /// See [`HEADER_BYTES_MAX`].
    pub header_bytes_max: usize,
    /// See [`HEADER_FIELDS_MAX`].
    pub header_fields_max: usize,
    /// See [`BODY_BYTES_MAX`]. Enforced even when the other limits are not.
    pub body_bytes_max: usize,
    /// `false` turns off every limit above except the body size, for the benchmark's comparison run
    /// only (`REDRESS_BENCH_UNLIMITED_EDGE=1`); a server run that way can be held by slow clients.
    pub enforced: bool,
}

impl Default for ServeLimits {
    fn default() -> ServeLimits {
        ServeLimits {
            connections_max: CONNECTIONS_MAX,
            requests_in_flight_max: REQUESTS_IN_FLIGHT_MAX,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            linger_timeout: LINGER_TIMEOUT,
            request_line_bytes_max: REQUEST_LINE_BYTES_MAX,
            header_bytes_max: HEADER_BYTES_MAX,
            header_fields_max: HEADER_FIELDS_MAX,
            body_bytes_max: BODY_BYTES_MAX,
            enforced: true,
        }
    }
}

impl ServeLimits {
    /// The default limits, switched off (see [`ServeLimits::enforced`]). For measuring their cost only.
    pub fn unenforced() -> ServeLimits {
        ServeLimits { enforced: false, ..ServeLimits::default() }
    }

    /// How many bytes hyper may buffer while it reads one request head: a request line and headers at
    /// their limits, plus the protocol's own bytes (spaces, version, line ends). A head that does not
    /// end within this is refused (`414` or `431`) rather than buffered further.
    pub fn head_buffer_bytes_max(&self) -> usize {
        // hyper refuses a buffer limit below 8 KiB.
        const PROTOCOL_BYTES: usize = 1024;
        (self.request_line_bytes_max + self.header_bytes_max + PROTOCOL_BYTES).max(8 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_api_md_values() {
        let limits = ServeLimits::default();
        assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(limits.body_read_timeout, Duration::from_secs(30));
        assert_eq!(limits.idle_timeout, Duration::from_secs(60));
        assert_eq!(limits.request_line_bytes_max, 65_536);
        assert_eq!(limits.header_bytes_max, 16_384);
        assert_eq!(limits.body_bytes_max, 8 * 1024 * 1024);
        assert!(limits.enforced);
        assert!(!ServeLimits::unenforced().enforced);
        assert!(limits.head_buffer_bytes_max() > limits.request_line_bytes_max + limits.header_bytes_max);
    }
}
