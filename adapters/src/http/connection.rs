//! One connection's socket as hyper sees it ([`EdgeIo`]): the deadlines of a connection between
//! requests, and API.md's JSON body on the answers hyper gives by itself.

use super::error::ApiError;
use super::limits::ServeLimits;
use super::metrics::Metrics;
use axum::http::StatusCode;
use futures_util::task::AtomicWaker;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Whether a connection's request is being handled: counted up when hyper hands a parsed head to the
/// service, down when the response body is finished or dropped ([`RequestInFlight`]). HTTP/1.1 handles
/// one request at a time, so this is 0 or 1; a count keeps it right whatever order hyper drops things in.
#[derive(Debug, Default)]
pub struct Handling {
    in_flight: AtomicUsize,
    /// Responses finished so far: the clock starts the idle wait when this moves, even if it never
    /// saw the connection busy (a request handled between two of its reads).
    finished: AtomicU64,
    /// The connection's task, woken when a response finishes: hyper may have nothing else to do on
    /// the connection then, and the idle deadline must start.
    task: AtomicWaker,
}

impl Handling {
    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    fn finished(&self) -> u64 {
        self.finished.load(Ordering::Acquire)
    }
}

/// Held from the moment a request reaches the service until its response body is done.
pub struct RequestInFlight(Arc<Handling>);

impl RequestInFlight {
    /// Marks `handling` busy until the returned guard is dropped.
    pub fn start(handling: &Arc<Handling>) -> RequestInFlight {
        handling.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestInFlight(Arc::clone(handling))
    }
}

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.task.wake();
    }
}

/// What the connection waits for, and so which deadline applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A request head that has begun (or the first one of the connection): `header_read_timeout`.
    Head,
    /// The first byte of the next request after a response: `idle_timeout`.
    Idle,
    /// Nothing: a request is being handled. Its body has its own deadline (the handler's), and a long
    /// response (an SSE stream) must not be cut.
    Nothing,
}

/// The deadlines of a connection between requests.
///
/// hyper has one timer for this, `header_read_timeout`, which runs from the end of a response to the
/// end of the next request head: it cannot give a 10 s head and a 60 s idle wait at once. This clock
/// starts the head's deadline at its first byte instead (or at the connection's start), so both hold.
///
/// Moving a deadline costs no timer operation (a connection moves it two or three times a request):
/// `deadline` is a plain instant, and `alarm` is armed at most `horizon` (the shorter timeout) ahead.
/// Every deadline is set at least `horizon` after the moment it is set, so it never comes before
/// the alarm; when the alarm rings early, it is re-armed. A connection's timer so works about once
/// per `horizon`, whatever its request rate.
struct Clock {
    wait: Wait,
    /// `Handling::finished` when the clock last looked.
    finished_seen: u64,
    /// When the current wait ends (nothing while `wait` is `Nothing`).
    deadline: Instant,
    /// Rings at or before `deadline`.
    alarm: Pin<Box<Sleep>>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    horizon: Duration,
}

impl Clock {
    fn new(limits: &ServeLimits) -> Clock {
        let deadline = Instant::now() + limits.header_read_timeout;
        Clock {
            wait: Wait::Head,
            finished_seen: 0,
            deadline,
            alarm: Box::pin(tokio::time::sleep_until(deadline)),
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            horizon: limits.header_read_timeout.min(limits.idle_timeout),
        }
    }

    /// Moves to what the connection waits for now, given whether a request is being handled, how many
    /// responses have finished, and whether bytes just arrived; restarts the deadline on a change.
    fn update(&mut self, busy: bool, finished: u64, got_bytes: bool) {
        let responded = finished != self.finished_seen;
        self.finished_seen = finished;
        let next = match (self.wait, busy, responded, got_bytes) {
            (_, true, _, _) => Wait::Nothing,
            // A response finished since the last look: the next request's head starts with these bytes.
            (_, false, true, true) | (Wait::Nothing | Wait::Idle, false, false, true) => Wait::Head,
            (_, false, true, false) | (Wait::Nothing, false, false, false) => Wait::Idle,
            (wait, false, false, _) => wait,
        };
        if next != self.wait || responded {
            self.wait = next;
            let timeout = match next {
                Wait::Head => self.header_read_timeout,
                Wait::Idle => self.idle_timeout,
                Wait::Nothing => return,
            };
            self.deadline = Instant::now() + timeout;
        }
    }

    /// Whether the current deadline has passed (registering `cx` to be woken when it may have).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.wait == Wait::Nothing {
            return false;
        }
        while self.alarm.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            if now >= self.deadline {
                return true;
            }
            self.alarm.as_mut().reset(self.deadline.min(now + self.horizon));
        }
        false
    }
}

/// The lines of the request head being read, counted from the bytes read between requests: enough to
/// tell, when hyper refuses a head that overflows its buffer (it says 431 for any), whether the
/// request line alone was over its limit (414). A blank line ends a head. A body read together with
/// its head (in one read) and not ending with a line break is counted into the next head's first
/// line; this can only turn a 431 of the next, pipelined, head into a 414.
#[derive(Debug, Default)]
struct HeadLines {
    /// Complete lines of the current head.
    lines: usize,
    first_line_bytes: usize,
    /// Bytes of the line being read.
    line_bytes: usize,
}

impl HeadLines {
    fn observe(&mut self, bytes: &[u8]) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            let line_bytes = self.line_bytes.saturating_add(end + 1 - start);
            if line_bytes <= 2 {
                // "\r\n" or "\n": the end of a head.
                self.lines = 0;
            } else {
                if self.lines == 0 {
                    self.first_line_bytes = line_bytes;
                }
                self.lines += 1;
            }
            self.line_bytes = 0;
            start = end + 1;
        }
        self.line_bytes = self.line_bytes.saturating_add(bytes.len() - start);
    }

    fn request_line_bytes(&self) -> usize {
        if self.lines == 0 {
            self.line_bytes
        } else {
            self.first_line_bytes
        }
    }
}

/// hyper's own answers to a head it cannot take (before any service runs): `400` (unparsable), `414`
/// (a URI over 65,534 bytes) and `431` (a head over its buffer, or too many fields), each written as a
/// head with `content-length: 0`, after which hyper closes the connection. Every response of the
/// service has a JSON body, and no body this server writes holds a CR LF (JSON, SSE and the metrics
/// text use LF only), so a write that is such a head can only be one of these.
fn automatic_answer(written: &[u8], lines: &HeadLines, limits: &ServeLimits) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(written).ok()?.strip_suffix("\r\n\r\n")?;
    let mut head_lines = head.split("\r\n");
    let status_line = head_lines.next()?;
    let status = status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    let fields: Vec<&str> = head_lines.collect();
    let empty = fields.iter().any(|f| f.eq_ignore_ascii_case("content-length: 0"));
    if !empty {
        return None;
    }
    let error = match status {
        "400" => ApiError::bad_request("the request line or a header could not be parsed"),
        "414" => ApiError::uri_too_long(limits.request_line_bytes_max),
        "431" if lines.request_line_bytes() > limits.request_line_bytes_max => {
            ApiError::uri_too_long(limits.request_line_bytes_max)
        }
        "431" => ApiError::header_fields_too_large(limits.header_bytes_max, limits.header_fields_max),
        _ => return None,
    };
    Some(answer_bytes(&error, &fields))
}

/// `error` as a whole HTTP/1.1 response: its status line, hyper's other header fields (date,
/// connection), and the JSON body.
fn answer_bytes(error: &ApiError, hyper_fields: &[&str]) -> Vec<u8> {
    let body = error.body().to_string();
    let status: StatusCode = error.status;
    let mut out = format!("HTTP/1.1 {} {}\r\n", status.as_str(), status.canonical_reason().unwrap_or(""));
    for field in hyper_fields.iter().filter(|f| !f.to_ascii_lowercase().starts_with("content-length:")) {
        out.push_str(field);
        out.push_str("\r\n");
    }
    if !hyper_fields.iter().any(|f| f.to_ascii_lowercase().starts_with("connection:")) {
        out.push_str("connection: close\r\n");
    }
    out.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

/// Where the writing side stands.
enum Answer {
    /// Passing hyper's writes through, watching for an automatic answer.
    Watching,
    /// Writing the JSON answer in place of hyper's empty one.
    Writing { bytes: Vec<u8>, written: usize },
    /// Done: hyper closes the connection next.
    Written,
}

/// A close that waits for the client to stop sending (a "lingering close", as nginx's).
///
/// A request answered before its body was read (401 before the body, 413 on its declared length)
/// leaves the client sending. Closing a socket with unread bytes makes the kernel send a reset,
/// which can reach the client before it has read the answer, so it sees "connection reset" instead of
/// the JSON error. So a close first ends the sending side, then reads and discards what still
/// arrives until the client closes too, for at most `linger_timeout` and `body_bytes_max` bytes:
/// nothing is buffered.
struct Linger {
    deadline: Pin<Box<Sleep>>,
    discarded: usize,
    write_closed: bool,
}

/// A connection's socket as hyper sees it.
pub struct EdgeIo<S> {
    stream: S,
    /// Set when the server shuts down: a connection between requests then ends at once instead of at
    /// its deadline (hyper closes idle ones itself, but not one that has begun a head, or not begun).
    stopping: Arc<AtomicBool>,
    /// `None` when the limits are not enforced (benchmark comparison only).
    clock: Option<Clock>,
    handling: Arc<Handling>,
    lines: HeadLines,
    answer: Answer,
    linger: Option<Linger>,
    limits: Arc<ServeLimits>,
    metrics: Arc<Metrics>,
}

impl<S> EdgeIo<S> {
    /// Wraps a freshly accepted `stream`; `handling` is shared with the connection's service,
    /// `stopping` with the accept loop.
    pub fn new(
        stream: S,
        handling: Arc<Handling>,
        stopping: Arc<AtomicBool>,
        limits: Arc<ServeLimits>,
        metrics: Arc<Metrics>,
    ) -> EdgeIo<S> {
        let clock = limits.enforced.then(|| Clock::new(&limits));
        EdgeIo {
            stream,
            stopping,
            clock,
            handling,
            lines: HeadLines::default(),
            answer: Answer::Watching,
            linger: None,
            limits,
            metrics,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EdgeIo<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let busy = this.handling.busy();
        if !busy && this.stopping.load(Ordering::Relaxed) {
            // The end of the stream: hyper closes the connection, answering nothing.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        let got_bytes = matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before;
        // Bytes read while a request is handled are its body: no head to count in them.
        if got_bytes && !busy {
            this.lines.observe(&buf.filled()[before..]);
        }
        if let Some(clock) = &mut this.clock {
            this.handling.task.register(cx.waker());
            clock.update(busy, this.handling.finished(), got_bytes);
            if poll.is_pending() && clock.expired(cx) {
                this.metrics.connections_timed_out.fetch_add(1, Ordering::Relaxed);
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request head, or the next request, did not arrive in time",
                )));
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> EdgeIo<S> {
    /// Writes `buf` (a write of hyper's), or the JSON answer in its place when it is an automatic one.
    fn poll_write_checked(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        if let Answer::Watching = self.answer {
            // A cheap test first: almost every write is a normal response.
            if !buf.starts_with(b"HTTP/1.1 4") {
                return None;
            }
            let bytes = automatic_answer(buf, &self.lines, &self.limits)?;
            self.metrics.heads_refused.fetch_add(1, Ordering::Relaxed);
            self.answer = Answer::Writing { bytes, written: 0 };
        }
        let Answer::Writing { bytes, written } = &mut self.answer else {
            return None;
        };
        while *written < bytes.len() {
            match Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]) {
                Poll::Pending => return Some(Poll::Pending),
                Poll::Ready(Ok(0)) => return Some(Poll::Ready(Err(io::ErrorKind::WriteZero.into()))),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(error)) => return Some(Poll::Ready(Err(error))),
            }
        }
        self.answer = Answer::Written;
        // hyper's own head counts as written: it wrote nothing else and closes next.
        Some(Poll::Ready(Ok(buf.len())))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for EdgeIo<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_write_checked(cx, buf) {
            Some(poll) => poll,
            None => Pin::new(&mut this.stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // hyper queues a head as one buffer; an automatic answer is a head alone.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(poll) = this.poll_write_checked(cx, first) {
                return poll;
            }
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let linger = this.linger.get_or_insert_with(|| Linger {
            deadline: Box::pin(tokio::time::sleep(this.limits.linger_timeout)),
            discarded: 0,
            write_closed: false,
        });
        if !linger.write_closed {
            std::task::ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            linger.write_closed = true;
        }
        let mut scratch = [0u8; LINGER_READ_BYTES];
        while linger.discarded <= this.limits.body_bytes_max {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.stream).poll_read(cx, &mut buf) {
                // The client closed (or reset) its side: nothing can be lost by closing now.
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => linger.discarded += buf.filled().len(),
                Poll::Pending => {
                    return match linger.deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Ok(())),
                        Poll::Pending => Poll::Pending,
                    }
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The size of the scratch buffer a lingering close reads into (and discards).
const LINGER_READ_BYTES: usize = 8 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(bytes: &[&[u8]]) -> HeadLines {
        let mut lines = HeadLines::default();
        for chunk in bytes {
            lines.observe(chunk);
        }
        lines
    }

    #[test]
    fn head_lines_find_the_request_line_of_the_current_head_across_reads() {
        let long = vec![b'a'; 100];
        let lines = lines_of(&[b"GET /", &long, b" HTTP/1.1\r", b"\nHost: x\r\n"]);
        assert_eq!(lines.request_line_bytes(), 5 + 100 + 10 + 1);
        let lines = lines_of(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"POST /", &long]);
        assert_eq!(lines.request_line_bytes(), 6 + 100, "the second head's line, still unterminated");
        let lines = lines_of(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nX-Big: ", &long]);
        assert_eq!(lines.request_line_bytes(), 16, "a long header is not the request line");
    }

    fn limits() -> ServeLimits {
        ServeLimits { request_line_bytes_max: 50, ..ServeLimits::default() }
    }

    fn answer(written: &str, lines: &HeadLines) -> Option<String> {
        automatic_answer(written.as_bytes(), lines, &limits()).map(|b| String::from_utf8(b).unwrap())
    }

    fn json_of(answer: &str) -> serde_json::Value {
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let length: usize =
            head.lines().find_map(|l| l.strip_prefix("content-length: ")).and_then(|v| v.trim().parse().ok()).unwrap();
        assert_eq!(length, body.len(), "content-length matches: {answer}");
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn hyper_automatic_answers_get_the_json_body_and_keep_its_other_fields() {
        let hyper = "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        let short_line = lines_of(&[b"GET / HTTP/1.1\r\nX: "]);
        let out = answer(hyper, &short_line).expect("an automatic answer");
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{out}");
        assert!(
            out.contains("\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n") && out.contains("\r\nconnection: close\r\n")
        );
        assert!(out.contains("\r\ncontent-type: application/json\r\n"));
        assert_eq!(json_of(&out)["error"], "request_header_fields_too_large");

        let long_line = lines_of(&[b"GET /", &[b'a'; 60]]);
        let out = answer(hyper, &long_line).expect("an automatic answer");
        assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "a head too large for its request line: {out}");
        assert_eq!(json_of(&out)["error"], "uri_too_long");

        let out = answer("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n", &short_line).unwrap();
        assert_eq!(json_of(&out)["error"], "bad_request");
        let out = answer("HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n", &short_line).unwrap();
        assert_eq!(json_of(&out)["error"], "uri_too_long");
    }

    #[test]
    fn normal_responses_are_never_taken_for_automatic_answers() {
        let lines = HeadLines::default();
        let body = r#"{"error":"bad_request","message":"x"}"#;
        let ours = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        assert_eq!(answer(&ours, &lines), None, "a head of ours, body in the next write");
        assert_eq!(answer(&format!("{ours}{body}"), &lines), None, "a head of ours with its body");
        assert_eq!(answer("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", &lines), None);
        assert_eq!(answer("HTTP/1.1 431 x\r\ncontent-length: 0\r\n", &lines), None, "not a whole head");
    }
}
