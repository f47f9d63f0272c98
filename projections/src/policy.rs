//! Service levels: how long a complaint may wait for acknowledgement and for resolution.
//!
//! Deadlines run from `occurred_at` of `complaint_received`. The first `complaint_acknowledged` meets
//! the acknowledgement deadline; the latest `commitment_made.due_at` replaces the resolution deadline;
//! `solution_delivered` meets it. "Overdue" is judged at an instant given by the caller (`as_of`),
//! never the machine's clock, so the same log gives the same answer.

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
}

/// A complaint's deadlines and whether they are met, as of an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    pub ack_due: Timestamp,
    pub resolution_due: Timestamp,
    /// The resolution deadline comes from a commitment rather than the policy.
    pub committed: bool,
    pub overdue_reasons: Vec<OverdueReason>,
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
        let level = self.level(complaint.severity);
        let ack_due = complaint.received_at.plus_seconds(level.acknowledge_within_hours * HOUR);
        let (resolution_due, committed) = match complaint.commitment_due {
            Some(due) => (due, true),
            None => (complaint.received_at.plus_seconds(level.resolve_within_hours * HOUR), false),
        };
        let mut overdue_reasons = Vec::new();
        if complaint.status != ComplaintStatus::Closed {
            if complaint.acknowledged_at.is_none() && as_of > ack_due {
                overdue_reasons.push(OverdueReason::Acknowledgement);
            }
            if !resolution_met(complaint) && as_of > resolution_due {
                overdue_reasons.push(OverdueReason::Resolution);
            }
        }
        Deadlines { ack_due, resolution_due, committed, overdue_reasons }
    }
}

/// A delivered solution meets the resolution deadline until the complaint goes back to work.
pub fn resolution_met(complaint: &ComplaintState) -> bool {
    matches!(complaint.status, ComplaintStatus::Resolved | ComplaintStatus::Confirmed | ComplaintStatus::Closed)
}
