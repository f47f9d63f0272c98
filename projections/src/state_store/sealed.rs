//! [`SealedFoldStores`]: fold state sealed with a key per fold generation, so a rebuild forgets.
//!
//! Folds keep personal texts (complaint descriptions for previews, the terms of complaint texts for
//! answer gaps). After a customer is erased, every fold is rebuilt from the log, which now reads those
//! texts as `"[erased]"`. But the embedded checkpoint store is sled, which is log-structured: the old
//! generation's values survive in old segments until sled compacts them, whenever that is. So every
//! value is sealed (XChaCha20-Poly1305, random nonce, the entry's key as associated data) with a key of
//! its fold generation, kept in the store's key table; switching to a new generation destroys the keys
//! of the older ones. What sled keeps of them is then ciphertext nobody can open. Entry keys (ids) and
//! checkpoints (positions) are not sealed: scans need their order, and they hold no free text.

use super::{Checkpoint, FoldStore, FoldStores};
use crate::fold::{Change, Key, StateReader};
use crate::projection::ProjectionError;
use async_trait::async_trait;
use redress_engine::personal::{open_bytes, seal_bytes, DataKey, KeyId, KeyState, KeyTable, STATE_KEY_PREFIX};
use std::sync::Arc;

fn key_error(error: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Checkpoints(format!("fold state key: {error}"))
}

/// Any [`FoldStores`] with its values sealed by per-generation keys from `keys`.
pub struct SealedFoldStores {
    inner: Arc<dyn FoldStores>,
    keys: Arc<dyn KeyTable>,
}

impl SealedFoldStores {
    /// `inner`, its values sealed with keys kept in `keys`.
    pub fn new(inner: Arc<dyn FoldStores>, keys: Arc<dyn KeyTable>) -> SealedFoldStores {
        SealedFoldStores { inner, keys }
    }

    fn key_name(fold: &str, generation: u64) -> String {
        format!("{STATE_KEY_PREFIX}{fold}/{generation}")
    }

    fn sealed(store: Arc<dyn FoldStore>, key: DataKey) -> Arc<dyn FoldStore> {
        Arc::new(SealedFoldStore { inner: store, key })
    }
}

#[async_trait]
impl FoldStores for SealedFoldStores {
    async fn current(&self, fold: &str) -> Result<(u64, Arc<dyn FoldStore>), ProjectionError> {
        let (generation, store) = self.inner.current(fold).await?;
        let name = Self::key_name(fold, generation);
        match self.keys.key(&KeyId::of_customer(&name)).await.map_err(key_error)? {
            KeyState::Live(key) => Ok((generation, Self::sealed(store, key))),
            KeyState::Absent | KeyState::Erased if store.checkpoint().await?.is_none() => {
                let key = self.keys.renew(&name).await.map_err(key_error)?;
                Ok((generation, Self::sealed(store, key)))
            }
            // State written before sealing (or whose key is gone): start over from position 0 in a new
            // generation; switching drops the old one.
            KeyState::Absent | KeyState::Erased => {
                let next = generation + 1;
                let store = self.create(fold, next).await?;
                self.switch(fold, next).await?;
                Ok((next, store))
            }
        }
    }

    async fn create(&self, fold: &str, generation: u64) -> Result<Arc<dyn FoldStore>, ProjectionError> {
        let store = self.inner.create(fold, generation).await?;
        // A fresh key even if this generation number was begun before (an abandoned rebuild): what that
        // attempt left in old segments becomes unreadable too.
        let key = self.keys.renew(&Self::key_name(fold, generation)).await.map_err(key_error)?;
        Ok(Self::sealed(store, key))
    }

    async fn switch(&self, fold: &str, generation: u64) -> Result<(), ProjectionError> {
        self.inner.switch(fold, generation).await?;
        for older in 0..generation {
            self.keys.destroy(&KeyId::of_customer(&Self::key_name(fold, older))).await.map_err(key_error)?;
        }
        Ok(())
    }
}

struct SealedFoldStore {
    inner: Arc<dyn FoldStore>,
    key: DataKey,
}

impl SealedFoldStore {
    fn open(&self, entry: &[u8], value: &[u8]) -> Result<Vec<u8>, ProjectionError> {
        open_bytes(&self.key, entry, value).map_err(|e| ProjectionError::Checkpoints(format!("fold state: {e}")))
    }
}

#[async_trait]
impl StateReader for SealedFoldStore {
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>, ProjectionError> {
        let values = self.inner.get_many(keys).await?;
        keys.iter().zip(values).map(|(key, value)| value.map(|v| self.open(key, &v)).transpose()).collect()
    }

    async fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Vec<u8>)>, ProjectionError> {
        let entries = self.inner.scan(prefix, after, limit).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let value = self.open(&key, &value)?;
                Ok((key, value))
            })
            .collect()
    }
}

#[async_trait]
impl FoldStore for SealedFoldStore {
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, ProjectionError> {
        self.inner.checkpoint().await
    }

    async fn commit(&self, changes: Vec<Change>, checkpoint: Checkpoint) -> Result<(), ProjectionError> {
        let sealed = changes
            .into_iter()
            .map(|(key, value)| {
                let value = value.map(|v| seal_bytes(&self.key, &key, &v));
                (key, value)
            })
            .collect();
        self.inner.commit(sealed, checkpoint).await
    }
}
