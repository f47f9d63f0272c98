//! Terms as numbers: every word and bigram the library fold has met (in complaints and answers), interned
//! in the order it met them, and a complaint's terms as a compact vector of those numbers.
//!
//! Ids are given in log order, so a fold rebuilt from position 0 gives every term the id the live fold
//! gave it; the table is stored in chunks of [`TERMS_PER_CHUNK`] and only the chunks that grew are written.

use crate::fold::{Change, Key};
use crate::projection::ProjectionError;
use crate::text::TermKind;
use redress_schemas::codec;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Terms stored under one key (a new term rewrites its chunk: about 6 KB).
pub(crate) const TERMS_PER_CHUNK: usize = 1_024;
/// The most distinct terms the table holds (ids are `u32`); a text bringing more is an anomaly.
pub(crate) const TERMS_MAX: usize = u32::MAX as usize - 1;

/// A hasher for keys that are already numbers (term ids, slots, hashed complaint ids): one multiply per
/// word (FxHash's), deterministic, so iteration order never depends on the process.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.add(u64::from(byte));
        }
    }
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by numbers, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Every word and bigram met, by id.
#[derive(Default)]
pub(crate) struct TermTable {
    /// Hashed with foldhash (seeded per process, several times faster than SipHash on short keys; only
    /// looked up, never iterated, so the seed changes no result).
    words: foldhash::HashMap<Arc<str>, u32>,
    bigrams: foldhash::HashMap<Arc<str>, u32>,
    entries: Vec<(TermKind, Arc<str>)>,
    /// Each English word's form as first written, where it differs from the (stemmed) term.
    written: IdMap<u32, Box<str>>,
    /// Terms written by the last checkpoint: the chunks from `saved / TERMS_PER_CHUNK` on are new.
    saved: usize,
}

impl TermTable {
    /// How many terms there are.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// [`TermTable::intern`], keeping `written` (the word as written, when it differs from `text`) as
    /// the term's label if the term is new: a label shows a whole word, never a stem.
    pub(crate) fn intern_written(&mut self, kind: TermKind, text: &str, written: Option<&str>) -> Option<u32> {
        let before = self.entries.len();
        let id = self.intern(kind, text)?;
        if let (true, Some(written)) = (id as usize == before, written) {
            self.written.insert(id, written.into());
        }
        Some(id)
    }

    /// The id of `text` as a term of `kind`, given now if it has none; `None` past [`TERMS_MAX`].
    pub(crate) fn intern(&mut self, kind: TermKind, text: &str) -> Option<u32> {
        let map = match kind {
            TermKind::Word => &mut self.words,
            // Single characters are never interned; treating one as a bigram keeps the function total.
            TermKind::Bigram | TermKind::Char => &mut self.bigrams,
        };
        if let Some(&id) = map.get(text) {
            return Some(id);
        }
        if self.entries.len() >= TERMS_MAX {
            return None;
        }
        let id = self.entries.len() as u32;
        let text: Arc<str> = text.into();
        map.insert(Arc::clone(&text), id);
        self.entries.push((kind, text));
        Some(id)
    }

    /// The id of `text` as a term of `kind`, if it has one.
    pub(crate) fn lookup(&self, kind: TermKind, text: &str) -> Option<u32> {
        match kind {
            TermKind::Word => self.words.get(text).copied(),
            TermKind::Bigram | TermKind::Char => self.bigrams.get(text).copied(),
        }
    }

    /// The bytes the table holds on the heap (estimated: each text once, in an `Arc`, plus its entries).
    pub(crate) fn heap_bytes(&self) -> usize {
        let texts: usize = self.entries.iter().map(|(_, text)| text.len() + 2 * std::mem::size_of::<usize>()).sum();
        let entry = std::mem::size_of::<(TermKind, Arc<str>)>();
        let slot = std::mem::size_of::<(Arc<str>, u32)>() + 1;
        let written: usize = self.written.values().map(|w| w.len()).sum::<usize>()
            + self.written.capacity() * (std::mem::size_of::<(u32, Box<str>)>() + 1);
        texts + written + self.entries.capacity() * entry + (self.words.capacity() + self.bigrams.capacity()) * slot
    }

    /// Term `id` as a label shows it: the word as first written, or the term's text.
    pub(crate) fn label(&self, id: u32) -> &str {
        self.written.get(&id).map_or_else(|| self.text(id), |w| &**w)
    }

    /// The text of term `id`.
    pub(crate) fn text(&self, id: u32) -> &str {
        &self.entries[id as usize].1
    }

    /// Term `id`'s kind and text (shared, so a copy costs a reference count).
    pub(crate) fn entry(&self, id: u32) -> &(TermKind, Arc<str>) {
        &self.entries[id as usize]
    }

    /// Whether term `id` is a word.
    pub(crate) fn is_word(&self, id: u32) -> bool {
        self.entries[id as usize].0 == TermKind::Word
    }

    /// The chunks holding terms added since the last call, encoded under `prefix` + chunk number.
    pub(crate) fn changes(&self, prefix: u8, changes: &mut Vec<Change>) -> Result<(), ProjectionError> {
        if self.saved == self.entries.len() {
            return Ok(());
        }
        let first = self.saved / TERMS_PER_CHUNK;
        for (n, chunk) in self.entries.chunks(TERMS_PER_CHUNK).enumerate().skip(first) {
            let written = |i: usize| self.written.get(&((n * TERMS_PER_CHUNK + i) as u32)).map(|w| &**w);
            let stored: Vec<(u8, &str, Option<&str>)> =
                chunk.iter().enumerate().map(|(i, (kind, text))| (kind_code(*kind), &**text, written(i))).collect();
            changes.push((chunk_key(prefix, n as u32), Some(codec::encode_snapshot(&stored)?)));
        }
        Ok(())
    }

    /// Marks every term as written (after [`TermTable::changes`] went into a checkpoint).
    pub(crate) fn saved(&mut self) {
        self.saved = self.entries.len();
    }

    /// Adds the terms of a stored chunk, which must be the next one.
    pub(crate) fn load_chunk(&mut self, key: &[u8], bytes: &[u8]) -> Result<(), ProjectionError> {
        let expected = self.entries.len() / TERMS_PER_CHUNK;
        if !self.entries.len().is_multiple_of(TERMS_PER_CHUNK) || chunk_number(key) != Some(expected as u32) {
            return Err(corrupt(format!("term chunk {key:?} is not chunk {expected}")));
        }
        let stored: Vec<(u8, String, Option<String>)> = codec::decode_snapshot(bytes)?;
        for (code, text, written) in stored {
            let kind = match code {
                0 => TermKind::Word,
                1 => TermKind::Bigram,
                other => return Err(corrupt(format!("term kind {other}"))),
            };
            let before = self.entries.len();
            if self.intern_written(kind, &text, written.as_deref()) != Some(before as u32) {
                return Err(corrupt(format!("term {text:?} stored twice")));
            }
        }
        self.saved = self.entries.len();
        Ok(())
    }
}

fn kind_code(kind: TermKind) -> u8 {
    match kind {
        TermKind::Word => 0,
        TermKind::Bigram | TermKind::Char => 1,
    }
}

/// `prefix` + the chunk number, big-endian (so chunks scan in order).
pub(crate) fn chunk_key(prefix: u8, n: u32) -> Key {
    let mut key = Vec::with_capacity(5);
    key.push(prefix);
    key.extend_from_slice(&n.to_be_bytes());
    key
}

/// The chunk number of a key made by [`chunk_key`].
pub(crate) fn chunk_number(key: &[u8]) -> Option<u32> {
    key.get(1..5).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).filter(|_| key.len() == 5)
}

/// A stored state that does not read back as written.
pub(crate) fn corrupt(what: String) -> ProjectionError {
    ProjectionError::Checkpoints(format!("library fold: {what}"))
}

// ---------------------------------------------------------------------------------------------
// Term vectors: a complaint's distinct terms with their counts, in a few bytes a term.

/// Appends the vector of `terms` (sorted by id, distinct, counts ≥ 1) to `out`: per term the gap to the
/// previous id, shifted left once with the low bit saying a count above 1 follows, as LEB128 varints.
/// Term ids of one complaint are close in practice, so most terms take one or two bytes.
pub(crate) fn encode_vector(terms: &[(u32, u32)], out: &mut Vec<u8>) {
    debug_assert!(terms.windows(2).all(|w| w[0].0 < w[1].0), "sorted, distinct");
    let mut previous = 0u32;
    for &(id, count) in terms {
        let gap = u64::from(id - previous);
        write_varint(out, gap << 1 | u64::from(count > 1));
        if count > 1 {
            write_varint(out, u64::from(count));
        }
        previous = id;
    }
}

/// The terms of a vector made by [`encode_vector`], as `(id, count)`.
pub(crate) struct Vector<'a> {
    bytes: &'a [u8],
    previous: u32,
}

impl<'a> Vector<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Vector<'a> {
        Vector { bytes, previous: 0 }
    }

    /// Whether `bytes` is a well-formed vector whose ids are below `terms` (checked once, when read
    /// from storage, so iterating never needs to).
    pub(crate) fn is_valid(bytes: &[u8], terms: usize) -> bool {
        let mut rest = bytes;
        let mut previous = 0u64;
        let mut first = true;
        while !rest.is_empty() {
            let Some((value, after)) = read_varint(rest) else { return false };
            rest = after;
            let id = previous + (value >> 1);
            if (!first && value >> 1 == 0) || id >= terms as u64 {
                return false;
            }
            if value & 1 == 1 {
                match read_varint(rest) {
                    Some((count, after)) if count > 1 && count <= u64::from(u32::MAX) => rest = after,
                    _ => return false,
                }
            }
            previous = id;
            first = false;
        }
        true
    }
}

impl Iterator for Vector<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        let (value, rest) = read_varint(self.bytes)?;
        self.bytes = rest;
        let id = self.previous + (value >> 1) as u32;
        self.previous = id;
        let count = if value & 1 == 1 {
            let (count, rest) = read_varint(self.bytes)?;
            self.bytes = rest;
            count as u32
        } else {
            1
        };
        Some((id, count))
    }
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_reads_back_as_written_in_about_two_bytes_a_term() {
        let terms = vec![(0, 1), (3, 2), (130, 1), (20_000, 7), (4_000_000, 1)];
        let mut bytes = Vec::new();
        encode_vector(&terms, &mut bytes);
        assert_eq!(Vector::new(&bytes).collect::<Vec<_>>(), terms);
        assert!(Vector::is_valid(&bytes, 4_000_001));
        assert!(!Vector::is_valid(&bytes, 4_000_000), "an id beyond the table");
        assert!(!Vector::is_valid(&bytes[..bytes.len() - 1], 4_000_001), "a cut varint");
        assert!(bytes.len() <= 2 * terms.len() + 3, "{} bytes", bytes.len());
    }

    #[test]
    fn terms_keep_their_ids_through_a_stored_table() {
        let mut table = TermTable::default();
        let word = table.intern(TermKind::Word, "电池").unwrap();
        let bigram = table.intern(TermKind::Bigram, "电池").unwrap();
        assert_ne!(word, bigram, "a word and a bigram of the same text are two terms");
        let stem = table.intern_written(TermKind::Word, "firmwar", Some("firmware")).unwrap();
        assert_eq!(table.intern_written(TermKind::Word, "firmwar", Some("firmwares")), Some(stem));
        assert_eq!((table.label(stem), table.label(word)), ("firmware", "电池"), "the first form written is kept");
        for n in 0..TERMS_PER_CHUNK {
            table.intern(TermKind::Word, &format!("w{n}")).unwrap();
        }
        let mut changes = Vec::new();
        table.changes(b't', &mut changes).unwrap();
        assert_eq!(changes.len(), 2);
        table.saved();
        table.intern(TermKind::Word, "新词").unwrap();
        let mut more = Vec::new();
        table.changes(b't', &mut more).unwrap();
        assert_eq!(more.len(), 1, "only the chunk that grew");
        let mut restored = TermTable::default();
        restored.load_chunk(&changes[0].0, changes[0].1.as_deref().unwrap()).unwrap();
        restored.load_chunk(&more[0].0, more[0].1.as_deref().unwrap()).unwrap();
        assert_eq!(restored.len(), table.len());
        assert_eq!(restored.lookup(TermKind::Bigram, "电池"), Some(bigram));
        assert_eq!(restored.lookup(TermKind::Word, "新词"), table.lookup(TermKind::Word, "新词"));
        assert_eq!(restored.label(stem), "firmware", "labels are stored with their terms");
        assert!(restored.load_chunk(&changes[0].0, changes[0].1.as_deref().unwrap()).is_err(), "out of order");
    }
}
