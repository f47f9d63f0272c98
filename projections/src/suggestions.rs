//! `suggestions`: the standard answers that fit a complaint's text best, with a score and a reason.
//!
//! The answers come only from the log (`standard_answer_published/revised/retired`), kept as plain
//! records in a [`Library`]. Ranking is BM25F over the answer's fields (title, keywords, answer text,
//! category) and three cuts of the text (words, character bigrams, single characters; see
//! [`crate::text`]), then two bounded multipliers: the query's category, and feedback — how often the
//! answer was used on complaints later confirmed satisfied (or not).
//!
//! This module is the answer half of the library fold ([`crate::library`]): the [`AnswerLibrary`] it
//! holds in memory (answers, per-answer feedback counts, the derived index) and the `suggestions` view.
//! Which answers each complaint used, and the verdicts credited to them, are kept per complaint by the
//! fold's complaint records, which call [`AnswerLibrary::count_use`] and [`AnswerLibrary::credit`].
//!
//! The term index is derived data: applying an answer event only edits records and drops the cached
//! index, and the first query after a change rebuilds it (one rebuild per burst of answer edits, never
//! one per event, so replaying a million events stays cheap; answers whose text did not change keep
//! their cut, so with 1,000 answers that first query costs tens of milliseconds, the others well under
//! one). It is never stored. Call [`crate::text::warm_up`] at start to load the segmentation dictionary
//! before the first query rather than during it.

use crate::library::Evidence;
use crate::projection::{ProjectionError, Query};
use crate::text::{self, Term, TermKind};
use redress_schemas::{AnswerTranslation, EventData, RecordedEvent, StreamKind, Translations};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Suggestions one query may ask for.
pub const SUGGESTIONS_MAX: usize = 20;
/// Suggestions when the query does not say.
pub const SUGGESTIONS_DEFAULT: usize = 3;
/// The longest complaint text a query may carry, in characters (a typed error beyond, not a cut).
pub const QUERY_TEXT_CHARS_MAX: usize = 4_000;

/// BM25's term-frequency saturation.
const BM25_K1: f32 = 1.2;
/// BM25's length normalisation.
const BM25_B: f32 = 0.75;

/// An answer of the query's category scores this much more: double. The category a complaint is filed
/// under usually is its answer's (61 of the 72 development cases), so it is strong evidence; but it is a
/// boost, not a filter — an answer of another category with twice the text score still wins.
const CATEGORY_BOOST: f32 = 1.0;
/// Feedback moves a score by at most this share, up or down: it breaks near-ties, it does not
/// outrank text relevance.
const FEEDBACK_BOOST_MAX: f32 = 0.25;
/// Judged uses at which feedback has half its weight (fewer are mostly noise).
const FEEDBACK_HALF_WEIGHT_USES: f32 = 5.0;
/// Matched terms a reason names.
const WHY_TERMS_MAX: usize = 3;
/// How much an answer's learned score (the complaints it answered well, [`crate::library::Evidence`])
/// counts beside its text score.
const HISTORY_WEIGHT: f32 = 0.2;
/// The confidence fit's weights (see [`confidence`]): a logistic regression of "this suggestion is the
/// expected answer" on its three inputs, over every suggestion (up to 20 a query, 5,127 in all, 104
/// right) of the dev set in 6-fold cross-validation, the 32 English and mixed cases, and the 40 off-topic
/// texts with and without history (`examples/answers_eval.rs` writes them with `FEATURES=`;
/// BENCHMARKS.md "Standard answers (issue 11)" gives the fit, its held-out check and its reliability).
const CONFIDENCE_MATCHED: f32 = 0.982;
const CONFIDENCE_RELATIVE: f32 = 3.305;
const CONFIDENCE_NAMED: f32 = 1.610;
const CONFIDENCE_BIAS: f32 = -8.154;
/// The confidence below which a suggestion is left out when neither the query nor the server says.
pub const CONFIDENCE_MIN_DEFAULT: f64 = 0.3;

/// A field of a standard answer, with its weight in BM25F: a title or keyword match says much more
/// than one in the long answer text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Title,
    Keywords,
    Answer,
    Category,
}

impl Field {
    pub(crate) const ALL: [Field; 4] = [Field::Title, Field::Keywords, Field::Answer, Field::Category];

    /// The field's weight in a term's count (the gap model's coverage index weighs fields the same way).
    pub(crate) fn weight(self) -> f32 {
        match self {
            Field::Title => 3.0,
            Field::Keywords => 3.0,
            Field::Answer => 1.0,
            Field::Category => 1.0,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    fn label(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Keywords => "keywords",
            Field::Answer => "answer",
            Field::Category => "category",
        }
    }
}

/// How much a query term of each kind counts: a whole word is the strongest evidence, a shared
/// single character the weakest.
fn kind_weight(kind: TermKind) -> f32 {
    match kind {
        TermKind::Word => 1.0,
        TermKind::Bigram => 0.8,
        TermKind::Char => 0.25,
    }
}

// ---------------------------------------------------------------------------------------------
// The library: standard answers as the log tells them.

/// A standard answer as published and revised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardAnswer {
    pub answer_id: String,
    pub category: String,
    pub title: String,
    pub answer: String,
    pub keywords: Vec<String>,
    /// The answer in other languages, by language tag; a revision's languages replace those languages.
    pub translations: Translations,
    /// Retired answers are kept (a late revise still finds its answer) but never suggested.
    pub retired: bool,
}

impl StandardAnswer {
    /// The title to show a reader of `lang`: the translation whose tag is `lang` or shares its primary
    /// language (`en` for `en-GB`), else the answer's own title.
    pub fn title_in(&self, lang: Option<&str>) -> &str {
        lang.and_then(|lang| translation_for(&self.translations, lang)).map_or(&self.title, |t| &t.title)
    }

    /// Every text of the answer in every language: (titles, keyword lists, answer texts).
    fn texts(&self) -> (Vec<&str>, Vec<&[String]>, Vec<&str>) {
        let own = std::iter::once((self.title.as_str(), self.keywords.as_slice(), self.answer.as_str()));
        let translated =
            self.translations.values().map(|t| (t.title.as_str(), t.keywords.as_slice(), t.answer.as_str()));
        let mut texts = (Vec::new(), Vec::new(), Vec::new());
        for (title, keywords, answer) in own.chain(translated) {
            texts.0.push(title);
            texts.1.push(keywords);
            texts.2.push(answer);
        }
        texts
    }
}

/// The translation of `translations` for a reader of `lang` (its tag, or its primary language).
fn translation_for<'a>(translations: &'a Translations, lang: &str) -> Option<&'a AnswerTranslation> {
    let primary = |tag: &str| tag.split('-').next().unwrap_or(tag).to_ascii_lowercase();
    translations
        .iter()
        .find(|(tag, _)| tag.eq_ignore_ascii_case(lang))
        .or_else(|| translations.iter().find(|(tag, _)| primary(tag) == primary(lang)))
        .map(|(_, translation)| translation)
}

/// The language of a query text, when the caller does not say: `zh` when Han characters make up at
/// least a third of its letters, else `en` when it has Latin letters, else none.
pub fn detect_lang(text: &str) -> Option<&'static str> {
    let han = text.chars().filter(|c| matches!(*c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF)).count();
    let latin = text.chars().filter(char::is_ascii_alphabetic).count();
    // A Han character carries about as much as a short Latin word: weigh them so.
    if han > 0 && han * 3 >= latin / 2 {
        Some("zh")
    } else if latin > 0 {
        Some("en")
    } else {
        None
    }
}

/// Every standard answer of the log, by id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Library {
    answers: BTreeMap<String, StandardAnswer>,
}

impl Library {
    /// Folds a standard-answer event in; returns whether the answers changed (other events: `false`).
    ///
    /// A revision or retirement of an answer the library has not seen is ignored rather than failing the
    /// projection: an "as of occurred" replay may skip a publication that a later-dated revision follows.
    pub fn apply(&mut self, event: &RecordedEvent) -> bool {
        let (StreamKind::StandardAnswer, stream_id) = event.stream.kind() else { return false };
        match &event.data {
            EventData::StandardAnswerPublished(p) => {
                let answer = StandardAnswer {
                    answer_id: p.answer_id.clone(),
                    category: p.category.clone(),
                    title: p.title.clone(),
                    answer: p.answer.clone(),
                    keywords: p.keywords.clone(),
                    translations: p.translations.clone().unwrap_or_default(),
                    retired: false,
                };
                self.answers.insert(p.answer_id.clone(), answer);
                true
            }
            EventData::StandardAnswerRevised(r) => {
                let Some(answer) = self.answers.get_mut(stream_id) else { return false };
                if let Some(title) = &r.title {
                    answer.title.clone_from(title);
                }
                if let Some(text) = &r.answer {
                    answer.answer.clone_from(text);
                }
                if let Some(keywords) = &r.keywords {
                    answer.keywords.clone_from(keywords);
                }
                if let Some(category) = &r.category {
                    answer.category.clone_from(category);
                }
                for (lang, translation) in r.translations.iter().flatten() {
                    answer.translations.insert(lang.clone(), translation.clone());
                }
                true
            }
            EventData::StandardAnswerRetired(_) => {
                let Some(answer) = self.answers.get_mut(stream_id) else { return false };
                answer.retired = true;
                true
            }
            _ => false,
        }
    }

    /// The answers that may be suggested, in id order.
    pub fn active(&self) -> impl Iterator<Item = &StandardAnswer> {
        self.answers.values().filter(|a| !a.retired)
    }

    /// One answer, retired or not.
    pub fn get(&self, answer_id: &str) -> Option<&StandardAnswer> {
        self.answers.get(answer_id)
    }

    /// Puts back an answer read from storage.
    pub(crate) fn restore(&mut self, answer: StandardAnswer) {
        self.answers.insert(answer.answer_id.clone(), answer);
    }
}

// ---------------------------------------------------------------------------------------------
// The index: derived from the library, rebuilt on demand.

/// One answer's entry in a term's postings.
#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    /// The term's BM25F weight in this answer (idf included).
    bm25: f32,
    /// Which fields hold the term ([`Field::bit`]).
    fields: u8,
}

/// An active answer as the index knows it.
#[derive(Debug, Clone)]
struct IndexedAnswer {
    answer_id: String,
    category: String,
}

/// The term index over the active answers.
#[derive(Debug, Default)]
pub(crate) struct AnswerIndex {
    answers: Vec<IndexedAnswer>,
    term_ids: HashMap<Term, u32>,
    terms: Vec<Term>,
    /// Postings of each term id, sorted by answer.
    postings: Vec<Vec<Posting>>,
    idf: Vec<f32>,
}

/// A query's terms resolved against an index: (term id, how often the query holds it).
struct QueryTerms(Vec<(u32, u32)>);

impl AnswerIndex {
    /// Builds the index of `library`'s active answers, reusing the cut of every answer whose text has not
    /// changed since `cuts` was filled (cutting is about half the work) and refreshing `cuts`.
    fn build(library: &Library, cuts: &mut HashMap<String, Arc<AnswerCut>>) -> AnswerIndex {
        let active: Vec<&StandardAnswer> = library.active().collect();
        cuts.retain(|id, cut| library.get(id).is_some_and(|a| !a.retired && cut.is_of(a)));
        let mut index = AnswerIndex::default();
        // Per answer: term id -> (tf per field).
        let mut answer_terms: Vec<HashMap<u32, [f32; 4]>> = Vec::with_capacity(active.len());
        let mut field_lengths: Vec<[f32; 4]> = Vec::with_capacity(active.len());
        for answer in &active {
            let cut =
                Arc::clone(cuts.entry(answer.answer_id.clone()).or_insert_with(|| Arc::new(AnswerCut::of(answer))));
            let mut tfs: HashMap<u32, [f32; 4]> = HashMap::new();
            let mut lengths = [0.0f32; 4];
            for field in Field::ALL {
                let terms = &cut.fields[field as usize];
                lengths[field as usize] = terms.len() as f32;
                for term in terms {
                    let id = index.intern(term);
                    tfs.entry(id).or_default()[field as usize] += 1.0;
                }
            }
            answer_terms.push(tfs);
            field_lengths.push(lengths);
            index
                .answers
                .push(IndexedAnswer { answer_id: answer.answer_id.clone(), category: answer.category.clone() });
        }
        let n = active.len() as f32;
        let mut average = [0.0f32; 4];
        for lengths in &field_lengths {
            for (sum, length) in average.iter_mut().zip(lengths) {
                *sum += length / n.max(1.0);
            }
        }
        let mut df = vec![0u32; index.terms.len()];
        for tfs in &answer_terms {
            for id in tfs.keys() {
                df[*id as usize] += 1;
            }
        }
        index.idf = df.iter().map(|&df| idf(n, df as f32)).collect();
        index.postings = vec![Vec::new(); index.terms.len()];
        for (doc, tfs) in answer_terms.iter().enumerate() {
            for (&id, tf) in tfs {
                let mut pseudo_tf = 0.0f32;
                let mut fields = 0u8;
                for field in Field::ALL {
                    let f = field as usize;
                    if tf[f] > 0.0 {
                        fields |= field.bit();
                        let relative = if average[f] > 0.0 { field_lengths[doc][f] / average[f] } else { 1.0 };
                        pseudo_tf += field.weight() * tf[f] / (1.0 - BM25_B + BM25_B * relative);
                    }
                }
                let idf = index.idf[id as usize];
                let bm25 = idf * pseudo_tf * (BM25_K1 + 1.0) / (pseudo_tf + BM25_K1);
                index.postings[id as usize].push(Posting { doc: doc as u32, bm25, fields });
            }
        }
        index
    }

    fn intern(&mut self, term: &Term) -> u32 {
        if let Some(&id) = self.term_ids.get(term) {
            return id;
        }
        let id = u32::try_from(self.terms.len()).expect("fewer than 2^32 distinct terms in the answers");
        self.terms.push(term.clone());
        self.term_ids.insert(term.clone(), id);
        id
    }

    /// The query's terms this index knows, with their counts.
    fn resolve(&self, query_terms: &[Term]) -> QueryTerms {
        let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
        for term in query_terms {
            if let Some(&id) = self.term_ids.get(term) {
                *counts.entry(id).or_default() += 1;
            }
        }
        QueryTerms(counts.into_iter().collect())
    }

    /// The BM25F text score of every answer for `query`.
    fn text_scores(&self, query: &QueryTerms) -> Vec<f32> {
        let mut scores = vec![0.0f32; self.answers.len()];
        for &(id, count) in &query.0 {
            // A term repeated in the query counts a little more, with saturation like a document's.
            let weight = kind_weight(self.terms[id as usize].kind) * (1.0 + (count as f32).ln());
            for posting in &self.postings[id as usize] {
                scores[posting.doc as usize] += weight * posting.bm25;
            }
        }
        scores
    }

    /// The fields of answer `doc` that hold `term` ([`Field::bit`]s; 0: none).
    fn fields_of(&self, term: &Term, doc: u32) -> u8 {
        self.term_ids.get(term).map_or(0, |&id| {
            let postings = &self.postings[id as usize];
            postings.binary_search_by_key(&doc, |p| p.doc).map_or(0, |at| postings[at].fields)
        })
    }

    /// The query terms that matched answer `doc`, strongest first, as (text, fields bits).
    fn matched_terms(&self, query: &QueryTerms, doc: u32) -> Vec<(String, f32, u8)> {
        let mut matched: Vec<(String, f32, u8, TermKind)> = Vec::new();
        for &(id, _) in &query.0 {
            let postings = &self.postings[id as usize];
            if let Ok(i) = postings.binary_search_by_key(&doc, |p| p.doc) {
                let term = &self.terms[id as usize];
                let p = postings[i];
                matched.push((term.text.clone(), kind_weight(term.kind) * p.bm25, p.fields, term.kind));
            }
        }
        // Words first (a reader recognises them), then bigrams; a single character only when nothing longer
        // matched, and never a fragment of a term already named.
        // Longer words first, so a whole word (打印机) is named rather than its fragments (打印, 印机).
        matched.sort_by(|a, b| {
            let length = |t: &str| t.chars().count();
            a.3.cmp(&b.3).then(length(&b.0).cmp(&length(&a.0))).then(b.1.total_cmp(&a.1)).then_with(|| a.0.cmp(&b.0))
        });
        let mut shown: Vec<(String, f32, u8)> = Vec::new();
        for (text, weight, fields, kind) in matched {
            if kind == TermKind::Char && !shown.is_empty() {
                continue;
            }
            if shown.iter().any(|(s, _, _)| s.contains(text.as_str()) || text.contains(s.as_str())) {
                continue;
            }
            shown.push((text, weight, fields));
            if shown.len() == WHY_TERMS_MAX {
                break;
            }
        }
        shown
    }
}

/// A text's distinct terms, each with its weight in the query: its kind's weight, a little more when
/// repeated (with saturation, like a document's).
fn distinct_terms(terms: &[Term]) -> Vec<(Term, f32)> {
    let mut counts: BTreeMap<&Term, u32> = BTreeMap::new();
    for term in terms {
        *counts.entry(term).or_default() += 1;
    }
    counts.into_iter().map(|(t, n)| (t.clone(), kind_weight(t.kind) * (1.0 + (n as f32).ln()))).collect()
}

/// BM25's idf: never negative, so a term in every answer adds (almost) nothing rather than subtracting.
pub(crate) fn idf(n: f32, df: f32) -> f32 {
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// One answer's fields cut into terms, with the answer they were cut from.
#[derive(Debug)]
pub(crate) struct AnswerCut {
    source: StandardAnswer,
    /// By [`Field`] order.
    fields: [Vec<Term>; 4],
}

impl AnswerCut {
    /// Cuts every field of `answer`, in every language it has: a field's terms are those of its own
    /// text and of each translation's, so a query matches the answer in whichever language it is written.
    pub(crate) fn of(answer: &StandardAnswer) -> AnswerCut {
        let (titles, keywords, answers) = answer.texts();
        AnswerCut {
            source: answer.clone(),
            fields: Field::ALL.map(|field| match field {
                Field::Title => titles.iter().flat_map(|t| text::terms(t)).collect(),
                Field::Keywords => keywords.iter().flat_map(|list| list.iter()).flat_map(|k| text::terms(k)).collect(),
                Field::Answer => answers.iter().flat_map(|a| text::terms(a)).collect(),
                Field::Category => text::terms(&answer.category.replace(['_', '-'], " ")),
            }),
        }
    }

    /// Whether this is the cut of `answer` as it stands (else it must be cut again).
    pub(crate) fn is_of(&self, answer: &StandardAnswer) -> bool {
        self.source == *answer
    }

    /// The terms of one field.
    pub(crate) fn field(&self, field: Field) -> &[Term] {
        &self.fields[field as usize]
    }
}

#[derive(Default)]
struct CacheSlot {
    index: Option<Arc<AnswerIndex>>,
    /// Every active answer's cut, by id: an edit re-cuts one answer, not the library.
    cuts: HashMap<String, Arc<AnswerCut>>,
}

/// The derived index of a state: dropped by `apply` when answers change, rebuilt by the next query.
/// Not serialised (a restored snapshot rebuilds it); a clone starts empty.
#[derive(Default)]
pub(crate) struct IndexCache(Mutex<CacheSlot>);

impl IndexCache {
    /// Forgets the index (called from `apply`, which holds the state exclusively: no lock wait).
    pub(crate) fn invalidate(&mut self) {
        self.0.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).index = None;
    }

    /// The index of `library`, built now if it is missing.
    pub(crate) fn get(&self, library: &Library) -> Arc<AnswerIndex> {
        // A panic while building leaves `None` behind: the next caller simply builds again.
        let mut slot = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let CacheSlot { index, cuts } = &mut *slot;
        Arc::clone(index.get_or_insert_with(|| Arc::new(AnswerIndex::build(library, cuts))))
    }

    #[cfg(test)]
    fn is_built(&self) -> bool {
        self.0.lock().expect("not poisoned in tests").index.is_some()
    }
}

impl Clone for IndexCache {
    fn clone(&self) -> Self {
        IndexCache::default()
    }
}

impl std::fmt::Debug for IndexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexCache")
    }
}

// ---------------------------------------------------------------------------------------------
// Feedback: which answers were used on complaints that ended satisfied.

/// What the customer last said about a complaint's resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Satisfied,
    Unsatisfied,
}

impl Verdict {
    /// The verdict an event gives: `resolution_confirmed`, `revisit_done` (4–5 with the issue gone:
    /// satisfied; 1–2 or the issue persisting: unsatisfied; 3 is no verdict) and `complaint_reopened`
    /// (unsatisfied). A verdict applies to every answer used on the complaint before it.
    pub(crate) fn of(data: &EventData) -> Option<Verdict> {
        match data {
            EventData::ResolutionConfirmed(c) if c.satisfied => Some(Verdict::Satisfied),
            EventData::ResolutionConfirmed(_) | EventData::ComplaintReopened(_) => Some(Verdict::Unsatisfied),
            EventData::RevisitDone(r) if r.issue_persists || r.satisfaction <= 2 => Some(Verdict::Unsatisfied),
            EventData::RevisitDone(r) if r.satisfaction >= 4 => Some(Verdict::Satisfied),
            _ => None,
        }
    }
}

/// How one answer fared: complaints it was used on, by their latest verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerFeedback {
    pub uses: u32,
    pub satisfied: u32,
    pub unsatisfied: u32,
}

impl AnswerFeedback {
    /// The score multiplier: 1 without judged uses, towards `1 ± FEEDBACK_BOOST_MAX` as judged uses
    /// grow, by the (smoothed) share that ended satisfied.
    fn factor(&self) -> f32 {
        let judged = (self.satisfied + self.unsatisfied) as f32;
        let share = (self.satisfied as f32 + 1.0) / (judged + 2.0);
        let confidence = judged / (judged + FEEDBACK_HALF_WEIGHT_USES);
        1.0 + FEEDBACK_BOOST_MAX * confidence * (2.0 * share - 1.0)
    }

    /// Moves one use from the verdict it was credited with (`None`: none yet) to `verdict`.
    fn recredit(&mut self, from: Option<Verdict>, verdict: Verdict) {
        match from {
            Some(Verdict::Satisfied) => self.satisfied = self.satisfied.saturating_sub(1),
            Some(Verdict::Unsatisfied) => self.unsatisfied = self.unsatisfied.saturating_sub(1),
            None => {}
        }
        match verdict {
            Verdict::Satisfied => self.satisfied += 1,
            Verdict::Unsatisfied => self.unsatisfied += 1,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The answer half of the library fold.

/// One suggestion: an answer, its score, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub answer_id: String,
    pub title: String,
    /// The ranking score: comparable within one answer, not across queries.
    pub score: f64,
    /// How likely this answer fits, 0..1, comparable across queries: see [`confidence`].
    pub confidence: f64,
    pub why: String,
    /// The idf-weighted words and bigrams of the query this answer matches, in its own words or in the
    /// complaints it answered well: an input of `confidence`.
    #[serde(skip)]
    pub matched: f32,
    /// The idf-weighted words of the query that this answer's title or keywords hold, in any of its
    /// languages: whether the query names what the answer is about. An input of `confidence`.
    #[serde(skip)]
    pub named: f32,
    /// The score over the best answer's score: an input of `confidence`.
    #[serde(skip)]
    pub relative: f32,
}

/// What a suggestion query asks besides its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuggestOptions<'a> {
    /// Answers of this category get a boost.
    pub category: Option<&'a str>,
    /// At most this many suggestions.
    pub k: usize,
    /// Suggestions below this confidence are left out.
    pub confidence_min: f64,
    /// The reader's language: titles are shown in it where the answer has it.
    pub lang: Option<&'a str>,
}

/// The calibrated probability that a suggestion fits, from how much of the query it matches, how much
/// of the query its title and keywords name, and its score relative to the best one: a logistic
/// (Platt) fit on labelled queries — right answers, wrong answers and off-topic texts; BENCHMARKS.md
/// "Standard answers (issue 11)" gives the data and the fit.
///
/// "Named" is what separates a complaint about the domain from one that only shares its everyday words:
/// an airline delay matches 延误 in a delivery answer's text, but no answer is *titled* by what a
/// complaint from another industry is about, while an English complaint about a missed engineer visit
/// names the title's "engineer" and "visit" even when its prose shares little else with the answer.
pub fn confidence(matched: f32, relative: f32, named: f32) -> f64 {
    let z = CONFIDENCE_MATCHED * (1.0 + matched).ln()
        + CONFIDENCE_RELATIVE * relative
        + CONFIDENCE_NAMED * (1.0 + named).ln()
        + CONFIDENCE_BIAS;
    let p = 1.0 / (1.0 + (-f64::from(z)).exp());
    (p * 1000.0).round() / 1000.0
}

/// The standard answers, how each fared, and the derived index: what `suggestions` ranks. About a
/// thousand answers: held whole in memory, stored one key per answer (and one per answer's counts), and
/// only the answers and counts changed since the last checkpoint are written.
#[derive(Debug, Default)]
pub struct AnswerLibrary {
    library: Library,
    feedback: HashMap<String, AnswerFeedback>,
    index: IndexCache,
    /// What the complaints each answer was used on taught it (derived, never stored).
    evidence: Evidence,
    /// Answers changed since the last checkpoint.
    changed_answers: BTreeSet<String>,
    /// Answers whose feedback changed since the last checkpoint.
    changed_feedback: BTreeSet<String>,
}

impl AnswerLibrary {
    /// Folds a standard-answer event in; returns whether the answers changed (other events: `false`).
    pub(crate) fn apply(&mut self, event: &RecordedEvent) -> bool {
        if !self.library.apply(event) {
            return false;
        }
        let (_, answer_id) = event.stream.kind();
        self.changed_answers.insert(answer_id.to_owned());
        self.index.invalidate();
        true
    }

    /// Counts a first use of `answer_id` on a complaint.
    pub(crate) fn count_use(&mut self, answer_id: &str) {
        self.feedback.entry(answer_id.to_owned()).or_default().uses += 1;
        self.changed_feedback.insert(answer_id.to_owned());
    }

    /// Moves a use of `answer_id` from the verdict it was credited with to `verdict`.
    pub(crate) fn credit(&mut self, answer_id: &str, from: Option<Verdict>, verdict: Verdict) {
        self.feedback.entry(answer_id.to_owned()).or_default().recredit(from, verdict);
        self.changed_feedback.insert(answer_id.to_owned());
    }

    /// The learned evidence, for the fold to teach.
    pub(crate) fn evidence_mut(&mut self) -> &mut Evidence {
        &mut self.evidence
    }

    /// What the complaints taught each answer.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// Puts back what storage held: the answers and their counts.
    pub(crate) fn restore(
        answers: impl IntoIterator<Item = StandardAnswer>,
        feedback: impl IntoIterator<Item = (String, AnswerFeedback)>,
    ) -> AnswerLibrary {
        let mut library = Library::default();
        for answer in answers {
            library.restore(answer);
        }
        AnswerLibrary { library, feedback: feedback.into_iter().collect(), ..AnswerLibrary::default() }
    }

    /// The answers and the feedback changed since the last checkpoint, as they stand now (an answer is
    /// never removed, so each has a value). [`AnswerLibrary::saved`] forgets them once written.
    pub(crate) fn changed(&self) -> (Vec<&StandardAnswer>, Vec<(&str, AnswerFeedback)>) {
        (
            self.changed_answers.iter().filter_map(|id| self.library.get(id)).collect(),
            self.changed_feedback
                .iter()
                .filter_map(|id| self.feedback.get_key_value(id.as_str()))
                .map(|(id, f)| (id.as_str(), *f))
                .collect(),
        )
    }

    /// Marks every change as written.
    pub(crate) fn saved(&mut self) {
        self.changed_answers.clear();
        self.changed_feedback.clear();
    }

    /// The best `k` active answers for `text`, best first; answers of `category` get a boost. No
    /// minimum confidence: [`AnswerLibrary::suggest_with`] applies one.
    pub fn suggest(&self, text: &str, category: Option<&str>, k: usize) -> Vec<Suggestion> {
        self.suggest_with(text, SuggestOptions { category, k, confidence_min: 0.0, lang: detect_lang(text) })
    }

    /// The best `options.k` active answers for `text` whose confidence reaches `options.confidence_min`,
    /// best first.
    ///
    /// An answer's score is its BM25F text score plus its learned score (the words of the complaints
    /// it answered well, [`Evidence::scores`]), times the category boost and the feedback factor. Only
    /// answers with a positive score are returned (possibly none). Ties go to the smaller answer id, so
    /// the same state always gives the same list.
    pub fn suggest_with(&self, text: &str, options: SuggestOptions<'_>) -> Vec<Suggestion> {
        let index = self.index.get(&self.library);
        let (query_terms, written): (Vec<Term>, Vec<Option<String>>) = text::terms_as_written(text).into_iter().unzip();
        // A matched English term is named as the query wrote it.
        let mut as_written: HashMap<&str, &str> = HashMap::new();
        for (term, written) in query_terms.iter().zip(&written) {
            if let Some(written) = written {
                as_written.entry(term.text.as_str()).or_insert(written.as_str());
            }
        }
        let query = index.resolve(&query_terms);
        let mut scores = index.text_scores(&query);
        let distinct = distinct_terms(&query_terms);
        let learned: Vec<(TermKind, &str, f32)> = distinct
            .iter()
            .filter(|(t, _)| t.kind != TermKind::Char)
            .map(|(t, w)| (t.kind, t.text.as_str(), *w))
            .collect();
        let mut history = Vec::new();
        let mut learned_matched = vec![false; learned.len()];
        self.evidence.scores(&learned, &mut history, &mut learned_matched);
        let syms: Vec<Option<u32>> = index.answers.iter().map(|a| self.evidence.lookup(&a.answer_id)).collect();
        for (doc, sym) in syms.iter().enumerate() {
            if let Some(sym) = sym {
                scores[doc] += HISTORY_WEIGHT * history[*sym as usize];
            }
        }
        let mut ranked: Vec<(u32, f32)> = Vec::new();
        for (doc, &base) in scores.iter().enumerate() {
            if base <= 0.0 {
                continue;
            }
            let answer = &index.answers[doc];
            let mut score = base * self.feedback(&answer.answer_id).factor();
            if options.category == Some(answer.category.as_str()) {
                score *= 1.0 + CATEGORY_BOOST;
            }
            ranked.push((doc as u32, score));
        }
        ranked.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| index.answers[a.0 as usize].answer_id.cmp(&index.answers[b.0 as usize].answer_id))
        });
        ranked.truncate(options.k);
        let top = ranked.first().map_or(1.0, |r| r.1);
        // The confidence's evidence: each distinct term weighed by its kind and by how rare it is among
        // the answers or their learned words (a term neither knows matches no answer: it weighs nothing).
        let term_idf: Vec<f32> = distinct
            .iter()
            .map(|(t, _)| {
                let known = index.term_ids.get(t).map_or(0.0, |&id| index.idf[id as usize]);
                let learned = if t.kind == TermKind::Char { 0.0 } else { self.evidence.idf(t.kind, &t.text) };
                known.max(learned)
            })
            .collect();
        ranked
            .into_iter()
            .filter_map(|(doc, score)| {
                let answer = &index.answers[doc as usize];
                let sym = syms[doc as usize];
                let (mut matched, mut named) = (0.0f32, 0.0f32);
                for ((t, w), idf) in distinct.iter().zip(&term_idf) {
                    if t.kind == TermKind::Char {
                        continue;
                    }
                    let fields = index.fields_of(t, doc);
                    if fields != 0 || sym.is_some_and(|sym| self.evidence.supports(t.kind, &t.text, sym)) {
                        matched += w * idf;
                    }
                    if t.kind == TermKind::Word && fields & (Field::Title.bit() | Field::Keywords.bit()) != 0 {
                        named += w * idf;
                    }
                }
                let relative = score / top;
                let confidence = confidence(matched, relative, named);
                let title = self.library.get(&answer.answer_id).map_or("", |a| a.title_in(options.lang));
                (confidence >= options.confidence_min).then(|| Suggestion {
                    answer_id: answer.answer_id.clone(),
                    title: title.to_owned(),
                    score: (f64::from(score) * 1000.0).round() / 1000.0,
                    confidence,
                    why: self.why(&index, &query, doc, options.category, sym.map(|s| history[s as usize]), &as_written),
                    matched,
                    named,
                    relative,
                })
            })
            .collect()
    }

    fn why(
        &self,
        index: &AnswerIndex,
        query: &QueryTerms,
        doc: u32,
        category: Option<&str>,
        learned: Option<f32>,
        as_written: &HashMap<&str, &str>,
    ) -> String {
        let answer = &index.answers[doc as usize];
        let matched = index.matched_terms(query, doc);
        let mut parts = Vec::new();
        if !matched.is_empty() {
            let fields = matched.iter().fold(0u8, |bits, (_, _, f)| bits | f);
            let names: Vec<&str> =
                matched.iter().map(|(t, _, _)| as_written.get(t.as_str()).copied().unwrap_or(t.as_str())).collect();
            let places: Vec<&str> = Field::ALL.iter().filter(|f| fields & f.bit() != 0).map(|f| f.label()).collect();
            parts.push(format!("matches {} in {}", names.join(", "), places.join(", ")));
        }
        if learned.is_some_and(|l| l > 0.0) {
            let (satisfied, _) = self.evidence.judged(&answer.answer_id);
            let plural = if satisfied == 1 { "" } else { "s" };
            parts.push(format!("worded like {satisfied} complaint{plural} it answered well"));
        }
        if category == Some(answer.category.as_str()) {
            parts.push("same category".to_owned());
        }
        let feedback = self.feedback(&answer.answer_id);
        if feedback.satisfied > 0 {
            let plural = if feedback.satisfied == 1 { "" } else { "s" };
            parts.push(format!("used on {} satisfied complaint{plural}", feedback.satisfied));
        }
        if feedback.unsatisfied > 0 {
            let plural = if feedback.unsatisfied == 1 { "" } else { "s" };
            parts.push(format!("{} unsatisfied complaint{plural}", feedback.unsatisfied));
        }
        parts.join("; ")
    }

    /// The answers, retired ones included.
    pub fn library(&self) -> &Library {
        &self.library
    }

    /// How `answer_id` fared (zeros when never used).
    pub fn feedback(&self, answer_id: &str) -> AnswerFeedback {
        self.feedback.get(answer_id).copied().unwrap_or_default()
    }

    #[cfg(test)]
    pub(crate) fn index_is_built(&self) -> bool {
        self.index.is_built()
    }
}

/// The `suggestions` view: query `text` (required), `category` (optional, boosts that category), `k`
/// (1..=20, default 3), `min_confidence` (0..=1, default `confidence_min`: the server's) → `{"suggestions":
/// [{"answer_id", "title", "score", "confidence", "why"}]}`, best first. Retired answers never appear; an
/// unrelated text gets an empty list.
///
/// Errors: [`ProjectionError::BadQuery`] for a missing or too long text, a bad `k` or `min_confidence`, or
/// an unknown parameter.
pub fn view(answers: &AnswerLibrary, query: &Query, confidence_min: f64) -> Result<Value, ProjectionError> {
    query.only(&["text", "category", "k", "min_confidence", "lang"])?;
    let text = query.get("text").ok_or_else(|| ProjectionError::BadQuery("text is required".into()))?;
    let chars = text.chars().count();
    if chars > QUERY_TEXT_CHARS_MAX {
        return Err(ProjectionError::BadQuery(format!(
            "text has {chars} characters, the limit is {QUERY_TEXT_CHARS_MAX}"
        )));
    }
    let k = query.parse::<usize>("k")?.unwrap_or(SUGGESTIONS_DEFAULT);
    if !(1..=SUGGESTIONS_MAX).contains(&k) {
        return Err(ProjectionError::BadQuery(format!("k: {k} is not in 1..={SUGGESTIONS_MAX}")));
    }
    let confidence_min = query.parse::<f64>("min_confidence")?.unwrap_or(confidence_min);
    if !(0.0..=1.0).contains(&confidence_min) {
        return Err(ProjectionError::BadQuery(format!("min_confidence: {confidence_min} is not in 0..=1")));
    }
    let lang = match query.get("lang") {
        Some(lang) if redress_schemas::is_language_tag(lang) => Some(lang),
        Some(lang) => {
            return Err(ProjectionError::BadQuery(format!(
                "lang: {lang:?} is not a language tag (BCP 47: \"en\", \"zh\", \"zh-Hant\")"
            )))
        }
        None => detect_lang(text),
    };
    let options = SuggestOptions { category: query.get("category"), k, confidence_min, lang };
    Ok(json!({ "lang": lang, "suggestions": answers.suggest_with(text, options) }))
}

/// Events for the tests of this module, of [`crate::answer_gaps`] and of [`crate::library`].
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::library::{LibraryFold, LibraryState};
    use crate::Fold;
    use redress_schemas::{
        ComplaintReceived, ComplaintReopened, EventData, RecordedEvent, ResolutionConfirmed, RevisitDone, RevisitVia,
        StandardAnswerPublished, StandardAnswerRetired, StandardAnswerRevised, StandardAnswerUsed, StreamName,
    };

    /// A log being written: each event gets the next position.
    #[derive(Default)]
    pub(crate) struct Log {
        pub(crate) events: Vec<RecordedEvent>,
    }

    impl Log {
        fn push(&mut self, stream: StreamName, data: EventData) -> &mut Self {
            let position = self.events.len() as u64;
            self.events.push(crate::library::eval::recorded(position, stream, data));
            self
        }

        pub(crate) fn publish(
            &mut self,
            id: &str,
            category: &str,
            title: &str,
            answer: &str,
            keywords: &[&str],
        ) -> &mut Self {
            let data = EventData::StandardAnswerPublished(StandardAnswerPublished {
                answer_id: id.into(),
                category: category.into(),
                title: title.into(),
                answer: answer.into(),
                keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
                translations: None,
            });
            self.push(StreamName::standard_answer(id).expect("valid id"), data)
        }

        /// `A-1`: wrong invoices (billing).
        pub(crate) fn invoice_answer(&mut self) -> &mut Self {
            self.publish(
                "A-1",
                "billing",
                "发票开错 / Wrong invoice",
                "请提供正确的发票抬头和税号，我们将重新开具。",
                &["发票", "抬头", "税号"],
            )
        }

        /// `A-3`: swollen batteries (product_quality).
        pub(crate) fn battery_answer(&mut self) -> &mut Self {
            self.publish(
                "A-3",
                "product_quality",
                "电池鼓包 / Swollen battery",
                "电池鼓包请停止使用，我们免费更换电池。",
                &["电池", "鼓包"],
            )
        }

        pub(crate) fn revise(&mut self, id: &str, revision: StandardAnswerRevised) -> &mut Self {
            self.push(StreamName::standard_answer(id).expect("valid id"), EventData::StandardAnswerRevised(revision))
        }

        pub(crate) fn retire(&mut self, id: &str) -> &mut Self {
            let data = EventData::StandardAnswerRetired(StandardAnswerRetired { reason: "outdated".into() });
            self.push(StreamName::standard_answer(id).expect("valid id"), data)
        }

        pub(crate) fn receive(&mut self, complaint: &str, category: &str, description: &str) -> &mut Self {
            let data = EventData::ComplaintReceived(ComplaintReceived {
                complaint_id: complaint.into(),
                customer_id: "K-1".into(),
                channel: redress_schemas::Channel::Hotline,
                category: category.into(),
                severity: redress_schemas::Severity::Normal,
                description: description.into(),
                product: None,
                customer_tier: None,
            });
            self.push(StreamName::complaint(complaint).expect("valid id"), data)
        }

        pub(crate) fn use_answer(&mut self, complaint: &str, answer: &str) -> &mut Self {
            let data = EventData::StandardAnswerUsed(StandardAnswerUsed { answer_id: answer.into() });
            self.push(StreamName::complaint(complaint).expect("valid id"), data)
        }

        pub(crate) fn confirm(&mut self, complaint: &str, satisfied: bool) -> &mut Self {
            let data = EventData::ResolutionConfirmed(ResolutionConfirmed { satisfied, comment: None, via: None });
            self.push(StreamName::complaint(complaint).expect("valid id"), data)
        }

        pub(crate) fn revisit(&mut self, complaint: &str, satisfaction: u8, issue_persists: bool) -> &mut Self {
            let data = EventData::RevisitDone(RevisitDone {
                via: RevisitVia::Phone,
                satisfaction,
                issue_persists,
                note: None,
            });
            self.push(StreamName::complaint(complaint).expect("valid id"), data)
        }

        pub(crate) fn reopen(&mut self, complaint: &str) -> &mut Self {
            let data = EventData::ComplaintReopened(ComplaintReopened { reason: "came back".into() });
            self.push(StreamName::complaint(complaint).expect("valid id"), data)
        }
    }

    /// The library fold's state after every event of `log` (each must apply).
    pub(crate) fn fold(log: &Log) -> LibraryState {
        let mut state = LibraryState::default();
        for event in &log.events {
            LibraryFold::default().apply(&mut state, event).expect("applies");
        }
        state
    }

    /// The shared standard answers as `(answer_id, category, title, answer, keywords)`.
    pub(crate) fn shared_answers() -> Vec<(String, String, String, String, Vec<String>)> {
        include_str!("../../../shared/data/qa-standard-answers.jsonl")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                let keywords = v["keywords_zh"]
                    .as_array()
                    .map_or_else(Vec::new, |a| a.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect());
                (
                    s("answer_id"),
                    s("category"),
                    format!("{} / {}", s("title_zh"), s("title_en")),
                    s("answer_zh"),
                    keywords,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{fold, shared_answers, Log};
    use super::*;
    use crate::Fold;
    use redress_schemas::{StandardAnswerRevised, Timestamp};

    fn ids(state: &crate::library::LibraryState, text: &str, category: Option<&str>) -> Vec<String> {
        state.answers().suggest(text, category, 3).into_iter().map(|s| s.answer_id).collect()
    }

    /// Three answers with little in common.
    fn library() -> Log {
        let mut log = Log::default();
        log.invoice_answer()
            .publish(
                "A-2",
                "delivery",
                "配送延迟 / Late delivery",
                "我们会联系物流核实包裹位置，并通知预计送达时间。",
                &["配送延迟", "物流"],
            )
            .publish(
                "A-3",
                "product_quality",
                "打印机卡纸 / Printer paper jams",
                "请清理搓纸轮和进纸通道。",
                &["打印机", "卡纸"],
            );
        log
    }

    /// Two answers with the same text: only category or feedback can separate them.
    fn twins() -> Log {
        let mut log = Log::default();
        for (id, category) in [("T-1", "repair"), ("T-2", "warranty")] {
            log.publish(id, category, "维修后屏幕又坏了", "我们将免费返修。", &["返修"]);
        }
        log
    }

    /// Complaints `ids` received (the store accepts an answer's use or a verdict only on a received one).
    fn received(log: &mut Log, ids: &[&str]) {
        for id in ids {
            log.receive(id, "repair", "屏幕坏了");
        }
    }

    #[test]
    fn published_answers_are_ranked_by_text() {
        let state = fold(&library());
        assert_eq!(ids(&state, "打印机老是卡纸", None), ["A-3"]);
        assert_eq!(ids(&state, "发票抬头开错了", None), ["A-1"]);
        assert_eq!(ids(&state, "物流三天没动，什么时候送达？", None)[0], "A-2");
        assert!(ids(&state, "zzz", None).is_empty(), "nothing shared, nothing suggested");
    }

    #[test]
    fn a_retired_answer_never_appears() {
        let mut log = library();
        log.retire("A-3");
        let state = fold(&log);
        assert!(ids(&state, "打印机老是卡纸", None).iter().all(|id| id != "A-3"));
        assert!(state.answers().library().get("A-3").is_some_and(|a| a.retired));
    }

    #[test]
    fn a_revision_replaces_the_text_matched() {
        let mut log = library();
        let revision = StandardAnswerRevised {
            title: Some("上门安装 / Installation".into()),
            answer: Some("安排工程师上门重新安装调试。".into()),
            keywords: Some(vec!["安装".into(), "调试".into()]),
            category: Some("installation".into()),
            translations: None,
        };
        log.revise("A-3", revision);
        let state = fold(&log);
        assert!(ids(&state, "打印机老是卡纸", None).is_empty(), "the old text no longer matches");
        assert_eq!(ids(&state, "安装师傅没调试就走了", None), ["A-3"]);
        assert_eq!(state.answers().suggest("安装", None, 1)[0].title, "上门安装 / Installation");
    }

    fn english(title: &str, answer: &str, keywords: &[&str]) -> redress_schemas::Translations {
        let translation = AnswerTranslation {
            title: title.into(),
            answer: answer.into(),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        };
        [("en".to_owned(), translation)].into()
    }

    /// A revision that gives `translations` and nothing else.
    fn only_translations(translations: redress_schemas::Translations) -> StandardAnswerRevised {
        StandardAnswerRevised {
            title: None,
            answer: None,
            keywords: None,
            category: None,
            translations: Some(translations),
        }
    }

    #[test]
    fn an_answer_is_matched_in_every_language_it_has_and_titled_in_the_readers() {
        let mut log = Log::default();
        log.publish("A-1", "repair", "维修后数据丢失", "请先不要写入新数据，我们安排数据恢复。", &["数据丢失", "备份"])
            .publish("A-2", "delivery", "配送延迟", "我们会联系物流核实包裹位置。", &["配送延迟", "物流"]);
        let query = "the service desk wiped my files";
        assert!(ids(&fold(&log), query, None).is_empty(), "no English yet: nothing matches");

        log.revise(
            "A-1",
            only_translations(english(
                "Data lost during repair",
                "Do not write new data; we arrange data recovery.",
                &["files gone", "wiped", "data recovery"],
            )),
        );
        let state = fold(&log);
        assert_eq!(ids(&state, query, None), ["A-1"], "the English translation matches");
        assert_eq!(ids(&state, "维修以后数据丢失了", None)[0], "A-1", "the Chinese text still matches");
        let titled = |text: &str, lang: Option<&str>| {
            let options = SuggestOptions { category: None, k: 1, confidence_min: 0.0, lang };
            state.answers().suggest_with(text, options)[0].title.clone()
        };
        assert_eq!(titled(query, Some("en")), "Data lost during repair");
        assert_eq!(titled(query, Some("en-GB")), "Data lost during repair", "the primary language is enough");
        assert_eq!(titled(query, Some("zh")), "维修后数据丢失", "no zh translation: the answer's own title");
        assert_eq!(titled(query, None), "维修后数据丢失");

        // A later revision of one language replaces that language only.
        log.revise(
            "A-1",
            only_translations(english("Lost files after a repair", "We recover what we can.", &["lost files"])),
        );
        let state = fold(&log);
        let answer = state.answers().library().get("A-1").expect("published");
        assert_eq!(answer.title_in(Some("en")), "Lost files after a repair");
        assert_eq!(answer.title, "维修后数据丢失");
        assert!(ids(&state, "the shop wiped everything", None).is_empty(), "the old English is gone");
    }

    #[test]
    fn the_language_of_a_query_is_detected_unless_given() {
        assert_eq!(detect_lang("打印机一直卡纸"), Some("zh"));
        assert_eq!(detect_lang("My laptop arrived with a cracked screen"), Some("en"));
        assert_eq!(detect_lang("LX-14 笔记本屏幕碎了"), Some("zh"), "a model number does not make it English");
        assert_eq!(detect_lang("12345 !!!"), None);
        let state = fold(&library());
        let answer = |query: Query| view(state.answers(), &query, 0.0).map(|v| v["lang"].clone());
        let at = || Query::at(redress_schemas::Timestamp::from_unix_nanos(0));
        assert_eq!(answer(at().with("text", "printer jam")).unwrap(), "en");
        assert_eq!(answer(at().with("text", "printer jam").with("lang", "zh-Hant")).unwrap(), "zh-Hant");
        assert!(matches!(
            answer(at().with("text", "printer jam").with("lang", "english!")),
            Err(ProjectionError::BadQuery(_))
        ));
    }

    #[test]
    fn traditional_and_full_width_input_match_like_simplified() {
        let state = fold(&library());
        let simplified = state.answers().suggest("发票抬头开错了", None, 3);
        let traditional = state.answers().suggest("發票擡頭開錯了", None, 3);
        assert_eq!(simplified, traditional);
        assert_eq!(ids(&state, "ＰＲＩＮＴＥＲ ＰＡＰＥＲ ＪＡＭ", None), ["A-3"]);
        assert_eq!(ids(&state, "My printer keeps jamming", None), ["A-3"]);
        // The reason names the words as the complaint wrote them, never a stem ("jam" for "jamming").
        let why = &state.answers().suggest("My printers keep jamming", None, 1)[0].why;
        let named = why.strip_prefix("matches ").and_then(|w| w.split(" in ").next()).expect("a match");
        let mut named: Vec<&str> = named.split(", ").collect();
        named.sort_unstable();
        assert_eq!(named, ["jamming", "printers"], "{why}");
    }

    #[test]
    fn the_category_boosts_without_filtering() {
        let state = fold(&twins());
        assert_eq!(ids(&state, "屏幕又坏了", None), ["T-1", "T-2"], "a tie goes to the smaller id");
        assert_eq!(ids(&state, "屏幕又坏了", Some("warranty")), ["T-2", "T-1"]);
        assert_eq!(ids(&state, "屏幕又坏了", Some("billing")), ["T-1", "T-2"], "no answer dropped");
        let why = &state.answers().suggest("屏幕又坏了", Some("warranty"), 1)[0].why;
        assert!(why.contains("same category"), "{why}");
        assert!(why.contains("屏幕"), "{why}");
    }

    #[test]
    fn answers_used_on_satisfied_complaints_rank_higher() {
        let mut log = twins();
        received(&mut log, &["C-1", "C-2"]);
        for c in ["C-1", "C-2"] {
            log.use_answer(c, "T-2").confirm(c, true);
        }
        let state = fold(&log);
        assert_eq!(ids(&state, "屏幕又坏了", None), ["T-2", "T-1"]);
        assert_eq!(state.answers().feedback("T-2"), AnswerFeedback { uses: 2, satisfied: 2, unsatisfied: 0 });
        let why = &state.answers().suggest("屏幕又坏了", None, 1)[0].why;
        assert!(why.ends_with("used on 2 satisfied complaints"), "{why}");
    }

    #[test]
    fn feedback_is_bounded_by_text_relevance() {
        let mut log = library();
        for n in 0..200 {
            let c = format!("C-{n}");
            log.receive(&c, "delivery", "快递三天了还没到").use_answer(&c, "A-2").confirm(&c, true);
        }
        let state = fold(&log);
        let factor = state.answers().feedback("A-2").factor();
        assert!(factor > 1.2 && factor <= 1.0 + FEEDBACK_BOOST_MAX, "{factor}");
        // "打印机" matches A-3 strongly and A-2 (送达, 物流) not at all; feedback cannot invent a match.
        assert_eq!(ids(&state, "打印机老是卡纸", None), ["A-3"]);
    }

    #[test]
    fn unsatisfied_outcomes_count_against_and_verdicts_can_change() {
        let mut log = twins();
        received(&mut log, &["C-1", "C-2"]);
        log.use_answer("C-1", "T-1").confirm("C-1", false);
        log.use_answer("C-2", "T-1").revisit("C-2", 1, true);
        let state = fold(&log);
        assert_eq!(state.answers().feedback("T-1"), AnswerFeedback { uses: 2, satisfied: 0, unsatisfied: 2 });
        assert_eq!(ids(&state, "屏幕又坏了", None), ["T-2", "T-1"]);

        // The customer later confirms: the verdict moves, the counts follow.
        log.confirm("C-1", true).revisit("C-2", 5, false);
        let state = fold(&log);
        assert_eq!(state.answers().feedback("T-1"), AnswerFeedback { uses: 2, satisfied: 2, unsatisfied: 0 });
        log.reopen("C-1");
        assert_eq!(fold(&log).answers().feedback("T-1"), AnswerFeedback { uses: 2, satisfied: 1, unsatisfied: 1 });
    }

    #[test]
    fn an_answer_used_after_the_verdict_waits_for_the_next_one() {
        let mut log = twins();
        received(&mut log, &["C-1"]);
        log.use_answer("C-1", "T-1").confirm("C-1", true).use_answer("C-1", "T-2").use_answer("C-1", "T-2");
        let state = fold(&log);
        assert_eq!(state.answers().feedback("T-1"), AnswerFeedback { uses: 1, satisfied: 1, unsatisfied: 0 });
        assert_eq!(state.answers().feedback("T-2"), AnswerFeedback { uses: 1, satisfied: 0, unsatisfied: 0 });
        log.revisit("C-1", 3, false);
        assert_eq!(fold(&log).answers().feedback("T-2").satisfied, 0, "a middling grade is no verdict");
        log.revisit("C-1", 4, false);
        assert_eq!(fold(&log).answers().feedback("T-2").satisfied, 1);
    }

    #[test]
    fn a_verdict_on_a_complaint_without_answers_counts_nothing() {
        let mut log = twins();
        received(&mut log, &["C-1"]);
        log.confirm("C-1", true).reopen("C-1");
        let state = fold(&log);
        assert_eq!(state.answers().feedback("T-1"), AnswerFeedback::default());
    }

    #[test]
    fn applying_only_drops_the_index_and_the_next_query_rebuilds_it() {
        let mut log = library();
        log.receive("C-1", "product_quality", "打印机卡纸");
        let mut state = fold(&log);
        assert!(!state.answers().index_is_built(), "no index is built while applying");
        assert_eq!(ids(&state, "打印机卡纸", None), ["A-3"]);
        assert!(state.answers().index_is_built());
        log.use_answer("C-1", "A-3");
        let fold = crate::library::LibraryFold::default();
        fold.apply(&mut state, log.events.last().expect("just pushed")).expect("applies");
        assert!(state.answers().index_is_built(), "feedback leaves the index alone");
        log.retire("A-3");
        fold.apply(&mut state, log.events.last().expect("just pushed")).expect("applies");
        assert!(!state.answers().index_is_built());
        assert!(ids(&state, "打印机卡纸", None).is_empty());
    }

    #[test]
    fn the_view_renders_the_api_shape_and_refuses_bad_parameters() {
        let state = fold(&library());
        let at = Timestamp::parse("2026-03-02T00:00:00Z").expect("valid");
        let query = Query::at(at).with("text", "打印机卡纸").with("k", "1");
        let answer = view(state.answers(), &query, CONFIDENCE_MIN_DEFAULT).expect("answers");
        assert_eq!(answer["suggestions"][0]["answer_id"], "A-3");
        assert_eq!(answer["suggestions"][0]["title"], "打印机卡纸 / Printer paper jams");
        assert!(answer["suggestions"][0]["score"].as_f64().is_some_and(|s| s > 0.0));
        assert!(answer["suggestions"][0]["why"].as_str().is_some_and(|w| w.contains("打印机")));
        let confidence = answer["suggestions"][0]["confidence"].as_f64().expect("a confidence");
        assert!(confidence > CONFIDENCE_MIN_DEFAULT && confidence <= 1.0, "{confidence}");
        let strict = Query::at(at).with("text", "打印机卡纸").with("min_confidence", "1");
        assert_eq!(view(state.answers(), &strict, 0.0).expect("answers")["suggestions"], json!([]));
        for bad in [
            Query::at(at),
            Query::at(at).with("text", "x").with("k", "0"),
            Query::at(at).with("text", "x").with("k", "21"),
            Query::at(at).with("text", "x").with("k", "three"),
            Query::at(at).with("text", "x").with("limit", "3"),
            Query::at(at).with("text", &"长".repeat(QUERY_TEXT_CHARS_MAX + 1)),
            Query::at(at).with("text", "x").with("min_confidence", "1.5"),
            Query::at(at).with("text", "x").with("min_confidence", "-0.1"),
            Query::at(at).with("text", "x").with("min_confidence", "high"),
        ] {
            let result = view(state.answers(), &bad, CONFIDENCE_MIN_DEFAULT);
            assert!(matches!(result, Err(ProjectionError::BadQuery(_))), "{:?}: {result:?}", bad.params);
        }
    }

    /// The development set as a regression guard (the example `suggestion_quality` prints the details).
    #[test]
    fn dev_set_quality_meets_the_targets() {
        let mut log = Log::default();
        for (id, category, title, answer, keywords) in shared_answers() {
            let keywords: Vec<&str> = keywords.iter().map(String::as_str).collect();
            log.publish(&id, &category, &title, &answer, &keywords);
        }
        let state = fold(&log);
        let (mut cases, mut top1, mut top3) = (0, 0, 0);
        for line in include_str!("../../../shared/data/qa-eval-dev.jsonl").lines().filter(|l| !l.trim().is_empty()) {
            let case: Value = serde_json::from_str(line).expect("a JSON line");
            let found = ids(&state, case["text"].as_str().unwrap_or_default(), case["category"].as_str());
            let expected = case["expected_answer_id"].as_str().unwrap_or_default();
            cases += 1;
            top1 += usize::from(found.first().is_some_and(|id| id == expected));
            top3 += usize::from(found.iter().any(|id| id == expected));
        }
        assert!(cases > 0);
        assert!(top1 * 100 >= cases * 75, "top-1 {top1}/{cases}");
        assert!(top3 * 100 >= cases * 90, "recall@3 {top3}/{cases}");
    }
}
