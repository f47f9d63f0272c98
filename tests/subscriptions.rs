//! Persistent subscriptions through `redress serve` (issue 12): pull consumers over HTTP with the role
//! matrix, a webhook receiver on 127.0.0.1 checked with an HMAC written out over SHA-256, a SIGKILL in the
//! middle of webhook delivery, and two server processes sharing one PostgreSQL schema.

use crate::cli::{redress, ServerProcess};
use crate::support::{fresh_schema, test_database_url, SchemaGuard};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const ADMIN: &str = "subs-admin-token-0123456789abcdef";
pub const PUBLISHER: &str = "subs-publisher-token-0123456789ab";
pub const AUDITOR: &str = "subs-auditor-token-0123456789abcd";
const SECRET: &str = "s3cret-0123456789-abcdef";

pub fn tokens() -> String {
    format!("admin:{ADMIN},publisher:{PUBLISHER},auditor:{AUDITOR}")
}

pub async fn call(base: &str, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Client::new().request(method, format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Appends one complaint with `updates` progress updates after its receipt: 1 + `updates` events.
pub async fn append_complaint(base: &str, id: &str, updates: usize) {
    let mut events = vec![json!({"event_type": "complaint_received", "data": {
        "complaint_id": id, "customer_id": "K-1", "channel": "web", "category": "delivery",
        "severity": "high", "description": "The monitor arrived cracked"}})];
    for n in 0..updates {
        events.push(json!({"event_type": "progress_updated", "data": {"note": format!("update {n}"), "customer_informed": false}}));
    }
    let path = format!("/streams/complaint-{id}/events");
    let (status, answer) = call(base, Method::POST, &path, PUBLISHER, Some(json!({"events": events}))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

pub fn serve(dir: &Path, args: &[&str]) -> ServerProcess {
    let mut command = redress();
    command.arg("--data-dir").arg(dir).args(["serve", "--listen", "127.0.0.1:0"]).args(args);
    command.env("REDRESS_TOKENS", tokens());
    ServerProcess::spawn(command)
}

/// [`serve`] off the async runtime (it waits for the server's first line).
async fn serve_async(dir: &Path, args: &'static [&'static str]) -> ServerProcess {
    let path = dir.to_owned();
    tokio::task::spawn_blocking(move || serve(&path, args)).await.expect("the server starts")
}

pub fn positions_of(answer: &Value) -> Vec<u64> {
    answer["events"]
        .as_array()
        .map_or_else(Vec::new, |events| events.iter().map(|e| e["position"].as_u64().expect("a position")).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_subscriptions_over_http_keep_roles_refuse_bad_input_park_retry_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_async(dir.path(), &[]).await;
    let base = server.base.clone();
    let definition = json!({"event_types": ["complaint_received"], "max_attempts": 2,
        "webhook": null, "start": "beginning"});
    // Roles: only admins create; auditors read but do not consume.
    let (status, _) = call(&base, Method::PUT, "/subscriptions/orders", PUBLISHER, Some(definition.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bad input names its field and writes nothing.
    for (bad, field) in [
        (json!({"event_types": ["no_such_type"]}), "event_types"),
        (json!({"webhook": {"url": "http://169.254.169.254/latest", "secret": SECRET}}), "webhook.url"),
        (json!({"max_attempts": 0}), "max_attempts"),
    ] {
        let (status, answer) = call(&base, Method::PUT, "/subscriptions/orders", ADMIN, Some(bad)).await;
        assert_eq!((status, answer["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{answer}");
    }
    let (status, _) = call(&base, Method::GET, "/subscriptions/orders", ADMIN, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was written");
    let (status, created) = call(&base, Method::PUT, "/subscriptions/orders", ADMIN, Some(definition)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for n in 0..5 {
        append_complaint(&base, &format!("P{n}"), 1).await; // received at even positions 0..8
    }
    let fetch = json!({"max": 10, "wait_ms": 0});
    let (status, _) = call(&base, Method::POST, "/subscriptions/orders/fetch", AUDITOR, Some(fetch.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, first) =
        call(&base, Method::POST, "/subscriptions/orders/fetch", PUBLISHER, Some(fetch.clone())).await;
    assert_eq!((status, positions_of(&first)), (StatusCode::OK, vec![0, 2, 4, 6, 8]), "{first}");
    assert!(first["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["attempt"] == 1 && e["event_type"] == "complaint_received"));
    let (_, again) = call(&base, Method::POST, "/subscriptions/orders/fetch", PUBLISHER, Some(fetch.clone())).await;
    assert!(positions_of(&again).is_empty(), "leased to the first fetch: {again}");
    let (status, acked) =
        call(&base, Method::POST, "/subscriptions/orders/ack", PUBLISHER, Some(json!({"positions": [0, 2, 6, 8]})))
            .await;
    assert_eq!((status, acked["acked"].clone()), (StatusCode::OK, json!([0, 2, 6, 8])));
    // 4 fails twice (max_attempts 2): parked, then retried.
    let nack = json!({"positions": [4], "lease_id": first["lease_id"]});
    let (_, answer) = call(&base, Method::POST, "/subscriptions/orders/nack", PUBLISHER, Some(nack)).await;
    assert_eq!(answer, json!({"released": [4], "parked": []}));
    let (_, second) = call(&base, Method::POST, "/subscriptions/orders/fetch", PUBLISHER, Some(fetch.clone())).await;
    assert_eq!(second["events"][0]["attempt"], 2);
    let (_, answer) =
        call(&base, Method::POST, "/subscriptions/orders/nack", PUBLISHER, Some(json!({"positions": [4]}))).await;
    assert_eq!(answer, json!({"released": [], "parked": [4]}));
    let (status, _) = call(&base, Method::GET, "/subscriptions/orders/parked?limit=1000", AUDITOR, None).await;
    assert_eq!(status, StatusCode::OK, "the largest page");
    let (_, parked) = call(&base, Method::GET, "/subscriptions/orders/parked?limit=10", AUDITOR, None).await;
    assert_eq!((parked["count"].clone(), parked["parked"][0]["position"].clone()), (json!(1), json!(4)), "{parked}");
    assert_eq!(parked["parked"][0]["reason"], "max_attempts");
    let (_, status_now) = call(&base, Method::GET, "/subscriptions/orders", AUDITOR, None).await;
    assert_eq!((status_now["position"].clone(), status_now["parked"].clone()), (json!(10), json!(1)), "{status_now}");
    let (status, retried) = call(&base, Method::POST, "/subscriptions/orders/parked/retry", PUBLISHER, None).await;
    assert_eq!((status, retried["retried"].clone()), (StatusCode::OK, json!([4])));
    // A bound is a typed refusal.
    let (status, _) =
        call(&base, Method::POST, "/subscriptions/orders/fetch", PUBLISHER, Some(json!({"max": 5000}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Restart: the definition, the position and the owed event are still there.
    assert!(server.terminate().success());
    let server = serve_async(dir.path(), &[]).await;
    let base = server.base.clone();
    let (_, after) = call(&base, Method::GET, "/subscriptions/orders", ADMIN, None).await;
    assert_eq!((after["position"].clone(), after["parked"].clone()), (json!(4), json!(0)), "{after}");
    let (_, retried) = call(&base, Method::POST, "/subscriptions/orders/fetch", PUBLISHER, Some(fetch)).await;
    assert_eq!(positions_of(&retried), vec![4]);
    let (_, metrics_answer) = call(&base, Method::GET, "/subscriptions", ADMIN, None).await;
    assert_eq!(metrics_answer["count"], 1);
    let text =
        Client::new().get(format!("{base}/metrics")).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("redress_subscription_parked{subscription=\"orders\"} 0"), "{text}");
    let (status, _) = call(&base, Method::DELETE, "/subscriptions/orders", PUBLISHER, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&base, Method::DELETE, "/subscriptions/orders", ADMIN, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(server.terminate().success());
}

/// What a webhook receiver got: one entry per POST.
#[derive(Debug, Clone)]
struct Post {
    body: Vec<u8>,
    signature: String,
    delivery_id: String,
    answered: u16,
}

/// A receiver on 127.0.0.1 answering 500 to the first `fail_first` POSTs and 200 after, each after `delay`.
async fn receiver(fail_first: usize, delay: Duration) -> (String, Arc<Mutex<Vec<Post>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
    let seen = Arc::clone(&posts);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let posts = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                while let Some((head, body)) = read_request(&mut socket, &mut buffer).await {
                    let header = |name: &str| {
                        head.lines()
                            .find_map(|line| {
                                let (k, v) = line.split_once(':')?;
                                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                            })
                            .unwrap_or_default()
                    };
                    tokio::time::sleep(delay).await;
                    let answered = {
                        let mut posts = posts.lock().unwrap();
                        let answered = if posts.len() < fail_first { 500 } else { 200 };
                        let (signature, delivery_id) = (header("x-redress-signature"), header("x-redress-delivery"));
                        posts.push(Post { body, signature, delivery_id, answered });
                        answered
                    };
                    let reply = format!("HTTP/1.1 {answered} X\r\ncontent-length: 0\r\n\r\n");
                    if socket.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, posts)
}

/// One HTTP/1.1 request's head and body from `socket` (`None` when the connection ends).
async fn read_request(socket: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let mut chunk = vec![0u8; 65536];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + 4 + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buffer[head_end + 4..head_end + 4 + length].to_vec();
    buffer.drain(..head_end + 4 + length);
    Some((head, body))
}

/// HMAC-SHA256 (RFC 2104) written out over plain SHA-256 (sha2 0.10), independent of the `hmac` crate and
/// the sha2 version the server signs with.
fn independent_hmac_hex(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).chain(message.iter().copied()).collect();
    let inner_hash = Sha256::digest(&inner);
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).chain(inner_hash.iter().copied()).collect();
    Sha256::digest(&outer).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks every POST's signature and delivery id, and returns the positions a consumer deduplicating by
/// `event_id` would process, in the order it would process them (only 2xx-answered POSTs count).
fn verified_first_deliveries(posts: &[Post]) -> Vec<u64> {
    let (mut seen, mut order, mut delivery_ids) = (HashMap::new(), Vec::new(), BTreeSet::new());
    for post in posts {
        assert_eq!(post.signature, format!("sha256={}", independent_hmac_hex(SECRET.as_bytes(), &post.body)));
        assert!(delivery_ids.insert(post.delivery_id.clone()), "each POST has its own delivery id");
        assert!(!String::from_utf8_lossy(&post.body).contains(SECRET), "the secret is never sent");
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        let positions = positions_of(&body);
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "a batch is in log order");
        if post.answered == 200 {
            for (event, position) in body["events"].as_array().unwrap().iter().zip(positions) {
                if seen.insert(event["event_id"].as_str().unwrap().to_owned(), position).is_none() {
                    order.push(position);
                }
            }
        }
    }
    order
}

async fn wait_until(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    for _ in 0..seconds * 20 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {seconds} s waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_its_first_deliveries_gets_every_event_in_order_and_every_signature_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_async(dir.path(), &[]).await;
    let base = server.base.clone();
    let (url, posts) = receiver(3, Duration::ZERO).await;
    append_complaint(&base, "W1", 300).await;
    let definition = json!({"webhook": {"url": url, "secret": SECRET}});
    let (status, created) = call(&base, Method::PUT, "/subscriptions/hooked", ADMIN, Some(definition)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(!created.to_string().contains(SECRET), "the answer never shows the secret: {created}");
    append_complaint(&base, "W2", 300).await; // more while the first deliveries fail
    wait_until("602 events delivered", 60, || verified_first_deliveries(&posts.lock().unwrap()).len() == 602).await;
    let posts = posts.lock().unwrap().clone();
    assert!(posts.iter().take(3).all(|p| p.answered == 500) && posts.len() > 3);
    assert_eq!(verified_first_deliveries(&posts), (0..602).collect::<Vec<_>>(), "every event, once, in log order");
    let (_, state) = call(&base, Method::GET, "/subscriptions/hooked", PUBLISHER, None).await;
    assert!(!state.to_string().contains(SECRET) && state["webhook"]["url"] == url.as_str(), "{state}");
    let (exit, log) = server.terminate_with_stderr();
    assert!(exit.success());
    assert!(!log.contains(SECRET), "the secret is in no log line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_delivery_loses_no_acknowledged_position_and_skips_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let lease: &'static [&'static str] = &["--subscription-lease-ms", "500"];
    let server = serve_async(dir.path(), lease).await;
    let base = server.base.clone();
    for n in 0..4 {
        append_complaint(&base, &format!("K{n}"), 499).await; // 2,000 events
    }
    // A slow receiver, so the kill lands while batches are in flight.
    let (url, posts) = receiver(0, Duration::from_millis(150)).await;
    let (status, _) = call(
        &base,
        Method::PUT,
        "/subscriptions/hooked",
        ADMIN,
        Some(json!({"webhook": {"url": url, "secret": SECRET}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    wait_until("a first acked batch", 30, || posts.lock().unwrap().len() >= 2).await;
    let (_, before) = call(&base, Method::GET, "/subscriptions/hooked", ADMIN, None).await;
    let acked_before = before["position"].as_u64().unwrap();
    assert!(acked_before > 0 && acked_before < 2_000, "killed mid-delivery: {before}");
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let server = serve_async(dir.path(), lease).await;
    let (_, after) = call(&server.base, Method::GET, "/subscriptions/hooked", ADMIN, None).await;
    assert!(
        after["position"].as_u64().unwrap() >= acked_before,
        "no acknowledged position lost: {before} then {after}"
    );
    wait_until("2,000 events delivered", 60, || verified_first_deliveries(&posts.lock().unwrap()).len() == 2_000).await;
    let order = verified_first_deliveries(&posts.lock().unwrap());
    assert_eq!(order, (0..2_000).collect::<Vec<_>>(), "no event skipped, first deliveries in log order");
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_postgres_schema_never_lease_one_event_to_two_consumers() {
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let url = test_database_url();
    let mut servers = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let (path, url, schema) = (dir.path().to_owned(), url.clone(), schema.clone());
        servers.push(
            tokio::task::spawn_blocking(move || {
                let mut command = redress();
                command.arg("--data-dir").arg(&path).args(["--store", &url, "--pg-schema", &schema]);
                command.args(["serve", "--listen", "127.0.0.1:0"]).env("REDRESS_TOKENS", tokens());
                ServerProcess::spawn(command)
            })
            .await
            .unwrap(),
        );
        dirs.push(dir);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let definition = json!({"event_types": ["complaint_received"]});
    let (status, _) = call(&bases[0], Method::PUT, "/subscriptions/split", ADMIN, Some(definition)).await;
    assert_eq!(status, StatusCode::CREATED);
    for n in 0..80 {
        append_complaint(&bases[n % 2], &format!("G{n}"), 1).await;
    }
    let held: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let delivered: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut consumers = Vec::new();
    for consumer in 0..4 {
        let base = bases[consumer % 2].clone();
        let (held, delivered) = (Arc::clone(&held), Arc::clone(&delivered));
        consumers.push(tokio::spawn(async move {
            for _ in 0..500 {
                if delivered.lock().unwrap().len() >= 80 {
                    return;
                }
                let fetch = json!({"max": 7, "wait_ms": 100});
                let (status, answer) =
                    call(&base, Method::POST, "/subscriptions/split/fetch", PUBLISHER, Some(fetch)).await;
                assert_eq!(status, StatusCode::OK, "{answer}");
                let positions = positions_of(&answer);
                for p in &positions {
                    assert!(held.lock().unwrap().insert(*p), "position {p} leased to two consumers at once");
                }
                delivered.lock().unwrap().extend(&positions);
                for p in &positions {
                    held.lock().unwrap().remove(p);
                }
                let ack = json!({"positions": positions});
                let (status, _) = call(&base, Method::POST, "/subscriptions/split/ack", PUBLISHER, Some(ack)).await;
                assert_eq!(status, StatusCode::OK);
            }
        }));
    }
    for consumer in consumers {
        consumer.await.expect("a consumer failed");
    }
    let mut delivered = delivered.lock().unwrap().clone();
    delivered.sort_unstable();
    // Each complaint is 2 events (received, progress), appended in turn: received at even positions.
    assert_eq!(delivered, (0..80).map(|n| 2 * n).collect::<Vec<u64>>(), "each received event exactly once");
    let (_, state) = call(&bases[1], Method::GET, "/subscriptions/split", ADMIN, None).await;
    assert_eq!((state["position"].clone(), state["pending"].clone()), (json!(160), json!(0)), "{state}");
    for server in servers {
        assert!(server.terminate().success());
    }
}

/// The alert deliveries among `posts` (2xx-answered or not), each checked: signed with the secret (an
/// HMAC computed independently), its own delivery id, `kind` deadline_alert. Returns every alert sent.
fn alerts_posted(posts: &[Post]) -> Vec<Value> {
    let mut alerts = Vec::new();
    for post in posts {
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        if body.get("alerts").is_none() {
            continue;
        }
        assert_eq!(post.signature, format!("sha256={}", independent_hmac_hex(SECRET.as_bytes(), &post.body)));
        assert_eq!(body["kind"], "deadline_alert");
        assert!(!post.delivery_id.is_empty());
        alerts.extend(body["alerts"].as_array().unwrap().iter().cloned());
    }
    alerts
}

/// A normal-severity complaint received `hours_ago` hours ago (its acknowledgement is due 24 h after).
async fn append_old_complaint(base: &str, id: &str, hours_ago: i64) {
    let at = redress_schemas::Timestamp::now().plus_seconds(-hours_ago * 3_600).to_rfc3339();
    let event = json!({"event_type": "complaint_received", "occurred_at": at, "data": {
        "complaint_id": id, "customer_id": "K-7", "channel": "web", "category": "delivery",
        "severity": "normal", "description": "The parcel never came"}});
    let path = format!("/streams/complaint-{id}/events");
    let (status, answer) = call(base, Method::POST, &path, PUBLISHER, Some(json!({"events": [event]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_alerts_reach_the_policys_subscription_signed_and_once_per_deadline_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.json");
    let levels = json!({
        "critical": {"acknowledge_within_hours": 2, "resolve_within_hours": 24},
        "high": {"acknowledge_within_hours": 4, "resolve_within_hours": 72},
        "normal": {"acknowledge_within_hours": 24, "resolve_within_hours": 168},
        "low": {"acknowledge_within_hours": 48, "resolve_within_hours": 336},
        "alerts": {"subscriptions": ["desk-alerts"], "lead_hours": 1, "scan_seconds": 1},
    });
    std::fs::write(&policy, levels.to_string()).unwrap();
    let start = |dir: std::path::PathBuf, policy: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || serve(&dir, &["--policy", policy.to_str().unwrap()]))
    };
    let server = start(dir.path().to_owned(), policy.clone()).await.unwrap();
    let (url, posts) = receiver(0, Duration::ZERO).await;
    // Only alerts interest this receiver: no complaint is closed here, so no event batch comes.
    let definition = json!({"event_types": ["complaint_closed"], "webhook": {"url": url, "secret": SECRET}});
    let (status, created) =
        call(&server.base, Method::PUT, "/subscriptions/desk-alerts", ADMIN, Some(definition)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    append_old_complaint(&server.base, "AL1", 30).await; // acknowledgement overdue by 6 h
    let first = |posts: &Arc<Mutex<Vec<Post>>>, id: &str| {
        alerts_posted(&posts.lock().unwrap()).into_iter().filter(|a| a["complaint_id"] == id).collect::<Vec<_>>()
    };
    wait_until("AL1's alert", 30, || !first(&posts, "AL1").is_empty()).await;
    let sent = first(&posts, "AL1");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!((sent[0]["deadline"].as_str(), sent[0]["state"].as_str()), (Some("acknowledgement"), Some("overdue")));
    // More looks (one a second) send it no more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(first(&posts, "AL1").len(), 1, "one alert per deadline");

    // Across a restart: the record of what was sent survives; the task runs again.
    assert!(server.terminate().success());
    let server = start(dir.path().to_owned(), policy).await.unwrap();
    append_old_complaint(&server.base, "AL2", 30).await;
    wait_until("AL2's alert after the restart", 30, || !first(&posts, "AL2").is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(first(&posts, "AL1").len(), 1, "AL1's alert was not sent again after the restart");
    assert_eq!(first(&posts, "AL2").len(), 1);
    assert!(posts.lock().unwrap().iter().all(|p| p.answered == 200));
    // The view the task reads answers an auditor too.
    let (_, view) = call(&server.base, Method::GET, "/projections/deadline-alerts", AUDITOR, None).await;
    let ids: Vec<&str> =
        view["alerts"].as_array().unwrap().iter().map(|a| a["complaint_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["AL1", "AL2"], "{view}");
    assert!(server.terminate().success());
}
