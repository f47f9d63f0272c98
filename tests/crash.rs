//! Crash test: SIGKILL a process appending to the store, reopen the store, check it against what the
//! process was told was durable. Repeated over many rounds in one directory, so recovery also runs on
//! top of earlier recoveries.
//!
//! The victim is `redress-crash-writer` (tests/bin/crash_writer.rs): it prints one `ack` line per append
//! the store acknowledged. The seed is printed; `REDRESS_CRASH_SEED=<seed>` replays the same kill delays
//! and writer seeds (the interleaving of the writer's tasks is up to the scheduler).

use redress_engine::{verify_store, EventFilter, EventStore, SledStore, Verification};
use redress_schemas::rng::{mix, Rng};
use redress_schemas::{EventId, Position, RecordedEvent, StreamName};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kill/reopen cycles in one directory.
const ROUNDS_COUNT: u64 = 24;
/// How long a writer lives before it is killed, from its spawn.
const KILL_DELAY_MS_MIN: u64 = 50;
const KILL_DELAY_MS_MAX: u64 = 400;
/// Fewer acknowledged appends over the whole test than this, and it proved nothing.
const ACKS_TOTAL_MIN: usize = 100;
/// A kill this soon after the last ack counts as a kill "while acks were flowing".
const ACK_FLOWING_WINDOW: Duration = Duration::from_millis(30);

fn crash_seed() -> u64 {
    match std::env::var("REDRESS_CRASH_SEED") {
        Ok(text) => text.trim().parse().unwrap_or_else(|e| panic!("REDRESS_CRASH_SEED={text:?}: {e}")),
        Err(_) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
            mix(now.as_nanos() as u64)
        }
    }
}

/// One `ack` line of the writer: an append the store said was durable.
#[derive(Debug, Clone)]
struct Ack {
    stream: StreamName,
    first_version: u64,
    last_version: u64,
    first_position: u64,
    last_position: u64,
    ids: Vec<EventId>,
}

impl Ack {
    fn parse(line: &str) -> Result<Ack, String> {
        let fields: Vec<&str> = line.split(' ').collect();
        let [tag, stream, first_version, last_version, first_position, last_position, ids] = fields[..] else {
            return Err(format!("{} fields", fields.len()));
        };
        if tag != "ack" {
            return Err(format!("starts with {tag:?}"));
        }
        let number = |text: &str| text.parse::<u64>().map_err(|e| format!("{text:?}: {e}"));
        let ack = Ack {
            stream: StreamName::new(stream).map_err(|e| e.to_string())?,
            first_version: number(first_version)?,
            last_version: number(last_version)?,
            first_position: number(first_position)?,
            last_position: number(last_position)?,
            ids: ids
                .split(',')
                .map(|id| uuid::Uuid::parse_str(id).map(EventId).map_err(|e| format!("{id:?}: {e}")))
                .collect::<Result<_, _>>()?,
        };
        let count = ack.ids.len() as u64;
        if ack.last_version + 1 != ack.first_version + count || ack.last_position + 1 != ack.first_position + count {
            return Err(format!("{count} ids do not fit its version and position ranges"));
        }
        Ok(ack)
    }
}

/// What the reader thread saw of the writer's stdout.
#[derive(Default)]
struct Heard {
    lines: Vec<String>,
    last_line_at: Option<Instant>,
    /// Bytes after the last newline when the pipe closed: a line cut by the kill, not an ack.
    partial_tail: usize,
}

/// Runs the writer on `dir` with `seed`, kills it with SIGKILL after `delay`; returns every complete
/// line it printed and whether it was killed while acks were flowing.
fn run_and_kill(dir: &std::path::Path, seed: u64, delay: Duration, context: &str) -> (Vec<String>, bool, usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redress-crash-writer"))
        .arg(dir)
        .arg(seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{context}: spawn the writer: {e}"));
    let stdout = child.stdout.take().expect("stdout is piped");
    let heard = Arc::new(Mutex::new(Heard::default()));
    let reader = std::thread::spawn({
        let heard = Arc::clone(&heard);
        move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match stdout.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.last() == Some(&b'\n') => {
                        let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                        let mut heard = heard.lock().expect("heard lock");
                        heard.lines.push(text);
                        heard.last_line_at = Some(Instant::now());
                    }
                    Ok(n) => {
                        heard.lock().expect("heard lock").partial_tail = n;
                        break;
                    }
                }
            }
        }
    });
    std::thread::sleep(delay);
    if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("{context}: try_wait: {e}")) {
        panic!("{context}: the writer exited by itself with {status} before the kill (see its stderr above)");
    }
    let flowing = {
        let heard = heard.lock().expect("heard lock");
        heard.last_line_at.is_some_and(|at| at.elapsed() <= ACK_FLOWING_WINDOW)
    };
    child.kill().unwrap_or_else(|e| panic!("{context}: SIGKILL the writer: {e}"));
    let status = child.wait().unwrap_or_else(|e| panic!("{context}: wait for the writer: {e}"));
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{context}: the writer should die of SIGKILL, got {status}");
    }
    reader.join().expect("the reader thread does not panic");
    let heard = std::mem::take(&mut *heard.lock().expect("heard lock"));
    (heard.lines, flowing, heard.partial_tail)
}

/// Every event of `$all`, in order.
async fn read_log(store: &SledStore, context: &str) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    let mut from = Position(0);
    loop {
        let page = store
            .read_all(from, 10_000, &EventFilter::all())
            .await
            .unwrap_or_else(|e| panic!("{context}: read_all from {from}: {e}"));
        events.extend(page.events);
        match page.next {
            Some(next) => from = Position(next),
            None => return events,
        }
    }
}

/// Every event of `stream`, in version order.
async fn read_whole_stream(store: &SledStore, stream: &StreamName, context: &str) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    let mut from = 0;
    loop {
        let page = store
            .read_stream(stream, from, redress_engine::Direction::Forward, 10_000)
            .await
            .unwrap_or_else(|e| panic!("{context}: read_stream {stream} from {from}: {e}"));
        events.extend(page.events);
        match page.next {
            Some(next) => from = next,
            None => return events,
        }
    }
}

/// The log as one round saw it, for the next round to compare with.
struct Seen {
    ids: Vec<EventId>,
    hashes: Vec<redress_schemas::Hash>,
}

/// Checks the reopened store against the acks of this round and the log of the previous one.
async fn check_store(store: &SledStore, acks: &[Ack], previous: &Seen, context: &str) -> Seen {
    let log = read_log(store, context).await;

    // 3. Positions gapless from 0; each stream's versions gapless from 0.
    for (index, event) in log.iter().enumerate() {
        assert_eq!(event.position.0, index as u64, "{context}: $all skips or repeats a position at index {index}");
    }
    let mut streams: BTreeMap<StreamName, Vec<&RecordedEvent>> = BTreeMap::new();
    for event in &log {
        let versions = streams.entry(event.stream.clone()).or_default();
        assert_eq!(
            event.version,
            versions.len() as u64,
            "{context}: stream {} has version {} at position {}, expected {}",
            event.stream,
            event.version,
            event.position,
            versions.len()
        );
        versions.push(event);
    }
    for (stream, in_log) in &streams {
        let read = read_whole_stream(store, stream, context).await;
        let read_ids: Vec<_> = read.iter().map(|e| (e.version, e.position, e.event_id)).collect();
        let log_ids: Vec<_> = in_log.iter().map(|e| (e.version, e.position, e.event_id)).collect();
        assert_eq!(read_ids, log_ids, "{context}: read_stream({stream}) disagrees with $all");
        let version = store.stream_version(stream).await.unwrap_or_else(|e| panic!("{context}: stream_version: {e}"));
        assert_eq!(version, Some(in_log.len() as u64 - 1), "{context}: stream_version({stream})");
    }

    // 1. Every acknowledged event is there, where the ack said.
    for ack in acks {
        for (i, id) in ack.ids.iter().enumerate() {
            let position = ack.first_position + i as u64;
            let version = ack.first_version + i as u64;
            let event = log.get(position as usize).unwrap_or_else(|| {
                panic!("{context}: acknowledged event {id} at position {position} is lost: the log holds {}", log.len())
            });
            assert!(
                event.event_id == *id && event.stream == ack.stream && event.version == version,
                "{context}: acknowledged {id} ({} v{version}) at position {position}, found {} ({} v{})",
                ack.stream,
                event.event_id,
                event.stream,
                event.version
            );
        }
        let read = store
            .read_stream(&ack.stream, ack.first_version, redress_engine::Direction::Forward, ack.ids.len())
            .await
            .unwrap_or_else(|e| panic!("{context}: read_stream: {e}"));
        let read_ids: Vec<_> = read.events.iter().map(|e| e.event_id).collect();
        assert_eq!(read_ids, ack.ids, "{context}: read_stream({} from v{})", ack.stream, ack.first_version);
    }

    // 2. No partial batch: each batch id appears batch_size times, at consecutive positions.
    let mut batches: HashMap<&str, (u64, Vec<u64>)> = HashMap::new();
    for event in &log {
        let batch = event.metadata.get("batch").unwrap_or_else(|| panic!("{context}: {} has no batch", event.position));
        let size = event.metadata.get("batch_size").and_then(|s| s.parse::<u64>().ok());
        let size = size.unwrap_or_else(|| panic!("{context}: {} has no numeric batch_size", event.position));
        let entry = batches.entry(batch).or_insert((size, Vec::new()));
        assert_eq!(entry.0, size, "{context}: batch {batch} names two sizes");
        entry.1.push(event.position.0);
    }
    for (batch, (size, positions)) in &batches {
        assert_eq!(
            positions.len() as u64,
            *size,
            "{context}: batch {batch} of {size} events is partial: found at positions {positions:?}"
        );
        assert!(
            positions.windows(2).all(|w| w[1] == w[0] + 1),
            "{context}: batch {batch} is not contiguous: positions {positions:?}"
        );
    }

    // 4. The chain verifies, up to the head the store reports.
    let verification =
        verify_store(store, |_| {}).await.unwrap_or_else(|e| panic!("{context}: verify_store failed to run: {e}"));
    let head = store.head().await.unwrap_or_else(|e| panic!("{context}: head: {e}"));
    match &verification {
        Verification::Intact { events, head: verified } => {
            assert_eq!(*events, log.len() as u64, "{context}: verify counted another number of events than $all");
            assert_eq!(*verified, head.map(|h| (h.position, h.hash)), "{context}: verify's head vs store.head()");
            assert_eq!(*verified, log.last().map(|e| (e.position, e.hash)), "{context}: verify's head vs $all");
        }
        Verification::Broken { position, reason } => panic!("{context}: chain broken at {position}: {reason}"),
    }

    // 5. The log only grows: what the previous round saw is still there, unchanged.
    assert!(
        log.len() >= previous.ids.len(),
        "{context}: the log shrank from {} to {} events",
        previous.ids.len(),
        log.len()
    );
    for (position, (id, hash)) in previous.ids.iter().zip(&previous.hashes).enumerate() {
        let now = &log[position];
        assert!(
            now.event_id == *id && now.hash == *hash,
            "{context}: position {position} held {id} ({hash}) and now holds {} ({})",
            now.event_id,
            now.hash
        );
    }

    Seen { ids: log.iter().map(|e| e.event_id).collect(), hashes: log.iter().map(|e| e.hash).collect() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_appends_loses_no_acknowledged_event_and_leaves_no_partial_batch() {
    let seed = crash_seed();
    eprintln!("crash test seed: {seed} (replay with REDRESS_CRASH_SEED={seed})");
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut prng = Rng::new(seed);
    let mut previous = Seen { ids: Vec::new(), hashes: Vec::new() };
    let mut acks_total = 0;
    let mut rounds_killed_while_flowing = 0;
    for round in 0..ROUNDS_COUNT {
        let context = format!("round {round} of seed {seed} (replay with REDRESS_CRASH_SEED={seed})");
        let writer_seed = mix(seed ^ mix(round));
        let delay = Duration::from_millis(prng.between(KILL_DELAY_MS_MIN, KILL_DELAY_MS_MAX));
        let path = dir.path().to_path_buf();
        let round_context = context.clone();
        let (lines, flowing, partial_tail) =
            tokio::task::spawn_blocking(move || run_and_kill(&path, writer_seed, delay, &round_context))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let acks: Vec<Ack> = lines
            .iter()
            .map(|line| Ack::parse(line).unwrap_or_else(|e| panic!("{context}: bad ack line {line:?}: {e}")))
            .collect();
        acks_total += acks.len();
        rounds_killed_while_flowing += usize::from(flowing);

        let path = dir.path().to_path_buf();
        let store = tokio::task::spawn_blocking(move || SledStore::open(path))
            .await
            .expect("open does not panic")
            .unwrap_or_else(|e| panic!("{context}: reopen after SIGKILL: {e}"));
        previous = check_store(&store, &acks, &previous, &context).await;
        eprintln!(
            "round {round}: killed after {delay:?}{}, {} acks{}, log holds {} events",
            if flowing { " while acking" } else { "" },
            acks.len(),
            if partial_tail > 0 { format!(" (+{partial_tail} bytes of a cut line)") } else { String::new() },
            previous.ids.len()
        );
        // sled locks the directory: close (joins the store's writer thread) and drop before the next writer.
        store.close().await.expect("close the store");
        tokio::task::spawn_blocking(move || drop(store)).await.expect("drop does not panic");
    }
    eprintln!(
        "crash test seed {seed}: {ROUNDS_COUNT} rounds, {acks_total} acks, {rounds_killed_while_flowing} kills while \
         acking, {} events, {:?}",
        previous.ids.len(),
        started.elapsed()
    );
    assert!(
        acks_total > ACKS_TOTAL_MIN,
        "seed {seed}: only {acks_total} acks over all rounds: the test proved nothing"
    );
    assert!(rounds_killed_while_flowing > 0, "seed {seed}: no round was killed while acks were flowing");
}
