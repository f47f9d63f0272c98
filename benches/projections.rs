//! The Redress read-side benchmark: every built-in fold rebuilding together from position 0 over the demo
//! log, the bytes its checkpoints write, the memory it holds per complaint, a restart, and the latency
//! of a page of each view — at 75,000 complaints by default, 1,000,000 with `--complaints 1000000`.
//!
//! `cargo bench --bench projections [-- OPTIONS]`
//!
//! Every rate is reported beside its ratio to a plain `read_all` scan of the same log (pages of 10,000,
//! decoded: what the folds' reader does) measured in the same run, because the machine is shared and
//! noisy. The log is the deterministic demo (`redress_adapters::demo`), written once into a `SledStore`
//! under the target dir and cached there, keyed by complaint count and seed (`common/demo_log.rs`: the first
//! run builds and verifies it, which takes most of an hour at 1,000,000 complaints on this machine).
//!
//! Options:
//! - `--complaints N`: complaints of the demo (default 75,000, ~1,000,000 events); `--quick`: 20,000.
//! - `--seed S`: demo seed (default: `DemoConfig::default().seed`).
//! - `--fresh`: ignore (and replace) a cached log.
//! - `--queries N`: queries per view for the latency figures (default 200).
//! - `--live-seconds N`: seconds of one append a second after the rebuild (default 10).
//! - `--no-trim`: never call glibc's `malloc_trim` before an RSS reading.
//! - `--folds complaints|library|all` (default all): which built-in folds run, to split the cost.

use redress_adapters::demo::{DemoConfig, DemoSummary};
use redress_engine::{EventFilter, EventStore, ExpectedVersion, SledStore};
use redress_projections::complaints::ComplaintsFold;
use redress_projections::library::LibraryFold;
use redress_projections::policy::SlaPolicy;
use redress_projections::{
    add_builtins, Change, Checkpoint, FoldStore, FoldStores, Folds, ProjectionError, Query, SledFoldStores, StateReader,
};
use redress_schemas::{Position, ProposedEvent, StreamName, Timestamp};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;
use common::demo_log::demo_log;
use common::{disk_bytes, fresh_dir};

/// `--no-trim`: leave glibc's heap as the run leaves it (RSS deltas then mean little).
static NO_TRIM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" {
    /// glibc: gives free heap memory back to the kernel (also from the middle of the heap).
    fn malloc_trim(pad: usize) -> i32;
}

/// VmRSS of this process, in bytes, after glibc has given back what it holds free.
fn rss() -> u64 {
    if !NO_TRIM.load(Ordering::Relaxed) {
        // SAFETY: malloc_trim only walks glibc's own free lists.
        unsafe { malloc_trim(0) };
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS in kB");
    kb * 1024
}

// ---------------------------------------------------------------------------------------------------------
// Options

struct Opts {
    complaints: usize,
    seed: u64,
    fresh: bool,
    queries: usize,
    live_seconds: u64,
    /// `--folds complaints|library|all`: which built-in folds run (the split says where rebuild time goes).
    folds: String,
}

impl Opts {
    fn parse() -> Opts {
        let mut opts = Opts {
            complaints: 75_000,
            seed: DemoConfig::default().seed,
            fresh: false,
            queries: 200,
            live_seconds: 10,
            folds: "all".into(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().unwrap_or_else(|| panic!("{name} needs a value"));
            match arg.as_str() {
                "--complaints" => opts.complaints = value("--complaints").parse().expect("--complaints N"),
                "--quick" => opts.complaints = 20_000,
                "--seed" => opts.seed = value("--seed").parse().expect("--seed S"),
                "--fresh" => opts.fresh = true,
                "--no-trim" => NO_TRIM.store(true, Ordering::Relaxed),
                "--queries" => opts.queries = value("--queries").parse::<usize>().expect("N").max(1),
                "--live-seconds" => opts.live_seconds = value("--live-seconds").parse().expect("N"),
                "--folds" => opts.folds = value("--folds"),
                // `cargo bench` passes `--bench`; libtest-style filters are ignored.
                _ => {}
            }
        }
        opts
    }
}

// ---------------------------------------------------------------------------------------------------------
// The log: the demo, generated and loaded once, cached under the target dir.

/// The cached store directory and what it holds (`common::demo_log`: built and verified by the first run).
async fn demo_store(opts: &Opts) -> (PathBuf, DemoSummary) {
    // A year that has passed: the store refuses events dated in the future (EVENTS.md v1.1), and the live
    // phase appends at the wall clock after the log.
    let start = Timestamp::parse("2025-01-01T00:00:00Z").expect("a valid instant");
    let config = DemoConfig { seed: opts.seed, complaints: opts.complaints, start, ..DemoConfig::default() };
    let log = demo_log(&config, opts.fresh).await.unwrap_or_else(|e| panic!("the demo log: {e}"));
    (log.dir, log.summary)
}

// ---------------------------------------------------------------------------------------------------------
// Formatting

fn fmt_int(x: f64) -> String {
    let whole = x.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    if whole < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// Targets (the issue "The read side at scale"), as ratios or bounds.

const REBUILD_RATIO_MIN: f64 = 0.8;
const CHECKPOINT_BYTES_RATIO_MAX: f64 = 2.0;
const RSS_BYTES_PER_COMPLAINT_MAX: f64 = 1_536.0;
const QUERY_P99_MS_MAX: f64 = 50.0;
const RESTART_SECONDS_MAX: f64 = 5.0;

/// A plain scan of the log with the folds' page size: events and seconds.
async fn scan(store: &dyn EventStore) -> (u64, f64) {
    let start = Instant::now();
    let mut from = Position(0);
    let mut events = 0u64;
    loop {
        let page = store.read_all(from, 10_000, &EventFilter::all()).await.expect("read_all");
        events += page.events.len() as u64;
        match page.next {
            Some(next) => from = Position(next),
            None => return (events, start.elapsed().as_secs_f64()),
        }
    }
}

/// Fold stores that count the bytes each checkpoint writes.
struct Counted {
    inner: SledFoldStores,
    bytes: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
}

struct CountedStore {
    inner: Arc<dyn FoldStore>,
    bytes: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl FoldStores for Counted {
    async fn current(&self, fold: &str) -> Result<(u64, Arc<dyn FoldStore>), ProjectionError> {
        let (generation, inner) = self.inner.current(fold).await?;
        Ok((generation, self.wrap(inner)))
    }
    async fn create(&self, fold: &str, generation: u64) -> Result<Arc<dyn FoldStore>, ProjectionError> {
        Ok(self.wrap(self.inner.create(fold, generation).await?))
    }
    async fn switch(&self, fold: &str, generation: u64) -> Result<(), ProjectionError> {
        self.inner.switch(fold, generation).await
    }
}

impl Counted {
    fn wrap(&self, inner: Arc<dyn FoldStore>) -> Arc<dyn FoldStore> {
        Arc::new(CountedStore { inner, bytes: Arc::clone(&self.bytes), commits: Arc::clone(&self.commits) })
    }
}

#[async_trait::async_trait]
impl StateReader for CountedStore {
    async fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, ProjectionError> {
        self.inner.get_many(keys).await
    }
    async fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ProjectionError> {
        self.inner.scan(prefix, after, limit).await
    }
}

#[async_trait::async_trait]
impl FoldStore for CountedStore {
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, ProjectionError> {
        self.inner.checkpoint().await
    }
    async fn commit(&self, changes: Vec<Change>, checkpoint: Checkpoint) -> Result<(), ProjectionError> {
        let bytes: usize = changes.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len)).sum();
        self.bytes.fetch_add(bytes as u64 + 12, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.inner.commit(changes, checkpoint).await
    }
}

async fn start_folds(store: &Arc<dyn EventStore>, which: &str, counted: &Arc<Counted>) -> Folds {
    let stores: Arc<dyn FoldStores> = Arc::clone(counted) as Arc<dyn FoldStores>;
    let mut folds = Folds::new(Arc::clone(store), stores);
    match which {
        "complaints" => {
            folds.add(ComplaintsFold::new(SlaPolicy::default())).await.expect("the complaints fold");
        }
        "library" => {
            folds.add(LibraryFold::default()).await.expect("the library fold");
        }
        "all" => add_builtins(&mut folds, &SlaPolicy::default()).await.expect("add the built-in folds"),
        other => panic!("--folds {other}: complaints, library or all"),
    }
    folds.start();
    folds
}

/// Up to `count` customer ids, taken across the log.
async fn customers_in(store: &dyn EventStore, count: usize) -> Vec<String> {
    let filter = EventFilter::types([redress_schemas::EventType::ComplaintReceived]);
    let head = store.head().await.expect("head").map_or(0, |h| h.position.0);
    let mut customers = Vec::with_capacity(count);
    for i in 0..count as u64 {
        let from = Position(head / count as u64 * i);
        let page = store.read_all(from, 1, &filter).await.expect("read_all");
        if let Some(redress_schemas::EventData::ComplaintReceived(c)) = page.events.first().map(|e| &e.data) {
            customers.push(c.customer_id.clone());
        }
    }
    customers
}

/// The `i`th query of a view's latency series.
type QueryOf = Box<dyn Fn(usize) -> Query>;

fn percentile_ms(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let rank = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[rank] * 1000.0
}

fn row(label: &str, value: String, target: &str, met: Option<bool>) {
    let verdict = match met {
        Some(true) => "met",
        Some(false) => "NOT MET",
        None => "",
    };
    println!("| {label} | {value} | {target} | {verdict} |");
}

fn main() {
    let opts = Opts::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run(opts));
}

async fn run(opts: Opts) {
    let (store_dir, summary) = demo_store(&opts).await;
    let dir = store_dir.clone();
    let store: Arc<dyn EventStore> =
        Arc::new(tokio::task::spawn_blocking(move || SledStore::open(dir)).await.unwrap().expect("open the store"));
    let log_bytes = disk_bytes(&store_dir);
    // Warm sled's cache with one scan, then time two.
    let _ = scan(&*store).await;
    let (events, first) = scan(&*store).await;
    let (_, second) = scan(&*store).await;
    let scan_rate = events as f64 / first.min(second);
    let complaints = summary.complaints as f64;
    eprintln!("read_all: {} events/s over {events} events", fmt_int(scan_rate));

    // Rebuild every built-in fold together from position 0, checkpointing into a fresh sled database.
    let work = fresh_dir();
    let counted = Arc::new(Counted {
        inner: SledFoldStores::open(&work.path().join("projections"), 0).expect("fold stores"),
        bytes: Arc::new(AtomicU64::new(0)),
        commits: Arc::new(AtomicU64::new(0)),
    });
    let rss_before = rss();
    let start = Instant::now();
    let folds = start_folds(&store, &opts.folds, &counted).await;
    assert!(folds.wait_caught_up(Duration::from_secs(3_600)).await, "the folds catch up");
    let rebuild_seconds = start.elapsed().as_secs_f64();
    let rebuild_rate = events as f64 / rebuild_seconds;
    folds.stop().await;
    let catch_up_bytes = counted.bytes.load(Ordering::Relaxed);
    let rss_after = rss();
    let rss_per_complaint = rss_after.saturating_sub(rss_before) as f64 / complaints;
    drop(folds);

    // Restart: open the saved state and answer.
    let start = Instant::now();
    let folds = start_folds(&store, &opts.folds, &counted).await;
    let mut first_answer = None;
    while first_answer.is_none() {
        let probe = if opts.folds == "library" { "answer-gaps" } else { "open-complaints" };
        if folds.query(probe, &Query::at(Timestamp::now())).await.is_ok() {
            first_answer = Some(start.elapsed().as_secs_f64());
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let restart_seconds = first_answer.expect("answered");
    assert!(folds.wait_caught_up(Duration::from_secs(60)).await);

    // Latency of a page of each view, for customers spread over the log.
    let now = Timestamp::now();
    let customers = customers_in(&*store, opts.queries).await;
    let views: Vec<(&str, QueryOf)> = vec![
        ("overdue queue (open-complaints?overdue=true)", Box::new(move |_| Query::at(now).with("overdue", "true"))),
        ("one customer's history", {
            let customers = customers.clone();
            Box::new(move |i| Query::at(now).with("customer_id", &customers[i % customers.len()]))
        }),
        ("repeat-issues page", Box::new(move |_| Query::at(now))),
        ("satisfaction by department", Box::new(move |_| Query::at(now).with("group_by", "department"))),
        ("answer-gaps page", Box::new(move |_| Query::at(now))),
    ];
    let names = ["open-complaints", "customer-history", "repeat-issues", "satisfaction", "answer-gaps"];
    let mut latencies = Vec::new();
    for ((label, query), name) in views.iter().zip(names) {
        let mut samples = Vec::with_capacity(opts.queries);
        for i in 0..opts.queries {
            let q = query(i);
            let start = Instant::now();
            let _ = folds.query(name, &q).await;
            samples.push(start.elapsed().as_secs_f64());
        }
        latencies.push((*label, percentile_ms(&mut samples, 0.5), percentile_ms(&mut samples, 0.99)));
    }

    // Live: one append a second; what each checkpoint writes.
    let before_live = counted.bytes.load(Ordering::Relaxed);
    let commits_before = counted.commits.load(Ordering::Relaxed);
    for i in 0..opts.live_seconds {
        let id = format!("bench-live-{}-{i}", std::process::id());
        let stream = StreamName::complaint(&id).expect("a stream name");
        let event = ProposedEvent::from_json(
            serde_json::json!({"event_type": "complaint_received", "data": {"complaint_id": id, "customer_id": "K-1",
                "channel": "web", "category": "delivery", "severity": "normal", "description": "live"}}),
            &stream,
        )
        .expect("an event");
        store.append(&stream, ExpectedVersion::NoStream, vec![event]).await.expect("append");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let live_bytes = counted.bytes.load(Ordering::Relaxed) - before_live;
    let live_commits = counted.commits.load(Ordering::Relaxed) - commits_before;
    folds.stop().await;

    println!();
    println!(
        "## Read side at scale: {} complaints, {} events, {} MB of log",
        fmt_int(complaints),
        fmt_int(events as f64),
        log_bytes / 1_000_000
    );
    println!();
    println!("| figure | measured | target | |");
    println!("| --- | --- | --- | --- |");
    row("plain read_all (baseline)", format!("{} events/s", fmt_int(scan_rate)), "", None);
    let ratio = rebuild_rate / scan_rate;
    row(
        "all built-in folds rebuilding together",
        format!("{} events/s = {ratio:.2}× read_all ({rebuild_seconds:.1} s)", fmt_int(rebuild_rate)),
        "≥ 0.8× read_all",
        Some(ratio >= REBUILD_RATIO_MIN),
    );
    let bytes_ratio = catch_up_bytes as f64 / log_bytes as f64;
    row(
        "checkpoint bytes while catching up",
        format!("{} MB = {bytes_ratio:.2}× the log", catch_up_bytes / 1_000_000),
        "≤ 2× the log",
        Some(bytes_ratio <= CHECKPOINT_BYTES_RATIO_MAX),
    );
    row(
        "live, 1 append/s: bytes per checkpoint",
        format!("{} bytes in {live_commits} checkpoints", fmt_int(live_bytes as f64)),
        "only what changed",
        None,
    );
    row(
        "RSS of all built-in folds per complaint",
        format!("{} bytes ({} MB)", fmt_int(rss_per_complaint), rss_after.saturating_sub(rss_before) / 1_000_000),
        "≤ 1.5 KB",
        Some(rss_per_complaint <= RSS_BYTES_PER_COMPLAINT_MAX),
    );
    row(
        "restart: first answer",
        format!("{restart_seconds:.2} s"),
        "< 5 s",
        Some(restart_seconds < RESTART_SECONDS_MAX),
    );
    for (label, p50, p99) in latencies {
        row(label, format!("p50 {p50:.1} ms, p99 {p99:.1} ms"), "p99 < 50 ms", Some(p99 < QUERY_P99_MS_MAX));
    }
}
