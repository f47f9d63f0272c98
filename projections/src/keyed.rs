//! `KeyedMap`: values by id, kept in a fold's keyed store and in memory only while needed.
//!
//! Every value changed since the last checkpoint is in memory (it must be written with the next one);
//! clean values stay in memory up to a bound, the least recently used leaving first, and are read back
//! from the store when an event or a query needs them again.

use crate::fold::{Change, Key, StateReader};
use crate::projection::ProjectionError;
use redress_schemas::codec;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;

struct Slot<V> {
    /// `None`: known not to exist (never stored, or removed).
    value: Option<V>,
    dirty: bool,
    used: u64,
}

/// Values of type `V` by string id, under one key prefix of a fold's store.
pub struct KeyedMap<V> {
    prefix: u8,
    resident: HashMap<Box<str>, Slot<V>>,
    dirty_count: usize,
    clean_resident_max: usize,
    clock: u64,
}

impl<V: Serialize + DeserializeOwned + Clone> KeyedMap<V> {
    /// A map under key prefix `prefix` keeping at most `clean_resident_max` unchanged values in memory.
    pub fn new(prefix: u8, clean_resident_max: usize) -> KeyedMap<V> {
        KeyedMap { prefix, resident: HashMap::new(), dirty_count: 0, clean_resident_max, clock: 0 }
    }

    /// The store key of `id`.
    pub fn key(&self, id: &str) -> Key {
        let mut key = Vec::with_capacity(id.len() + 1);
        key.push(self.prefix);
        key.extend_from_slice(id.as_bytes());
        key
    }

    /// The id of a store key of this map, if it is one.
    pub fn id_of<'k>(&self, key: &'k [u8]) -> Option<&'k str> {
        key.split_first().filter(|(p, _)| **p == self.prefix).and_then(|(_, id)| std::str::from_utf8(id).ok())
    }

    /// Whether `id`'s value (or its absence) is in memory.
    pub fn is_resident(&self, id: &str) -> bool {
        self.resident.contains_key(id)
    }

    /// Adds `id`'s key to `keys` unless it is in memory (for [`crate::Fold::wanted`]).
    pub fn want(&self, id: &str, keys: &mut Vec<Key>) {
        if !self.is_resident(id) {
            keys.push(self.key(id));
        }
    }

    /// Takes in a stored value read for [`KeyedMap::want`]; `false` when `key` is not this map's.
    pub fn provide(&mut self, key: &[u8], value: Option<Vec<u8>>) -> Result<bool, ProjectionError> {
        let Some(id) = self.id_of(key) else { return Ok(false) };
        if self.resident.contains_key(id) {
            // Already here (a newer value may be in memory): the stored one is older.
            return Ok(true);
        }
        let value = value.map(|bytes| codec::decode_snapshot::<V>(&bytes)).transpose()?;
        self.clock += 1;
        self.resident.insert(id.into(), Slot { value, dirty: false, used: self.clock });
        Ok(true)
    }

    /// The value of `id` if it is in memory.
    pub fn get(&self, id: &str) -> Option<&V> {
        self.resident.get(id).and_then(|slot| slot.value.as_ref())
    }

    /// The value of `id` to change (it will be written with the next checkpoint).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        self.clock += 1;
        let slot = self.resident.get_mut(id)?;
        slot.used = self.clock;
        if slot.value.is_some() && !slot.dirty {
            slot.dirty = true;
            self.dirty_count += 1;
        }
        slot.value.as_mut()
    }

    /// Takes `id`'s value out, to [`KeyedMap::insert`] its successor (a fold's `evolve` takes the state
    /// by value). Until then the map holds no value for `id`.
    pub fn take(&mut self, id: &str) -> Option<V> {
        self.resident.get_mut(id).and_then(|slot| slot.value.take())
    }

    /// Sets `id`'s value.
    pub fn insert(&mut self, id: &str, value: V) {
        self.clock += 1;
        // Look up by `&str` first: a key is allocated only for a value not yet in memory.
        let slot = match self.resident.get_mut(id) {
            Some(slot) => slot,
            None => self.resident.entry(id.into()).or_insert(Slot { value: None, dirty: false, used: 0 }),
        };
        if !slot.dirty {
            self.dirty_count += 1;
        }
        *slot = Slot { value: Some(value), dirty: true, used: self.clock };
    }

    /// How many values changed since the last [`KeyedMap::take_changes`].
    pub fn dirty_count(&self) -> usize {
        self.dirty_count
    }

    /// How many values (and known absences) are in memory.
    pub fn resident_count(&self) -> usize {
        self.resident.len()
    }

    /// The changed values, encoded, appended to `changes`; they are clean afterwards.
    pub fn take_changes(&mut self, changes: &mut Vec<Change>) -> Result<(), ProjectionError> {
        changes.reserve(self.dirty_count);
        for (id, slot) in self.resident.iter_mut().filter(|(_, slot)| slot.dirty) {
            let mut key = Vec::with_capacity(id.len() + 1);
            key.push(self.prefix);
            key.extend_from_slice(id.as_bytes());
            let value = slot.value.as_ref().map(codec::encode_snapshot).transpose()?;
            changes.push((key, value));
            slot.dirty = false;
        }
        self.dirty_count = 0;
        Ok(())
    }

    /// Lets the least recently used clean values go, down to the bound. Call only once the values taken
    /// by the last [`KeyedMap::take_changes`] are written (a value read back must be the newest).
    pub fn trim(&mut self) {
        let clean = self.resident.len() - self.dirty_count;
        if clean <= self.clean_resident_max {
            return;
        }
        // Drop down to three quarters of the bound, so trimming is not paid on every checkpoint.
        let target = self.clean_resident_max * 3 / 4;
        let mut ages: Vec<u64> = self.resident.values().filter(|s| !s.dirty).map(|s| s.used).collect();
        let drop_count = clean - target;
        let (_, cutoff, _) = ages.select_nth_unstable(drop_count - 1);
        let cutoff = *cutoff;
        self.resident.retain(|_, slot| slot.dirty || slot.used > cutoff);
    }

    /// The values of `ids` for a query: from memory, else read from `stored` (not kept).
    pub async fn read(&self, ids: &[&str], stored: &dyn StateReader) -> Result<Vec<Option<V>>, ProjectionError> {
        let mut out: Vec<Option<V>> = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match self.resident.get(*id) {
                Some(slot) => out.push(slot.value.clone()),
                None => {
                    out.push(None);
                    missing.push((i, self.key(id)));
                }
            }
        }
        if !missing.is_empty() {
            let keys: Vec<Key> = missing.iter().map(|(_, k)| k.clone()).collect();
            let values = stored.get_many(&keys).await?;
            for ((i, _), value) in missing.into_iter().zip(values) {
                out[i] = value.map(|bytes| codec::decode_snapshot::<V>(&bytes)).transpose()?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_store::{Checkpoint, FoldStores, MemoryFoldStores};

    #[tokio::test]
    async fn changed_values_are_written_once_clean_ones_leave_memory_and_come_back_from_the_store() {
        let stores = MemoryFoldStores::default();
        let (_, store) = stores.current("t").await.unwrap();
        let mut map: KeyedMap<u32> = KeyedMap::new(b'c', 4);
        for i in 0..10u32 {
            map.insert(&format!("k{i}"), i);
        }
        assert_eq!(map.dirty_count(), 10);
        let mut changes = Vec::new();
        map.take_changes(&mut changes).unwrap();
        assert_eq!(changes.len(), 10);
        store.commit(changes, Checkpoint { version: 1, next_position: 10 }).await.unwrap();
        map.trim();
        assert_eq!(map.resident_count(), 3, "trimmed to three quarters of the bound of 4");
        // Nothing changed: the next checkpoint writes nothing.
        let mut none = Vec::new();
        map.take_changes(&mut none).unwrap();
        assert!(none.is_empty());
        // Evicted values are read back from the store, resident ones from memory.
        let ids: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let read = map.read(&refs, &*store).await.unwrap();
        assert_eq!(read, (0..10).map(Some).collect::<Vec<_>>());
        // A value brought back for an event, changed, is dirty again.
        let mut wanted = Vec::new();
        map.want("k0", &mut wanted);
        assert_eq!(wanted, vec![b"ck0".to_vec()]);
        let value = store.get_many(&wanted).await.unwrap().remove(0);
        assert!(map.provide(&wanted[0], value).unwrap());
        *map.get_mut("k0").unwrap() += 100;
        let mut changes = Vec::new();
        map.take_changes(&mut changes).unwrap();
        assert_eq!(changes, vec![(b"ck0".to_vec(), Some(codec::encode_snapshot(&100u32).unwrap()))]);
        // A key of another prefix is not this map's.
        assert!(!map.provide(b"xk0", None).unwrap());
    }
}
