//! Subscriptions in the event store's PostgreSQL schema, beside the fold checkpoints:
//!
//! ```text
//! subscriptions(name PK, definition JSON text, read_next, parked_count)        a row per subscription
//! subscription_pending(name, position, attempts, lease_id, lease_until_ms) a row per owed event
//! subscription_parked(name, position, attempts, reason, parked_at_ms)      a row per parked event
//! ```
//! Every change runs in one transaction that first takes the subscription's row lock
//! (`SELECT … FOR UPDATE`): servers sharing the database take turns on one subscription, so no two
//! of them can lease the same event, and each change is all or nothing.
//!
//! The tables are created here (`CREATE … IF NOT EXISTS` under an advisory lock), not as a migration
//! of the store: this crate owns them, and the store's migration list stays the store's.

use crate::definition::Definition;
use crate::error::{storage, SubscriptionError};
use crate::ledger::{diff, Change, Entry, Lease, Ledger, Outcome, ParkReason};
use crate::limits::SUBSCRIPTIONS_MAX;
use crate::store::{bounds, not_found, Ledgers, ParkedEvent, Stored};
use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use redress_engine::PostgresStore;
use std::collections::HashSet;

/// [`Ledgers`] on the PostgreSQL schema of a [`PostgresStore`], shared by every server on it.
pub struct PostgresLedgers {
    pool: Pool,
    schema: String,
}

impl PostgresLedgers {
    /// The subscriptions of `store`'s schema; creates their tables the first time.
    pub async fn open(store: &PostgresStore) -> Result<PostgresLedgers, SubscriptionError> {
        let ledgers = PostgresLedgers { pool: store.pool().clone(), schema: store.schema().to_owned() };
        let mut client = ledgers.pool.get().await.map_err(storage)?;
        let s = &ledgers.schema;
        let tx = client.transaction().await.map_err(storage)?;
        // Servers starting together would race on CREATE TABLE IF NOT EXISTS (a duplicate pg_type row).
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('redress_subscriptions.' || $1::text, 0))", &[s])
            .await
            .map_err(storage)?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {s}.subscriptions (
                 name         TEXT PRIMARY KEY,
                 definition   TEXT NOT NULL,
                 read_next    BIGINT NOT NULL CHECK (read_next >= 0),
                 parked_count BIGINT NOT NULL CHECK (parked_count >= 0)
             );
             CREATE TABLE IF NOT EXISTS {s}.subscription_pending (
                 name           TEXT NOT NULL REFERENCES {s}.subscriptions (name) ON DELETE CASCADE,
                 position       BIGINT NOT NULL,
                 attempts       INTEGER NOT NULL,
                 lease_id       BIGINT,
                 lease_until_ms BIGINT,
                 PRIMARY KEY (name, position)
             );
             CREATE TABLE IF NOT EXISTS {s}.subscription_parked (
                 name         TEXT NOT NULL REFERENCES {s}.subscriptions (name) ON DELETE CASCADE,
                 position     BIGINT NOT NULL,
                 attempts     INTEGER NOT NULL,
                 reason       TEXT NOT NULL,
                 parked_at_ms BIGINT NOT NULL,
                 PRIMARY KEY (name, position)
             );
             CREATE TABLE IF NOT EXISTS {s}.subscription_alerts (
                 name     TEXT NOT NULL REFERENCES {s}.subscriptions (name) ON DELETE CASCADE,
                 alert_id TEXT NOT NULL,
                 PRIMARY KEY (name, alert_id)
             );"
        ))
        .await
        .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        drop(client);
        Ok(ledgers)
    }

    /// Locks the subscription's row and reads it whole (`None`: no such subscription).
    async fn lock(&self, tx: &Transaction<'_>, name: &str) -> Result<Option<Stored>, SubscriptionError> {
        let s = &self.schema;
        let Some(row) = tx
            .query_opt(
                &format!(
                    "SELECT definition, read_next, parked_count FROM {s}.subscriptions WHERE name = $1 FOR UPDATE"
                ),
                &[&name],
            )
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let definition: serde_json::Value = serde_json::from_str(row.get(0)).map_err(storage)?;
        let definition = Definition::from_stored(&definition)?;
        let mut ledger =
            Ledger { read_next: to_u64(row.get(1))?, parked_count: to_u64(row.get(2))?, ..Ledger::default() };
        let rows = tx
            .query(
                &format!(
                    "SELECT position, attempts, lease_id, lease_until_ms FROM {s}.subscription_pending WHERE name = $1"
                ),
                &[&name],
            )
            .await
            .map_err(storage)?;
        for row in rows {
            let lease = match (row.get::<_, Option<i64>>(2), row.get::<_, Option<i64>>(3)) {
                (Some(id), Some(until_ms)) => Some(Lease { id: id as u64, until_ms }),
                _ => None,
            };
            ledger.pending.insert(to_u64(row.get(0))?, Entry { attempts: row.get::<_, i32>(1) as u32, lease });
        }
        Ok(Some(Stored { definition, ledger }))
    }

    /// Writes what changed from `before` to `after`, and the events `outcome` parked.
    async fn write(
        &self,
        tx: &Transaction<'_>,
        name: &str,
        before: &Ledger,
        after: &Ledger,
        outcome: &Outcome,
        now_ms: i64,
    ) -> Result<(), SubscriptionError> {
        let s = &self.schema;
        let (upserts, removed) = diff(before, after);
        if !removed.is_empty() {
            let removed: Vec<i64> = removed.iter().map(|p| *p as i64).collect();
            tx.execute(
                &format!("DELETE FROM {s}.subscription_pending WHERE name = $1 AND position = ANY($2)"),
                &[&name, &removed],
            )
            .await
            .map_err(storage)?;
        }
        if !upserts.is_empty() {
            let positions: Vec<i64> = upserts.iter().map(|(p, _)| *p as i64).collect();
            let attempts: Vec<i32> = upserts.iter().map(|(_, e)| e.attempts as i32).collect();
            let ids: Vec<Option<i64>> = upserts.iter().map(|(_, e)| e.lease.map(|l| l.id as i64)).collect();
            let untils: Vec<Option<i64>> = upserts.iter().map(|(_, e)| e.lease.map(|l| l.until_ms)).collect();
            tx.execute(
                &format!(
                    "INSERT INTO {s}.subscription_pending (name, position, attempts, lease_id, lease_until_ms)
                     SELECT $1, p, a, i, u FROM UNNEST($2::bigint[], $3::int[], $4::bigint[], $5::bigint[]) AS t(p, a, i, u)
                     ON CONFLICT (name, position) DO UPDATE SET attempts = EXCLUDED.attempts,
                         lease_id = EXCLUDED.lease_id, lease_until_ms = EXCLUDED.lease_until_ms"
                ),
                &[&name, &positions, &attempts, &ids, &untils],
            )
            .await
            .map_err(storage)?;
        }
        if !outcome.parked.is_empty() {
            let positions: Vec<i64> = outcome.parked.iter().map(|p| p.position as i64).collect();
            let attempts: Vec<i32> = outcome.parked.iter().map(|p| p.attempts as i32).collect();
            let reasons: Vec<&str> = outcome.parked.iter().map(|p| p.reason.as_str()).collect();
            tx.execute(
                &format!(
                    "INSERT INTO {s}.subscription_parked (name, position, attempts, reason, parked_at_ms)
                     SELECT $1, p, a, r, $5 FROM UNNEST($2::bigint[], $3::int[], $4::text[]) AS t(p, a, r)
                     ON CONFLICT (name, position) DO UPDATE SET attempts = EXCLUDED.attempts,
                         reason = EXCLUDED.reason, parked_at_ms = EXCLUDED.parked_at_ms"
                ),
                &[&name, &positions, &attempts, &reasons, &now_ms],
            )
            .await
            .map_err(storage)?;
        }
        if after.read_next != before.read_next || after.parked_count != before.parked_count {
            tx.execute(
                &format!("UPDATE {s}.subscriptions SET read_next = $2, parked_count = $3 WHERE name = $1"),
                &[&name, &(after.read_next as i64), &(after.parked_count as i64)],
            )
            .await
            .map_err(storage)?;
        }
        Ok(())
    }
}

fn to_u64(value: i64) -> Result<u64, SubscriptionError> {
    u64::try_from(value).map_err(|_| storage(format!("a negative position {value}")))
}

#[async_trait]
impl Ledgers for PostgresLedgers {
    async fn put(&self, name: &str, definition: &Definition, start: u64) -> Result<bool, SubscriptionError> {
        let mut client = self.pool.get().await.map_err(storage)?;
        let s = &self.schema;
        let tx = client.transaction().await.map_err(storage)?;
        // One creator at a time, so two servers cannot both pass the count check.
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('redress_subscriptions.' || $1::text, 1))", &[s])
            .await
            .map_err(storage)?;
        let definition_json = definition.stored_json().to_string();
        let updated = tx
            .execute(
                &format!("UPDATE {s}.subscriptions SET definition = $2 WHERE name = $1"),
                &[&name, &definition_json],
            )
            .await
            .map_err(storage)?;
        if updated == 0 {
            let count: i64 =
                tx.query_one(&format!("SELECT count(*) FROM {s}.subscriptions"), &[]).await.map_err(storage)?.get(0);
            if count as usize >= SUBSCRIPTIONS_MAX {
                return Err(SubscriptionError::LimitExceeded {
                    limit: "subscriptions_max",
                    max: SUBSCRIPTIONS_MAX,
                    actual: count as usize + 1,
                });
            }
            tx.execute(
                &format!(
                    "INSERT INTO {s}.subscriptions (name, definition, read_next, parked_count) VALUES ($1, $2, $3, 0)"
                ),
                &[&name, &definition_json, &(start as i64)],
            )
            .await
            .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(updated == 0)
    }

    async fn get(&self, name: &str) -> Result<Option<Stored>, SubscriptionError> {
        let mut client = self.pool.get().await.map_err(storage)?;
        let tx = client.transaction().await.map_err(storage)?;
        // A plain read would do; the lock gives a consistent row and pending set in one step.
        let stored = self.lock(&tx, name).await?;
        tx.commit().await.map_err(storage)?;
        Ok(stored)
    }

    async fn names(&self) -> Result<Vec<String>, SubscriptionError> {
        let client = self.pool.get().await.map_err(storage)?;
        let s = &self.schema;
        let rows = client
            .query(&format!("SELECT name FROM {s}.subscriptions ORDER BY name LIMIT {SUBSCRIPTIONS_MAX}"), &[])
            .await
            .map_err(storage)?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    async fn delete(&self, name: &str) -> Result<bool, SubscriptionError> {
        let client = self.pool.get().await.map_err(storage)?;
        let s = &self.schema;
        let deleted = client
            .execute(&format!("DELETE FROM {s}.subscriptions WHERE name = $1"), &[&name])
            .await
            .map_err(storage)?;
        Ok(deleted > 0)
    }

    async fn change(&self, name: &str, change: Change, now_ms: i64) -> Result<Outcome, SubscriptionError> {
        let mut client = self.pool.get().await.map_err(storage)?;
        let tx = client.transaction().await.map_err(storage)?;
        let mut stored = self.lock(&tx, name).await?.ok_or_else(|| not_found(name))?;
        let before = stored.ledger.clone();
        let outcome = stored.ledger.apply(change, bounds(&stored.definition));
        self.write(&tx, name, &before, &stored.ledger, &outcome, now_ms).await?;
        tx.commit().await.map_err(storage)?;
        Ok(outcome)
    }

    async fn retry_parked(&self, name: &str, limit: usize) -> Result<Outcome, SubscriptionError> {
        let mut client = self.pool.get().await.map_err(storage)?;
        let s = &self.schema;
        let tx = client.transaction().await.map_err(storage)?;
        let mut stored = self.lock(&tx, name).await?.ok_or_else(|| not_found(name))?;
        let rows = tx
            .query(
                &format!(
                    "DELETE FROM {s}.subscription_parked WHERE name = $1 AND position IN (
                         SELECT position FROM {s}.subscription_parked WHERE name = $1 ORDER BY position LIMIT $2)
                     RETURNING position"
                ),
                &[&name, &(limit as i64)],
            )
            .await
            .map_err(storage)?;
        let mut positions = rows.into_iter().map(|row| to_u64(row.get(0))).collect::<Result<Vec<_>, _>>()?;
        positions.sort_unstable();
        let before = stored.ledger.clone();
        let outcome = stored.ledger.apply(Change::Retry { positions }, bounds(&stored.definition));
        self.write(&tx, name, &before, &stored.ledger, &outcome, 0).await?;
        tx.commit().await.map_err(storage)?;
        Ok(outcome)
    }

    async fn unsent_alerts(&self, name: &str, ids: &[String]) -> Result<Vec<String>, SubscriptionError> {
        let client = self.pool.get().await.map_err(storage)?;
        let s = &self.schema;
        let sent: HashSet<String> = client
            .query(
                &format!("SELECT alert_id FROM {s}.subscription_alerts WHERE name = $1 AND alert_id = ANY($2)"),
                &[&name, &ids],
            )
            .await
            .map_err(storage)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        Ok(ids.iter().filter(|id| !sent.contains(*id)).cloned().collect())
    }

    async fn record_alerts(&self, name: &str, ids: &[String]) -> Result<(), SubscriptionError> {
        let client = self.pool.get().await.map_err(storage)?;
        let s = &self.schema;
        let inserted = client
            .execute(
                &format!(
                    "INSERT INTO {s}.subscription_alerts (name, alert_id)
                     SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING"
                ),
                &[&name, &ids],
            )
            .await;
        match inserted {
            Ok(_) => Ok(()),
            // The subscription was deleted meanwhile (the foreign key).
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) => Err(not_found(name)),
            Err(e) => Err(storage(e)),
        }
    }

    async fn forget_alerts(&self, name: &str, current: &HashSet<String>) -> Result<usize, SubscriptionError> {
        let client = self.pool.get().await.map_err(storage)?;
        let s = &self.schema;
        let keep: Vec<&String> = current.iter().collect();
        let forgotten = client
            .execute(
                &format!("DELETE FROM {s}.subscription_alerts WHERE name = $1 AND NOT (alert_id = ANY($2))"),
                &[&name, &keep],
            )
            .await
            .map_err(storage)?;
        Ok(forgotten as usize)
    }

    async fn parked(
        &self,
        name: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ParkedEvent>, SubscriptionError> {
        let client = self.pool.get().await.map_err(storage)?;
        let s = &self.schema;
        let exists = client
            .query_opt(&format!("SELECT 1 FROM {s}.subscriptions WHERE name = $1"), &[&name])
            .await
            .map_err(storage)?;
        if exists.is_none() {
            return Err(not_found(name));
        }
        let after = after.map_or(-1, |a| a as i64);
        let rows = client
            .query(
                &format!(
                    "SELECT position, attempts, reason, parked_at_ms FROM {s}.subscription_parked
                     WHERE name = $1 AND position > $2 ORDER BY position LIMIT $3"
                ),
                &[&name, &after, &(limit as i64)],
            )
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|row| {
                Ok(ParkedEvent {
                    position: to_u64(row.get(0))?,
                    attempts: row.get::<_, i32>(1) as u32,
                    reason: ParkReason::from_name(row.get(2)).unwrap_or(ParkReason::MaxAttempts),
                    parked_at_ms: row.get(3),
                })
            })
            .collect()
    }
}
