//! `answer-gaps`: recurring complaint themes that no standard answer covers, so the desk knows which
//! standard answer to write next.
//!
//! A complaint is *uncovered* when no standard answer was used on it (a retired one does not count),
//! and either its category has no active answer or its text is not similar to any active answer (best
//! tf-idf cosine over words and bigrams below [`COVERAGE_SIMILARITY_MIN`]). Lexical similarity alone is
//! a weak judge of coverage (a complaint and its answer often share few words), so a theme must also
//! rest on a term that *no* active answer uses and that mostly uncovered complaints use: uncovered
//! complaints are grouped by category and such a shared salient term — greedily, the (category, term) shared by the most uncovered complaints,
//! weighted by how specific the term is across all recent complaints, makes a theme of those
//! complaints, which then leave the pool. Themes smaller than `min_count` are not reported.
//!
//! Only the most recent [`GAP_COMPLAINTS_MAX`] complaints are kept: gaps are about what the desk faces
//! now, and the bound keeps both the state and the query's work finite.

use crate::projection::{Projection, ProjectionError, Query};
use crate::suggestions::{AnswerIndex, IndexCache, Library};
use crate::text::{self, Term, TermKind};
use async_trait::async_trait;
use redress_schemas::{EventData, EventType, RecordedEvent, StreamKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// Complaints the model keeps (the most recent by log position).
pub const GAP_COMPLAINTS_MAX: usize = 5_000;
/// Below this best cosine similarity to any active answer, a complaint's text is not covered.
pub const COVERAGE_SIMILARITY_MIN: f32 = 0.05;
/// Complaints a theme needs when the query does not say.
pub const GAP_MIN_COUNT_DEFAULT: usize = 3;
/// Themes one answer lists at most, and by default.
pub const GAP_THEMES_MAX: usize = 100;
pub const GAP_THEMES_DEFAULT: usize = 20;
/// Example complaint ids per theme.
const EXAMPLES_MAX: usize = 5;
/// Top terms per theme.
const TOP_TERMS_MAX: usize = 5;

/// A complaint as the gap model keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct GapComplaint {
    complaint_id: String,
    category: String,
    description: String,
    /// Standard answers used on it.
    used: Vec<String>,
}

/// The state of [`AnswerGaps`]: the library, the recent complaints, and the derived answer index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AnswerGapsState {
    library: Library,
    /// By arrival sequence (oldest first), at most [`GAP_COMPLAINTS_MAX`].
    complaints: BTreeMap<u64, GapComplaint>,
    by_id: HashMap<String, u64>,
    next_seq: u64,
    #[serde(skip)]
    index: IndexCache,
}

/// One theme: uncovered complaints of one category sharing salient terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapTheme {
    pub category: String,
    /// Complaints in the theme.
    pub count: usize,
    /// Its most telling terms, most shared first.
    pub top_terms: Vec<String>,
    /// A title for the standard answer to write.
    pub suggested_title: String,
    /// The most recent complaints of the theme.
    pub example_complaint_ids: Vec<String>,
    /// `no_answer_in_category` when the category has no active answer, else `weak_match`.
    pub reason: &'static str,
    /// The nearest active answer to the theme's complaints, if any shares a term, and the best similarity.
    pub nearest_answer: Option<NearestAnswer>,
}

/// The active answer closest to a theme.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearestAnswer {
    pub answer_id: String,
    pub similarity: f64,
}

/// A complaint under analysis.
struct Analysed<'a> {
    complaint: &'a GapComplaint,
    /// Distinct word and bigram texts (words win when the same text is both).
    terms: BTreeMap<String, TermKind>,
    /// Best cosine to an active answer, and which.
    best: Option<(usize, f32)>,
}

impl AnswerGapsState {
    fn apply(&mut self, event: &RecordedEvent) {
        if self.library.apply(event) {
            self.index.invalidate();
            return;
        }
        let (StreamKind::Complaint, complaint_id) = event.stream.kind() else { return };
        match &event.data {
            EventData::ComplaintReceived(received) => {
                if self.by_id.contains_key(complaint_id) {
                    return;
                }
                let seq = self.next_seq;
                self.next_seq += 1;
                self.by_id.insert(complaint_id.to_owned(), seq);
                self.complaints.insert(
                    seq,
                    GapComplaint {
                        complaint_id: complaint_id.to_owned(),
                        category: received.category.clone(),
                        description: received.description.clone(),
                        used: Vec::new(),
                    },
                );
                while self.complaints.len() > GAP_COMPLAINTS_MAX {
                    if let Some((_, oldest)) = self.complaints.pop_first() {
                        self.by_id.remove(&oldest.complaint_id);
                    }
                }
                debug_assert_eq!(self.complaints.len(), self.by_id.len());
            }
            EventData::StandardAnswerUsed(used) => {
                let Some(seq) = self.by_id.get(complaint_id) else { return };
                if let Some(complaint) = self.complaints.get_mut(seq) {
                    if !complaint.used.contains(&used.answer_id) {
                        complaint.used.push(used.answer_id.clone());
                    }
                }
            }
            _ => {}
        }
    }

    /// The uncovered themes with at least `min_count` complaints (of `category` only, when given),
    /// largest first, at most `limit`.
    pub fn gaps(&self, min_count: usize, category: Option<&str>, limit: usize) -> Vec<GapTheme> {
        let index = self.index.get(&self.library);
        let analysed: Vec<Analysed> = self.complaints.values().map(|c| analyse(&index, c)).collect();
        // How many recent complaints (covered or not) hold each term: a theme's term should be specific.
        let mut df: HashMap<&str, usize> = HashMap::new();
        for a in &analysed {
            for text in a.terms.keys() {
                *df.entry(text.as_str()).or_default() += 1;
            }
        }
        let total = analysed.len() as f32;
        let specificity = |text: &str| (1.0 + total / df.get(text).copied().unwrap_or(1) as f32).ln();

        // How many of them are uncovered (in any category).
        let uncovered_all: Vec<&Analysed> = analysed.iter().filter(|a| !self.is_covered(&index, a)).collect();
        let mut uncovered_df: HashMap<&str, usize> = HashMap::new();
        for a in &uncovered_all {
            for text in a.terms.keys() {
                *uncovered_df.entry(text.as_str()).or_default() += 1;
            }
        }
        let uncovered: Vec<&Analysed> = uncovered_all
            .iter()
            .rev() // most recent first: examples are listed in this order
            .filter(|a| category.is_none_or(|c| a.complaint.category == c))
            .copied()
            .collect();
        // A theme rests on a term no active answer uses, and that mostly uncovered complaints use: a term
        // as common among covered complaints (a product name like 电脑) says what is complained about,
        // not what is unanswered.
        let mut eligible: HashMap<&str, bool> = HashMap::new();
        let mut is_word: HashMap<&str, bool> = HashMap::new();
        // (category, term) -> the uncovered complaints holding it (indexes into `uncovered`).
        let mut holders: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for (i, a) in uncovered.iter().enumerate() {
            for (text, kind) in &a.terms {
                let text = text.as_str();
                *is_word.entry(text).or_default() |= *kind == TermKind::Word;
                let eligible = *eligible.entry(text).or_insert_with(|| {
                    2 * uncovered_df.get(text).copied().unwrap_or(0) > df.get(text).copied().unwrap_or(0)
                        && !index.uses_text(text)
                });
                if eligible {
                    holders.entry((a.complaint.category.as_str(), text)).or_default().push(i);
                }
            }
        }
        let mut assigned = vec![false; uncovered.len()];
        let mut themes = Vec::new();
        while themes.len() < limit {
            // The (category, term) shared by the most unassigned complaints, weighted by specificity;
            // a bigram that is no word anywhere counts half (it often straddles two words).
            let mut best: Option<(f32, (&str, &str))> = None;
            for (&key, members) in &holders {
                let free = members.iter().filter(|&&i| !assigned[i]).count();
                if free < min_count.max(1) {
                    continue;
                }
                let word_factor = if is_word[key.1] { 1.0 } else { 0.5 };
                let score = free as f32 * specificity(key.1) * word_factor;
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, key));
                }
            }
            let Some((_, key)) = best else { break };
            let theme_category = key.0;
            let members: Vec<usize> = holders[&key].iter().copied().filter(|&i| !assigned[i]).collect();
            for &i in &members {
                assigned[i] = true;
            }
            let complaints: Vec<&Analysed> = members.iter().map(|&i| uncovered[i]).collect();
            themes.push(self.theme(&index, theme_category, &complaints, &is_word, &specificity));
        }
        themes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.category.cmp(&b.category)));
        themes
    }

    fn is_covered(&self, index: &AnswerIndex, a: &Analysed) -> bool {
        let used_active = a.complaint.used.iter().any(|id| self.library.get(id).is_some_and(|answer| !answer.retired));
        if used_active {
            return true;
        }
        if !index.has_category(&a.complaint.category) {
            return false;
        }
        a.best.is_some_and(|(_, similarity)| similarity >= COVERAGE_SIMILARITY_MIN)
    }

    fn theme(
        &self,
        index: &AnswerIndex,
        category: &str,
        complaints: &[&Analysed],
        is_word: &HashMap<&str, bool>,
        specificity: &dyn Fn(&str) -> f32,
    ) -> GapTheme {
        // Terms shared by at least two of the theme's complaints: those no answer uses first, then the most
        // shared, words before bigrams, the most specific; no fragment of a term already listed.
        let mut shared: HashMap<&str, usize> = HashMap::new();
        for a in complaints {
            for text in a.terms.keys() {
                *shared.entry(text.as_str()).or_default() += 1;
            }
        }
        // (text, complaints sharing it, whether no answer uses it, whether it is a word, specificity)
        let mut ranked: Vec<(&str, usize, bool, bool, f32)> = shared
            .into_iter()
            .filter(|(_, n)| *n >= 2)
            .map(|(t, n)| (t, n, !index.uses_text(t), is_word.get(t).copied().unwrap_or(false), specificity(t)))
            .collect();
        ranked.sort_by(|a, b| {
            b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(b.3.cmp(&a.3)).then(b.4.total_cmp(&a.4)).then_with(|| a.0.cmp(b.0))
        });
        // A bigram no complaint uses as a word mostly straddles two words (池鼓 of 电池鼓包): listed only
        // when no shared word is.
        let any_word = ranked.iter().any(|r| r.3);
        let mut top_terms: Vec<String> = Vec::new();
        for (text, ..) in ranked.into_iter().filter(|r| r.3 || !any_word) {
            if top_terms.iter().any(|t| t.contains(text) || text.contains(t.as_str())) {
                continue;
            }
            top_terms.push(text.to_owned());
            if top_terms.len() == TOP_TERMS_MAX {
                break;
            }
        }
        let suggested_title = top_terms.iter().take(3).cloned().collect::<Vec<_>>().join("、");
        let nearest_answer =
            complaints.iter().filter_map(|a| a.best).max_by(|a, b| a.1.total_cmp(&b.1)).map(|(doc, similarity)| {
                NearestAnswer {
                    answer_id: index.answer_id(doc).to_owned(),
                    similarity: (f64::from(similarity) * 1000.0).round() / 1000.0,
                }
            });
        GapTheme {
            category: category.to_owned(),
            count: complaints.len(),
            top_terms,
            suggested_title,
            example_complaint_ids: complaints
                .iter()
                .take(EXAMPLES_MAX)
                .map(|a| a.complaint.complaint_id.clone())
                .collect(),
            reason: if index.has_category(category) { "weak_match" } else { "no_answer_in_category" },
            nearest_answer,
        }
    }
}

fn analyse<'a>(index: &AnswerIndex, complaint: &'a GapComplaint) -> Analysed<'a> {
    let all: Vec<Term> = text::terms(&complaint.description);
    let best = index.best_cosine(&all);
    let mut terms: BTreeMap<String, TermKind> = BTreeMap::new();
    for term in all.into_iter().filter(|t| t.kind != TermKind::Char) {
        let kind = terms.entry(term.text).or_insert(term.kind);
        *kind = (*kind).min(term.kind);
    }
    Analysed { complaint, terms, best }
}

/// `answer-gaps`: query `min_count` (default 3), `category` (only that category), `limit` (1..=100,
/// default 20) → `{"gaps": [{"category", "count", "top_terms", "suggested_title", "example_complaint_ids",
/// "reason", "nearest_answer"}], "complaints_considered", "min_count"}`, largest theme first.
pub struct AnswerGaps;

#[async_trait]
impl Projection for AnswerGaps {
    type State = AnswerGapsState;

    fn name(&self) -> &'static str {
        "answer-gaps"
    }

    fn version(&self) -> u32 {
        1
    }

    fn event_types(&self) -> Option<Vec<EventType>> {
        Some(vec![
            EventType::StandardAnswerPublished,
            EventType::StandardAnswerRevised,
            EventType::StandardAnswerRetired,
            EventType::ComplaintReceived,
            EventType::StandardAnswerUsed,
        ])
    }

    fn apply(&self, state: &mut AnswerGapsState, event: &RecordedEvent) -> Result<(), String> {
        state.apply(event);
        Ok(())
    }

    async fn query(&self, state: &AnswerGapsState, query: &Query) -> Result<Value, ProjectionError> {
        query.only(&["min_count", "category", "limit"])?;
        let min_count = query.parse::<usize>("min_count")?.unwrap_or(GAP_MIN_COUNT_DEFAULT);
        if min_count == 0 {
            return Err(ProjectionError::BadQuery("min_count: must be at least 1".into()));
        }
        let limit = query.parse::<usize>("limit")?.unwrap_or(GAP_THEMES_DEFAULT);
        if !(1..=GAP_THEMES_MAX).contains(&limit) {
            return Err(ProjectionError::BadQuery(format!("limit: {limit} is not in 1..={GAP_THEMES_MAX}")));
        }
        let gaps = state.gaps(min_count, query.get("category"), limit);
        Ok(json!({
            "gaps": gaps,
            "complaints_considered": state.complaints.len(),
            "min_count": min_count,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suggestions::fixtures::Log;
    use redress_schemas::Timestamp;

    fn state_of(log: &Log) -> AnswerGapsState {
        let mut state = AnswerGapsState::default();
        for event in &log.events {
            AnswerGaps.apply(&mut state, event).expect("applies");
        }
        state
    }

    /// An answer about invoices, one about monitors; none about batteries.
    fn library() -> Log {
        let mut log = Log::default();
        log.publish(
            "A-1",
            "billing",
            "发票开错 / Wrong invoice",
            "请提供正确的发票抬头和税号，我们将重新开具。",
            &["发票", "抬头", "税号"],
        )
        .publish(
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
        let gaps = state_of(&log).gaps(3, None, 20);
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
    fn a_category_without_answers_is_a_gap_and_min_count_filters() {
        let mut log = library();
        battery_complaints(&mut log, "battery");
        let state = state_of(&log);
        let gaps = state.gaps(3, None, 20);
        assert_eq!(gaps.len(), 1);
        assert_eq!((gaps[0].category.as_str(), gaps[0].reason), ("battery", "no_answer_in_category"));
        assert!(state.gaps(5, None, 20).is_empty(), "four complaints are no theme of five");
        assert!(state.gaps(3, Some("billing"), 20).is_empty());
    }

    #[test]
    fn a_published_answer_closes_the_gap_and_retiring_it_reopens_it() {
        let mut log = library();
        battery_complaints(&mut log, "product_quality");
        log.publish(
            "A-3",
            "product_quality",
            "电池鼓包 / Swollen battery",
            "电池鼓包请停止使用，我们免费更换电池。",
            &["电池", "鼓包"],
        );
        assert!(state_of(&log).gaps(3, None, 20).is_empty());
        log.retire("A-3");
        assert_eq!(state_of(&log).gaps(3, None, 20).len(), 1, "a retired answer covers nothing");
    }

    #[test]
    fn a_complaint_an_answer_was_used_on_is_covered() {
        let mut log = library();
        battery_complaints(&mut log, "product_quality");
        log.use_answer("C-1", "A-2").use_answer("C-2", "A-2");
        assert!(state_of(&log).gaps(3, None, 20).is_empty(), "two left uncovered: below three");
        assert_eq!(state_of(&log).gaps(2, None, 20)[0].count, 2);
        log.retire("A-2");
        assert_eq!(state_of(&log).gaps(3, None, 20)[0].count, 4, "a retired answer's use covers nothing");
    }

    #[test]
    fn only_the_most_recent_complaints_are_kept() {
        let mut log = library();
        battery_complaints(&mut log, "battery");
        for n in 0..GAP_COMPLAINTS_MAX {
            log.receive(&format!("F-{n}"), "delivery", "快递三天了还没到");
        }
        let state = state_of(&log);
        assert_eq!(state.complaints.len(), GAP_COMPLAINTS_MAX);
        assert_eq!(state.by_id.len(), GAP_COMPLAINTS_MAX);
        assert!(!state.by_id.contains_key("C-1"));
    }

    #[tokio::test]
    async fn the_query_renders_themes_and_refuses_bad_parameters() {
        let mut log = library();
        battery_complaints(&mut log, "battery");
        let state = state_of(&log);
        let at = Timestamp::parse("2026-03-02T00:00:00Z").expect("valid");
        let answer = AnswerGaps.query(&state, &Query::at(at)).await.expect("answers");
        assert_eq!(answer["min_count"], 3);
        assert_eq!(answer["complaints_considered"], 4);
        assert_eq!(answer["gaps"][0]["count"], 4);
        assert_eq!(answer["gaps"][0]["top_terms"][0], "电池");
        for bad in [
            Query::at(at).with("min_count", "0"),
            Query::at(at).with("min_count", "many"),
            Query::at(at).with("limit", "101"),
            Query::at(at).with("text", "x"),
        ] {
            let result = AnswerGaps.query(&state, &bad).await;
            assert!(matches!(result, Err(ProjectionError::BadQuery(_))), "{:?}: {result:?}", bad.params);
        }
    }
}
