//! The PostgreSQL store benchmark: durable appends per second against plain `INSERT`s on the same server,
//! with the sled store's figures from the same run beside them.
//!
//! `cargo bench --bench postgres [-- OPTIONS]`
//!
//! Every Redress-on-PostgreSQL figure is a ratio to the matching plain-`INSERT` figure measured just
//! before and just after it (the mean of the two; the row is *unstable* when they differ by more than
//! 1.5×), on the same server, because the machine is shared and the disk drifts. The sled rows are
//! bracketed the same way by a raw `write + fdatasync` baseline, as in `benches/engine.rs`.
//!
//! Each run makes a fresh schema (`redress_bench_<pid>_<unix time>`) and drops it at the end.
//!
//! Options:
//! - `--url URL`: the database (default `host=127.0.0.1 port=5432 user=postgres dbname=test`, or
//!   `REDRESS_BENCH_PG_URL`).
//! - `--quick`: halve every timed phase.
//! - `--only a,b,..`: `postgres`, `sled` (default: both).
//! - `--writers N`: concurrent writers (and plain connections) of scenario 2 (default 64).
//! - `--keep`: keep the schema (to look at it afterwards).

use redress_engine::PostgresStore;
use redress_engine::{EventFilter, EventStore, ExpectedVersion, SledStore};
use redress_schemas::{Position, ProposedEvent, StreamName};
use serde_json::json;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

#[path = "common/mod.rs"]
mod common;
use common::{fmt_rate, fresh_dir};

const DEFAULT_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";
const BATCH: usize = 100;

struct Opts {
    url: String,
    scale: f64,
    only: Vec<String>,
    writers: usize,
    keep: bool,
}

impl Opts {
    fn parse() -> Opts {
        let mut opts = Opts {
            url: std::env::var("REDRESS_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_URL.to_string()),
            scale: 1.0,
            only: vec!["postgres".into(), "sled".into()],
            writers: 64,
            keep: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().unwrap_or_else(|| panic!("{name} needs a value"));
            match arg.as_str() {
                "--url" => opts.url = value("--url"),
                "--quick" => opts.scale = 0.5,
                "--only" => opts.only = value("--only").split(',').map(str::to_string).collect(),
                "--writers" => opts.writers = value("--writers").parse().expect("--writers N"),
                "--keep" => opts.keep = true,
                // `cargo bench` passes `--bench`; libtest-style filters are ignored.
                _ => {}
            }
        }
        opts
    }

    fn runs(&self, part: &str) -> bool {
        self.only.iter().any(|s| s == part)
    }

    fn secs(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds * self.scale)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Events: the same as benches/engine.rs.

fn complaint(prefix: &str, i: usize) -> StreamName {
    StreamName::new(format!("complaint-{prefix}-{i:06}")).expect("valid stream name")
}

fn meta() -> serde_json::Value {
    json!({"actor": "agent-0042", "source": "bench", "correlation_id": "corr-7f3a9c"})
}

fn received(stream: &StreamName) -> ProposedEvent {
    let id = stream.as_str().strip_prefix("complaint-").expect("a complaint stream");
    ProposedEvent::from_json(
        json!({"event_type": "complaint_received", "metadata": meta(), "data": {
            "complaint_id": id, "customer_id": "K-31337", "channel": "hotline", "category": "delivery",
            "severity": "high", "description": "笔记本电脑送达时屏幕碎了, customer asks for a replacement",
            "product": "LX-14 laptop"}}),
        stream,
    )
    .expect("valid complaint_received")
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

async fn open_streams(store: &Arc<dyn EventStore>, prefix: &str, n: usize) -> Vec<StreamName> {
    let streams: Vec<StreamName> = (0..n).map(|i| complaint(prefix, i)).collect();
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

async fn next_position(store: &dyn EventStore) -> u64 {
    store.head().await.expect("head").map_or(0, |h| h.position.0 + 1)
}

/// (groups, events) committed from `from` on: a group's events share one `recorded_at` (both stores
/// stamp a whole group, one transaction or one flush + fdatasync, with one instant).
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
struct Measured {
    /// Events (or rows, or syncs) made durable.
    n: u64,
    seconds: f64,
    /// Per call (one append, one statement).
    latencies_ns: Vec<u64>,
    /// (groups, events) read back from the log.
    groups: Option<(u64, u64)>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.n as f64 / self.seconds
    }

    fn p(&mut self, p: f64) -> String {
        self.latencies_ns.sort_unstable();
        if self.latencies_ns.is_empty() {
            return "–".into();
        }
        let i = ((p / 100.0) * (self.latencies_ns.len() - 1) as f64).round() as usize;
        format!("{:.2} ms", self.latencies_ns[i] as f64 / 1e6)
    }

    fn per_group(&self) -> String {
        match self.groups {
            Some((g, e)) if g > 0 => format!("{:.1}", e as f64 / g as f64),
            _ => "–".into(),
        }
    }
}

/// "ratio (around: before → after)", and whether the bracket is unstable.
fn ratio(value: f64, before: f64, after: f64) -> String {
    let mean = (before + after) / 2.0;
    let unstable = if before.max(after) > 1.5 * before.min(after) { " **unstable**" } else { "" };
    format!("{:.2}× (of {}: {} → {}){unstable}", value / mean, fmt_rate(mean), fmt_rate(before), fmt_rate(after))
}

// ---------------------------------------------------------------------------------------------------------
// Plain PostgreSQL: INSERT INTO <schema>.baseline(id bigint, payload bytea), autocommit.

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("connection: {e}");
        }
    });
    client
}

/// One connection, one single-row INSERT per statement (one transaction, one WAL flush each).
async fn plain_single(client: &Client, schema: &str, payload: &[u8], duration: Duration, first_id: i64) -> Measured {
    let insert = client.prepare(&format!("INSERT INTO {schema}.baseline (id, payload) VALUES ($1, $2)")).await.unwrap();
    let mut latencies = Vec::with_capacity(16 * 1024);
    let start = Instant::now();
    let mut id = first_id;
    while start.elapsed() < duration {
        let t = Instant::now();
        client.execute(&insert, &[&id, &payload]).await.expect("insert");
        latencies.push(t.elapsed().as_nanos() as u64);
        id += 1;
    }
    Measured {
        n: latencies.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies_ns: latencies,
        groups: None,
    }
}

/// `clients.len()` connections, each inserting one row per statement, in parallel.
async fn plain_concurrent(
    clients: &[Arc<Client>],
    schema: &str,
    payload: &[u8],
    duration: Duration,
    first_id: i64,
) -> Measured {
    let sql = format!("INSERT INTO {schema}.baseline (id, payload) VALUES ($1, $2)");
    let mut statements = Vec::new();
    for client in clients {
        statements.push(client.prepare(&sql).await.unwrap());
    }
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (k, (client, insert)) in clients.iter().zip(statements).enumerate() {
        let client = Arc::clone(client);
        let payload = payload.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut id = first_id + k as i64 * 1_000_000_000;
            while Instant::now() < deadline {
                let t = Instant::now();
                client.execute(&insert, &[&id, &payload]).await.expect("insert");
                latencies.push(t.elapsed().as_nanos() as u64);
                id += 1;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Measured {
        n: latencies.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies_ns: latencies,
        groups: None,
    }
}

/// One connection, one 100-row multi-value INSERT per statement.
async fn plain_batches(client: &Client, schema: &str, payload: &[u8], duration: Duration, first_id: i64) -> Measured {
    let values: Vec<String> = (0..BATCH).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
    let insert = client
        .prepare(&format!("INSERT INTO {schema}.baseline (id, payload) VALUES {}", values.join(", ")))
        .await
        .unwrap();
    let payloads: Vec<&[u8]> = vec![payload; BATCH];
    let mut latencies = Vec::with_capacity(4096);
    let start = Instant::now();
    let mut id = first_id;
    while start.elapsed() < duration {
        let ids: Vec<i64> = (id..id + BATCH as i64).collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(2 * BATCH);
        for (i, p) in ids.iter().zip(&payloads) {
            params.push(i);
            params.push(p);
        }
        let t = Instant::now();
        client.execute(&insert, &params).await.expect("insert");
        latencies.push(t.elapsed().as_nanos() as u64);
        id += BATCH as i64;
    }
    Measured {
        n: (latencies.len() * BATCH) as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies_ns: latencies,
        groups: None,
    }
}

/// `SELECT 1`, one connection: a round trip and nothing to commit (info).
async fn plain_round_trip(client: &Client, duration: Duration) -> Measured {
    let select = client.prepare("SELECT 1").await.unwrap();
    let mut latencies = Vec::with_capacity(16 * 1024);
    let start = Instant::now();
    while start.elapsed() < duration {
        let t = Instant::now();
        client.query_one(&select, &[]).await.expect("select");
        latencies.push(t.elapsed().as_nanos() as u64);
    }
    Measured {
        n: latencies.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies_ns: latencies,
        groups: None,
    }
}

/// `BEGIN; INSERT one row; COMMIT` as three round trips, one connection (info).
async fn plain_transaction(client: &mut Client, schema: &str, payload: &[u8], duration: Duration) -> Measured {
    let insert = client.prepare(&format!("INSERT INTO {schema}.baseline (id, payload) VALUES ($1, $2)")).await.unwrap();
    let mut latencies = Vec::with_capacity(16 * 1024);
    let start = Instant::now();
    let mut id = -1i64;
    while start.elapsed() < duration {
        let t = Instant::now();
        let tx = client.transaction().await.expect("begin");
        tx.execute(&insert, &[&id, &payload]).await.expect("insert");
        tx.commit().await.expect("commit");
        latencies.push(t.elapsed().as_nanos() as u64);
        id -= 1;
    }
    Measured {
        n: latencies.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies_ns: latencies,
        groups: None,
    }
}

/// `rows` rows per statement, autocommit, into `baseline_events`: a copy of Redress' `events` table (same
/// columns, constraints and indexes), through an `UNNEST` insert shaped like the store's (info). It
/// separates what the schema costs the server from what the store's writer adds.
async fn plain_events_copy(client: &Client, schema: &str, record: &[u8], rows: usize, duration: Duration) -> Measured {
    let insert = client
        .prepare(&format!(
            "INSERT INTO {schema}.baseline_events (position, stream, version, event_id, event_type, recorded_at,
                 record, append_first_position, append_last_position, append_first_version, append_last_version)
             SELECT p, st, v, id::uuid, t, timestamptz 'epoch' + (r / 1000) * interval '1 microsecond', rec,
                    afp, alp, afv, alv
             FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::int8[], $7::bytea[],
                         $8::int8[], $9::int8[], $10::int8[], $11::int8[])
                  AS u(p, st, v, id, t, r, rec, afp, alp, afv, alv)"
        ))
        .await
        .unwrap();
    let stream = format!("complaint-copy-{rows}");
    let mut latencies = Vec::with_capacity(16 * 1024);
    let start = Instant::now();
    let mut position = match rows {
        1 => 0i64,
        _ => 1i64 << 40,
    };
    while start.elapsed() < duration {
        let positions: Vec<i64> = (position..position + rows as i64).collect();
        let streams: Vec<&str> = vec![stream.as_str(); rows];
        let ids: Vec<String> = (0..rows).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        let types: Vec<&str> = vec!["progress_updated"; rows];
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
        let recorded: Vec<i64> = vec![now; rows];
        let records: Vec<&[u8]> = vec![record; rows];
        let (first, last) = (vec![position; rows], vec![position + rows as i64 - 1; rows]);
        let params: [&(dyn ToSql + Sync); 11] =
            [&positions, &streams, &positions, &ids, &types, &recorded, &records, &first, &last, &first, &last];
        let t = Instant::now();
        client.execute(&insert, &params).await.expect("insert into the events copy");
        latencies.push(t.elapsed().as_nanos() as u64);
        position += rows as i64;
    }
    Measured {
        n: (latencies.len() * rows) as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies_ns: latencies,
        groups: None,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Redress: the scenarios of benches/engine.rs, on any store.

/// One task, one event per append, round-robin over 8 streams.
async fn redress_single(store: &Arc<dyn EventStore>, prefix: &str, duration: Duration) -> Measured {
    let streams = open_streams(store, prefix, 8).await;
    let events: Vec<ProposedEvent> = streams.iter().map(progress).collect();
    let mut versions = vec![0u64; streams.len()];
    let first = next_position(store.as_ref()).await;
    let mut latencies = Vec::with_capacity(16 * 1024);
    let start = Instant::now();
    while start.elapsed() < duration {
        let i = latencies.len() % streams.len();
        let t = Instant::now();
        let outcome = store
            .append(&streams[i], ExpectedVersion::Exact(versions[i]), vec![events[i].clone()])
            .await
            .expect("append");
        latencies.push(t.elapsed().as_nanos() as u64);
        versions[i] = outcome.result.last_version;
    }
    let seconds = start.elapsed().as_secs_f64();
    let n = latencies.len() as u64;
    let groups = count_groups(store.as_ref(), first).await;
    assert_eq!(groups.1, n, "every append was read back");
    Measured { n, seconds, latencies_ns: latencies, groups: Some(groups) }
}

/// `writers` tasks, each on its own stream, one event per append (`batch` = 1) or `batch` per append.
async fn redress_concurrent(
    store: &Arc<dyn EventStore>,
    prefix: &str,
    writers: usize,
    batch: usize,
    duration: Duration,
) -> Measured {
    let streams = open_streams(store, prefix, writers).await;
    let first = next_position(store.as_ref()).await;
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for stream in streams {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let event = progress(&stream);
            let mut latencies = Vec::with_capacity(4096);
            let mut version = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let events = vec![event.clone(); batch];
                let outcome = store.append(&stream, ExpectedVersion::Exact(version), events).await.expect("append");
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
    let n = (latencies.len() * batch) as u64;
    let groups = count_groups(store.as_ref(), first).await;
    assert_eq!(groups.1, n, "every append was read back");
    Measured { n, seconds, latencies_ns: latencies, groups: Some(groups) }
}

// ---------------------------------------------------------------------------------------------------------
// The raw fdatasync baseline of benches/engine.rs (append 100 B + fdatasync), for the sled rows.

fn fsync_baseline(duration: Duration) -> f64 {
    let dir = fresh_dir();
    let mut file = OpenOptions::new().create(true).append(true).open(dir.path().join("sync.dat")).unwrap();
    let buf = [0x5au8; 100];
    let start = Instant::now();
    let mut syncs = 0u64;
    while start.elapsed() < duration {
        file.write_all(&buf).unwrap();
        file.sync_data().unwrap();
        syncs += 1;
    }
    syncs as f64 / start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------------------

struct Row {
    scenario: &'static str,
    plain_label: &'static str,
    plain: (f64, f64),
    plain_mid: Measured,
    redress: Measured,
}

/// Plain statements measured once, to split the costs (no bracket, no ratio).
struct Info {
    what: &'static str,
    measured: Measured,
}

async fn postgres_part(opts: &Opts, admin: &Client, schema: &str) -> (Vec<Row>, Vec<Info>) {
    let store: Arc<dyn EventStore> =
        Arc::new(PostgresStore::connect(&opts.url, schema).await.expect("open the PostgreSQL store"));
    admin
        .batch_execute(&format!(
            "CREATE TABLE {schema}.baseline (id bigint, payload bytea);
             CREATE TABLE {schema}.baseline_events (LIKE {schema}.events INCLUDING ALL);"
        ))
        .await
        .expect("create the baseline table");

    // The plain rows carry as many bytes as a Redress record of the appended event.
    let probe = open_streams(&store, "probe", 1).await;
    store.append(&probe[0], ExpectedVersion::Exact(0), vec![progress(&probe[0])]).await.expect("probe append");
    let row = admin
        .query_one(&format!("SELECT octet_length(record) FROM {schema}.events ORDER BY position DESC LIMIT 1"), &[])
        .await
        .unwrap();
    let record_bytes = row.get::<_, i32>(0) as usize;
    let payload = vec![0x5au8; record_bytes];
    eprintln!("  record of the appended event: {record_bytes} bytes (the plain rows' payload)");

    let around = opts.secs(1.5);
    let main = opts.secs(3.0);
    let mut next_id = 0i64;
    let mut ids = |n: i64| {
        let id = next_id;
        next_id += n;
        id
    };
    let mut rows = Vec::new();

    // 1. One writer.
    let plain = connect(&opts.url).await;
    eprintln!("  1. one writer ...");
    let before = plain_single(&plain, schema, &payload, around, ids(1 << 40)).await.rate();
    let redress = redress_single(&store, "P1", main).await;
    let after = plain_single(&plain, schema, &payload, around, ids(1 << 40)).await;
    rows.push(Row {
        scenario: "1. one writer, 1 event per append",
        plain_label: "single-row INSERT, autocommit, 1 connection",
        plain: (before, after.rate()),
        plain_mid: after,
        redress,
    });

    // 2. Many writers.
    eprintln!("  2. {} concurrent writers ...", opts.writers);
    let mut clients = Vec::new();
    for _ in 0..opts.writers {
        clients.push(Arc::new(connect(&opts.url).await));
    }
    let before = plain_concurrent(&clients, schema, &payload, around, ids(1 << 44)).await.rate();
    let redress = redress_concurrent(&store, "P64", opts.writers, 1, main).await;
    let after = plain_concurrent(&clients, schema, &payload, around, ids(1 << 44)).await;
    drop(clients);
    rows.push(Row {
        scenario: "2. concurrent writers, 1 event per append",
        plain_label: "single-row INSERT, autocommit, one connection per writer",
        plain: (before, after.rate()),
        plain_mid: after,
        redress,
    });

    // 3. Batches of 100.
    eprintln!("  3. batches of {BATCH} ...");
    let before = plain_batches(&plain, schema, &payload, around, ids(1 << 40)).await.rate();
    let redress = redress_concurrent(&store, "P100", 1, BATCH, main).await;
    let after = plain_batches(&plain, schema, &payload, around, ids(1 << 40)).await;
    rows.push(Row {
        scenario: "3. batches of 100, 1 task",
        plain_label: "100-row multi-value INSERT, autocommit, 1 connection",
        plain: (before, after.rate()),
        plain_mid: after,
        redress,
    });

    // What the costs are made of (info).
    eprintln!("  info rows ...");
    let info_time = opts.secs(1.5);
    let mut plain = plain;
    let mut infos = vec![
        Info {
            what: "`SELECT 1`: one round trip, nothing committed",
            measured: plain_round_trip(&plain, info_time).await,
        },
        Info {
            what: "`BEGIN`; single-row INSERT; `COMMIT`: 3 round trips, 1 commit",
            measured: plain_transaction(&mut plain, schema, &payload, info_time).await,
        },
    ];
    for (what, rows) in [
        ("1-row `UNNEST` INSERT into a copy of `events` (same constraints and indexes), autocommit", 1),
        ("100-row `UNNEST` INSERT into a copy of `events` (same constraints and indexes), autocommit", BATCH),
    ] {
        infos.push(Info { what, measured: plain_events_copy(&plain, schema, &payload, rows, info_time).await });
    }

    store.close().await.expect("close the store");
    (rows, infos)
}

async fn sled_part(opts: &Opts, writers: usize) -> Vec<(&'static str, (f64, f64), Measured)> {
    let mut out = Vec::new();
    let around = opts.secs(0.5);
    let main = opts.secs(3.0);
    for (name, kind) in [
        ("1. one writer, 1 event per append", 0),
        ("2. concurrent writers, 1 event per append", 1),
        ("3. batches of 100, 1 task", 2),
    ] {
        eprintln!("  sled {name} ...");
        let dir = fresh_dir();
        let path = dir.path().to_path_buf();
        let store: Arc<dyn EventStore> =
            Arc::new(tokio::task::spawn_blocking(move || SledStore::open(path)).await.unwrap().expect("open sled"));
        let before = tokio::task::block_in_place(|| fsync_baseline(around));
        let measured = match kind {
            0 => redress_single(&store, "S1", main).await,
            1 => redress_concurrent(&store, "S64", writers, 1, main).await,
            _ => redress_concurrent(&store, "S100", 1, BATCH, main).await,
        };
        let after = tokio::task::block_in_place(|| fsync_baseline(around));
        store.close().await.expect("close the store");
        out.push((name, (before, after), measured));
    }
    out
}

fn main() {
    let opts = Opts::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let total = Instant::now();
    let schema = format!(
        "redress_bench_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    );

    let admin = runtime.block_on(connect(&opts.url));
    let mut settings = Vec::new();
    for name in ["server_version", "synchronous_commit", "fsync", "wal_sync_method", "commit_delay", "full_page_writes"]
    {
        let row = runtime.block_on(admin.query_one(&format!("SHOW {name}"), &[])).expect("SHOW");
        settings.push((name, row.get::<_, String>(0)));
    }
    println!("PostgreSQL at `{}`, schema `{schema}`:", opts.url);
    println!();
    println!("| setting | value |");
    println!("| --- | --- |");
    for (name, value) in &settings {
        println!("| `{name}` | {value} |");
    }

    let pg = opts.runs("postgres").then(|| {
        eprintln!("PostgreSQL ...");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(postgres_part(&opts, &admin, &schema))
        }));
        if !opts.keep {
            runtime
                .block_on(admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                .expect("drop the bench schema");
        }
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    let sled = opts.runs("sled").then(|| {
        eprintln!("sled ...");
        runtime.block_on(sled_part(&opts, opts.writers))
    });

    if let Some((mut rows, mut infos)) = pg {
        println!();
        println!(
            "| scenario | plain INSERT, rows/s (before → after) | Redress on PostgreSQL, events/s | × plain INSERT |"
        );
        println!("| --- | ---: | ---: | ---: |");
        for row in &rows {
            let (before, after) = row.plain;
            println!(
                "| {} | {} → {} | {} | {} |",
                row.scenario,
                fmt_rate(before),
                fmt_rate(after),
                fmt_rate(row.redress.rate()),
                ratio(row.redress.rate(), before, after)
            );
        }
        println!();
        println!("| scenario | plain: what | plain p50 / p99 per statement | Redress p50 / p99 per append | Redress events per transaction |");
        println!("| --- | --- | ---: | ---: | ---: |");
        for row in rows.iter_mut() {
            println!(
                "| {} | {} | {} / {} | {} / {} | {} |",
                row.scenario,
                row.plain_label,
                row.plain_mid.p(50.0),
                row.plain_mid.p(99.0),
                row.redress.p(50.0),
                row.redress.p(99.0),
                row.redress.per_group()
            );
        }
        println!();
        println!("| info: plain statements on one connection, to split the cost | rows/s | p50 / p99 per statement |");
        println!("| --- | ---: | ---: |");
        for info in infos.iter_mut() {
            println!(
                "| {} | {} | {} / {} |",
                info.what,
                fmt_rate(info.measured.rate()),
                info.measured.p(50.0),
                info.measured.p(99.0)
            );
        }
        if let Some(sled) = &sled {
            println!();
            println!(
                "| scenario | Redress on sled, events/s | × raw fdatasync (around) | p50 / p99 per append | events per group | PostgreSQL ÷ sled |"
            );
            println!("| --- | ---: | ---: | ---: | ---: | ---: |");
            for (row, (name, (before, after), m)) in rows.iter().zip(sled.iter()) {
                let mut m = m.clone();
                println!(
                    "| {name} | {} | {} | {} / {} | {} | {:.2}× |",
                    fmt_rate(m.rate()),
                    ratio(m.rate(), *before, *after),
                    m.p(50.0),
                    m.p(99.0),
                    m.per_group(),
                    row.redress.rate() / m.rate()
                );
            }
        }
    } else if let Some(sled) = sled {
        println!();
        println!("| scenario | Redress on sled, events/s | × raw fdatasync (around) | p50 / p99 per append | events per group |");
        println!("| --- | ---: | ---: | ---: | ---: |");
        for (name, (before, after), mut m) in sled {
            println!(
                "| {name} | {} | {} | {} / {} | {} |",
                fmt_rate(m.rate()),
                ratio(m.rate(), before, after),
                m.p(50.0),
                m.p(99.0),
                m.per_group()
            );
        }
    }
    println!();
    println!("total run time {:.1} s", total.elapsed().as_secs_f64());
}
