//! Fold state in the store's own database: a row per key (`fold_state`), each fold generation's
//! checkpoint (`fold_checkpoints`), written in one transaction per checkpoint (atomic), beside the log
//! they were folded from.
//!
//! Each server keeps its own fold spaces (`<server>/<fold>`): a server's folds write only what changed
//! in its own state, so two servers writing one space would mix keys of different positions. The server
//! name comes from `redress serve --server-name` (default: the host name and the listen port).

use super::{Checkpoint, FoldStore, FoldStores};
use crate::fold::{Change, Key, StateReader};
use crate::projection::ProjectionError;
use async_trait::async_trait;
use deadpool_postgres::Pool;
use redress_engine::PostgresStore;
use std::sync::Arc;

fn failed(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Checkpoints(e.to_string())
}

/// [`FoldStores`] on the PostgreSQL schema of a [`PostgresStore`], for one server.
pub struct PostgresFoldStores {
    pool: Pool,
    schema: String,
    server: String,
}

impl PostgresFoldStores {
    /// The fold spaces of server `server` in `store`'s schema (tables created by its migration 3).
    pub fn new(store: &PostgresStore, server: &str) -> PostgresFoldStores {
        PostgresFoldStores { pool: store.pool().clone(), schema: store.schema().to_owned(), server: server.to_owned() }
    }

    fn space(&self, fold: &str) -> String {
        format!("{}/{fold}", self.server)
    }

    fn generation(&self, fold: &str, generation: u64) -> Arc<dyn FoldStore> {
        Arc::new(PostgresFoldStore {
            pool: self.pool.clone(),
            schema: self.schema.clone(),
            space: self.space(fold),
            generation: generation as i64,
        })
    }
}

#[async_trait]
impl FoldStores for PostgresFoldStores {
    async fn current(&self, fold: &str) -> Result<(u64, Arc<dyn FoldStore>), ProjectionError> {
        let client = self.pool.get().await.map_err(failed)?;
        let s = &self.schema;
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO {s}.fold_generations (space, generation) VALUES ($1, 0)
                     ON CONFLICT (space) DO UPDATE SET generation = {s}.fold_generations.generation
                     RETURNING generation"
                ),
                &[&self.space(fold)],
            )
            .await
            .map_err(failed)?;
        let generation: i64 = row.get(0);
        Ok((generation as u64, self.generation(fold, generation as u64)))
    }

    async fn create(&self, fold: &str, generation: u64) -> Result<Arc<dyn FoldStore>, ProjectionError> {
        let client = self.pool.get().await.map_err(failed)?;
        let s = &self.schema;
        let (space, g) = (self.space(fold), generation as i64);
        client
            .execute(&format!("DELETE FROM {s}.fold_state WHERE space = $1 AND generation = $2"), &[&space, &g])
            .await
            .map_err(failed)?;
        client
            .execute(&format!("DELETE FROM {s}.fold_checkpoints WHERE space = $1 AND generation = $2"), &[&space, &g])
            .await
            .map_err(failed)?;
        Ok(self.generation(fold, generation))
    }

    async fn switch(&self, fold: &str, generation: u64) -> Result<(), ProjectionError> {
        let mut client = self.pool.get().await.map_err(failed)?;
        let s = &self.schema;
        let (space, g) = (self.space(fold), generation as i64);
        let tx = client.transaction().await.map_err(failed)?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.fold_generations (space, generation) VALUES ($1, $2)
                 ON CONFLICT (space) DO UPDATE SET generation = EXCLUDED.generation"
            ),
            &[&space, &g],
        )
        .await
        .map_err(failed)?;
        tx.execute(&format!("DELETE FROM {s}.fold_state WHERE space = $1 AND generation <> $2"), &[&space, &g])
            .await
            .map_err(failed)?;
        tx.execute(&format!("DELETE FROM {s}.fold_checkpoints WHERE space = $1 AND generation <> $2"), &[&space, &g])
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)
    }
}

/// One generation of one fold's space.
struct PostgresFoldStore {
    pool: Pool,
    schema: String,
    space: String,
    generation: i64,
}

/// The smallest key greater than every key starting with `prefix` (`None`: no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[async_trait]
impl StateReader for PostgresFoldStore {
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>, ProjectionError> {
        let client = self.pool.get().await.map_err(failed)?;
        let s = &self.schema;
        let rows = client
            .query(
                &format!(
                    "SELECT key, value FROM {s}.fold_state WHERE space = $1 AND generation = $2 AND key = ANY($3)"
                ),
                &[&self.space, &self.generation, &keys],
            )
            .await
            .map_err(failed)?;
        let mut found: std::collections::HashMap<Vec<u8>, Vec<u8>> =
            rows.into_iter().map(|row| (row.get(0), row.get(1))).collect();
        Ok(keys.iter().map(|key| found.remove(key)).collect())
    }

    async fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Vec<u8>)>, ProjectionError> {
        let client = self.pool.get().await.map_err(failed)?;
        let s = &self.schema;
        let from = after.map_or_else(|| prefix.to_vec(), <[u8]>::to_vec);
        let inclusive = after.is_none();
        let end = prefix_end(prefix);
        let limit = limit as i64;
        let rows = client
            .query(
                &format!(
                    "SELECT key, value FROM {s}.fold_state WHERE space = $1 AND generation = $2
                       AND (key > $3 OR ($4 AND key = $3)) AND ($5::bytea IS NULL OR key < $5)
                     ORDER BY key LIMIT $6"
                ),
                &[&self.space, &self.generation, &from, &inclusive, &end, &limit],
            )
            .await
            .map_err(failed)?;
        Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}

#[async_trait]
impl FoldStore for PostgresFoldStore {
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, ProjectionError> {
        let client = self.pool.get().await.map_err(failed)?;
        let s = &self.schema;
        let row = client
            .query_opt(
                &format!(
                    "SELECT version, next_position FROM {s}.fold_checkpoints WHERE space = $1 AND generation = $2"
                ),
                &[&self.space, &self.generation],
            )
            .await
            .map_err(failed)?;
        Ok(row.map(|row| {
            let version: i32 = row.get(0);
            let next: i64 = row.get(1);
            Checkpoint { version: version as u32, next_position: next as u64 }
        }))
    }

    async fn commit(&self, changes: Vec<Change>, checkpoint: Checkpoint) -> Result<(), ProjectionError> {
        let mut client = self.pool.get().await.map_err(failed)?;
        let s = &self.schema;
        let (mut put_keys, mut put_values, mut gone) = (Vec::new(), Vec::new(), Vec::new());
        for (key, value) in changes {
            match value {
                Some(value) => {
                    put_keys.push(key);
                    put_values.push(value);
                }
                None => gone.push(key),
            }
        }
        let tx = client.transaction().await.map_err(failed)?;
        if !gone.is_empty() {
            tx.execute(
                &format!("DELETE FROM {s}.fold_state WHERE space = $1 AND generation = $2 AND key = ANY($3)"),
                &[&self.space, &self.generation, &gone],
            )
            .await
            .map_err(failed)?;
        }
        if !put_keys.is_empty() {
            tx.execute(
                &format!(
                    "INSERT INTO {s}.fold_state (space, generation, key, value)
                     SELECT $1, $2, k, v FROM UNNEST($3::bytea[], $4::bytea[]) AS t(k, v)
                     ON CONFLICT (space, generation, key) DO UPDATE SET value = EXCLUDED.value"
                ),
                &[&self.space, &self.generation, &put_keys, &put_values],
            )
            .await
            .map_err(failed)?;
        }
        let version = i32::try_from(checkpoint.version).map_err(failed)?;
        let next = i64::try_from(checkpoint.next_position).map_err(failed)?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.fold_checkpoints (space, generation, version, next_position, saved_at)
                 VALUES ($1, $2, $3, $4, now())
                 ON CONFLICT (space, generation) DO UPDATE SET version = EXCLUDED.version,
                     next_position = EXCLUDED.next_position, saved_at = EXCLUDED.saved_at"
            ),
            &[&self.space, &self.generation, &version, &next],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)
    }
}
