//! The complaint read models: open complaints, customer history, repeat issues, satisfaction.
//!
//! All four fold the same thing — each complaint's lifecycle state, by the engine's own pure
//! `lifecycle::evolve` — into a [`ComplaintBook`], and differ in how they answer. Each keeps its own
//! copy (its own checkpoint, rebuild and failure), which costs memory for independence.

use crate::policy::{resolution_met, OverdueReason, SlaPolicy};
use crate::projection::{Projection, ProjectionError, Query};
use async_trait::async_trait;
use redress_engine::lifecycle::{self, ComplaintState, ComplaintStatus, StreamState};
use redress_schemas::{EventType, RecordedEvent, StreamKind, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

const DAY: i64 = 86_400;
const HOUR_NANOS: f64 = 3_600_000_000_000.0;

/// Every complaint's state, by complaint id, and each customer's complaints.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ComplaintBook {
    complaints: HashMap<String, StreamState>,
    by_customer: HashMap<String, Vec<String>>,
}

impl ComplaintBook {
    /// Folds one complaint event in (others are ignored).
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<(), String> {
        let (StreamKind::Complaint, id) = event.stream.kind() else { return Ok(()) };
        let entry = self.complaints.entry(id.to_owned()).or_default();
        let state = std::mem::take(entry);
        if let Err(violation) = lifecycle::check(&state, &event.data) {
            // The store enforces the rules; a refusal here means a log this build does not understand.
            *entry = state;
            return Err(format!("{} at {}: {violation}", event.event_type(), event.stream));
        }
        let was_empty = matches!(state, StreamState::Empty);
        *entry = lifecycle::evolve(state, &event.data, event.occurred_at);
        if was_empty {
            if let Some(c) = entry.complaint() {
                self.by_customer.entry(c.customer_id.clone()).or_default().push(id.to_owned());
            }
        }
        Ok(())
    }

    /// Every complaint.
    pub fn iter(&self) -> impl Iterator<Item = &ComplaintState> {
        self.complaints.values().filter_map(StreamState::complaint)
    }

    /// One complaint.
    pub fn get(&self, complaint_id: &str) -> Option<&ComplaintState> {
        self.complaints.get(complaint_id).and_then(StreamState::complaint)
    }

    /// How many complaints the book holds.
    pub fn len(&self) -> usize {
        self.complaints.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.complaints.is_empty()
    }
}

fn complaint_types() -> Option<Vec<EventType>> {
    Some(EventType::ALL.iter().copied().filter(|t| t.stream_kind() == StreamKind::Complaint).collect())
}

/// Complaints received by `as_of`, for "as of" answers from a live book.
fn received_by(c: &ComplaintState, as_of: Timestamp) -> bool {
    c.received_at <= as_of
}

// ---------------------------------------------------------------------------------------------
/// `open-complaints`: every complaint not closed, with deadlines, overdue flags and reasons, sorted by
/// the earliest unmet deadline. Filters: status, category, department, customer_id, overdue=true.
pub struct OpenComplaints {
    pub policy: SlaPolicy,
}

impl OpenComplaints {
    /// The open complaints of `book` at `query.as_of`, filtered and sorted.
    pub fn answer(&self, book: &ComplaintBook, query: &Query) -> Result<Value, ProjectionError> {
        query.only(&["status", "category", "department", "customer_id", "overdue", "as_of"])?;
        let overdue_only = match query.get("overdue") {
            None => false,
            Some("true") => true,
            Some("false") => false,
            Some(other) => return Err(ProjectionError::BadQuery(format!("overdue: {other:?} is not true or false"))),
        };
        if let Some(status) = query.get("status") {
            if !ALL_STATUSES.iter().any(|s| s.as_str() == status) {
                return Err(ProjectionError::BadQuery(format!("status: {status:?} is not a complaint status")));
            }
        }
        let as_of = query.as_of;
        let mut rows: Vec<(Option<Timestamp>, &str, Value)> = Vec::new();
        for c in book.iter().filter(|c| c.status != ComplaintStatus::Closed && received_by(c, as_of)) {
            let keep = query.get("status").is_none_or(|s| c.status.as_str() == s)
                && query.get("category").is_none_or(|v| c.category == v)
                && query.get("customer_id").is_none_or(|v| c.customer_id == v)
                && query.get("department").is_none_or(|v| c.responsible_department.as_deref() == Some(v));
            if !keep {
                continue;
            }
            let d = self.policy.deadlines(c, as_of);
            let overdue = !d.overdue_reasons.is_empty();
            if overdue_only && !overdue {
                continue;
            }
            let unmet_ack = c.acknowledged_at.is_none().then_some(d.ack_due);
            let unmet_resolution = (!resolution_met(c)).then_some(d.resolution_due);
            let earliest_unmet = [unmet_ack, unmet_resolution].into_iter().flatten().min();
            let row = json!({
                "complaint_id": c.complaint_id, "customer_id": c.customer_id, "status": c.status,
                "category": c.category, "severity": c.severity, "channel": c.channel,
                "received_at": c.received_at, "ack_due": d.ack_due, "acknowledged_at": c.acknowledged_at,
                "resolution_due": d.resolution_due, "resolution_due_from_commitment": d.committed,
                "overdue": overdue, "overdue_reasons": d.overdue_reasons,
                "escalation_level": c.escalation_level, "responsible_department": c.responsible_department,
                "customer_tier": c.customer_tier,
            });
            rows.push((earliest_unmet, &c.complaint_id, row));
        }
        // Earliest unmet deadline first; those with none last; ties by id for a stable answer.
        rows.sort_by(|a, b| match (a.0, b.0) {
            (Some(x), Some(y)) => x.cmp(&y).then(a.1.cmp(b.1)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.1.cmp(b.1),
        });
        let overdue_count = rows.iter().filter(|r| r.2["overdue"] == true).count();
        Ok(json!({
            "as_of": as_of,
            "count": rows.len(),
            "overdue_count": overdue_count,
            "complaints": rows.into_iter().map(|r| r.2).collect::<Vec<_>>(),
        }))
    }
}

const ALL_STATUSES: [ComplaintStatus; 8] = [
    ComplaintStatus::Received,
    ComplaintStatus::Acknowledged,
    ComplaintStatus::Investigating,
    ComplaintStatus::SolutionProposed,
    ComplaintStatus::InProgress,
    ComplaintStatus::Resolved,
    ComplaintStatus::Confirmed,
    ComplaintStatus::Closed,
];

// ---------------------------------------------------------------------------------------------
/// `customer-history` (客户档案): each customer's complaints and their outcomes, newest first.
/// Query: `customer_id` (required).
pub struct CustomerHistory;

impl CustomerHistory {
    /// The answer to `query` from `book`.
    pub fn answer(&self, book: &ComplaintBook, query: &Query) -> Result<Value, ProjectionError> {
        query.only(&["customer_id", "as_of"])?;
        let customer =
            query.get("customer_id").ok_or_else(|| ProjectionError::BadQuery("customer_id is required".into()))?;
        let mut complaints: Vec<&ComplaintState> = book
            .by_customer
            .get(customer)
            .into_iter()
            .flatten()
            .filter_map(|id| book.get(id))
            .filter(|c| received_by(c, query.as_of))
            .collect();
        complaints.sort_by(|a, b| b.received_at.cmp(&a.received_at).then(b.complaint_id.cmp(&a.complaint_id)));
        let rows: Vec<Value> = complaints
            .iter()
            .map(|c| {
                json!({
                    "complaint_id": c.complaint_id, "received_at": c.received_at, "channel": c.channel,
                    "category": c.category, "severity": c.severity, "status": c.status, "outcome": c.outcome,
                    "closed_at": c.closed_at, "description": c.description, "product": c.product,
                    "escalation_level": c.escalation_level, "reopen_count": c.reopen_count,
                    "confirmed_satisfied": c.confirmed_satisfied,
                    "last_revisit_satisfaction": c.revisits.last().map(|r| r.satisfaction),
                    "apology_visits": c.apology_visits,
                })
            })
            .collect();
        let tier = complaints.iter().find_map(|c| c.customer_tier);
        Ok(json!({
            "customer_id": customer, "customer_tier": tier, "as_of": query.as_of,
            "complaint_count": rows.len(),
            "open_count": complaints.iter().filter(|c| c.status != ComplaintStatus::Closed).count(),
            "complaints": rows,
        }))
    }
}

// ---------------------------------------------------------------------------------------------
/// `repeat-issues`: the same customer again in the same category within a window; recurring root
/// causes with counts and trend; reopen rate; complaints whose revisit found the issue persisting.
/// Query: `window_days` (default 90), `as_of`.
pub struct RepeatIssues;

impl RepeatIssues {
    /// The answer to `query` from `book`.
    pub fn answer(&self, book: &ComplaintBook, query: &Query) -> Result<Value, ProjectionError> {
        query.only(&["window_days", "as_of"])?;
        let window_days: i64 = query.parse("window_days")?.unwrap_or(90);
        if !(1..=3650).contains(&window_days) {
            return Err(ProjectionError::BadQuery("window_days must be in 1..=3650".into()));
        }
        let as_of = query.as_of;
        let window = window_days * DAY * 1_000_000_000;
        let known: Vec<&ComplaintState> = book.iter().filter(|c| received_by(c, as_of)).collect();

        // Chains of complaints by one customer in one category, each within the window of the last.
        let mut by_key: BTreeMap<(&str, &str), Vec<&ComplaintState>> = BTreeMap::new();
        for c in &known {
            by_key.entry((c.customer_id.as_str(), c.category.as_str())).or_default().push(c);
        }
        let mut repeats = Vec::new();
        for ((customer, category), mut list) in by_key {
            list.sort_by_key(|c| (c.received_at, c.complaint_id.clone()));
            let mut chain: Vec<&ComplaintState> = Vec::new();
            let mut flush = |chain: &mut Vec<&ComplaintState>| {
                if chain.len() >= 2 {
                    repeats.push(json!({"customer_id": customer, "category": category,
                        "complaint_ids": chain.iter().map(|c| &c.complaint_id).collect::<Vec<_>>()}));
                }
                chain.clear();
            };
            for c in list {
                if chain.last().is_some_and(|last| c.received_at.unix_nanos() - last.received_at.unix_nanos() > window)
                {
                    flush(&mut chain);
                }
                chain.push(c);
            }
            flush(&mut chain);
        }

        // Root causes: counts overall and in the last two windows for the trend.
        let mut causes: BTreeMap<(&str, &str), (u64, u64, u64)> = BTreeMap::new();
        for c in &known {
            let (Some(cause), Some(department)) = (c.root_cause.as_deref(), c.responsible_department.as_deref()) else {
                continue;
            };
            let age = as_of.unix_nanos() - c.received_at.unix_nanos();
            let entry = causes.entry((cause, department)).or_default();
            entry.0 += 1;
            if age <= window {
                entry.1 += 1;
            } else if age <= 2 * window {
                entry.2 += 1;
            }
        }
        let mut root_causes: Vec<(u64, Value)> = causes
            .into_iter()
            .filter(|(_, (count, _, _))| *count >= 2)
            .map(|((cause, department), (count, recent, before))| {
                let trend = match recent.cmp(&before) {
                    std::cmp::Ordering::Greater => "rising",
                    std::cmp::Ordering::Less => "falling",
                    std::cmp::Ordering::Equal => "steady",
                };
                (
                    count,
                    json!({"root_cause": cause, "responsible_department": department, "count": count,
                    "last_window": recent, "previous_window": before, "trend": trend}),
                )
            })
            .collect();
        root_causes.sort_by_key(|r| std::cmp::Reverse(r.0));

        // Reopen rate: reopened among those that reached a resolution at least once.
        let resolved_ever = known.iter().filter(|c| c.delivered_at.is_some() || c.closed_at.is_some()).count();
        let reopened = known.iter().filter(|c| c.reopen_count > 0).count();
        let reopen_rate = if resolved_ever == 0 { 0.0 } else { reopened as f64 / resolved_ever as f64 };
        let mut persisting: Vec<&str> = known
            .iter()
            .filter(|c| c.revisits.iter().any(|r| r.issue_persists && r.at <= as_of))
            .map(|c| c.complaint_id.as_str())
            .collect();
        persisting.sort_unstable();
        Ok(json!({
            "as_of": as_of, "window_days": window_days,
            "repeat_complaints": repeats,
            "root_causes": root_causes.into_iter().map(|r| r.1).collect::<Vec<_>>(),
            "reopen_rate": (reopen_rate * 10_000.0).round() / 10_000.0,
            "reopened": reopened, "resolved_at_least_once": resolved_ever,
            "persisting": persisting,
        }))
    }
}

// ---------------------------------------------------------------------------------------------
/// `satisfaction`: revisit grades and share satisfied, time to acknowledge and to resolve (p50, p90,
/// hours), share of deadlines met — per department, category or channel. Query: `group_by`.
pub struct Satisfaction {
    pub policy: SlaPolicy,
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    Some((sorted[rank.min(sorted.len() - 1)] * 100.0).round() / 100.0)
}

fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0)
}

#[derive(Default)]
struct Group {
    complaints: usize,
    grades: Vec<u8>,
    ack_hours: Vec<f64>,
    resolve_hours: Vec<f64>,
    ack_met: usize,
    ack_judged: usize,
    resolution_met: usize,
    resolution_judged: usize,
}

impl Satisfaction {
    /// The answer to `query` from `book`.
    pub fn answer(&self, book: &ComplaintBook, query: &Query) -> Result<Value, ProjectionError> {
        query.only(&["group_by", "as_of"])?;
        let group_by = query.get("group_by").unwrap_or("department");
        let as_of = query.as_of;
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for c in book.iter().filter(|c| received_by(c, as_of)) {
            let key = match group_by {
                "department" => c.responsible_department.clone().unwrap_or_else(|| "unassigned".into()),
                "category" => c.category.clone(),
                "channel" => {
                    serde_json::to_value(c.channel).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
                }
                other => {
                    return Err(ProjectionError::BadQuery(format!(
                        "group_by: {other:?}; use department, category or channel"
                    )))
                }
            };
            let g = groups.entry(key).or_default();
            g.complaints += 1;
            g.grades.extend(c.revisits.iter().filter(|r| r.at <= as_of).map(|r| r.satisfaction));
            let d = self.policy.deadlines(c, as_of);
            match c.acknowledged_at.filter(|t| *t <= as_of) {
                Some(at) => {
                    g.ack_hours.push((at.unix_nanos() - c.received_at.unix_nanos()) as f64 / HOUR_NANOS);
                    g.ack_judged += 1;
                    g.ack_met += usize::from(at <= d.ack_due);
                }
                None if as_of > d.ack_due => g.ack_judged += 1,
                None => {}
            }
            match c.delivered_at.filter(|t| *t <= as_of) {
                Some(at) => {
                    g.resolve_hours.push((at.unix_nanos() - c.received_at.unix_nanos()) as f64 / HOUR_NANOS);
                    g.resolution_judged += 1;
                    g.resolution_met += usize::from(at <= d.resolution_due);
                }
                None if d.overdue_reasons.contains(&OverdueReason::Resolution) => g.resolution_judged += 1,
                None => {}
            }
        }
        let rows: Vec<Value> = groups
            .into_iter()
            .map(|(key, mut g)| {
                g.ack_hours.sort_by(f64::total_cmp);
                g.resolve_hours.sort_by(f64::total_cmp);
                let satisfied = g.grades.iter().filter(|s| **s >= 4).count();
                let mean = (!g.grades.is_empty()).then(|| {
                    let sum: u32 = g.grades.iter().map(|s| u32::from(*s)).sum();
                    (f64::from(sum) / g.grades.len() as f64 * 100.0).round() / 100.0
                });
                json!({
                    group_by: key, "complaints": g.complaints,
                    "revisits": g.grades.len(), "mean_satisfaction": mean,
                    "share_satisfied": share(satisfied, g.grades.len()),
                    "hours_to_acknowledge": {"p50": percentile(&g.ack_hours, 0.5), "p90": percentile(&g.ack_hours, 0.9)},
                    "hours_to_resolve": {"p50": percentile(&g.resolve_hours, 0.5), "p90": percentile(&g.resolve_hours, 0.9)},
                    "acknowledgement_deadlines_met": share(g.ack_met, g.ack_judged),
                    "resolution_deadlines_met": share(g.resolution_met, g.resolution_judged),
                })
            })
            .collect();
        Ok(json!({"as_of": as_of, "group_by": group_by, "groups": rows}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redress_schemas::{EventId, Hash, Metadata, Position, ProposedEvent, StreamName};

    /// Builds a book from `(complaint, event_type, data, occurred_at)` steps, in order.
    fn book(steps: &[(&str, &str, Value, &str)]) -> ComplaintBook {
        let mut book = ComplaintBook::default();
        for (i, (id, event_type, data, at)) in steps.iter().enumerate() {
            let stream = StreamName::complaint(id).unwrap();
            let proposed = ProposedEvent::from_json(json!({"event_type": event_type, "data": data}), &stream)
                .expect("valid test event");
            let at = Timestamp::parse(at).unwrap();
            let event = RecordedEvent {
                event_id: EventId::new_v7(),
                stream,
                version: 0,
                position: Position(i as u64),
                schema_version: 1,
                occurred_at: at,
                recorded_at: at,
                metadata: Metadata::default(),
                data: proposed.data,
                hash: Hash::GENESIS,
            };
            book.apply(&event).expect("a valid history");
        }
        book
    }

    fn received(id: &str, customer: &str, category: &str, severity: &str) -> Value {
        json!({"complaint_id": id, "customer_id": customer, "channel": "hotline", "category": category,
               "severity": severity, "description": "d"})
    }

    fn at(t: &str) -> Query {
        Query::at(Timestamp::parse(t).unwrap())
    }

    fn ids(answer: &Value, list: &str) -> Vec<String> {
        answer[list].as_array().unwrap().iter().map(|c| c["complaint_id"].as_str().unwrap().to_owned()).collect()
    }

    fn open() -> OpenComplaints {
        OpenComplaints { policy: SlaPolicy::default() }
    }

    #[test]
    fn the_acknowledgement_deadline_is_met_at_its_instant_and_missed_one_nanosecond_later() {
        // high: acknowledge within 4 h.
        let b = book(&[("a", "complaint_received", received("a", "K", "delivery", "high"), "2026-01-01T08:00:00Z")]);
        let on_time = open().answer(&b, &at("2026-01-01T12:00:00Z")).unwrap();
        assert_eq!(on_time["complaints"][0]["overdue"], false);
        assert_eq!(on_time["complaints"][0]["ack_due"], "2026-01-01T12:00:00Z");
        let late = open().answer(&b, &at("2026-01-01T12:00:00.000000001Z")).unwrap();
        assert_eq!(late["complaints"][0]["overdue_reasons"], json!(["acknowledgement"]));
        assert_eq!(late["overdue_count"], 1);
    }

    #[test]
    fn an_acknowledgement_stops_the_clock_and_the_resolution_deadline_follows_severity() {
        let b = book(&[
            ("a", "complaint_received", received("a", "K", "delivery", "critical"), "2026-01-01T08:00:00Z"),
            ("a", "complaint_acknowledged", json!({"via": "phone", "message": "sorry"}), "2026-01-01T09:00:00Z"),
        ]);
        let row = &open().answer(&b, &at("2026-01-02T08:00:00Z")).unwrap()["complaints"][0];
        assert_eq!(
            (row["overdue"].clone(), row["resolution_due"].clone()),
            (json!(false), json!("2026-01-02T08:00:00Z"))
        );
        let row = &open().answer(&b, &at("2026-01-02T08:00:01Z")).unwrap()["complaints"][0];
        assert_eq!(row["overdue_reasons"], json!(["resolution"]));
    }

    #[test]
    fn the_latest_commitment_replaces_the_resolution_deadline_even_when_earlier() {
        let b = book(&[
            ("a", "complaint_received", received("a", "K", "repair", "low"), "2026-01-01T08:00:00Z"),
            ("a", "complaint_acknowledged", json!({"via": "sms", "message": "ok"}), "2026-01-01T08:10:00Z"),
            ("a", "commitment_made", json!({"what": "fix", "due_at": "2026-01-20T00:00:00Z"}), "2026-01-01T09:00:00Z"),
            (
                "a",
                "commitment_made",
                json!({"what": "fix sooner", "due_at": "2026-01-05T00:00:00Z"}),
                "2026-01-02T09:00:00Z",
            ),
        ]);
        let row = &open().answer(&b, &at("2026-01-05T00:00:01Z")).unwrap()["complaints"][0];
        assert_eq!(row["resolution_due"], "2026-01-05T00:00:00Z");
        assert_eq!(
            (row["resolution_due_from_commitment"].clone(), row["overdue_reasons"].clone()),
            (json!(true), json!(["resolution"]))
        );
    }

    #[test]
    fn delivery_meets_the_deadline_and_a_reopen_makes_it_count_again() {
        let mut steps = vec![
            ("a", "complaint_received", received("a", "K", "repair", "critical"), "2026-01-01T08:00:00Z"),
            ("a", "complaint_acknowledged", json!({"via": "sms", "message": "ok"}), "2026-01-01T08:10:00Z"),
            ("a", "solution_offered", json!({"solution_id": "s1", "description": "swap"}), "2026-01-01T09:00:00Z"),
            ("a", "solution_accepted", json!({"solution_id": "s1"}), "2026-01-01T09:30:00Z"),
            ("a", "solution_delivered", json!({"solution_id": "s1", "note": "done"}), "2026-01-01T20:00:00Z"),
        ];
        let b = book(&steps);
        let row = &open().answer(&b, &at("2026-01-03T00:00:00Z")).unwrap()["complaints"][0];
        assert_eq!((row["status"].clone(), row["overdue"].clone()), (json!("resolved"), json!(false)));
        steps.push(("a", "complaint_reopened", json!({"reason": "broke again"}), "2026-01-02T10:00:00Z"));
        let b = book(&steps);
        let row = &open().answer(&b, &at("2026-01-03T00:00:00Z")).unwrap()["complaints"][0];
        assert_eq!(
            (row["status"].clone(), row["overdue_reasons"].clone()),
            (json!("in_progress"), json!(["resolution"]))
        );
    }

    #[test]
    fn open_complaints_sort_by_earliest_unmet_deadline_filter_and_hide_closed_ones() {
        let b = book(&[
            ("low", "complaint_received", received("low", "K1", "billing", "low"), "2026-01-01T00:00:00Z"),
            ("crit", "complaint_received", received("crit", "K2", "delivery", "critical"), "2026-01-01T06:00:00Z"),
            ("gone", "complaint_received", received("gone", "K3", "delivery", "high"), "2026-01-01T01:00:00Z"),
            ("gone", "complaint_closed", json!({"outcome": "withdrawn"}), "2026-01-01T02:00:00Z"),
            (
                "crit",
                "cause_analyzed",
                json!({"root_cause": "courier", "responsible_department": "logistics", "founded": true}),
                "2026-01-01T07:00:00Z",
            ),
        ]);
        let answer = open().answer(&b, &at("2026-01-01T07:30:00Z")).unwrap();
        assert_eq!(
            ids(&answer, "complaints"),
            ["crit", "low"],
            "critical's 08:00 ack deadline comes before low's 48 h"
        );
        assert_eq!(
            ids(&open().answer(&b, &at("2026-01-01T07:30:00Z").with("department", "logistics")).unwrap(), "complaints"),
            ["crit"]
        );
        assert_eq!(
            ids(&open().answer(&b, &at("2026-01-01T07:30:00Z").with("category", "billing")).unwrap(), "complaints"),
            ["low"]
        );
        assert_eq!(
            ids(&open().answer(&b, &at("2026-01-01T07:30:00Z").with("status", "investigating")).unwrap(), "complaints"),
            ["crit"]
        );
        assert_eq!(
            ids(&open().answer(&b, &at("2026-01-01T09:00:00Z").with("overdue", "true")).unwrap(), "complaints"),
            ["crit"]
        );
        // As of before "crit" was received, it is not listed.
        assert_eq!(ids(&open().answer(&b, &at("2026-01-01T05:00:00Z")).unwrap(), "complaints"), ["low"]);
        assert!(matches!(
            open().answer(&b, &at("2026-01-01T05:00:00Z").with("status", "lost")),
            Err(ProjectionError::BadQuery(_))
        ));
    }

    #[tokio::test]
    async fn customer_history_lists_a_customers_complaints_newest_first_with_outcomes() {
        let b = book(&[
            ("c1", "complaint_received", received("c1", "K9", "delivery", "normal"), "2026-01-01T00:00:00Z"),
            ("c1", "complaint_closed", json!({"outcome": "refunded"}), "2026-01-03T00:00:00Z"),
            ("c2", "complaint_received", received("c2", "K9", "repair", "normal"), "2026-02-01T00:00:00Z"),
            ("x", "complaint_received", received("x", "K1", "repair", "normal"), "2026-02-02T00:00:00Z"),
        ]);
        let answer = CustomerHistory.query(&b, &at("2026-03-01T00:00:00Z").with("customer_id", "K9")).await.unwrap();
        assert_eq!(ids(&answer, "complaints"), ["c2", "c1"]);
        assert_eq!(
            (answer["complaints"][1]["outcome"].clone(), answer["open_count"].clone()),
            (json!("refunded"), json!(1))
        );
        let past = CustomerHistory.query(&b, &at("2026-01-15T00:00:00Z").with("customer_id", "K9")).await.unwrap();
        assert_eq!(ids(&past, "complaints"), ["c1"]);
        assert!(CustomerHistory.query(&b, &at("2026-03-01T00:00:00Z")).await.is_err(), "customer_id is required");
    }

    #[tokio::test]
    async fn repeat_issues_chain_within_the_window_and_report_causes_reopens_and_persisting() {
        let cause =
            json!({"root_cause": "bad batch", "responsible_department": "product_engineering", "founded": true});
        let b = book(&[
            ("r1", "complaint_received", received("r1", "K1", "product_quality", "normal"), "2026-01-01T00:00:00Z"),
            ("r1", "cause_analyzed", cause.clone(), "2026-01-01T01:00:00Z"),
            ("r2", "complaint_received", received("r2", "K1", "product_quality", "normal"), "2026-03-01T00:00:00Z"),
            ("r2", "cause_analyzed", cause.clone(), "2026-03-01T01:00:00Z"),
            ("r3", "complaint_received", received("r3", "K1", "product_quality", "normal"), "2026-09-01T00:00:00Z"),
            ("o", "complaint_received", received("o", "K2", "billing", "normal"), "2026-03-02T00:00:00Z"),
            ("o", "solution_offered", json!({"solution_id": "s", "description": "refund"}), "2026-03-02T01:00:00Z"),
            ("o", "solution_accepted", json!({"solution_id": "s"}), "2026-03-02T02:00:00Z"),
            ("o", "solution_delivered", json!({"solution_id": "s", "note": "paid"}), "2026-03-03T00:00:00Z"),
            ("o", "resolution_confirmed", json!({"satisfied": true}), "2026-03-03T01:00:00Z"),
            (
                "o",
                "revisit_done",
                json!({"via": "phone", "satisfaction": 2, "issue_persists": true}),
                "2026-03-10T00:00:00Z",
            ),
            ("o", "complaint_reopened", json!({"reason": "charged again"}), "2026-03-11T00:00:00Z"),
        ]);
        let answer = RepeatIssues.query(&b, &at("2026-09-02T00:00:00Z")).await.unwrap();
        // r1 → r2 is 59 days (one chain); r3 comes 184 days after r2 (outside 90).
        assert_eq!(
            answer["repeat_complaints"],
            json!([{"customer_id": "K1", "category": "product_quality", "complaint_ids": ["r1", "r2"]}])
        );
        assert_eq!(answer["root_causes"][0]["count"], 2);
        assert_eq!(answer["root_causes"][0]["trend"], "steady", "none in the last two windows: {answer}");
        assert_eq!((answer["reopen_rate"].clone(), answer["persisting"].clone()), (json!(1.0), json!(["o"])));
        let wide = RepeatIssues.query(&b, &at("2026-09-02T00:00:00Z").with("window_days", "200")).await.unwrap();
        assert_eq!(wide["repeat_complaints"][0]["complaint_ids"], json!(["r1", "r2", "r3"]));
        let early = RepeatIssues.query(&b, &at("2026-02-01T00:00:00Z")).await.unwrap();
        assert_eq!(
            (early["repeat_complaints"].clone(), early["persisting"].clone()),
            (json!([]), json!([])),
            "as of the past"
        );
        let rising = RepeatIssues.query(&b, &at("2026-03-05T00:00:00Z")).await.unwrap();
        assert_eq!(rising["root_causes"][0]["trend"], "rising", "r1 and r2 in the last 90 days, none before: {rising}");
    }

    #[tokio::test]
    async fn satisfaction_reports_grades_times_and_deadlines_met_per_group() {
        let b = book(&[
            ("s1", "complaint_received", received("s1", "K1", "repair", "high"), "2026-01-01T00:00:00Z"),
            ("s1", "complaint_acknowledged", json!({"via": "sms", "message": "ok"}), "2026-01-01T02:00:00Z"),
            (
                "s1",
                "cause_analyzed",
                json!({"root_cause": "part", "responsible_department": "repair_center", "founded": true}),
                "2026-01-01T03:00:00Z",
            ),
            ("s1", "solution_offered", json!({"solution_id": "a", "description": "fix"}), "2026-01-01T04:00:00Z"),
            ("s1", "solution_accepted", json!({"solution_id": "a"}), "2026-01-01T05:00:00Z"),
            ("s1", "solution_delivered", json!({"solution_id": "a", "note": "ok"}), "2026-01-02T00:00:00Z"),
            ("s1", "resolution_confirmed", json!({"satisfied": true}), "2026-01-02T01:00:00Z"),
            (
                "s1",
                "revisit_done",
                json!({"via": "phone", "satisfaction": 5, "issue_persists": false}),
                "2026-01-09T00:00:00Z",
            ),
            ("s2", "complaint_received", received("s2", "K2", "repair", "high"), "2026-01-01T00:00:00Z"),
            ("s2", "complaint_acknowledged", json!({"via": "sms", "message": "late"}), "2026-01-01T06:00:00Z"),
            (
                "s2",
                "cause_analyzed",
                json!({"root_cause": "part", "responsible_department": "repair_center", "founded": true}),
                "2026-01-01T07:00:00Z",
            ),
        ]);
        let s = Satisfaction { policy: SlaPolicy::default() };
        let answer = s.query(&b, &at("2026-02-01T00:00:00Z")).await.unwrap();
        let g = &answer["groups"][0];
        assert_eq!(g["department"], "repair_center");
        assert_eq!(
            (g["complaints"].clone(), g["revisits"].clone(), g["share_satisfied"].clone()),
            (json!(2), json!(1), json!(1.0))
        );
        assert_eq!(
            g["hours_to_acknowledge"],
            json!({"p50": 6.0, "p90": 6.0}),
            "2 h and 6 h; nearest-rank p50 of two is the upper"
        );
        assert_eq!(g["hours_to_resolve"], json!({"p50": 24.0, "p90": 24.0}));
        assert_eq!(g["acknowledgement_deadlines_met"], 0.5, "s2 was acknowledged after 4 h");
        assert_eq!(g["resolution_deadlines_met"], 0.5, "s1 in 24 h of 72; s2 undelivered past its 72 h");
        let by_channel = s.query(&b, &at("2026-02-01T00:00:00Z").with("group_by", "channel")).await.unwrap();
        assert_eq!(by_channel["groups"][0]["channel"], "hotline");
        assert!(s.query(&b, &at("2026-02-01T00:00:00Z").with("group_by", "mood")).await.is_err());
    }
}

/// The `Projection` impl shared by the complaint read models: fold complaint events into a
/// [`ComplaintBook`], answer with the type's own `answer`.
macro_rules! book_projection {
    ($($projection:ident => $name:literal),* $(,)?) => {$(
        #[async_trait]
        impl Projection for $projection {
            type State = ComplaintBook;
            fn name(&self) -> &'static str {
                $name
            }
            fn version(&self) -> u32 {
                1
            }
            fn event_types(&self) -> Option<Vec<EventType>> {
                complaint_types()
            }
            fn apply(&self, state: &mut ComplaintBook, event: &RecordedEvent) -> Result<(), String> {
                state.apply(event)
            }
            async fn query(&self, state: &ComplaintBook, query: &Query) -> Result<Value, ProjectionError> {
                self.answer(state, query)
            }
        }
    )*};
}

book_projection! {
    OpenComplaints => "open-complaints",
    CustomerHistory => "customer-history",
    RepeatIssues => "repeat-issues",
    Satisfaction => "satisfaction",
}
