//! Redress read models, rebuilt from the log.
//!
//! Architecture invariant: reads the log, never appends to it.

pub mod answer_gaps;
mod checkpoints;
pub mod complaints;
pub mod policy;
mod projection;
mod runner;
pub mod suggestions;
pub mod text;

pub use checkpoints::{CheckpointStore, MemoryCheckpoints, Saved, SledCheckpoints};
pub use projection::{Projection, ProjectionError, Query};
pub use runner::{replay_state, Basis, Health, ProjectionStatus, Projections, Runner, RunningProjection};

use policy::SlaPolicy;
use redress_engine::EventStore;

/// Starts every built-in projection in `projections`.
pub fn start_builtins(projections: &mut Projections, policy: &SlaPolicy) {
    projections
        .start(complaints::OpenComplaints { policy: policy.clone() })
        .start(complaints::CustomerHistory)
        .start(complaints::RepeatIssues)
        .start(complaints::Satisfaction { policy: policy.clone() })
        .start(suggestions::Suggestions)
        .start(answer_gaps::AnswerGaps);
}

/// The names of the built-in projections.
pub const BUILTIN_NAMES: &[&str] =
    &["open-complaints", "customer-history", "repeat-issues", "satisfaction", "suggestions", "answer-gaps"];

/// Rebuilds the built-in projection `name` from the log as it stood at `query.as_of` (by `basis`) and
/// answers `query` from it — without a running registry (the CLI's `replay`, `suggest`, `demo`).
pub async fn replay_builtin(
    name: &str,
    store: &dyn EventStore,
    policy: &SlaPolicy,
    basis: Basis,
    query: &Query,
) -> Result<serde_json::Value, ProjectionError> {
    async fn run<P: Projection>(
        p: P,
        store: &dyn EventStore,
        basis: Basis,
        query: &Query,
    ) -> Result<serde_json::Value, ProjectionError> {
        let state = replay_state(&p, store, basis, query.as_of).await?;
        p.query(&state, query).await
    }
    match name {
        "open-complaints" => run(complaints::OpenComplaints { policy: policy.clone() }, store, basis, query).await,
        "customer-history" => run(complaints::CustomerHistory, store, basis, query).await,
        "repeat-issues" => run(complaints::RepeatIssues, store, basis, query).await,
        "satisfaction" => run(complaints::Satisfaction { policy: policy.clone() }, store, basis, query).await,
        "suggestions" => run(suggestions::Suggestions, store, basis, query).await,
        "answer-gaps" => run(answer_gaps::AnswerGaps, store, basis, query).await,
        other => Err(ProjectionError::Unknown(other.to_owned())),
    }
}
