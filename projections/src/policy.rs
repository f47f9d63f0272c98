//! Service levels: how long a complaint may wait for acknowledgement and for resolution.
//!
//! Deadlines run from `occurred_at` of `complaint_received`. The first `complaint_acknowledged` meets
//! the acknowledgement deadline; `solution_delivered` meets the resolution deadline. A commitment
//! (`commitment_made.due_at`, the latest) is a promise kept apart from the policy (API.md v1.1): it never
//! moves `resolution_due`, it is reported as `promised_due` and missing it is its own overdue reason.
//! "Overdue" is judged at an instant given by the caller (`as_of`), never the machine's clock, so the
//! same log gives the same answer.

use crate::calendar::{self, Calendar, CalendarSpec, Hours, Pause};
use redress_engine::lifecycle::{ComplaintState, ComplaintStatus, Wait};
use redress_schemas::{Severity, Timestamp};
use serde::{Deserialize, Serialize};

const HOUR: i64 = 3600;

/// How long each severity may wait, in hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLevel {
    pub acknowledge_within_hours: i64,
    pub resolve_within_hours: i64,
    /// After the acknowledgement the customer hears from the desk at least this often (v1.1); absent:
    /// API.md's default for the severity (critical 4, high 24, normal 72, low 168).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_every_hours: Option<i64>,
    /// This severity's clocks run on the policy's business calendar (v1.1); default around the clock.
    #[serde(default)]
    pub business_hours: bool,
}

/// Words in a complaint's text that bring it to a supervisor (a regulator, the media, a lawyer).
pub const WATCH_WORDS_DEFAULT: [&str; 16] = [
    "12315",
    "12345",
    "消费者协会",
    "消协",
    "市场监管",
    "工商局",
    "媒体",
    "记者",
    "曝光",
    "律师",
    "起诉",
    "法院",
    "lawyer",
    "attorney",
    "regulator",
    "journalist",
];

/// Watch words a policy may list, and their length: bounds the text search per complaint.
pub const WATCH_WORDS_MAX: usize = 200;
const WATCH_WORD_CHARS_MAX: usize = 64;

/// The service-level policy (API.md's defaults, or a policy file): one [`ServiceLevel`] per severity,
/// the business calendar the levels that ask for it run on, and what the needs-attention view watches.
/// Always valid: it is built by [`SlaPolicy::default`] or checked by [`SlaPolicy::from_json`] (serde
/// goes through the same check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyFile", into = "PolicyFile")]
pub struct SlaPolicy {
    pub critical: ServiceLevel,
    pub high: ServiceLevel,
    pub normal: ServiceLevel,
    pub low: ServiceLevel,
    calendar: Option<Calendar>,
    watch_words: Vec<String>,
    update_lead_hours: i64,
    alerts: Option<AlertPolicy>,
}

/// Subscriptions an alert policy may name.
pub const ALERT_SUBSCRIPTIONS_MAX: usize = 16;
/// The longest lead time of an alert, in hours (30 days).
pub const ALERT_LEAD_HOURS_MAX: i64 = 720;
/// The slowest scan for alerts, in seconds.
pub const ALERT_SCAN_SECONDS_MAX: u64 = 3_600;

/// Deadline alerts (API.md v1.1 "Subscriptions for backend services"): the subscriptions that also
/// receive `deadline_alert` notifications, how long before a deadline falls due they hear of it, and
/// how often the server looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertPolicy {
    /// Subscription names (1..=[`ALERT_SUBSCRIPTIONS_MAX`]); each needs a webhook to be told.
    pub subscriptions: Vec<String>,
    /// A deadline not met yet is `due_soon` this many hours before it falls due (0..=720, default 4).
    #[serde(default = "AlertPolicy::lead_hours_default")]
    pub lead_hours: i64,
    /// Seconds between two looks at the open complaints (1..=3600, default 30).
    #[serde(default = "AlertPolicy::scan_seconds_default")]
    pub scan_seconds: u64,
}

impl AlertPolicy {
    fn lead_hours_default() -> i64 {
        4
    }

    fn scan_seconds_default() -> u64 {
        30
    }

    fn check(&self) -> Result<(), PolicyError> {
        let plain = |name: &str| {
            (1..=64).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        if self.subscriptions.is_empty() || self.subscriptions.len() > ALERT_SUBSCRIPTIONS_MAX {
            return Err(PolicyError(format!("alerts.subscriptions: name 1..={ALERT_SUBSCRIPTIONS_MAX} subscriptions")));
        }
        if let Some(name) = self.subscriptions.iter().find(|n| !plain(n)) {
            return Err(PolicyError(format!("alerts.subscriptions: {name:?} is not a subscription name")));
        }
        if !(0..=ALERT_LEAD_HOURS_MAX).contains(&self.lead_hours) {
            return Err(PolicyError(format!("alerts.lead_hours: 0..={ALERT_LEAD_HOURS_MAX}")));
        }
        if !(1..=ALERT_SCAN_SECONDS_MAX).contains(&self.scan_seconds) {
            return Err(PolicyError(format!("alerts.scan_seconds: 1..={ALERT_SCAN_SECONDS_MAX}")));
        }
        Ok(())
    }
}

/// Whether an alerted deadline is still ahead or has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Not met, and it falls due within the lead time.
    DueSoon,
    /// Not met, and it has passed.
    Overdue,
}

impl AlertState {
    pub fn name(self) -> &'static str {
        match self {
            AlertState::DueSoon => "due_soon",
            AlertState::Overdue => "overdue",
        }
    }
}

/// One deadline of an open complaint worth an alert at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    pub deadline: OverdueReason,
    pub due: Timestamp,
    pub state: AlertState,
}

/// A policy file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    critical: ServiceLevel,
    high: ServiceLevel,
    normal: ServiceLevel,
    low: ServiceLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calendar: Option<CalendarSpec>,
    /// Absent: [`WATCH_WORDS_DEFAULT`].
    #[serde(default)]
    watch_words: Option<Vec<String>>,
    /// How long before an update falls due the needs-attention view lists it (default 4).
    #[serde(default)]
    update_lead_hours: Option<i64>,
    /// Deadline alerts to subscriptions (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alerts: Option<AlertPolicy>,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        let level = |ack, resolve, update| ServiceLevel {
            acknowledge_within_hours: ack,
            resolve_within_hours: resolve,
            update_every_hours: Some(update),
            business_hours: false,
        };
        SlaPolicy {
            critical: level(2, 24, 4),
            high: level(4, 72, 24),
            normal: level(24, 7 * 24, 72),
            low: level(48, 14 * 24, 7 * 24),
            calendar: None,
            watch_words: WATCH_WORDS_DEFAULT.map(String::from).to_vec(),
            update_lead_hours: 4,
            alerts: None,
        }
    }
}

impl TryFrom<PolicyFile> for SlaPolicy {
    type Error = PolicyError;

    fn try_from(file: PolicyFile) -> Result<SlaPolicy, PolicyError> {
        for (name, level) in
            [("critical", file.critical), ("high", file.high), ("normal", file.normal), ("low", file.low)]
        {
            if level.acknowledge_within_hours <= 0 || level.resolve_within_hours <= 0 {
                return Err(PolicyError(format!("{name}: hours must be positive")));
            }
            if level.update_every_hours.is_some_and(|h| h <= 0) {
                return Err(PolicyError(format!("{name}: update_every_hours must be positive")));
            }
            if level.business_hours && file.calendar.is_none() {
                return Err(PolicyError(format!("{name}: business_hours needs a calendar")));
            }
        }
        let calendar = file.calendar.map(Calendar::new).transpose().map_err(|e| PolicyError(e.to_string()))?;
        let watch_words = file.watch_words.unwrap_or_else(|| WATCH_WORDS_DEFAULT.map(String::from).to_vec());
        if watch_words.len() > WATCH_WORDS_MAX {
            return Err(PolicyError(format!("watch_words: at most {WATCH_WORDS_MAX}")));
        }
        if let Some(word) = watch_words.iter().find(|w| w.trim().is_empty() || w.chars().count() > WATCH_WORD_CHARS_MAX)
        {
            return Err(PolicyError(format!(
                "watch_words: {word:?} must hold a non-blank character and at most {WATCH_WORD_CHARS_MAX}"
            )));
        }
        let update_lead_hours = file.update_lead_hours.unwrap_or(4);
        if update_lead_hours < 0 {
            return Err(PolicyError("update_lead_hours must not be negative".into()));
        }
        let watch_words = watch_words.into_iter().map(|w| w.to_lowercase()).collect();
        if let Some(alerts) = &file.alerts {
            alerts.check()?;
        }
        Ok(SlaPolicy {
            critical: file.critical,
            high: file.high,
            normal: file.normal,
            low: file.low,
            calendar,
            watch_words,
            update_lead_hours,
            alerts: file.alerts,
        })
    }
}

impl From<SlaPolicy> for PolicyFile {
    fn from(policy: SlaPolicy) -> PolicyFile {
        PolicyFile {
            critical: policy.critical,
            high: policy.high,
            normal: policy.normal,
            low: policy.low,
            calendar: policy.calendar.map(|c| c.spec().clone()),
            watch_words: Some(policy.watch_words),
            update_lead_hours: Some(policy.update_lead_hours),
            alerts: policy.alerts,
        }
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
    /// The customer has not heard from the desk within the severity's `update_every` (v1.1).
    Update,
}

impl OverdueReason {
    /// The name answers use.
    pub fn name(self) -> &'static str {
        match self {
            OverdueReason::Acknowledgement => "acknowledgement",
            OverdueReason::Resolution => "resolution",
            OverdueReason::Promise => "promise",
            OverdueReason::Update => "update",
        }
    }
}

/// A complaint's deadlines and whether they are met, as of an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    pub ack_due: Timestamp,
    /// From the service level; never moved by a commitment.
    pub resolution_due: Timestamp,
    /// The latest commitment's `due_at`, if any.
    pub promised_due: Option<Timestamp>,
    /// When the customer must next hear from the desk: from the acknowledgement until the resolution,
    /// `update_every` after the latest customer-facing event (v1.1).
    pub next_update_due: Option<Timestamp>,
    pub overdue_reasons: Vec<OverdueReason>,
}

/// What a complaint's deadlines depend on (a full state or a compact summary can give it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock<'a> {
    pub severity: Severity,
    pub status: ComplaintStatus,
    pub received_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub promised_due: Option<Timestamp>,
    /// The finished waits on the customer: the clocks stood still in them.
    pub waits: &'a [Wait],
    /// Waiting on the customer since then: the clocks stand still.
    pub waiting_since: Option<Timestamp>,
    /// The latest customer-facing event.
    pub last_contact_at: Option<Timestamp>,
}

impl<'a> From<&'a ComplaintState> for Clock<'a> {
    fn from(c: &'a ComplaintState) -> Clock<'a> {
        Clock {
            severity: c.severity,
            status: c.status,
            received_at: c.received_at,
            acknowledged_at: c.acknowledged_at,
            promised_due: c.commitment_due,
            waits: &c.waits,
            waiting_since: c.waiting_since,
            last_contact_at: c.last_contact_at,
        }
    }
}

impl Clock<'_> {
    /// A delivered solution meets the resolution deadline until the complaint goes back to work.
    pub fn resolution_met(&self) -> bool {
        matches!(self.status, ComplaintStatus::Resolved | ComplaintStatus::Confirmed | ComplaintStatus::Closed)
    }

    /// The spans the clocks stood still.
    fn pauses(&self) -> Vec<Pause> {
        let finished = self.waits.iter().map(|w| Pause { start: w.from, end: Some(w.until) });
        finished.chain(self.waiting_since.map(|start| Pause { start, end: None })).collect()
    }
}

impl SlaPolicy {
    /// Parses a policy file (JSON, every severity given, hours as positive integers; optional
    /// `calendar`, `watch_words`, `update_lead_hours`).
    pub fn from_json(text: &str) -> Result<SlaPolicy, PolicyError> {
        serde_json::from_str(text).map_err(|e| PolicyError(e.to_string()))
    }

    /// How `severity`'s clocks count time.
    pub fn hours(&self, severity: Severity) -> Hours<'_> {
        match (&self.calendar, self.level(severity).business_hours) {
            (Some(calendar), true) => Hours::Business(calendar),
            _ => Hours::AroundTheClock,
        }
    }

    /// How often, in hours, a customer of `severity` hears from the desk after the acknowledgement.
    pub fn update_every_hours(&self, severity: Severity) -> i64 {
        let default = match severity {
            Severity::Critical => 4,
            Severity::High => 24,
            Severity::Normal => 72,
            Severity::Low => 7 * 24,
        };
        self.level(severity).update_every_hours.unwrap_or(default)
    }

    /// The business calendar, if the policy has one.
    pub fn calendar(&self) -> Option<&Calendar> {
        self.calendar.as_ref()
    }

    /// The watch words, lower-cased.
    pub fn watch_words(&self) -> &[String] {
        &self.watch_words
    }

    /// The first watch word `text` mentions (case-insensitive), if any.
    pub fn watched_word(&self, text: &str) -> Option<&str> {
        let lower = text.to_lowercase();
        self.watch_words.iter().find(|w| lower.contains(w.as_str())).map(String::as_str)
    }

    /// How long before an update falls due the needs-attention view lists it, in hours.
    pub fn update_lead_hours(&self) -> i64 {
        self.update_lead_hours
    }

    /// The deadline alerts the policy asks for, if any.
    pub fn alerts(&self) -> Option<&AlertPolicy> {
        self.alerts.as_ref()
    }

    /// The deadlines of a complaint whose clock is `clock` that deserve an alert at `as_of`: each not
    /// met yet that has passed (`overdue`) or falls due within `lead_hours` (`due_soon`). The same
    /// clocks as [`SlaPolicy::deadlines_of`]. None for a closed complaint, and no `due_soon` while it
    /// waits on the customer: its clocks stand still, so nothing falls due until the wait ends (and a
    /// due instant that moves with the wait would alert anew at every look).
    pub fn alerts_of(&self, clock: &Clock<'_>, as_of: Timestamp, lead_hours: i64) -> Vec<Alert> {
        if clock.status == ComplaintStatus::Closed {
            return Vec::new();
        }
        let d = self.deadlines_of(clock, as_of);
        let unresolved = !clock.resolution_met();
        let horizon = as_of.plus_seconds(lead_hours.saturating_mul(HOUR));
        let candidates = [
            (OverdueReason::Acknowledgement, clock.acknowledged_at.is_none().then_some(d.ack_due)),
            (OverdueReason::Resolution, unresolved.then_some(d.resolution_due)),
            (OverdueReason::Promise, d.promised_due.filter(|_| unresolved)),
            (OverdueReason::Update, d.next_update_due),
        ];
        candidates
            .into_iter()
            .filter_map(|(deadline, due)| {
                let due = due?;
                let state = if as_of > due {
                    AlertState::Overdue
                } else if due <= horizon && clock.waiting_since.is_none() {
                    AlertState::DueSoon
                } else {
                    return None;
                };
                Some(Alert { deadline, due, state })
            })
            .collect()
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

    /// The deadlines of a complaint whose clock is `clock`, judged at `as_of`. The service-level clocks
    /// (acknowledgement, resolution, update) count the severity's hours — around the clock or on the
    /// business calendar — and stand still while the complaint waits on the customer (a wait still open
    /// is taken to end at `as_of`, so a waiting complaint falls overdue only by time spent before it
    /// waited). The promise is the date told to the customer: it neither pauses nor follows the calendar.
    pub fn deadlines_of(&self, clock: &Clock<'_>, as_of: Timestamp) -> Deadlines {
        let level = self.level(clock.severity);
        let hours = self.hours(clock.severity);
        let pauses = clock.pauses();
        let due = |from: Timestamp, budget_hours: i64| calendar::due(from, budget_hours * HOUR, &pauses, hours, as_of);
        let ack_due = due(clock.received_at, level.acknowledge_within_hours);
        let resolution_due = due(clock.received_at, level.resolve_within_hours);
        let open = clock.status != ComplaintStatus::Closed;
        let next_update_due = match clock.acknowledged_at {
            Some(acknowledged) if open && !clock.resolution_met() => {
                let from = clock.last_contact_at.map_or(acknowledged, |contact| contact.max(acknowledged));
                Some(due(from, self.update_every_hours(clock.severity)))
            }
            _ => None,
        };
        let mut overdue_reasons = Vec::new();
        if open {
            if clock.acknowledged_at.is_none() && as_of > ack_due {
                overdue_reasons.push(OverdueReason::Acknowledgement);
            }
            if !clock.resolution_met() && as_of > resolution_due {
                overdue_reasons.push(OverdueReason::Resolution);
            }
            if !clock.resolution_met() && clock.promised_due.is_some_and(|due| as_of > due) {
                overdue_reasons.push(OverdueReason::Promise);
            }
            if next_update_due.is_some_and(|due| as_of > due) {
                overdue_reasons.push(OverdueReason::Update);
            }
        }
        Deadlines { ack_due, resolution_due, promised_due: clock.promised_due, next_update_due, overdue_reasons }
    }

    /// A lower bound of the earliest deadline `clock` has not met yet (acknowledgement, resolution,
    /// promise or update), whatever the instant: the order of the open queue, which a view scans until
    /// the bound passes the instant it asks about. Exact unless the complaint waits on the customer
    /// (its clocks then run out no earlier than if the wait had ended when it began). `None` when every
    /// one is met.
    pub fn earliest_unmet(&self, clock: &Clock<'_>) -> Option<Timestamp> {
        if clock.status == ComplaintStatus::Closed {
            return None;
        }
        let d = self.deadlines_of(clock, clock.waiting_since.unwrap_or(clock.received_at));
        let ack = clock.acknowledged_at.is_none().then_some(d.ack_due);
        let unresolved = !clock.resolution_met();
        let resolution = unresolved.then_some(d.resolution_due);
        let promise = d.promised_due.filter(|_| unresolved);
        [ack, resolution, promise, d.next_update_due].into_iter().flatten().min()
    }
}

/// A delivered solution meets the resolution deadline until the complaint goes back to work.
pub fn resolution_met(complaint: &ComplaintState) -> bool {
    Clock::from(complaint).resolution_met()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_FILE: &str = r#"{
        "critical": {"acknowledge_within_hours": 1, "resolve_within_hours": 12},
        "high": {"acknowledge_within_hours": 4, "resolve_within_hours": 72},
        "normal": {"acknowledge_within_hours": 24, "resolve_within_hours": 168},
        "low": {"acknowledge_within_hours": 48, "resolve_within_hours": 336}
    }"#;

    fn with(extra: &str) -> String {
        V1_FILE.trim_end().trim_end_matches('}').to_owned() + "," + extra + "}"
    }

    #[test]
    fn a_version_1_policy_file_still_reads_with_the_v1_1_defaults() {
        let policy = SlaPolicy::from_json(V1_FILE).unwrap();
        assert_eq!(policy.critical.acknowledge_within_hours, 1);
        assert_eq!(policy.update_every_hours(Severity::Critical), 4);
        assert_eq!(policy.update_every_hours(Severity::Low), 168);
        assert!(matches!(policy.hours(Severity::Low), Hours::AroundTheClock));
        assert_eq!(policy.watch_words().len(), WATCH_WORDS_DEFAULT.len());
        assert_eq!(policy.update_lead_hours(), 4);
    }

    #[test]
    fn business_hours_run_on_the_calendar_of_the_policy() {
        let text = V1_FILE.replace(
            r#""low": {"acknowledge_within_hours": 48, "resolve_within_hours": 336}"#,
            r#""low": {"acknowledge_within_hours": 48, "resolve_within_hours": 336, "business_hours": true, "update_every_hours": 100}"#,
        );
        let text = text.trim_end().trim_end_matches('}').to_owned()
            + r#", "calendar": {"timezone": "Asia/Shanghai", "working_days": ["mon","tue","wed","thu","fri"],
                "opens": "09:00", "closes": "18:00", "holidays": ["2026-10-01"]}}"#;
        let policy = SlaPolicy::from_json(&text).unwrap();
        assert!(matches!(policy.hours(Severity::Low), Hours::Business(_)));
        assert!(matches!(policy.hours(Severity::Critical), Hours::AroundTheClock));
        assert_eq!(policy.update_every_hours(Severity::Low), 100);
        // What it writes reads back as the same policy.
        let written = serde_json::to_string(&policy).unwrap();
        assert_eq!(SlaPolicy::from_json(&written).unwrap(), policy);
    }

    #[test]
    fn a_bad_policy_file_is_refused_saying_what_is_wrong() {
        let refused = |text: &str| SlaPolicy::from_json(text).unwrap_err().to_string();
        let business = V1_FILE.replacen(
            r#""resolve_within_hours": 12}"#,
            r#""resolve_within_hours": 12, "business_hours": true}"#,
            1,
        );
        assert!(refused(&business).contains("business_hours needs a calendar"), "{}", refused(&business));
        let zero = V1_FILE.replacen(
            r#""resolve_within_hours": 12}"#,
            r#""resolve_within_hours": 12, "update_every_hours": 0}"#,
            1,
        );
        assert!(refused(&zero).contains("update_every_hours must be positive"));
        let calendar = with(
            r#""calendar": {"timezone": "Nowhere/City", "working_days": ["mon"], "opens": "09:00", "closes": "17:00"}"#,
        );
        assert!(refused(&calendar).contains("timezone"), "{}", refused(&calendar));
        assert!(refused(&with(r#""watch_words": ["  "]"#)).contains("watch_words"));
        let many = format!(r#""watch_words": [{}]"#, vec!["\"w\""; WATCH_WORDS_MAX + 1].join(","));
        assert!(refused(&with(&many)).contains("at most"));
        assert!(refused(&with(r#""update_lead_hours": -1"#)).contains("update_lead_hours"));
        assert!(refused(&with(r#""sla": 3"#)).contains("unknown field"));
    }

    #[test]
    fn a_text_that_mentions_a_regulator_the_media_or_a_lawyer_is_watched() {
        let policy = SlaPolicy::default();
        assert_eq!(policy.watched_word("如果再不处理我就打12315投诉"), Some("12315"));
        assert_eq!(policy.watched_word("My LAWYER will write to you"), Some("lawyer"));
        assert_eq!(policy.watched_word("打印机卡纸"), None);
        let own = SlaPolicy::from_json(&with(r#""watch_words": ["Ombudsman"]"#)).unwrap();
        assert_eq!(own.watched_word("I will go to the ombudsman"), Some("ombudsman"));
        assert_eq!(own.watched_word("12315"), None, "a policy's own list replaces the default");
    }

    #[test]
    fn alerts_name_subscriptions_with_a_lead_time_and_a_bad_alert_policy_is_refused() {
        assert_eq!(SlaPolicy::from_json(V1_FILE).unwrap().alerts(), None, "no alerts unless asked for");
        let policy = SlaPolicy::from_json(&with(r#""alerts": {"subscriptions": ["desk-alerts"]}"#)).unwrap();
        let alerts = policy.alerts().unwrap();
        assert_eq!(
            (alerts.subscriptions.clone(), alerts.lead_hours, alerts.scan_seconds),
            (vec!["desk-alerts".into()], 4, 30)
        );
        let refused = |extra: &str| SlaPolicy::from_json(&with(extra)).unwrap_err().to_string();
        for (alerts, says) in [
            (r#"{"subscriptions": []}"#, "alerts.subscriptions"),
            (r#"{"subscriptions": ["Desk Alerts"]}"#, "not a subscription name"),
            (r#"{"subscriptions": ["a"], "lead_hours": 721}"#, "alerts.lead_hours"),
            (r#"{"subscriptions": ["a"], "lead_hours": -1}"#, "alerts.lead_hours"),
            (r#"{"subscriptions": ["a"], "scan_seconds": 0}"#, "alerts.scan_seconds"),
            (r#"{"subscriptions": ["a"], "every": 5}"#, "unknown field"),
        ] {
            let message = refused(&format!(r#""alerts": {alerts}"#));
            assert!(message.contains(says), "{alerts}: {message}");
        }
    }

    #[test]
    fn an_alert_is_due_soon_within_the_lead_overdue_after_and_never_while_waiting_or_closed() {
        let policy = SlaPolicy::default(); // normal: acknowledge within 24 h
        let at = |t: &str| Timestamp::parse(t).unwrap();
        let clock = Clock {
            severity: Severity::Normal,
            status: ComplaintStatus::Received,
            received_at: at("2026-01-01T00:00:00Z"),
            acknowledged_at: None,
            promised_due: None,
            waits: &[],
            waiting_since: None,
            last_contact_at: None,
        };
        let alert =
            |state| vec![Alert { deadline: OverdueReason::Acknowledgement, due: at("2026-01-02T00:00:00Z"), state }];
        assert_eq!(policy.alerts_of(&clock, at("2026-01-01T19:59:59Z"), 4), vec![], "before the lead time");
        assert_eq!(policy.alerts_of(&clock, at("2026-01-01T20:00:00Z"), 4), alert(AlertState::DueSoon));
        assert_eq!(
            policy.alerts_of(&clock, at("2026-01-02T00:00:00Z"), 4),
            alert(AlertState::DueSoon),
            "due, not passed"
        );
        assert_eq!(policy.alerts_of(&clock, at("2026-01-02T00:00:00.000000001Z"), 4), alert(AlertState::Overdue));
        let waiting = Clock { waiting_since: Some(at("2026-01-01T10:00:00Z")), ..clock };
        assert_eq!(policy.alerts_of(&waiting, at("2026-01-01T21:00:00Z"), 4), vec![], "the clocks stand still");
        let closed = Clock { status: ComplaintStatus::Closed, ..clock };
        assert_eq!(policy.alerts_of(&closed, at("2026-01-03T00:00:00Z"), 4), vec![]);
    }
}
