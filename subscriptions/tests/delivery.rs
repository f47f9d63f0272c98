//! The subscriptions over real stores: sled files in temp directories, the PostgreSQL server at
//! 127.0.0.1:5432 (`REDRESS_TEST_DATABASE_URL`; a missing server fails these tests, never skips them),
//! and webhook receivers on 127.0.0.1 ephemeral ports.

use redress_engine::{EventStore, ExpectedVersion, PostgresStore, SledStore};
use redress_schemas::{ProposedEvent, StreamName};
use redress_subscriptions::{Config, Ledgers, PostgresLedgers, SledLedgers, Subscriptions};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn complaint(n: u64) -> StreamName {
    StreamName::new(format!("complaint-C{n}")).expect("a stream name")
}

fn received(n: u64) -> (StreamName, ProposedEvent) {
    let stream = complaint(n);
    let data = json!({"complaint_id": format!("C{n}"), "customer_id": "K-1", "channel": "hotline",
        "category": "delivery", "severity": "high", "description": "屏幕碎了"});
    let event = ProposedEvent::from_json(json!({"event_type": "complaint_received", "data": data}), &stream)
        .expect("a valid event");
    (stream, event)
}

fn progress(n: u64) -> (StreamName, ProposedEvent) {
    let stream = complaint(n);
    let event = ProposedEvent::from_json(
        json!({"event_type": "progress_updated", "data": {"note": "called", "customer_informed": true}}),
        &stream,
    )
    .expect("a valid event");
    (stream, event)
}

/// Appends `count` complaints (from `first`), each received then updated: 2 events per complaint.
async fn append_complaints(store: &dyn EventStore, first: u64, count: u64) {
    for n in first..first + count {
        for (stream, event) in [received(n), progress(n)] {
            store.append(&stream, ExpectedVersion::Any, vec![event]).await.expect("append");
        }
    }
}

fn sled_store(dir: &std::path::Path) -> Arc<dyn EventStore> {
    Arc::new(SledStore::open(dir.join("store")).expect("open the store"))
}

fn service(store: &Arc<dyn EventStore>, ledgers: Arc<dyn Ledgers>, config: Config) -> Subscriptions {
    Subscriptions::new(Arc::clone(store), ledgers, config).expect("subscriptions")
}

/// Consumers fetching and acking concurrently until `expected` events are acked; returns every
/// delivery (position) in the order consumers received them, and fails if two fetches held one event.
async fn compete(subscriptions: &[Subscriptions], consumers: usize, expected: usize) -> Vec<u64> {
    let held: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let delivered: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut tasks = Vec::new();
    for consumer in 0..consumers {
        let subs = subscriptions[consumer % subscriptions.len()].clone();
        let (held, delivered) = (Arc::clone(&held), Arc::clone(&delivered));
        tasks.push(tokio::spawn(async move {
            for _ in 0..2_000 {
                if delivered.lock().unwrap().len() >= expected {
                    return;
                }
                let fetched = subs.fetch("orders", 7, Duration::from_millis(100)).await.expect("fetch");
                let positions: Vec<u64> = fetched.events.iter().map(|d| d.event.position.0).collect();
                for p in &positions {
                    assert!(held.lock().unwrap().insert(*p), "position {p} leased to two consumers at once");
                }
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..3))).await;
                delivered.lock().unwrap().extend(&positions);
                for p in &positions {
                    held.lock().unwrap().remove(p);
                }
                subs.ack("orders", positions).await.expect("ack");
            }
        }));
    }
    for task in tasks {
        task.await.expect("a consumer panicked");
    }
    let delivered = delivered.lock().unwrap().clone();
    delivered
}

fn admitted_positions(count: u64) -> Vec<u64> {
    // complaint_received is every even position (received, progress, received, ...).
    (0..count).map(|n| 2 * n).collect()
}

#[tokio::test]
async fn competing_pull_consumers_split_the_events_each_exactly_once_and_never_share_a_lease() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let ledgers = Arc::new(SledLedgers::open(&dir.path().join("subscriptions")).unwrap());
    let subs = service(&store, ledgers, Config::default());
    assert!(subs.put("orders", &json!({"event_types": ["complaint_received"]})).await.unwrap());
    append_complaints(&*store, 0, 150).await;
    let delivered = compete(std::slice::from_ref(&subs), 4, 150).await;
    let mut sorted = delivered.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, admitted_positions(150), "every received event once, no progress_updated");
    let status = subs.status("orders").await.unwrap();
    assert_eq!((status.position, status.lag, status.in_flight, status.pending), (300, 0, 0, 0));
}

#[tokio::test]
async fn acked_positions_survive_a_reopen_and_unacked_leases_are_delivered_again_after_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    append_complaints(&*store, 0, 10).await;
    let config = Config::default().with_lease(Duration::from_millis(300));
    {
        let ledgers = Arc::new(SledLedgers::open(&dir.path().join("subscriptions")).unwrap());
        let subs = service(&store, ledgers, config.clone());
        subs.put("orders", &json!({"start": "beginning"})).await.unwrap();
        let fetched = subs.fetch("orders", 8, Duration::ZERO).await.unwrap();
        let positions: Vec<u64> = fetched.events.iter().map(|d| d.event.position.0).collect();
        assert_eq!(positions, (0..8).collect::<Vec<_>>());
        assert_eq!(subs.ack("orders", vec![0, 1, 2, 4]).await.unwrap(), vec![0, 1, 2, 4]);
        assert_eq!(subs.status("orders").await.unwrap().position, 3, "3 is not acked: the position stays");
    }
    let ledgers = Arc::new(SledLedgers::open(&dir.path().join("subscriptions")).unwrap());
    let subs = service(&store, ledgers, config);
    let status = subs.status("orders").await.unwrap();
    // 20 read into the ledger by the first fetch (it reads ahead), 4 acked; 4 still leased.
    assert_eq!((status.position, status.pending, status.in_flight), (3, 16, 4), "{status:?}");
    // While the old leases last, only new events come; afterwards the unacked ones, first.
    let fresh = subs.fetch("orders", 100, Duration::ZERO).await.unwrap();
    assert_eq!(fresh.events.iter().map(|d| d.event.position.0).collect::<Vec<_>>(), (8..20).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let again = subs.fetch("orders", 100, Duration::ZERO).await.unwrap();
    let again: Vec<(u64, u32)> = again.events.iter().map(|d| (d.event.position.0, d.attempt)).collect();
    assert_eq!(&again[..4], &[(3, 2), (5, 2), (6, 2), (7, 2)], "never-acked events come again, second attempt");
}

#[tokio::test]
async fn a_poisoned_event_is_parked_after_max_attempts_and_retry_parked_delivers_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let ledgers = Arc::new(SledLedgers::open(&dir.path().join("subscriptions")).unwrap());
    let subs = service(&store, ledgers, Config::default());
    subs.put("orders", &json!({"event_types": ["complaint_received"], "max_attempts": 3})).await.unwrap();
    append_complaints(&*store, 0, 3).await; // received at 0, 2, 4
    for attempt in 1..=3 {
        let fetched = subs.fetch("orders", 10, Duration::ZERO).await.unwrap();
        let positions: Vec<u64> = fetched.events.iter().map(|d| d.event.position.0).collect();
        assert!(positions.contains(&2), "attempt {attempt}: the poisoned event comes again");
        // The consumer handles 0 and 4, and fails on 2.
        let others: Vec<u64> = positions.iter().copied().filter(|p| *p != 2).collect();
        subs.ack("orders", others).await.unwrap();
        let (released, parked) = subs.nack("orders", vec![2], false, Some(fetched.lease_id)).await.unwrap();
        assert_eq!(released, vec![2]);
        assert_eq!(parked.is_empty(), attempt < 3, "parked exactly at attempt 3");
    }
    let status = subs.status("orders").await.unwrap();
    assert_eq!((status.parked, status.position, status.pending), (1, 6, 0), "{status:?}");
    let parked = subs.parked("orders", None, 100).await.unwrap();
    assert_eq!(parked.iter().map(|p| (p.position, p.attempts)).collect::<Vec<_>>(), vec![(2, 3)]);
    assert!(subs.fetch("orders", 10, Duration::ZERO).await.unwrap().events.is_empty(), "parked: not delivered");
    assert_eq!(subs.retry_parked("orders", 100).await.unwrap(), vec![2]);
    let fetched = subs.fetch("orders", 10, Duration::ZERO).await.unwrap();
    let got: Vec<(u64, u32)> = fetched.events.iter().map(|d| (d.event.position.0, d.attempt)).collect();
    assert_eq!(got, vec![(2, 1)], "retried with its attempts reset");
    assert!(subs.parked("orders", None, 100).await.unwrap().is_empty());
    assert_eq!(subs.status("orders").await.unwrap().position, 2, "owed again: the position went back to it");
}

#[tokio::test]
async fn bad_requests_are_typed_errors_and_write_nothing() {
    use redress_subscriptions::SubscriptionError as E;
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let ledgers = Arc::new(SledLedgers::open(&dir.path().join("subscriptions")).unwrap());
    let subs = service(&store, ledgers, Config::default());
    let far = json!({"webhook": {"url": "http://10.1.2.3/hook", "secret": "0123456789abcdef"}});
    assert!(matches!(subs.put("orders", &far).await, Err(E::HostNotAllowed { .. })));
    assert!(matches!(subs.put("Bad Name", &json!({})).await, Err(E::Invalid { field: "name", .. })));
    assert!(subs.names().await.unwrap().is_empty(), "nothing written");
    assert!(matches!(subs.fetch("missing", 1, Duration::ZERO).await, Err(E::NotFound { .. })));
    subs.put("orders", &json!({})).await.unwrap();
    assert!(matches!(subs.fetch("orders", 1_001, Duration::ZERO).await, Err(E::LimitExceeded { .. })));
    assert!(matches!(subs.fetch("orders", 0, Duration::ZERO).await, Err(E::Invalid { field: "max", .. })));
    assert!(matches!(subs.ack("orders", vec![0; 1_001]).await, Err(E::LimitExceeded { .. })));
    for n in 1..64 {
        subs.put(&format!("s{n}"), &json!({})).await.unwrap();
    }
    assert!(matches!(subs.put("one-too-many", &json!({})).await, Err(E::LimitExceeded { .. })));
    assert_eq!(subs.names().await.unwrap().len(), 64);
    assert!(subs.delete("orders").await.unwrap());
    assert!(!subs.delete("orders").await.unwrap());
}

/// What a webhook receiver got: one entry per POST.
#[derive(Debug, Clone)]
struct Post {
    body: Vec<u8>,
    signature: String,
    delivery_id: String,
    answered: u16,
}

/// A receiver on 127.0.0.1 that answers 500 to the first `fail_first` POSTs and 200 after.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Post>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
    let seen = Arc::clone(&posts);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let posts = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    let Some(head_end) = read_until_head(&mut socket, &mut buffer).await else { return };
                    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
                    let header = |name: &str| {
                        head.lines()
                            .find_map(|line| {
                                let (k, v) = line.split_once(':')?;
                                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                            })
                            .unwrap_or_default()
                    };
                    let length: usize = header("content-length").parse().unwrap_or(0);
                    while buffer.len() < head_end + 4 + length {
                        let mut chunk = [0u8; 65536];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = buffer[head_end + 4..head_end + 4 + length].to_vec();
                    buffer.drain(..head_end + 4 + length);
                    let answered = {
                        let mut posts = posts.lock().unwrap();
                        let answered = if posts.len() < fail_first { 500 } else { 200 };
                        posts.push(Post {
                            body,
                            signature: header("x-redress-signature"),
                            delivery_id: header("x-redress-delivery"),
                            answered,
                        });
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

async fn read_until_head(socket: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end);
        }
        let mut chunk = [0u8; 65536];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// HMAC-SHA256 (RFC 2104) written out over plain SHA-256, independent of the `hmac` crate the server uses.
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

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

const SECRET: &str = "s3cret-0123456789-abcdef";

#[tokio::test]
async fn a_receiver_failing_the_first_deliveries_gets_every_event_in_order_each_signature_verifying() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let ledgers = Arc::new(SledLedgers::open(&dir.path().join("subscriptions")).unwrap());
    let config = Config::default().with_backoff(Duration::from_millis(10), Duration::from_millis(50));
    let subs = service(&store, ledgers, config);
    let (url, posts) = receiver(4).await;
    append_complaints(&*store, 0, 100).await;
    let definition = json!({"event_types": ["complaint_received"], "webhook": {"url": url, "secret": SECRET}});
    subs.put("hooked", &definition).await.unwrap();
    // More events while the first deliveries fail.
    append_complaints(&*store, 100, 100).await;
    let delivered_once = |posts: &[Post]| {
        let mut ids = BTreeSet::new();
        for post in posts.iter().filter(|p| p.answered == 200) {
            let body: Value = serde_json::from_slice(&post.body).unwrap();
            for event in body["events"].as_array().unwrap() {
                ids.insert(event["event_id"].as_str().unwrap().to_owned());
            }
        }
        ids.len()
    };
    wait_for("200 events acknowledged by the receiver", || delivered_once(&posts.lock().unwrap()) == 200).await;
    let posts = posts.lock().unwrap().clone();
    assert!(posts.iter().take(4).all(|p| p.answered == 500) && posts.len() > 4);
    // Every POST verifies; a consumer deduplicating by event_id sees positions strictly increasing.
    let mut seen = HashMap::new();
    let mut order = Vec::new();
    let mut delivery_ids = BTreeSet::new();
    for post in &posts {
        assert_eq!(post.signature, format!("sha256={}", independent_hmac_hex(SECRET.as_bytes(), &post.body)));
        assert!(delivery_ids.insert(post.delivery_id.clone()), "each POST has its own delivery id");
        assert!(!String::from_utf8_lossy(&post.body).contains(SECRET), "the secret is never sent");
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(body["subscription"], "hooked");
        let positions: Vec<u64> =
            body["events"].as_array().unwrap().iter().map(|e| e["position"].as_u64().unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "a batch is in log order");
        if post.answered == 200 {
            for (event, position) in body["events"].as_array().unwrap().iter().zip(positions) {
                if seen.insert(event["event_id"].as_str().unwrap().to_owned(), position).is_none() {
                    order.push(position);
                }
            }
        }
    }
    assert_eq!(order, admitted_positions(200), "every event, at least once, in log order");
    let mut status = subs.status("hooked").await.unwrap();
    for _ in 0..100 {
        if status.delivered >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // the receiver answered; the ack follows
        status = subs.status("hooked").await.unwrap();
    }
    // 399 (a progress_updated) may not have been looked at yet: the position is past every delivered one.
    assert!(status.position >= 399 && status.pending == 0 && status.last_error.is_none(), "{status:?}");
    assert!(status.latency_ms.is_some());
    let metrics = subs.metrics_text().await;
    // The lag may drop from 1 to 0 meanwhile (the last, filtered-out event looked at).
    let lag = "redress_subscription_lag{subscription=\"hooked\"} ";
    assert!(
        metrics.contains(lag) && metrics.contains("redress_subscription_parked{subscription=\"hooked\"} 0"),
        "{metrics}"
    );
    assert!(!metrics.contains(SECRET) && !format!("{:?}", subs.status("hooked").await.unwrap()).contains(SECRET));
    subs.stop();
}

async fn postgres(schema: &str) -> PostgresStore {
    let url =
        std::env::var("REDRESS_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    PostgresStore::connect(&url, schema).await.unwrap_or_else(|e| {
        panic!("cannot open a PostgreSQL store at {url} (the PostgreSQL tests need a running server): {e}")
    })
}

#[tokio::test]
async fn two_servers_on_postgres_split_the_events_and_never_lease_one_event_twice() {
    let schema = format!("redress_t_{}", uuid::Uuid::new_v4().simple());
    // Two "servers": each its own connection pool, store and subscriptions over one schema.
    let (a, b) = (postgres(&schema).await, postgres(&schema).await);
    let ledgers_a: Arc<dyn Ledgers> = Arc::new(PostgresLedgers::open(&a).await.unwrap());
    let ledgers_b: Arc<dyn Ledgers> = Arc::new(PostgresLedgers::open(&b).await.unwrap());
    let (a, b): (Arc<dyn EventStore>, Arc<dyn EventStore>) = (Arc::new(a), Arc::new(b));
    let servers = [service(&a, ledgers_a, Config::default()), service(&b, ledgers_b, Config::default())];
    servers[0].put("orders", &json!({"event_types": ["complaint_received"]})).await.unwrap();
    append_complaints(&*a, 0, 60).await;
    let delivered = compete(&servers, 4, 60).await;
    let mut sorted = delivered.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, admitted_positions(60), "each event to exactly one consumer on one server");
    let status = servers[1].status("orders").await.unwrap();
    assert_eq!((status.position, status.pending), (120, 0));
    // A poisoned event parks on one server and is retried from the other.
    servers[0].put("poison", &json!({"max_attempts": 1})).await.unwrap();
    let fetched = servers[0].fetch("poison", 1, Duration::ZERO).await.unwrap();
    servers[0].nack("poison", vec![fetched.events[0].event.position.0], false, None).await.unwrap();
    assert_eq!(servers[1].parked("poison", None, 10).await.unwrap().len(), 1);
    assert_eq!(servers[1].retry_parked("poison", 10).await.unwrap(), vec![0]);
    a.close().await.unwrap();
    b.close().await.unwrap();
    let url =
        std::env::var("REDRESS_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if let Ok((client, connection)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        tokio::spawn(connection);
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    }
}
