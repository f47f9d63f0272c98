//! The key table: one data key per customer, beside the log, that really forgets.

use super::{DataKey, KeyId, DATA_KEY_BYTES};
use crate::error::StoreError;
use async_trait::async_trait;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Keys kept in memory by a key table; beyond it the cache starts again empty (a miss reads one file).
pub const KEY_CACHE_ENTRIES_MAX: usize = 65_536;

/// The prefix of the names of keys that seal read-model state, not a customer's data (`$` cannot start
/// a customer id: it would make no stream name). `export --keys` leaves them out: they seal nothing an
/// export holds.
pub const STATE_KEY_PREFIX: &str = "$state/";

/// What the key table knows of one key id.
#[derive(Debug, Clone)]
pub enum KeyState {
    /// The customer's key.
    Live(DataKey),
    /// The key was destroyed: the customer was erased.
    Erased,
    /// No key was ever made (no sealed event of this customer), or the table came without it (an import
    /// without `--keys`).
    Absent,
}

/// One line of `redress export --keys`: a key id, its customer, and its key (`None`: erased).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    /// The customer (absent for an erased key: the table forgot it with the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The key, base64 (standard alphabet, no padding); `null` once erased.
    pub key: Option<String>,
}

/// Where data keys live. Every backend keeps it beside its log and keeps three promises:
/// a created key is durable before anything sealed with it is appended; a key is created once (two
/// racing creators get the same key); a destroyed key is gone from the storage, not only unlinked.
#[async_trait]
pub trait KeyTable: Send + Sync + 'static {
    /// The state of the key `key_id`.
    async fn key(&self, key_id: &KeyId) -> Result<KeyState, StoreError>;

    /// The states of several keys at once (a page of events names many customers): one round trip
    /// for a database. The default asks [`KeyTable::key`] for each.
    async fn keys(&self, key_ids: &[KeyId]) -> Result<HashMap<KeyId, KeyState>, StoreError> {
        let mut states = HashMap::with_capacity(key_ids.len());
        for key_id in key_ids {
            states.insert(key_id.clone(), self.key(key_id).await?);
        }
        Ok(states)
    }

    /// The key of `customer_id`, created (durably) if it has none. An erased customer gets no new key:
    /// [`StoreError::CustomerErased`].
    async fn key_or_create(&self, customer_id: &str) -> Result<DataKey, StoreError>;

    /// Destroys the key of `key_id` and returns whether there was a live key to destroy.
    async fn destroy(&self, key_id: &KeyId) -> Result<bool, StoreError>;

    /// A new key for `name` in place of any earlier one, which is overwritten (not only unlinked) before
    /// this returns. For keys that seal rebuilt state ([`STATE_KEY_PREFIX`]), never for a customer.
    async fn renew(&self, name: &str) -> Result<DataKey, StoreError>;

    /// Every key, for `redress export --keys`, in key id order.
    async fn export(&self) -> Result<Vec<KeyRecord>, StoreError>;

    /// Takes keys from an export. A key id the table already has is left as it is (an erasure here
    /// is never undone by an older export). Returns how many were added.
    async fn import(&self, records: Vec<KeyRecord>) -> Result<usize, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Files

/// A live key file: `K`, the key, the customer id (UTF-8).
const LIVE: u8 = b'K';
/// An erased key file: `X`, then zeros over everything the live file held.
const ERASED: u8 = b'X';

/// The embedded store's key table: one small file per customer in `<data-dir>/keys/`, named by its key
/// id. Not in sled on purpose: sled is log-structured, so a removed or rewritten value survives in old
/// segments until compaction. A file is overwritten in place with zeros and `fdatasync`ed when its key
/// is destroyed, and the zeroed file stays as the tombstone that says "erased". (A copy-on-write or
/// journalling-data file system, or an SSD's own remapping, may still keep the old blocks: SAFETY.md.)
pub struct FileKeyTable {
    dir: PathBuf,
    cache: Mutex<HashMap<KeyId, Option<DataKey>>>,
    /// One creator at a time, so two appends of a new customer never make two keys.
    creating: Mutex<()>,
}

/// What a key file holds: the key (`None`: erased) and its customer (`None` once erased).
type KeyFile = (Option<DataKey>, Option<String>);

fn io(what: &str, error: std::io::Error) -> StoreError {
    StoreError::Io(format!("key table: {what}: {error}"))
}

impl FileKeyTable {
    /// Opens (creating, owner-only) the key table in `dir`.
    pub fn open(dir: &Path) -> Result<FileKeyTable, StoreError> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io("creating", e))?;
        Ok(FileKeyTable { dir: dir.to_path_buf(), cache: Mutex::new(HashMap::new()), creating: Mutex::new(()) })
    }

    fn path(&self, key_id: &KeyId) -> PathBuf {
        self.dir.join(key_id.as_str())
    }

    fn cached(&self, key_id: &KeyId) -> Option<Option<DataKey>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key_id).cloned()
    }

    fn remember(&self, key_id: &KeyId, key: Option<DataKey>) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= KEY_CACHE_ENTRIES_MAX {
            cache.clear();
        }
        cache.insert(key_id.clone(), key);
    }

    /// Reads a key file: `None` when there is none.
    fn read(&self, key_id: &KeyId) -> Result<Option<KeyFile>, StoreError> {
        let mut bytes = Vec::new();
        match File::open(self.path(key_id)) {
            Ok(mut file) => file.read_to_end(&mut bytes).map_err(|e| io("reading a key", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("opening a key", e)),
        };
        match bytes.first() {
            Some(&ERASED) => Ok(Some((None, None))),
            Some(&LIVE) if bytes.len() > DATA_KEY_BYTES => {
                let key: [u8; DATA_KEY_BYTES] = bytes[1..=DATA_KEY_BYTES].try_into().expect("checked length");
                let customer = String::from_utf8(bytes[1 + DATA_KEY_BYTES..].to_vec()).ok();
                bytes.iter_mut().for_each(|b| *b = 0);
                Ok(Some((Some(DataKey::from_bytes(key)), customer)))
            }
            _ => Err(StoreError::Corruption {
                position: redress_schemas::Position(u64::MAX),
                reason: format!("key table: the file of key {key_id} is neither a key nor a tombstone"),
            }),
        }
    }

    /// Writes a new key file atomically (a temporary file, synced, then hard-linked into place, which
    /// fails if the name exists) and syncs the directory. Returns `false` when a file was already there.
    fn write_new(&self, key_id: &KeyId, key: &DataKey, customer_id: &str) -> Result<bool, StoreError> {
        let temporary = self.dir.join(format!(".new-{key_id}-{}", std::process::id()));
        let mut content = Vec::with_capacity(1 + DATA_KEY_BYTES + customer_id.len());
        content.push(LIVE);
        content.extend_from_slice(key.bytes());
        content.extend_from_slice(customer_id.as_bytes());
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
            file.write_all(&content)?;
            file.sync_data()
        })();
        content.iter_mut().for_each(|b| *b = 0);
        written.map_err(|e| io("writing a key", e))?;
        let linked = match std::fs::hard_link(&temporary, self.path(key_id)) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => {
                let _ = std::fs::remove_file(&temporary);
                return Err(io("linking a key", e));
            }
        };
        std::fs::remove_file(&temporary).map_err(|e| io("removing a temporary key file", e))?;
        File::open(&self.dir).and_then(|dir| dir.sync_all()).map_err(|e| io("syncing the key directory", e))?;
        Ok(linked)
    }
}

#[async_trait]
impl KeyTable for FileKeyTable {
    async fn key(&self, key_id: &KeyId) -> Result<KeyState, StoreError> {
        let key = match self.cached(key_id) {
            Some(key) => key,
            None => match self.read(key_id)? {
                Some((key, _)) => {
                    self.remember(key_id, key.clone());
                    key
                }
                // Not cached: a key created later must be found then.
                None => return Ok(KeyState::Absent),
            },
        };
        Ok(key.map_or(KeyState::Erased, KeyState::Live))
    }

    async fn key_or_create(&self, customer_id: &str) -> Result<DataKey, StoreError> {
        let key_id = KeyId::of_customer(customer_id);
        match self.key(&key_id).await? {
            KeyState::Live(key) => return Ok(key),
            KeyState::Erased => return Err(StoreError::CustomerErased { customer_id: customer_id.to_owned() }),
            KeyState::Absent => {}
        }
        let _one_creator = self.creating.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = DataKey::random();
        if !self.write_new(&key_id, &key, customer_id)? {
            // Another creator (or an import) was first: use what is on disk.
            return match self.read(&key_id)? {
                Some((Some(key), _)) => {
                    self.remember(&key_id, Some(key.clone()));
                    Ok(key)
                }
                _ => Err(StoreError::CustomerErased { customer_id: customer_id.to_owned() }),
            };
        }
        self.remember(&key_id, Some(key.clone()));
        Ok(key)
    }

    async fn destroy(&self, key_id: &KeyId) -> Result<bool, StoreError> {
        let _one_writer = self.creating.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = match self.read(key_id)? {
            None | Some((None, _)) => false,
            Some((Some(_), _)) => true,
        };
        if live {
            // Overwrite in place (same length, same blocks on ext4/xfs), then sync, before anyone is told.
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(self.path(key_id))
                .map_err(|e| io("opening a key", e))?;
            let length = file.seek(SeekFrom::End(0)).map_err(|e| io("sizing a key", e))?;
            let mut zeros = vec![0u8; usize::try_from(length).unwrap_or(0).max(1)];
            zeros[0] = ERASED;
            file.seek(SeekFrom::Start(0)).map_err(|e| io("rewinding a key", e))?;
            file.write_all(&zeros).map_err(|e| io("overwriting a key", e))?;
            file.sync_data().map_err(|e| io("syncing an erased key", e))?;
            self.remember(key_id, None);
        }
        Ok(live)
    }

    async fn renew(&self, name: &str) -> Result<DataKey, StoreError> {
        let key_id = KeyId::of_customer(name);
        let _one_writer = self.creating.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = DataKey::random();
        if !self.write_new(&key_id, &key, name)? {
            // The same name makes a file of the same length: overwritten in place, block for block.
            let mut content = Vec::with_capacity(1 + DATA_KEY_BYTES + name.len());
            content.push(LIVE);
            content.extend_from_slice(key.bytes());
            content.extend_from_slice(name.as_bytes());
            let written = (|| {
                let mut file = OpenOptions::new().write(true).open(self.path(&key_id))?;
                file.write_all(&content)?;
                file.sync_data()
            })();
            content.iter_mut().for_each(|b| *b = 0);
            written.map_err(|e| io("renewing a key", e))?;
        }
        self.remember(&key_id, Some(key.clone()));
        Ok(key)
    }

    async fn export(&self) -> Result<Vec<KeyRecord>, StoreError> {
        use base64::Engine as _;
        let mut ids: Vec<KeyId> = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| io("listing", e))? {
            let entry = entry.map_err(|e| io("listing", e))?;
            if let Some(key_id) = entry.file_name().to_str().and_then(KeyId::parse) {
                ids.push(key_id);
            }
        }
        ids.sort();
        let mut records = Vec::with_capacity(ids.len());
        for key_id in ids {
            let Some((key, customer_id)) = self.read(&key_id)? else { continue };
            if customer_id.as_deref().is_some_and(|c| c.starts_with(STATE_KEY_PREFIX)) {
                continue;
            }
            let key = key.map(|key| base64::engine::general_purpose::STANDARD_NO_PAD.encode(key.bytes()));
            records.push(KeyRecord { key_id: key_id.to_string(), customer_id, key });
        }
        Ok(records)
    }

    async fn import(&self, records: Vec<KeyRecord>) -> Result<usize, StoreError> {
        let mut added = 0;
        for (key_id, customer_id, key) in checked_records(records)? {
            let _one_creator = self.creating.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if self.write_new(&key_id, &key, &customer_id)? {
                added += 1;
            }
        }
        Ok(added)
    }
}

/// The live keys of an export, each checked (its id is its customer's, 32 bytes of base64); erased
/// ones are left out. Any bad record refuses the whole import, before anything is written.
pub(super) fn checked_records(records: Vec<KeyRecord>) -> Result<Vec<(KeyId, String, DataKey)>, StoreError> {
    use base64::Engine as _;
    let mut checked = Vec::with_capacity(records.len());
    for record in records {
        let bad = |reason: &str| StoreError::ImportRejected {
            position: redress_schemas::Position(u64::MAX),
            reason: format!("key {}: {reason}", record.key_id),
        };
        let key_id = KeyId::parse(&record.key_id).ok_or_else(|| bad("a key id is 32 lowercase hex digits"))?;
        let (Some(key), Some(customer_id)) = (&record.key, &record.customer_id) else { continue };
        if KeyId::of_customer(customer_id) != key_id {
            return Err(bad("the key id is not the customer's"));
        }
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(key).map_err(|_| bad("not base64"))?;
        let bytes: [u8; DATA_KEY_BYTES] = bytes.try_into().map_err(|_| bad("a key is 32 bytes"))?;
        checked.push((key_id, customer_id.clone(), DataKey::from_bytes(bytes)));
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_made_once_and_its_destruction_overwrites_the_file_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let table = FileKeyTable::open(dir.path()).unwrap();
        let key = table.key_or_create("K-1").await.unwrap();
        assert_eq!(table.key_or_create("K-1").await.unwrap().bytes(), key.bytes(), "one key per customer");
        let reopened = FileKeyTable::open(dir.path()).unwrap();
        let key_id = KeyId::of_customer("K-1");
        assert!(matches!(reopened.key(&key_id).await.unwrap(), KeyState::Live(k) if k.bytes() == key.bytes()));
        let path = dir.path().join(key_id.as_str());
        let length = std::fs::metadata(&path).unwrap().len();

        assert!(reopened.destroy(&key_id).await.unwrap());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, length, "overwritten in place, same length");
        assert_eq!(bytes[0], ERASED);
        assert!(bytes[1..].iter().all(|b| *b == 0), "no byte of the key or the customer id is left");
        assert!(!reopened.destroy(&key_id).await.unwrap(), "a second destruction destroys nothing");
        let fresh = FileKeyTable::open(dir.path()).unwrap();
        assert!(matches!(fresh.key(&key_id).await.unwrap(), KeyState::Erased));
        assert!(matches!(fresh.key_or_create("K-1").await, Err(StoreError::CustomerErased { .. })));
        assert!(matches!(fresh.key(&KeyId::of_customer("K-2")).await.unwrap(), KeyState::Absent));
    }

    #[tokio::test]
    async fn an_export_of_keys_imports_elsewhere_and_never_revives_an_erased_key() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let source = FileKeyTable::open(a.path()).unwrap();
        let kept = source.key_or_create("K-KEEP").await.unwrap();
        source.key_or_create("K-GONE").await.unwrap();
        source.renew("$state/library/0").await.unwrap();
        let target = FileKeyTable::open(b.path()).unwrap();
        target.key_or_create("K-GONE").await.unwrap();
        target.destroy(&KeyId::of_customer("K-GONE")).await.unwrap();

        let records = source.export().await.unwrap();
        assert_eq!(records.len(), 2, "fold state keys are not exported: {records:?}");
        assert_eq!(target.import(records).await.unwrap(), 1, "only the key the target lacks is added");
        assert!(
            matches!(target.key(&KeyId::of_customer("K-KEEP")).await.unwrap(), KeyState::Live(k) if k.bytes() == kept.bytes())
        );
        assert!(matches!(target.key(&KeyId::of_customer("K-GONE")).await.unwrap(), KeyState::Erased));

        let forged = KeyRecord {
            key_id: KeyId::of_customer("K-X").to_string(),
            customer_id: Some("K-Y".into()),
            key: Some("AAAA".into()),
        };
        assert!(matches!(target.import(vec![forged]).await, Err(StoreError::ImportRejected { .. })));
    }
}
