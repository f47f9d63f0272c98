//! Signed checkpoints in `audit_checkpoints`: one sequence for every server of the store, in the
//! store's own database, so an auditor asking any server sees the same history of signed heads.

use super::{pg_error, to_u64, PostgresStore};
use crate::checkpoint::{Checkpoint, CHECKPOINTS_KEPT_MAX};
use crate::StoreError;
use redress_schemas::Position;

fn decode(bytes: &[u8]) -> Result<Checkpoint, StoreError> {
    Checkpoint::decode(bytes)
        .map_err(|e| StoreError::Corruption { position: Position(u64::MAX), reason: format!("audit_checkpoints: {e}") })
}

impl PostgresStore {
    /// See [`crate::EventStore::save_checkpoint`]. The table is locked for the transaction (reads go
    /// on), so two servers saving at once take turns: the sequence stays gapless and its positions rise.
    pub(crate) async fn save_checkpoint_row(&self, checkpoint: &Checkpoint) -> Result<Checkpoint, StoreError> {
        let schema = &self.schema;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.batch_execute(&format!("LOCK TABLE {schema}.audit_checkpoints IN EXCLUSIVE MODE"))
            .await
            .map_err(pg_error)?;
        let latest = tx
            .query_opt(
                &format!("SELECT sequence, checkpoint FROM {schema}.audit_checkpoints ORDER BY sequence DESC LIMIT 1"),
                &[],
            )
            .await
            .map_err(pg_error)?;
        let mut sequence = 0u64;
        if let Some(row) = latest {
            let stored = decode(row.get(1))?;
            if stored.position >= checkpoint.position {
                return Ok(stored);
            }
            sequence = to_u64(row.get(0), "audit_checkpoints.sequence")? + 1;
        }
        let (sequence_db, position_db) = (sequence as i64, checkpoint.position.0 as i64);
        tx.execute(
            &format!("INSERT INTO {schema}.audit_checkpoints (sequence, position, checkpoint) VALUES ($1, $2, $3)"),
            &[&sequence_db, &position_db, &checkpoint.encode()],
        )
        .await
        .map_err(pg_error)?;
        if let Some(oldest_kept) = sequence.checked_sub(CHECKPOINTS_KEPT_MAX - 1) {
            tx.execute(
                &format!("DELETE FROM {schema}.audit_checkpoints WHERE sequence < $1"),
                &[&(oldest_kept as i64)],
            )
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(checkpoint.clone())
    }

    /// See [`crate::EventStore::latest_checkpoint`].
    pub(crate) async fn latest_checkpoint_row(&self) -> Result<Option<Checkpoint>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT checkpoint FROM {}.audit_checkpoints ORDER BY sequence DESC LIMIT 1", self.schema);
        let row = client.query_opt(&sql, &[]).await.map_err(pg_error)?;
        row.map(|row| decode(row.get(0))).transpose()
    }
}
