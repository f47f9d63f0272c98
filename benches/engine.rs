//! The Redress engine benchmark: durable append throughput and latency, group commit, `$all` reads.
//!
//! `cargo bench --bench engine [-- OPTIONS]`
//!
//! Every figure is reported next to its ratio to a raw `write + fdatasync` baseline measured in the same
//! run on the same filesystem, because the machine is shared and noisy: absolute numbers drift, ratios
//! much less. Each scenario opens a fresh store in a fresh temp dir under the target dir (not /tmp, which
//! may be tmpfs).
//!
//! Options:
//! - `--quick`: halve every timed phase.
//! - `--only a,b,..`: run only these scenarios: `fsync`, `single`, `concurrent`, `batch`, `read`, `sealed`,
//!   `parts`.
//! - `--appends N`: `single` makes exactly N appends instead of running for a time (for strace).
//! - `--streams N`: streams `single` appends to, round-robin (default 8).
//! - `--per-writer N`: `concurrent` makes exactly N appends per writer instead of running for a time.
//! - `--writers N`: writers of `concurrent` (default 64).
//! - `--load N`: events loaded before `read` (default 200,000; `sealed` loads half as many, twice per kind).

use redress_engine::{
    prepare, verify_store, EventFilter, EventStore, ExpectedVersion, FileKeyTable, ShreddableStore, SledStore,
    Verification,
};
use redress_schemas::{
    canonical_content, codec, ContentFields, Position, ProposedEvent, RecordHeader, StreamName, Timestamp,
};
use serde_json::json;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;
use common::{bench_root, fmt_rate, fresh_dir};

const SCENARIOS: &[&str] = &["fsync", "single", "concurrent", "batch", "read", "sealed", "parts"];

struct Opts {
    scale: f64,
    only: Vec<String>,
    appends: Option<u64>,
    streams: usize,
    per_writer: Option<u64>,
    writers: usize,
    load: u64,
}

impl Opts {
    fn parse() -> Opts {
        let mut opts = Opts {
            scale: 1.0,
            only: SCENARIOS.iter().map(|s| s.to_string()).collect(),
            appends: None,
            streams: 8,
            per_writer: None,
            writers: 64,
            load: 200_000,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().unwrap_or_else(|| panic!("{name} needs a value"));
            match arg.as_str() {
                "--quick" => opts.scale = 0.5,
                "--only" => opts.only = value("--only").split(',').map(str::to_string).collect(),
                "--appends" => opts.appends = Some(value("--appends").parse().expect("--appends N")),
                "--streams" => opts.streams = value("--streams").parse().expect("--streams N"),
                "--per-writer" => opts.per_writer = Some(value("--per-writer").parse().expect("--per-writer N")),
                "--writers" => opts.writers = value("--writers").parse().expect("--writers N"),
                "--load" => opts.load = value("--load").parse().expect("--load N"),
                // `cargo bench` passes `--bench`; libtest-style filters are ignored.
                _ => {}
            }
        }
        for name in &opts.only {
            assert!(SCENARIOS.contains(&name.as_str()), "unknown scenario {name:?}; known: {SCENARIOS:?}");
        }
        opts
    }

    fn runs(&self, scenario: &str) -> bool {
        self.only.iter().any(|s| s == scenario)
    }

    fn secs(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds * self.scale)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Events

fn complaint(i: usize) -> StreamName {
    StreamName::new(format!("complaint-B-{i:06}")).expect("valid stream name")
}

fn meta() -> serde_json::Value {
    json!({"actor": "agent-0042", "source": "bench", "correlation_id": "corr-7f3a9c"})
}

fn received(stream: &StreamName) -> ProposedEvent {
    let id = stream.as_str().strip_prefix("complaint-").expect("a complaint stream");
    // A customer per complaint: a sealed store then holds a key per stream, its worst case.
    ProposedEvent::from_json(
        json!({"event_type": "complaint_received", "metadata": meta(), "data": {
            "complaint_id": id, "customer_id": format!("K-{id}"), "channel": "hotline", "category": "delivery",
            "severity": "high", "description": "笔记本电脑送达时屏幕碎了, customer asks for a replacement",
            "product": "LX-14 laptop"}}),
        stream,
    )
    .expect("valid complaint_received")
}

fn acknowledged(stream: &StreamName) -> ProposedEvent {
    ProposedEvent::from_json(
        json!({"event_type": "complaint_acknowledged", "metadata": meta(), "data": {
            "via": "phone", "message": "We are sorry, a replacement is being arranged."}}),
        stream,
    )
    .expect("valid complaint_acknowledged")
}

/// The event every write scenario appends (cloned; the engine assigns ids).
fn progress(stream: &StreamName) -> ProposedEvent {
    ProposedEvent::from_json(
        json!({"event_type": "progress_updated", "metadata": meta(), "data": {
            "note": "courier booked for pickup on Tuesday; replacement unit reserved", "customer_informed": true}}),
        stream,
    )
    .expect("valid progress_updated")
}

async fn open_store(dir: &Path) -> Arc<dyn EventStore> {
    let dir = dir.to_path_buf();
    Arc::new(tokio::task::spawn_blocking(move || SledStore::open(dir)).await.unwrap().expect("open the store"))
}

/// A sled store in `dir`, its personal texts sealed (`sealed`) with per-customer keys in `dir/keys`, as
/// `redress serve` opens it, or plain.
async fn open_maybe_sealed(dir: &Path, sealed: bool) -> Arc<dyn EventStore> {
    let store = open_store(&dir.join("log")).await;
    if !sealed {
        return store;
    }
    let keys = FileKeyTable::open(&dir.join("keys")).expect("open the key table");
    Arc::new(ShreddableStore::new(store, Arc::new(keys)))
}

/// Opens `n` complaint streams, each with its `complaint_received`, so later appends are `Exact(0)`...
async fn open_streams(store: &Arc<dyn EventStore>, n: usize) -> Vec<StreamName> {
    let streams: Vec<StreamName> = (0..n).map(complaint).collect();
    let mut tasks = Vec::new();
    for stream in streams.clone() {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            store.append(&stream, ExpectedVersion::NoStream, vec![received(&stream)]).await.expect("received");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    streams
}

// ---------------------------------------------------------------------------------------------------------
// Group commit, observed after the fact, at no cost during the run: the writer stamps every event of one
// group with the same `recorded_at` (strictly increasing, nanoseconds, from group to group), and each
// group is one sled flush + one fdatasync. So the groups of a phase are the runs of equal `recorded_at`.

/// The first position a phase will write.
async fn next_position(store: &dyn EventStore) -> u64 {
    store.head().await.expect("head").map_or(0, |h| h.position.0 + 1)
}

/// (groups, events) committed from position `from` to the end of the log.
async fn count_groups(store: &dyn EventStore, from: u64) -> (u64, u64) {
    let mut from = Position(from);
    let (mut groups, mut events, mut last) = (0u64, 0u64, None);
    loop {
        let page = store.read_all(from, 10_000, &EventFilter::all()).await.expect("read_all");
        for event in &page.events {
            if last != Some(event.recorded_at) {
                groups += 1;
                last = Some(event.recorded_at);
            }
            events += 1;
        }
        match page.next {
            Some(next) => from = Position(next),
            None => return (groups, events),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Results

#[derive(Default, Clone)]
struct Row {
    scenario: String,
    events: u64,
    seconds: f64,
    /// Events per second, or syncs per second for the baseline.
    rate: f64,
    target: Target,
    latencies_ns: Vec<u64>,
    /// Raw fdatasync rate just before and just after this scenario (the disk drifts within a run).
    bracket: Option<(f64, f64)>,
    /// (groups committed, events they held), from the log after the phase.
    groups: Option<(u64, u64)>,
    note: String,
}

#[derive(Default, Clone, Copy)]
enum Target {
    #[default]
    None,
    /// At least this many events per second.
    Rate(f64),
    /// At least this fraction of the fsync baseline.
    OfBaseline(f64),
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

fn fmt_us(ns: u64) -> String {
    format!("{:.0} µs", ns as f64 / 1_000.0)
}

fn print_tables(rows: &mut [Row], baseline: Option<f64>) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!("| scenario | events/s | × fsync baseline | baseline used, syncs/s | target | met? |");
    println!("| --- | ---: | ---: | --- | --- | --- |");
    for row in rows.iter() {
        // A write scenario is compared with the baseline measured right around it; the rest with scenario 1.
        let (base, base_text) = match (row.bracket, baseline) {
            (Some((before, after)), _) => {
                let mean = (before + after) / 2.0;
                let unstable = if before.max(after) > 1.5 * before.min(after) { " (unstable)" } else { "" };
                (
                    Some(mean),
                    format!("{} (around: {} → {}){unstable}", fmt_rate(mean), fmt_rate(before), fmt_rate(after)),
                )
            }
            (None, Some(b)) => (Some(b), format!("{} (scenario 1)", fmt_rate(b))),
            (None, None) => (None, "–".into()),
        };
        let ratio = base.map_or("–".to_string(), |b| format!("{:.2}×", row.rate / b));
        let (target, met) = match row.target {
            Target::None => ("–".to_string(), "–".to_string()),
            Target::Rate(t) => (format!("≥ {}/s", fmt_rate(t)), yes_no(row.rate >= t)),
            Target::OfBaseline(f) => {
                (format!("≥ {f:.1}× baseline"), base.map_or("? (no baseline)".into(), |b| yes_no(row.rate >= f * b)))
            }
        };
        println!("| {} | {} | {} | {} | {} | {} |", row.scenario, fmt_rate(row.rate), ratio, base_text, target, met);
    }
    println!();
    println!(
        "| scenario | events | seconds | p50 | p99 | max | groups (= flush + fdatasync) | events/group | syncs/event |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows.iter_mut() {
        row.latencies_ns.sort_unstable();
        let l = &row.latencies_ns;
        let (p50, p99, max) = if l.is_empty() {
            ("–".into(), "–".into(), "–".into())
        } else {
            (fmt_us(percentile(l, 50.0)), fmt_us(percentile(l, 99.0)), fmt_us(*l.last().unwrap()))
        };
        let (groups, per_group, per_event) = match row.groups {
            Some((g, _)) if g > 0 => (
                format!("{g}"),
                format!("{:.1}", row.events as f64 / g as f64),
                format!("{:.4}", g as f64 / row.events as f64),
            ),
            _ => ("–".into(), "–".into(), "–".into()),
        };
        println!(
            "| {} | {} | {:.2} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            fmt_rate(row.events as f64),
            row.seconds,
            p50,
            p99,
            max,
            groups,
            per_group,
            per_event
        );
    }
    let notes: Vec<_> = rows.iter().filter(|r| !r.note.is_empty()).collect();
    if !notes.is_empty() {
        println!();
        for row in notes {
            println!("- {}: {}", row.scenario, row.note);
        }
    }
}

fn yes_no(ok: bool) -> String {
    if ok { "yes" } else { "**no**" }.to_string()
}

// ---------------------------------------------------------------------------------------------------------
// 1. Raw fdatasync baseline

fn fsync_baseline(duration: Duration, overwrite: bool) -> Row {
    let dir = fresh_dir();
    let mut file =
        OpenOptions::new().create(true).append(!overwrite).write(true).open(dir.path().join("sync.dat")).unwrap();
    let buf = [0x5au8; 100];
    let start = Instant::now();
    let mut syncs = 0u64;
    while start.elapsed() < duration {
        if overwrite {
            file.write_all_at(&buf, 0).unwrap();
        } else {
            file.write_all(&buf).unwrap();
        }
        file.sync_data().unwrap();
        syncs += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    Row {
        scenario: if overwrite {
            "1b. raw: overwrite 100 B + fdatasync (info)".into()
        } else {
            "1. raw: append 100 B + fdatasync (baseline, syncs/s)".into()
        },
        events: syncs,
        seconds,
        rate: syncs as f64 / seconds,
        ..Row::default()
    }
}

// ---------------------------------------------------------------------------------------------------------
// 2. One writer, one event per append

async fn single(opts: &Opts) -> Row {
    let dir = fresh_dir();
    let store = open_store(dir.path()).await;
    let streams = open_streams(&store, opts.streams.max(1)).await;
    let events: Vec<ProposedEvent> = streams.iter().map(progress).collect();
    let mut versions = vec![0u64; streams.len()];
    let first = next_position(store.as_ref()).await;
    let duration = opts.secs(3.0);
    let mut latencies = Vec::with_capacity(64 * 1024);
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        match opts.appends {
            Some(limit) if n >= limit => break,
            None if start.elapsed() >= duration => break,
            _ => {}
        }
        let i = n as usize % streams.len();
        let t = Instant::now();
        let outcome = store
            .append(&streams[i], ExpectedVersion::Exact(versions[i]), vec![events[i].clone()])
            .await
            .expect("append");
        latencies.push(t.elapsed().as_nanos() as u64);
        versions[i] = outcome.result.last_version;
        n += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    let groups = count_groups(store.as_ref(), first).await;
    assert_eq!(groups.1, n, "every append was read back");
    store.close().await.expect("close the store");
    Row {
        scenario: format!("2. one writer, 1 event/append ({} streams round-robin)", streams.len()),
        events: n,
        seconds,
        rate: n as f64 / seconds,
        target: Target::OfBaseline(0.8),
        latencies_ns: latencies,
        groups: Some(groups),
        ..Row::default()
    }
}

// ---------------------------------------------------------------------------------------------------------
// 3. Many concurrent writers, one event per append, each on its own stream

async fn concurrent(opts: &Opts) -> Row {
    let dir = fresh_dir();
    let store = open_store(dir.path()).await;
    concurrent_on(opts, store).await
}

/// Scenario 3 on `store`.
async fn concurrent_on(opts: &Opts, store: Arc<dyn EventStore>) -> Row {
    let streams = open_streams(&store, opts.writers).await;
    let first = next_position(store.as_ref()).await;
    let deadline = Instant::now() + opts.secs(3.0);
    let per_writer = opts.per_writer;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for stream in streams {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let event = progress(&stream);
            let mut latencies = Vec::with_capacity(4096);
            let mut version = 0;
            loop {
                match per_writer {
                    Some(limit) if latencies.len() as u64 >= limit => break,
                    None if Instant::now() >= deadline => break,
                    _ => {}
                }
                let t = Instant::now();
                let outcome =
                    store.append(&stream, ExpectedVersion::Exact(version), vec![event.clone()]).await.expect("append");
                latencies.push(t.elapsed().as_nanos() as u64);
                version = outcome.result.last_version;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let seconds = start.elapsed().as_secs_f64();
    let n = latencies.len() as u64;
    let groups = count_groups(store.as_ref(), first).await;
    assert_eq!(groups.1, n, "every append was read back");
    store.close().await.expect("close the store");
    Row {
        scenario: format!("3. {} concurrent writers, 1 event/append", opts.writers),
        events: n,
        seconds,
        rate: n as f64 / seconds,
        target: Target::Rate(30_000.0),
        latencies_ns: latencies,
        groups: Some(groups),
        ..Row::default()
    }
}

// ---------------------------------------------------------------------------------------------------------
// 4. Batches of 100 events per append

async fn batches(opts: &Opts, writers: usize) -> Row {
    const BATCH: usize = 100;
    let dir = fresh_dir();
    let store = open_store(dir.path()).await;
    let streams = open_streams(&store, writers).await;
    let first = next_position(store.as_ref()).await;
    let deadline = Instant::now() + opts.secs(3.0);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for stream in streams {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let event = progress(&stream);
            let mut latencies = Vec::with_capacity(4096);
            let mut version = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let batch = vec![event.clone(); BATCH];
                let outcome = store.append(&stream, ExpectedVersion::Exact(version), batch).await.expect("append");
                latencies.push(t.elapsed().as_nanos() as u64);
                version = outcome.result.last_version;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let seconds = start.elapsed().as_secs_f64();
    let n = latencies.len() as u64 * BATCH as u64;
    let groups = count_groups(store.as_ref(), first).await;
    assert_eq!(groups.1, n, "every append was read back");
    store.close().await.expect("close the store");
    Row {
        scenario: format!("4{}. batches of {BATCH}, {writers} task(s)", if writers == 1 { "a" } else { "b" }),
        events: n,
        seconds,
        rate: n as f64 / seconds,
        target: Target::Rate(200_000.0),
        latencies_ns: latencies,
        groups: Some(groups),
        note: "latencies are per append of 100 events".into(),
        ..Row::default()
    }
}

// ---------------------------------------------------------------------------------------------------------
// 5. Read $all and decode; verify

/// Loads about `events` events into `store`: streams of 100 (`complaint_received`, an
/// acknowledgement, 98 progress notes), one append per stream, from 4 tasks. Returns (events, seconds).
async fn load(store: &Arc<dyn EventStore>, events: u64) -> (u64, f64) {
    const PER_STREAM: usize = 100;
    const LOADERS: usize = 4;
    let complaints = (events as usize).div_ceil(PER_STREAM);
    let load_start = Instant::now();
    let mut tasks = Vec::new();
    for loader in 0..LOADERS {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            for i in (loader..complaints).step_by(LOADERS) {
                let stream = complaint(i);
                let mut events = vec![received(&stream), acknowledged(&stream)];
                let p = progress(&stream);
                events.extend(std::iter::repeat_n(p, PER_STREAM - 2));
                store.append(&stream, ExpectedVersion::NoStream, events).await.expect("load");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = (complaints * PER_STREAM) as u64;
    let load_seconds = load_start.elapsed().as_secs_f64();
    eprintln!(
        "  loaded {total} events in {load_seconds:.2} s ({:.0} events/s, appends of 100, {LOADERS} tasks)",
        total as f64 / load_seconds
    );
    (total, load_seconds)
}

/// One `read_all` over the whole log, pages of 10,000, every event decoded (and opened, on a sealed
/// store); asserts it saw `total` events. Returns the seconds it took.
async fn read_pass(store: &dyn EventStore, total: u64) -> f64 {
    let start = Instant::now();
    let mut from = Position(0);
    let mut seen = 0u64;
    let mut bytes = 0usize;
    loop {
        let page = store.read_all(from, 10_000, &EventFilter::all()).await.expect("read_all");
        seen += page.events.len() as u64;
        bytes += page.events.iter().map(|e| e.stream.as_str().len()).sum::<usize>();
        match page.next {
            Some(next) => from = Position(next),
            None => break,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(seen, total, "read_all saw every event");
    std::hint::black_box(bytes);
    seconds
}

async fn read(opts: &Opts) -> Vec<Row> {
    let dir = fresh_dir();
    let store = open_store(dir.path()).await;
    let (total, load_seconds) = load(&store, opts.load).await;

    let mut passes = Vec::new();
    for _ in 0..3 {
        passes.push(read_pass(store.as_ref(), total).await);
    }
    let mut sorted = passes.clone();
    sorted.sort_by(f64::total_cmp);
    let read_seconds = sorted[1];

    let mut verifies = Vec::new();
    for _ in 0..2 {
        let start = Instant::now();
        let verdict = verify_store(store.as_ref(), |_| {}).await.expect("verify");
        verifies.push(start.elapsed().as_secs_f64());
        assert!(matches!(verdict, Verification::Intact { events, .. } if events == total), "{verdict:?}");
    }
    let verify_seconds = verifies.iter().copied().fold(f64::INFINITY, f64::min);
    store.close().await.expect("close the store");
    drop(store);

    // The same log straight from sled (no decode), and the decode alone (no sled): where read time goes.
    let (scan_seconds, decode_seconds) = raw_read(dir.path(), total);

    let fmt_passes = |p: &[f64]| p.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(", ");
    vec![
        Row {
            scenario: "5a. read_all $all, pages of 10,000, decoded".into(),
            events: total,
            seconds: read_seconds,
            rate: total as f64 / read_seconds,
            target: Target::Rate(1_000_000.0),
            note: format!("median of 3 passes ({} s); load took {load_seconds:.2} s", fmt_passes(&passes)),
            ..Row::default()
        },
        Row {
            scenario: "5b. verify_store (read_written + SHA-256 chain)".into(),
            events: total,
            seconds: verify_seconds,
            rate: total as f64 / verify_seconds,
            note: format!("best of 2 passes ({} s)", fmt_passes(&verifies)),
            ..Row::default()
        },
        Row {
            scenario: "5c. raw sled range scan of the log, no decode (info)".into(),
            events: total,
            seconds: scan_seconds,
            rate: total as f64 / scan_seconds,
            note: "the store reopened with plain sled; second (warm-cache) pass".into(),
            ..Row::default()
        },
        Row {
            scenario: "5d. codec decode_header + decode_payload alone (info)".into(),
            events: total,
            seconds: decode_seconds,
            rate: total as f64 / decode_seconds,
            note: "records already in memory, one thread".into(),
            ..Row::default()
        },
    ]
}

/// Reopens the store's directory with plain sled: times a warm range scan of the log, then the decode of
/// the same records from memory.
fn raw_read(path: &Path, total: u64) -> (f64, f64) {
    let mut db = None;
    for _ in 0..100 {
        match sled::Config::new().path(path).flush_every_ms(None).open() {
            Ok(opened) => {
                db = Some(opened);
                break;
            }
            // The store's sled may still be releasing its lock.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let db = db.expect("reopen the store with sled");
    let tree = db.open_tree("events").unwrap();
    let scan = || {
        let mut values = Vec::with_capacity(total as usize);
        for entry in tree.range(&b"L"[..]..&b"M"[..]) {
            let (_, value) = entry.unwrap();
            values.push(value);
        }
        values
    };
    drop(scan()); // warm sled's page cache
    let start = Instant::now();
    let values = scan();
    let scan_seconds = start.elapsed().as_secs_f64();
    assert_eq!(values.len() as u64, total);
    let start = Instant::now();
    for value in &values {
        let (header, payload) = codec::decode_header(value).unwrap();
        let data = codec::decode_payload(header.event_type, header.schema_version, payload).unwrap();
        std::hint::black_box((header, data));
    }
    (scan_seconds, start.elapsed().as_secs_f64())
}

// ---------------------------------------------------------------------------------------------------------
// Parts: what each step of the write path costs per event, one thread, no I/O sync (for the analysis).

fn parts(opts: &Opts) -> Vec<(String, f64)> {
    let stream = complaint(0);
    let template = progress(&stream);
    let rounds = (2_000.0 * opts.scale) as usize;
    let mut out = Vec::new();
    let mut time = |name: &str, events: usize, f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        let ns = start.elapsed().as_nanos() as f64 / events as f64;
        out.push((name.to_string(), ns));
    };

    // prepare(): validation, canonical JSON of data and metadata, binary payload (caller's task).
    let mut prepared = Vec::new();
    time("prepare() (validate, canonical JSON ×2, encode payload) — caller side", rounds * 100, &mut || {
        for _ in 0..rounds {
            prepared = prepare(&stream, vec![template.clone(); 100]).unwrap();
        }
    });
    time("clone a ProposedEvent (what the bench itself spends)", rounds * 100, &mut || {
        for _ in 0..rounds {
            std::hint::black_box(vec![template.clone(); 100]);
        }
    });

    // The writer's per-event work: canonical content + SHA-256, header, encode_record.
    let now = Timestamp::now();
    let mut last = redress_schemas::Hash::GENESIS;
    let mut scratch = Vec::with_capacity(1024);
    let mut records: Vec<Vec<u8>> = Vec::new();
    let n = rounds * 100;
    time("writer: canonical_content + chain_hash (SHA-256)", n, &mut || {
        for i in 0..n {
            let e = &prepared[i % prepared.len()];
            scratch.clear();
            canonical_content(
                &ContentFields {
                    position: Position(i as u64),
                    stream: stream.as_str(),
                    version: i as u64,
                    event_id: &e.event_id,
                    event_type: e.data.event_type().name(),
                    schema_version: e.data.event_type().schema_version(),
                    occurred_at: now,
                    recorded_at: now,
                    recorded_by: Some(e.recorded_by.as_str()),
                    metadata_json: &e.metadata_json,
                    data_json: &e.data_json,
                },
                &mut scratch,
            );
            last = redress_engine::chain_hash(&last, &scratch);
        }
    });
    time("writer: RecordHeader + encode_record", n, &mut || {
        records.clear();
        for i in 0..n {
            let e = &prepared[i % prepared.len()];
            let header = RecordHeader {
                event_id: e.event_id,
                stream: stream.clone(),
                version: i as u64,
                position: Position(i as u64),
                event_type: e.data.event_type(),
                schema_version: e.data.event_type().schema_version(),
                occurred_at: now,
                recorded_at: now,
                recorded_by: Some(e.recorded_by.clone()),
                metadata: e.metadata.clone(),
                hash: last,
            };
            let mut record = Vec::with_capacity(e.payload.len() + 128);
            codec::encode_record(&header, &e.payload, &mut record).unwrap();
            records.push(record);
        }
    });
    let record_bytes = records.first().map_or(0, Vec::len);

    // sled: the engine's key layout (log + stream index + id index per event, head per batch), batches
    // of 100, no flush; then the flush + fdatasync of one small group.
    let dir = fresh_dir();
    let db = sled::Config::new().path(dir.path()).flush_every_ms(None).open().unwrap();
    let tree = db.open_tree("events").unwrap();
    let mut stream_key = vec![b'S'];
    stream_key.extend_from_slice(stream.as_str().as_bytes());
    stream_key.push(0);
    let ids: Vec<redress_schemas::EventId> = (0..n).map(|_| redress_schemas::EventId::new_v7()).collect();
    time("sled: apply_batch, 3 inserts/event (batches of 100, no flush)", n, &mut || {
        for chunk in 0..rounds {
            let mut batch = sled::Batch::default();
            for j in 0..100 {
                let i = chunk * 100 + j;
                let mut log = vec![b'L'];
                log.extend_from_slice(&(i as u64).to_be_bytes());
                batch.insert(log, &records[i][..]);
                let mut s = stream_key.clone();
                s.extend_from_slice(&(i as u64).to_be_bytes());
                batch.insert(s, &(i as u64).to_be_bytes()[..]);
                let mut id = vec![b'I'];
                id.extend_from_slice(ids[i].as_bytes());
                batch.insert(id, &[0u8; 40][..]);
            }
            batch.insert(&b"M"[..], &[0u8; 40][..]);
            tree.apply_batch(batch).unwrap();
        }
    });
    // Alternatives, for the analysis: the log key alone, and one value per 100-event append.
    let dir_log = fresh_dir();
    let db_log = sled::Config::new().path(dir_log.path()).flush_every_ms(None).open().unwrap();
    let tree_log = db_log.open_tree("events").unwrap();
    time("sled alternative: log entry only, 1 insert/event (batches of 100)", n, &mut || {
        for chunk in 0..rounds {
            let mut batch = sled::Batch::default();
            for j in 0..100 {
                let i = chunk * 100 + j;
                let mut log = vec![b'L'];
                log.extend_from_slice(&(i as u64).to_be_bytes());
                batch.insert(log, &records[i][..]);
            }
            batch.insert(&b"M"[..], &[0u8; 40][..]);
            tree_log.apply_batch(batch).unwrap();
        }
    });
    let dir_one = fresh_dir();
    let db_one = sled::Config::new().path(dir_one.path()).flush_every_ms(None).open().unwrap();
    let tree_one = db_one.open_tree("events").unwrap();
    time("sled alternative: one value per 100-event append (1 insert/100 events)", n, &mut || {
        for chunk in 0..rounds {
            let mut value = Vec::with_capacity(100 * 256);
            for record in &records[chunk * 100..chunk * 100 + 100] {
                value.extend_from_slice(&(record.len() as u32).to_be_bytes());
                value.extend_from_slice(record);
            }
            let mut batch = sled::Batch::default();
            let mut log = vec![b'L'];
            log.extend_from_slice(&((chunk * 100) as u64).to_be_bytes());
            batch.insert(log, value);
            batch.insert(&b"M"[..], &[0u8; 40][..]);
            tree_one.apply_batch(batch).unwrap();
        }
    });
    drop((tree_log, db_log, tree_one, db_one));
    let flushes = (200.0 * opts.scale) as usize;
    let db_file = std::fs::File::open(dir.path().join("db")).unwrap();
    let mut flush_only = 0.0;
    let mut flush_sync = 0.0;
    for k in 0..flushes {
        let mut log = vec![b'L'];
        log.extend_from_slice(&((n + k) as u64).to_be_bytes());
        tree.insert(log, &records[0][..]).unwrap();
        let t = Instant::now();
        db.flush().unwrap();
        let f = t.elapsed().as_nanos() as f64;
        db_file.sync_data().unwrap();
        flush_only += f;
        flush_sync += t.elapsed().as_nanos() as f64;
    }
    out.push((
        "sled: db.flush() of one small group (pwrite + sync_file_range), per group".into(),
        flush_only / flushes as f64,
    ));
    out.push(("sled: db.flush() + fdatasync(db), per group".into(), flush_sync / flushes as f64));
    out.push((format!("(record size: {record_bytes} bytes)"), f64::NAN));
    out
}

// ---------------------------------------------------------------------------------------------------------
// 6. The cost of sealing personal data (crypto-shredding)

/// Scenario 3 (concurrent writers) and scenario 5a (`read_all`) on a plain sled store and on a sealed one
/// (`ShreddableStore` over sled, a key per customer in a `FileKeyTable`, as `redress serve` runs), each
/// twice, in the order plain, sealed, sealed, plain, so the disk's drift within the run weighs on both
/// alike. The figure is the ratio of the means, sealed / plain (target: at least 0.85).
async fn sealed(opts: &Opts) -> Vec<Row> {
    let mut appends: [Vec<Row>; 2] = [Vec::new(), Vec::new()];
    let mut reads: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let read_events = (opts.load / 2).max(10_000);
    let mut read_total = 0;
    for sealed in [false, true, true, false] {
        let dir = fresh_dir();
        let store = open_maybe_sealed(dir.path(), sealed).await;
        appends[usize::from(sealed)].push(concurrent_on(opts, store).await);

        let dir = fresh_dir();
        let store = open_maybe_sealed(dir.path(), sealed).await;
        let (total, _) = load(&store, read_events).await;
        // The stored form is ciphertext exactly when the store seals.
        let stored = store.read_written(Position(2), 1).await.expect("read_written"); // 0 received, 1 acknowledged, 2 a note
        let note = stored.events[0].data["note"].as_str().expect("a progress note").to_owned();
        assert_eq!(note.starts_with(redress_engine::personal::SEALED_PREFIX_CURRENT), sealed, "{note}");
        let mut passes = Vec::new();
        for _ in 0..3 {
            passes.push(read_pass(store.as_ref(), total).await);
        }
        passes.sort_by(f64::total_cmp);
        reads[usize::from(sealed)].push(total as f64 / passes[1]);
        read_total = total;
        store.close().await.expect("close the store");
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    let fmt_runs = |rates: &[f64]| rates.iter().map(|r| fmt_rate(*r)).collect::<Vec<_>>().join(", ");
    let write_rates: Vec<Vec<f64>> = appends.iter().map(|runs| runs.iter().map(|r| r.rate).collect()).collect();
    let write_ratio = mean(&write_rates[1]) / mean(&write_rates[0]);
    let read_ratio = mean(&reads[1]) / mean(&reads[0]);
    let verdict = |ratio: f64| if ratio >= 0.85 { "met" } else { "**not met**" };
    let mut rows = Vec::new();
    for (sealed, runs) in appends.into_iter().enumerate() {
        let label = if sealed == 1 { "sealed" } else { "plain" };
        let rates = &write_rates[sealed];
        let mut row = Row {
            scenario: format!("6{}. {} concurrent writers, {label}", ["a", "b"][sealed], opts.writers),
            events: runs.iter().map(|r| r.events).sum(),
            seconds: runs.iter().map(|r| r.seconds).sum(),
            rate: mean(rates),
            latencies_ns: runs.iter().flat_map(|r| r.latencies_ns.iter().copied()).collect(),
            groups: Some(runs.iter().filter_map(|r| r.groups).fold((0, 0), |a, g| (a.0 + g.0, a.1 + g.1))),
            note: format!("mean of 2 runs ({})", fmt_runs(rates)),
            ..Row::default()
        };
        if sealed == 1 {
            row.note += &format!("; sealed / plain = {write_ratio:.2} (target ≥ 0.85: {})", verdict(write_ratio));
        }
        rows.push(row);
    }
    for (sealed, rates) in reads.iter().enumerate() {
        let label = if sealed == 1 { "sealed" } else { "plain" };
        let mut row = Row {
            scenario: format!("6{}. read_all $all, pages of 10,000, {label}", ["c", "d"][sealed]),
            events: read_total,
            seconds: read_total as f64 / mean(rates),
            rate: mean(rates),
            note: format!("mean of 2 loads, each the median of 3 passes ({})", fmt_runs(rates)),
            ..Row::default()
        };
        if sealed == 1 {
            row.note += &format!("; sealed / plain = {read_ratio:.2} (target ≥ 0.85: {})", verdict(read_ratio));
        }
        rows.push(row);
    }
    rows
}

// ---------------------------------------------------------------------------------------------------------

fn main() {
    let opts = Opts::parse();
    eprintln!("redress engine bench: temp dirs under {}", bench_root().display());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let mut rows = Vec::new();
    let mut baseline = None;
    let total_start = Instant::now();

    if opts.runs("fsync") {
        eprintln!("1. raw fdatasync baseline ...");
        let row = fsync_baseline(opts.secs(2.0), false);
        baseline = Some(row.rate);
        rows.push(row);
        rows.push(fsync_baseline(opts.secs(1.0), true));
    }
    // Each write scenario is bracketed by a short baseline, so its ratio holds even when the disk drifts.
    let bracket = |run: &mut dyn FnMut() -> Row| -> Row {
        if !opts.runs("fsync") {
            return run();
        }
        let before = fsync_baseline(opts.secs(0.5), false).rate;
        let mut row = run();
        row.bracket = Some((before, fsync_baseline(opts.secs(0.5), false).rate));
        row
    };
    if opts.runs("single") {
        eprintln!("2. one writer ...");
        rows.push(bracket(&mut || runtime.block_on(single(&opts))));
    }
    if opts.runs("concurrent") {
        eprintln!("3. {} concurrent writers ...", opts.writers);
        rows.push(bracket(&mut || runtime.block_on(concurrent(&opts))));
    }
    if opts.runs("batch") {
        eprintln!("4. batches of 100 ...");
        rows.push(bracket(&mut || runtime.block_on(batches(&opts, 1))));
        rows.push(bracket(&mut || runtime.block_on(batches(&opts, 4))));
    }
    if opts.runs("read") {
        eprintln!("5. read $all ...");
        rows.extend(runtime.block_on(read(&opts)));
    }
    if opts.runs("sealed") {
        eprintln!("6. sealed personal data: {} writers and read_all, plain and sealed ...", opts.writers);
        rows.extend(runtime.block_on(sealed(&opts)));
    }
    let parts = if opts.runs("parts") {
        eprintln!("parts of the write path ...");
        Some(parts(&opts))
    } else {
        None
    };
    if opts.runs("fsync") && rows.len() > 2 {
        // The disk drifts: measure the baseline again at the end and say how far it moved.
        let again = fsync_baseline(opts.secs(1.0), false);
        eprintln!("baseline again at the end: {:.0} syncs/s", again.rate);
        rows[0].note = format!("{:.0} syncs/s at the start, {:.0} at the end of the run", rows[0].rate, again.rate);
    }

    print_tables(&mut rows, baseline);
    if let Some(parts) = parts {
        println!();
        println!("| write-path step (one thread) | ns/event |");
        println!("| --- | ---: |");
        for (name, ns) in parts {
            if ns.is_nan() {
                println!("| {name} | |");
            } else {
                println!("| {name} | {ns:.0} |");
            }
        }
    }
    println!();
    println!("total run time {:.1} s", total_start.elapsed().as_secs_f64());
}
