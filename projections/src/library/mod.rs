//! The library fold: the standard-answer library and what complaints did with it, folded once, serving
//! `suggestions` and `answer-gaps` from one state at one position.
//!
//! # What it holds
//!
//! Two halves, both in memory, both stored keyed so a checkpoint writes only what changed:
//!
//! - **The answers** ([`AnswerLibrary`], about a thousand): every answer as published and revised, and
//!   per answer its feedback counts (uses, satisfied, unsatisfied). Stored one key per answer (`a` + id)
//!   and one per answer's counts (`n` + id). The BM25F index `suggestions` ranks with is derived and never
//!   stored: the first query after an answer changes rebuilds it, re-cutting only the changed answers.
//! - **The complaints** ([`GapModel`]), every one, compactly: its id, category, the answers used on it with
//!   the verdict credited to each (the feedback the counts are made of), its nearest answer and that
//!   similarity, and its words and bigrams as a vector of term ids — cut once, when the complaint arrives,
//!   and never again. Stored in chunks of [`COMPLAINTS_PER_CHUNK`] complaints by arrival (`g` + chunk
//!   number); the term table in chunks of 1,024 terms (`t` + chunk number); category and answer symbols and
//!   re-judging progress in one small key (`m`). A new complaint rewrites its (last) chunk, a verdict or
//!   an answer used rewrites that complaint's chunk, nothing else.
//!
//! From those the fold derives, in memory and again at open (never stored): per word, how many
//! complaints and how many uncovered complaints hold it; per (category, word), the complaints holding it
//! and how many are uncovered; a bit per complaint saying it is uncovered; per term, how many active
//! answers use it; per category, a coverage index of its active answers (built when first needed after
//! they change).
//!
//! Memory is about 300–350 bytes a complaint (`GapModel::heap_bytes` counts it; the example
//! `suggestion_quality` prints it): ~160 for the complaint itself — id and its end, the id map entry, the
//! 20-byte record, the term vector (~2 bytes a term: gaps between sorted ids as varints) and its end —
//! ~115 for its words in the (category, word) lists (4 bytes a word, with the lists' spare capacity), and
//! the vocabulary (term table and per-term counts), which grows with the words in use, not the count.
//!
//! # Per event
//!
//! - `complaint_received`: the text is cut (jieba words and character bigrams, the one costly step,
//!   once per complaint), its terms interned, it is judged against its category's index (a few dozen
//!   lookups), and added to the aggregates.
//! - `standard_answer_used`, `resolution_confirmed`, `revisit_done`, `complaint_reopened`: a lookup of the
//!   complaint and a few counters. Never a text cut, never a similarity.
//! - `standard_answer_published/revised/retired` (a few dozen a year): the answer's record; its terms are
//!   interned (here, in log order, so a rebuild gives every term the same id) and counted out and in
//!   again; when its activity changes, the complaints that used it are re-counted (a scan of the
//!   records, a bit test each); the categories it left or joined get their coverage index rebuilt when
//!   next needed, and their complaints are *queued* for re-judging. Nothing here grows with the size of
//!   the library, so loading a thousand answers costs a thousand times one.
//!
//! # Coverage, and how fresh it is
//!
//! A complaint is covered when an active answer was used on it, or its text's cosine similarity to an
//! active answer **of its category** reaches [`crate::answer_gaps::COVERAGE_SIMILARITY_MIN`] (tf-idf over
//! words and bigrams, idf counted among that category's answers). Coverage is therefore a function of the
//! complaint and its category's current answers only: a library change touches only its categories, and
//! re-judging a complaint gives the same result whenever it runs. That is what lets the work be lazy and
//! still answer exactly as a rebuild from position 0 does: each category keeps the range of complaints
//! still to re-judge, drained in arrival order by at most [`REJUDGE_PER_CHECKPOINT`] complaints at each
//! checkpoint and [`REJUDGE_PER_QUERY`] at each `answer-gaps` query (about 1–2 µs each). Until the queue
//! is empty, those complaints keep their previous judgement, and every `answer-gaps` answer says how
//! many are still queued (`coverage_pending`; 0: exact). Complaints arriving after the change are judged
//! on arrival against the new answers.
//!
//! # Answering
//!
//! `suggestions` reads the answers only. `answer-gaps` groups the uncovered complaints greedily by
//! (category, word) — a word no active answer uses, held mostly by uncovered complaints — starting from
//! the (category, word) counts and reading only the lists of the words that can name a theme; the themes
//! of one state and one set of parameters are computed once and reused by later pages and queries (a
//! generation counter says when the state changed). Rendering a page reads its themes' most recent
//! complaints' vectors, at most [`crate::answer_gaps::TOP_TERMS_SAMPLE_MAX`] per theme.

pub(crate) mod coverage;
pub mod eval;
mod evidence;
pub(crate) mod terms;

#[cfg(test)]
mod tests;

pub use crate::answer_gaps::{GapModel, COMPLAINTS_PER_CHUNK};
pub use crate::suggestions::AnswerLibrary;
pub use evidence::{Evidence, EVIDENCE_PAIRS_MAX};

use crate::fold::{Anomaly, Change, Fold, Key, StateReader};
use crate::projection::{ProjectionError, Query};
use crate::suggestions::{AnswerFeedback, StandardAnswer, Verdict};
use async_trait::async_trait;
use redress_schemas::{codec, EventData, EventType, RecordedEvent, StreamKind};
use serde_json::Value;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Complaints re-judged at most at each checkpoint while a library change is being taken in (about
/// 75 ms of the fold's write lock, at most once a second while live).
pub const REJUDGE_PER_CHECKPOINT: usize = 50_000;
/// Complaints re-judged at most by one `answer-gaps` query (so a quiet log still catches up, and small
/// ones are always exact), about 15 ms.
pub const REJUDGE_PER_QUERY: usize = 10_000;

/// Key prefix of an answer, of an answer's feedback counts.
const ANSWER: u8 = b'a';
const FEEDBACK: u8 = b'n';

/// The views of the library fold.
pub const VIEWS: [&str; 2] = ["suggestions", "answer-gaps"];

/// The library fold (`library`): the standard answers and the complaints' use of them.
#[derive(Debug, Clone, Copy)]
pub struct LibraryFold {
    /// Complaints re-judged at most at each checkpoint after an answer change.
    pub rejudge_per_checkpoint: usize,
    /// Complaints re-judged at most by one `answer-gaps` query.
    pub rejudge_per_query: usize,
    /// `suggestions` leaves out answers below this confidence when the query gives no
    /// `min_confidence` (`redress serve --suggestion-confidence-min`).
    pub confidence_min: f64,
}

impl Default for LibraryFold {
    fn default() -> Self {
        LibraryFold {
            rejudge_per_checkpoint: REJUDGE_PER_CHECKPOINT,
            rejudge_per_query: REJUDGE_PER_QUERY,
            confidence_min: crate::suggestions::CONFIDENCE_MIN_DEFAULT,
        }
    }
}

/// What the library fold holds.
#[derive(Default)]
pub struct LibraryState {
    answers: AnswerLibrary,
    /// Behind a lock because a query may re-judge queued complaints (and caches its themes); `apply` and
    /// checkpoints own the state and reach it without locking.
    gaps: Mutex<GapModel>,
}

impl LibraryState {
    /// The answers and their feedback.
    pub fn answers(&self) -> &AnswerLibrary {
        &self.answers
    }

    /// The complaints' gap model (locked: `answer-gaps` queries wait for each other, never for `apply`).
    pub fn gaps(&self) -> MutexGuard<'_, GapModel> {
        // A panic while the lock was held was a bug in a query; what it left is still the best state.
        self.gaps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn gaps_mut(&mut self) -> &mut GapModel {
        self.gaps.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

fn key(prefix: u8, id: &str) -> Key {
    let mut key = Vec::with_capacity(id.len() + 1);
    key.push(prefix);
    key.extend_from_slice(id.as_bytes());
    key
}

fn id_of(key: &[u8]) -> Result<&str, ProjectionError> {
    std::str::from_utf8(&key[1..]).map_err(|_| terms::corrupt(format!("key {key:?} is not text")))
}

async fn stored_answers(
    stored: &dyn StateReader,
) -> Result<(Vec<StandardAnswer>, Vec<(String, AnswerFeedback)>), ProjectionError> {
    let mut answers = Vec::new();
    let mut feedback = Vec::new();
    for (prefix, page_size) in [(ANSWER, 1_000), (FEEDBACK, 1_000)] {
        let mut after: Option<Key> = None;
        loop {
            let page = stored.scan(&[prefix], after.as_deref(), page_size).await?;
            for (key, bytes) in &page {
                match prefix {
                    ANSWER => answers.push(codec::decode_snapshot::<StandardAnswer>(bytes)?),
                    _ => feedback.push((id_of(key)?.to_owned(), codec::decode_snapshot::<AnswerFeedback>(bytes)?)),
                }
            }
            match page.last() {
                Some((last, _)) if page.len() == page_size => after = Some(last.clone()),
                _ => break,
            }
        }
    }
    Ok((answers, feedback))
}

#[async_trait]
impl Fold for LibraryFold {
    type State = LibraryState;

    fn name(&self) -> &'static str {
        "library"
    }

    /// 2: answers keep their `translations` (the stored answer's layout changed). 3: stored terms
    /// keep their words as written, and answer gaps group by theme key (word or glossary concept).
    fn version(&self) -> u32 {
        3
    }

    fn event_types(&self) -> Option<Vec<EventType>> {
        Some(vec![
            EventType::StandardAnswerPublished,
            EventType::StandardAnswerRevised,
            EventType::StandardAnswerRetired,
            EventType::ComplaintReceived,
            EventType::StandardAnswerUsed,
            EventType::ResolutionConfirmed,
            EventType::RevisitDone,
            EventType::ComplaintReopened,
        ])
    }

    fn views(&self) -> Vec<&'static str> {
        VIEWS.to_vec()
    }

    async fn open(&self, stored: &dyn StateReader) -> Result<LibraryState, ProjectionError> {
        let (answers, feedback) = stored_answers(stored).await?;
        let mut answers = AnswerLibrary::restore(answers, feedback);
        let gaps = GapModel::open(stored, answers.library()).await?;
        // The learned evidence is derived, never stored: the complaints and their credits are.
        gaps.for_each_credit(|answer_id, terms, verdict| answers.evidence_mut().learn(answer_id, terms, None, verdict));
        Ok(LibraryState { answers, gaps: Mutex::new(gaps) })
    }

    fn apply(&self, state: &mut LibraryState, event: &RecordedEvent) -> Result<(), Anomaly> {
        match event.stream.kind() {
            (StreamKind::StandardAnswer, answer_id) => {
                // A revision or retirement of an answer never published is ignored (an "as of occurred"
                // replay may cut the publication and keep a later-dated revision).
                if state.answers.apply(event) {
                    let LibraryState { answers, gaps } = state;
                    let gaps = gaps.get_mut().unwrap_or_else(PoisonError::into_inner);
                    gaps.answer_changed(answer_id, answers.library())?;
                }
                Ok(())
            }
            (StreamKind::Complaint, complaint_id) => match &event.data {
                EventData::ComplaintReceived(received) => {
                    state.gaps_mut().receive(complaint_id, &received.category, &received.description)
                }
                EventData::StandardAnswerUsed(used) => {
                    if state.gaps_mut().use_answer(complaint_id, &used.answer_id)? {
                        state.answers.count_use(&used.answer_id);
                    }
                    Ok(())
                }
                data => {
                    if let Some(verdict) = Verdict::of(data) {
                        let credited = state.gaps_mut().credit(complaint_id, verdict);
                        if !credited.is_empty() {
                            let terms = state.gaps_mut().complaint_terms(complaint_id);
                            for (answer_id, from) in credited {
                                state.answers.credit(&answer_id, from, verdict);
                                state.answers.evidence_mut().learn(&answer_id, &terms, from, verdict);
                            }
                        }
                    }
                    Ok(())
                }
            },
            _ => Ok(()),
        }
    }

    fn take_changes(&self, state: &mut LibraryState) -> Result<Vec<Change>, ProjectionError> {
        let LibraryState { answers, gaps } = state;
        let gaps = gaps.get_mut().unwrap_or_else(PoisonError::into_inner);
        gaps.drain(self.rejudge_per_checkpoint);
        let mut changes = Vec::new();
        let (changed_answers, changed_feedback) = answers.changed();
        for answer in changed_answers {
            changes.push((key(ANSWER, &answer.answer_id), Some(codec::encode_snapshot(answer)?)));
        }
        for (answer_id, feedback) in changed_feedback {
            changes.push((key(FEEDBACK, answer_id), Some(codec::encode_snapshot(&feedback)?)));
        }
        gaps.changes(&mut changes)?;
        // Everything is encoded: only now is it marked written (a failed encoding loses nothing).
        answers.saved();
        gaps.saved();
        Ok(changes)
    }

    async fn query(
        &self,
        state: &LibraryState,
        _stored: &dyn StateReader,
        view: &str,
        query: &Query,
    ) -> Result<Value, ProjectionError> {
        match view {
            "suggestions" => crate::suggestions::view(&state.answers, query, self.confidence_min),
            "answer-gaps" => {
                let mut gaps = state.gaps();
                gaps.drain(self.rejudge_per_query);
                crate::answer_gaps::view(&mut gaps, query)
            }
            other => Err(ProjectionError::Unknown(other.to_owned())),
        }
    }
}
