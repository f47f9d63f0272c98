//! The README's example: append with optimistic concurrency and an idempotent id, then read back.
//! Run it with `cargo run -p redress-engine --example quickstart [DATA_DIR]`.

use redress_engine::{Direction, EventStore, ExpectedVersion, SledStore, StoreError};
use redress_schemas::{ProposedEvent, StreamName};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = SledStore::open(std::env::args().nth(1).unwrap_or_else(|| "./redress-data".into()))?;
    let stream = StreamName::new("complaint-C-1001")?;
    let received = ProposedEvent::from_json(
        json!({
            "event_id": "0b6e4f2a-8a55-4b8e-9d3c-6f1e2a7b9c01",
            "event_type": "complaint_received",
            "metadata": {"actor": "hotline-agent-7", "source": "callcenter"},
            "data": {"complaint_id": "C-1001", "customer_id": "K-88", "channel": "hotline",
                     "category": "delivery", "severity": "high", "customer_tier": "key",
                     "description": "笔记本电脑送达时屏幕碎了"}
        }),
        &stream,
    )?;

    // Returns once the event is on disk (fdatasync'd). Retrying with the same event_id is safe:
    // it answers with the first result and writes nothing.
    let out = store.append(&stream, ExpectedVersion::NoStream, vec![received]).await?;
    println!("version {} at position {}", out.result.first_version, out.result.first_position);

    // Optimistic concurrency: a stale expected version is a typed error carrying the current one.
    let ack = ProposedEvent::from_json(
        json!({"event_type": "complaint_acknowledged",
        "data": {"via": "phone", "message": "非常抱歉，我们已收到您的投诉"}}),
        &stream,
    )?;
    match store.append(&stream, ExpectedVersion::Exact(0), vec![ack]).await {
        Ok(_) => {}
        Err(StoreError::WrongExpectedVersion { current, .. }) => println!("someone else wrote; now at {current:?}"),
        Err(other) => return Err(other.into()),
    }

    for event in store.read_stream(&stream, 0, Direction::Forward, 100).await?.events {
        println!("{}", event.to_json());
    }
    Ok(())
}
