//! The HTTP edge's bounds (API.md "Errors and limits") through a real server on an ephemeral port:
//! raw sockets for what well-behaved clients never do (partial heads, slow bodies, huge heads), short
//! configured timeouts so each test takes about a second.

use crate::http::{body, read_sse, received_json, start, start_with, Server, ADMIN, AUDITOR, PUBLISHER};
use redress_adapters::http::ServeLimits;
use redress_schemas::rng::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for an answer that must come.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// A raw HTTP/1.1 connection.
struct Raw {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// A response read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Asserts an API.md error: the status, JSON content, the code and a message.
    #[track_caller]
    fn assert_error(&self, status: u16, code: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: {self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"), "{what}: JSON: {self:?}");
        assert_eq!(self.body["error"], code, "{what}: {self:?}");
        assert!(self.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: a message: {self:?}");
    }
}

impl Raw {
    async fn connect(s: &Server) -> Raw {
        Raw { stream: TcpStream::connect(s.address()).await.expect("connect"), buffer: Vec::new() }
    }

    /// Sends `bytes`; a server that already closed may refuse them, which the caller checks otherwise.
    async fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Reads one response (head, then a body of its content-length) within [`ANSWER_WAIT`].
    async fn answer(&mut self) -> Answer {
        tokio::time::timeout(ANSWER_WAIT, self.read_answer()).await.expect("an answer within the wait")
    }

    async fn read_answer(&mut self) -> Answer {
        let head_end = loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            self.fill().await;
        };
        let head = String::from_utf8(self.buffer[..head_end].to_vec()).expect("a UTF-8 head");
        self.buffer.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| l.split_once(':').unwrap())
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        while self.buffer.len() < length {
            self.fill().await;
        }
        let body: Vec<u8> = self.buffer.drain(..length).collect();
        Answer { status, headers, body: serde_json::from_slice(&body).unwrap_or(Value::Null) }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection; so far: {:?}", String::from_utf8_lossy(&self.buffer));
        self.buffer.extend_from_slice(&chunk[..n]);
    }

    /// Waits until the server closes the connection (end of stream or reset), at most `wait`;
    /// returns how long it took, or `None`. Anything the server sends meanwhile is returned too.
    async fn closed_within(&mut self, wait: Duration) -> (Option<Duration>, Vec<u8>) {
        let started = Instant::now();
        let mut received = Vec::new();
        let closed = tokio::time::timeout(wait, async {
            let mut chunk = [0u8; 4096];
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        (closed.ok().map(|()| started.elapsed()), received)
    }
}

/// A request head: `method target`, a Host, the optional `authorization` value and content length.
fn head(method: &str, target: &str, authorization: Option<&str>, content_length: Option<usize>) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: redress.test\r\n");
    if let Some(value) = authorization {
        head.push_str(&format!("Authorization: {value}\r\n"));
    }
    if let Some(length) = content_length {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {length}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Sends `raw_head` on a new connection and reads the answer.
async fn ask(s: &Server, raw_head: Vec<u8>) -> Answer {
    let mut raw = Raw::connect(s).await;
    raw.send(&raw_head).await;
    raw.answer().await
}

/// A connection that has sent an append's head (a publisher's token) and the first `sent` bytes of
/// its body, for a new complaint `id`; and the rest of the body, to send when the test wants.
async fn append_in_flight(s: &Server, id: &str, sent: usize) -> (Raw, Vec<u8>) {
    let request = body(json!("no_stream"), vec![received_json(id)]).to_string().into_bytes();
    let mut raw = Raw::connect(s).await;
    let path = format!("/streams/complaint-{id}/events");
    raw.send(&head("POST", &path, Some(&format!("Bearer {PUBLISHER}")), Some(request.len()))).await;
    raw.send(&request[..sent]).await;
    (raw, request[sent..].to_vec())
}

fn limits() -> ServeLimits {
    ServeLimits::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_valid_token_is_refused_before_its_body_is_sent() {
    let s = start().await;
    let publisher = format!("Bearer {PUBLISHER}");
    let auditor = format!("Bearer {AUDITOR}");
    let cases = [
        (None, 401, "unauthorized", "no token"),
        (Some("Bearer not-a-token-anyone-configured"), 401, "unauthorized", "an unknown token"),
        (Some("Basic YWRtaW46YWRtaW4="), 401, "unauthorized", "another scheme"),
        (Some(auditor.as_str()), 403, "forbidden", "a role that may not write"),
    ];
    for (authorization, status, code, what) in cases {
        let mut raw = Raw::connect(&s).await;
        // 8 MiB announced, not one byte of it sent: the answer cannot depend on the body.
        raw.send(&head("POST", "/streams/complaint-big/events", authorization, Some(8 * 1024 * 1024))).await;
        let answer = raw.answer().await;
        answer.assert_error(status, code, what);
        if status == 401 {
            assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{what}: {answer:?}");
        }
    }
    // A body declared over the limit is refused on its length, before a byte is read, too.
    let mut raw = Raw::connect(&s).await;
    raw.send(&head("POST", "/streams/complaint-big/events", Some(&publisher), Some(8 * 1024 * 1024 + 1))).await;
    raw.answer().await.assert_error(413, "payload_too_large", "a declared length over the limit");

    for scheme in ["bearer", "BEARER", "bEaReR", "Bearer"] {
        let mut raw = Raw::connect(&s).await;
        raw.send(&head("GET", "/all", Some(&format!("{scheme} {AUDITOR}")), None)).await;
        assert_eq!(raw.answer().await.status, 200, "the scheme {scheme:?} is the bearer scheme");
    }
    assert_eq!(s.head().await, None, "nothing was written");
}

/// The `redress_http_requests_total` series of a metrics text, without their values.
fn request_series(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("redress_http_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_random_methods_and_paths_add_no_metrics_series() {
    let s = start().await;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let word =
        |rng: &mut Rng, len: usize| -> String { (0..len).map(|_| char::from(b'A' + rng.below(26) as u8)).collect() };
    let metrics = || async {
        let (status, text) = s.call(Method::GET, "/metrics", Some(AUDITOR), None).await;
        assert_eq!(status, StatusCode::OK);
        text.as_str().unwrap().to_owned()
    };
    let mut used = Vec::new();
    let mut series = Vec::new();
    for _round in 0..3 {
        for i in 0..150 {
            let name = format!("M{}", word(&mut rng, 8));
            let path = match i % 3 {
                0 => format!("/nope/{}", word(&mut rng, 12)),
                1 => "/health".to_owned(),
                _ => format!("/streams/{}/events/{}", word(&mut rng, 6), word(&mut rng, 6)),
            };
            // Known paths with unknown methods (405), unknown paths with unknown methods and with GET (404).
            let random_method = path == "/health" || i % 2 == 0;
            let method = if random_method { Method::from_bytes(name.as_bytes()).unwrap() } else { Method::GET };
            let response = s.client.request(method, format!("{}{path}", s.base)).send().await.unwrap();
            assert!(response.status().is_client_error(), "{name} {path}: {}", response.status());
            used.push(name);
            used.push(path);
        }
        series.push(metrics().await);
    }
    // The first round adds the series the kinds of request need (and the first /metrics its own).
    let (first, last) = (request_series(&series[1]), request_series(&series[2]));
    assert_eq!(first, last, "150 more random requests added no series (seed {seed})");
    assert!(first.len() <= 8, "a handful of series for 450 different requests: {first:?}");
    assert!(first.iter().any(|l| l.contains(r#"route="unmatched""#)), "{first:?}");
    assert!(first.iter().any(|l| l.contains(r#"method="other""#)), "{first:?}");
    for text in used.iter().filter(|t| t.len() > 8) {
        let word = text.rsplit('/').next().unwrap();
        assert!(!series[2].contains(word), "{word} from a request became a label (seed {seed})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_are_json_404_and_405_with_allow() {
    let s = start().await;
    let mut raw = Raw::connect(&s).await;
    raw.send(&head("GET", "/nowhere", Some(&format!("Bearer {ADMIN}")), None)).await;
    raw.answer().await.assert_error(404, "not_found", "an unknown route");
    for (method, path, allow) in
        [("DELETE", "/all", "GET"), ("MXYZ", "/health", "GET"), ("GET", "/streams/x/events", "POST")]
    {
        let mut raw = Raw::connect(&s).await;
        raw.send(&head(method, path, None, None)).await;
        let answer = raw.answer().await;
        answer.assert_error(405, "method_not_allowed", &format!("{method} {path}"));
        let allowed = answer.header("allow").unwrap_or_default();
        assert!(allowed.split(',').any(|m| m.trim() == allow), "{method} {path}: Allow {allowed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_request_lines_and_headers_are_json_414_and_431() {
    let s = start().await;
    let line_max = limits().request_line_bytes_max;
    let admin = format!("Bearer {ADMIN}");
    /// A GET of `/nope?q=aaa…` whose method, path and query make `line` bytes.
    fn target_of(line: usize) -> String {
        format!("/nope?q={}", "a".repeat(line - "GET".len() - "/nope?q=".len()))
    }
    let answer = ask(&s, head("GET", &target_of(line_max), Some(&admin), None)).await;
    assert_eq!(answer.status, 404, "a request line of exactly 64 KiB is taken: {answer:?}");
    // Just over (the server's check), over hyper's URI limit (hyper's own 414), and over its whole
    // head buffer (hyper's 431, told apart by the request line).
    for line in [line_max + 1, 70 * 1024, 300 * 1024] {
        let answer = ask(&s, head("GET", &target_of(line), Some(&admin), None)).await;
        answer.assert_error(414, "uri_too_long", &format!("a request line of {line} bytes"));
    }

    // A long complaint text fits: 4,000 Chinese characters (the suggestions' own limit),
    // percent-encoded, are 36,000 bytes.
    s.settle().await;
    let text: String = "打印机卡纸".repeat(800);
    let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
    let answer =
        ask(&s, head("GET", &format!("/projections/suggestions?text={encoded}&k=3"), Some(&admin), None)).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    let with_fields = |fields: &[(String, String)]| {
        let mut raw = String::from("GET /health HTTP/1.1\r\nHost: redress.test\r\n");
        for (name, value) in fields {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        raw.into_bytes()
    };
    let one_field = |bytes: usize| vec![("X-Padding".to_owned(), "p".repeat(bytes))];
    assert_eq!(ask(&s, with_fields(&one_field(12 * 1024))).await.status, 200, "12 KiB of headers are taken");
    ask(&s, with_fields(&one_field(17 * 1024))).await.assert_error(
        431,
        "request_header_fields_too_large",
        "17 KiB of headers (the server's check)",
    );
    ask(&s, with_fields(&one_field(100 * 1024))).await.assert_error(
        431,
        "request_header_fields_too_large",
        "100 KiB of headers (over hyper's head buffer)",
    );
    let many: Vec<(String, String)> = (0..150).map(|i| (format!("X-F{i}"), "v".to_owned())).collect();
    ask(&s, with_fields(&many)).await.assert_error(431, "request_header_fields_too_large", "150 small fields");
    ask(&s, b"GET /he\x01lth HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()).await.assert_error(
        400,
        "bad_request",
        "a request line hyper cannot parse",
    );
    // Seven heads were refused before routing, by hyper or by the edge's own check.
    let (_, metrics) = s.call(Method::GET, "/metrics", Some(ADMIN), None).await;
    assert!(metrics.as_str().unwrap().contains("redress_http_heads_refused_total 7"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_or_partial_request_head_is_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(400);
    let s = start_with(ServeLimits { header_read_timeout: timeout, ..limits() }).await;
    let mut silent = Raw::connect(&s).await;
    let mut partial = Raw::connect(&s).await;
    partial.send(b"GET /health HTTP/1.1\r\n").await;
    let mut trickle = Raw::connect(&s).await;
    let trickling = async {
        // A byte every 100 ms: each arrives well within the timeout, the head never does.
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa" {
            trickle.send(&[*byte]).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        trickle.closed_within(ANSWER_WAIT).await
    };
    let (silent, partial, trickle) =
        tokio::join!(silent.closed_within(ANSWER_WAIT), partial.closed_within(ANSWER_WAIT), trickling);
    for (what, (closed, received)) in [("silent", silent), ("partial", partial)] {
        let closed = closed.unwrap_or_else(|| panic!("the {what} connection is closed"));
        assert!(closed >= timeout - Duration::from_millis(50), "the {what} connection had its {timeout:?}: {closed:?}");
        assert!(received.is_empty(), "and got no answer: {:?}", String::from_utf8_lossy(&received));
    }
    assert!(trickle.0.is_some(), "a head trickled in a byte at a time is closed too");
    let (_, metrics) = s.call(Method::GET, "/metrics", Some(ADMIN), None).await;
    assert!(metrics.as_str().unwrap().contains("redress_http_connections_timed_out_total 3"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_lasts_the_idle_timeout_not_the_header_timeout() {
    let (header, idle) = (Duration::from_millis(300), Duration::from_millis(1_500));
    let s = start_with(ServeLimits { header_read_timeout: header, idle_timeout: idle, ..limits() }).await;
    let mut raw = Raw::connect(&s).await;
    raw.send(&head("GET", "/health", None, None)).await;
    assert_eq!(raw.answer().await.status, 200);
    tokio::time::sleep(header * 3).await;
    raw.send(&head("GET", "/health", None, None)).await;
    assert_eq!(raw.answer().await.status, 200, "still open after 3 header timeouts of idleness");
    let (closed, _) = raw.closed_within(ANSWER_WAIT).await;
    let closed = closed.expect("closed after the idle timeout");
    assert!(closed >= idle - Duration::from_millis(100), "not before the idle timeout: {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_is_408_and_writes_nothing() {
    let timeout = Duration::from_millis(500);
    let s = start_with(ServeLimits { body_read_timeout: timeout, ..limits() }).await;
    let started = Instant::now();
    let (mut raw, _rest) = append_in_flight(&s, "slow1", 20).await;
    let answer = raw.answer().await;
    answer.assert_error(408, "request_timeout", "a body cut short");
    assert!(started.elapsed() >= timeout, "after the body timeout: {:?}", started.elapsed());
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(raw.closed_within(ANSWER_WAIT).await.0.is_some(), "and the connection is closed");
    assert_eq!(s.head().await, None, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_maximum_wait_and_an_authenticated_client_is_served_when_slow_ones_close() {
    let header = Duration::from_millis(600);
    let s = start_with(ServeLimits { connections_max: 3, header_read_timeout: header, ..limits() }).await;
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut raw = Raw::connect(&s).await;
        raw.send(b"GET /health HTTP/1.1\r\n").await;
        slow.push(raw);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let client = reqwest::Client::new();
    let response = tokio::time::timeout(ANSWER_WAIT, client.get(format!("{}/all", s.base)).bearer_auth(AUDITOR).send())
        .await
        .expect("served within the wait")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let waited = started.elapsed();
    assert!(waited >= header / 2, "it waited for a slot, as the three slow connections held them: {waited:?}");
    for mut raw in slow {
        assert!(raw.closed_within(ANSWER_WAIT).await.0.is_some(), "the slow connections were closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_hold_a_connection_slot_and_outlive_every_timeout() {
    let short = Duration::from_millis(300);
    let s = start_with(ServeLimits {
        connections_max: 2,
        header_read_timeout: short,
        body_read_timeout: short,
        idle_timeout: short,
        ..limits()
    })
    .await;
    let subscribe = || {
        // A client each, so that no pooled connection is shared.
        reqwest::Client::new().get(format!("{}/subscribe?from_position=0", s.base)).bearer_auth(AUDITOR).send()
    };
    let first = subscribe().await.unwrap();
    let second = subscribe().await.unwrap();
    tokio::time::sleep(short * 4).await;
    let third = reqwest::Client::new().get(format!("{}/health", s.base)).timeout(short * 3).send().await;
    assert!(third.is_err(), "both slots are held by the subscriptions: {third:?}");
    s.store
        .append(
            &crate::support::complaint("sse1"),
            redress_engine::ExpectedVersion::NoStream,
            vec![crate::support::received(&crate::support::complaint("sse1"))],
        )
        .await
        .unwrap();
    let events = read_sse(first, 1).await;
    assert_eq!(events[0].0, 0, "a subscription open for 4 timeouts still delivers");
    drop(second);
    let fourth = tokio::time::timeout(ANSWER_WAIT, reqwest::Client::new().get(format!("{}/health", s.base)).send())
        .await
        .expect("served once a subscription closed")
        .unwrap();
    assert_eq!(fourth.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_requests_in_flight_limit_requests_get_a_json_503_with_retry_after_at_once() {
    let s = start_with(ServeLimits { requests_in_flight_max: 1, body_read_timeout: ANSWER_WAIT, ..limits() }).await;
    let (mut held, rest) = append_in_flight(&s, "held1", 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut raw = Raw::connect(&s).await;
    let started = Instant::now();
    raw.send(&head("GET", "/health", None, None)).await;
    let answer = raw.answer().await;
    answer.assert_error(503, "unavailable", "a request beyond the limit");
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(started.elapsed() < Duration::from_secs(2), "at once, not after a wait: {:?}", started.elapsed());
    held.send(&rest).await;
    assert_eq!(held.answer().await.status, 201, "the request in flight completes");
    raw.send(&head("GET", "/health", None, None)).await;
    assert_eq!(raw.answer().await.status, 200, "and its slot is free again");
    let (_, metrics) = s.call(Method::GET, "/metrics", Some(ADMIN), None).await;
    assert!(metrics.as_str().unwrap().contains("redress_http_requests_shed_total 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_and_does_not_wait_for_idle_or_slow_connections() {
    // API.md's timeouts (10 s, 60 s): the shutdown must not wait for them.
    let mut s = start().await;
    let mut idle = Raw::connect(&s).await;
    idle.send(&head("GET", "/health", None, None)).await;
    assert_eq!(idle.answer().await.status, 200);
    let mut partial = Raw::connect(&s).await;
    partial.send(b"GET /health HTTP/1.1\r\n").await;
    let subscription =
        s.client.get(format!("{}/subscribe?from_position=0", s.base)).bearer_auth(AUDITOR).send().await.unwrap();
    let (mut in_flight, rest) = append_in_flight(&s, "late1", 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    s.stop_serving();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(TcpStream::connect(s.address()).await.is_err(), "no longer accepting");
    in_flight.send(&rest).await;
    assert_eq!(in_flight.answer().await.status, 201, "the append in flight is answered");
    let served = s.served.take().unwrap();
    tokio::time::timeout(ANSWER_WAIT, served).await.expect("the server stops").unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "promptly: {:?}", started.elapsed());
    assert!(idle.closed_within(ANSWER_WAIT).await.0.is_some() && partial.closed_within(ANSWER_WAIT).await.0.is_some());
    let mut events = subscription.bytes_stream();
    use futures_util::StreamExt;
    let ended = tokio::time::timeout(ANSWER_WAIT, async { while let Some(Ok(_)) = events.next().await {} }).await;
    assert!(ended.is_ok(), "the subscription stream ended");
    assert_eq!(s.store.head().await.unwrap().map(|h| h.position.0), Some(0), "the append is in the log");
}
