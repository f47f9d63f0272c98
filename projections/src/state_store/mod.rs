//! Where folds keep their keyed state and checkpoint: a sled database beside the embedded store,
//! tables in the PostgreSQL store's schema (`postgres`), or memory.
//!
//! Each fold has its own space, and each space has a generation: a rebuild from position 0 writes a new
//! generation beside the live one and switches to it in one step when it has caught up, so the live
//! state keeps answering (and keeps its checkpoint) until then.

mod postgres;
mod sealed;

pub use postgres::PostgresFoldStores;
pub use sealed::SealedFoldStores;

use crate::fold::{Change, Key, StateReader};
use crate::projection::ProjectionError;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A fold's progress: the version its state was folded with, and the next position to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub version: u32,
    pub next_position: u64,
}

/// One generation of one fold's keyed state.
#[async_trait]
pub trait FoldStore: StateReader {
    /// The checkpoint written with the state (`None` before the first).
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, ProjectionError>;

    /// Writes `changes` and `checkpoint` atomically: after a crash, a reader sees all of it or none.
    async fn commit(&self, changes: Vec<Change>, checkpoint: Checkpoint) -> Result<(), ProjectionError>;
}

/// The spaces of every fold.
#[async_trait]
pub trait FoldStores: Send + Sync + 'static {
    /// The generation of `fold` that queries and the checkpoint use (created empty, generation 0, the
    /// first time).
    async fn current(&self, fold: &str) -> Result<(u64, Arc<dyn FoldStore>), ProjectionError>;

    /// A new, empty generation of `fold` for a rebuild beside the current one.
    async fn create(&self, fold: &str, generation: u64) -> Result<Arc<dyn FoldStore>, ProjectionError>;

    /// Makes `generation` the current one and drops the others.
    async fn switch(&self, fold: &str, generation: u64) -> Result<(), ProjectionError>;
}

fn storage_error(error: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Checkpoints(error.to_string())
}

/// sled's page cache for the fold state database.
const FOLD_DB_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The key of the checkpoint inside a generation's tree: no fold key starts with 0xff 0x00.
const CHECKPOINT_KEY: &[u8] = b"\xff\x00checkpoint";

fn encode_checkpoint(checkpoint: Checkpoint) -> [u8; 12] {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&checkpoint.version.to_be_bytes());
    bytes[4..].copy_from_slice(&checkpoint.next_position.to_be_bytes());
    bytes
}

fn decode_checkpoint(bytes: &[u8]) -> Result<Checkpoint, ProjectionError> {
    let bytes: [u8; 12] = bytes.try_into().map_err(|_| storage_error("a checkpoint is not 12 bytes"))?;
    Ok(Checkpoint {
        version: u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")),
        next_position: u64::from_be_bytes(bytes[4..].try_into().expect("8 bytes")),
    })
}

// ---------------------------------------------------------------------------------------------
// sled

/// Fold state in its own sled database (`<data-dir>/projections`): one tree per fold generation, the
/// checkpoint inside it (one `apply_batch` per checkpoint: atomic), and a `generations` tree naming the
/// current generation of each fold. Not fsynced: losing the newest checkpoint in a power cut only means
/// re-applying events, never skipping them.
pub struct SledFoldStores {
    db: sled::Db,
    generations: sled::Tree,
    /// Free bytes kept on the filesystem: a checkpoint that would leave less is skipped (and retried),
    /// so the read side never runs the disk full under the event store.
    path: std::path::PathBuf,
    disk_free_bytes_min: u64,
}

impl SledFoldStores {
    /// Opens (or creates) the database in `path`, keeping `disk_free_bytes_min` free on its filesystem.
    pub fn open(path: &Path, disk_free_bytes_min: u64) -> Result<SledFoldStores, ProjectionError> {
        let started = std::time::Instant::now();
        let db = loop {
            // No background flusher: sled's flush can hang on a full disk holding a lock every sled database
            // of the process shares, so this one flushes only after its own space check.
            // sled's default page cache is 1 GiB; fold state is read back a key at a time (and the
            // OS caches the file), so a small cache keeps the read side's memory bounded.
            match sled::Config::new().path(path).flush_every_ms(None).cache_capacity(FOLD_DB_CACHE_BYTES).open() {
                Ok(db) => break db,
                // A database dropped a moment ago may still hold sled's lock from its I/O threads.
                Err(e) if e.to_string().contains("could not acquire lock") && started.elapsed().as_secs() < 2 => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => return Err(storage_error(e)),
            }
        };
        let generations = db.open_tree("generations").map_err(storage_error)?;
        Ok(SledFoldStores { db, generations, path: path.to_path_buf(), disk_free_bytes_min })
    }

    fn tree_name(fold: &str, generation: u64) -> String {
        format!("fold/{fold}/{generation}")
    }

    fn open_generation(&self, fold: &str, generation: u64) -> Result<Arc<dyn FoldStore>, ProjectionError> {
        let tree = self.db.open_tree(Self::tree_name(fold, generation)).map_err(storage_error)?;
        Ok(Arc::new(SledFoldStore {
            tree,
            db: self.db.clone(),
            path: self.path.clone(),
            disk_free_bytes_min: self.disk_free_bytes_min,
        }))
    }
}

#[async_trait]
impl FoldStores for SledFoldStores {
    async fn current(&self, fold: &str) -> Result<(u64, Arc<dyn FoldStore>), ProjectionError> {
        let generation = match self.generations.get(fold).map_err(storage_error)? {
            Some(bytes) => {
                u64::from_be_bytes(bytes.as_ref().try_into().map_err(|_| storage_error("a generation is not 8 bytes"))?)
            }
            None => {
                self.generations.insert(fold, &0u64.to_be_bytes()).map_err(storage_error)?;
                0
            }
        };
        Ok((generation, self.open_generation(fold, generation)?))
    }

    async fn create(&self, fold: &str, generation: u64) -> Result<Arc<dyn FoldStore>, ProjectionError> {
        self.db.drop_tree(Self::tree_name(fold, generation)).map_err(storage_error)?;
        self.open_generation(fold, generation)
    }

    async fn switch(&self, fold: &str, generation: u64) -> Result<(), ProjectionError> {
        self.generations.insert(fold, &generation.to_be_bytes()).map_err(storage_error)?;
        self.generations.flush_async().await.map_err(storage_error)?;
        let prefix = format!("fold/{fold}/");
        for name in self.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            if name.strip_prefix(&prefix).is_some_and(|g| g != generation.to_string()) {
                self.db.drop_tree(name).map_err(storage_error)?;
            }
        }
        Ok(())
    }
}

struct SledFoldStore {
    tree: sled::Tree,
    db: sled::Db,
    path: std::path::PathBuf,
    disk_free_bytes_min: u64,
}

#[async_trait]
impl StateReader for SledFoldStore {
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>, ProjectionError> {
        keys.iter().map(|key| Ok(self.tree.get(key).map_err(storage_error)?.map(|v| v.to_vec()))).collect()
    }

    async fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Vec<u8>)>, ProjectionError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        let entries = match after {
            Some(after) => self.tree.range::<&[u8], _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => self.tree.range::<&[u8], _>(prefix..),
        };
        for entry in entries {
            let (key, value) = entry.map_err(storage_error)?;
            if !key.starts_with(prefix) || out.len() == limit {
                break;
            }
            if &*key == CHECKPOINT_KEY {
                continue;
            }
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }
}

#[async_trait]
impl FoldStore for SledFoldStore {
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, ProjectionError> {
        self.tree.get(CHECKPOINT_KEY).map_err(storage_error)?.map(|bytes| decode_checkpoint(&bytes)).transpose()
    }

    async fn commit(&self, changes: Vec<Change>, checkpoint: Checkpoint) -> Result<(), ProjectionError> {
        let bytes: u64 = changes.iter().map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64).sum();
        if self.disk_free_bytes_min > 0 {
            let free = redress_engine::disk::free_bytes(&self.path).map_err(storage_error)?;
            if free < self.disk_free_bytes_min.saturating_add(2 * bytes) {
                return Err(storage_error(format!(
                    "checkpoint of {bytes} bytes skipped: {free} bytes free, {} kept in reserve",
                    self.disk_free_bytes_min
                )));
            }
        }
        let mut batch = sled::Batch::default();
        for (key, value) in changes {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch.insert(CHECKPOINT_KEY, &encode_checkpoint(checkpoint)[..]);
        self.tree.apply_batch(batch).map_err(storage_error)?;
        self.db.flush_async().await.map_err(storage_error)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// memory

/// A fold's generations in memory, and which one is current.
type MemorySpace = (u64, HashMap<u64, Arc<MemoryFoldStore>>);

/// Fold state in memory: for tests, replays and servers that rebuild at every start.
#[derive(Default)]
pub struct MemoryFoldStores {
    spaces: Mutex<HashMap<String, MemorySpace>>,
}

/// One generation's entries and checkpoint.
type MemoryEntries = (BTreeMap<Key, Vec<u8>>, Option<Checkpoint>);

/// One generation in memory.
#[derive(Default)]
pub struct MemoryFoldStore {
    entries: Mutex<MemoryEntries>,
}

#[async_trait]
impl FoldStores for MemoryFoldStores {
    async fn current(&self, fold: &str) -> Result<(u64, Arc<dyn FoldStore>), ProjectionError> {
        let mut spaces = self.spaces.lock().expect("fold stores lock");
        let (current, generations) = spaces.entry(fold.to_owned()).or_default();
        let store = generations.entry(*current).or_default();
        Ok((*current, Arc::clone(store) as Arc<dyn FoldStore>))
    }

    async fn create(&self, fold: &str, generation: u64) -> Result<Arc<dyn FoldStore>, ProjectionError> {
        let mut spaces = self.spaces.lock().expect("fold stores lock");
        let (_, generations) = spaces.entry(fold.to_owned()).or_default();
        let store = Arc::new(MemoryFoldStore::default());
        generations.insert(generation, Arc::clone(&store));
        Ok(store)
    }

    async fn switch(&self, fold: &str, generation: u64) -> Result<(), ProjectionError> {
        let mut spaces = self.spaces.lock().expect("fold stores lock");
        let (current, generations) = spaces.entry(fold.to_owned()).or_default();
        *current = generation;
        generations.retain(|g, _| *g == generation);
        Ok(())
    }
}

#[async_trait]
impl StateReader for MemoryFoldStore {
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>, ProjectionError> {
        let entries = self.entries.lock().expect("fold store lock");
        Ok(keys.iter().map(|key| entries.0.get(key).cloned()).collect())
    }

    async fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Vec<u8>)>, ProjectionError> {
        let entries = self.entries.lock().expect("fold store lock");
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(after.to_vec()),
            None => std::ops::Bound::Included(prefix.to_vec()),
        };
        Ok(entries
            .0
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[async_trait]
impl FoldStore for MemoryFoldStore {
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, ProjectionError> {
        Ok(self.entries.lock().expect("fold store lock").1)
    }

    async fn commit(&self, changes: Vec<Change>, checkpoint: Checkpoint) -> Result<(), ProjectionError> {
        let mut entries = self.entries.lock().expect("fold store lock");
        for (key, value) in changes {
            match value {
                Some(value) => entries.0.insert(key, value),
                None => entries.0.remove(&key),
            };
        }
        entries.1 = Some(checkpoint);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exercise(stores: &dyn FoldStores) {
        let (generation, store) = stores.current("f").await.unwrap();
        assert_eq!((generation, store.checkpoint().await.unwrap()), (0, None));
        let first = Checkpoint { version: 1, next_position: 10 };
        store
            .commit(vec![(b"a1".to_vec(), Some(b"x".to_vec())), (b"a2".to_vec(), Some(b"y".to_vec()))], first)
            .await
            .unwrap();
        store.commit(vec![(b"a1".to_vec(), None), (b"b1".to_vec(), Some(b"z".to_vec()))], first).await.unwrap();
        assert_eq!(store.checkpoint().await.unwrap(), Some(first));
        assert_eq!(store.get_many(&[b"a1".to_vec(), b"a2".to_vec()]).await.unwrap(), vec![None, Some(b"y".to_vec())]);
        assert_eq!(store.scan(b"a", None, 10).await.unwrap(), vec![(b"a2".to_vec(), b"y".to_vec())]);
        assert_eq!(store.scan(b"", Some(b"a2"), 10).await.unwrap(), vec![(b"b1".to_vec(), b"z".to_vec())]);
        // A rebuild writes beside the current generation, which keeps answering until the switch.
        let next = stores.create("f", 1).await.unwrap();
        next.commit(vec![(b"a9".to_vec(), Some(b"n".to_vec()))], Checkpoint { version: 2, next_position: 3 })
            .await
            .unwrap();
        assert_eq!(stores.current("f").await.unwrap().0, 0);
        stores.switch("f", 1).await.unwrap();
        let (generation, current) = stores.current("f").await.unwrap();
        assert_eq!(generation, 1);
        assert_eq!(current.checkpoint().await.unwrap(), Some(Checkpoint { version: 2, next_position: 3 }));
        assert_eq!(current.get_many(&[b"a2".to_vec()]).await.unwrap(), vec![None], "the old generation is gone");
    }

    #[tokio::test]
    async fn memory_and_sled_fold_stores_commit_atomically_scan_by_prefix_and_switch_generations() {
        exercise(&MemoryFoldStores::default()).await;
        let dir = tempfile::tempdir().unwrap();
        {
            let stores = SledFoldStores::open(dir.path(), 0).unwrap();
            exercise(&stores).await;
        }
        let reopened = SledFoldStores::open(dir.path(), 0).unwrap();
        let (generation, store) = reopened.current("f").await.unwrap();
        assert_eq!(generation, 1, "a reopened database keeps the switch");
        assert_eq!(store.get_many(&[b"a9".to_vec()]).await.unwrap(), vec![Some(b"n".to_vec())]);
    }
}
