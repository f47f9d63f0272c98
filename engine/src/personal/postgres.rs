//! The key table of the PostgreSQL store: `data_keys` in the store's schema, shared by every server of
//! that database (an erasure on one server is seen by all at their next read: nothing is cached).

use super::keys::{KeyRecord, KeyState, KeyTable, STATE_KEY_PREFIX};
use super::{DataKey, KeyId, DATA_KEY_BYTES};
use crate::error::StoreError;
use crate::postgres_store::{pg_error, PostgresStore};
use async_trait::async_trait;
use deadpool_postgres::Pool;
use std::collections::HashMap;

/// `data_keys (key_id, customer_id, key)` beside the log; `key` NULL once destroyed. A destroyed key is
/// overwritten by an UPDATE and the table rewritten (`VACUUM FULL`), so no dead row version keeps it;
/// PostgreSQL's write-ahead log keeps the row it was inserted with until the log is recycled (SAFETY.md).
pub struct PostgresKeyTable {
    pool: Pool,
    schema: String,
}

fn pool_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("key table: {e}"))
}

fn state_of(key: Option<Vec<u8>>) -> Result<KeyState, StoreError> {
    match key {
        None => Ok(KeyState::Erased),
        Some(bytes) => {
            let bytes: [u8; DATA_KEY_BYTES] = bytes.try_into().map_err(|_| StoreError::Corruption {
                position: redress_schemas::Position(u64::MAX),
                reason: "key table: a key is not 32 bytes".into(),
            })?;
            Ok(KeyState::Live(DataKey::from_bytes(bytes)))
        }
    }
}

impl PostgresKeyTable {
    /// The key table of `store`'s schema, created if it is not there yet.
    pub async fn open(store: &PostgresStore) -> Result<PostgresKeyTable, StoreError> {
        let table = PostgresKeyTable { pool: store.pool().clone(), schema: store.schema().to_owned() };
        let client = table.pool.get().await.map_err(pool_error)?;
        let s = &table.schema;
        let create =
            format!("CREATE TABLE IF NOT EXISTS {s}.data_keys (key_id text PRIMARY KEY, customer_id text, key bytea)");
        // Two servers starting at once can both try to create it; the loser's unique violation on the
        // catalogue means the table is there: one more try finds it.
        if client.batch_execute(&create).await.is_err() {
            client.batch_execute(&create).await.map_err(pg_error)?;
        }
        Ok(table)
    }
}

#[async_trait]
impl KeyTable for PostgresKeyTable {
    async fn key(&self, key_id: &KeyId) -> Result<KeyState, StoreError> {
        let mut states = self.keys(std::slice::from_ref(key_id)).await?;
        Ok(states.remove(key_id).unwrap_or(KeyState::Absent))
    }

    async fn keys(&self, key_ids: &[KeyId]) -> Result<HashMap<KeyId, KeyState>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let ids: Vec<&str> = key_ids.iter().map(KeyId::as_str).collect();
        let rows = client
            .query(&format!("SELECT key_id, key FROM {}.data_keys WHERE key_id = ANY($1)", self.schema), &[&ids])
            .await
            .map_err(pg_error)?;
        let mut states: HashMap<KeyId, KeyState> = key_ids.iter().map(|id| (id.clone(), KeyState::Absent)).collect();
        for row in rows {
            let key_id: String = row.get(0);
            if let Some(key_id) = KeyId::parse(&key_id) {
                states.insert(key_id, state_of(row.get(1))?);
            }
        }
        Ok(states)
    }

    async fn key_or_create(&self, customer_id: &str) -> Result<DataKey, StoreError> {
        let key_id = KeyId::of_customer(customer_id);
        let client = self.pool.get().await.map_err(pool_error)?;
        let s = &self.schema;
        let fresh = DataKey::random();
        // Committed before the append that uses it; a racing server's insert wins and both use that key.
        client
            .execute(
                &format!("INSERT INTO {s}.data_keys (key_id, customer_id, key) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING"),
                &[&key_id.as_str(), &customer_id, &fresh.bytes().as_slice()],
            )
            .await
            .map_err(pg_error)?;
        let row = client
            .query_one(&format!("SELECT key FROM {s}.data_keys WHERE key_id = $1"), &[&key_id.as_str()])
            .await
            .map_err(pg_error)?;
        match state_of(row.get(0))? {
            KeyState::Live(key) => Ok(key),
            KeyState::Erased | KeyState::Absent => {
                Err(StoreError::CustomerErased { customer_id: customer_id.to_owned() })
            }
        }
    }

    async fn destroy(&self, key_id: &KeyId) -> Result<bool, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let s = &self.schema;
        let destroyed = client
            .execute(
                &format!(
                    "UPDATE {s}.data_keys SET key = NULL, customer_id = NULL WHERE key_id = $1 AND key IS NOT NULL"
                ),
                &[&key_id.as_str()],
            )
            .await
            .map_err(pg_error)?;
        if destroyed > 0 {
            // The UPDATE leaves the old row version on its page until a vacuum; rewrite the (small) table
            // now so the destroyed key is not left in the table's files.
            client.batch_execute(&format!("VACUUM (FULL) {s}.data_keys")).await.map_err(pg_error)?;
        }
        Ok(destroyed > 0)
    }

    async fn renew(&self, name: &str) -> Result<DataKey, StoreError> {
        let key_id = KeyId::of_customer(name);
        let client = self.pool.get().await.map_err(pool_error)?;
        let key = DataKey::random();
        client
            .execute(
                &format!(
                    "INSERT INTO {}.data_keys (key_id, customer_id, key) VALUES ($1, $2, $3)
                     ON CONFLICT (key_id) DO UPDATE SET key = EXCLUDED.key, customer_id = EXCLUDED.customer_id",
                    self.schema
                ),
                &[&key_id.as_str(), &name, &key.bytes().as_slice()],
            )
            .await
            .map_err(pg_error)?;
        Ok(key)
    }

    async fn export(&self) -> Result<Vec<KeyRecord>, StoreError> {
        use base64::Engine as _;
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query(
                &format!(
                    "SELECT key_id, customer_id, key FROM {}.data_keys
                     WHERE customer_id IS NULL OR left(customer_id, {}) <> $1 ORDER BY key_id",
                    self.schema,
                    STATE_KEY_PREFIX.len()
                ),
                &[&STATE_KEY_PREFIX],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows
            .into_iter()
            .map(|row| KeyRecord {
                key_id: row.get(0),
                customer_id: row.get(1),
                key: row
                    .get::<_, Option<Vec<u8>>>(2)
                    .map(|k| base64::engine::general_purpose::STANDARD_NO_PAD.encode(k)),
            })
            .collect())
    }

    async fn import(&self, records: Vec<KeyRecord>) -> Result<usize, StoreError> {
        let checked = super::keys::checked_records(records)?;
        let client = self.pool.get().await.map_err(pool_error)?;
        let mut added = 0;
        for (key_id, customer_id, key) in checked {
            added += client
                .execute(
                    &format!(
                        "INSERT INTO {}.data_keys (key_id, customer_id, key) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING",
                        self.schema
                    ),
                    &[&key_id.as_str(), &customer_id, &key.bytes().as_slice()],
                )
                .await
                .map_err(pg_error)? as usize;
        }
        Ok(added)
    }
}
