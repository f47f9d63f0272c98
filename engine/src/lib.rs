//! The Redress event store: the [`EventStore`] trait, the embedded [`SledStore`], group commit,
//! subscriptions, the audit hash chain, and the complaint lifecycle rules enforced at append.
//!
//! Architecture invariant: knows nothing of HTTP, the command line or any projection.
//!
//! ```
//! # tokio_test();
//! # fn tokio_test() { tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use redress_engine::{EventStore, ExpectedVersion, SledStore, Direction};
//! use redress_schemas::{ProposedEvent, StreamName};
//!
//! let dir = std::env::temp_dir().join(format!("redress-doc-{}", std::process::id()));
//! let store = SledStore::open(&dir).unwrap();
//! let stream = StreamName::new("complaint-C-1").unwrap();
//! let received = ProposedEvent::from_json(serde_json::json!({
//!     "event_type": "complaint_received",
//!     "data": {"complaint_id": "C-1", "customer_id": "K-1", "channel": "web",
//!              "category": "delivery", "severity": "normal", "description": "late"}
//! }), &stream).unwrap();
//!
//! // Durable when it returns.
//! let outcome = store.append(&stream, ExpectedVersion::NoStream, vec![received]).await.unwrap();
//! assert_eq!(outcome.result.first_version, 0);
//!
//! let page = store.read_stream(&stream, 0, Direction::Forward, 100).await.unwrap();
//! assert_eq!(page.events.len(), 1);
//! # drop(store); std::fs::remove_dir_all(&dir).unwrap();
//! # }) }
//! ```

mod chain;
mod checkpoint;
pub mod disk;
mod error;
mod faults;
pub mod lifecycle;
pub mod limits;
pub mod personal;
mod postgres_store;
mod prepare;
mod sled_store;
mod staging;
mod store;
mod subscription;

pub use chain::{chain_hash, verify_export, verify_store, ChainVerifier, Verification};
pub use checkpoint::{
    check_signer, checkpoint_message, checkpoint_now, read_small_file, run_checkpoints, verify_export_against,
    Checkpoint, CheckpointError, CheckpointSigner, CheckpointVerdict, PublicKey, CHECKPOINTS_KEPT_MAX,
    CHECKPOINT_FILE_BYTES_MAX, CHECKPOINT_INTERVAL_DEFAULT, CHECKPOINT_MESSAGE_BYTES, CHECKPOINT_TAG,
};
pub use error::StoreError;
pub use faults::DiskFaults;
pub use personal::{FileKeyTable, KeyTable, ShreddableStore};
pub use postgres_store::PostgresStore;
pub use prepare::{prepare, PreparedEvent};
pub use sled_store::{Recoveries, SledStore};
pub use store::{
    on_blocking_pool, AppendOutcome, AppendResult, CommittedBatch, Direction, EventFilter, EventStore, ExpectedVersion,
    Head, Page, StoreHealth, StoreOptions,
};
pub use subscription::Subscription;

// Entries staged by one group commit must survive in the stream cache until it commits: a cache
// generation holds more streams than a group can touch.
const _: () = assert!(limits::GROUP_COMMIT_EVENTS_MAX < limits::STREAM_STATE_CACHE_STREAMS_MAX);
