//! `answer-gaps`: recurring complaint themes that no standard answer covers, so the desk knows which
//! standard answer to write next — over every complaint, not a recent window.
//!
//! A complaint is *uncovered* when no active standard answer was used on it and its text is not similar
//! to any active answer of its category: best cosine similarity (words and bigrams, tf-idf with the idf
//! counted among the category's answers, see [`crate::library`]'s coverage index) below
//! [`COVERAGE_SIMILARITY_MIN`], or the category has no active answer at all. Lexical similarity alone is
//! a weak judge of coverage (a complaint and its answer often share few words), so a theme must also rest
//! on a word that *no* active answer uses (as a word or a bigram) and that mostly uncovered complaints
//! use: uncovered complaints are grouped by category and such a word — greedily, the (category, word)
//! held by the most complaints not yet in a theme, weighted by how specific the word is across all
//! complaints, makes a theme of those complaints, which then leave the pool. Themes smaller than
//! `min_count` are not reported.
//!
//! [`GapModel`] keeps what that needs for every complaint, in memory and compact (about 300 bytes a
//! complaint, see [`crate::library`] for the layout and its costs): the complaint's words and bigrams as
//! a vector of term ids, its category, the answers used on it, its nearest answer; and the aggregates
//! the greedy grouping starts from — per word, how many complaints and how many uncovered ones hold it,
//! and per (category, word) the complaints holding it. A query never cuts a text.

use crate::fold::{Anomaly, Change, Key, StateReader};
use crate::glossary;
use crate::library::coverage::{CategoryIndex, Judgement};
use crate::library::terms::{chunk_key, chunk_number, corrupt, encode_vector, IdMap, TermTable, Vector};
use crate::projection::{ProjectionError, Query};
use crate::suggestions::{AnswerCut, Field, Library, StandardAnswer, Verdict};
use crate::text::{self, TermKind};
use redress_schemas::codec;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

/// Below this best cosine similarity to an active answer of its category, a complaint's text is not
/// covered.
pub const COVERAGE_SIMILARITY_MIN: f32 = 0.05;
/// Complaints a theme needs when the query does not say.
pub const GAP_MIN_COUNT_DEFAULT: usize = 3;
/// Example complaint ids per theme (the most recent).
const EXAMPLES_MAX: usize = 5;
/// Top terms per theme.
const TOP_TERMS_MAX: usize = 5;
/// A theme's top terms are counted over its most recent complaints, at most this many: naming a theme
/// of 100,000 complaints does not need all of them, and a page of 100 themes stays a few milliseconds.
pub const TOP_TERMS_SAMPLE_MAX: usize = 200;
/// A theme's most recent complaints that decide whether it splits in two.
const SPLIT_SAMPLE_MAX: usize = 200;
/// Two groups of one theme word whose centroids are less similar than this (cosine over their other
/// theme keys) are two themes.
const SPLIT_SIMILARITY_MAX: f32 = 0.3;
/// A split whose parts are at least this share written in different scripts is a split by language,
/// and is not made.
const SPLIT_LANGUAGE_SHARE: f32 = 0.8;
/// How many times a theme may split (up to 2^this parts).
const SPLIT_DEPTH_MAX: u32 = 3;
/// Two-means rounds at most.
const SPLIT_ROUNDS_MAX: usize = 8;
/// Complaints stored under one key: a checkpoint rewrites the chunks whose complaints changed.
pub const COMPLAINTS_PER_CHUNK: usize = 64;
/// Distinct categories the model holds (symbols are `u16`); a complaint of one more is an anomaly.
pub const CATEGORIES_MAX: usize = u16::MAX as usize;
/// Distinct standard answers used on one complaint; one more is an anomaly.
pub const USED_ANSWERS_PER_COMPLAINT_MAX: usize = 64;
/// Complaints the model holds (slots are `u32`).
pub const COMPLAINTS_MAX: usize = u32::MAX as usize - 1;
/// Stored keys read per page while opening.
const OPEN_PAGE_KEYS: usize = 1_000;
/// Re-judging one complaint costs about as much as scanning this many slots for the next one.
const SCAN_SLOTS_PER_JUDGEMENT: usize = 32;

/// No answer (a `u32` symbol).
const NO_ANSWER: u32 = u32::MAX;
/// A word that names no theme (a filler, or a bigram): its theme key.
const NO_KEY: u32 = u32::MAX;
/// Theme keys with this bit are glossary concepts; the others are term ids (a term id with this bit,
/// past two billion distinct terms, names no theme).
const CONCEPT_BIT: u32 = 1 << 31;
/// Key prefixes of the model (the fold's answers use others).
const MODEL: u8 = b'm';
const TERMS: u8 = b't';
const COMPLAINTS: u8 = b'g';

/// Names by symbol, given in first-seen order (categories, answer ids).
#[derive(Debug, Default)]
struct Symbols {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Symbols {
    fn intern(&mut self, name: &str, max: usize) -> Option<u32> {
        if let Some(&sym) = self.ids.get(name) {
            return Some(sym);
        }
        if self.names.len() >= max {
            return None;
        }
        let sym = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), sym);
        Some(sym)
    }

    fn lookup(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn name(&self, sym: u32) -> &str {
        &self.names[sym as usize]
    }

    fn len(&self) -> usize {
        self.names.len()
    }
}

/// What the model keeps of one complaint besides its id and term vector (20 bytes: it is the one
/// struct there is a million of).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Record {
    /// The nearest active answer of its category when last judged ([`NO_ANSWER`]: none shares a term).
    nearest: u32,
    /// The first two answers used on it ([`NO_ANSWER`]: none); more are in `GapModel::more_used`.
    used: [u32; 2],
    category: u16,
    /// The similarity to `nearest`, in ten-thousandths.
    similarity: u16,
    /// The verdict credited to each of `used` ([`credit_code`]).
    credits: [u8; 2],
    /// The text is similar enough to an answer of its category.
    text_covered: bool,
}

const _: () = assert!(std::mem::size_of::<Record>() == 20);

fn credit_code(verdict: Option<Verdict>) -> u8 {
    match verdict {
        None => 0,
        Some(Verdict::Satisfied) => 1,
        Some(Verdict::Unsatisfied) => 2,
    }
}

fn credit_of(code: u8) -> Option<Verdict> {
    match code {
        1 => Some(Verdict::Satisfied),
        2 => Some(Verdict::Unsatisfied),
        _ => None,
    }
}

/// The complaints of a category still to be re-judged after its answers changed: those of slots
/// `cursor..end` (later complaints were judged on arrival against the new answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stale {
    cursor: u32,
    end: u32,
    /// Complaints of the category left in the range.
    remaining: u32,
}

/// An active answer as the coverage indexes need it.
struct ActiveAnswer {
    category: u16,
    cut: Arc<AnswerCut>,
    /// Its distinct words and bigrams.
    terms: Vec<u32>,
}

/// The complaints of one category holding one word.
#[derive(Debug, Default)]
struct Holders {
    /// How many of them are uncovered.
    uncovered: u32,
    /// All of them, by slot (arrival order): covered ones are skipped when read.
    slots: Vec<u32>,
}

/// One theme before rendering: its category, the theme key (word or concept) it rests on, its
/// complaints by slot.
#[derive(Debug)]
struct Draft {
    category: u16,
    term: u32,
    members: Vec<u32>,
    /// One of the parts its word's complaints were split into (the word then names it less well).
    split: bool,
}

/// The themes of one query's parameters at one state of the model.
struct Themes {
    generation: u64,
    min_count: usize,
    category: Option<u16>,
    drafts: Arc<Vec<Draft>>,
}

/// Every complaint as the gap model needs it, the aggregates over them, and each category's coverage
/// index. Apply-time work per complaint event is a few hash lookups; a complaint's text is cut once, on
/// arrival; a change to a category's answers re-judges that category's complaints later, in bounded
/// batches ([`GapModel::drain`]).
#[derive(Default)]
pub struct GapModel {
    terms: TermTable,
    categories: Symbols,
    answers: Symbols,
    /// By answer symbol: whether the answer is active (published, not retired).
    active: Vec<bool>,
    /// By term id: how many active answers use the term.
    answer_term_uses: Vec<u32>,
    /// By term id, for words: whether an active answer uses the word's text, as a word or a bigram
    /// (such a word never names a theme).
    answered_words: Vec<bool>,
    /// By term id: the theme key the term counts under — the glossary concept it names (with
    /// [`CONCEPT_BIT`]), itself, or [`NO_KEY`] (a bigram, or a filler word: see
    /// [`text::is_filler_word`]). Derived from the term's text alone.
    keys: Vec<u32>,
    /// By concept: how many of its words an active answer uses (one is enough to answer the concept).
    concept_answered: Vec<u32>,
    /// The active answers, by symbol: a library change re-cuts and re-counts only the answer it changed.
    active_answers: IdMap<u32, ActiveAnswer>,
    /// By category symbol: active answers of the category.
    answers_in_category: Vec<u32>,
    /// By category symbol; rebuilt from `active_answers` when first needed after a change.
    indexes: Vec<CategoryIndex>,
    index_stale: Vec<bool>,
    stale: Vec<Option<Stale>>,
    category_counts: Vec<u32>,

    // The complaints, by slot (arrival order).
    ids: String,
    id_ends: Vec<u64>,
    /// Slot by a stable 64-bit hash of the id; ids whose hash another id took first are in `id_clashes`.
    by_hash: IdMap<u64, u32>,
    id_clashes: HashMap<Box<str>, u32>,
    records: Vec<Record>,
    /// Answers used beyond the two a record holds, with their credits.
    more_used: IdMap<u32, Vec<(u32, u8)>>,
    vectors: Vec<u8>,
    vector_ends: Vec<u64>,

    // Aggregates, by theme key.
    /// Complaints holding the key, and uncovered ones.
    df: KeyCounts,
    udf: KeyCounts,
    holders: IdMap<(u16, u32), Holders>,
    /// Bit per slot: uncovered.
    uncovered: Vec<u64>,
    uncovered_count: usize,

    // Bookkeeping.
    /// Chunks of complaints changed since the last checkpoint.
    changed_chunks: BTreeSet<u32>,
    /// Categories, answer symbols or stale ranges changed since the last checkpoint.
    model_changed: bool,
    /// Bumped by every change a query can see: a cached answer is reused only at the same generation.
    generation: u64,
    themes: Option<Themes>,
    /// How the last grouping split its themes, to reuse for the themes whose complaints did not change.
    splits: Splits,
    scratch: Vec<f32>,
    key_scratch: Vec<u32>,
}

/// Scales a sparse vector (sorted by key) to length 1.
fn normalize(vector: &mut [(u32, f32)]) {
    let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|(_, w)| *w /= norm);
    }
}

/// The dot product of two sparse vectors sorted by key.
fn dot(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// A centroid: weights by theme key.
type Centroid = IdMap<u32, f32>;

/// The dot product of a sparse vector with a centroid.
fn dot_centroid(vector: &[(u32, f32)], centroid: &Centroid) -> f32 {
    vector.iter().map(|(k, w)| w * centroid.get(k).copied().unwrap_or(0.0)).sum()
}

/// The mean of `members` of `vectors`, scaled to length 1.
fn centroid(vectors: &[Vec<(u32, f32)>], members: impl Iterator<Item = usize>) -> Centroid {
    let mut sum = Centroid::default();
    for i in members {
        for &(k, w) in &vectors[i] {
            *sum.entry(k).or_default() += w;
        }
    }
    let norm = sum.values().map(|w| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        sum.values_mut().for_each(|w| *w /= norm);
    }
    sum
}

/// The cosine of two centroids (each of length 1).
fn centroid_similarity(a: &Centroid, b: &Centroid) -> f32 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut pairs: Vec<(u32, f32)> = small.iter().map(|(&k, &w)| (k, w)).collect();
    // Summed in key order, so the result does not depend on the maps' layout.
    pairs.sort_unstable_by_key(|(k, _)| *k);
    dot_centroid(&pairs, large)
}

/// Two-means on unit vectors (cosine): seeded with the vector nearest the mean and the one farthest
/// from it, at most [`SPLIT_ROUNDS_MAX`] rounds. `None` when all vectors fall on one side.
fn two_means(vectors: &[Vec<(u32, f32)>]) -> Option<[Centroid; 2]> {
    let mean = centroid(vectors, 0..vectors.len());
    let by_mean: Vec<f32> = vectors.iter().map(|v| dot_centroid(v, &mean)).collect();
    let nearest = (0..vectors.len()).max_by(|&a, &b| by_mean[a].total_cmp(&by_mean[b]).then(b.cmp(&a)))?;
    let by_nearest: Vec<f32> = vectors.iter().map(|v| dot(v, &vectors[nearest])).collect();
    let far = (0..vectors.len()).min_by(|&a, &b| by_nearest[a].total_cmp(&by_nearest[b]).then(a.cmp(&b)))?;
    let mut centroids = [centroid(vectors, std::iter::once(nearest)), centroid(vectors, std::iter::once(far))];
    let mut sides: Vec<usize> = Vec::new();
    for _ in 0..SPLIT_ROUNDS_MAX {
        let next: Vec<usize> = vectors
            .iter()
            .map(|v| usize::from(dot_centroid(v, &centroids[1]) > dot_centroid(v, &centroids[0])))
            .collect();
        if next == sides {
            break;
        }
        sides = next;
        if sides.iter().all(|&s| s == sides[0]) {
            return None;
        }
        for (side, c) in centroids.iter_mut().enumerate() {
            *c = centroid(vectors, (0..vectors.len()).filter(|&i| sides[i] == side));
        }
    }
    Some(centroids)
}

/// Splits of themes (see [`GapModel::split`]) by a hash of what decides them: the theme word, its
/// complaints and `min_count`. A split is a function of those alone (binary vectors of the complaints'
/// keys), so a reused one is the one a fresh grouping would make; only the last grouping's are kept.
#[derive(Default)]
struct Splits {
    by_theme: IdMap<u64, (usize, Vec<Vec<u32>>)>,
}

impl Splits {
    fn hash(anchor: u32, members: &[u32], min_count: usize) -> u64 {
        let h = fnv(fnv(FNV_OFFSET, u64::from(anchor)), min_count as u64);
        members.iter().fold(h, |h, &slot| fnv(h, u64::from(slot)))
    }

    fn take(&mut self, anchor: u32, members: &[u32], min_count: usize) -> Option<Vec<Vec<u32>>> {
        let (len, parts) = self.by_theme.remove(&Splits::hash(anchor, members, min_count))?;
        (len == members.len()).then_some(parts)
    }

    fn keep(&mut self, anchor: u32, members: &[u32], min_count: usize, parts: &[Vec<u32>]) {
        self.by_theme.insert(Splits::hash(anchor, members, min_count), (members.len(), parts.to_vec()));
    }
}

/// A count per theme key: term keys by term id, concept keys by concept.
#[derive(Debug, Default)]
struct KeyCounts {
    terms: Vec<u32>,
    concepts: Vec<u32>,
}

impl KeyCounts {
    fn get(&self, key: u32) -> u32 {
        if key & CONCEPT_BIT == 0 {
            self.terms[key as usize]
        } else {
            self.concepts[(key & !CONCEPT_BIT) as usize]
        }
    }

    fn add(&mut self, key: u32, up: bool) {
        let count = if key & CONCEPT_BIT == 0 {
            &mut self.terms[key as usize]
        } else {
            &mut self.concepts[(key & !CONCEPT_BIT) as usize]
        };
        *count = if up { *count + 1 } else { *count - 1 };
    }

    fn heap_bytes(&self) -> usize {
        (self.terms.capacity() + self.concepts.capacity()) * std::mem::size_of::<u32>()
    }
}

/// The distinct theme keys of a complaint's term vector, into `out` (cleared first), sorted.
fn keys_of(vector: Vector<'_>, keys: &[u32], out: &mut Vec<u32>) {
    out.clear();
    out.extend(vector.map(|(term, _)| keys[term as usize]).filter(|&k| k != NO_KEY));
    out.sort_unstable();
    out.dedup();
}

/// Where a [`GapModel`]'s heap goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapBytes {
    /// Per complaint: id, its map entry, record, term vector.
    pub complaints: usize,
    /// The (category, word) lists: a slot per word of each complaint, an entry per pair.
    pub holders: usize,
    /// The term table and the per-term counts: grows with the vocabulary.
    pub terms: usize,
}

impl HeapBytes {
    /// All of it.
    pub fn total(&self) -> usize {
        self.complaints + self.holders + self.terms
    }
}

/// The stored model key: symbols and re-judging progress (small; written when they change).
#[derive(Serialize, Deserialize)]
struct StoredModel {
    categories: Vec<String>,
    answers: Vec<String>,
    stale: Vec<(u16, Stale)>,
}

/// A stored chunk of [`COMPLAINTS_PER_CHUNK`] complaints.
#[derive(Serialize, Deserialize)]
struct StoredChunk {
    ids: Vec<String>,
    records: Vec<StoredRecord>,
    vectors: Vec<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct StoredRecord {
    category: u16,
    text_covered: bool,
    similarity: u16,
    nearest: u32,
    /// Every answer used, with its credit code.
    used: Vec<(u32, u8)>,
}

/// FNV-1a's starting value.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// One FNV-1a step: `word` folded into `hash`.
fn fnv(hash: u64, word: u64) -> u64 {
    (hash ^ word).wrapping_mul(0x0100_0000_01b3)
}

/// FNV-1a: a hash of a complaint id that is the same in every process (the map's key).
fn id_hash(id: &str) -> u64 {
    id.bytes().fold(FNV_OFFSET, |h, b| fnv(h, u64::from(b)))
}

fn bit(bits: &[u64], slot: u32) -> bool {
    bits[slot as usize / 64] >> (slot % 64) & 1 == 1
}

fn set_bit(bits: &mut [u64], slot: u32, on: bool) {
    let mask = 1u64 << (slot % 64);
    if on {
        bits[slot as usize / 64] |= mask;
    } else {
        bits[slot as usize / 64] &= !mask;
    }
}

fn similarity_code(judgement: Judgement) -> u16 {
    (judgement.similarity.clamp(0.0, 1.0) * 10_000.0).round() as u16
}

impl GapModel {
    /// How many complaints the model holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How many of them are uncovered (as last judged).
    pub fn uncovered(&self) -> usize {
        self.uncovered_count
    }

    /// Distinct words and bigrams met.
    pub fn terms(&self) -> usize {
        self.terms.len()
    }

    /// Complaints waiting to be re-judged against their category's changed answers.
    pub fn pending(&self) -> u64 {
        self.stale.iter().flatten().map(|s| u64::from(s.remaining)).sum()
    }

    /// The bytes the model holds on the heap for its complaints and vocabulary, estimated from its
    /// collections' capacities (hash maps counted at their bucket sizes plus one control byte a bucket;
    /// term texts at their length). The active answers' cuts and indexes, a few MB for a thousand
    /// answers, are not counted: they do not grow with complaints.
    pub fn heap_bytes(&self) -> HeapBytes {
        fn vec<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        fn map<K, V, S>(m: &HashMap<K, V, S>) -> usize {
            m.capacity() * (std::mem::size_of::<(K, V)>() + 1)
        }
        HeapBytes {
            complaints: self.ids.capacity()
                + vec(&self.id_ends)
                + map(&self.by_hash)
                + map(&self.id_clashes)
                + vec(&self.records)
                + map(&self.more_used)
                + self.more_used.values().map(vec).sum::<usize>()
                + vec(&self.vectors)
                + vec(&self.vector_ends)
                + vec(&self.uncovered),
            holders: map(&self.holders) + self.holders.values().map(|h| vec(&h.slots)).sum::<usize>(),
            terms: self.terms.heap_bytes()
                + self.df.heap_bytes()
                + self.udf.heap_bytes()
                + vec(&self.answer_term_uses)
                + vec(&self.answered_words)
                + vec(&self.keys)
                + vec(&self.concept_answered),
        }
    }

    fn id(&self, slot: u32) -> &str {
        let end = self.id_ends[slot as usize] as usize;
        let start = if slot == 0 { 0 } else { self.id_ends[slot as usize - 1] as usize };
        &self.ids[start..end]
    }

    fn vector(&self, slot: u32) -> Vector<'_> {
        Vector::new(vector_bytes(&self.vectors, &self.vector_ends, slot))
    }

    /// The slot of complaint `id`, if it was received.
    fn slot_of(&self, id: &str) -> Option<u32> {
        let slot = *self.by_hash.get(&id_hash(id))?;
        if self.id(slot) == id {
            Some(slot)
        } else {
            self.id_clashes.get(id).copied()
        }
    }

    fn remember_id(&mut self, id: &str, slot: u32) {
        if let Some(&taken) = self.by_hash.get(&id_hash(id)) {
            debug_assert_ne!(self.id(taken), id, "a complaint is received once");
            self.id_clashes.insert(id.into(), slot);
        } else {
            self.by_hash.insert(id_hash(id), slot);
        }
    }

    /// The answers used on `slot`, with the verdict each was credited with.
    fn used(&self, slot: u32) -> impl Iterator<Item = (u32, Option<Verdict>)> + '_ {
        let record = &self.records[slot as usize];
        let inline =
            (0..2).filter(|&i| record.used[i] != NO_ANSWER).map(|i| (record.used[i], credit_of(record.credits[i])));
        let more = self.more_used.get(&slot).into_iter().flatten().map(|&(a, c)| (a, credit_of(c)));
        inline.chain(more)
    }

    fn is_covered(&self, slot: u32) -> bool {
        self.records[slot as usize].text_covered || self.used(slot).any(|(answer, _)| self.active[answer as usize])
    }

    fn touch(&mut self, slot: u32) {
        self.changed_chunks.insert(slot / COMPLAINTS_PER_CHUNK as u32);
        self.generation += 1;
    }

    /// Counts `slot` as uncovered or not, moving its words' aggregates when that changes.
    fn set_uncovered(&mut self, slot: u32, uncovered: bool) {
        if bit(&self.uncovered, slot) == uncovered {
            return;
        }
        set_bit(&mut self.uncovered, slot, uncovered);
        self.generation += 1;
        let category = self.records[slot as usize].category;
        if uncovered {
            self.uncovered_count += 1;
        } else {
            self.uncovered_count -= 1;
        }
        let mut keys = std::mem::take(&mut self.key_scratch);
        keys_of(Vector::new(vector_bytes(&self.vectors, &self.vector_ends, slot)), &self.keys, &mut keys);
        for &key in &keys {
            let entry = self.holders.get_mut(&(category, key)).expect("every key of a complaint has holders");
            self.udf.add(key, uncovered);
            if uncovered {
                entry.uncovered += 1;
            } else {
                entry.uncovered -= 1;
            }
        }
        self.key_scratch = keys;
    }

    /// Counts a new complaint's theme keys (its coverage is counted by [`GapModel::set_uncovered`]).
    fn count_keys(&mut self, category: u16, slot: u32) {
        let mut keys = std::mem::take(&mut self.key_scratch);
        keys_of(Vector::new(vector_bytes(&self.vectors, &self.vector_ends, slot)), &self.keys, &mut keys);
        for &key in &keys {
            self.df.add(key, true);
            self.holders.entry((category, key)).or_default().slots.push(slot);
        }
        self.key_scratch = keys;
    }

    fn refresh_coverage(&mut self, slot: u32) {
        let covered = self.is_covered(slot);
        self.set_uncovered(slot, !covered);
    }

    /// Grows the per-term arrays to the term table.
    fn fit_terms(&mut self) {
        let n = self.terms.len();
        let known = self.answered_words.len();
        self.df.terms.resize(n, 0);
        self.udf.terms.resize(n, 0);
        self.df.concepts.resize(glossary::len(), 0);
        self.udf.concepts.resize(glossary::len(), 0);
        self.concept_answered.resize(glossary::len(), 0);
        self.answer_term_uses.resize(n, 0);
        self.answered_words.resize(n, false);
        for id in known as u32..n as u32 {
            let key = self.key_for(id);
            self.keys.push(key);
        }
        // A new word's text may be a bigram an answer uses (a new term itself is used by no answer yet:
        // `count_answer` counts an answer's terms after interning them).
        for id in known as u32..n as u32 {
            let answered = self.answer_uses_text(id);
            self.set_answered(id, answered);
        }
    }

    /// The theme key of term `id` (see `keys`).
    fn key_for(&self, id: u32) -> u32 {
        let text = self.terms.text(id);
        if !self.terms.is_word(id) || text::is_filler_word(text) {
            NO_KEY
        } else if let Some(concept) = glossary::concept_of(text) {
            CONCEPT_BIT | concept
        } else if id & CONCEPT_BIT == 0 {
            id
        } else {
            NO_KEY
        }
    }

    /// Sets whether an active answer uses word `id`'s text, keeping its concept's count.
    fn set_answered(&mut self, id: u32, answered: bool) {
        if self.answered_words[id as usize] == answered {
            return;
        }
        self.answered_words[id as usize] = answered;
        let key = self.keys[id as usize];
        if key != NO_KEY && key & CONCEPT_BIT != 0 {
            let count = &mut self.concept_answered[(key & !CONCEPT_BIT) as usize];
            *count = if answered { *count + 1 } else { *count - 1 };
        }
    }

    /// Whether an active answer uses theme key `key`: the word, or any word of the concept.
    fn key_answered(&self, key: u32) -> bool {
        if key & CONCEPT_BIT == 0 {
            self.answered_words[key as usize]
        } else {
            self.concept_answered[(key & !CONCEPT_BIT) as usize] > 0
        }
    }

    fn category(&mut self, name: &str) -> Result<u16, Anomaly> {
        let before = self.categories.len();
        let sym = self
            .categories
            .intern(name, CATEGORIES_MAX)
            .ok_or_else(|| Anomaly(format!("more than {CATEGORIES_MAX} categories: {name:?} is not kept")))?;
        if self.categories.len() > before {
            self.indexes.push(CategoryIndex::default());
            self.index_stale.push(false);
            self.answers_in_category.push(0);
            self.stale.push(None);
            self.category_counts.push(0);
            self.model_changed = true;
        }
        Ok(sym as u16)
    }

    fn answer(&mut self, answer_id: &str) -> u32 {
        let before = self.answers.len();
        // Fewer than 2^32 - 1 distinct answer ids: each is a stream the log holds.
        let sym = self.answers.intern(answer_id, NO_ANSWER as usize).expect("fewer answer ids than u32::MAX");
        if self.answers.len() > before {
            self.active.push(false);
            self.model_changed = true;
        }
        sym
    }

    // -----------------------------------------------------------------------------------------
    // Events

    /// A complaint arrives: its text is cut (the only time it is) and judged against its category's
    /// answers. A second receipt of one id is an anomaly (the store refuses it; an import may hold it).
    pub(crate) fn receive(&mut self, id: &str, category: &str, description: &str) -> Result<(), Anomaly> {
        if self.slot_of(id).is_some() {
            return Err(Anomaly::from("complaint_received: the complaint was already received"));
        }
        if self.records.len() >= COMPLAINTS_MAX {
            return Err(Anomaly(format!("more than {COMPLAINTS_MAX} complaints: not kept")));
        }
        let category = self.category(category)?;
        let mut ids: Vec<u32> = Vec::with_capacity(description.len() / 2);
        let mut full = false;
        text::for_each_word_and_bigram(description, &mut |kind, term, written| match self
            .terms
            .intern_written(kind, term, written)
        {
            Some(id) => ids.push(id),
            None => full = true,
        });
        if full {
            return Err(Anomaly::from("the term table is full"));
        }
        self.fit_terms();
        ids.sort_unstable();
        let mut counts: Vec<(u32, u32)> = Vec::with_capacity(ids.len());
        for id in ids {
            match counts.last_mut() {
                Some((last, n)) if *last == id => *n += 1,
                _ => counts.push((id, 1)),
            }
        }
        let start = self.vectors.len();
        encode_vector(&counts, &mut self.vectors);
        self.vector_ends.push(self.vectors.len() as u64);
        let slot = self.records.len() as u32;
        self.ids.push_str(id);
        self.id_ends.push(self.ids.len() as u64);
        self.remember_id(id, slot);
        self.fresh_index(category);
        let index = &self.indexes[category as usize];
        let judgement = index.judge(Vector::new(&self.vectors[start..]), &mut self.scratch);
        self.records.push(Record {
            nearest: judgement.nearest.unwrap_or(NO_ANSWER),
            used: [NO_ANSWER; 2],
            category,
            similarity: similarity_code(judgement),
            credits: [0; 2],
            text_covered: judgement.nearest.is_some() && judgement.similarity >= COVERAGE_SIMILARITY_MIN,
        });
        if self.uncovered.len() * 64 < self.records.len() {
            self.uncovered.push(0);
        }
        self.category_counts[category as usize] += 1;
        self.count_keys(category, slot);
        self.refresh_coverage(slot);
        self.touch(slot);
        Ok(())
    }

    /// An answer is used on a complaint; returns whether it is the first use of that answer on it.
    pub(crate) fn use_answer(&mut self, id: &str, answer_id: &str) -> Result<bool, Anomaly> {
        let slot =
            self.slot_of(id).ok_or_else(|| Anomaly::from("standard_answer_used: the complaint was never received"))?;
        let answer = self.answer(answer_id);
        let used = self.used(slot).count();
        if self.used(slot).any(|(a, _)| a == answer) {
            return Ok(false);
        }
        if used >= USED_ANSWERS_PER_COMPLAINT_MAX {
            return Err(Anomaly(format!("more than {USED_ANSWERS_PER_COMPLAINT_MAX} answers used on one complaint")));
        }
        match used {
            0 | 1 => self.records[slot as usize].used[used] = answer,
            _ => self.more_used.entry(slot).or_default().push((answer, 0)),
        }
        self.refresh_coverage(slot);
        self.touch(slot);
        Ok(true)
    }

    /// A verdict on a complaint's resolution: credited to every answer used on it that is not credited
    /// with it yet. Returns those answers with the verdict each had, for the answers' counts.
    pub(crate) fn credit(&mut self, id: &str, verdict: Verdict) -> Vec<(String, Option<Verdict>)> {
        let Some(slot) = self.slot_of(id) else { return Vec::new() };
        let code = credit_code(Some(verdict));
        let mut credited = Vec::new();
        let record = &mut self.records[slot as usize];
        for i in 0..2 {
            if record.used[i] != NO_ANSWER && record.credits[i] != code {
                credited.push((record.used[i], credit_of(record.credits[i])));
                record.credits[i] = code;
            }
        }
        for (answer, credit) in self.more_used.get_mut(&slot).into_iter().flatten().filter(|(_, c)| *c != code) {
            credited.push((*answer, credit_of(*credit)));
            *credit = code;
        }
        if credited.is_empty() {
            return Vec::new();
        }
        // Stored, but no theme depends on verdicts: the cached themes stay valid.
        self.changed_chunks.insert(slot / COMPLAINTS_PER_CHUNK as u32);
        credited.into_iter().map(|(answer, from)| (self.answers.name(answer).to_owned(), from)).collect()
    }

    /// The distinct words and bigrams of complaint `id`'s text (none when it was never received): what
    /// a verdict on it teaches the answers used on it.
    pub(crate) fn complaint_terms(&self, id: &str) -> Vec<(TermKind, Arc<str>)> {
        self.slot_of(id).map_or_else(Vec::new, |slot| self.slot_terms(slot))
    }

    fn slot_terms(&self, slot: u32) -> Vec<(TermKind, Arc<str>)> {
        self.vector(slot).map(|(term, _)| self.terms.entry(term).clone()).collect()
    }

    /// Calls `learn(answer_id, terms, verdict)` for every answer used on a complaint with the verdict
    /// credited to it: how a reopened fold derives what its complaints taught the answers.
    pub(crate) fn for_each_credit(&self, mut learn: impl FnMut(&str, &[(TermKind, Arc<str>)], Verdict)) {
        for slot in 0..self.records.len() as u32 {
            let mut terms: Option<Vec<(TermKind, Arc<str>)>> = None;
            for (answer, verdict) in self.used(slot) {
                if let Some(verdict) = verdict {
                    let terms = terms.get_or_insert_with(|| self.slot_terms(slot));
                    learn(self.answers.name(answer), terms, verdict);
                }
            }
        }
    }

    /// An answer changed (`library`: with the change). Its terms are counted out and in again; the
    /// complaints that used it are re-counted at once (a bit test each) when it became active or retired;
    /// the categories it left or joined get a new index when next needed, and their complaints are
    /// queued for re-judging.
    pub(crate) fn answer_changed(&mut self, answer_id: &str, library: &Library) -> Result<(), Anomaly> {
        let sym = self.answer(answer_id);
        let was_active = self.active_answers.contains_key(&sym);
        let touched = self.count_answer(sym, library.get(answer_id).filter(|a| !a.retired))?;
        if was_active != self.active[sym as usize] {
            for slot in 0..self.records.len() as u32 {
                if self.used(slot).any(|(a, _)| a == sym) {
                    self.refresh_coverage(slot);
                }
            }
        }
        for category in touched {
            let remaining = self.category_counts[category as usize];
            self.stale[category as usize] =
                (remaining > 0).then_some(Stale { cursor: 0, end: self.records.len() as u32, remaining });
        }
        self.model_changed = true;
        self.generation += 1;
        Ok(())
    }

    /// Counts answer `sym` out as it was and in as `now` (`None`: not active): its terms, its category's
    /// count and index. Returns the categories it left or joined.
    fn count_answer(&mut self, sym: u32, now: Option<&StandardAnswer>) -> Result<Vec<u16>, Anomaly> {
        let mut touched: Vec<u16> = Vec::new();
        let was = self.active_answers.remove(&sym);
        if let Some(old) = &was {
            self.count_answer_terms(&old.terms, false);
            self.answers_in_category[old.category as usize] -= 1;
            touched.push(old.category);
        }
        if let Some(answer) = now {
            let category = self.category(&answer.category)?;
            let cut = match &was {
                Some(old) if old.cut.is_of(answer) => Arc::clone(&old.cut),
                _ => Arc::new(AnswerCut::of(answer)),
            };
            // Interned here, in log order, so every run gives the answer's terms the same ids.
            let mut terms = Vec::new();
            for field in Field::ALL {
                for term in cut.field(field).iter().filter(|t| t.kind != TermKind::Char) {
                    let id = self.terms.intern(term.kind, &term.text);
                    terms.push(id.ok_or_else(|| Anomaly::from("the term table is full"))?);
                }
            }
            terms.sort_unstable();
            terms.dedup();
            self.fit_terms();
            self.count_answer_terms(&terms, true);
            self.answers_in_category[category as usize] += 1;
            self.active_answers.insert(sym, ActiveAnswer { category, cut, terms });
            if !touched.contains(&category) {
                touched.push(category);
            }
        }
        self.active[sym as usize] = now.is_some();
        for &category in &touched {
            self.index_stale[category as usize] = true;
        }
        Ok(touched)
    }

    /// Counts an active answer's terms in (or out), keeping `answered_words` true to them.
    fn count_answer_terms(&mut self, terms: &[u32], add: bool) {
        for &term in terms {
            let uses = &mut self.answer_term_uses[term as usize];
            let before = *uses;
            *uses = if add { before + 1 } else { before - 1 };
            if (before == 0) != (*uses == 0) {
                // A word's flag depends on the word and on the bigram of the same text.
                let word = if self.terms.is_word(term) {
                    Some(term)
                } else {
                    self.terms.lookup(TermKind::Word, self.terms.text(term))
                };
                if let Some(word) = word {
                    let answered = self.answer_uses_text(word);
                    self.set_answered(word, answered);
                }
            }
        }
    }

    /// Rebuilds `category`'s index if its answers changed since it was built.
    fn fresh_index(&mut self, category: u16) {
        if !self.index_stale[category as usize] {
            return;
        }
        let mut members: Vec<(&str, u32, &AnswerCut)> = self
            .active_answers
            .iter()
            .filter(|(_, a)| a.category == category)
            .map(|(&sym, a)| (self.answers.name(sym), sym, &*a.cut))
            .collect();
        members.sort_unstable_by_key(|(id, _, _)| *id);
        let cuts: Vec<(u32, &AnswerCut)> = members.into_iter().map(|(_, sym, cut)| (sym, cut)).collect();
        self.indexes[category as usize] = CategoryIndex::build(&cuts, &self.terms);
        self.index_stale[category as usize] = false;
    }

    /// Whether an active answer uses term `id`'s text, as a word or as a bigram.
    fn answer_uses_text(&self, id: u32) -> bool {
        self.answer_term_uses[id as usize] > 0
            || (self.terms.is_word(id)
                && self
                    .terms
                    .lookup(TermKind::Bigram, self.terms.text(id))
                    .is_some_and(|b| self.answer_term_uses[b as usize] > 0))
    }

    // -----------------------------------------------------------------------------------------
    // Re-judging

    /// Re-judges up to about `budget` complaints queued by answer changes (scanning slots counts a
    /// little too); returns how many were re-judged. The result does not depend on when this runs: a
    /// complaint's coverage is a function of its terms and its category's current answers only.
    pub(crate) fn drain(&mut self, budget: usize) -> usize {
        let mut units = budget.saturating_mul(SCAN_SLOTS_PER_JUDGEMENT);
        let mut judged = 0;
        for category in 0..self.stale.len() {
            let Some(mut stale) = self.stale[category] else { continue };
            self.fresh_index(category as u16);
            let from = stale.cursor;
            while stale.cursor < stale.end && stale.remaining > 0 && units > 0 {
                let slot = stale.cursor;
                stale.cursor += 1;
                units -= 1;
                if self.records[slot as usize].category as usize == category {
                    self.rejudge(slot);
                    stale.remaining -= 1;
                    judged += 1;
                    units = units.saturating_sub(SCAN_SLOTS_PER_JUDGEMENT);
                }
            }
            self.stale[category] = (stale.cursor < stale.end && stale.remaining > 0).then_some(stale);
            self.model_changed |= stale.cursor != from;
            if units == 0 {
                break;
            }
        }
        judged
    }

    fn rejudge(&mut self, slot: u32) {
        let record = self.records[slot as usize];
        self.fresh_index(record.category);
        let index = &self.indexes[record.category as usize];
        let judgement =
            index.judge(Vector::new(vector_bytes(&self.vectors, &self.vector_ends, slot)), &mut self.scratch);
        let judged = Record {
            nearest: judgement.nearest.unwrap_or(NO_ANSWER),
            similarity: similarity_code(judgement),
            text_covered: judgement.nearest.is_some() && judgement.similarity >= COVERAGE_SIMILARITY_MIN,
            ..record
        };
        if judged != record {
            self.records[slot as usize] = judged;
            self.touch(slot);
            self.refresh_coverage(slot);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Themes

    /// The themes for `min_count` (of `category` only, when given), in answer order: computed once per
    /// state of the model and parameters, so the pages of one listing and repeated queries reuse them.
    fn themes(&mut self, min_count: usize, category: Option<u16>) -> Arc<Vec<Draft>> {
        if let Some(cached) = &self.themes {
            if cached.generation == self.generation && cached.min_count == min_count && cached.category == category {
                return Arc::clone(&cached.drafts);
            }
        }
        let mut splits = std::mem::take(&mut self.splits);
        let drafts = Arc::new(self.group(min_count, category, &mut splits));
        self.splits = splits;
        self.themes = Some(Themes { generation: self.generation, min_count, category, drafts: Arc::clone(&drafts) });
        drafts
    }

    fn specificity(&self, key: u32) -> f32 {
        (1.0 + self.records.len() as f32 / self.df.get(key).max(1) as f32).ln()
    }

    /// Whether theme key `key` may name a theme: no active answer uses it (or a word of its concept),
    /// and it is mostly uncovered complaints that hold it (a word as common among covered complaints — a
    /// product name — says what is complained about, not what is unanswered).
    fn may_name_a_theme(&self, key: u32) -> bool {
        2 * self.udf.get(key) > self.df.get(key) && !self.key_answered(key)
    }

    /// A theme key's name, for ordering and cursors: the concept's names in both languages, or the
    /// word as first written.
    fn key_name(&self, key: u32) -> &str {
        if key & CONCEPT_BIT == 0 {
            self.terms.label(key)
        } else {
            glossary::name(key & !CONCEPT_BIT)
        }
    }

    /// The greedy grouping (lazy: a candidate's score only falls as complaints are taken, so a popped
    /// candidate whose refreshed score still beats the next one is the best).
    fn group(&self, min_count: usize, category: Option<u16>, splits: &mut Splits) -> Vec<Draft> {
        let min_count = min_count.max(1);
        let mut next_splits = Splits::default();
        let mut heap: BinaryHeap<Candidate<'_>> = BinaryHeap::new();
        for (&(k, key), holders) in &self.holders {
            if (holders.uncovered as usize) < min_count
                || category.is_some_and(|c| c != k)
                || !self.may_name_a_theme(key)
            {
                continue;
            }
            heap.push(Candidate {
                score: holders.uncovered as f32 * self.specificity(key),
                category: self.categories.name(u32::from(k)),
                term: self.key_name(key),
                key: (k, key),
            });
        }
        // A bit per slot: uncovered and in no theme yet. Counting it is the loop all the time goes to
        // (every list of a word that may name a theme is read at least once): one shift and add a slot.
        let mut free = self.uncovered.clone();
        let count_free = |slots: &[u32], free: &[u64]| -> usize {
            slots.iter().map(|&s| (free[s as usize / 64] >> (s % 64)) & 1).sum::<u64>() as usize
        };
        let mut drafts = Vec::new();
        while let Some(top) = heap.pop() {
            let slots = &self.holders[&top.key].slots;
            let count = count_free(slots, &free);
            if count < min_count {
                continue;
            }
            let refreshed = Candidate { score: count as f32 * self.specificity(top.key.1), ..top };
            if heap.peek().is_some_and(|next| *next > refreshed) {
                heap.push(refreshed);
                continue;
            }
            let members: Vec<u32> = slots.iter().copied().filter(|&s| bit(&free, s)).collect();
            for &slot in &members {
                set_bit(&mut free, slot, false);
            }
            // Complaints that share the word but little else are two themes (an overheating laptop and
            // a router that drops video calls both say "video"); a part too small for a theme is left out.
            let parts = match splits.take(refreshed.key.1, &members, min_count) {
                Some(parts) => parts,
                None => self.split(refreshed.key.1, members.clone(), min_count, SPLIT_DEPTH_MAX),
            };
            next_splits.keep(refreshed.key.1, &members, min_count, &parts);
            let split = parts.len() > 1;
            for part in parts.into_iter().filter(|p| p.len() >= min_count) {
                drafts.push(Draft { category: refreshed.key.0, term: refreshed.key.1, members: part, split });
            }
        }
        drafts.sort_by_cached_key(|d| self.cursor_key(d));
        *splits = next_splits;
        drafts
    }

    /// A theme's place in the answer, as its paging cursor: largest first, then by category, word and
    /// first complaint (the parts of a split theme share the rest).
    fn cursor_key(&self, draft: &Draft) -> String {
        format!(
            "{:010}|{}|{}|{:010}",
            u32::MAX as usize - draft.members.len(),
            self.categories.name(u32::from(draft.category)),
            self.key_name(draft.term),
            draft.members.first().copied().unwrap_or(0)
        )
    }

    /// Whether complaint `slot` is written mostly in a Latin script (more such words than Chinese ones).
    fn is_latin(&self, slot: u32) -> bool {
        let (mut han, mut latin) = (0, 0);
        for (term, _) in self.vector(slot).filter(|(t, _)| self.terms.is_word(*t)) {
            if self.terms.text(term).chars().any(text::is_han) {
                han += 1;
            } else {
                latin += 1;
            }
        }
        latin > han
    }

    /// Whether two parts differ by the language they are written in rather than by what they say: at
    /// least [`SPLIT_LANGUAGE_SHARE`] of one part Latin and of the other Chinese. Where the glossary does
    /// not reach, one theme in two languages shares little but its theme word; it stays one theme.
    fn split_by_language(&self, parts: &[Vec<u32>; 2]) -> bool {
        let share = |part: &[u32]| {
            let sample = &part[part.len().saturating_sub(SPLIT_SAMPLE_MAX)..];
            sample.iter().filter(|&&s| self.is_latin(s)).count() as f32 / sample.len().max(1) as f32
        };
        let (a, b) = (share(&parts[0]), share(&parts[1]));
        (a >= SPLIT_LANGUAGE_SHARE && b <= 1.0 - SPLIT_LANGUAGE_SHARE)
            || (b >= SPLIT_LANGUAGE_SHARE && a <= 1.0 - SPLIT_LANGUAGE_SHARE)
    }

    /// A complaint's theme keys but `anchor`, each weighted by its specificity, scaled to length 1.
    fn theme_vector(&self, slot: u32, anchor: u32, keys: &mut Vec<u32>) -> Vec<(u32, f32)> {
        keys_of(self.vector(slot), &self.keys, keys);
        let mut vector: Vec<(u32, f32)> = keys.iter().filter(|&&k| k != anchor).map(|&k| (k, 1.0)).collect();
        normalize(&mut vector);
        vector
    }

    /// Splits the complaints of one theme word in two while they fall into two groups that share
    /// little besides that word: two-means on the most recent [`SPLIT_SAMPLE_MAX`] of them (cosine on
    /// their other theme keys, weighted by specificity), kept when the two centroids' similarity is
    /// below [`SPLIT_SIMILARITY_MAX`] and each group has enough complaints for a theme; then every
    /// complaint joins the nearer centroid, and each part may split again (`depth` more times).
    fn split(&self, anchor: u32, members: Vec<u32>, min_count: usize, depth: u32) -> Vec<Vec<u32>> {
        if depth == 0 || members.len() < 2 * min_count.max(2) {
            return vec![members];
        }
        let mut keys = Vec::new();
        let sample = &members[members.len().saturating_sub(SPLIT_SAMPLE_MAX)..];
        let vectors: Vec<Vec<(u32, f32)>> = sample.iter().map(|&s| self.theme_vector(s, anchor, &mut keys)).collect();
        let Some(centroids) = two_means(&vectors) else { return vec![members] };
        if centroid_similarity(&centroids[0], &centroids[1]) >= SPLIT_SIMILARITY_MAX {
            return vec![members];
        }
        let mut parts = [Vec::new(), Vec::new()];
        let side = |vector: &[(u32, f32)]| {
            usize::from(dot_centroid(vector, &centroids[1]) > dot_centroid(vector, &centroids[0]))
        };
        if sample.len() == members.len() {
            for (&slot, vector) in members.iter().zip(&vectors) {
                parts[side(vector)].push(slot);
            }
        } else {
            for &slot in &members {
                parts[side(&self.theme_vector(slot, anchor, &mut keys))].push(slot);
            }
        }
        let needed = min_count.max(2);
        if parts.iter().any(|p| p.len() < needed) || self.split_by_language(&parts) {
            return vec![members];
        }
        parts.into_iter().flat_map(|part| self.split(anchor, part, min_count, depth - 1)).collect()
    }

    fn render(&self, draft: &Draft) -> GapTheme {
        // Theme keys shared by at least two of the theme's (most recent) complaints: those no answer
        // uses first, then the most telling (shared by many of them, rare elsewhere); no fragment of a
        // label already listed. A key is labelled with the words the theme's complaints wrote it in,
        // the commonest of each language ("路由器 / router" when both are there).
        let sample = &draft.members[draft.members.len().saturating_sub(TOP_TERMS_SAMPLE_MAX)..];
        let mut shared: IdMap<u32, (u32, Vec<(u32, u32)>)> = IdMap::default();
        let mut seen: Vec<(u32, u32)> = Vec::new();
        for &slot in sample {
            seen.clear();
            for (term, _) in self.vector(slot) {
                let key = self.keys[term as usize];
                if key != NO_KEY {
                    seen.push((key, term));
                }
            }
            seen.sort_unstable();
            let mut previous = NO_KEY;
            for &(key, term) in &seen {
                let entry = shared.entry(key).or_default();
                if key != previous {
                    entry.0 += 1;
                    previous = key;
                }
                match entry.1.iter_mut().find(|(t, _)| *t == term) {
                    Some((_, n)) => *n += 1,
                    None => entry.1.push((term, 1)),
                }
            }
        }
        let mut anchor_label = None;
        let mut ranked: Vec<(bool, f32, String, u32)> = shared
            .into_iter()
            .filter(|(_, (n, _))| *n >= 2)
            .map(|(key, (n, words))| {
                let label = self.label(words);
                if key == draft.term {
                    anchor_label = Some(label.clone());
                }
                (!self.key_answered(key), n as f32 * self.specificity(key), label, n)
            })
            .collect();
        // jieba's search cut also gives the dictionary words inside a long word (笔记 in 笔记本, 格调 in
        // 价格调整): a label inside a longer one held by nearly as many complaints is that fragment.
        let fragments: Vec<bool> = ranked
            .iter()
            .map(|(_, _, label, n)| {
                ranked.iter().any(|(_, _, longer, m)| {
                    longer.len() > label.len() && longer.contains(label.as_str()) && 5 * m >= 4 * n
                })
            })
            .collect();
        let mut fragment = fragments.into_iter();
        ranked.retain(|_| !fragment.next().unwrap_or(false));
        // The theme's own word first: it is what the theme rests on (a part of a split theme is told
        // apart by its other words).
        let anchor = anchor_label.as_deref().filter(|_| !draft.split);
        ranked.sort_by(|a, b| {
            (Some(b.2.as_str()) == anchor)
                .cmp(&(Some(a.2.as_str()) == anchor))
                .then(b.0.cmp(&a.0))
                .then(b.1.total_cmp(&a.1))
                .then_with(|| a.2.cmp(&b.2))
        });
        let mut top_terms: Vec<String> = Vec::new();
        for (_, _, label, _) in ranked {
            if top_terms.iter().any(|t| t.contains(&label) || label.contains(t.as_str())) {
                continue;
            }
            top_terms.push(label);
            if top_terms.len() == TOP_TERMS_MAX {
                break;
            }
        }
        let mut nearest: Option<(u16, &str)> = None;
        for &slot in &draft.members {
            let record = &self.records[slot as usize];
            if record.nearest == NO_ANSWER {
                continue;
            }
            let candidate = (record.similarity, self.answers.name(record.nearest));
            if nearest.is_none_or(|(s, id)| candidate.0 > s || (candidate.0 == s && candidate.1 < id)) {
                nearest = Some(candidate);
            }
        }
        GapTheme {
            category: self.categories.name(u32::from(draft.category)).to_owned(),
            count: draft.members.len(),
            suggested_title: top_terms.iter().take(3).cloned().collect::<Vec<_>>().join("、"),
            top_terms,
            example_complaint_ids: draft
                .members
                .iter()
                .rev()
                .take(EXAMPLES_MAX)
                .map(|&s| self.id(s).to_owned())
                .collect(),
            reason: if self.answers_in_category[draft.category as usize] > 0 {
                "weak_match"
            } else {
                "no_answer_in_category"
            },
            nearest_answer: nearest.map(|(similarity, id)| NearestAnswer {
                answer_id: id.to_owned(),
                similarity: (f64::from(similarity) / 10.0).round() / 1000.0,
            }),
        }
    }

    /// A theme key's label from the words its complaints wrote it in (`words`: term and count): the
    /// commonest Chinese word and the commonest other word, as first written, Chinese first.
    fn label(&self, mut words: Vec<(u32, u32)>) -> String {
        // The commonest, then the longest (路由器 over 路由, which jieba's search cut gives with it).
        words.sort_by(|a, b| {
            let (a_label, b_label) = (self.terms.label(a.0), self.terms.label(b.0));
            b.1.cmp(&a.1).then(b_label.chars().count().cmp(&a_label.chars().count())).then_with(|| a_label.cmp(b_label))
        });
        let han = |term: u32| self.terms.label(term).chars().any(text::is_han);
        let zh = words.iter().find(|(t, _)| han(*t)).map(|(t, _)| self.terms.label(*t));
        let other = words.iter().find(|(t, _)| !han(*t)).map(|(t, _)| self.terms.label(*t));
        match (zh, other) {
            (Some(zh), Some(other)) => format!("{zh} / {other}"),
            (Some(one), None) | (None, Some(one)) => one.to_owned(),
            (None, None) => String::new(),
        }
    }

    /// The uncovered themes with at least `min_count` complaints (of `category` only, when given),
    /// largest first (all of them: for tests and tools; the view pages).
    pub fn gaps(&mut self, min_count: usize, category: Option<&str>) -> Vec<GapTheme> {
        let category = match category {
            Some(name) => match self.categories.lookup(name) {
                Some(sym) => Some(sym as u16),
                None => return Vec::new(),
            },
            None => None,
        };
        let drafts = self.themes(min_count, category);
        drafts.iter().map(|d| self.render(d)).collect()
    }

    // -----------------------------------------------------------------------------------------
    // Storage

    /// The changed keys for a checkpoint: the model key, the term chunks that grew, the complaint chunks
    /// that changed. Call [`GapModel::saved`] once they are part of a checkpoint.
    pub(crate) fn changes(&self, changes: &mut Vec<Change>) -> Result<(), ProjectionError> {
        if self.model_changed {
            let stored = StoredModel {
                categories: self.categories.names.iter().map(|n| n.to_string()).collect(),
                answers: self.answers.names.iter().map(|n| n.to_string()).collect(),
                stale: self.stale.iter().enumerate().filter_map(|(k, s)| s.map(|s| (k as u16, s))).collect(),
            };
            changes.push((vec![MODEL], Some(codec::encode_snapshot(&stored)?)));
        }
        self.terms.changes(TERMS, changes)?;
        for &chunk in &self.changed_chunks {
            let start = chunk as usize * COMPLAINTS_PER_CHUNK;
            let slots = start as u32..(start + COMPLAINTS_PER_CHUNK).min(self.records.len()) as u32;
            let stored = StoredChunk {
                ids: slots.clone().map(|s| self.id(s).to_owned()).collect(),
                records: slots
                    .clone()
                    .map(|s| {
                        let r = &self.records[s as usize];
                        StoredRecord {
                            category: r.category,
                            text_covered: r.text_covered,
                            similarity: r.similarity,
                            nearest: r.nearest,
                            used: self.used(s).map(|(a, c)| (a, credit_code(c))).collect(),
                        }
                    })
                    .collect(),
                vectors: slots.map(|s| vector_bytes(&self.vectors, &self.vector_ends, s).to_vec()).collect(),
            };
            changes.push((chunk_key(COMPLAINTS, chunk), Some(codec::encode_snapshot(&stored)?)));
        }
        Ok(())
    }

    /// Marks everything as written.
    pub(crate) fn saved(&mut self) {
        self.model_changed = false;
        self.terms.saved();
        self.changed_chunks.clear();
    }

    /// The model as stored, with `library` (the fold's answers, read first): every complaint back in
    /// memory and the aggregates and indexes derived again.
    pub(crate) async fn open(stored: &dyn StateReader, library: &Library) -> Result<GapModel, ProjectionError> {
        let mut model = GapModel::default();
        let mut stale = Vec::new();
        if let Some(bytes) = stored.get_many(&[vec![MODEL]]).await?.pop().flatten() {
            let saved: StoredModel = codec::decode_snapshot(&bytes)?;
            for name in &saved.categories {
                model.category(name).map_err(|a| corrupt(a.0))?;
            }
            for id in &saved.answers {
                model.answer(id);
            }
            stale = saved.stale;
        }
        for_each_stored(stored, TERMS, |key, bytes| model.terms.load_chunk(key, bytes)).await?;
        model.fit_terms();
        for_each_stored(stored, COMPLAINTS, |key, bytes| model.load_chunk(key, codec::decode_snapshot(bytes)?)).await?;
        if stale.iter().any(|(c, range)| *c as usize >= model.stale.len() || range.end as usize > model.records.len()) {
            return Err(corrupt("a re-judging range is out of bounds".into()));
        }
        // Derived: the active answers and the terms they use (the category indexes follow when needed).
        for answer in library.active() {
            let sym = model.answer(&answer.answer_id);
            model.count_answer(sym, Some(answer)).map_err(|a| corrupt(a.0))?;
        }
        for (category, range) in stale {
            model.stale[category as usize] = Some(range);
        }
        for slot in 0..model.records.len() as u32 {
            model.refresh_coverage(slot);
        }
        model.saved();
        Ok(model)
    }

    fn load_chunk(&mut self, key: &[u8], chunk: StoredChunk) -> Result<(), ProjectionError> {
        let expected = self.records.len() / COMPLAINTS_PER_CHUNK;
        let n = chunk.ids.len();
        if !self.records.len().is_multiple_of(COMPLAINTS_PER_CHUNK)
            || chunk_number(key) != Some(expected as u32)
            || chunk.records.len() != n
            || chunk.vectors.len() != n
            || n > COMPLAINTS_PER_CHUNK
        {
            return Err(corrupt(format!(
                "complaint chunk {key:?} is not chunk {expected} of at most {COMPLAINTS_PER_CHUNK}"
            )));
        }
        for ((id, stored), vector) in chunk.ids.into_iter().zip(chunk.records).zip(chunk.vectors) {
            let answers_known = |a: u32| (a as usize) < self.answers.len();
            if stored.category as usize >= self.categories.len()
                || !Vector::is_valid(&vector, self.terms.len())
                || (stored.nearest != NO_ANSWER && !answers_known(stored.nearest))
                || !stored.used.iter().all(|(a, _)| answers_known(*a))
                || stored.used.len() > USED_ANSWERS_PER_COMPLAINT_MAX
            {
                return Err(corrupt(format!("complaint {id:?} does not read back")));
            }
            let slot = self.records.len() as u32;
            let mut record = Record {
                nearest: stored.nearest,
                used: [NO_ANSWER; 2],
                category: stored.category,
                similarity: stored.similarity,
                credits: [0; 2],
                text_covered: stored.text_covered,
            };
            for (i, &(answer, credit)) in stored.used.iter().enumerate() {
                if i < 2 {
                    record.used[i] = answer;
                    record.credits[i] = credit;
                } else {
                    self.more_used.entry(slot).or_default().push((answer, credit));
                }
            }
            self.records.push(record);
            self.ids.push_str(&id);
            self.id_ends.push(self.ids.len() as u64);
            self.remember_id(&id, slot);
            self.vectors.extend_from_slice(&vector);
            self.vector_ends.push(self.vectors.len() as u64);
            if self.uncovered.len() * 64 < self.records.len() {
                self.uncovered.push(0);
            }
            self.category_counts[stored.category as usize] += 1;
            self.count_keys(stored.category, slot);
        }
        Ok(())
    }
}

fn vector_bytes<'a>(vectors: &'a [u8], ends: &[u64], slot: u32) -> &'a [u8] {
    let end = ends[slot as usize] as usize;
    let start = if slot == 0 { 0 } else { ends[slot as usize - 1] as usize };
    &vectors[start..end]
}

/// Calls `f` with every stored entry under `prefix`, in key order, a page at a time.
async fn for_each_stored(
    stored: &dyn StateReader,
    prefix: u8,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), ProjectionError>,
) -> Result<(), ProjectionError> {
    let mut after: Option<Key> = None;
    loop {
        let page = stored.scan(&[prefix], after.as_deref(), OPEN_PAGE_KEYS).await?;
        for (key, value) in &page {
            f(key, value)?;
        }
        match page.last() {
            Some((last, _)) if page.len() == OPEN_PAGE_KEYS => after = Some(last.clone()),
            _ => return Ok(()),
        }
    }
}

/// A (category, theme key) in the greedy grouping, ordered by score, then the smaller category and
/// key name.
struct Candidate<'a> {
    score: f32,
    category: &'a str,
    term: &'a str,
    key: (u16, u32),
}

impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.category.cmp(self.category))
            .then_with(|| other.term.cmp(self.term))
    }
}

impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate<'_> {}

/// One theme: uncovered complaints of one category sharing a word no active answer uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapTheme {
    pub category: String,
    /// Complaints in the theme.
    pub count: usize,
    /// Its most telling words, most shared first.
    pub top_terms: Vec<String>,
    /// A title for the standard answer to write.
    pub suggested_title: String,
    /// The most recent complaints of the theme.
    pub example_complaint_ids: Vec<String>,
    /// `no_answer_in_category` when the category has no active answer, else `weak_match`.
    pub reason: &'static str,
    /// The active answer of the theme's category nearest to one of its complaints, if any shares a term,
    /// and that similarity.
    pub nearest_answer: Option<NearestAnswer>,
}

/// The active answer closest to a theme.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearestAnswer {
    pub answer_id: String,
    pub similarity: f64,
}

/// The `answer-gaps` view: query `min_count` (default 3), `category` (only that category), `limit` and
/// `cursor` (paging over themes) → `{"gaps": [{"category", "count", "top_terms", "suggested_title",
/// "example_complaint_ids", "reason", "nearest_answer"}], "count", "next_cursor", "min_count",
/// "complaints_considered", "uncovered_complaints", "coverage_pending"}`, largest theme first.
/// `coverage_pending` counts complaints still to be re-judged after an answer change (0: the answer is
/// the same as a rebuild from position 0 gives).
///
/// Errors: [`ProjectionError::BadQuery`] for a bad `min_count`, `limit` or an unknown parameter.
pub fn view(model: &mut GapModel, query: &Query) -> Result<Value, ProjectionError> {
    query.only(&["min_count", "category", "limit", "cursor"])?;
    let min_count = query.parse::<usize>("min_count")?.unwrap_or(GAP_MIN_COUNT_DEFAULT);
    if min_count == 0 {
        return Err(ProjectionError::BadQuery("min_count: must be at least 1".into()));
    }
    let paging = query.paging()?;
    let category = query.get("category").map(|name| model.categories.lookup(name));
    let drafts = match category {
        // A category no complaint has: no themes.
        Some(None) => Arc::new(Vec::new()),
        Some(Some(sym)) => model.themes(min_count, Some(sym as u16)),
        None => model.themes(min_count, None),
    };
    let (page, next_cursor) = paging.page(drafts.iter().map(|d| (model.cursor_key(d), d)));
    let gaps: Vec<GapTheme> = page.into_iter().map(|d| model.render(d)).collect();
    Ok(json!({
        "gaps": gaps,
        "count": drafts.len(),
        "next_cursor": next_cursor,
        "min_count": min_count,
        "complaints_considered": model.len(),
        "uncovered_complaints": model.uncovered(),
        "coverage_pending": model.pending(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::LibraryState;
    use crate::suggestions::fixtures::{fold, Log};
    use redress_schemas::Timestamp;

    /// The themes once every queued complaint is re-judged.
    fn gaps_of(state: &LibraryState, min_count: usize, category: Option<&str>) -> Vec<GapTheme> {
        let mut model = state.gaps();
        model.drain(usize::MAX);
        model.gaps(min_count, category)
    }

    /// An answer about invoices, one about monitors; none about batteries.
    fn library() -> Log {
        let mut log = Log::default();
        log.invoice_answer().publish(
            "A-2",
            "product_quality",
            "显示器坏点 / Dead pixels",
            "请拍摄坏点照片，我们为您换新。",
            &["坏点", "显示器"],
        );
        log
    }

    fn battery_complaints(log: &mut Log, category: &str) {
        log.receive("C-1", category, "笔记本电池鼓包了，后盖都被顶起来了")
            .receive("C-2", category, "电池用了两个月就鼓包，充不进电")
            .receive("C-3", category, "电脑电池鼓包，很危险，要求处理")
            .receive("C-4", category, "电池鼓包把触控板顶坏了");
    }

    fn invoice_complaints(log: &mut Log) {
        log.receive("C-5", "billing", "发票抬头开错了，请重新开具")
            .receive("C-6", "billing", "发票上的税号错了，麻烦重开发票")
            .receive("C-7", "billing", "发票抬头写成了分公司，请重新开发票");
    }

    #[test]
    fn an_uncovered_recurring_theme_is_reported_and_a_covered_one_is_not() {
        let mut log = library();
        battery_complaints(&mut log, "product_quality");
        invoice_complaints(&mut log);
        log.receive("C-8", "delivery", "快递三天了还没到");
        let gaps = gaps_of(&fold(&log), 3, None);
        assert_eq!(gaps.len(), 1, "{gaps:#?}");
        let theme = &gaps[0];
        assert_eq!(theme.category, "product_quality");
        assert_eq!(theme.count, 4);
        assert_eq!(theme.example_complaint_ids, ["C-4", "C-3", "C-2", "C-1"], "most recent first");
        assert_eq!(theme.top_terms[..2], ["电池", "鼓包"]);
        assert_eq!(theme.suggested_title, "电池、鼓包");
        assert_eq!(theme.reason, "weak_match");
    }

    #[test]
    fn one_theme_written_in_two_languages_is_one_gap_labelled_in_whole_words_of_both() {
        let mut log = library();
        let texts = [
            "路由器升级固件以后经常掉线",
            "The router keeps disconnecting since the firmware updates",
            "升级固件之后路由器每天掉线好几次",
            "Our routers disconnected twice a day after a firmware upgrade",
            "路由器固件更新后老是掉线",
            "Since updating the firmware our router disconnects every hour",
        ];
        for (i, text) in texts.iter().enumerate() {
            log.receive(&format!("C-{i}"), "network", text);
        }
        let gaps = gaps_of(&fold(&log), 3, None);
        assert_eq!(gaps.len(), 1, "{gaps:#?}");
        assert_eq!(gaps[0].count, 6);
        // A stem is labelled with the form first written ("disconnecting"), never itself ("disconnect").
        for label in ["固件 / firmware", "路由器 / router", "掉线 / disconnecting"] {
            assert!(gaps[0].top_terms.iter().any(|t| t == label), "{label} in {:?}", gaps[0].top_terms);
        }
        // Whole words: every English word of a label is written in some complaint.
        let written = texts.join(" ").to_lowercase();
        for label in &gaps[0].top_terms {
            for word in label.split([' ', '/']).filter(|w| w.is_ascii() && !w.is_empty()) {
                assert!(written.split(|c: char| !c.is_alphanumeric()).any(|w| w == word), "{word:?} is not a word");
            }
        }
    }

    #[test]
    fn a_theme_that_shares_only_its_word_across_languages_is_not_split_by_language() {
        let mut log = library();
        for i in 0..3 {
            log.receive(&format!("Z-{i}"), "printing", &format!("打印机卡纸严重，第{i}次了"));
            log.receive(&format!("E-{i}"), "printing", &format!("Printer paper gets stuck constantly, attempt {i}"));
        }
        let gaps = gaps_of(&fold(&log), 3, None);
        assert_eq!(gaps.iter().map(|g| g.count).collect::<Vec<_>>(), [6], "{gaps:#?}");
        assert_eq!(gaps[0].top_terms[0], "打印机 / printer", "the theme's word first");
    }

    #[test]
    fn complaints_that_share_only_one_word_are_two_themes() {
        let mut log = library();
        for i in 0..4 {
            log.receive(&format!("H-{i}"), "hardware", "开视频会议时笔记本风扇噪音很大，机身烫手还降频");
            log.receive(&format!("R-{i}"), "hardware", "路由器总是掉线，视频会议全被打断");
        }
        let gaps = gaps_of(&fold(&log), 3, None);
        let mut themes: Vec<(usize, Vec<String>)> = gaps
            .iter()
            .map(|g| (g.count, g.example_complaint_ids.iter().map(|id| id[..1].to_owned()).collect()))
            .collect();
        themes.sort();
        assert_eq!(themes.len(), 2, "{gaps:#?}");
        for (count, kinds) in themes {
            assert_eq!(count, 4);
            assert!(kinds.iter().all(|k| *k == kinds[0]), "one kind of complaint per theme: {kinds:?}");
        }
    }

    #[test]
    fn fillers_name_no_theme_and_stay_out_of_labels() {
        let mut log = library();
        log.receive("C-1", "misc", "一两天就坏了，键盘失灵")
            .receive("C-2", "misc", "一两次以后，鼠标失灵")
            .receive("C-3", "misc", "一两个月后 extremely slow scanner")
            .receive("C-4", "misc", "一两周 extremely noisy printer");
        let gaps = gaps_of(&fold(&log), 2, None);
        let labels: Vec<&String> = gaps.iter().flat_map(|g| &g.top_terms).collect();
        assert!(labels.iter().all(|l| !l.contains("一两") && !l.contains("extrem")), "{gaps:#?}");
        assert!(labels.iter().any(|l| l.as_str() == "失灵"), "{gaps:#?}");
    }

    #[test]
    fn a_category_without_answers_is_a_gap_and_min_count_filters() {
        let mut log = library();
        battery_complaints(&mut log, "battery");
        let state = fold(&log);
        let gaps = gaps_of(&state, 3, None);
        assert_eq!(gaps.len(), 1);
        assert_eq!((gaps[0].category.as_str(), gaps[0].reason), ("battery", "no_answer_in_category"));
        assert_eq!(gaps[0].nearest_answer, None, "no answer of its category to be near");
        assert!(gaps_of(&state, 5, None).is_empty(), "four complaints are no theme of five");
        assert!(gaps_of(&state, 3, Some("billing")).is_empty());
        assert!(gaps_of(&state, 3, Some("no-such-category")).is_empty());
    }

    #[test]
    fn a_published_answer_closes_the_gap_and_retiring_it_reopens_it() {
        let mut log = library();
        battery_complaints(&mut log, "product_quality");
        log.battery_answer();
        assert!(gaps_of(&fold(&log), 3, None).is_empty());
        log.retire("A-3");
        assert_eq!(gaps_of(&fold(&log), 3, None).len(), 1, "a retired answer covers nothing");
    }

    #[test]
    fn a_complaint_an_answer_was_used_on_is_covered() {
        let mut log = library();
        battery_complaints(&mut log, "product_quality");
        log.use_answer("C-1", "A-2").use_answer("C-2", "A-2");
        let state = fold(&log);
        assert!(gaps_of(&state, 3, None).is_empty(), "two left uncovered: below three");
        assert_eq!(state.gaps().uncovered(), 2);
        // 电池 and 鼓包 are as common among the two covered complaints: no word names a theme of two.
        assert!(gaps_of(&state, 2, None).is_empty());
        log.retire("A-2");
        assert_eq!(gaps_of(&fold(&log), 3, None)[0].count, 4, "a retired answer's use covers nothing");
    }

    #[test]
    fn a_complaint_joins_one_theme_only() {
        // Every complaint holds both 电池 and 鼓包: one theme, not two of the same complaints.
        let mut log = Log::default();
        battery_complaints(&mut log, "battery");
        let gaps = gaps_of(&fold(&log), 1, None);
        assert_eq!(gaps.iter().map(|g| g.count).sum::<usize>(), 4, "{gaps:#?}");
        assert_eq!(gaps[0].count, 4);
    }

    #[test]
    fn the_view_pages_themes_and_refuses_bad_parameters() {
        let mut log = library();
        battery_complaints(&mut log, "battery");
        log.receive("D-1", "delivery", "快递三天了还没到，物流不更新")
            .receive("D-2", "delivery", "快递一周还没到")
            .receive("D-3", "delivery", "快递丢件了");
        let state = fold(&log);
        let at = Timestamp::parse("2026-03-02T00:00:00Z").expect("valid");
        let answer = view(&mut state.gaps(), &Query::at(at)).expect("answers");
        assert_eq!(answer["min_count"], 3);
        assert_eq!(answer["complaints_considered"], 7);
        assert_eq!(answer["coverage_pending"], 0);
        assert_eq!(answer["count"], 2);
        assert_eq!(answer["next_cursor"], Value::Null);
        assert_eq!(answer["gaps"][0]["count"], 4);
        assert_eq!(answer["gaps"][0]["top_terms"][0], "电池");
        assert_eq!(answer["gaps"][1]["category"], "delivery");

        let first = view(&mut state.gaps(), &Query::at(at).with("limit", "1")).expect("answers");
        assert_eq!((first["gaps"].as_array().map(Vec::len), first["count"].clone()), (Some(1), json!(2)));
        let cursor = first["next_cursor"].as_str().expect("a second page").to_owned();
        let second =
            view(&mut state.gaps(), &Query::at(at).with("limit", "1").with("cursor", &cursor)).expect("answers");
        assert_eq!(second["gaps"][0], answer["gaps"][1]);
        assert_eq!(second["next_cursor"], Value::Null);

        for bad in [
            Query::at(at).with("min_count", "0"),
            Query::at(at).with("min_count", "many"),
            Query::at(at).with("limit", "1001"),
            Query::at(at).with("text", "x"),
        ] {
            let result = view(&mut state.gaps(), &bad);
            assert!(matches!(result, Err(ProjectionError::BadQuery(_))), "{:?}: {result:?}", bad.params);
        }
    }
}
