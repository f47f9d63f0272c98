//! The in-memory half of the complaints fold: a compact summary of every complaint and the indexes the
//! views scan, kept up to date one complaint at a time.

use crate::policy::{Clock, SlaPolicy};
use redress_engine::lifecycle::{ComplaintState, ComplaintStatus, Wait};
use redress_schemas::{Channel, CustomerTier, Outcome, Severity, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A symbol: an interned string (customer, category, department, root cause).
pub(crate) type Sym = u32;
/// No symbol (a department before the cause is analysed).
pub(crate) const NONE: Sym = u32::MAX;

/// Strings held once, by symbol.
#[derive(Default)]
pub(crate) struct Interner {
    ids: HashMap<Arc<str>, Sym>,
    names: Vec<Arc<str>>,
}

impl Interner {
    pub(crate) fn intern(&mut self, name: &str) -> Sym {
        if let Some(&sym) = self.ids.get(name) {
            return sym;
        }
        let sym = self.names.len() as Sym;
        let name: Arc<str> = name.into();
        self.names.push(Arc::clone(&name));
        self.ids.insert(name, sym);
        sym
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<Sym> {
        self.ids.get(name).copied()
    }

    pub(crate) fn name(&self, sym: Sym) -> Option<&str> {
        (sym != NONE).then(|| self.names.get(sym as usize).map(|n| &**n)).flatten()
    }
}

/// What the views need of a complaint, without its texts, solutions or history.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub(crate) id: Arc<str>,
    pub(crate) customer: Sym,
    pub(crate) category: Sym,
    pub(crate) department: Sym,
    pub(crate) root_cause: Sym,
    pub(crate) channel: Channel,
    pub(crate) severity: Severity,
    pub(crate) tier: Option<CustomerTier>,
    pub(crate) status: ComplaintStatus,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) received_at: Timestamp,
    pub(crate) acknowledged_at: Option<Timestamp>,
    pub(crate) delivered_at: Option<Timestamp>,
    pub(crate) closed_at: Option<Timestamp>,
    pub(crate) promised_due: Option<Timestamp>,
    pub(crate) escalation_level: u32,
    pub(crate) reopen_count: u32,
    pub(crate) apology_visits: u32,
    /// Every revisit grade, in order.
    pub(crate) grades: Box<[u8]>,
    /// A revisit found the issue still there.
    pub(crate) persists: bool,
    pub(crate) confirmed_satisfied: bool,
    /// The latest assignment's assignee and team (v1.1).
    pub(crate) owner: Sym,
    pub(crate) team: Sym,
    pub(crate) waiting_since: Option<Timestamp>,
    pub(crate) waits: Box<[Wait]>,
    pub(crate) last_contact_at: Option<Timestamp>,
    /// The first of the policy's watch words the description mentions.
    pub(crate) watched: Sym,
    pub(crate) reopened_at: Option<Timestamp>,
    /// The latest revisit that found the issue still there.
    pub(crate) persisted_at: Option<Timestamp>,
    /// The credential that recorded the complaint's receipt (`recorded_by` of `complaint_received`,
    /// v1.1): the intake system or person. NONE for a complaint received before v1.1.
    pub(crate) recorded_by: Sym,
}

impl Summary {
    pub(crate) fn clock(&self) -> Clock<'_> {
        Clock {
            severity: self.severity,
            status: self.status,
            received_at: self.received_at,
            acknowledged_at: self.acknowledged_at,
            promised_due: self.promised_due,
            waits: &self.waits,
            waiting_since: self.waiting_since,
            last_contact_at: self.last_contact_at,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.status != ComplaintStatus::Closed
    }

    /// Reached a resolution at least once (the base of the reopen rate).
    pub(crate) fn resolved_ever(&self) -> bool {
        self.delivered_at.is_some() || self.closed_at.is_some()
    }
}

/// A summary as stored: strings instead of symbols. Fields are only ever appended (bincode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredSummary {
    pub complaint_id: String,
    pub customer_id: String,
    pub category: String,
    pub department: Option<String>,
    pub root_cause: Option<String>,
    pub channel: Channel,
    pub severity: Severity,
    pub tier: Option<CustomerTier>,
    pub status: ComplaintStatus,
    pub outcome: Option<Outcome>,
    pub received_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub promised_due: Option<Timestamp>,
    pub escalation_level: u32,
    pub reopen_count: u32,
    pub apology_visits: u32,
    pub grades: Vec<u8>,
    pub persists: bool,
    pub confirmed_satisfied: bool,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub waiting_since: Option<Timestamp>,
    pub waits: Vec<Wait>,
    pub last_contact_at: Option<Timestamp>,
    pub watched: Option<String>,
    pub reopened_at: Option<Timestamp>,
    pub persisted_at: Option<Timestamp>,
    pub recorded_by: Option<String>,
}

/// What a summary is made of, borrowed from a stored summary or a complaint's state: no string is
/// copied on the way (interning looks them up).
pub(crate) struct Parts<'a> {
    pub complaint_id: &'a str,
    pub customer_id: &'a str,
    pub category: &'a str,
    pub department: Option<&'a str>,
    pub root_cause: Option<&'a str>,
    pub channel: Channel,
    pub severity: Severity,
    pub tier: Option<CustomerTier>,
    pub status: ComplaintStatus,
    pub outcome: Option<Outcome>,
    pub received_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub promised_due: Option<Timestamp>,
    pub escalation_level: u32,
    pub reopen_count: u32,
    pub apology_visits: u32,
    pub grades: &'a mut dyn Iterator<Item = u8>,
    pub persists: bool,
    pub confirmed_satisfied: bool,
    pub owner: Option<&'a str>,
    pub team: Option<&'a str>,
    pub waiting_since: Option<Timestamp>,
    pub waits: &'a [Wait],
    pub last_contact_at: Option<Timestamp>,
    pub watched: Option<&'a str>,
    pub reopened_at: Option<Timestamp>,
    pub persisted_at: Option<Timestamp>,
    pub recorded_by: Option<&'a str>,
}

impl StoredSummary {
    fn parts<'a>(&'a self, grades: &'a mut dyn Iterator<Item = u8>) -> Parts<'a> {
        Parts {
            complaint_id: &self.complaint_id,
            customer_id: &self.customer_id,
            category: &self.category,
            department: self.department.as_deref(),
            root_cause: self.root_cause.as_deref(),
            channel: self.channel,
            severity: self.severity,
            tier: self.tier,
            status: self.status,
            outcome: self.outcome,
            received_at: self.received_at,
            acknowledged_at: self.acknowledged_at,
            delivered_at: self.delivered_at,
            closed_at: self.closed_at,
            promised_due: self.promised_due,
            escalation_level: self.escalation_level,
            reopen_count: self.reopen_count,
            apology_visits: self.apology_visits,
            grades,
            persists: self.persists,
            confirmed_satisfied: self.confirmed_satisfied,
            owner: self.owner.as_deref(),
            team: self.team.as_deref(),
            waiting_since: self.waiting_since,
            waits: &self.waits,
            last_contact_at: self.last_contact_at,
            watched: self.watched.as_deref(),
            reopened_at: self.reopened_at,
            persisted_at: self.persisted_at,
            recorded_by: self.recorded_by.as_deref(),
        }
    }
}

/// The grouping dimensions of `satisfaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dimension {
    Department,
    Category,
    Channel,
    /// The latest assignee (v1.1).
    Owner,
    /// The latest assignment's team (v1.1).
    Team,
    /// Who recorded the complaint's receipt (v1.1).
    RecordedBy,
}

/// The `group_by` values of the `satisfaction` view, in the order it lists them (and of `Dimension::ALL`).
pub const SATISFACTION_GROUP_BY: [&str; 6] = ["department", "category", "channel", "owner", "team", "recorded_by"];

impl Dimension {
    pub(crate) const ALL: [Dimension; 6] = [
        Dimension::Department,
        Dimension::Category,
        Dimension::Channel,
        Dimension::Owner,
        Dimension::Team,
        Dimension::RecordedBy,
    ];

    /// Parses a name of [`SATISFACTION_GROUP_BY`] (in the order of `ALL`).
    pub(crate) fn parse(name: &str) -> Option<Dimension> {
        SATISFACTION_GROUP_BY.iter().position(|n| *n == name).map(|i| Dimension::ALL[i])
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Seconds from receipt to an instant, for the percentile maps (0 if the instant comes first).
fn seconds_after(from: Timestamp, to: Timestamp) -> u32 {
    ((to.unix_nanos() - from.unix_nanos()).max(0) / 1_000_000_000).min(i64::from(u32::MAX)) as u32
}

/// Running satisfaction figures of one group, over what no longer depends on the instant asked about:
/// grades, and the deadlines already met or missed.
#[derive(Debug, Default, Clone)]
pub(crate) struct GroupFigures {
    pub complaints: u64,
    pub grades: [u64; 5],
    /// Seconds to acknowledge → complaints.
    pub ack_seconds: BTreeMap<u32, u64>,
    /// Seconds to the (latest) delivery → complaints.
    pub resolve_seconds: BTreeMap<u32, u64>,
    pub ack_met: u64,
    pub ack_judged: u64,
    pub resolution_met: u64,
    pub resolution_judged: u64,
    pub promise_met: u64,
    pub promise_judged: u64,
    /// Seconds to acknowledge and to deliver of complaints loaded from a checkpoint, not yet in the two
    /// maps: a load adds them in bulk ([`GroupFigures::settle`]), a sort instead of a tree search each.
    deferred: [Vec<u32>; 2],
}

impl GroupFigures {
    /// Adds `other`'s figures to these.
    pub(crate) fn merge(&mut self, other: &GroupFigures) {
        self.complaints += other.complaints;
        for (mine, theirs) in self.grades.iter_mut().zip(other.grades) {
            *mine += theirs;
        }
        for (map, from) in
            [(&mut self.ack_seconds, &other.ack_seconds), (&mut self.resolve_seconds, &other.resolve_seconds)]
        {
            for (seconds, n) in from {
                *map.entry(*seconds).or_default() += n;
            }
        }
        self.ack_met += other.ack_met;
        self.ack_judged += other.ack_judged;
        self.resolution_met += other.resolution_met;
        self.resolution_judged += other.resolution_judged;
        self.promise_met += other.promise_met;
        self.promise_judged += other.promise_judged;
    }

    /// Adds (`sign` 1) or removes (`sign` -1) one complaint's settled part.
    pub(crate) fn account(&mut self, s: &Summary, policy: &SlaPolicy, sign: i64) {
        self.account_deferring(s, policy, sign, false);
    }

    /// [`GroupFigures::account`], keeping the seconds aside when `defer` (adding only) until
    /// [`GroupFigures::settle`].
    fn account_deferring(&mut self, s: &Summary, policy: &SlaPolicy, sign: i64, defer: bool) {
        let defer = defer && sign > 0;
        let add = |n: &mut u64, yes: bool| {
            if yes {
                *n = n.wrapping_add_signed(sign);
            }
        };
        let d = policy.deadlines_of(&s.clock(), s.received_at);
        add(&mut self.complaints, true);
        for grade in s.grades.iter().filter(|g| (1..=5).contains(*g)) {
            add(&mut self.grades[usize::from(*grade) - 1], true);
        }
        if let Some(at) = s.acknowledged_at {
            let seconds = seconds_after(s.received_at, at);
            if defer {
                self.deferred[0].push(seconds);
            } else {
                bump(&mut self.ack_seconds, seconds, sign);
            }
            add(&mut self.ack_judged, true);
            add(&mut self.ack_met, at <= d.ack_due);
        } else if let Some(closed) = s.closed_at {
            // Closed unacknowledged: judged once and for all by when it closed.
            add(&mut self.ack_judged, closed > d.ack_due);
        }
        if let Some(at) = s.delivered_at {
            let seconds = seconds_after(s.received_at, at);
            if defer {
                self.deferred[1].push(seconds);
            } else {
                bump(&mut self.resolve_seconds, seconds, sign);
            }
            add(&mut self.resolution_judged, true);
            add(&mut self.resolution_met, at <= d.resolution_due);
            if let Some(promised) = s.promised_due {
                add(&mut self.promise_judged, true);
                add(&mut self.promise_met, at <= promised);
            }
        }
    }

    /// Adds the deferred seconds to their maps: sorted, counted in runs, and built in one pass when the
    /// map is empty (as after a load).
    fn settle(&mut self) {
        let [ack, resolve] = std::mem::take(&mut self.deferred);
        for (mut seconds, map) in [(ack, &mut self.ack_seconds), (resolve, &mut self.resolve_seconds)] {
            seconds.sort_unstable();
            let mut runs: Vec<(u32, u64)> = Vec::new();
            for s in seconds {
                match runs.last_mut() {
                    Some((last, n)) if *last == s => *n += 1,
                    _ => runs.push((s, 1)),
                }
            }
            if map.is_empty() {
                *map = runs.into_iter().collect();
            } else {
                for (s, n) in runs {
                    *map.entry(s).or_default() += n;
                }
            }
        }
    }
}

fn bump(map: &mut BTreeMap<u32, u64>, key: u32, sign: i64) {
    let count = map.entry(key).or_default();
    *count = count.wrapping_add_signed(sign);
    if *count == 0 {
        map.remove(&key);
    }
}

/// Repeat chains computed for one window at one state, reused by every page asked of them.
pub(crate) struct RepeatCache {
    pub changes: u64,
    pub window_days: i64,
    pub chains: Arc<Vec<(Sym, Sym, Vec<u32>)>>,
}

/// Every complaint's summary and the indexes over them.
pub(crate) struct Book {
    pub policy: SlaPolicy,
    pub strings: Interner,
    pub slots: Vec<Summary>,
    pub by_id: HashMap<Arc<str>, u32>,
    pub by_customer: HashMap<Sym, Vec<u32>>,
    /// Open complaints by their earliest unmet deadline (`i64::MAX`: none unmet), then id.
    pub queue: BTreeSet<(i64, Arc<str>)>,
    /// Arrivals (`received_at`, slot) of each (root cause, department).
    pub causes: HashMap<(Sym, Sym), BTreeSet<(Timestamp, u32)>>,
    /// Complaints a revisit found persisting, by id.
    pub persisting: BTreeSet<Arc<str>>,
    pub reopened: u64,
    pub resolved_ever: u64,
    /// Per dimension, per group symbol (channels by their index), the settled figures.
    pub figures: [HashMap<Sym, GroupFigures>; Dimension::ALL.len()],
    /// Bumped by every change: caches compare it.
    pub changes: u64,
    /// Bumped by a change repeat chains depend on (a complaint arrives, or its customer, category or
    /// receipt changes): most events leave the cached chains valid.
    pub chain_changes: u64,
    pub repeat_cache: Mutex<Vec<RepeatCache>>,
    /// While a checkpoint is loaded: the groups' seconds wait for [`Book::loaded`].
    loading: bool,
}

impl Book {
    pub(crate) fn new(policy: SlaPolicy) -> Book {
        Book {
            policy,
            strings: Interner::default(),
            slots: Vec::new(),
            by_id: HashMap::new(),
            by_customer: HashMap::new(),
            queue: BTreeSet::new(),
            causes: HashMap::new(),
            persisting: BTreeSet::new(),
            reopened: 0,
            resolved_ever: 0,
            figures: Default::default(),
            changes: 0,
            chain_changes: 0,
            repeat_cache: Mutex::new(Vec::new()),
            loading: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn summary_of(&mut self, s: Parts<'_>, id: Arc<str>) -> Summary {
        let mut sym = |name: Option<&str>| name.map_or(NONE, |n| self.strings.intern(n));
        Summary {
            id,
            customer: sym(Some(s.customer_id)),
            category: sym(Some(s.category)),
            department: sym(s.department),
            root_cause: sym(s.root_cause),
            channel: s.channel,
            severity: s.severity,
            tier: s.tier,
            status: s.status,
            outcome: s.outcome,
            received_at: s.received_at,
            acknowledged_at: s.acknowledged_at,
            delivered_at: s.delivered_at,
            closed_at: s.closed_at,
            promised_due: s.promised_due,
            escalation_level: s.escalation_level,
            reopen_count: s.reopen_count,
            apology_visits: s.apology_visits,
            grades: s.grades.collect(),
            persists: s.persists,
            confirmed_satisfied: s.confirmed_satisfied,
            owner: sym(s.owner),
            team: sym(s.team),
            waiting_since: s.waiting_since,
            waits: s.waits.into(),
            last_contact_at: s.last_contact_at,
            watched: sym(s.watched),
            reopened_at: s.reopened_at,
            persisted_at: s.persisted_at,
            recorded_by: sym(s.recorded_by),
        }
    }

    /// The group symbol of `s` in `dimension` (channels are small enums: their index).
    pub(crate) fn group_of(&self, s: &Summary, dimension: Dimension) -> Sym {
        match dimension {
            Dimension::Department => s.department,
            Dimension::Category => s.category,
            Dimension::Channel => s.channel as Sym,
            Dimension::Owner => s.owner,
            Dimension::Team => s.team,
            Dimension::RecordedBy => s.recorded_by,
        }
    }

    /// Adds (`sign` 1) or removes (`sign` -1) a summary from every index.
    fn index(&mut self, slot: u32, sign: i64) {
        let s = &self.slots[slot as usize];
        let unmet = self.policy.earliest_unmet(&s.clock()).map_or(i64::MAX, Timestamp::unix_nanos);
        let open = s.is_open();
        let cause = (s.root_cause != NONE && s.department != NONE).then_some((s.root_cause, s.department));
        let (received, persists, id) = (s.received_at, s.persists, Arc::clone(&s.id));
        let (reopened, resolved) = (s.reopen_count > 0, s.resolved_ever());
        let groups = Dimension::ALL.map(|d| (d.index(), self.group_of(s, d)));
        let adding = sign > 0;
        if open {
            if adding {
                self.queue.insert((unmet, Arc::clone(&id)));
            } else {
                self.queue.remove(&(unmet, Arc::clone(&id)));
            }
        }
        if let Some(key) = cause {
            if adding {
                self.causes.entry(key).or_default().insert((received, slot));
            } else if let Some(set) = self.causes.get_mut(&key) {
                set.remove(&(received, slot));
                if set.is_empty() {
                    self.causes.remove(&key);
                }
            }
        }
        if persists {
            if adding {
                self.persisting.insert(id);
            } else {
                self.persisting.remove(&id);
            }
        }
        self.reopened = self.reopened.wrapping_add_signed(if reopened { sign } else { 0 });
        self.resolved_ever = self.resolved_ever.wrapping_add_signed(if resolved { sign } else { 0 });
        for (dimension, group) in groups {
            let figures = self.figures[dimension].entry(group).or_default();
            figures.account_deferring(&self.slots[slot as usize], &self.policy, sign, self.loading);
            if figures.complaints == 0 {
                self.figures[dimension].remove(&group);
            }
        }
    }

    fn put(&mut self, parts: Parts<'_>) -> u32 {
        self.changes += 1;
        match self.by_id.get(parts.complaint_id).copied() {
            Some(slot) => {
                self.index(slot, -1);
                let id = Arc::clone(&self.slots[slot as usize].id);
                let summary = self.summary_of(parts, id);
                let before = &self.slots[slot as usize];
                if (before.customer, before.category, before.received_at)
                    != (summary.customer, summary.category, summary.received_at)
                {
                    self.chain_changes += 1;
                }
                self.slots[slot as usize] = summary;
                self.index(slot, 1);
                slot
            }
            None => {
                let slot = self.slots.len() as u32;
                let id: Arc<str> = parts.complaint_id.into();
                let summary = self.summary_of(parts, Arc::clone(&id));
                self.chain_changes += 1;
                self.by_customer.entry(summary.customer).or_default().push(slot);
                self.slots.push(summary);
                self.by_id.insert(id, slot);
                self.index(slot, 1);
                slot
            }
        }
    }

    /// Takes in a stored summary (at open).
    /// Puts back a summary read from the checkpoint; call [`Book::loaded`] after the last one.
    pub(crate) fn load(&mut self, stored: &StoredSummary) {
        let mut grades = stored.grades.iter().copied();
        let parts = stored.parts(&mut grades);
        // Only a first load of a complaint may defer: a second one takes the first out of the maps.
        self.loading = !self.by_id.contains_key(parts.complaint_id);
        self.put(parts);
        self.loading = false;
    }

    /// Ends a load: the groups' figures take in what [`Book::load`] set aside.
    pub(crate) fn loaded(&mut self) {
        for figures in self.figures.iter_mut().flat_map(|by_group| by_group.values_mut()) {
            figures.settle();
        }
    }

    /// Brings `complaint`'s summary up to date after an event `recorded_by` appended; returns its slot.
    pub(crate) fn upsert(&mut self, c: &ComplaintState, recorded_by: Option<&str>) -> u32 {
        let mut grades = c.revisits.iter().map(|r| r.satisfaction);
        // The description never changes: look for watch words once, when the complaint arrives; and
        // who recorded the arrival is who recorded the first event.
        let (watched, recorded_by) = match self.by_id.get(c.complaint_id.as_str()) {
            Some(&slot) => {
                let s = &self.slots[slot as usize];
                (self.name(s.watched).map(str::to_owned), self.name(s.recorded_by).map(str::to_owned))
            }
            None => (self.policy.watched_word(&c.description).map(str::to_owned), recorded_by.map(str::to_owned)),
        };
        self.put(Parts {
            complaint_id: &c.complaint_id,
            customer_id: &c.customer_id,
            category: &c.category,
            department: c.responsible_department.as_deref(),
            root_cause: c.root_cause.as_deref(),
            channel: c.channel,
            severity: c.severity,
            tier: c.customer_tier,
            status: c.status,
            outcome: c.outcome,
            received_at: c.received_at,
            acknowledged_at: c.acknowledged_at,
            delivered_at: c.delivered_at,
            closed_at: c.closed_at,
            promised_due: c.commitment_due,
            escalation_level: c.escalation_level,
            reopen_count: c.reopen_count,
            apology_visits: c.apology_visits,
            grades: &mut grades,
            persists: c.revisits.iter().any(|r| r.issue_persists),
            confirmed_satisfied: c.confirmed_satisfied,
            owner: c.owner.as_deref(),
            team: c.team.as_deref(),
            waiting_since: c.waiting_since,
            waits: &c.waits,
            last_contact_at: c.last_contact_at,
            watched: watched.as_deref(),
            reopened_at: c.reopened_at,
            persisted_at: c.revisits.iter().rev().find(|r| r.issue_persists).map(|r| r.at),
            recorded_by: recorded_by.as_deref(),
        })
    }

    /// The summary of `slot` as stored.
    pub(crate) fn stored(&self, slot: u32) -> StoredSummary {
        let s = &self.slots[slot as usize];
        let name = |sym: Sym| self.strings.name(sym).map(str::to_owned);
        StoredSummary {
            complaint_id: s.id.to_string(),
            customer_id: name(s.customer).unwrap_or_default(),
            category: name(s.category).unwrap_or_default(),
            department: name(s.department),
            root_cause: name(s.root_cause),
            channel: s.channel,
            severity: s.severity,
            tier: s.tier,
            status: s.status,
            outcome: s.outcome,
            received_at: s.received_at,
            acknowledged_at: s.acknowledged_at,
            delivered_at: s.delivered_at,
            closed_at: s.closed_at,
            promised_due: s.promised_due,
            escalation_level: s.escalation_level,
            reopen_count: s.reopen_count,
            apology_visits: s.apology_visits,
            grades: s.grades.to_vec(),
            persists: s.persists,
            confirmed_satisfied: s.confirmed_satisfied,
            owner: name(s.owner),
            team: name(s.team),
            waiting_since: s.waiting_since,
            waits: s.waits.to_vec(),
            last_contact_at: s.last_contact_at,
            watched: name(s.watched),
            reopened_at: s.reopened_at,
            persisted_at: s.persisted_at,
            recorded_by: name(s.recorded_by),
        }
    }

    pub(crate) fn name(&self, sym: Sym) -> Option<&str> {
        self.strings.name(sym)
    }
}
