//! Redress read models, rebuilt from the log.
//!
//! Architecture invariant: reads the log, never appends to it.

mod checkpoints;
pub mod policy;
mod projection;
mod runner;

pub use checkpoints::{CheckpointStore, MemoryCheckpoints, Saved, SledCheckpoints};
pub use projection::{Projection, ProjectionError, Query};
pub use runner::{replay_state, Basis, Health, ProjectionStatus, Projections, Runner, RunningProjection};
