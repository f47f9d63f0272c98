//! What only the embedded store has: its files, reopening them, closing, and sled's blob files.

use crate::support::*;
use redress_engine::{verify_store, Direction, EventStore, ExpectedVersion, SledStore, StoreError, StoreOptions};
use redress_schemas::Position;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_reopen_with_the_same_head_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (head, before) = {
        let store = SledStore::open(dir.path()).unwrap();
        for i in 0..50 {
            let s = complaint(&format!("r{i}"));
            store.append(&s, ExpectedVersion::NoStream, vec![received(&s), offered(&s, "s1")]).await.unwrap();
        }
        (store.head().await.unwrap(), read_everything(&store).await)
    };
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.head().await.unwrap(), head);
    assert_eq!(read_everything(&store).await, before);
    assert!(verify_store(&store, |_| {}).await.unwrap().is_intact());
    // Appends continue the positions and the chain after the restart.
    let s = complaint("r0");
    let out = store.append(&s, ExpectedVersion::Exact(1), vec![accepted(&s, "s1")]).await.unwrap();
    assert_eq!(out.result.first_position, Position(100));
    assert!(verify_store(&store, |_| {}).await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_with_more_clock_skew_accepts_what_the_default_refuses() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let options = StoreOptions::default().with_clock_skew_max(std::time::Duration::from_secs(3600));
    let lenient = SledStore::open_with(a.path(), options).unwrap();
    let strict = SledStore::open(b.path()).unwrap();
    assert_an_hour_of_clock_skew_is_allowed(&lenient, &strict).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_state_is_rebuilt_from_the_log_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = complaint("life");
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.append(&s, ExpectedVersion::NoStream, vec![received(&s), offered(&s, "s1")]).await.unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let err = store.append(&s, ExpectedVersion::Any, vec![received(&s)]).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Lifecycle { .. }),
        "a second complaint_received is refused after restart: {err:?}"
    );
    store
        .append(&s, ExpectedVersion::Exact(1), vec![accepted(&s, "s1")])
        .await
        .expect("s1 was offered before the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_refuses_appends_but_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let s = complaint("c1");
    store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
    store.close().await.expect("close the store");
    let err = store.append(&s, ExpectedVersion::Any, vec![progress(&s, "late")]).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(store.read_stream(&s, 0, Direction::Forward, 10).await.unwrap().events.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_queued_before_close_are_all_answered_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SledStore::open(dir.path()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = std::sync::Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let s = complaint(&format!("q{i}"));
            store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await
        }));
    }
    tokio::task::yield_now().await;
    store.close().await.expect("close the store");
    let mut acked = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => acked += 1,
            Err(StoreError::Unavailable(_)) => {}
            Err(other) => panic!("an append racing close fails only as unavailable, got {other:?}"),
        }
    }
    drop(store);
    let reopened = SledStore::open(dir.path()).unwrap();
    assert_eq!(read_everything(&reopened).await.len(), acked, "every answered append is kept, nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_large_enough_for_sled_blob_files_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = complaint("big");
    // ~600 KB of canonical JSON: above sled's inline limit (segment_size / 4), so sled writes a blob file.
    let note = "故障描述".repeat(50_000);
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.append(&s, ExpectedVersion::NoStream, vec![received(&s), progress(&s, &note)]).await.unwrap();
    }
    let blobs = std::fs::read_dir(dir.path().join("blobs")).map(|d| d.count()).unwrap_or(0);
    assert!(blobs > 0, "the test needs sled to have used a blob file");
    let store = SledStore::open(dir.path()).unwrap();
    let events = store.read_stream(&s, 0, Direction::Forward, 10).await.unwrap().events;
    assert_eq!(events[1].data.to_json_value()["note"].as_str().unwrap().len(), note.len());
    assert!(verify_store(&store, |_| {}).await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_directory_that_is_already_open_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    let err = SledStore::open(dir.path()).err().expect("sled's lock keeps a second writer out");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// Writes the head entry `head` straight into the store's sled files, as if the groups after it had
/// reached the log but their head had not.
fn rewind_head(dir: &std::path::Path, head: redress_engine::Head) {
    // sled's I/O threads may hold the directory lock a moment after the store is dropped.
    let db = (0..200)
        .find_map(|_| sled::open(dir).map_err(|_| std::thread::sleep(std::time::Duration::from_millis(10))).ok())
        .expect("open sled directly");
    let tree = db.open_tree("events").expect("events tree");
    let mut value = (head.position.0 + 1).to_be_bytes().to_vec();
    value.extend_from_slice(&head.hash.0);
    tree.insert(b"M", value).expect("write the head");
    db.flush().expect("flush");
}

/// The head is the commit record: it is written in the same batch as its group's events and answered
/// only once synced. sled 0.34 was seen (after a full disk, then SIGTERM) to keep a never-acknowledged
/// group's log entry without its head; the store then refused to open. Opening now rolls such a
/// remnant back — log, stream index and id entries — and keeps everything acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_entries_past_the_head_are_rolled_back_at_open_with_their_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, lost) = (complaint("kept"), complaint("lost"));
    let (head, acknowledged) = {
        let store = SledStore::open(dir.path()).unwrap();
        store.append(&kept, ExpectedVersion::NoStream, vec![received(&kept), offered(&kept, "s1")]).await.unwrap();
        let head = store.head().await.unwrap().expect("two events");
        let acknowledged = read_everything(&store).await;
        let remnant = vec![with_id(received(&lost), 77), progress(&lost, "never acknowledged")];
        assert_eq!(
            store.append(&lost, ExpectedVersion::NoStream, remnant).await.unwrap().result.last_position,
            Position(3)
        );
        (head, acknowledged)
    };
    rewind_head(dir.path(), head);

    let store = SledStore::open(dir.path()).expect("a log past the head is rolled back, not refused");
    assert_eq!(store.recoveries().rolled_back, 2);
    assert_eq!(store.head().await.unwrap(), Some(head));
    assert_eq!(read_everything(&store).await, acknowledged);
    assert!(store.read_stream(&lost, 0, Direction::Forward, 10).await.unwrap().events.is_empty());
    // The stream index and the id index forgot the remnant: the same event id is a new append, at the
    // next position, on a stream that does not exist yet.
    let again = store.append(&lost, ExpectedVersion::NoStream, vec![with_id(received(&lost), 77)]).await.unwrap();
    assert!(!again.idempotent_retry);
    assert_eq!((again.result.first_position, again.result.first_version), (Position(2), 0));
    assert!(verify_store(&store, |_| {}).await.unwrap().is_intact());
    drop(store);

    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.recoveries().rolled_back, 0, "the roll-back was made durable");
    assert_eq!(store.head().await.unwrap().map(|h| h.position), Some(Position(2)));
    assert!(verify_store(&store, |_| {}).await.unwrap().is_intact());
}
