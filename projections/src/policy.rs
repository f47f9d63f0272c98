//! Service levels: how long a complaint may wait for acknowledgement and for resolution.
//!
//! Deadlines run from `occurred_at` of `complaint_received`. The first `complaint_acknowledged` meets
//! the acknowledgement deadline; `solution_delivered` meets the resolution deadline. A commitment
//! (`commitment_made.due_at`, the latest) is a promise kept apart from the policy (API.md v1.1): it never
//! moves `resolution_due`, it is reported as `promised_due` and missing it is its own overdue reason.
//! "Overdue" is judged at an instant given by the caller (`as_of`), never the machine's clock, so the
//! same log gives the same answer.

use redress_engine::lifecycle::{ComplaintState, ComplaintStatus};
use redress_schemas::{Severity, Timestamp};
use serde::{Deserialize, Serialize};

const HOUR: i64 = 3600;

/// How long each severity may wait, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLevel {
    pub acknowledge_within_hours: i64,
    pub resolve_within_hours: i64,
}

/// The service-level policy: one [`ServiceLevel`] per severity (API.md's defaults, or a policy file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    pub critical: ServiceLevel,
    pub high: ServiceLevel,
    pub normal: ServiceLevel,
    pub low: ServiceLevel,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        let level = |ack, resolve| ServiceLevel { acknowledge_within_hours: ack, resolve_within_hours: resolve };
        SlaPolicy { critical: level(2, 24), high: level(4, 72), normal: level(24, 7 * 24), low: level(48, 14 * 24) }
    }
}

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
#[error("service-level policy: {0}")]
pub struct PolicyError(String);

/// Which deadline a complaint has missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverdueReason {
    Acknowledgement,
    Resolution,
    /// The desk's own promise (`promised_due`) passed without a delivery.
    Promise,
}

/// A complaint's deadlines and whether they are met, as of an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    pub ack_due: Timestamp,
    /// From the service level; never moved by a commitment.
    pub resolution_due: Timestamp,
    /// The latest commitment's `due_at`, if any.
    pub promised_due: Option<Timestamp>,
    pub overdue_reasons: Vec<OverdueReason>,
}

/// What a complaint's deadlines depend on (a full state or a compact summary can give it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub severity: Severity,
    pub status: ComplaintStatus,
    pub received_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub promised_due: Option<Timestamp>,
}

impl From<&ComplaintState> for Clock {
    fn from(c: &ComplaintState) -> Clock {
        Clock {
            severity: c.severity,
            status: c.status,
            received_at: c.received_at,
            acknowledged_at: c.acknowledged_at,
            promised_due: c.commitment_due,
        }
    }
}

impl Clock {
    /// A delivered solution meets the resolution deadline until the complaint goes back to work.
    pub fn resolution_met(&self) -> bool {
        matches!(self.status, ComplaintStatus::Resolved | ComplaintStatus::Confirmed | ComplaintStatus::Closed)
    }
}

impl SlaPolicy {
    /// Parses a policy file (JSON, every severity given, hours as positive integers).
    pub fn from_json(text: &str) -> Result<SlaPolicy, PolicyError> {
        let policy: SlaPolicy = serde_json::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        for (name, level) in
            [("critical", policy.critical), ("high", policy.high), ("normal", policy.normal), ("low", policy.low)]
        {
            if level.acknowledge_within_hours <= 0 || level.resolve_within_hours <= 0 {
                return Err(PolicyError(format!("{name}: hours must be positive")));
            }
        }
        Ok(policy)
    }

    /// The level for `severity`.
    pub fn level(&self, severity: Severity) -> ServiceLevel {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Normal => self.normal,
            Severity::Low => self.low,
        }
    }

    /// `complaint`'s deadlines, judged at `as_of`.
    pub fn deadlines(&self, complaint: &ComplaintState, as_of: Timestamp) -> Deadlines {
        self.deadlines_of(&Clock::from(complaint), as_of)
    }

    /// The deadlines of a complaint whose clock is `clock`, judged at `as_of`.
    pub fn deadlines_of(&self, clock: &Clock, as_of: Timestamp) -> Deadlines {
        let level = self.level(clock.severity);
        let ack_due = clock.received_at.plus_seconds(level.acknowledge_within_hours * HOUR);
        let resolution_due = clock.received_at.plus_seconds(level.resolve_within_hours * HOUR);
        let mut overdue_reasons = Vec::new();
        if clock.status != ComplaintStatus::Closed {
            if clock.acknowledged_at.is_none() && as_of > ack_due {
                overdue_reasons.push(OverdueReason::Acknowledgement);
            }
            if !clock.resolution_met() && as_of > resolution_due {
                overdue_reasons.push(OverdueReason::Resolution);
            }
            if !clock.resolution_met() && clock.promised_due.is_some_and(|due| as_of > due) {
                overdue_reasons.push(OverdueReason::Promise);
            }
        }
        Deadlines { ack_due, resolution_due, promised_due: clock.promised_due, overdue_reasons }
    }

    /// The earliest deadline `clock` has not met yet (acknowledgement, resolution or promise), whatever
    /// the instant: the order of the overdue queue. `None` when every one is met.
    pub fn earliest_unmet(&self, clock: &Clock) -> Option<Timestamp> {
        if clock.status == ComplaintStatus::Closed {
            return None;
        }
        let d = self.deadlines_of(clock, clock.received_at);
        let ack = clock.acknowledged_at.is_none().then_some(d.ack_due);
        let unresolved = !clock.resolution_met();
        let resolution = unresolved.then_some(d.resolution_due);
        let promise = d.promised_due.filter(|_| unresolved);
        [ack, resolution, promise].into_iter().flatten().min()
    }
}

/// A delivered solution meets the resolution deadline until the complaint goes back to work.
pub fn resolution_met(complaint: &ComplaintState) -> bool {
    Clock::from(complaint).resolution_met()
}
