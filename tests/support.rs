//! Builders shared by the integration tests.

#![allow(dead_code)]

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

pub fn closed(to: &StreamName) -> ProposedEvent {
    event(to, "complaint_closed", json!({"outcome": "resolved"}))
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
