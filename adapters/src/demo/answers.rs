//! The Q&A library over the demo year: every answer published at the start, two merged into a sibling of
//! their category (the sibling revised, the merged one retired), three more revised; and which answer staff
//! would use for a complaint at a given instant.

use super::catalogue::revision_keywords;
use super::rng::Rng;
use super::timeline::{Planned, DAY, MINUTE};
use super::{DemoConfig, RNG_ANSWERS};
use redress_engine::lifecycle;
use redress_schemas::{
    AnswerTranslation, EventData, StandardAnswerPublished, StandardAnswerRetired, StandardAnswerRevised, StreamName,
    Timestamp, Translations,
};
use std::collections::{BTreeMap, HashSet};

/// The answers' streams and how their keywords and liveness change over the year.
pub(super) struct AnswerBook {
    pub answers: Vec<AnswerPlan>,
}

/// One answer's stream: its events, and what complaints can match at each instant.
pub(super) struct AnswerPlan {
    answer_id: String,
    category: String,
    pub stream: StreamName,
    /// Keyword lists from the given instant on, oldest first; the first is the published one.
    keywords: Vec<(Timestamp, Vec<String>)>,
    retired_at: Option<Timestamp>,
    pub events: Vec<Planned>,
}

impl AnswerPlan {
    fn keywords_at(&self, at: Timestamp) -> &[String] {
        self.keywords.iter().rev().find(|(from, _)| *from <= at).map_or(&[], |(_, k)| k.as_slice())
    }
}

/// The translations of `target` after `retired` was merged into it: per language both have, the
/// target's text followed by the retired answer's title and text, and both keyword lists.
fn merged_translations(target: &StandardAnswerPublished, retired: &StandardAnswerPublished) -> Option<Translations> {
    let (target, retired) = (target.translations.as_ref()?, retired.translations.as_ref()?);
    let merged: Translations = target
        .iter()
        .filter_map(|(lang, kept)| {
            let gone = retired.get(lang)?;
            let mut keywords = kept.keywords.clone();
            keywords.extend(gone.keywords.iter().filter(|k| !kept.keywords.contains(k)).cloned());
            let answer = format!("{}\n\n{}: {}", kept.answer, gone.title, gone.answer);
            Some((lang.clone(), AnswerTranslation { title: kept.title.clone(), answer, keywords }))
        })
        .collect();
    (!merged.is_empty()).then_some(merged)
}

const REVISION_NOTE: &str =
    "（修订）自本次修订起，处理进度将通过短信和邮件同步告知；超过承诺时限仍未完成的，您可直接要求升级至主管处理。";

impl AnswerBook {
    /// Publishes every usable answer at `start`; merges two answers into a sibling of their category (the
    /// sibling gets the merged keywords and text, the other is retired) and revises three more.
    pub(super) fn plan(config: &DemoConfig, answers: &[StandardAnswerPublished]) -> AnswerBook {
        let mut rng = Rng::derive(config.seed, RNG_ANSWERS, 0);
        let span = i64::from(config.days.max(1)) * DAY;
        let mut seen = HashSet::new();
        let usable: Vec<&StandardAnswerPublished> = answers
            .iter()
            .filter(|a| {
                !a.answer_id.trim().is_empty()
                    && !a.category.trim().is_empty()
                    && !a.title.trim().is_empty()
                    && !a.answer.trim().is_empty()
                    && StreamName::standard_answer(&a.answer_id).is_ok()
                    && seen.insert(a.answer_id.clone())
            })
            .collect();
        let editor = |rng: &mut Rng| format!("qa-editor-{}", rng.range(1, 3));
        let mut plans: Vec<AnswerPlan> = usable
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let at = config.start.plus_seconds(i as i64);
                let keywords: Vec<String> = a.keywords.iter().filter(|k| !k.trim().is_empty()).cloned().collect();
                let data = EventData::StandardAnswerPublished(StandardAnswerPublished {
                    keywords: keywords.clone(),
                    ..(*a).clone()
                });
                AnswerPlan {
                    answer_id: a.answer_id.clone(),
                    category: a.category.clone(),
                    stream: StreamName::standard_answer(&a.answer_id).expect("checked above"),
                    keywords: vec![(at, keywords)],
                    retired_at: None,
                    events: vec![Planned { at, data, actor: editor(&mut rng), source: "qa-library" }],
                }
            })
            .collect();

        // Merges: two categories with at least two answers each.
        let mut by_category: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, answer) in usable.iter().enumerate() {
            by_category.entry(answer.category.as_str()).or_default().push(i);
        }
        let mut categories: Vec<Vec<usize>> = by_category.into_values().filter(|v| v.len() >= 2).collect();
        rng.shuffle(&mut categories);
        let mut touched = HashSet::new();
        for members in categories.iter().take(2) {
            let retired = members[rng.below(members.len())];
            let others: Vec<usize> = members.iter().copied().filter(|m| *m != retired).collect();
            let target = others[rng.below(others.len())];
            let at = config.start.plus_seconds(span * rng.range(35, 75) / 100);
            let mut keywords = plans[target].keywords_at(at).to_vec();
            for k in plans[retired].keywords_at(at) {
                if !keywords.contains(k) {
                    keywords.push(k.clone());
                }
            }
            let answer = format!("{}\n\n{}：{}", usable[target].answer, usable[retired].title, usable[retired].answer);
            let revision = EventData::StandardAnswerRevised(StandardAnswerRevised {
                title: None,
                answer: Some(answer),
                keywords: Some(keywords.clone()),
                category: None,
                translations: merged_translations(usable[target], usable[retired]),
            });
            plans[target].events.push(Planned { at, data: revision, actor: editor(&mut rng), source: "qa-library" });
            plans[target].keywords.push((at, keywords));
            let retire_at = at.plus_seconds(10 * MINUTE);
            let reason = format!("已合并到 {0} / merged into {0}", usable[target].answer_id);
            plans[retired].events.push(Planned {
                at: retire_at,
                data: EventData::StandardAnswerRetired(StandardAnswerRetired { reason }),
                actor: editor(&mut rng),
                source: "qa-library",
            });
            plans[retired].retired_at = Some(retire_at);
            touched.insert(retired);
            touched.insert(target);
        }

        // Plain revisions: new keywords that complaints kept using, and a line on progress and escalation.
        let mut candidates: Vec<usize> = (0..plans.len()).filter(|i| !touched.contains(i)).collect();
        rng.shuffle(&mut candidates);
        for &i in candidates.iter().take(3) {
            let at = config.start.plus_seconds(span * rng.range(15, 90) / 100);
            let mut keywords = plans[i].keywords_at(at).to_vec();
            for k in revision_keywords(&plans[i].category) {
                if !keywords.iter().any(|existing| existing == k) {
                    keywords.push((*k).to_owned());
                }
            }
            let revision = EventData::StandardAnswerRevised(StandardAnswerRevised {
                title: None,
                answer: Some(format!("{}\n\n{REVISION_NOTE}", usable[i].answer)),
                keywords: Some(keywords.clone()),
                category: None,
                translations: None,
            });
            plans[i].events.push(Planned { at, data: revision, actor: editor(&mut rng), source: "qa-library" });
            plans[i].keywords.push((at, keywords));
        }
        for plan in &mut plans {
            plan.events.sort_by_key(|e| e.at);
        }
        debug_assert!(plans
            .iter()
            .all(|p| { lifecycle::fold(p.events.iter().map(|e| (&e.data, e.at))).answer().is_some() }));
        AnswerBook { answers: plans }
    }

    /// The live answer of `category` whose keywords best match `haystack` at `at`; none when no keyword
    /// matches (staff found nothing that fits).
    pub(super) fn best(&self, category: &str, haystack: &str, at: Timestamp) -> Option<String> {
        let mut best: Option<(usize, &AnswerPlan)> = None;
        for plan in &self.answers {
            if plan.category != category || plan.retired_at.is_some_and(|r| r <= at) {
                continue;
            }
            let score = plan.keywords_at(at).iter().filter(|k| haystack.contains(k.as_str())).count();
            if score > 0 && best.is_none_or(|(s, _)| score > s) {
                best = Some((score, plan));
            }
        }
        best.map(|(_, plan)| plan.answer_id.clone())
    }
}
