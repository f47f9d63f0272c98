//! The figures of BENCHMARKS.md "Subscriptions (issue 12)", over a sled store in a temp directory and
//! a webhook receiver on 127.0.0.1 that answers 200 at once:
//! 1. webhook throughput while an appender writes 500-event appends as fast as it can, then the same
//!    events drained again as a backlog by a new subscription;
//! 2. append-to-webhook-delivery latency at 1,000 single-event appends per second;
//! 3. pull fetch+ack throughput with 4 consumers.
//!
//! `cargo run -p redress-subscriptions --example subscriptions_bench --profile test [seconds]`

use redress_engine::{EventStore, ExpectedVersion, SledStore};
use redress_schemas::{ProposedEvent, StreamName, Timestamp};
use redress_subscriptions::{Config, SledLedgers, Subscriptions};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn stream(n: u64) -> StreamName {
    StreamName::new(format!("complaint-B{n}")).expect("a stream name")
}

/// A complaint's receipt and `updates` progress updates.
fn complaint(n: u64, updates: usize) -> Vec<ProposedEvent> {
    let to = stream(n);
    let data = json!({"complaint_id": format!("B{n}"), "customer_id": "K-1", "channel": "hotline",
        "category": "delivery", "severity": "high", "description": "屏幕碎了"});
    let mut events =
        vec![ProposedEvent::from_json(json!({"event_type": "complaint_received", "data": data}), &to).expect("valid")];
    for _ in 0..updates {
        let update = json!({"event_type": "progress_updated", "data": {"note": "n", "customer_informed": false}});
        events.push(ProposedEvent::from_json(update, &to).expect("valid"));
    }
    events
}

/// Answers every POST 200 at once; records each event's delivery latency (now − recorded_at), µs.
async fn receiver(latencies_us: Arc<Mutex<Vec<i64>>>, events: Arc<AtomicU64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (latencies_us, events) = (Arc::clone(&latencies_us), Arc::clone(&events));
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = vec![0u8; 1 << 16];
                loop {
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buffer.len() < end + 4 + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    }
                    let now = Timestamp::now().unix_nanos();
                    let body: Value = serde_json::from_slice(&buffer[end + 4..end + 4 + length]).unwrap_or(Value::Null);
                    buffer.drain(..end + 4 + length);
                    let batch = body["events"].as_array().cloned().unwrap_or_default();
                    events.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    {
                        let mut latencies = latencies_us.lock().expect("lock");
                        for event in batch {
                            if let Some(at) = event["recorded_at"].as_str().and_then(|t| Timestamp::parse(t).ok()) {
                                latencies.push((now - at.unix_nanos()) / 1_000);
                            }
                        }
                    }
                    if socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn percentile(sorted: &[i64], q: f64) -> i64 {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("a temp dir");
    let store: Arc<dyn EventStore> = Arc::new(SledStore::open(dir.path().join("store")).expect("store"));
    let ledgers = Arc::new(SledLedgers::open(&dir.path().join("subscriptions")).expect("ledgers"));
    let subs = Subscriptions::new(Arc::clone(&store), ledgers, Config::default()).expect("subscriptions");

    // 1. Webhook throughput beside a full-speed appender.
    let (latencies, delivered) = (Arc::default(), Arc::new(AtomicU64::new(0)));
    let url = receiver(Arc::clone(&latencies), Arc::clone(&delivered)).await;
    subs.put("throughput", &json!({"webhook": {"url": url, "secret": "bench-secret-0123456789"}})).await.expect("put");
    let started = Instant::now();
    let mut appended = 0u64;
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        store.append(&stream(n), ExpectedVersion::Any, complaint(n, 499)).await.expect("append");
        appended += 500;
        n += 1;
    }
    let append_elapsed = started.elapsed();
    while delivered.load(Ordering::Relaxed) < appended && started.elapsed() < Duration::from_secs(seconds * 10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let got = delivered.load(Ordering::Relaxed);
    println!(
        "webhook throughput: {got} of {appended} events delivered in {:.2} s = {:.0} events/s (appends: {:.0} events/s over {:.2} s)",
        elapsed.as_secs_f64(),
        got as f64 / elapsed.as_secs_f64(),
        appended as f64 / append_elapsed.as_secs_f64(),
        append_elapsed.as_secs_f64()
    );
    subs.delete("throughput").await.expect("delete");
    // The same events again as a backlog from the beginning: delivery capacity, not the append rate.
    delivered.store(0, Ordering::Relaxed);
    let started = Instant::now();
    subs.put("backlog", &json!({"webhook": {"url": url, "secret": "bench-secret-0123456789"}})).await.expect("put");
    while delivered.load(Ordering::Relaxed) < appended && started.elapsed() < Duration::from_secs(seconds * 10) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "webhook backlog drain: {} events in {:.2} s = {:.0} events/s (no appends meanwhile)",
        delivered.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        delivered.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
    );
    subs.delete("backlog").await.expect("delete");

    // 2. Latency at 1,000 appends/s, one event per append.
    latencies.lock().expect("lock").clear();
    delivered.store(0, Ordering::Relaxed);
    subs.put("latency", &json!({"start": "now", "webhook": {"url": url, "secret": "bench-secret-0123456789"}}))
        .await
        .expect("put");
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let target = 1_000 * seconds;
    let appended_count = Arc::new(AtomicU64::new(0));
    let mut appenders = tokio::task::JoinSet::new();
    for i in 0..target {
        ticker.tick().await;
        let (store, count) = (Arc::clone(&store), Arc::clone(&appended_count));
        // Each append on its own task, so a slow fsync does not lower the offered rate.
        appenders.spawn(async move {
            let m = 1_000_000 + i;
            store.append(&stream(m), ExpectedVersion::Any, complaint(m, 0)).await.expect("append");
            count.fetch_add(1, Ordering::Relaxed);
        });
    }
    while appenders.join_next().await.is_some() {}
    let append_elapsed = started.elapsed();
    while delivered.load(Ordering::Relaxed) < target && started.elapsed() < Duration::from_secs(seconds * 10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut sorted = latencies.lock().expect("lock").clone();
    sorted.sort_unstable();
    if !sorted.is_empty() {
        println!(
            "append->delivery: {} events at {:.0} appends/s offered 1000: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            sorted.len(),
            appended_count.load(Ordering::Relaxed) as f64 / append_elapsed.as_secs_f64(),
            percentile(&sorted, 0.5) as f64 / 1000.0,
            percentile(&sorted, 0.99) as f64 / 1000.0,
            sorted[sorted.len() - 1] as f64 / 1000.0
        );
    }
    subs.delete("latency").await.expect("delete");

    // 3. Pull: 4 consumers fetch 100 and ack, over everything appended so far.
    subs.put("pull", &json!({})).await.expect("put");
    let total = store.head().await.expect("head").map_or(0, |h| h.position.0 + 1);
    let acked = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut consumers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (subs, acked) = (subs.clone(), Arc::clone(&acked));
        consumers.spawn(async move {
            while acked.load(Ordering::Relaxed) < total {
                let fetched = subs.fetch("pull", 100, Duration::from_millis(50)).await.expect("fetch");
                let positions: Vec<u64> = fetched.events.iter().map(|d| d.event.position.0).collect();
                let n = subs.ack("pull", positions).await.expect("ack").len() as u64;
                acked.fetch_add(n, Ordering::Relaxed);
            }
        });
    }
    while consumers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    println!(
        "pull fetch+ack, 4 consumers, max 100: {total} events in {:.2} s = {:.0} events/s (no appends meanwhile)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    subs.stop();
}
