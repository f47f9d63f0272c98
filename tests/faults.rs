//! Faults as inputs: a failing `fdatasync` (the store's `DiskFaults` seam), a disk that fills up (a
//! small tmpfs each test mounts), a disk that stops answering at close, exhausted file descriptors (a
//! low `RLIMIT_NOFILE` set on a running server) — and a syscall trace proving that every
//! acknowledgement follows the `fdatasync` that made it true, so deleting that call fails a test.
//!
//! Each fault test checks the same three things: the failing request is told the truth (nothing
//! written, or outcome unknown), the store heals by itself once the cause is gone, and nothing it
//! acknowledged is lost (the chain verifies, a retry with the same ids answers the original result).

use crate::cli::{signal, wait_for_exit, ServerProcess};
use crate::support::*;
use redress_engine::{
    verify_store, Direction, DiskFaults, EventFilter, EventStore, ExpectedVersion, SledStore, StoreError, StoreHealth,
    StoreOptions, Subscription,
};
use redress_schemas::{Position, ProposedEvent, StreamName};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a store may take to heal once the cause is gone (backoff at most 5 s, plus the work).
const HEAL_TIMEOUT: Duration = Duration::from_secs(20);

async fn wait_until_healthy(store: &dyn EventStore) {
    let started = Instant::now();
    loop {
        match store.health() {
            StoreHealth::Ok => return,
            StoreHealth::Failed { reason } => panic!("the store gave up instead of healing: {reason}"),
            other if started.elapsed() > HEAL_TIMEOUT => panic!("not healed after {HEAL_TIMEOUT:?}: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn id(n: u128) -> u128 {
    0xfa17_0000_0000_0000_0000_0000_0000_0000 | n
}

fn options(faults: &DiskFaults) -> StoreOptions {
    StoreOptions::default()
        .with_faults(faults.clone())
        .with_recovery_backoff_max(Duration::from_millis(200))
        .with_close_timeout(Duration::from_secs(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fdatasync_answers_outcome_unknown_then_the_store_heals_and_keeps_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let faults = DiskFaults::new();
    let store: Arc<dyn EventStore> = Arc::new(SledStore::open_with(dir.path(), options(&faults)).unwrap());
    let s = complaint("sync-fails");
    store.append(&s, ExpectedVersion::NoStream, vec![with_id(received(&s), id(1))]).await.unwrap();
    let mut subscriber = Subscription::new(Arc::clone(&store), Position(0), EventFilter::all());

    faults.fail_all_syncs();
    let offer = || vec![with_id(offered(&s, "s1"), id(2))];
    let err = store.append(&s, ExpectedVersion::Exact(0), offer()).await.unwrap_err();
    assert!(matches!(err, StoreError::OutcomeUnknown(_)), "a failed sync leaves the outcome unknown: {err:?}");
    assert!(faults.injected_failures() >= 1, "the sync went through the seam");
    let health = store.health();
    assert!(
        matches!(&health, StoreHealth::Recovering { reason, .. } if reason.contains("injected")),
        "health says why appends fail: {health:?}"
    );
    // While it cannot write, it refuses, and the refusal wrote nothing.
    let refused = store.append(&s, ExpectedVersion::Any, vec![with_id(progress(&s, "meanwhile"), id(3))]).await;
    assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");

    // Recovery attempts meet the failing disk too (reopening syncs the files) and keep trying.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(faults.injected_failures() >= 2, "a recovery attempt synced through the seam and failed");
    let health = store.health();
    assert!(
        matches!(&health, StoreHealth::Recovering { reason, attempts } if *attempts >= 1 && reason.contains("attempt")),
        "{health:?}"
    );
    faults.clear();
    wait_until_healthy(&*store).await;
    // sled had written the group before the sync failed; the healed store adopted it (it continues the
    // chain), so the retry answers the original result and writes nothing.
    let retry = store.append(&s, ExpectedVersion::Exact(0), offer()).await.unwrap();
    assert!(retry.idempotent_retry, "{retry:?}");
    assert_eq!(retry.result.first_position, Position(1));
    let later = store.append(&s, ExpectedVersion::Any, vec![with_id(progress(&s, "meanwhile"), id(3))]).await.unwrap();
    assert!(!later.idempotent_retry, "the refused append had written nothing");
    assert_eq!(later.result.first_position, Position(2));
    assert!(verify_store(&*store, |_| {}).await.unwrap().is_intact());

    // A subscriber that was live across the failure sees each event once, in order.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let batch = tokio::time::timeout(Duration::from_secs(5), subscriber.next_batch(10)).await.unwrap().unwrap();
        seen.extend(batch.iter().map(|e| e.position.0));
    }
    assert_eq!(seen, [0, 1, 2]);

    store.close().await.unwrap();
    drop(subscriber);
    drop(store);
    let reopened = SledStore::open(dir.path()).unwrap();
    assert_eq!(read_everything(&reopened).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_stops_answering_makes_close_give_up_in_time_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let faults = DiskFaults::new();
    let store = Arc::new(SledStore::open_with(dir.path(), options(&faults)).unwrap());
    let s = complaint("stalled");
    store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
    faults.stall_syncs();
    let stuck = {
        let store = Arc::clone(&store);
        let s = s.clone();
        tokio::spawn(async move { store.append(&s, ExpectedVersion::Exact(0), vec![progress(&s, "stuck")]).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let closed = store.close().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "close is bounded by its timeout (2 s), took {took:?}");
    let Err(StoreError::Unavailable(message)) = closed else { panic!("close reports what it abandoned: {closed:?}") };
    assert!(message.contains("did not finish"), "{message}");
    // Let the stalled writer go so the test's threads end; the stuck append then gets its answer.
    faults.clear();
    let answer = tokio::time::timeout(Duration::from_secs(10), stuck).await.unwrap().unwrap();
    assert!(answer.is_ok(), "the stalled sync completed once the disk answered: {answer:?}");
}

/// A tmpfs of `megabytes` mounted on a fresh directory, unmounted when dropped. `None` (the test then
/// does nothing) only outside CI on a machine where this user cannot mount; under `CI=true` that fails.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m,mode=0700"), "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs { dir }),
            other => {
                let why = format!("cannot mount a tmpfs for the full-disk test ({other:?}): it needs root");
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{why}; CI must run it");
                }
                eprintln!("SKIPPED outside CI: {why}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Fills the filesystem with `filler` until fewer than `keep` bytes are free.
    fn fill(&self, name: &str, keep: u64) -> PathBuf {
        use std::io::Write;
        let path = self.dir.path().join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 64 * 1024];
        while free_bytes(self.dir.path()) > keep {
            if file.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0)
}

fn note_event(to: &StreamName, n: u128, bytes: usize) -> ProposedEvent {
    with_id(event(to, "progress_updated", json!({"note": "n".repeat(bytes), "customer_informed": false})), id(n))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nearly_full_disk_refuses_appends_writing_nothing_and_they_resume_when_space_is_freed() {
    let Some(fs) = Tmpfs::mount(48) else { return };
    let reserve = 16 * 1024 * 1024;
    let options = options(&DiskFaults::new()).with_disk_free_bytes_min(reserve);
    let store = SledStore::open_with(fs.store_dir(), options).unwrap();
    let s = complaint("reserve");
    store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
    let filler = fs.fill("filler", reserve - 1024 * 1024);

    let refused = store.append(&s, ExpectedVersion::Exact(0), vec![note_event(&s, 10, 100)]).await;
    let Err(StoreError::Unavailable(reason)) = &refused else { panic!("refused before writing: {refused:?}") };
    assert!(reason.contains("nearly full"), "{reason}");
    assert!(!store.health().is_ok(), "health reports the full disk: {:?}", store.health());
    assert_eq!(store.stream_version(&s).await.unwrap(), Some(0), "nothing was written");

    std::fs::remove_file(filler).unwrap();
    wait_until_healthy(&store).await;
    let written = store.append(&s, ExpectedVersion::Exact(0), vec![note_event(&s, 10, 100)]).await.unwrap();
    assert!(!written.idempotent_retry, "the refused append had not been written");
    assert!(verify_store(&store, |_| {}).await.unwrap().is_intact());
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_running_the_disk_full_mid_write_heals_once_space_is_freed_and_loses_nothing_acknowledged() {
    let Some(fs) = Tmpfs::mount(24) else { return };
    // No reserve: the point is to let sled itself hit ENOSPC in the middle of a write.
    let options = options(&DiskFaults::new()).with_disk_free_bytes_min(0);
    let ballast = fs.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 6 * 1024 * 1024]).unwrap();
    let store = SledStore::open_with(fs.store_dir(), options).unwrap();

    let mut acked: Vec<(StreamName, u128)> = Vec::new();
    let mut failed = None;
    for n in 0..2_000u128 {
        let s = complaint(&format!("full-{n}"));
        let mut received = received(&s);
        received = with_id(received, id(1_000_000 + n));
        let events = vec![received, note_event(&s, 2_000_000 + n, 20_000)];
        match store.append(&s, ExpectedVersion::NoStream, events).await {
            Ok(_) => acked.push((s, n)),
            Err(error) => {
                failed = Some((s, n, error));
                break;
            }
        }
    }
    let (failed_stream, n, error) = failed.expect("the disk filled up");
    assert!(
        matches!(error, StoreError::OutcomeUnknown(_) | StoreError::Unavailable(_)),
        "a write that ran out of space is outcome-unknown (or refused): {error:?}"
    );
    assert!(acked.len() > 10, "some appends fit before the disk filled up ({} did)", acked.len());
    assert!(!store.health().is_ok(), "{:?}", store.health());

    std::fs::remove_file(&ballast).unwrap();
    wait_until_healthy(&store).await;
    let recoveries = store.recoveries();
    assert_eq!(recoveries.reopened, 1, "healed by reopening its files once: {recoveries:?}");
    eprintln!("recoveries: {recoveries:?} (a fenced instance is one sled would not close)");
    // The failed append: written or not, a retry with the same ids now gives one definite answer.
    let retry =
        vec![with_id(received(&failed_stream), id(1_000_000 + n)), note_event(&failed_stream, 2_000_000 + n, 20_000)];
    let outcome = store.append(&failed_stream, ExpectedVersion::NoStream, retry).await;
    assert!(outcome.is_ok(), "the retry of the failed append succeeds one way or the other: {outcome:?}");
    for (s, _) in &acked {
        assert_eq!(store.stream_version(s).await.unwrap(), Some(1), "acknowledged {s} is whole");
    }
    assert!(verify_store(&store, |_| {}).await.unwrap().is_intact());
    let head = store.head().await.unwrap();
    store.close().await.unwrap();
    drop(store);
    let reopened = SledStore::open(fs.store_dir()).unwrap();
    assert_eq!(reopened.head().await.unwrap(), head, "the healed store reopens at the same head");
}

/// Every `ack` line the crash writer prints (it prints one only after its append returned) must come
/// after an `fdatasync` of sled's `db` file that the append's group caused, and an append carrying a
/// blob-sized event after the `fdatasync` of its blob file. Deleting either call in `DiskSync` makes
/// this fail; the crash tests cannot see it (a SIGKILL does not drop the page cache).
#[test]
fn every_acknowledgement_follows_the_fdatasync_that_made_it_durable() {
    if Command::new("strace").arg("-V").output().is_err() {
        panic!("strace is required for the durability test (apt-get install strace)");
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.txt");
    let store = dir.path().join("store");
    let appends = 40;
    let status = Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", "trace=fdatasync,fsync,write", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_redress-crash-writer"))
        .arg(&store)
        .arg("7")
        .arg(appends.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the writer finished its appends: {status:?}");
    let text = std::fs::read_to_string(&trace).unwrap();
    let db = format!("{}>", store.join("db").display());
    let blobs = format!("{}/", store.join("blobs").display());
    let (mut db_syncs, mut blob_syncs, mut acks) = (0, 0, 0);
    for line in text.lines() {
        if line.contains("fdatasync(") && line.contains(&db) && line.ends_with("= 0") {
            db_syncs += 1;
        } else if line.contains("fdatasync(") && line.contains(&blobs) && line.ends_with("= 0") {
            blob_syncs += 1;
        } else if line.contains("write(1<") && line.contains("\"ack ") {
            assert!(
                db_syncs > 0,
                "ack {acks} was printed before any fdatasync of {db} since the previous one:\n{line}"
            );
            if acks % 5 == 4 {
                assert!(blob_syncs > 0, "ack {acks} carried a blob, printed before its blob file was synced:\n{line}");
            }
            acks += 1;
            db_syncs = 0;
            blob_syncs = 0;
        }
    }
    assert_eq!(acks, appends, "every append was acknowledged (trace in {})", trace.display());
}

/// The real server, with its descriptor limit lowered from outside while it runs: the append that hits
/// EMFILE is answered 503 (outcome unknown), `/health` is 503 with the reason, and once the limit is
/// raised again the server heals without a restart; the retry answers the original result.
#[test]
fn a_server_out_of_file_descriptors_heals_once_descriptors_are_free_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), Some("admin:fault-test-admin-token-0123456789"));
    let pid = server.pid();
    let mut connection = KeptConnection::open(server.address(), "fault-test-admin-token-0123456789");
    let body = |n: u128, version: &str| {
        json!({"expected_version": version, "events": [{
            "event_id": uuid::Uuid::from_u128(id(n)).to_string(), "event_type": "complaint_received",
            "data": {"complaint_id": format!("E-{n}"), "customer_id": "K-1", "channel": "web", "category": "delivery",
                     "severity": "normal", "description": "fd test"}}]})
    };
    let (status, _) = connection.request("POST", "/streams/complaint-E-1/events", Some(&body(1, "no_stream")));
    assert_eq!(status, 201);

    // Below what it has open: every descriptor it holds stays usable, no new one can be made.
    let original = nofile_limit(pid);
    set_nofile_limit(pid, 8, original);
    let (status, answer) = connection.request("POST", "/streams/complaint-E-2/events", Some(&body(2, "no_stream")));
    let (health_status, health) = connection.request("GET", "/health", None);
    set_nofile_limit(pid, original, original);
    assert_eq!(status, 503, "an append without descriptors fails: {answer}");
    assert_eq!(answer["error"], "unavailable", "{answer}");
    assert_eq!(health_status, 503, "health says appends cannot succeed: {health}");
    assert!(health["reason"].as_str().is_some_and(|r| !r.is_empty()), "{health}");

    let started = Instant::now();
    loop {
        let (status, health) = connection.request("GET", "/health", None);
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < HEAL_TIMEOUT, "not healed: {health}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, retry) = connection.request("POST", "/streams/complaint-E-2/events", Some(&body(2, "no_stream")));
    assert!(status == 200 || status == 201, "the retry has a definite answer: {status} {retry}");
    let (status, verify) = connection.request("GET", "/audit/verify", None);
    assert_eq!((status, verify["ok"].clone()), (200, json!(true)), "{verify}");
    drop(connection);
    let exit = server.terminate();
    assert!(exit.success(), "SIGTERM after healing exits 0: {exit:?}");
}

/// Another process's hard `RLIMIT_NOFILE`.
fn nofile_limit(pid: u32) -> u64 {
    let out = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .args(["--nofile", "--output=HARD", "--noheadings", "--raw"])
        .output()
        .expect("prlimit (util-linux) is required");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a number")
}

/// Sets another process's soft `RLIMIT_NOFILE` (its hard limit stays `hard`, so it can be raised again).
fn set_nofile_limit(pid: u32, soft: u64, hard: u64) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={soft}:{hard}"))
        .status()
        .expect("prlimit (util-linux) is required");
    assert!(status.success(), "prlimit --pid={pid} --nofile={soft}:{hard}");
}

/// One HTTP/1.1 keep-alive connection, opened while descriptors were plentiful: a server out of
/// descriptors cannot accept a new one.
struct KeptConnection {
    stream: std::io::BufReader<std::net::TcpStream>,
    token: String,
}

impl KeptConnection {
    fn open(address: &str, token: &str) -> KeptConnection {
        let stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        KeptConnection { stream: std::io::BufReader::new(stream), token: token.to_owned() }
    }

    fn request(&mut self, method: &str, path: &str, body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
        use std::io::{BufRead, Read, Write};
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.token,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).unwrap();
        let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0;
        loop {
            let mut header = String::new();
            self.stream.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(json!(null)))
    }
}

/// SIGTERM to a server whose disk is full ends it within its grace period (it never hangs holding the
/// directory lock; past the grace it exits 1 saying what it abandoned), and a new server starts on the
/// same directory once space is freed.
#[test]
fn sigterm_on_a_full_disk_ends_the_server_in_bounded_time_and_a_new_one_can_start() {
    let Some(fs) = Tmpfs::mount(24) else { return };
    let dir = fs.store_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let ballast = fs.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 6 * 1024 * 1024]).unwrap();
    let mut server = ServerProcess::start_with(
        &dir,
        Some("admin:fault-test-admin-token-0123456789"),
        &["--disk-reserve-bytes", "0", "--shutdown-grace-seconds", "5"],
    );
    let address = server.address().to_owned();
    let mut connection = KeptConnection::open(&address, "fault-test-admin-token-0123456789");
    let note = "x".repeat(20_000);
    let mut acknowledged = Vec::new();
    for n in 0..2_000 {
        let body = json!({"events": [{"event_type": "complaint_received", "data": {"complaint_id": format!("F-{n}"),
            "customer_id": "K-1", "channel": "web", "category": "delivery", "severity": "normal", "description": note}}]});
        let (status, _) = connection.request("POST", &format!("/streams/complaint-F-{n}/events"), Some(&body));
        if status == 503 {
            break;
        }
        assert_eq!(status, 201);
        acknowledged.push(n);
    }
    drop(connection);
    signal(&server.child, "TERM");
    let exit = wait_for_exit(&mut server.child, Duration::from_secs(15));
    let Some(exit) = exit else { panic!("the server ends within 15 s of SIGTERM; stderr:\n{}", server.stderr()) };
    if !exit.success() {
        assert!(server.stderr().contains("Abandoned"), "a non-zero exit says what it abandoned:\n{}", server.stderr());
    }
    std::fs::remove_file(&ballast).unwrap();
    let again = ServerProcess::start_with(
        &dir,
        Some("admin:fault-test-admin-token-0123456789"),
        &["--shutdown-grace-seconds", "5"],
    );
    let (status, stderr) = again.terminate_with_stderr();
    assert!(
        status.success() || stderr.contains("Abandoned"),
        "a new server starts on the directory and stops in bounded time: {status:?}\n{stderr}"
    );
    // Every acknowledged append is there, whole, and the chain verifies (what the disk filled up in the
    // middle of was never acknowledged: it is there whole or not at all).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = SledStore::open(&dir).expect("the store opens after the full disk");
        assert!(!acknowledged.is_empty(), "some appends were acknowledged before the disk filled");
        for n in &acknowledged {
            let events =
                store.read_stream(&complaint(&format!("F-{n}")), 0, Direction::Forward, 10).await.unwrap().events;
            assert_eq!(events.len(), 1, "acknowledged complaint F-{n} is stored once");
        }
        assert!(verify_store(&store, |_| {}).await.unwrap().is_intact(), "the chain verifies");
    });
}
