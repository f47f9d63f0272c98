//! The subscriptions over real stores: sled files in temp directories, the PostgreSQL server at
//! 127.0.0.1:5432 (`REDRESS_TEST_DATABASE_URL`; a missing server fails these tests, never skips them).
//! Webhook delivery is tested through `redress serve` (the workspace's tests/subscriptions.rs).

use redress_engine::{EventStore, ExpectedVersion, PostgresStore, SledStore};
use redress_schemas::{ProposedEvent, StreamName};
use redress_subscriptions::{Config, Ledgers, PostgresLedgers, SledLedgers, Subscriptions};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
                tokio::time::sleep(Duration::from_millis(redress_schemas::rng::Rng::unseeded().between(0, 2))).await;
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

#[tokio::test]
async fn without_webhook_delivery_put_and_start_post_nothing_where_a_delivering_service_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    append_complaints(&*store, 0, 3).await;
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", receiver.local_addr().unwrap());
    let ledgers: Arc<dyn Ledgers> = Arc::new(SledLedgers::open(&dir.path().join("subscriptions")).unwrap());
    let editing = service(&store, Arc::clone(&ledgers), Config::default().without_webhook_delivery());
    let hook = json!({"webhook": {"url": url, "secret": "0123456789abcdef-secret"}});
    assert!(editing.put("hooked", &hook).await.unwrap());
    editing.start().await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(700), receiver.accept()).await;
    assert!(quiet.is_err(), "a service without webhook delivery connected to the receiver");
    assert_eq!(editing.status("hooked").await.unwrap().position, 0, "nothing delivered, nothing acked");
    // The same subscription under a delivering service: the receiver is called, so the silence above
    // was the configuration's doing, not the test's.
    let delivering = service(&store, ledgers, Config::default());
    delivering.start().await.unwrap();
    let called = tokio::time::timeout(Duration::from_secs(10), receiver.accept()).await;
    assert!(matches!(called, Ok(Ok(_))), "a delivering service calls the receiver: {called:?}");
    delivering.stop();
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
