//! Redress read models, folded from the log.
//!
//! A [`Fold`] is the costly part — read, decode, apply, checkpoint — and its views are cheap questions
//! to its state: one fold serves many views. [`Folds`] runs them all from one read of the log. A
//! developer's own small read model is a [`Projection`] (its whole state saved as one value), run as a
//! fold by [`Snapshot`].
//!
//! Architecture invariant: reads the log, never appends to it.

pub mod answer_gaps;
pub mod calendar;
pub mod complaints;
mod fold;
mod folds;
pub mod glossary;
mod keyed;
pub mod library;
pub mod policy;
mod projection;
mod state_store;
pub mod suggestions;
pub mod text;

pub use fold::{Anomaly, Change, Fold, Key, StateReader};
pub use folds::{AnomalyReport, Basis, FoldOptions, Folds, Health, ProjectionStatus, WAIT_MS_DEFAULT, WAIT_MS_MAX};
pub use keyed::KeyedMap;
pub use projection::{
    Paging, Projection, ProjectionError, Query, Snapshot, SnapshotState, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX,
    SNAPSHOT_BYTES_MAX,
};
pub use state_store::{
    Checkpoint, FoldStore, FoldStores, MemoryFoldStores, PostgresFoldStores, SealedFoldStores, SledFoldStores,
};

use policy::SlaPolicy;
use redress_engine::EventStore;
use std::sync::Arc;

/// Adds every built-in fold to `folds` (call [`Folds::start`] after).
pub async fn add_builtins(folds: &mut Folds, policy: &SlaPolicy) -> Result<(), ProjectionError> {
    folds.add(complaints::ComplaintsFold::new(policy.clone())).await?.add(library::LibraryFold::default()).await?;
    Ok(())
}

/// The views of the built-in folds.
pub const BUILTIN_NAMES: &[&str] = &[
    "open-complaints",
    "customer-history",
    "repeat-issues",
    "satisfaction",
    "complaint",
    "needs-attention",
    "problems",
    "deadline-alerts",
    "suggestions",
    "answer-gaps",
];

/// Rebuilds the built-in view `name` from the log as it stood at `query.as_of` (by `basis`) and
/// answers `query` from it — without running folds (the CLI's `replay`, `suggest`, `demo`).
pub async fn replay_builtin(
    name: &str,
    store: Arc<dyn EventStore>,
    policy: &SlaPolicy,
    basis: Basis,
    query: &Query,
) -> Result<serde_json::Value, ProjectionError> {
    let mut folds = Folds::new(store, Arc::new(MemoryFoldStores::default()));
    add_builtins(&mut folds, policy).await?;
    folds.replay(name, basis, query).await
}
