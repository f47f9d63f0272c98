//! Problems (v1.1): the root causes several complaints share, what was done to remove them, and whether
//! complaints kept coming after — folded by the complaints fold beside the complaints, so a problem's
//! linked complaints are read from the same summaries at the same position.
//!
//! A problem is small (a few per root cause): each is one stored key (`p` + id) holding its folded
//! `problem-` stream and the ids of the complaints linked to it (`complaint_linked`, `same_problem`),
//! all in memory. A recurrence is a linked complaint received after the problem's latest corrective
//! action: the measure of whether the action worked.

use super::book::Book;
use crate::fold::{Change, Key, StateReader};
use crate::projection::{ProjectionError, Query};
use redress_engine::lifecycle::{self, ProblemState, StreamState};
use redress_schemas::{codec, EventData, LinkRelation, RecordedEvent, StreamKind, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Key prefix of a problem.
pub(super) const PROBLEM: u8 = b'p';
/// Complaint ids one row lists per list (the counts are whole).
const LISTED_MAX: usize = 20;
/// Problems read per page at open.
const OPEN_PAGE: usize = 1_000;

/// One problem as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Problem {
    /// The folded `problem-` stream; `None` while only links to it have been seen.
    state: Option<ProblemState>,
    /// Complaints linked with `same_problem`, in link order, each once.
    linked: Vec<String>,
}

/// Every problem, and which changed since the last checkpoint.
#[derive(Default)]
pub(super) struct Problems {
    all: BTreeMap<String, Problem>,
    changed: BTreeSet<String>,
}

impl Problems {
    /// Loads the stored problems.
    pub(super) async fn open(stored: &dyn StateReader) -> Result<Problems, ProjectionError> {
        let mut problems = Problems::default();
        let mut after: Option<Key> = None;
        loop {
            let page = stored.scan(&[PROBLEM], after.as_deref(), OPEN_PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (key, bytes) in &page {
                let id = String::from_utf8_lossy(&key[1..]).into_owned();
                problems.all.insert(id, codec::decode_snapshot(bytes)?);
            }
            if page.len() < OPEN_PAGE {
                break;
            }
        }
        Ok(problems)
    }

    /// Folds an event of a `problem-` stream. Returns the refusal of an event the lifecycle does not
    /// accept (the store enforces it at append; this is history accepted under other rules).
    pub(super) fn apply_problem_event(&mut self, id: &str, event: &RecordedEvent) -> Result<(), String> {
        let problem = self.all.entry(id.to_owned()).or_default();
        let state = problem.state.take().map_or(StreamState::Empty, |p| StreamState::Problem(Box::new(p)));
        if let Err(violation) = lifecycle::check(&state, &event.data) {
            problem.state = match state {
                StreamState::Problem(p) => Some(*p),
                _ => None,
            };
            return Err(violation.to_string());
        }
        problem.state = match lifecycle::evolve(state, &event.data, event.occurred_at) {
            StreamState::Problem(p) => Some(*p),
            _ => None,
        };
        self.changed.insert(id.to_owned());
        Ok(())
    }

    /// Takes in a complaint's event: a `same_problem` link adds the complaint to the problem.
    pub(super) fn apply_complaint_event(&mut self, complaint_id: &str, data: &EventData) {
        let EventData::ComplaintLinked(link) = data else { return };
        if link.relation != LinkRelation::SameProblem {
            return;
        }
        let Ok(target) = redress_schemas::StreamName::new(&link.target) else { return };
        let (StreamKind::Problem, problem_id) = target.kind() else { return };
        let problem = self.all.entry(problem_id.to_owned()).or_default();
        if !problem.linked.iter().any(|c| c == complaint_id) {
            problem.linked.push(complaint_id.to_owned());
            self.changed.insert(problem_id.to_owned());
        }
    }

    /// The changed problems, as stored.
    pub(super) fn take_changes(&mut self, changes: &mut Vec<Change>) -> Result<(), ProjectionError> {
        for id in std::mem::take(&mut self.changed) {
            let mut key = Vec::with_capacity(id.len() + 1);
            key.push(PROBLEM);
            key.extend_from_slice(id.as_bytes());
            let value = match self.all.get(&id) {
                Some(problem) => Some(codec::encode_snapshot(problem)?),
                None => None,
            };
            changes.push((key, value));
        }
        Ok(())
    }
}

/// Months a problem's `linked_by_month` holds at most: the newest ones.
const MONTHS_SHOWN_MAX: usize = 36;

/// Linked complaints per calendar month (UTC) of their receipt, every month from the first to the last
/// (empty ones too: a chart's axis), at most the newest [`MONTHS_SHOWN_MAX`]. Before and after a
/// corrective action is what a desk reads from it.
fn by_month(linked: &[(&str, Timestamp)]) -> Vec<Value> {
    let month_of = |t: Timestamp| {
        let text = t.to_rfc3339();
        let year: i32 = text.get(..4).and_then(|y| y.parse().ok()).unwrap_or(1970);
        let month: i32 = text.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
        year * 12 + (month - 1)
    };
    let mut counts: std::collections::BTreeMap<i32, u64> = std::collections::BTreeMap::new();
    for (_, received) in linked {
        *counts.entry(month_of(*received)).or_default() += 1;
    }
    let (Some(&first), Some(&last)) = (counts.keys().next(), counts.keys().next_back()) else {
        return Vec::new();
    };
    let first = first.max(last - (MONTHS_SHOWN_MAX as i32 - 1));
    (first..=last)
        .map(|m| json!({"month": format!("{:04}-{:02}", m / 12, m % 12 + 1), "complaints": counts.get(&m).copied().unwrap_or(0)}))
        .collect()
}

/// One row of the `problems` view, before rendering.
struct Row<'a> {
    id: &'a str,
    state: &'a ProblemState,
    /// Linked complaints (id, received), newest first.
    linked: Vec<(&'a str, Timestamp)>,
    /// The latest corrective action by `as_of`.
    last_action: Option<Timestamp>,
    recurrences: usize,
}

/// `problems`: each problem with its status, corrective actions, linked complaints and recurrences
/// (linked complaints received after the latest corrective action), most recurrences first. Filters:
/// `status` (identified, action_taken, resolved), `category`; paged.
pub(super) fn view(book: &Book, problems: &Problems, query: &Query) -> Result<Value, ProjectionError> {
    query.only(&["status", "category", "limit", "cursor"])?;
    let paging = query.paging()?;
    let status = query.get("status");
    if let Some(s) = status {
        if !["identified", "action_taken", "resolved"].contains(&s) {
            return Err(ProjectionError::BadQuery(format!(
                "status: {s:?} is not identified, action_taken or resolved"
            )));
        }
    }
    let category = query.get("category");
    let mut rows: Vec<(String, Row<'_>)> = Vec::new();
    for (id, problem) in &problems.all {
        let Some(state) = &problem.state else { continue };
        if state.identified_at > query.as_of
            || category.is_some_and(|c| c != state.category)
            || status
                .is_some_and(|s| serde_json::to_value(state.status).ok().as_ref().and_then(Value::as_str) != Some(s))
        {
            continue;
        }
        let mut linked: Vec<(&str, Timestamp)> = problem
            .linked
            .iter()
            .filter_map(|c| book.by_id.get(c.as_str()).map(|&slot| (c.as_str(), book.slots[slot as usize].received_at)))
            .filter(|(_, received)| *received <= query.as_of)
            .collect();
        linked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let last_action = state.corrective_actions.iter().map(|a| a.taken_at).filter(|t| *t <= query.as_of).max();
        let recurrences = last_action.map_or(0, |t| linked.iter().filter(|(_, received)| *received > t).count());
        let key = format!(
            "{:010}|{:010}|{id}",
            u32::MAX as usize - recurrences.min(u32::MAX as usize),
            u32::MAX as usize - linked.len().min(u32::MAX as usize)
        );
        rows.push((key, Row { id, state, linked, last_action, recurrences }));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let count = rows.len();
    let (page, next_cursor) = paging.page(rows);
    let rendered: Vec<Value> = page
        .iter()
        .map(|row| {
            let last_action = row.last_action;
            let recurring: Vec<&str> = row
                .linked
                .iter()
                .filter(|(_, received)| last_action.is_some_and(|t| *received > t))
                .take(LISTED_MAX)
                .map(|(c, _)| *c)
                .collect();
            json!({
                "problem_id": row.id, "title": row.state.title, "category": row.state.category,
                "root_cause": row.state.root_cause, "responsible_department": row.state.responsible_department,
                "status": row.state.status, "identified_at": row.state.identified_at,
                "resolved_at": row.state.resolved_at, "reopen_count": row.state.reopen_count,
                "corrective_actions": row.state.corrective_actions.iter().filter(|a| a.taken_at <= query.as_of).map(|a| json!({
                    "action": a.action, "owner": a.owner, "due_at": a.due_at, "taken_at": a.taken_at,
                })).collect::<Vec<_>>(),
                "linked_count": row.linked.len(),
                "linked_complaints": row.linked.iter().take(LISTED_MAX).map(|(c, _)| *c).collect::<Vec<_>>(),
                "recurrence_count": row.recurrences,
                "recurrences": recurring,
                "linked_by_month": by_month(&row.linked),
            })
        })
        .collect();
    Ok(json!({"as_of": query.as_of, "count": count, "problems": rendered, "next_cursor": next_cursor}))
}
