//! Where projections keep their checkpoint and state, written together in one atomic step.

use crate::projection::ProjectionError;
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// A projection's saved progress: its version, the next position to apply, and its state snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub version: u32,
    pub next_position: u64,
    pub state: Vec<u8>,
}

/// Storage for [`Saved`] records. `save` must be atomic: after a crash, a load returns either the old
/// record or the new one, whole — so the state never disagrees with its checkpoint.
#[async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    async fn load(&self, name: &str) -> Result<Option<Saved>, ProjectionError>;
    async fn save(&self, name: &str, saved: &Saved) -> Result<(), ProjectionError>;
}

fn encode(saved: &Saved) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + saved.state.len());
    out.extend_from_slice(&saved.version.to_be_bytes());
    out.extend_from_slice(&saved.next_position.to_be_bytes());
    out.extend_from_slice(&saved.state);
    out
}

fn decode(bytes: &[u8]) -> Result<Saved, ProjectionError> {
    if bytes.len() < 12 {
        return Err(ProjectionError::Checkpoints("a saved record is shorter than its header".into()));
    }
    Ok(Saved {
        version: u32::from_be_bytes(bytes[..4].try_into().expect("length checked")),
        next_position: u64::from_be_bytes(bytes[4..12].try_into().expect("length checked")),
        state: bytes[12..].to_vec(),
    })
}

/// Checkpoints in their own sled database (one insert per save: atomic after recovery). Not fsynced:
/// losing the newest checkpoint in a power cut only means re-applying events, never skipping them.
pub struct SledCheckpoints {
    tree: sled::Tree,
}

impl SledCheckpoints {
    /// Opens (or creates) the checkpoint database in `path`.
    pub fn open(path: &Path) -> Result<SledCheckpoints, ProjectionError> {
        let started = std::time::Instant::now();
        let db = loop {
            match sled::Config::new().path(path).flush_every_ms(Some(1_000)).open() {
                Ok(db) => break db,
                // A database dropped a moment ago may still hold sled's lock from its I/O threads.
                Err(e) if e.to_string().contains("could not acquire lock") && started.elapsed().as_secs() < 2 => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => return Err(ProjectionError::Checkpoints(e.to_string())),
            }
        };
        let tree = db.open_tree("checkpoints").map_err(|e| ProjectionError::Checkpoints(e.to_string()))?;
        Ok(SledCheckpoints { tree })
    }
}

#[async_trait]
impl CheckpointStore for SledCheckpoints {
    async fn load(&self, name: &str) -> Result<Option<Saved>, ProjectionError> {
        let bytes = self.tree.get(name).map_err(|e| ProjectionError::Checkpoints(e.to_string()))?;
        bytes.map(|b| decode(&b)).transpose()
    }

    async fn save(&self, name: &str, saved: &Saved) -> Result<(), ProjectionError> {
        self.tree.insert(name, encode(saved)).map_err(|e| ProjectionError::Checkpoints(e.to_string()))?;
        self.tree.flush_async().await.map_err(|e| ProjectionError::Checkpoints(e.to_string()))?;
        Ok(())
    }
}

/// Checkpoints in memory: for tests, and for servers that rebuild at every start.
#[derive(Default)]
pub struct MemoryCheckpoints {
    saved: Mutex<HashMap<String, Saved>>,
}

#[async_trait]
impl CheckpointStore for MemoryCheckpoints {
    async fn load(&self, name: &str) -> Result<Option<Saved>, ProjectionError> {
        Ok(self.saved.lock().expect("checkpoints lock").get(name).cloned())
    }

    async fn save(&self, name: &str, saved: &Saved) -> Result<(), ProjectionError> {
        self.saved.lock().expect("checkpoints lock").insert(name.to_owned(), saved.clone());
        Ok(())
    }
}
