//! What only the PostgreSQL store has: several servers on one schema, the migration, moving a log
//! between the two backends. Runs against the real server (`REDRESS_TEST_DATABASE_URL`).

use crate::support::*;
use redress_engine::PostgresStore;
use redress_engine::{
    verify_store, Direction, EventFilter, EventStore, ExpectedVersion, SledStore, StoreError, StoreOptions,
    Subscription, Verification,
};
use redress_schemas::{Position, RecordedEvent, WrittenEvent};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

async fn next_event(sub: &mut Subscription) -> RecordedEvent {
    tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .expect("the subscription delivers within 20 s")
        .expect("subscription")
}

/// Every event of the log, exactly as written.
async fn export(store: &dyn EventStore) -> Vec<WrittenEvent> {
    let mut out = Vec::new();
    let mut from = Position(0);
    loop {
        let page = store.read_written(from, 1_000).await.expect("read_written");
        out.extend(page.events);
        match page.next {
            Some(next) => from = Position(next),
            None => return out,
        }
    }
}

async fn import(store: &dyn EventStore, events: &[WrittenEvent]) {
    for chunk in events.chunks(250) {
        store.import(chunk.to_vec()).await.expect("import");
    }
}

async fn postgres_query(sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, connection) =
        tokio_postgres::connect(&test_database_url(), tokio_postgres::NoTls).await.expect("connect");
    let connection = tokio::spawn(connection);
    let rows = client.query(sql, &[]).await.expect(sql);
    drop(client);
    let _ = connection.await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_schema_lose_no_update_share_no_version_and_see_each_other_live() {
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let servers: [Arc<dyn EventStore>; 2] =
        [Arc::new(connect_postgres(&schema).await), Arc::new(connect_postgres(&schema).await)];
    const STREAMS: usize = 3;
    const TASKS_PER_SERVER: u128 = 6;
    const WINS_PER_TASK: u128 = 10;
    let streams: Vec<_> = (0..STREAMS).map(|i| complaint(&format!("shared{i}"))).collect();
    for (i, s) in streams.iter().enumerate() {
        servers[i % 2].append(s, ExpectedVersion::NoStream, vec![received(s)]).await.unwrap();
    }
    let total = STREAMS as u64 + 2 * TASKS_PER_SERVER as u64 * WINS_PER_TASK as u64;
    // One subscription per server, reading while the others write.
    let watchers: Vec<_> = servers
        .iter()
        .map(|server| {
            let mut sub = Subscription::new(Arc::clone(server), Position(0), EventFilter::all());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while (seen.len() as u64) < total {
                    seen.push(next_event(&mut sub).await);
                }
                (sub, seen)
            })
        })
        .collect();

    let mut tasks = Vec::new();
    for (server_index, server) in servers.iter().enumerate() {
        for task in 0..TASKS_PER_SERVER {
            let (server, streams) = (Arc::clone(server), streams.clone());
            tasks.push(tokio::spawn(async move {
                let mut won = Vec::new();
                while (won.len() as u128) < WINS_PER_TASK {
                    let s = &streams[(task as usize + won.len()) % STREAMS];
                    let current = server.stream_version(s).await.unwrap().unwrap();
                    let id = 1_000_000 * (server_index as u128 + 1) + 1_000 * (task + 1) + won.len() as u128;
                    let e = with_id(progress(s, &format!("server {server_index} task {task}")), id);
                    match server.append(s, ExpectedVersion::Exact(current), vec![e]).await {
                        Ok(out) => {
                            assert_eq!(out.result.first_version, current + 1, "a win lands right after what it read");
                            won.push((server_index, uuid::Uuid::from_u128(id), s.clone(), out.result));
                        }
                        Err(StoreError::WrongExpectedVersion { .. }) => {}
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                won
            }));
        }
    }
    let mut wins = Vec::new();
    for task in tasks {
        wins.extend(task.await.unwrap());
    }

    // No shared version, no lost update: every win is stored at the version and position it was given.
    let mut versions = HashSet::new();
    let mut positions = HashSet::new();
    for (_, _, s, result) in &wins {
        assert!(versions.insert((s.clone(), result.first_version)), "{s} version {} given twice", result.first_version);
        assert!(positions.insert(result.first_position), "position {} given twice", result.first_position);
    }
    let by_id: HashMap<_, _> = wins.iter().map(|(_, id, s, r)| (*id, (s.clone(), *r))).collect();
    for s in &streams {
        let events = servers[1].read_stream(s, 0, Direction::Forward, 1_000).await.unwrap().events;
        let expected = 1 + wins.iter().filter(|(_, _, w, _)| w == s).count();
        assert_eq!(events.len(), expected, "no lost update on {s}");
        for (i, e) in events.iter().enumerate().skip(1) {
            assert_eq!(e.version, i as u64);
            let (stream, result) = &by_id[&e.event_id.0];
            assert_eq!((stream, result.first_version, result.first_position), (s, e.version, e.position));
        }
    }
    // Gapless positions, the same log and head through both servers, and a chain that verifies.
    let log = read_everything(&*servers[0]).await;
    assert_eq!(log.iter().map(|e| e.position.0).collect::<Vec<_>>(), (0..total).collect::<Vec<_>>());
    assert_eq!(read_everything(&*servers[1]).await, log);
    let head = servers[0].head().await.unwrap();
    assert_eq!(servers[1].head().await.unwrap(), head);
    for server in &servers {
        match verify_store(&**server, |_| {}).await.unwrap() {
            Verification::Intact { events, head: Some((position, hash)) } => {
                assert_eq!(events, total);
                assert_eq!(Some((position, hash)), head.map(|h| (h.position, h.hash)));
            }
            other => panic!("{other:?}"),
        }
    }

    // Each server's subscription saw every event, the other server's included, once and in order.
    let mut subs = Vec::new();
    for watcher in watchers {
        let (sub, seen) = watcher.await.unwrap();
        assert_eq!(seen, log, "a subscription sees the whole log in order");
        let from_other = seen.iter().filter(|e| by_id.contains_key(&e.event_id.0)).count();
        assert_eq!(from_other, wins.len());
        subs.push(sub);
    }
    // Live across servers: caught up, each sees the next append made through the other.
    for (writer, server) in servers.iter().enumerate() {
        let s = complaint(&format!("after{writer}"));
        let out = server.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        for sub in &mut subs {
            assert_eq!(next_event(sub).await.position, out.result.first_position);
            assert!(sub.is_live(), "delivered live, not from a catch-up");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_changed_by_another_server_is_checked_against_its_new_state() {
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let (a, b) = (connect_postgres(&schema).await, connect_postgres(&schema).await);
    let s = complaint("moved");
    a.append(&s, ExpectedVersion::NoStream, vec![received(&s), offered(&s, "s1")]).await.unwrap();
    // `a` now caches the stream; `b` closes it behind `a`'s back.
    b.append(&s, ExpectedVersion::Exact(1), vec![accepted(&s, "s1"), closed(&s)]).await.unwrap();
    let err = a.append(&s, ExpectedVersion::Any, vec![progress(&s, "after close")]).await.unwrap_err();
    assert!(matches!(err, StoreError::Lifecycle { .. }), "{err:?}");
    let err = a.append(&s, ExpectedVersion::Exact(1), vec![progress(&s, "stale")]).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongExpectedVersion { current: Some(3), .. }), "{err:?}");
    // A retry through the other server is recognised as one.
    let other = complaint("other");
    a.append(&other, ExpectedVersion::NoStream, vec![received(&other)]).await.unwrap();
    let stored = b.append(&other, ExpectedVersion::Exact(0), vec![with_id(progress(&other, "x"), 77)]).await.unwrap();
    let again = a.append(&other, ExpectedVersion::Exact(0), vec![with_id(progress(&other, "x"), 77)]).await.unwrap();
    assert!(again.idempotent_retry);
    assert_eq!(again.result, stored.result);
    let err = a.append(&s, ExpectedVersion::Any, vec![with_id(progress(&s, "x"), 77)]).await.unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyConflict { .. }), "{err:?}");
    // ... and so is other content under that id: `a` compares with the record `b` stored.
    let err = a.append(&other, ExpectedVersion::Any, vec![with_id(progress(&other, "y"), 77)]).await.unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyConflict { .. }), "{err:?}");
    assert_eq!(a.stream_version(&other).await.unwrap(), Some(1), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_connected_with_more_clock_skew_accepts_what_the_default_refuses() {
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let options = StoreOptions::default().with_clock_skew_max(Duration::from_secs(3600));
    let lenient = PostgresStore::connect_with(&test_database_url(), &schema, options).await.unwrap();
    let strict = connect_postgres(&schema).await;
    assert_an_hour_of_clock_skew_is_allowed(&lenient, &strict).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_is_idempotent_and_refuses_a_newer_schema() {
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    // Servers starting together race to create the schema: the advisory lock makes one wait.
    let (a, b) = tokio::join!(connect_postgres(&schema), connect_postgres(&schema));
    let s = complaint("kept");
    a.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
    drop((a, b));
    let again = connect_postgres(&schema).await;
    assert_eq!(again.stream_version(&s).await.unwrap(), Some(0), "a second start keeps the data");
    assert_eq!(again.head().await.unwrap().map(|h| h.position), Some(Position(0)));
    let applied = postgres_query(&format!("SELECT version FROM {schema}.redress_migrations ORDER BY version")).await;
    assert_eq!(applied.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(), [1, 2, 3, 4], "each migration once");
    drop(again);

    postgres_query(&format!("INSERT INTO {schema}.redress_migrations (version, description) VALUES (999, 'future')"))
        .await;
    let err = PostgresStore::connect(&test_database_url(), &schema).await.err().expect("a newer schema is refused");
    assert!(matches!(err, StoreError::Unavailable(ref m) if m.contains("999")), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_moves_from_sled_to_postgres_and_back_with_the_same_head_hash() {
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path()).unwrap();
    for i in 0..40 {
        let s = complaint(&format!("m{i}"));
        let mut batch = vec![received(&s), offered(&s, "s1"), accepted(&s, "s1")];
        if i % 3 == 0 {
            batch.push(progress(&s, "换好了"));
        }
        sled.append(&s, ExpectedVersion::NoStream, batch).await.unwrap();
    }
    let exported = export(&sled).await;

    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let pg = connect_postgres(&schema).await;
    import(&pg, &exported).await;
    assert_eq!(pg.head().await.unwrap(), sled.head().await.unwrap());
    assert_eq!(read_everything(&pg).await, read_everything(&sled).await);
    assert!(verify_store(&pg, |_| {}).await.unwrap().is_intact());
    // History continues on PostgreSQL, then goes back to a new sled store.
    let s = complaint("m1");
    pg.append(&s, ExpectedVersion::Exact(2), vec![progress(&s, "continued on PostgreSQL")]).await.unwrap();
    let back_dir = tempfile::tempdir().unwrap();
    let back = SledStore::open(back_dir.path()).unwrap();
    let from_pg = export(&pg).await;
    import(&back, &from_pg).await;
    assert_eq!(back.head().await.unwrap(), pg.head().await.unwrap());
    assert_eq!(export(&back).await, from_pg);
    assert!(verify_store(&back, |_| {}).await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_answer_or_a_bad_schema_name_is_unavailable() {
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test", "redress_x").await.err().unwrap();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    for bad in ["", "Upper", "1starts_with_digit", "semi;colon", "pg_catalog", &"x".repeat(56)] {
        let err = PostgresStore::connect(&test_database_url(), bad).await.err().unwrap();
        assert!(matches!(err, StoreError::Unavailable(ref m) if m.contains("schema name")), "{bad:?}: {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_violation_from_a_foreign_writer_is_a_version_conflict_and_writes_nothing() {
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let store = connect_postgres(&schema).await;
    let s = complaint("foreign");
    store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
    // Something that bypasses the head lock (and the streams table) takes version 1 of the stream.
    postgres_query(&format!(
        "INSERT INTO {schema}.events SELECT 1000, stream, 1, gen_random_uuid(), event_type, recorded_at, record,
                1000, 1000, 1, 1
         FROM {schema}.events WHERE position = 0 RETURNING position"
    ))
    .await;
    let err = store.append(&s, ExpectedVersion::Exact(0), vec![progress(&s, "x")]).await.unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedVersion { expected: ExpectedVersion::Exact(0), .. }),
        "the unique index's refusal is the same conflict as the check's: {err:?}"
    );
    assert_eq!(store.head().await.unwrap().map(|h| h.position), Some(Position(0)), "the refused group wrote nothing");
    assert_eq!(store.stream_version(&s).await.unwrap(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_store_closes_all_its_connections() {
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let url = test_database_url();
    let name = format!("redress_leak_{}", uuid::Uuid::new_v4().simple());
    let tagged = format!("{url}{}application_name={name}", if url.contains('?') { '&' } else { '?' });
    let count = format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{name}'");
    {
        let store: Arc<dyn EventStore> = Arc::new(PostgresStore::connect(&tagged, &schema).await.unwrap());
        let mut sub = Subscription::new(Arc::clone(&store), Position(0), EventFilter::all());
        let appends: Vec<_> = (0..20)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let s = complaint(&format!("c{i}"));
                    store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
                    store.read_stream(&s, 0, Direction::Forward, 10).await.unwrap();
                })
            })
            .collect();
        for append in appends {
            append.await.unwrap();
        }
        for _ in 0..20 {
            next_event(&mut sub).await;
        }
        assert!(postgres_query(&count).await[0].get::<_, i64>(0) >= 2, "a pool and a listener were open");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let open = postgres_query(&count).await[0].get::<_, i64>(0);
        if open == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{open} connections still open 10 s after the drop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fold_state_lives_in_the_same_database_keyed_and_resumes_without_reapplying() {
    use redress_projections::{Checkpoint, FoldStores, Folds, Query};
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let store = Arc::new(connect_postgres(&schema).await);
    let stores: Arc<dyn FoldStores> = Arc::new(redress_projections::PostgresFoldStores::new(&store, "server-a"));
    // The keyed store itself: atomic commits, prefix scans, generations.
    let (generation, space) = stores.current("t").await.unwrap();
    assert_eq!((generation, space.checkpoint().await.unwrap()), (0, None));
    let first = Checkpoint { version: 3, next_position: 42 };
    space
        .commit(vec![(b"a1".to_vec(), Some(b"x".to_vec())), (b"a2".to_vec(), Some(b"y".to_vec()))], first)
        .await
        .unwrap();
    space.commit(vec![(b"a1".to_vec(), None)], Checkpoint { next_position: 43, ..first }).await.unwrap();
    assert_eq!(space.checkpoint().await.unwrap().map(|c| c.next_position), Some(43), "an upsert, not a second row");
    assert_eq!(space.get_many(&[b"a1".to_vec(), b"a2".to_vec()]).await.unwrap(), vec![None, Some(b"y".to_vec())]);
    assert_eq!(space.scan(b"a", None, 10).await.unwrap(), vec![(b"a2".to_vec(), b"y".to_vec())]);
    // Another server's space is its own.
    let (_, other) = redress_projections::PostgresFoldStores::new(&store, "server-b").current("t").await.unwrap();
    assert_eq!(other.get_many(&[b"a2".to_vec()]).await.unwrap(), vec![None]);

    for i in 0..6 {
        let s = complaint(&format!("cp{i}"));
        store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
    }
    let history = |store: Arc<PostgresStore>, stores: Arc<dyn FoldStores>| async move {
        let mut folds = Folds::new(store, stores);
        redress_projections::add_builtins(&mut folds, &redress_projections::policy::SlaPolicy::default())
            .await
            .unwrap();
        folds.start();
        assert!(folds.wait_caught_up(std::time::Duration::from_secs(10)).await);
        let query = Query::at(redress_schemas::Timestamp::now()).with("customer_id", "K-1");
        let answer = folds.query("customer-history", &query).await.unwrap();
        folds.stop().await;
        answer["complaint_count"].clone()
    };
    assert_eq!(history(Arc::clone(&store), Arc::clone(&stores)).await, 6);
    let rows = postgres_query(&format!(
        "SELECT next_position FROM {schema}.fold_checkpoints WHERE space = 'server-a/complaints'"
    ))
    .await;
    assert_eq!(rows[0].get::<_, i64>(0), 6, "the checkpoint was saved in the store's schema");
    let keys = postgres_query(&format!(
        "SELECT count(*) FROM {schema}.fold_state WHERE space = 'server-a/complaints' AND substring(key from 1 for 1) = 's'"
    ))
    .await;
    assert_eq!(keys[0].get::<_, i64>(0), 6, "a summary row per complaint");
    assert_eq!(history(Arc::clone(&store), stores).await, 6, "resumed from the saved state: nothing applied twice");
}
