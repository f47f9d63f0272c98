//! A projection in a few dozen lines: how many complaints arrived on each channel.
//!
//! Run it over a store that no server is using (sled locks its directory):
//! `cargo run -p redress-projections --example channel_counts -- ./redress-data`
//! It catches up from its checkpoint (kept in `<data-dir>/example-checkpoints`), prints the counts
//! and saves its checkpoint, so a second run only applies what is new. Its whole state is one small
//! value, so it is a `Projection`, run as a fold by `Snapshot`; a read model whose state grows with the
//! data implements `Fold` and keeps its state by key (see `redress_projections::complaints`).

use async_trait::async_trait;
use redress_engine::{EventStore, SledStore};
use redress_projections::{Folds, Projection, ProjectionError, Query, SledFoldStores, Snapshot};
use redress_schemas::{EventData, EventType, RecordedEvent, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The state: a count per channel. It is saved with the checkpoint, so it must be serde.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub by_channel: BTreeMap<String, u64>,
}

/// The projection: a name, a version, how one event changes the state, how the state answers.
pub struct ChannelCounts;

#[async_trait]
impl Projection for ChannelCounts {
    type State = Counts;

    fn name(&self) -> &'static str {
        "channel-counts"
    }

    /// Bump this when `apply` changes meaning: the stored state is then rebuilt from position 0.
    fn version(&self) -> u32 {
        1
    }

    /// Only these events reach `apply`.
    fn event_types(&self) -> Option<Vec<EventType>> {
        Some(vec![EventType::ComplaintReceived])
    }

    fn apply(&self, state: &mut Counts, event: &RecordedEvent) -> Result<(), String> {
        if let EventData::ComplaintReceived(complaint) = &event.data {
            let channel = serde_json::to_value(complaint.channel).map_err(|e| e.to_string())?;
            *state.by_channel.entry(channel.as_str().unwrap_or("other").to_owned()).or_default() += 1;
        }
        Ok(())
    }

    async fn query(&self, state: &Counts, _query: &Query) -> Result<Value, ProjectionError> {
        Ok(json!({"by_channel": state.by_channel, "total": state.by_channel.values().sum::<u64>()}))
    }
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "./redress-data".into()));
    let store: Arc<dyn EventStore> = Arc::new(SledStore::open(&dir)?);
    let states = Arc::new(SledFoldStores::open(&dir.join("example-checkpoints"), 0)?);
    let mut folds = Folds::new(Arc::clone(&store), states);
    folds.add(Snapshot(ChannelCounts)).await?;
    folds.start();
    folds.wait_caught_up(std::time::Duration::from_secs(60)).await;
    let answer = folds.query("channel-counts", &Query::at(Timestamp::now())).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    folds.stop().await;
    Ok(())
}
