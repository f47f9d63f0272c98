//! Subscriptions in a sled database of their own (`<data-dir>/subscriptions`), one tree, one
//! `apply_batch` per change (atomic) followed by a flush, so an acknowledged ack survives a SIGKILL.
//!
//! ```text
//! d name                  definition (JSON, with the webhook secret: the data directory is owner-only)
//! r name                  read_next u64 | parked_count u64
//! e name 0x00 position    a pending event: attempts u32 [| lease id u64 | lease until ms i64]
//! p name 0x00 position    a parked event: attempts u32 | reason u8 | parked at ms i64
//! a name 0x00 alert id    a deadline alert sent (empty value)
//! ```
//! Names never hold 0x00 (`check_name`), so a name's keys never mix with another's. A process-wide
//! mutex serialises changes: sled's lock makes this process the directory's only user.

use crate::definition::Definition;
use crate::error::{storage, SubscriptionError};
use crate::ledger::{diff, Change, Entry, Lease, Ledger, Outcome, ParkReason};
use crate::limits::SUBSCRIPTIONS_MAX;
use crate::store::{bounds, not_found, Ledgers, ParkedEvent, Stored};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

/// [`Ledgers`] on sled.
pub struct SledLedgers {
    db: sled::Db,
    tree: sled::Tree,
    /// Loaded subscriptions: sled holds the truth, this saves re-reading every pending entry per change.
    cache: Mutex<HashMap<String, Stored>>,
}

fn key(kind: u8, name: &str, position: Option<u64>) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 10);
    key.push(kind);
    key.extend_from_slice(name.as_bytes());
    if let Some(position) = position {
        key.push(0);
        key.extend_from_slice(&position.to_be_bytes());
    }
    key
}

fn prefix(kind: u8, name: &str) -> Vec<u8> {
    let mut key = key(kind, name, None);
    key.push(0);
    key
}

fn alert_key(name: &str, id: &str) -> Vec<u8> {
    let mut key = prefix(b'a', name);
    key.extend_from_slice(id.as_bytes());
    key
}

fn position_of(key: &[u8]) -> Result<u64, SubscriptionError> {
    let tail: [u8; 8] = key[key.len().saturating_sub(8)..].try_into().map_err(|_| storage("a short key"))?;
    Ok(u64::from_be_bytes(tail))
}

fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut bytes = entry.attempts.to_be_bytes().to_vec();
    if let Some(lease) = entry.lease {
        bytes.extend_from_slice(&lease.id.to_be_bytes());
        bytes.extend_from_slice(&lease.until_ms.to_be_bytes());
    }
    bytes
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, SubscriptionError> {
    let word = |range: std::ops::Range<usize>| bytes.get(range).ok_or_else(|| storage("a short pending entry"));
    let attempts = u32::from_be_bytes(word(0..4)?.try_into().map_err(storage)?);
    let lease = if bytes.len() == 20 {
        Some(Lease {
            id: u64::from_be_bytes(word(4..12)?.try_into().map_err(storage)?),
            until_ms: i64::from_be_bytes(word(12..20)?.try_into().map_err(storage)?),
        })
    } else {
        None
    };
    Ok(Entry { attempts, lease })
}

fn encode_parked(attempts: u32, reason: ParkReason, at_ms: i64) -> Vec<u8> {
    let mut bytes = attempts.to_be_bytes().to_vec();
    bytes.push(match reason {
        ParkReason::MaxAttempts => 0,
        ParkReason::Nacked => 1,
    });
    bytes.extend_from_slice(&at_ms.to_be_bytes());
    bytes
}

fn decode_parked(position: u64, bytes: &[u8]) -> Result<ParkedEvent, SubscriptionError> {
    if bytes.len() != 13 {
        return Err(storage("a parked entry is not 13 bytes"));
    }
    Ok(ParkedEvent {
        position,
        attempts: u32::from_be_bytes(bytes[..4].try_into().map_err(storage)?),
        reason: if bytes[4] == 0 { ParkReason::MaxAttempts } else { ParkReason::Nacked },
        parked_at_ms: i64::from_be_bytes(bytes[5..].try_into().map_err(storage)?),
    })
}

fn encode_meta(ledger: &Ledger) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&ledger.read_next.to_be_bytes());
    bytes[8..].copy_from_slice(&ledger.parked_count.to_be_bytes());
    bytes
}

impl SledLedgers {
    /// Opens (or creates) the database in `path`.
    pub fn open(path: &Path) -> Result<SledLedgers, SubscriptionError> {
        let started = std::time::Instant::now();
        let db = loop {
            match sled::Config::new().path(path).flush_every_ms(None).cache_capacity(16 * 1024 * 1024).open() {
                Ok(db) => break db,
                // A database dropped a moment ago may still hold sled's lock from its I/O threads.
                Err(e) if e.to_string().contains("could not acquire lock") && started.elapsed().as_secs() < 2 => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => return Err(storage(e)),
            }
        };
        let tree = db.open_tree("subscriptions").map_err(storage)?;
        Ok(SledLedgers { db, tree, cache: Mutex::new(HashMap::new()) })
    }

    fn load(&self, name: &str) -> Result<Option<Stored>, SubscriptionError> {
        let Some(definition) = self.tree.get(key(b'd', name, None)).map_err(storage)? else { return Ok(None) };
        let value: serde_json::Value = serde_json::from_slice(&definition).map_err(storage)?;
        let definition = Definition::from_stored(&value)?;
        let meta = self.tree.get(key(b'r', name, None)).map_err(storage)?.ok_or_else(|| storage("no ledger"))?;
        let meta: [u8; 16] = meta.as_ref().try_into().map_err(|_| storage("a ledger head is not 16 bytes"))?;
        let mut ledger = Ledger {
            read_next: u64::from_be_bytes(meta[..8].try_into().map_err(storage)?),
            parked_count: u64::from_be_bytes(meta[8..].try_into().map_err(storage)?),
            ..Ledger::default()
        };
        for item in self.tree.scan_prefix(prefix(b'e', name)) {
            let (k, v) = item.map_err(storage)?;
            ledger.pending.insert(position_of(&k)?, decode_entry(&v)?);
        }
        Ok(Some(Stored { definition, ledger }))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stored>> {
        // A panic while holding the lock leaves the cache as it was before the change (it is written
        // back only after sled accepted the batch), so the data is still good.
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the subscription's ledger under the lock, writes what changed in one batch, then
    /// flushes (outside the lock: one flush covers every change before it).
    async fn with_ledger(
        &self,
        name: &str,
        now_ms: i64,
        f: impl FnOnce(&mut Stored, &sled::Tree, &mut sled::Batch) -> Result<Outcome, SubscriptionError>,
    ) -> Result<Outcome, SubscriptionError> {
        let outcome = {
            let mut cache = self.cache();
            if !cache.contains_key(name) {
                let stored = self.load(name)?.ok_or_else(|| not_found(name))?;
                cache.insert(name.to_owned(), stored);
            }
            let stored = cache.get_mut(name).ok_or_else(|| not_found(name))?;
            let before = stored.ledger.clone();
            let mut next = stored.clone();
            let mut batch = sled::Batch::default();
            let outcome = f(&mut next, &self.tree, &mut batch)?;
            let (upserts, removed) = diff(&before, &next.ledger);
            for (position, entry) in upserts {
                batch.insert(key(b'e', name, Some(position)), encode_entry(&entry));
            }
            for position in removed {
                batch.remove(key(b'e', name, Some(position)));
            }
            for parked in &outcome.parked {
                batch.insert(
                    key(b'p', name, Some(parked.position)),
                    encode_parked(parked.attempts, parked.reason, now_ms),
                );
            }
            batch.insert(key(b'r', name, None), &encode_meta(&next.ledger)[..]);
            self.tree.apply_batch(batch).map_err(storage)?;
            *stored = next;
            outcome
        };
        self.db.flush_async().await.map_err(storage)?;
        Ok(outcome)
    }
}

#[async_trait]
impl Ledgers for SledLedgers {
    async fn put(&self, name: &str, definition: &Definition, start: u64) -> Result<bool, SubscriptionError> {
        let created = {
            let mut cache = self.cache();
            let existing = match cache.get(name) {
                Some(stored) => Some(stored.clone()),
                None => self.load(name)?,
            };
            let created = existing.is_none();
            let stored_json = serde_json::to_vec(&definition.stored_json()).map_err(storage)?;
            let mut batch = sled::Batch::default();
            batch.insert(key(b'd', name, None), stored_json);
            let stored = match existing {
                Some(stored) => Stored { definition: definition.clone(), ledger: stored.ledger },
                None => {
                    let count = self.tree.scan_prefix([b'd']).count();
                    if count >= SUBSCRIPTIONS_MAX {
                        return Err(SubscriptionError::LimitExceeded {
                            limit: "subscriptions_max",
                            max: SUBSCRIPTIONS_MAX,
                            actual: count + 1,
                        });
                    }
                    let ledger = Ledger::starting_at(start);
                    batch.insert(key(b'r', name, None), &encode_meta(&ledger)[..]);
                    Stored { definition: definition.clone(), ledger }
                }
            };
            self.tree.apply_batch(batch).map_err(storage)?;
            cache.insert(name.to_owned(), stored);
            created
        };
        self.db.flush_async().await.map_err(storage)?;
        Ok(created)
    }

    async fn get(&self, name: &str) -> Result<Option<Stored>, SubscriptionError> {
        if let Some(stored) = self.cache().get(name) {
            return Ok(Some(stored.clone()));
        }
        self.load(name)
    }

    async fn names(&self) -> Result<Vec<String>, SubscriptionError> {
        self.tree
            .scan_prefix([b'd'])
            .keys()
            .map(|k| k.map_err(storage).map(|k| String::from_utf8_lossy(&k[1..]).into_owned()))
            .collect()
    }

    async fn delete(&self, name: &str) -> Result<bool, SubscriptionError> {
        let existed = {
            let mut cache = self.cache();
            cache.remove(name);
            let existed = self.tree.get(key(b'd', name, None)).map_err(storage)?.is_some();
            let mut batch = sled::Batch::default();
            batch.remove(key(b'd', name, None));
            batch.remove(key(b'r', name, None));
            for kind in [b'e', b'p', b'a'] {
                for k in self.tree.scan_prefix(prefix(kind, name)).keys() {
                    batch.remove(k.map_err(storage)?);
                }
            }
            self.tree.apply_batch(batch).map_err(storage)?;
            existed
        };
        self.db.flush_async().await.map_err(storage)?;
        Ok(existed)
    }

    async fn change(&self, name: &str, change: Change, now_ms: i64) -> Result<Outcome, SubscriptionError> {
        self.with_ledger(name, now_ms, |stored, _, _| {
            let bounds = bounds(&stored.definition);
            Ok(stored.ledger.apply(change, bounds))
        })
        .await
    }

    async fn retry_parked(&self, name: &str, limit: usize) -> Result<Outcome, SubscriptionError> {
        self.with_ledger(name, 0, |stored, tree, batch| {
            let mut positions = Vec::new();
            for k in tree.scan_prefix(prefix(b'p', name)).keys().take(limit) {
                let k = k.map_err(storage)?;
                positions.push(position_of(&k)?);
                batch.remove(k);
            }
            let bounds = bounds(&stored.definition);
            Ok(stored.ledger.apply(Change::Retry { positions }, bounds))
        })
        .await
    }

    async fn unsent_alerts(&self, name: &str, ids: &[String]) -> Result<Vec<String>, SubscriptionError> {
        let mut unsent = Vec::new();
        for id in ids {
            if !self.tree.contains_key(alert_key(name, id)).map_err(storage)? {
                unsent.push(id.clone());
            }
        }
        Ok(unsent)
    }

    async fn record_alerts(&self, name: &str, ids: &[String]) -> Result<(), SubscriptionError> {
        if self.tree.get(key(b'd', name, None)).map_err(storage)?.is_none() {
            return Err(not_found(name));
        }
        let mut batch = sled::Batch::default();
        for id in ids {
            batch.insert(alert_key(name, id), &[][..]);
        }
        self.tree.apply_batch(batch).map_err(storage)?;
        self.db.flush_async().await.map_err(storage)?;
        Ok(())
    }

    async fn forget_alerts(&self, name: &str, current: &HashSet<String>) -> Result<usize, SubscriptionError> {
        let start = prefix(b'a', name);
        let mut batch = sled::Batch::default();
        let mut forgotten = 0;
        for k in self.tree.scan_prefix(&start).keys() {
            let k = k.map_err(storage)?;
            let id = std::str::from_utf8(&k[start.len()..]).map_err(storage)?;
            if !current.contains(id) {
                batch.remove(k);
                forgotten += 1;
            }
        }
        if forgotten > 0 {
            self.tree.apply_batch(batch).map_err(storage)?;
            self.db.flush_async().await.map_err(storage)?;
        }
        Ok(forgotten)
    }

    async fn parked(
        &self,
        name: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ParkedEvent>, SubscriptionError> {
        if self.tree.get(key(b'd', name, None)).map_err(storage)?.is_none() {
            return Err(not_found(name));
        }
        let from = match after {
            Some(after) => key(b'p', name, Some(after.saturating_add(1))),
            None => prefix(b'p', name),
        };
        let end = key(b'p', name, Some(u64::MAX));
        let mut out = Vec::new();
        for item in self.tree.range(from..=end).take(limit) {
            let (k, v) = item.map_err(storage)?;
            out.push(decode_parked(position_of(&k)?, &v)?);
        }
        Ok(out)
    }
}
