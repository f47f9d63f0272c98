//! Learning from the desk's own history: which words customers used in complaints that an answer
//! answered well.
//!
//! Every complaint on which a standard answer was used and whose customer then gave a verdict (a
//! satisfied or unsatisfied `resolution_confirmed`, a good or bad `revisit_done`, a reopening) is
//! evidence for (or against) that answer: each distinct word and bigram of its text is counted for the
//! answer, under the verdict. The `suggestions` ranking reads these counts as one more field of each
//! answer (see [`Evidence::scores`]), so a paraphrase the library's own wording never used still finds
//! the answer that served it before.
//!
//! Counts are integers moved one complaint at a time (a later verdict moves that complaint's terms from
//! one side to the other), so the result does not depend on the order complaints were judged in: a
//! rebuild from position 0, the live fold, and a fold reopened from its checkpoint (which derives the
//! counts again from the stored complaints, see [`crate::answer_gaps::GapModel::for_each_credit`]) hold
//! the same counts. Nothing here is stored. A text erased from the log is gone from the counts after the
//! next rebuild, since they are made only of what the fold read.
//!
//! Bound: at most [`EVIDENCE_PAIRS_MAX`] (answer, term) pairs; a complaint whose terms would exceed it
//! adds only the pairs that already exist and the refusal is counted ([`Evidence::pairs_refused`]).
//! Which pairs are kept once the bound is reached depends on the order complaints were judged in.

use crate::suggestions::Verdict;
use crate::text::TermKind;
use std::collections::HashMap;
use std::sync::Arc;

/// (answer, term) pairs held at most: about 16 bytes each, so 64 MB at the bound. A year of 1,000
/// answers over 100,000 judged complaints holds well under a million.
pub const EVIDENCE_PAIRS_MAX: usize = 4_000_000;

/// The saturation of a term's share among an answer's judged complaints: the score grows almost
/// linearly with the share (a term in half of them counts 0.4, in all of them 0.67), so a word one
/// complaint happened to use weighs little beside one most of them use.
const SHARE_SATURATION: f32 = 2.0;
/// Evidence against (unsatisfied complaints) counts this much of evidence for.
const AGAINST_WEIGHT: f32 = 0.5;

/// One answer's counts for one term: complaints holding it by verdict.
#[derive(Debug, Clone, Copy)]
struct Entry {
    answer: u32,
    counts: [u32; 2],
}

fn side(verdict: Verdict) -> usize {
    match verdict {
        Verdict::Satisfied => 0,
        Verdict::Unsatisfied => 1,
    }
}

/// The learned term associations of every answer.
#[derive(Debug, Default)]
pub struct Evidence {
    answer_syms: HashMap<Box<str>, u32>,
    /// By answer symbol: complaints credited satisfied, unsatisfied.
    judged: Vec<[u32; 2]>,
    /// Answers with at least one satisfied complaint.
    answers_with_evidence: u32,
    /// Hashed with foldhash, like the term table's maps: looked up, never iterated.
    words: foldhash::HashMap<Arc<str>, Vec<Entry>>,
    bigrams: foldhash::HashMap<Arc<str>, Vec<Entry>>,
    pairs: usize,
    pairs_refused: u64,
}

impl Evidence {
    fn sym(&mut self, answer_id: &str) -> u32 {
        if let Some(&sym) = self.answer_syms.get(answer_id) {
            return sym;
        }
        // Fewer than 2^32 answers: each is a stream of the log.
        let sym = u32::try_from(self.judged.len()).expect("fewer than 2^32 answers");
        self.answer_syms.insert(answer_id.into(), sym);
        self.judged.push([0, 0]);
        sym
    }

    /// The symbol of `answer_id`, if it has evidence.
    pub(crate) fn lookup(&self, answer_id: &str) -> Option<u32> {
        self.answer_syms.get(answer_id).copied()
    }

    /// Complaints credited to `answer_id`: (satisfied, unsatisfied).
    pub fn judged(&self, answer_id: &str) -> (u32, u32) {
        self.lookup(answer_id).map_or((0, 0), |sym| {
            let [s, u] = self.judged[sym as usize];
            (s, u)
        })
    }

    /// (answer, term) pairs held.
    pub fn pairs(&self) -> usize {
        self.pairs
    }

    /// Pairs not added because [`EVIDENCE_PAIRS_MAX`] was reached.
    pub fn pairs_refused(&self) -> u64 {
        self.pairs_refused
    }

    /// Moves one complaint (its distinct words and bigrams, `terms`) from the verdict it was credited to
    /// `answer_id` with (`None`: none yet) to `verdict`.
    pub(crate) fn learn(
        &mut self,
        answer_id: &str,
        terms: &[(TermKind, Arc<str>)],
        from: Option<Verdict>,
        verdict: Verdict,
    ) {
        if from == Some(verdict) {
            return;
        }
        let sym = self.sym(answer_id);
        let before = self.judged[sym as usize][0] > 0;
        if let Some(from) = from {
            let count = &mut self.judged[sym as usize][side(from)];
            *count = count.saturating_sub(1);
        }
        self.judged[sym as usize][side(verdict)] += 1;
        let after = self.judged[sym as usize][0] > 0;
        match (before, after) {
            (false, true) => self.answers_with_evidence += 1,
            (true, false) => self.answers_with_evidence -= 1,
            _ => {}
        }
        for (kind, text) in terms {
            let map = if *kind == TermKind::Word { &mut self.words } else { &mut self.bigrams };
            let postings = match map.get_mut(&**text) {
                Some(postings) => postings,
                None if self.pairs >= EVIDENCE_PAIRS_MAX => {
                    self.pairs_refused += 1;
                    continue;
                }
                None => map.entry(Arc::clone(text)).or_default(),
            };
            let at = match postings.binary_search_by_key(&sym, |e| e.answer) {
                Ok(at) => at,
                Err(_) if self.pairs >= EVIDENCE_PAIRS_MAX => {
                    self.pairs_refused += 1;
                    continue;
                }
                Err(at) => {
                    postings.insert(at, Entry { answer: sym, counts: [0, 0] });
                    self.pairs += 1;
                    at
                }
            };
            let entry = &mut postings[at];
            if let Some(from) = from {
                entry.counts[side(from)] = entry.counts[side(from)].saturating_sub(1);
            }
            entry.counts[side(verdict)] += 1;
        }
    }

    /// Adds each answer's learned score for the query terms `query` — (kind, text, weight of the term
    /// in the query), words and bigrams — into `scores` by answer symbol (grown as needed), and marks
    /// in `matched` (by query term) which terms some answer has evidence for.
    ///
    /// Per term and answer: `idf × sat(share satisfied) − AGAINST_WEIGHT × idf × sat(share
    /// unsatisfied)`, where a share is the term's complaints over the answer's judged complaints of that
    /// verdict plus one (one complaint is weak evidence), `sat(x) = 2x / (x + SHARE_SATURATION)`, and
    /// the idf is counted among the answers that have evidence (a term every answer's customers use —
    /// "电脑", "客服" — says nothing about which answer fits).
    pub(crate) fn scores(&self, query: &[(TermKind, &str, f32)], scores: &mut Vec<f32>, matched: &mut [bool]) {
        scores.clear();
        scores.resize(self.judged.len(), 0.0);
        let n = self.answers_with_evidence as f32;
        if n == 0.0 {
            return;
        }
        for (i, &(kind, text, weight)) in query.iter().enumerate() {
            let map = if kind == TermKind::Word { &self.words } else { &self.bigrams };
            let Some(postings) = map.get(text) else { continue };
            let df = postings.iter().filter(|e| e.counts[0] > 0).count() as f32;
            if df == 0.0 {
                continue;
            }
            matched[i] = true;
            let idf = crate::suggestions::idf(n, df);
            for entry in postings {
                let [satisfied, unsatisfied] = self.judged[entry.answer as usize];
                let mut score = 0.0;
                if entry.counts[0] > 0 {
                    score += saturate(entry.counts[0] as f32 / (satisfied as f32 + 1.0));
                }
                if entry.counts[1] > 0 {
                    score -= AGAINST_WEIGHT * saturate(entry.counts[1] as f32 / (unsatisfied as f32 + 1.0));
                }
                scores[entry.answer as usize] += weight * idf * score;
            }
        }
    }

    /// Whether answer `sym` has satisfied complaints holding the term.
    pub(crate) fn supports(&self, kind: TermKind, text: &str, sym: u32) -> bool {
        let map = if kind == TermKind::Word { &self.words } else { &self.bigrams };
        map.get(text).is_some_and(|p| p.binary_search_by_key(&sym, |e| e.answer).is_ok_and(|at| p[at].counts[0] > 0))
    }

    /// The idf a learned term has (0 when no answer has evidence for it).
    pub(crate) fn idf(&self, kind: TermKind, text: &str) -> f32 {
        let map = if kind == TermKind::Word { &self.words } else { &self.bigrams };
        let df = map.get(text).map_or(0, |p| p.iter().filter(|e| e.counts[0] > 0).count());
        if df == 0 {
            0.0
        } else {
            crate::suggestions::idf(self.answers_with_evidence as f32, df as f32)
        }
    }
}

fn saturate(share: f32) -> f32 {
    2.0 * share / (share + SHARE_SATURATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(texts: &[&str]) -> Vec<(TermKind, Arc<str>)> {
        texts.iter().map(|t| (TermKind::Word, Arc::from(*t))).collect()
    }

    fn score_of(evidence: &Evidence, answer: &str, query: &[&str]) -> f32 {
        let query: Vec<(TermKind, &str, f32)> = query.iter().map(|t| (TermKind::Word, *t, 1.0)).collect();
        let (mut scores, mut matched) = (Vec::new(), vec![false; query.len()]);
        evidence.scores(&query, &mut scores, &mut matched);
        evidence.lookup(answer).map_or(0.0, |sym| scores[sym as usize])
    }

    #[test]
    fn satisfied_complaints_teach_their_words_and_unsatisfied_ones_count_against() {
        let mut evidence = Evidence::default();
        evidence.learn("A", &terms(&["论文", "清空"]), None, Verdict::Satisfied);
        evidence.learn("B", &terms(&["发票"]), None, Verdict::Satisfied);
        assert!(score_of(&evidence, "A", &["清空"]) > 0.0);
        assert_eq!(score_of(&evidence, "B", &["清空"]), 0.0);
        evidence.learn("B", &terms(&["清空"]), None, Verdict::Unsatisfied);
        assert!(score_of(&evidence, "B", &["清空"]) < 0.0, "an unsatisfied use counts against");
        assert_eq!(evidence.judged("B"), (1, 1));
    }

    #[test]
    fn a_changed_verdict_moves_the_complaint_and_the_order_does_not_matter() {
        let complaint = terms(&["蓝屏", "重装"]);
        let mut live = Evidence::default();
        live.learn("A", &complaint, None, Verdict::Satisfied);
        live.learn("A", &terms(&["蓝屏"]), None, Verdict::Satisfied);
        live.learn("A", &complaint, Some(Verdict::Satisfied), Verdict::Unsatisfied);
        let mut rebuilt = Evidence::default();
        rebuilt.learn("A", &complaint, None, Verdict::Unsatisfied);
        rebuilt.learn("A", &terms(&["蓝屏"]), None, Verdict::Satisfied);
        for term in ["蓝屏", "重装"] {
            assert_eq!(score_of(&live, "A", &[term]), score_of(&rebuilt, "A", &[term]), "{term}");
        }
        assert_eq!(live.judged("A"), (1, 1));
        assert_eq!(live.pairs(), 2);
    }

    #[test]
    fn a_term_every_answer_has_says_little() {
        let mut evidence = Evidence::default();
        for answer in ["A", "B", "C", "D"] {
            evidence.learn(answer, &terms(&["电脑", answer]), None, Verdict::Satisfied);
        }
        assert!(score_of(&evidence, "A", &["电脑"]) * 5.0 < score_of(&evidence, "A", &["A"]));
    }
}
