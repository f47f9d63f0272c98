//! The log the projections benchmark reads: the deterministic demo of N complaints
//! (`redress_adapters::demo::stream`), written once into a `SledStore` under [`bench_root`] and reused by
//! later runs, keyed by complaint count and seed.
//!
//! It is written with `EventStore::import`, not with appends: events built by `demo::Recorder` (what `redress demo`
//! loads with) exactly as the store's writer builds them (positions, versions, canonical content, the hash chain), in
//! chunks of up to `APPEND_EVENTS_MAX` events, so one sync covers a thousand events, the log is in the generated order
//! exactly, and no clock is read: each append is recorded when its last event happened (never before the previous
//! append), so the same count and seed give the same bytes and the same head hash on every machine, and "as of" replays
//! by `recorded_at` see the year go by. The store still checks every event it imports (next position, chain, stream
//! version, lifecycle), and the log is verified (`verify_store`) before a marker file says it is complete: a cache
//! without the marker, half built by an interrupted run, is built again.

use super::{bench_root, cpu_of_this_thread, cpu_of_threads, disk_bytes, peak_rss};
use redress_adapters::demo::{self, DemoConfig, DemoStream, DemoSummary, Recorder};
use redress_engine::limits::APPEND_EVENTS_MAX;
use redress_engine::{verify_store, EventStore, SledStore, StoreError, StoreOptions, Verification};
use redress_schemas::WrittenEvent;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Part of the cache key: bump it whenever what is written for a count and seed changes (the demo, how
/// `recorded_at` is chosen), so that an older cache is not taken for the new log.
const LOG_FORMAT: u32 = 2;
/// Chunks built ahead of the one being imported: generation runs on its own thread beside the store's writer.
const CHUNKS_AHEAD_MAX: usize = 4;
/// Progress is printed every this many events.
const PROGRESS_EVENTS: u64 = 1_000_000;
/// sled's page cache while building: sled's own default, four times the store's. The demo's event ids are
/// random (v4), so each import looks up and inserts ids all over the id index; the more of it stays cached,
/// the less the writer reads back. The bench itself opens the log with the store's default.
const BUILD_CACHE_BYTES: u64 = 1 << 30;

/// A complete demo log on disk.
#[derive(Debug, Clone)]
pub struct DemoLog {
    /// The store's directory (`SledStore::open` it; it is not open when returned).
    pub dir: PathBuf,
    /// What the demo holds.
    pub summary: DemoSummary,
    /// The last event's hash, hex: equal for equal counts and seeds.
    pub head_hash: String,
    /// How long building it took, when this run built it (`None` when it came from the cache).
    pub built: Option<BuildFigures>,
}

/// What building a log cost, for BENCHMARKS.md. CPU times are steadier than wall time on a shared machine.
#[derive(Debug, Clone, Copy)]
pub struct BuildFigures {
    /// Wall time from the first draw to the last import being durable.
    pub load: Duration,
    /// CPU time of the generating thread: drawing the demo, building the records, hashing.
    pub generate_cpu: Duration,
    /// CPU time of the store's writer thread (checking and staging the imports, sled's inserts, syncs).
    pub writer_cpu: Duration,
    /// CPU time of the whole process while building (sled's I/O threads and the runtime included).
    pub process_cpu: Duration,
    /// The most appends and redraws the demo stream held at once.
    pub queued_peak: usize,
    /// `verify_store` over the whole log.
    pub verify: Duration,
    /// The store's directory after closing.
    pub disk_bytes: u64,
    /// Peak resident memory of this process by the end of the build (the stream, sled's cache, the chunks).
    pub peak_rss_bytes: u64,
}

/// Why the log could not be built.
#[derive(Debug)]
pub enum DemoLogError {
    /// Reading the standard answers or writing the cache failed.
    Io { what: String, error: std::io::Error },
    /// The standard answers do not parse.
    Answers(demo::DemoError),
    /// The store refused an import or failed.
    Store(StoreError),
    /// The written log does not verify.
    Broken(Verification),
}

impl fmt::Display for DemoLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoLogError::Io { what, error } => write!(f, "{what}: {error}"),
            DemoLogError::Answers(error) => write!(f, "the standard answers: {error}"),
            DemoLogError::Store(error) => write!(f, "the store: {error}"),
            DemoLogError::Broken(verification) => write!(f, "the written log does not verify: {verification:?}"),
        }
    }
}

impl From<StoreError> for DemoLogError {
    fn from(error: StoreError) -> Self {
        DemoLogError::Store(error)
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DemoLogError {
    let what = what.into();
    move |error| DemoLogError::Io { what, error }
}

/// The standard-answer library the demo publishes (the shared data set next to the workspace).
pub fn answers_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/qa-standard-answers.jsonl")
}

/// The demo of `config`, from the cache under [`bench_root`] or built into it first (`fresh`: built again
/// whatever the cache holds). Call it from a multi-thread tokio runtime.
///
/// Choose a year that has passed (its end before the wall clock): a live append after it would otherwise be
/// recorded before the log's last event, and the store refuses appends dated in the future.
pub async fn demo_log(config: &DemoConfig, fresh: bool) -> Result<DemoLog, DemoLogError> {
    let key = format!(
        "demo-log-v{LOG_FORMAT}-c{}-s{}-from{}-d{}",
        config.complaints,
        config.seed,
        config.start.unix_nanos() / 1_000_000_000,
        config.days
    );
    let cache = bench_root().join(key);
    let dir = cache.join("store");
    let marker = cache.join("complete.json");
    if !fresh {
        if let Some(log) = read_marker(&marker, &dir) {
            eprintln!("demo log: the cached {} ({} events)", dir.display(), log.summary.events);
            return Ok(log);
        }
    }
    if cache.exists() {
        std::fs::remove_dir_all(&cache).map_err(io(format!("remove {}", cache.display())))?;
    }
    std::fs::create_dir_all(&cache).map_err(io(format!("create {}", cache.display())))?;
    let text = std::fs::read_to_string(answers_path()).map_err(io(answers_path().display().to_string()))?;
    let answers = demo::parse_standard_answers(&text).map_err(DemoLogError::Answers)?;
    let config = config.clone();
    eprintln!(
        "demo log: building {} complaints (seed {}, from {}) into {} ...",
        config.complaints,
        config.seed,
        config.start,
        dir.display()
    );

    let open_dir = dir.clone();
    let options = StoreOptions::default().with_cache_bytes(BUILD_CACHE_BYTES);
    let store = tokio::task::spawn_blocking(move || SledStore::open_with(open_dir, options))
        .await
        .expect("opening the store does not panic")?;
    let start = Instant::now();
    let process_start = cpu_of_threads("");
    let (chunks, mut incoming) = tokio::sync::mpsc::channel::<Vec<WrittenEvent>>(CHUNKS_AHEAD_MAX);
    let generator = std::thread::spawn(move || build_chunks(demo::stream(&config, &answers), &chunks));
    let mut imported = 0u64;
    while let Some(chunk) = incoming.recv().await {
        let count = chunk.len() as u64;
        store.import(chunk).await?;
        if (imported + count) / PROGRESS_EVENTS > imported / PROGRESS_EVENTS {
            let seconds = start.elapsed().as_secs_f64();
            eprintln!("  {} events, {seconds:.0} s", imported + count);
        }
        imported += count;
    }
    let (summary, generate_cpu, queued_peak) = generator.join().expect("the generating thread does not panic");
    let load = start.elapsed();
    let writer_cpu = cpu_of_threads("redress-writer");
    let process_cpu = cpu_of_threads("").saturating_sub(process_start);

    let verify_start = Instant::now();
    let verification = verify_store(&store, |_| {}).await?;
    let verify = verify_start.elapsed();
    let head_hash = match &verification {
        Verification::Intact { events, head: Some((_, hash)) } if *events == summary.events as u64 => hash.to_hex(),
        _ => return Err(DemoLogError::Broken(verification)),
    };
    store.close().await?;
    drop(store);
    let built = BuildFigures {
        load,
        generate_cpu,
        writer_cpu,
        process_cpu,
        queued_peak,
        verify,
        disk_bytes: disk_bytes(&dir),
        peak_rss_bytes: peak_rss(),
    };
    eprintln!(
        "demo log: {} events in {:.1} s ({:.0} events/s); CPU: generating {:.1} s, the store's writer {:.1} s, \
         the process {:.1} s; verified in {:.1} s; {} MB on disk; peak RSS {} MB",
        summary.events,
        load.as_secs_f64(),
        summary.events as f64 / load.as_secs_f64(),
        generate_cpu.as_secs_f64(),
        writer_cpu.as_secs_f64(),
        process_cpu.as_secs_f64(),
        verify.as_secs_f64(),
        built.disk_bytes / 1_000_000,
        built.peak_rss_bytes / 1_000_000
    );
    let log = DemoLog { dir, summary, head_hash, built: Some(built) };
    write_marker(&marker, &log)?;
    Ok(log)
}

/// The log a complete cache holds, if the marker is there and reads back.
fn read_marker(marker: &Path, dir: &Path) -> Option<DemoLog> {
    let text = std::fs::read_to_string(marker).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let summary: DemoSummary = serde_json::from_value(value.get("summary")?.clone()).ok()?;
    let head_hash = value.get("head_hash")?.as_str()?.to_owned();
    Some(DemoLog { dir: dir.to_path_buf(), summary, head_hash, built: None })
}

/// Written last, and atomically (a rename): its presence means the log beside it is complete and verified.
fn write_marker(marker: &Path, log: &DemoLog) -> Result<(), DemoLogError> {
    let built = log.built.as_ref().map(|b| {
        serde_json::json!({
            "load_seconds": b.load.as_secs_f64(),
            "generate_cpu_seconds": b.generate_cpu.as_secs_f64(),
            "writer_cpu_seconds": b.writer_cpu.as_secs_f64(),
            "process_cpu_seconds": b.process_cpu.as_secs_f64(),
            "queued_peak": b.queued_peak,
            "verify_seconds": b.verify.as_secs_f64(),
            "disk_bytes": b.disk_bytes,
            "peak_rss_bytes": b.peak_rss_bytes,
        })
    });
    let value = serde_json::json!({
        "format": LOG_FORMAT,
        "summary": log.summary,
        "head_hash": log.head_hash,
        "built": built,
    });
    let text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    let partial = marker.with_extension("partial");
    std::fs::write(&partial, text).map_err(io(format!("write {}", partial.display())))?;
    std::fs::rename(&partial, marker).map_err(io(format!("rename to {}", marker.display())))
}

/// Draws the demo and turns it into the events the store would have written, in chunks of at most
/// `APPEND_EVENTS_MAX` (an append is never split). Runs on its own thread; returns the demo's summary, the
/// thread's CPU time and the stream's queued peak.
fn build_chunks(
    mut appends: DemoStream,
    chunks: &tokio::sync::mpsc::Sender<Vec<WrittenEvent>>,
) -> (DemoSummary, Duration, usize) {
    let mut recorder = Recorder::new();
    let mut chunk: Vec<WrittenEvent> = Vec::with_capacity(APPEND_EVENTS_MAX);
    for append in appends.by_ref() {
        if chunk.len() + append.events.len() > APPEND_EVENTS_MAX {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(APPEND_EVENTS_MAX));
            if chunks.blocking_send(full).is_err() {
                // The importer stopped (it failed and says why); nothing more is wanted.
                break;
            }
        }
        recorder.record(append, &mut chunk);
    }
    if !chunk.is_empty() {
        // Ignored like above: a stopped importer reports its own failure.
        let _ = chunks.blocking_send(chunk);
    }
    (appends.summary(), cpu_of_this_thread(), appends.queued_peak())
}
