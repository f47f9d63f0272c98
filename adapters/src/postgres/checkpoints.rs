//! Projection checkpoints in the store's own database: one row per projection, its state and its
//! checkpoint written by one statement (atomic), beside the log they were built from.

use super::PostgresStore;
use async_trait::async_trait;
use deadpool_postgres::Pool;
use redress_projections::{CheckpointStore, ProjectionError, Saved};

/// [`CheckpointStore`] on the PostgreSQL schema of a [`PostgresStore`].
pub struct PostgresCheckpoints {
    pool: Pool,
    load: String,
    save: String,
}

impl PostgresStore {
    /// Checkpoints kept in this store's schema (table `checkpoints`, created by the migration).
    pub fn checkpoints(&self) -> PostgresCheckpoints {
        let s = &self.schema;
        PostgresCheckpoints {
            pool: self.pool.clone(),
            load: format!("SELECT version, next_position, state FROM {s}.checkpoints WHERE name = $1"),
            save: format!(
                "INSERT INTO {s}.checkpoints (name, version, next_position, state, saved_at) VALUES ($1, $2, $3, $4, now())
                 ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, next_position = EXCLUDED.next_position,
                     state = EXCLUDED.state, saved_at = EXCLUDED.saved_at"
            ),
        }
    }
}

fn failed(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Checkpoints(e.to_string())
}

#[async_trait]
impl CheckpointStore for PostgresCheckpoints {
    async fn load(&self, name: &str) -> Result<Option<Saved>, ProjectionError> {
        let client = self.pool.get().await.map_err(failed)?;
        let row = client.query_opt(&self.load, &[&name]).await.map_err(failed)?;
        Ok(row.map(|row| {
            let version: i32 = row.get(0);
            let next: i64 = row.get(1);
            Saved { version: version as u32, next_position: next as u64, state: row.get(2) }
        }))
    }

    async fn save(&self, name: &str, saved: &Saved) -> Result<(), ProjectionError> {
        let client = self.pool.get().await.map_err(failed)?;
        let version = i32::try_from(saved.version).map_err(failed)?;
        let next = i64::try_from(saved.next_position).map_err(failed)?;
        client.execute(&self.save, &[&name, &version, &next, &saved.state]).await.map_err(failed)?;
        Ok(())
    }
}
