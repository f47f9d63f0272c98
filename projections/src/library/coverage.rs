//! How well the active answers of one category cover a complaint's text.
//!
//! Each category has its own index: its active answers as unit tf-idf vectors over words and bigrams,
//! with the idf counted among *those* answers. So a complaint's coverage depends only on its own terms
//! and its category's answers — an answer published in another category changes nothing for it, and a
//! library change re-judges only the complaints of the categories it touched.

use super::terms::{IdMap, TermTable, Vector};
use crate::suggestions::{idf, AnswerCut, Field};
use crate::text::TermKind;
use std::collections::BTreeMap;

/// A category's active answers, ready to be compared with complaints.
#[derive(Default)]
pub(crate) struct CategoryIndex {
    /// The answers (their symbols), in answer id order: a tie goes to the first.
    answers: Vec<u32>,
    /// The idf of a term none of them uses.
    idf_unknown: f32,
    terms: IdMap<u32, IndexedTerm>,
}

struct IndexedTerm {
    idf: f32,
    /// (answer index, the term's weight in that answer's unit vector).
    postings: Vec<(u32, f32)>,
}

/// A complaint's best match in its category.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Judgement {
    /// Cosine similarity to the nearest answer (0 when none shares a term).
    pub similarity: f32,
    /// The nearest answer's symbol.
    pub nearest: Option<u32>,
}

impl Judgement {
    pub(crate) const NONE: Judgement = Judgement { similarity: 0.0, nearest: None };
}

impl CategoryIndex {
    /// The index of `answers` (symbol and cut, in answer id order), whose terms `table` holds (they are
    /// interned when the answer changes, in log order, so a rebuild gives them the same ids).
    pub(crate) fn build(answers: &[(u32, &AnswerCut)], table: &TermTable) -> CategoryIndex {
        // Per answer: term id -> field-weighted count (title and keywords count three times), in id
        // order so every float sum is taken in the same order on every run.
        let mut weighted: Vec<BTreeMap<u32, f32>> = Vec::with_capacity(answers.len());
        for (_, cut) in answers {
            let mut counts = BTreeMap::new();
            for field in Field::ALL {
                for term in cut.field(field).iter().filter(|t| t.kind != TermKind::Char) {
                    if let Some(id) = table.lookup(term.kind, &term.text) {
                        *counts.entry(id).or_insert(0.0) += field.weight();
                    }
                }
            }
            weighted.push(counts);
        }
        let n = answers.len() as f32;
        let mut df: BTreeMap<u32, u32> = BTreeMap::new();
        for counts in &weighted {
            for id in counts.keys() {
                *df.entry(*id).or_default() += 1;
            }
        }
        let mut terms: IdMap<u32, IndexedTerm> = IdMap::default();
        for (&id, &df) in &df {
            terms.insert(id, IndexedTerm { idf: idf(n, df as f32), postings: Vec::new() });
        }
        for (doc, counts) in weighted.iter().enumerate() {
            let weights: Vec<(u32, f32)> =
                counts.iter().map(|(&id, &count)| (id, (1.0 + count.ln()) * terms[&id].idf)).collect();
            let norm = weights.iter().map(|(_, w)| w * w).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            for (id, w) in weights {
                if let Some(term) = terms.get_mut(&id) {
                    term.postings.push((doc as u32, w / norm));
                }
            }
        }
        CategoryIndex { answers: answers.iter().map(|(sym, _)| *sym).collect(), idf_unknown: idf(n, 0.0), terms }
    }

    /// The answer nearest to a complaint's `vector` (words and bigrams with their counts), by cosine
    /// similarity; `scratch` is reused between calls.
    pub(crate) fn judge(&self, vector: Vector<'_>, scratch: &mut Vec<f32>) -> Judgement {
        if self.answers.is_empty() {
            return Judgement::NONE;
        }
        scratch.clear();
        scratch.resize(self.answers.len(), 0.0);
        let mut norm = 0.0f32;
        for (id, count) in vector {
            // Terms no answer uses still make the complaint's vector longer: they lower its similarity.
            let tf = 1.0 + (count as f32).ln();
            let w = match self.terms.get(&id) {
                Some(term) => {
                    let w = tf * term.idf;
                    for &(doc, weight) in &term.postings {
                        scratch[doc as usize] += w * weight;
                    }
                    w
                }
                None => tf * self.idf_unknown,
            };
            norm += w * w;
        }
        if norm <= 0.0 {
            return Judgement::NONE;
        }
        let mut best: Option<(usize, f32)> = None;
        for (doc, &dot) in scratch.iter().enumerate() {
            if dot > 0.0 && best.is_none_or(|(_, b)| dot > b) {
                best = Some((doc, dot));
            }
        }
        match best {
            Some((doc, dot)) => Judgement { similarity: dot / norm.sqrt(), nearest: Some(self.answers[doc]) },
            None => Judgement::NONE,
        }
    }
}
