//! The Redress projections benchmark: rebuilding every built-in read model from position 0 over a
//! million demo events, and the memory each one holds.
//!
//! `cargo bench --bench projections [-- OPTIONS]`
//!
//! Every rebuild rate is reported next to its ratio to a plain `read_all` scan of the same log (decode
//! only) measured in the same run, because the machine is shared and noisy. The scan is measured with
//! pages of 10,000 events (what `replay_state` reads) and of 1,000 (what a runner's `Subscription`
//! reads), and each rebuild is compared with the scan that reads as it does. The log is the deterministic
//! demo (`redress_adapters::demo`), loaded once into a `SledStore` under the target dir and cached there,
//! keyed by complaint count and seed (the first run loads it, later runs reuse it).
//!
//! Options:
//! - `--complaints N`: complaints of the demo (default 75,000, ~1,020,000 events).
//! - `--seed S`: demo seed (default: `DemoConfig::default().seed`).
//! - `--fresh`: ignore (and replace) a cached log.
//! - `--first-page N`: events per page of the first scan after open, which fills sled's cache (default
//!   1,000; with 10,000 glibc's heap ends up laid out so that later scans run ~3× slower).
//! - `--no-trim`: never call glibc's `malloc_trim` (it is called before each RSS reading, which also
//!   changes how fast glibc's malloc serves the next scan; see BENCHMARKS.md).
//! - `--only a,b,..`: phases to run after the baseline scans: `replay`, `runner`, `shared` (default: all).
//! - `--passes N`: timed passes of each `read_all` baseline (default 3; the median is reported).

use redress_adapters::demo::{self, DemoConfig, DemoSummary};
use redress_engine::lifecycle::ComplaintStatus;
use redress_engine::{EventFilter, EventStore, SledStore};
use redress_projections::answer_gaps::AnswerGaps;
use redress_projections::complaints::{ComplaintBook, CustomerHistory, OpenComplaints, RepeatIssues, Satisfaction};
use redress_projections::policy::SlaPolicy;
use redress_projections::suggestions::Suggestions;
use redress_projections::{
    replay_state, start_builtins, Basis, CheckpointStore, Health, MemoryCheckpoints, Projection, ProjectionError,
    Projections, Query, Saved, BUILTIN_NAMES,
};
use redress_schemas::{codec, Position, RecordedEvent, Timestamp};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;
use common::bench_root;

// ---------------------------------------------------------------------------------------------------------
// Heap bytes held, per thread: a cross-check of the RSS deltas (RSS moves in pages and keeps what malloc
// does not give back). A thread-local counter costs a few instructions per call and no contention.

struct CountingAlloc;

thread_local! {
    static NET_HEAP: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = NET_HEAP.try_with(|c| c.set(c.get() + delta));
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Net heap bytes allocated by this thread so far.
fn thread_heap() -> isize {
    NET_HEAP.with(Cell::get)
}

/// `--no-trim`: leave glibc's heap as the run leaves it (RSS deltas then mean little).
static NO_TRIM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" {
    /// glibc: gives free heap memory back to the kernel (also from the middle of the heap).
    fn malloc_trim(pad: usize) -> i32;
}

/// VmRSS of this process, in bytes, after glibc has given back what it holds free: otherwise a state
/// built into memory that an earlier phase freed would show no RSS growth at all.
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

const PHASES: &[&str] = &["replay", "runner", "shared"];

struct Opts {
    complaints: usize,
    seed: u64,
    fresh: bool,
    only: Vec<String>,
    passes: usize,
    first_page: usize,
}

impl Opts {
    fn parse() -> Opts {
        let mut opts = Opts {
            complaints: 75_000,
            seed: DemoConfig::default().seed,
            fresh: false,
            only: PHASES.iter().map(|s| s.to_string()).collect(),
            passes: 3,
            first_page: 1_000,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().unwrap_or_else(|| panic!("{name} needs a value"));
            match arg.as_str() {
                "--complaints" => opts.complaints = value("--complaints").parse().expect("--complaints N"),
                "--seed" => opts.seed = value("--seed").parse().expect("--seed S"),
                "--fresh" => opts.fresh = true,
                "--no-trim" => NO_TRIM.store(true, Ordering::Relaxed),
                "--first-page" => opts.first_page = value("--first-page").parse::<usize>().expect("N").max(1),
                "--only" => opts.only = value("--only").split(',').map(str::to_string).collect(),
                "--passes" => opts.passes = value("--passes").parse::<usize>().expect("--passes N").max(1),
                // `cargo bench` passes `--bench`; libtest-style filters are ignored.
                _ => {}
            }
        }
        for name in &opts.only {
            assert!(PHASES.contains(&name.as_str()), "unknown phase {name:?}; known: {PHASES:?}");
        }
        opts
    }

    fn runs(&self, phase: &str) -> bool {
        self.only.iter().any(|s| s == phase)
    }
}

// ---------------------------------------------------------------------------------------------------------
// The log: the demo, generated and loaded once, cached under the target dir.

fn answers_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/qa-standard-answers.jsonl")
}

fn du(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() { du(&entry.path()) } else { meta.len() };
    }
    total
}

/// The cached store directory and what it holds, loading the demo into it first when needed.
async fn demo_store(opts: &Opts) -> (PathBuf, DemoSummary) {
    let cache = bench_root().join(format!("projections-demo-c{}-s{}", opts.complaints, opts.seed));
    let store_dir = cache.join("store");
    let summary_file = cache.join("summary.json");
    if !opts.fresh {
        if let Ok(text) = std::fs::read_to_string(&summary_file) {
            let summary: serde_json::Value = serde_json::from_str(&text).expect("cached summary");
            let get = |k: &str| summary[k].as_u64().unwrap_or_else(|| panic!("cached summary lacks {k}")) as usize;
            let summary = DemoSummary {
                complaints: get("complaints"),
                events: get("events"),
                appends: get("appends"),
                customers: get("customers"),
                open_at_end: get("open_at_end"),
                answers_published: get("answers_published"),
                answers_used: get("answers_used"),
                ..DemoSummary::default()
            };
            eprintln!("using the cached log in {} ({} events)", store_dir.display(), summary.events);
            return (store_dir, summary);
        }
    }
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::create_dir_all(&cache).expect("create the cache dir");
    let text = std::fs::read_to_string(answers_path()).expect("read qa-standard-answers.jsonl");
    let answers = demo::parse_standard_answers(&text).expect("parse the standard answers");
    let config = DemoConfig { seed: opts.seed, complaints: opts.complaints, ..DemoConfig::default() };
    let start = Instant::now();
    let appends = demo::generate(&config, &answers);
    let summary = demo::summarize(&appends);
    eprintln!(
        "generated {} complaints, {} events, {} appends in {:.1} s; loading into {} ...",
        summary.complaints,
        summary.events,
        summary.appends,
        start.elapsed().as_secs_f64(),
        store_dir.display()
    );
    let dir = store_dir.clone();
    let store = tokio::task::spawn_blocking(move || SledStore::open(dir)).await.unwrap().expect("open the store");
    let start = Instant::now();
    let mut shown = 0;
    let loaded = demo::load(&store, appends, |done, total| {
        if done >= shown + 100_000 || done == total {
            shown = done;
            eprintln!("  {done} / {total} events, {:.0} s", start.elapsed().as_secs_f64());
        }
    })
    .await
    .expect("load the demo");
    store.close().await.expect("close the store");
    drop(store);
    eprintln!(
        "loaded in {:.1} s ({:.0} events/s); {} MB on disk",
        start.elapsed().as_secs_f64(),
        loaded.events as f64 / start.elapsed().as_secs_f64(),
        du(&store_dir) / 1_000_000
    );
    std::fs::write(&summary_file, serde_json::to_string_pretty(&loaded).unwrap()).expect("write the summary");
    (store_dir, loaded)
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

fn yes_no(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**no**"
    }
}

const TARGET: f64 = 300_000.0;

// ---------------------------------------------------------------------------------------------------------
// Baseline: read_all over the whole log, decoded, nothing applied.

async fn scan(store: &dyn EventStore, page_events: usize) -> (u64, f64) {
    let start = Instant::now();
    let mut from = Position(0);
    let mut seen = 0u64;
    loop {
        let page = store.read_all(from, page_events, &EventFilter::all()).await.expect("read_all");
        seen += page.events.len() as u64;
        std::hint::black_box(&page.events);
        match page.next {
            Some(next) => from = Position(next),
            None => break,
        }
    }
    (seen, start.elapsed().as_secs_f64())
}

// ---------------------------------------------------------------------------------------------------------
// (a) replay_state of each projection, in turn, keeping each state to measure what it holds.

struct Replayed {
    name: &'static str,
    seconds: f64,
    rss_delta: i64,
    heap_delta: isize,
    snapshot_bytes: usize,
    encode_ms: f64,
    query_ms: f64,
    /// Kept alive so later RSS deltas don't reuse its memory.
    _state: Box<dyn std::any::Any>,
}

async fn replay_one<P: Projection>(p: P, store: &dyn EventStore, query: Query) -> Replayed {
    let end = Timestamp::from_unix_nanos(i64::MAX);
    let (rss_before, heap_before) = (rss(), thread_heap());
    let start = Instant::now();
    let state = replay_state(&p, store, Basis::Recorded, end).await.expect("replay");
    let seconds = start.elapsed().as_secs_f64();
    let (rss_after, heap_after) = (rss(), thread_heap());
    let start = Instant::now();
    let snapshot = codec::encode_snapshot(&state).expect("encode the snapshot");
    let encode_ms = start.elapsed().as_secs_f64() * 1e3;
    let snapshot_bytes = snapshot.len();
    drop(snapshot);
    let start = Instant::now();
    let answer = p.query(&state, &query).await.expect("query");
    let query_ms = start.elapsed().as_secs_f64() * 1e3;
    drop(answer);
    Replayed {
        name: p.name(),
        seconds,
        rss_delta: rss_after as i64 - rss_before as i64,
        heap_delta: heap_after - heap_before,
        snapshot_bytes,
        encode_ms,
        query_ms,
        _state: Box::new(state),
    }
}

// ---------------------------------------------------------------------------------------------------------
// (c) a prototype, not the runner: one read of the log feeding every built-in, on one task. What a runner
// sharing a single catch-up among its projections could reach.

fn applier<P: Projection>(p: P) -> Box<dyn FnMut(&RecordedEvent)> {
    let filter = p.event_types().map_or_else(EventFilter::all, EventFilter::types);
    let mut state = P::State::default();
    Box::new(move |event| {
        if filter.admits(event.event_type()) {
            p.apply(&mut state, event).expect("apply");
        }
    })
}

async fn shared_read(store: &dyn EventStore) -> f64 {
    let policy = SlaPolicy::default();
    let mut appliers = vec![
        applier(OpenComplaints { policy: policy.clone() }),
        applier(CustomerHistory),
        applier(RepeatIssues),
        applier(Satisfaction { policy: policy.clone() }),
        applier(Suggestions),
        applier(AnswerGaps),
    ];
    let start = Instant::now();
    let mut from = Position(0);
    loop {
        let page = store.read_all(from, 1_000, &EventFilter::all()).await.expect("read_all");
        for event in &page.events {
            for apply in appliers.iter_mut() {
                apply(event);
            }
        }
        match page.next {
            Some(next) => from = Position(next),
            None => break,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(appliers);
    seconds
}

// ---------------------------------------------------------------------------------------------------------
// (b) the real runner: Projections + MemoryCheckpoints, from position 0, until caught up.

/// `MemoryCheckpoints`, counting what the runners save (each save encodes the whole state first).
#[derive(Default)]
struct CountedCheckpoints {
    inner: MemoryCheckpoints,
    saves: AtomicU64,
    bytes: AtomicU64,
}

type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ProjectionError>> + Send + 'a>>;

// What `#[async_trait]` would write (the root package doesn't depend on async-trait).
impl CheckpointStore for CountedCheckpoints {
    fn load<'s, 'n, 'a>(&'s self, name: &'n str) -> Boxed<'a, Option<Saved>>
    where
        's: 'a,
        'n: 'a,
        Self: 'a,
    {
        Box::pin(self.inner.load(name))
    }
    fn save<'s, 'n, 'v, 'a>(&'s self, name: &'n str, saved: &'v Saved) -> Boxed<'a, ()>
    where
        's: 'a,
        'n: 'a,
        'v: 'a,
        Self: 'a,
    {
        self.saves.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(saved.state.len() as u64, Ordering::Relaxed);
        Box::pin(self.inner.save(name, saved))
    }
}

struct RunnerResult {
    seconds: f64,
    each: Vec<(&'static str, f64)>,
    saves: u64,
    saved_bytes: u64,
}

/// `all`: `start_builtins`; otherwise only the four complaint projections.
async fn runner(store: Arc<dyn EventStore>, all: bool, head: u64) -> RunnerResult {
    let checkpoints = Arc::new(CountedCheckpoints::default());
    let mut projections = Projections::new(Arc::clone(&store), Arc::clone(&checkpoints) as Arc<dyn CheckpointStore>);
    let policy = SlaPolicy::default();
    let start = Instant::now();
    if all {
        start_builtins(&mut projections, &policy);
    } else {
        projections
            .start(OpenComplaints { policy: policy.clone() })
            .start(CustomerHistory)
            .start(RepeatIssues)
            .start(Satisfaction { policy: policy.clone() });
    }
    // Each projection's time to catch up, polled; then the official wait.
    let names = projections.names();
    let mut done: Vec<Option<f64>> = vec![None; names.len()];
    while done.iter().any(Option::is_none) && start.elapsed() < Duration::from_secs(600) {
        for (i, status) in projections.statuses().await.into_iter().enumerate() {
            if done[i].is_none() && status.checkpoint >= head && status.health == Health::Running {
                done[i] = Some(start.elapsed().as_secs_f64());
            }
            assert!(!matches!(status.health, Health::Failed { .. }), "{status:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(projections.wait_caught_up(Duration::from_secs(600)).await, "caught up");
    let seconds = start.elapsed().as_secs_f64();
    let (saves, saved_bytes) = (checkpoints.saves.load(Ordering::Relaxed), checkpoints.bytes.load(Ordering::Relaxed));
    projections.stop().await;
    RunnerResult {
        seconds,
        each: names.into_iter().zip(done.into_iter().map(|d| d.unwrap_or(f64::NAN))).collect(),
        saves,
        saved_bytes,
    }
}

// ---------------------------------------------------------------------------------------------------------

fn main() {
    let opts = Opts::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let total_start = Instant::now();
    let (dir, summary) = runtime.block_on(demo_store(&opts));
    let events = summary.events as u64;
    println!(
        "log: demo seed {}, {} complaints, {} events ({:.1}/complaint), {} customers, {} open at the end; \
         {} MB on disk; allocator: {}",
        opts.seed,
        fmt_int(summary.complaints as f64),
        fmt_int(events as f64),
        events as f64 / summary.complaints as f64,
        fmt_int(summary.customers as f64),
        fmt_int(summary.open_at_end as f64),
        du(&dir) / 1_000_000,
        std::env::var("LD_PRELOAD").map_or("glibc malloc".to_string(), |p| format!("LD_PRELOAD={p}"))
    );
    let measure_start = Instant::now();
    let store_dir = dir.clone();
    let store: Arc<dyn EventStore> = Arc::new(SledStore::open(store_dir).expect("open the cached store"));

    // Warm sled's cache (the first scan after open also reads the files), then the baselines.
    let rss_open = rss();
    let (seen, cold) = runtime.block_on(scan(store.as_ref(), opts.first_page));
    assert_eq!(seen, events, "the cached log holds the demo");
    let rss_warm = rss();
    let baseline = |page: usize| {
        let mut passes: Vec<f64> =
            (0..opts.passes).map(|_| runtime.block_on(scan(store.as_ref(), page)).1).collect::<Vec<_>>();
        let text = passes.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", ");
        passes.sort_by(f64::total_cmp);
        (events as f64 / passes[passes.len() / 2], passes[passes.len() / 2], text)
    };
    let (read_10k, read_10k_s, read_10k_passes) = baseline(10_000);
    let (read_1k, read_1k_s, read_1k_passes) = baseline(1_000);
    println!();
    println!("| baseline: `read_all` of $all, decoded, nothing applied | events/s | seconds (median) | passes |");
    println!("| --- | ---: | ---: | --- |");
    println!(
        "| first scan after open, pages of {} (warms sled's cache; info) | {} | {cold:.2} | 1 |",
        fmt_int(opts.first_page as f64),
        fmt_int(events as f64 / cold)
    );
    println!(
        "| **pages of 10,000** (as `replay_state` reads) | {} | {read_10k_s:.2} | {read_10k_passes} |",
        fmt_int(read_10k)
    );
    println!(
        "| **pages of 1,000** (as a runner's `Subscription` reads) | {} | {read_1k_s:.2} | {read_1k_passes} |",
        fmt_int(read_1k)
    );
    println!(
        "\nRSS after open {} MB, after the first scan {} MB (sled's page cache)",
        rss_open / 1_000_000,
        rss_warm / 1_000_000
    );

    // (a) replay_state, one projection after the other. The segmenter's dictionary is loaded first, so the
    // first text query doesn't pay for it.
    redress_projections::text::warm_up();
    if opts.runs("replay") {
        let as_of = Timestamp::from_unix_nanos(DemoConfig::default().end().unix_nanos());
        let policy = SlaPolicy::default();
        let q = || Query::at(as_of);
        let mut replayed = Vec::new();
        runtime.block_on(async {
            let s = store.as_ref();
            replayed.push(replay_one(OpenComplaints { policy: policy.clone() }, s, q()).await);
            replayed.push(replay_one(CustomerHistory, s, q().with("customer_id", "K-00001")).await);
            replayed.push(replay_one(RepeatIssues, s, q()).await);
            replayed.push(replay_one(Satisfaction { policy: policy.clone() }, s, q()).await);
            replayed.push(replay_one(Suggestions, s, q().with("text", "笔记本电脑屏幕碎了，要求换新")).await);
            replayed.push(replay_one(AnswerGaps, s, q()).await);
        });
        let book: &ComplaintBook = replayed[0]._state.downcast_ref().expect("open-complaints holds a ComplaintBook");
        let complaints = book.len();
        let open = book.iter().filter(|c| c.status != ComplaintStatus::Closed).count();
        let complaint_four: f64 = replayed[..4].iter().map(|r| r.seconds).sum();
        let builtins: f64 = replayed.iter().filter(|r| BUILTIN_NAMES.contains(&r.name)).map(|r| r.seconds).sum();

        println!();
        println!("### (a) `replay_state`, one projection at a time (the read of the log included)");
        println!();
        println!(
            "| projection | seconds | events/s | × read_all (pages of 10,000) | target ≥ 300,000/s | first query after |"
        );
        println!("| --- | ---: | ---: | ---: | --- | ---: |");
        for r in &replayed {
            let rate = events as f64 / r.seconds;
            println!(
                "| {} | {:.2} | {} | {:.2}× | {} | {:.1} ms |",
                r.name,
                r.seconds,
                fmt_int(rate),
                rate / read_10k,
                yes_no(rate >= TARGET),
                r.query_ms
            );
        }
        let all_label = format!("all {} built-ins (`BUILTIN_NAMES`), in turn", BUILTIN_NAMES.len());
        for (label, seconds) in
            [("the 4 complaint projections, in turn", complaint_four), (all_label.as_str(), builtins)]
        {
            let rate = events as f64 / seconds;
            println!(
                "| **{label}** | {seconds:.2} | {} | {:.2}× | {} | |",
                fmt_int(rate),
                rate / read_10k,
                yes_no(rate >= TARGET)
            );
        }

        println!();
        println!(
            "### Memory held, per complaint ({} complaints) and per open complaint ({} open)",
            fmt_int(complaints as f64),
            fmt_int(open as f64)
        );
        println!();
        println!(
            "| projection | snapshot | B/complaint | B/open | encode | RSS delta | B/complaint | B/open | \
             heap delta | B/complaint | B/open |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let per = |bytes: f64, n: usize| fmt_int(bytes / n.max(1) as f64);
        let line = |name: &str, snap: f64, encode_ms: f64, rss_d: f64, heap_d: f64| {
            println!(
                "| {name} | {:.1} MB | {} | {} | {encode_ms:.0} ms | {:.1} MB | {} | {} | {:.1} MB | {} | {} |",
                snap / 1e6,
                per(snap, complaints),
                per(snap, open),
                rss_d / 1e6,
                per(rss_d, complaints),
                per(rss_d, open),
                heap_d / 1e6,
                per(heap_d, complaints),
                per(heap_d, open)
            );
        };
        for r in &replayed {
            line(r.name, r.snapshot_bytes as f64, r.encode_ms, r.rss_delta as f64, r.heap_delta as f64);
        }
        let sum = |f: &dyn Fn(&Replayed) -> f64| replayed.iter().map(f).sum::<f64>();
        line(
            "**all 6**",
            sum(&|r| r.snapshot_bytes as f64),
            sum(&|r| r.encode_ms),
            sum(&|r| r.rss_delta as f64),
            sum(&|r| r.heap_delta as f64),
        );
        drop(replayed);
    }

    // (b) the runner.
    if opts.runs("runner") {
        println!();
        println!("### (b) the runner: `Projections::new(store, MemoryCheckpoints)` + start, until caught up");
        println!();
        println!(
            "| projections | wall seconds | events/s | × read_all (pages of 1,000) | target ≥ 300,000/s | \
             checkpoint saves (MB encoded) | each caught up at (s) |"
        );
        println!("| --- | ---: | ---: | ---: | --- | ---: | --- |");
        for all in [true, false] {
            let r = runtime.block_on(runner(Arc::clone(&store), all, events));
            let rate = events as f64 / r.seconds;
            let label = if all {
                format!("**`start_builtins`** ({})", r.each.len())
            } else {
                "the 4 complaint projections only (info)".to_string()
            };
            println!(
                "| {label} | {:.2} | {} | {:.2}× | {} | {} ({:.0} MB) | {} |",
                r.seconds,
                fmt_int(rate),
                rate / read_1k,
                yes_no(rate >= TARGET),
                r.saves,
                r.saved_bytes as f64 / 1e6,
                r.each.iter().map(|(n, s)| format!("{n} {s:.2}")).collect::<Vec<_>>().join(", ")
            );
        }
    }

    // (c) the prototype of a shared read.
    if opts.runs("shared") {
        let seconds = runtime.block_on(shared_read(store.as_ref()));
        let rate = events as f64 / seconds;
        println!();
        println!("### (c) prototype, not the runner: one read (pages of 1,000) applying all 6 built-ins, one task");
        println!();
        println!("| what | seconds | events/s | × read_all (pages of 1,000) | target ≥ 300,000/s |");
        println!("| --- | ---: | ---: | ---: | --- |");
        println!(
            "| one `read_all` pass, each event applied to the 6 states | {seconds:.2} | {} | {:.2}× | {} |",
            fmt_int(rate),
            rate / read_1k,
            yes_no(rate >= TARGET)
        );
    }

    runtime.block_on(store.close()).expect("close the store");
    println!();
    println!(
        "measured in {:.1} s (total run {:.1} s)",
        measure_start.elapsed().as_secs_f64(),
        total_start.elapsed().as_secs_f64()
    );
}
