//! The crash test's victim: appends to a sled store forever and prints every acknowledged append.
//!
//! `redress-crash-writer <data-dir> <seed> [<appends>]`
//!
//! With `<appends>`, one task makes that many appends one after another (every fifth carries a blob-sized
//! event) and the process exits 0: the durability test traces its syscalls to check that every
//! acknowledgement follows the `fdatasync` that made it true.
//!
//! Several tasks append concurrently over a fixed set of complaint streams (two tasks may race on one
//! stream: the loser gets `WrongExpectedVersion`, refreshes and goes on). After each append returns, the
//! writer prints one line and flushes it before doing anything else:
//!
//! ```text
//! ack <stream> <first_version> <last_version> <first_position> <last_position> <id1,id2,...>
//! ```
//!
//! so every line the parent reads names events the store promised are durable. Every event carries the
//! metadata `batch` (one id per append) and `batch_size`, so the parent can tell a partial batch. The
//! parent kills this process with SIGKILL at a random moment; it never exits by itself unless something
//! unexpected happens (then it says so on stderr and exits with status 2).

use redress_engine::{EventStore, ExpectedVersion, SledStore, StoreError};
use redress_schemas::rng::{mix, Rng};
use redress_schemas::{ProposedEvent, StreamName};
use serde_json::json;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Concurrent appending tasks.
const TASKS_COUNT: u64 = 8;
/// Complaint streams `complaint-crash-0` ..; few enough that tasks collide on them.
const STREAMS_COUNT: usize = 40;
/// The most `progress_updated` events one append carries.
const BATCH_EVENTS_MAX: u64 = 5;
/// One event in this many carries a note of [`LARGE_NOTE_BYTES`].
const LARGE_NOTE_ONE_IN: u64 = 256;
/// Over sled's inline limit (a quarter of its 512 KiB segment), so the record goes to a blob file: the
/// store syncs those separately, and a crash must not lose them either.
const LARGE_NOTE_BYTES: usize = 160 * 1024;

/// Event and batch ids: unique within a run by the counter, across runs by the seed.
struct Ids {
    seed_bits: u64,
    counter: AtomicU64,
}

impl Ids {
    fn next(&self) -> uuid::Uuid {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let bits = (u128::from(self.seed_bits) << 64) | u128::from(n);
        // Marks it as a v4 (random) UUID; this overwrites 6 bits of the seed half, none of the counter's.
        uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
    }
}

struct Shared {
    store: SledStore,
    streams: Vec<StreamName>,
    /// What each stream's last version is believed to be; only ever moves forward.
    versions: Vec<Mutex<Option<u64>>>,
    ids: Ids,
}

impl Shared {
    fn believe(&self, stream: usize, version: Option<u64>) {
        let mut known = self.versions[stream].lock().expect("versions lock");
        if version > *known {
            *known = version;
        }
    }
}

fn die(message: String) -> ! {
    eprintln!("redress-crash-writer: {message}");
    std::process::exit(2);
}

fn received(shared: &Shared, stream: usize, batch: &str) -> ProposedEvent {
    let name = &shared.streams[stream];
    let complaint_id = name.as_str().strip_prefix("complaint-").expect("complaint streams");
    let channels = ["hotline", "email", "web", "letter", "in_person", "survey", "social", "other"];
    let severities = ["low", "normal", "high", "critical"];
    let value = json!({
        "event_id": shared.ids.next().to_string(),
        "event_type": "complaint_received",
        "metadata": {"batch": batch, "batch_size": "1"},
        "data": {
            "complaint_id": complaint_id,
            "customer_id": format!("K-{stream}"),
            "channel": channels[stream % channels.len()],
            "category": "delivery",
            "severity": severities[stream % severities.len()],
            "description": "送货时包装破损 (crash test)",
        },
    });
    ProposedEvent::from_json(value, name).unwrap_or_else(|e| die(format!("bad complaint_received: {e}")))
}

fn progress(shared: &Shared, stream: usize, batch: &str, batch_size: u64, index: u64, large: bool) -> ProposedEvent {
    let name = &shared.streams[stream];
    let mut note = format!("step {} of {batch_size} of batch {batch}", index + 1);
    if large {
        note.push(' ');
        note.extend(std::iter::repeat_n('x', LARGE_NOTE_BYTES));
    }
    let value = json!({
        "event_id": shared.ids.next().to_string(),
        "event_type": "progress_updated",
        "metadata": {"batch": batch, "batch_size": batch_size.to_string()},
        "data": {"note": note, "customer_informed": false},
    });
    ProposedEvent::from_json(value, name).unwrap_or_else(|e| die(format!("bad progress_updated: {e}")))
}

/// Appends until `appends` acknowledgements (forever when `None`); with a count, every fifth append
/// carries a blob-sized event.
async fn append_loop(shared: Arc<Shared>, mut prng: Rng, appends: Option<u64>) {
    let mut acked = 0u64;
    while appends.is_none_or(|n| acked < n) {
        let force_large = appends.is_some() && acked % 5 == 4;
        let mut stream = prng.between(0, STREAMS_COUNT as u64 - 1) as usize;
        if force_large {
            // The blob goes into a progress update, so it needs a stream that exists (an earlier append
            // of this one task made one).
            stream = (0..STREAMS_COUNT)
                .map(|i| (stream + i) % STREAMS_COUNT)
                .find(|&s| shared.versions[s].lock().expect("versions lock").is_some())
                .unwrap_or(stream);
        }
        let known = *shared.versions[stream].lock().expect("versions lock");
        let batch = shared.ids.next().to_string();
        let (expected, events) = match known {
            None => (ExpectedVersion::NoStream, vec![received(&shared, stream, &batch)]),
            Some(current) => {
                let size = prng.between(1, BATCH_EVENTS_MAX);
                let events = (0..size)
                    .map(|i| {
                        let large = prng.next_u64().is_multiple_of(LARGE_NOTE_ONE_IN) || (force_large && i == 0);
                        progress(&shared, stream, &batch, size, i, large)
                    })
                    .collect();
                (ExpectedVersion::Exact(current), events)
            }
        };
        let ids: Vec<String> = events.iter().map(|e| e.event_id.expect("ids are set").to_string()).collect();
        let name = &shared.streams[stream];
        match shared.store.append(name, expected, events).await {
            Ok(outcome) => {
                let r = outcome.result;
                // One write of the whole line (shorter than PIPE_BUF, so the pipe takes it whole), then
                // flush: the parent must see it before this process does anything else.
                let line = format!(
                    "ack {name} {} {} {} {} {}\n",
                    r.first_version,
                    r.last_version,
                    r.first_position,
                    r.last_position,
                    ids.join(",")
                );
                let mut out = std::io::stdout().lock();
                if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
                    // The parent is gone; nobody is left to tell.
                    std::process::exit(0);
                }
                drop(out);
                shared.believe(stream, Some(r.last_version));
                acked += 1;
            }
            Err(StoreError::WrongExpectedVersion { current, .. }) => {
                // Another task got there first: learn where the stream is and go on.
                let durable = shared
                    .store
                    .stream_version(name)
                    .await
                    .unwrap_or_else(|e| die(format!("stream_version({name}): {e}")));
                shared.believe(stream, current.max(durable));
            }
            Err(other) => die(format!("append to {name} at {expected}: {other}")),
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, seed, appends) = match &args[..] {
        [_, dir, seed] => (dir, seed, None),
        [_, dir, seed, appends] => {
            (dir, seed, Some(appends.parse::<u64>().unwrap_or_else(|e| die(format!("appends {appends:?}: {e}")))))
        }
        _ => die("usage: redress-crash-writer <data-dir> <seed> [<appends>]".into()),
    };
    let seed: u64 = seed.parse().unwrap_or_else(|e| die(format!("seed {seed:?}: {e}")));
    let store = SledStore::open(dir).unwrap_or_else(|e| die(format!("open {dir}: {e}")));
    let streams: Vec<StreamName> = (0..STREAMS_COUNT)
        .map(|n| StreamName::new(format!("complaint-crash-{n}")).expect("a valid stream name"))
        .collect();
    let mut versions = Vec::with_capacity(STREAMS_COUNT);
    for name in &streams {
        let version = store.stream_version(name).await.unwrap_or_else(|e| die(format!("stream_version({name}): {e}")));
        versions.push(Mutex::new(version));
    }
    let ids = Ids { seed_bits: mix(seed ^ 0x1d5), counter: AtomicU64::new(0) };
    let shared = Arc::new(Shared { store, streams, versions, ids });
    let tasks_count = if appends.is_some() { 1 } else { TASKS_COUNT };
    let tasks: Vec<_> = (0..tasks_count)
        .map(|task| tokio::spawn(append_loop(Arc::clone(&shared), Rng::new(seed.wrapping_add(task)), appends)))
        .collect();
    for task in tasks {
        if let Err(e) = task.await {
            die(format!("an appending task failed: {e}"));
        }
    }
}
