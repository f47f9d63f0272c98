//! The complaints fold: every complaint's lifecycle, folded once with the engine's own pure
//! `lifecycle::evolve`, serving five views from one state at one position — `open-complaints`,
//! `customer-history`, `repeat-issues`, `satisfaction` and `complaint`.
//!
//! Two layers. Each complaint's full state (solutions, revisits, texts) is a keyed record on disk
//! (`c` + id), in memory only while events or queries need it ([`KeyedMap`]). A compact [`Summary`] of
//! every complaint (ids, category, status, the instants its deadlines and figures need) is always in
//! memory, with the indexes the views scan: the open complaints ordered by their earliest unmet
//! deadline, each customer's complaints, each root cause's arrivals, and running satisfaction
//! aggregates per department, category and channel. Summaries are stored too (`s` + id), so a restart
//! loads only them — a few dozen bytes a complaint — and serves at once.

mod book;
mod problems;
mod views;

#[cfg(test)]
mod tests;

pub use book::{Summary, SATISFACTION_GROUP_BY};
pub use views::complaint_json;

use crate::fold::{Anomaly, Change, Fold, Key, StateReader};
use crate::keyed::KeyedMap;
use crate::policy::SlaPolicy;
use crate::projection::{ProjectionError, Query};
use async_trait::async_trait;
use book::Book;
use redress_engine::lifecycle::{self, StreamState};
use redress_schemas::{codec, EventType, RecordedEvent, StreamKind};
use serde_json::Value;
use std::collections::HashSet;

/// Key prefix of a complaint's full state.
const RECORD: u8 = b'c';
/// Key prefix of a complaint's summary.
const SUMMARY: u8 = b's';
/// Summaries read per page at open.
const OPEN_PAGE: usize = 10_000;
/// Full complaint states kept in memory when unchanged (about 1–2 KB each).
pub const RESIDENT_RECORDS_MAX: usize = 50_000;

/// The views of the complaints fold.
pub const VIEWS: [&str; 8] = [
    "open-complaints",
    "customer-history",
    "repeat-issues",
    "satisfaction",
    "complaint",
    "needs-attention",
    "problems",
    "deadline-alerts",
];

/// The complaints fold, judging deadlines by `policy`.
pub struct ComplaintsFold {
    pub policy: SlaPolicy,
    /// Full complaint states kept in memory when unchanged.
    pub resident_records_max: usize,
}

impl ComplaintsFold {
    /// The fold with API.md's policy and the default memory bound.
    pub fn new(policy: SlaPolicy) -> ComplaintsFold {
        ComplaintsFold { policy, resident_records_max: RESIDENT_RECORDS_MAX }
    }
}

/// What the complaints fold holds in memory.
pub struct ComplaintsState {
    records: KeyedMap<StreamState>,
    book: Book,
    /// Summaries changed since the last checkpoint, by slot.
    changed: HashSet<u32>,
    problems: problems::Problems,
}

impl ComplaintsState {
    /// How many complaints the fold knows.
    pub fn len(&self) -> usize {
        self.book.len()
    }

    /// Whether it knows none.
    pub fn is_empty(&self) -> bool {
        self.book.len() == 0
    }

    /// Full complaint states in memory right now.
    pub fn resident_records(&self) -> usize {
        self.records.resident_count()
    }
}

fn complaint_types() -> Vec<EventType> {
    let kinds = [StreamKind::Complaint, StreamKind::Problem];
    EventType::ALL.iter().copied().filter(|t| kinds.contains(&t.stream_kind())).collect()
}

#[async_trait]
impl Fold for ComplaintsFold {
    type State = ComplaintsState;

    fn name(&self) -> &'static str {
        "complaints"
    }

    fn version(&self) -> u32 {
        // 3: the stored `StreamState` gained the v1.1 complaint fields and the problem kind (bincode
        // snapshots of the older layout do not read as the new one), so the fold rebuilds from the log.
        // 4: the complaint state keeps waits and the last contact; summaries carry the desk fields.
        // 5: summaries carry who recorded the complaint's receipt (`recorded_by`).
        5
    }

    fn event_types(&self) -> Option<Vec<EventType>> {
        Some(complaint_types())
    }

    fn views(&self) -> Vec<&'static str> {
        VIEWS.to_vec()
    }

    async fn open(&self, stored: &dyn StateReader) -> Result<ComplaintsState, ProjectionError> {
        let mut book = Book::new(self.policy.clone());
        let mut after: Option<Key> = None;
        loop {
            let page = stored.scan(&[SUMMARY], after.as_deref(), OPEN_PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (_, bytes) in &page {
                book.load(&codec::decode_snapshot(bytes)?);
            }
            if page.len() < OPEN_PAGE {
                break;
            }
        }
        book.loaded();
        let problems = problems::Problems::open(stored).await?;
        Ok(ComplaintsState {
            records: KeyedMap::new(RECORD, self.resident_records_max),
            book,
            changed: HashSet::new(),
            problems,
        })
    }

    fn wanted(&self, state: &ComplaintsState, event: &RecordedEvent, keys: &mut Vec<Key>) {
        if let (StreamKind::Complaint, id) = event.stream.kind() {
            state.records.want(id, keys);
        }
    }

    fn provide(&self, state: &mut ComplaintsState, key: Key, value: Option<Vec<u8>>) -> Result<(), ProjectionError> {
        state.records.provide(&key, value)?;
        Ok(())
    }

    fn apply(&self, state: &mut ComplaintsState, event: &RecordedEvent) -> Result<(), Anomaly> {
        let id = match event.stream.kind() {
            (StreamKind::Complaint, id) => id,
            (StreamKind::Problem, id) => {
                return state
                    .problems
                    .apply_problem_event(id, event)
                    .map_err(|violation| Anomaly(format!("{}: {violation}", event.event_type())));
            }
            _ => return Ok(()),
        };
        let checked = match state.records.get(id) {
            Some(current) => lifecycle::check(current, &event.data),
            None => lifecycle::check(&StreamState::Empty, &event.data),
        };
        if let Err(violation) = checked {
            // The store enforces the rules at append; a refusal here is history it accepted under other
            // rules (an import from an older store) or a replay that cut the log by occurred_at.
            return Err(Anomaly(format!("{}: {violation}", event.event_type())));
        }
        let current = state.records.take(id).unwrap_or_default();
        let next = lifecycle::evolve(current, &event.data, event.occurred_at);
        if let Some(complaint) = next.complaint() {
            let slot = state.book.upsert(complaint, event.recorded_by.as_ref().map(|by| by.as_str()));
            state.changed.insert(slot);
        }
        state.problems.apply_complaint_event(id, &event.data);
        state.records.insert(id, next);
        Ok(())
    }

    fn take_changes(&self, state: &mut ComplaintsState) -> Result<Vec<Change>, ProjectionError> {
        let mut changes = Vec::with_capacity(state.records.dirty_count() + state.changed.len());
        state.records.take_changes(&mut changes)?;
        state.problems.take_changes(&mut changes)?;
        for slot in state.changed.drain() {
            let stored = state.book.stored(slot);
            let mut key = Vec::with_capacity(stored.complaint_id.len() + 1);
            key.push(SUMMARY);
            key.extend_from_slice(stored.complaint_id.as_bytes());
            changes.push((key, Some(codec::encode_snapshot(&stored)?)));
        }
        Ok(changes)
    }

    fn committed(&self, state: &mut ComplaintsState) {
        state.records.trim();
    }

    async fn query(
        &self,
        state: &ComplaintsState,
        stored: &dyn StateReader,
        view: &str,
        query: &Query,
    ) -> Result<Value, ProjectionError> {
        match view {
            "open-complaints" => views::open_complaints(&state.book, query),
            "customer-history" => views::customer_history(&state.book, &state.records, stored, query).await,
            "repeat-issues" => views::repeat_issues(&state.book, query),
            "satisfaction" => views::satisfaction(&state.book, query),
            "complaint" => views::complaint(&self.policy, &state.records, stored, query).await,
            "needs-attention" => views::needs_attention(&state.book, query),
            "problems" => problems::view(&state.book, &state.problems, query),
            "deadline-alerts" => views::deadline_alerts(&state.book, query),
            other => Err(ProjectionError::Unknown(other.to_owned())),
        }
    }
}
