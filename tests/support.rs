//! Builders shared by the integration tests.

#![allow(dead_code)]

use redress_engine::PostgresStore;
use redress_engine::{EventStore, SledStore};
use redress_schemas::{EventId, ProposedEvent, StreamName};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A store under test and whatever keeps it alive (a temp dir, a database).
pub struct Fixture {
    pub store: Arc<dyn EventStore>,
    pub _guard: Box<dyn std::any::Any + Send>,
}

/// Opens fresh, empty stores of one backend.
pub type Opener = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Fixture> + Send>> + Send + Sync>;

pub fn sled_opener() -> Opener {
    Arc::new(|| {
        Box::pin(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SledStore::open(dir.path()).expect("open sled store");
            Fixture { store: Arc::new(store), _guard: Box::new(dir) }
        })
    })
}

/// The database the PostgreSQL tests use: `REDRESS_TEST_DATABASE_URL`, or the local server.
pub fn test_database_url() -> String {
    std::env::var("REDRESS_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema name no other test uses.
pub fn fresh_schema() -> String {
    format!("redress_t_{}", uuid::Uuid::new_v4().simple())
}

/// Opens a PostgreSQL store in `schema` of the test database. Fails the test (never skips it) when the
/// server does not answer.
pub async fn connect_postgres(schema: &str) -> PostgresStore {
    let url = test_database_url();
    PostgresStore::connect(&url, schema).await.unwrap_or_else(|e| {
        panic!(
            "cannot open a PostgreSQL store at {url} (set REDRESS_TEST_DATABASE_URL to use another): {e}\n\
             The PostgreSQL tests need a running server. Start the local one with:\n    \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    })
}

/// Drops its schema (and everything in it) when dropped, once the stores using it have let go.
pub struct SchemaGuard {
    schema: String,
}

impl SchemaGuard {
    pub fn new(schema: &str) -> SchemaGuard {
        SchemaGuard { schema: schema.to_owned() }
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread with its own.
        let (url, schema) = (test_database_url(), self.schema.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.ok()?;
                let connection = tokio::spawn(connection);
                // A writer still finishing its last group holds locks for a moment; wait for it, not forever.
                let sql = format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
                let dropped = client.batch_execute(&sql).await.ok();
                drop(client);
                let _ = connection.await;
                dropped
            })
        });
        // A schema left behind costs nothing but space; it must not fail the test.
        let _ = dropped.join();
    }
}

/// Fresh PostgreSQL stores: each in a new schema of the test database, dropped with the fixture.
pub fn postgres_opener() -> Opener {
    Arc::new(|| {
        Box::pin(async {
            let schema = fresh_schema();
            let guard = SchemaGuard::new(&schema);
            let store = connect_postgres(&schema).await;
            Fixture { store: Arc::new(store), _guard: Box::new(guard) }
        })
    })
}

pub fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

pub fn complaint(id: &str) -> StreamName {
    stream(&format!("complaint-{id}"))
}

/// An event of `event_type` with `data`, for the stream `to`.
pub fn event(to: &StreamName, event_type: &str, data: Value) -> ProposedEvent {
    ProposedEvent::from_json(json!({"event_type": event_type, "data": data}), to).expect("valid test event")
}

pub fn with_id(event: ProposedEvent, id: u128) -> ProposedEvent {
    event.with_id(EventId(uuid::Uuid::from_u128(id)))
}

/// The same event, done by `actor` (metadata).
pub fn with_actor(mut event: ProposedEvent, actor: &str) -> ProposedEvent {
    event.metadata = event.metadata.with("actor", actor);
    event
}

pub fn received(to: &StreamName) -> ProposedEvent {
    let id = to.as_str().strip_prefix("complaint-").expect("a complaint stream");
    event(
        to,
        "complaint_received",
        json!({"complaint_id": id, "customer_id": "K-1", "channel": "hotline",
               "category": "delivery", "severity": "high", "description": "笔记本电脑送达时屏幕碎了"}),
    )
}

pub fn progress(to: &StreamName, note: &str) -> ProposedEvent {
    event(to, "progress_updated", json!({"note": note, "customer_informed": true}))
}

pub fn offered(to: &StreamName, solution: &str) -> ProposedEvent {
    event(to, "solution_offered", json!({"solution_id": solution, "description": "免费更换屏幕"}))
}

pub fn accepted(to: &StreamName, solution: &str) -> ProposedEvent {
    event(to, "solution_accepted", json!({"solution_id": solution}))
}

/// A close that needs no confirmation (v1.1: resolved, refunded and replaced do), so it fits any open complaint.
pub fn closed(to: &StreamName) -> ProposedEvent {
    event(to, "complaint_closed", json!({"outcome": "withdrawn"}))
}

/// One event of a hand-made export: (id, stream, type, schema version, occurred_at, data as written).
pub type ExportedEvent<'a> = (u128, &'a StreamName, redress_schemas::EventType, u16, &'a str, Value);

/// `events` as an export carries them: at positions 0.., each stream's versions from 0, recorded at
/// `recorded_at`, hashes chained from the genesis hash. Lets a test import a history the append path
/// would not write (an older schema version, or rules that came later).
pub fn exported(events: Vec<ExportedEvent<'_>>, recorded_at: &str) -> Vec<redress_schemas::WrittenEvent> {
    let recorded_at = redress_schemas::Timestamp::parse(recorded_at).expect("an RFC 3339 instant");
    let mut versions = std::collections::HashMap::new();
    let mut previous = redress_schemas::Hash::GENESIS;
    let mut out = Vec::new();
    for (position, (id, stream, event_type, schema_version, occurred_at, data)) in (0..).zip(events) {
        let version = versions.entry(stream.clone()).and_modify(|v| *v += 1).or_insert(0u64);
        let header = redress_schemas::RecordHeader {
            event_id: EventId(uuid::Uuid::from_u128(id)),
            stream: stream.clone(),
            version: *version,
            position: redress_schemas::Position(position),
            event_type,
            schema_version,
            occurred_at: redress_schemas::Timestamp::parse(occurred_at).expect("an RFC 3339 instant"),
            recorded_at,
            // As a build from before v1.1 wrote them.
            recorded_by: None,
            metadata: redress_schemas::Metadata::default(),
            hash: redress_schemas::Hash::GENESIS,
        };
        let mut event = redress_schemas::WrittenEvent { header, data };
        let mut content = Vec::new();
        event.canonical_content(&mut content);
        event.header.hash = redress_engine::chain_hash(&previous, &content);
        previous = event.header.hash;
        out.push(event);
    }
    out
}

/// `lenient` allows an hour of clock skew, `strict` the default 5 minutes (each an empty store): an
/// event half an hour ahead is accepted by the first and refused by the second, two hours ahead by both.
pub async fn assert_an_hour_of_clock_skew_is_allowed(lenient: &dyn EventStore, strict: &dyn EventStore) {
    let now = redress_schemas::Timestamp::now();
    let (lenient_stream, strict_stream) = (complaint("lenient"), complaint("strict"));
    let ahead = |s: &StreamName, seconds: i64| vec![received(s).occurred_at(now.plus_seconds(seconds))];
    let in_the_future = |r: Result<redress_engine::AppendOutcome, redress_engine::StoreError>| {
        matches!(
            r,
            Err(redress_engine::StoreError::Lifecycle {
                violation: redress_engine::lifecycle::LifecycleViolation::OccurredInTheFuture { .. },
                ..
            })
        )
    };
    let any = redress_engine::ExpectedVersion::Any;
    assert!(in_the_future(lenient.append(&lenient_stream, any, ahead(&lenient_stream, 7200)).await));
    assert!(in_the_future(strict.append(&strict_stream, any, ahead(&strict_stream, 1800)).await));
    lenient.append(&lenient_stream, any, ahead(&lenient_stream, 1800)).await.expect("within an hour of skew");
}

/// Every event of `$all`, in order.
pub async fn read_everything(store: &dyn EventStore) -> Vec<redress_schemas::RecordedEvent> {
    let mut out = Vec::new();
    let mut from = redress_schemas::Position(0);
    loop {
        let page = store.read_all(from, 10_000, &redress_engine::EventFilter::all()).await.expect("read $all");
        out.extend(page.events);
        match page.next {
            Some(next) => from = redress_schemas::Position(next),
            None => return out,
        }
    }
}
