//! Crash test through the HTTP server: `redress serve` over a sled dir, clients appending over HTTP, SIGKILL
//! at a random moment, restart on the same dir, then check through the restarted server that every append
//! answered `201` is there (same ids, same stream, versions and positions), that positions are gapless, that
//! no batch is partial, that the log only grew, that `GET /audit/verify` is ok, and that the projections
//! recovered from their checkpoints and agree with the log. The restarted server is the next round's victim,
//! so recovery also runs on top of earlier recoveries. A last round stops the server with SIGTERM under the
//! same load: it must exit 0, and the same checks hold.
//!
//! The seed is printed; `REDRESS_SERVER_CRASH_SEED=<seed>` replays the same kill delays and client choices
//! (the interleaving of the clients is up to the scheduler).

use crate::cli::ServerProcess;
use redress_schemas::rng::{mix, Rng};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kill/restart cycles in one directory.
const ROUNDS_COUNT: u64 = 6;
/// Concurrent HTTP clients.
const CLIENTS_COUNT: u64 = 8;
/// Complaint streams `complaint-http-crash-0` ..; few enough that clients collide on them.
const STREAMS_COUNT: u64 = 24;
/// Customers `K-0` .. of the complaints (stream n is customer n mod this).
const CUSTOMERS_COUNT: u64 = 7;
/// How long the restarted server's projections may take to catch up with the log.
const PROJECTIONS_CATCH_UP: Duration = Duration::from_secs(20);
/// The most `progress_updated` events one append carries.
const BATCH_EVENTS_MAX: u64 = 4;
/// How long the clients append before the kill, from the moment the server listens.
const KILL_DELAY_MS_MIN: u64 = 150;
const KILL_DELAY_MS_MAX: u64 = 900;
/// A kill this soon after the last 201 counts as a kill "while acks were flowing".
const ACK_FLOWING_WINDOW: Duration = Duration::from_millis(50);
/// Fewer 201s over the whole test than this, and it proved nothing.
const ACKS_TOTAL_MIN: usize = 100;
/// A request the server does not answer within this is a hang, not a crash.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

const PUBLISHER: &str = "crash-publisher-token-0123456789";
const AUDITOR: &str = "crash-auditor-token-0123456789";

fn crash_seed() -> u64 {
    match std::env::var("REDRESS_SERVER_CRASH_SEED") {
        Ok(text) => text.trim().parse().unwrap_or_else(|e| panic!("REDRESS_SERVER_CRASH_SEED={text:?}: {e}")),
        Err(_) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
            mix(now.as_nanos() as u64)
        }
    }
}

fn stream_name(stream: u64) -> String {
    format!("complaint-http-crash-{stream}")
}

/// An append the server answered `201`: it promised these events are durable at these places.
#[derive(Debug, Clone)]
struct Ack {
    stream: String,
    first_version: u64,
    first_position: u64,
    ids: Vec<String>,
}

/// What the clients of one round share.
struct Shared {
    base: String,
    client: Client,
    /// Each stream's last version as the clients believe it; only ever moves forward.
    versions: Vec<Mutex<Option<u64>>>,
    acks: Mutex<Vec<Ack>>,
    last_ack_at: Mutex<Option<Instant>>,
    /// Answers that are neither 201 nor a 409 for a stale version: each one is a failure of the test.
    unexpected: Mutex<Vec<String>>,
}

impl Shared {
    fn believe(&self, stream: u64, version: Option<u64>) {
        let mut known = self.versions[stream as usize].lock().expect("versions lock");
        if version > *known {
            *known = version;
        }
    }
}

/// One append body: a `complaint_received` opening the stream, or 1..=BATCH_EVENTS_MAX progress updates at
/// the stream's believed version. Every event carries `batch` and `batch_size` metadata.
fn append_body(prng: &mut Rng, stream: u64, known: Option<u64>) -> (Value, Vec<String>) {
    let batch = prng.uuid().to_string();
    let (expected, events): (Value, Vec<Value>) = match known {
        None => {
            let id = prng.uuid().to_string();
            let received = json!({"event_id": id, "event_type": "complaint_received",
                "metadata": {"batch": batch, "batch_size": "1", "actor": "crash-client"},
                "data": {"complaint_id": format!("http-crash-{stream}"), "customer_id": format!("K-{}", stream % CUSTOMERS_COUNT),
                    "channel": "web", "category": "billing", "severity": "normal",
                    "description": "账单重复扣款 (HTTP crash test)"}});
            (json!("no_stream"), vec![received])
        }
        Some(version) => {
            let size = prng.between(1, BATCH_EVENTS_MAX);
            let events = (0..size)
                .map(|i| {
                    json!({"event_id": prng.uuid().to_string(), "event_type": "progress_updated",
                        "metadata": {"batch": batch, "batch_size": size.to_string()},
                        "data": {"note": format!("step {} of {size} of batch {batch}", i + 1),
                            "customer_informed": i % 2 == 0}})
                })
                .collect();
            (json!(version), events)
        }
    };
    let ids = events.iter().map(|e| e["event_id"].as_str().expect("ids are set").to_owned()).collect();
    (json!({"expected_version": expected, "events": events}), ids)
}

/// Appends until the server stops answering (it was killed).
async fn append_until_the_server_dies(shared: Arc<Shared>, mut prng: Rng) {
    loop {
        let stream = prng.between(0, STREAMS_COUNT - 1);
        let known = *shared.versions[stream as usize].lock().expect("versions lock");
        let (body, ids) = append_body(&mut prng, stream, known);
        let name = stream_name(stream);
        let url = format!("{}/streams/{name}/events", shared.base);
        let Ok(response) = shared.client.post(&url).bearer_auth(PUBLISHER).json(&body).send().await else {
            return;
        };
        let status = response.status();
        let Ok(answer) = response.json::<Value>().await else {
            if status == StatusCode::CREATED {
                // The status line came, the body did not: the server died in between. Never seen; a 201 is
                // only sent once the events are durable, so it is still checked, by id.
                shared.acks.lock().expect("acks lock").push(Ack {
                    stream: name,
                    first_version: u64::MAX,
                    first_position: u64::MAX,
                    ids,
                });
            }
            return;
        };
        match status {
            StatusCode::CREATED => {
                let number =
                    |key: &str| answer[key].as_u64().unwrap_or_else(|| panic!("201 without a numeric {key}: {answer}"));
                let ack = Ack {
                    stream: name,
                    first_version: number("first_version"),
                    first_position: number("first_position"),
                    ids,
                };
                let count = ack.ids.len() as u64;
                assert_eq!(number("last_version") + 1, ack.first_version + count, "201 versions: {answer}");
                assert_eq!(number("last_position") + 1, ack.first_position + count, "201 positions: {answer}");
                *shared.last_ack_at.lock().expect("ack time lock") = Some(Instant::now());
                shared.acks.lock().expect("acks lock").push(ack);
                shared.believe(stream, Some(number("last_version")));
            }
            StatusCode::CONFLICT if answer["error"] == "wrong_expected_version" => {
                // Another client got there first: learn where the stream is and go on.
                shared.believe(stream, answer["current_version"].as_u64());
            }
            other => {
                shared.unexpected.lock().expect("unexpected lock").push(format!("{other} for {name}: {answer}"));
                return;
            }
        }
    }
}

/// Every envelope of `$all`, through `GET /all`.
async fn read_log(client: &Client, base: &str, context: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut from = 0;
    loop {
        let response = client
            .get(format!("{base}/all?from_position={from}&limit=10000"))
            .bearer_auth(AUDITOR)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{context}: GET /all: {e}"));
        assert_eq!(response.status(), StatusCode::OK, "{context}: GET /all from {from}");
        let page: Value = response.json().await.unwrap_or_else(|e| panic!("{context}: GET /all body: {e}"));
        events.extend(page["events"].as_array().unwrap_or_else(|| panic!("{context}: a page: {page}")).clone());
        match page["next"].as_u64() {
            Some(next) => from = next,
            None => return events,
        }
    }
}

/// What the previous round's check saw: the log's ids and hashes in position order.
struct Seen {
    ids: Vec<String>,
    hashes: Vec<String>,
    /// Each stream's last version.
    versions: Vec<Option<u64>>,
}

impl Seen {
    fn empty() -> Seen {
        Seen { ids: Vec::new(), hashes: Vec::new(), versions: vec![None; STREAMS_COUNT as usize] }
    }
}

/// Checks the restarted server's log against the acks; returns what it saw.
async fn check(client: &Client, base: &str, acks: &[Ack], previous: &Seen, context: &str) -> Seen {
    let log = read_log(client, base, context).await;

    // Positions are gapless from 0.
    for (index, event) in log.iter().enumerate() {
        assert_eq!(event["position"].as_u64(), Some(index as u64), "{context}: a gap or reorder at {index}: {event}");
    }
    let text = |event: &Value, key: &str| event[key].as_str().map(str::to_owned).unwrap_or_default();

    // 1. Every 201 is there: the same ids, in order, at the answered positions, stream and versions.
    let positions: HashMap<String, usize> = log.iter().enumerate().map(|(i, e)| (text(e, "event_id"), i)).collect();
    assert_eq!(positions.len(), log.len(), "{context}: an event id appears twice in the log");
    for ack in acks {
        if ack.first_position == u64::MAX {
            assert!(ack.ids.iter().all(|id| positions.contains_key(id)), "{context}: ids of a 201 {ack:?} are lost");
            continue;
        }
        for (offset, id) in ack.ids.iter().enumerate() {
            let position = ack.first_position as usize + offset;
            let event = log.get(position).unwrap_or_else(|| {
                panic!("{context}: answered 201 at position {position} ({ack:?}) but the log ends at {}", log.len())
            });
            assert_eq!(&text(event, "event_id"), id, "{context}: position {position} of {ack:?}");
            assert_eq!(text(event, "stream"), ack.stream, "{context}: the stream at position {position}");
            assert_eq!(
                event["version"].as_u64(),
                Some(ack.first_version + offset as u64),
                "{context}: the version at position {position}"
            );
        }
    }

    // 2. No partial batch: each batch has all of its events, at consecutive positions, in one stream.
    let mut batches: HashMap<String, (u64, Vec<u64>)> = HashMap::new();
    for event in &log {
        let metadata = &event["metadata"];
        let batch = metadata["batch"].as_str().unwrap_or_else(|| panic!("{context}: no batch in {event}"));
        let size: u64 = metadata["batch_size"].as_str().and_then(|s| s.parse().ok()).expect("a numeric batch_size");
        let entry = batches.entry(batch.to_owned()).or_insert((size, Vec::new()));
        entry.1.push(event["position"].as_u64().expect("a position"));
    }
    for (batch, (size, positions)) in &batches {
        assert_eq!(positions.len() as u64, *size, "{context}: batch {batch} is partial: {positions:?}");
        assert!(positions.windows(2).all(|w| w[1] == w[0] + 1), "{context}: batch {batch} is split: {positions:?}");
    }

    // 3. The log only grew: what the previous round saw is still there, unchanged.
    assert!(log.len() >= previous.ids.len(), "{context}: the log shrank from {} to {}", previous.ids.len(), log.len());
    for (position, (id, hash)) in previous.ids.iter().zip(&previous.hashes).enumerate() {
        let now = &log[position];
        assert!(
            text(now, "event_id") == *id && text(now, "hash") == *hash,
            "{context}: position {position} held {id} ({hash}) and now holds {now}"
        );
    }

    // 4. The chain verifies up to the head, through the API.
    let verify: Value = client
        .get(format!("{base}/audit/verify"))
        .bearer_auth(AUDITOR)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{context}: GET /audit/verify: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{context}: GET /audit/verify body: {e}"));
    assert_eq!(verify["ok"], json!(true), "{context}: the chain is broken: {verify}");
    assert_eq!(verify["events"].as_u64(), Some(log.len() as u64), "{context}: verify counted {verify}");
    match log.last() {
        Some(last) => {
            assert_eq!(verify["head_position"], last["position"], "{context}: verify's head vs $all");
            assert_eq!(verify["head_hash"], last["hash"], "{context}: verify's head hash vs $all");
        }
        None => assert_eq!(verify["head_position"], Value::Null, "{context}: an empty log has no head"),
    }

    // 5. The projections recovered too.
    check_projections(client, base, &log, context).await;

    let mut versions = vec![None; STREAMS_COUNT as usize];
    for event in &log {
        let stream = text(event, "stream");
        let index: usize = stream.strip_prefix("complaint-http-crash-").and_then(|n| n.parse().ok()).expect("ours");
        versions[index] = event["version"].as_u64();
    }
    Seen {
        ids: log.iter().map(|e| text(e, "event_id")).collect(),
        hashes: log.iter().map(|e| text(e, "hash")).collect(),
        versions,
    }
}

/// The restarted server's projections recover from their checkpoints (written by a server that was killed)
/// and catch up with the log: every one running with no lag, and the answers agree with the log. The clients
/// never close a complaint, so every complaint stream in the log is an open complaint, once, and each customer
/// has exactly the complaints whose streams the log holds (a `complaint_received` applied twice or lost after
/// the kill would show here).
async fn check_projections(client: &Client, base: &str, log: &[Value], context: &str) {
    let get = |path: String| async move {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(AUDITOR)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{context}: GET {path}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{context}: GET {path} body: {e}"));
        (status, body)
    };
    let deadline = Instant::now() + PROJECTIONS_CATCH_UP;
    loop {
        let (status, body) = get("/projections".into()).await;
        assert_eq!(status, StatusCode::OK, "{context}: GET /projections: {body}");
        let statuses = body["projections"].as_array().unwrap_or_else(|| panic!("{context}: {body}")).clone();
        assert!(!statuses.is_empty(), "{context}: no projection runs: {body}");
        assert!(
            statuses.iter().all(|s| s["state"] != "failed"),
            "{context}: a projection failed after the restart: {body}"
        );
        if statuses.iter().all(|s| s["lag"] == 0 && s["state"] == "running") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{context}: projections not caught up within {PROJECTIONS_CATCH_UP:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut complaints: Vec<String> = log
        .iter()
        .filter(|e| e["event_type"] == "complaint_received")
        .map(|e| e["data"]["complaint_id"].as_str().expect("a complaint id").to_owned())
        .collect();
    complaints.sort();
    let (status, open) = get("/projections/open-complaints".into()).await;
    assert_eq!(status, StatusCode::OK, "{context}: open-complaints: {open}");
    let mut listed: Vec<String> = open["complaints"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: {open}"))
        .iter()
        .map(|c| c["complaint_id"].as_str().expect("a complaint id").to_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, complaints, "{context}: open-complaints after the restart vs the log's complaints");
    for customer in 0..CUSTOMERS_COUNT {
        let expected = (0..STREAMS_COUNT)
            .filter(|s| s % CUSTOMERS_COUNT == customer && complaints.contains(&format!("http-crash-{s}")))
            .count();
        let (status, history) = get(format!("/customers/K-{customer}/history")).await;
        if expected == 0 {
            assert_eq!(status, StatusCode::NOT_FOUND, "{context}: K-{customer} has no complaint: {history}");
        } else {
            assert_eq!(status, StatusCode::OK, "{context}: K-{customer}: {history}");
            assert_eq!(history["complaint_count"], json!(expected), "{context}: K-{customer}'s history: {history}");
        }
    }
}

fn start_server(dir: &Path) -> ServerProcess {
    ServerProcess::start(dir, Some(&format!("publisher:{PUBLISHER},auditor:{AUDITOR}")))
}

/// How a round ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    /// SIGKILL: nothing is flushed, nothing is finished.
    Kill,
    /// SIGTERM: the server must finish what is in flight and exit 0.
    Terminate,
}

/// One round: clients append to `server` until it is stopped `how` after `delay`; the server is restarted
/// on `dir` and checked. Returns the restarted server, the acks and whether 201s were flowing at the stop.
async fn round(
    server: ServerProcess,
    dir: &Path,
    seed: u64,
    round: u64,
    delay: Duration,
    how: Stop,
    previous: &mut Seen,
) -> (ServerProcess, usize, bool) {
    let mut server = server;
    let context = format!("round {round} ({how:?}) of seed {seed} (replay with REDRESS_SERVER_CRASH_SEED={seed})");
    let client = Client::builder().timeout(REQUEST_TIMEOUT).build().expect("a client");
    let versions = previous.versions.iter().copied().map(Mutex::new).collect();
    let shared = Arc::new(Shared {
        base: server.base.clone(),
        client,
        versions,
        acks: Mutex::new(Vec::new()),
        last_ack_at: Mutex::new(None),
        unexpected: Mutex::new(Vec::new()),
    });
    let clients: Vec<_> = (0..CLIENTS_COUNT)
        .map(|c| {
            let prng = Rng::new(mix(seed ^ mix(round * CLIENTS_COUNT + c + 1)));
            tokio::spawn(append_until_the_server_dies(Arc::clone(&shared), prng))
        })
        .collect();
    tokio::time::sleep(delay).await;

    assert!(server.child.try_wait().expect("try_wait").is_none(), "{context}: the server exited by itself");
    let flowing =
        shared.last_ack_at.lock().expect("ack time lock").is_some_and(|at| at.elapsed() <= ACK_FLOWING_WINDOW);
    match how {
        Stop::Kill => {
            server.child.kill().unwrap_or_else(|e| panic!("{context}: SIGKILL the server: {e}"));
            let status = server.child.wait().unwrap_or_else(|e| panic!("{context}: wait for the server: {e}"));
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "{context}: the server should die of SIGKILL, got {status}");
        }
        Stop::Terminate => {
            crate::cli::signal(&server.child, "TERM");
            let mut child = server;
            let (child_back, status) = tokio::task::spawn_blocking(move || {
                let status = crate::cli::wait_for_exit(&mut child.child, REQUEST_TIMEOUT);
                (child, status)
            })
            .await
            .expect("wait for the server");
            server = child_back;
            let status =
                status.unwrap_or_else(|| panic!("{context}: no exit within {REQUEST_TIMEOUT:?} of SIGTERM under load"));
            assert_eq!(
                status.code(),
                Some(0),
                "{context}: SIGTERM under load exits 0, got {status}\n{}",
                server.stderr()
            );
        }
    }
    for client in clients {
        tokio::time::timeout(REQUEST_TIMEOUT * 2, client)
            .await
            .unwrap_or_else(|_| panic!("{context}: a client still runs after the stop"))
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    }
    let unexpected = shared.unexpected.lock().expect("unexpected lock").clone();
    assert!(unexpected.is_empty(), "{context}: answers other than 201 and 409: {unexpected:?}\n{}", server.stderr());
    let acks = shared.acks.lock().expect("acks lock").clone();

    let path = dir.to_path_buf();
    let server = tokio::task::spawn_blocking(move || start_server(&path)).await.expect("restart the server");
    let client = Client::builder().timeout(REQUEST_TIMEOUT).build().expect("a client");
    *previous = check(&client, &server.base, &acks, previous, &context).await;
    eprintln!(
        "round {round}: {how:?} after {delay:?}{}, {} appends answered 201, log holds {} events",
        if flowing { " while answering" } else { "" },
        acks.len(),
        previous.ids.len()
    );
    (server, acks.len(), flowing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_append_loses_no_answered_append_and_sigterm_under_load_exits_0() {
    let seed = crash_seed();
    eprintln!("server crash test seed: {seed} (replay with REDRESS_SERVER_CRASH_SEED={seed})");
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut prng = Rng::new(seed);
    let mut previous = Seen::empty();
    let mut acks_total = 0;
    let mut rounds_killed_while_flowing = 0;
    let path = dir.path().to_path_buf();
    let mut server = tokio::task::spawn_blocking(move || start_server(&path)).await.expect("start the server");
    for number in 0..=ROUNDS_COUNT {
        // SIGKILL rounds, then one SIGTERM round under the same load.
        let how = if number < ROUNDS_COUNT { Stop::Kill } else { Stop::Terminate };
        let delay = Duration::from_millis(prng.between(KILL_DELAY_MS_MIN, KILL_DELAY_MS_MAX));
        let (restarted, acks, flowing) = round(server, dir.path(), seed, number, delay, how, &mut previous).await;
        server = restarted;
        acks_total += acks;
        rounds_killed_while_flowing += usize::from(flowing && how == Stop::Kill);
    }
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.expect("stop the server");
    assert_eq!(status.code(), Some(0), "the last server stops cleanly on SIGTERM");
    eprintln!(
        "server crash test seed {seed}: {ROUNDS_COUNT} SIGKILL rounds + 1 SIGTERM round, {acks_total} appends answered \
         201, {rounds_killed_while_flowing} kills while answering, {} events, {:?}",
        previous.ids.len(),
        started.elapsed()
    );
    assert!(
        acks_total > ACKS_TOTAL_MIN,
        "seed {seed}: only {acks_total} appends answered 201: the test proved nothing"
    );
    assert!(rounds_killed_while_flowing > 0, "seed {seed}: no round was killed while 201s were flowing");
}
