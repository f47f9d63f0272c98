//! The pure core of a persistent subscription: which admitted events are pending, which of them are
//! leased and until when, how often each was delivered, and the decisions `fetch`, `ack`, `nack` and
//! `retry` make over them. No clock (time comes in as `now_ms`), no I/O: each backend loads a
//! [`Ledger`] under its lock, calls [`Ledger::apply`], and writes back what [`diff`] says changed.
//!
//! Invariants (checked by the unit tests and the property test):
//! - an event is leased to at most one fetch at a time: a live lease is never handed out again;
//! - [`Ledger::position`] never passes an event that is neither acked nor parked: every admitted event
//!   below `read_next` that is still owed is in `pending`, and the position is the lowest of them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One admitted event that is still owed to the consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Deliveries so far (leases handed out).
    pub attempts: u32,
    /// The last lease handed out, `None` when available (never leased, or nacked).
    pub lease: Option<Lease>,
}

/// A lease: one fetch holds the event until `until_ms` (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The fetch that holds it: a nack names it, so a consumer whose lease ran out cannot release the
    /// event from under the consumer that holds it now.
    pub id: u64,
    pub until_ms: i64,
}

impl Entry {
    fn leased_at(&self, now_ms: i64) -> bool {
        self.lease.is_some_and(|lease| lease.until_ms > now_ms)
    }
}

/// Why an event was parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParkReason {
    /// Delivered `max_attempts` times without an ack.
    MaxAttempts,
    /// A consumer nacked it with `park: true`.
    Nacked,
}

impl ParkReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParkReason::MaxAttempts => "max_attempts",
            ParkReason::Nacked => "nacked",
        }
    }

    /// The reason with wire name `text`.
    pub fn from_name(text: &str) -> Option<ParkReason> {
        match text {
            "max_attempts" => Some(ParkReason::MaxAttempts),
            "nacked" => Some(ParkReason::Nacked),
            _ => None,
        }
    }
}

/// An event taken out of the flow until someone retries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parked {
    pub position: u64,
    pub attempts: u32,
    pub reason: ParkReason,
}

/// A subscription's delivery state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// The next log position not yet looked at.
    pub read_next: u64,
    /// Admitted events below `read_next` (or retried from the parked list) that are neither acked nor
    /// parked, by position.
    pub pending: BTreeMap<u64, Entry>,
    /// How many events are parked.
    pub parked_count: u64,
}

/// The bounds a change is judged by (from the definition and the crate's limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Deliveries after which an unacked event is parked.
    pub max_attempts: u32,
    /// How many events may be pending at once: a fetch reads no further while this many are owed.
    pub pending_max: usize,
    /// How many events may be parked; beyond it an event past `max_attempts` stays pending and is
    /// delivered again (the subscription degrades to plain retry rather than dropping anything).
    pub parked_max: u64,
}

/// A change to one subscription's ledger. Applied atomically by the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Takes in the log events from `fresh` (contiguous positions with whether the subscription's filter
    /// admits each), then leases up to `max` available events, lowest position first, until
    /// `now_ms + lease_ms` under lease `lease_id`. `exclusive`: lease nothing while any lease is live (a webhook delivers one
    /// batch at a time, in log order, even with several servers).
    Fetch { fresh: Vec<(u64, bool)>, max: usize, now_ms: i64, lease_ms: i64, lease_id: u64, exclusive: bool },
    /// These events were handled: they leave the ledger.
    Ack { positions: Vec<u64> },
    /// These events were not handled: available again at once, or parked (`park`). An event that has
    /// used up its attempts is parked either way. With `lease_id`, only events still under that lease
    /// (a later fetch may hold the others now).
    Nack { positions: Vec<u64>, park: bool, lease_id: Option<u64> },
    /// Puts parked events back (the backend took them off its parked list), with their attempts reset.
    Retry { positions: Vec<u64> },
}

/// What a change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Fetch: the leased positions in order, with the attempt number each delivery is.
    pub leased: Vec<(u64, u32)>,
    /// Ack, nack, retry: the positions it applied to (others were not pending: acked already, never
    /// delivered, or unknown).
    pub applied: Vec<u64>,
    /// Events this change parked (the backend adds them to its parked list).
    pub parked: Vec<Parked>,
}

impl Ledger {
    /// A new subscription's ledger, starting at log position `start`.
    pub fn starting_at(start: u64) -> Ledger {
        Ledger { read_next: start, ..Ledger::default() }
    }

    /// Every event below this position has been acked, parked or filtered out.
    pub fn position(&self) -> u64 {
        self.pending.keys().next().map_or(self.read_next, |first| (*first).min(self.read_next))
    }

    /// Pending events leased at `now_ms`.
    pub fn in_flight(&self, now_ms: i64) -> usize {
        self.pending.values().filter(|entry| entry.leased_at(now_ms)).count()
    }

    /// Applies `change` within `bounds`.
    pub fn apply(&mut self, change: Change, bounds: Bounds) -> Outcome {
        let mut outcome = Outcome::default();
        match change {
            Change::Fetch { fresh, max, now_ms, lease_ms, lease_id, exclusive } => {
                self.absorb(&fresh, bounds.pending_max);
                if exclusive && self.in_flight(now_ms) > 0 {
                    return outcome;
                }
                let mut park = Vec::new();
                for (&position, entry) in self.pending.iter_mut() {
                    if outcome.leased.len() >= max {
                        break;
                    }
                    if entry.leased_at(now_ms) {
                        continue;
                    }
                    if entry.attempts >= bounds.max_attempts
                        && self.parked_count + (park.len() as u64) < bounds.parked_max
                    {
                        // An expired lease on the last attempt: it will not be delivered again.
                        park.push(Parked { position, attempts: entry.attempts, reason: ParkReason::MaxAttempts });
                        continue;
                    }
                    entry.attempts = entry.attempts.saturating_add(1);
                    entry.lease = Some(Lease { id: lease_id, until_ms: now_ms.saturating_add(lease_ms) });
                    outcome.leased.push((position, entry.attempts));
                }
                self.park_all(park, &mut outcome);
            }
            Change::Ack { positions } => {
                for position in positions {
                    if self.pending.remove(&position).is_some() {
                        outcome.applied.push(position);
                    }
                }
            }
            Change::Nack { positions, park, lease_id } => {
                let mut parked = Vec::new();
                for position in positions {
                    let Some(entry) = self.pending.get_mut(&position) else { continue };
                    if lease_id.is_some_and(|id| entry.lease.map(|lease| lease.id) != Some(id)) {
                        continue;
                    }
                    outcome.applied.push(position);
                    entry.lease = None;
                    let room = self.parked_count + (parked.len() as u64) < bounds.parked_max;
                    if park && room {
                        parked.push(Parked { position, attempts: entry.attempts, reason: ParkReason::Nacked });
                    } else if entry.attempts >= bounds.max_attempts && room {
                        parked.push(Parked { position, attempts: entry.attempts, reason: ParkReason::MaxAttempts });
                    }
                }
                self.park_all(parked, &mut outcome);
            }
            Change::Retry { positions } => {
                for position in positions {
                    self.parked_count = self.parked_count.saturating_sub(1);
                    self.pending.insert(position, Entry { attempts: 0, lease: None });
                    outcome.applied.push(position);
                }
            }
        }
        outcome
    }

    /// Takes in contiguous log events from `read_next` on, while fewer than `pending_max` are pending.
    /// Events below `read_next` (another server read them first) are skipped; a gap stops the read.
    fn absorb(&mut self, fresh: &[(u64, bool)], pending_max: usize) {
        for &(position, admitted) in fresh {
            if position < self.read_next {
                continue;
            }
            if position > self.read_next || self.pending.len() >= pending_max {
                break;
            }
            if admitted {
                self.pending.insert(position, Entry { attempts: 0, lease: None });
            }
            self.read_next = position + 1;
        }
    }

    fn park_all(&mut self, parked: Vec<Parked>, outcome: &mut Outcome) {
        for event in parked {
            self.pending.remove(&event.position);
            self.parked_count += 1;
            outcome.parked.push(event);
        }
    }
}

/// What changed from `before` to `after` in `pending`: entries to write, positions to remove.
pub fn diff(before: &Ledger, after: &Ledger) -> (Vec<(u64, Entry)>, Vec<u64>) {
    let upserts = after
        .pending
        .iter()
        .filter(|(position, entry)| before.pending.get(position) != Some(entry))
        .map(|(position, entry)| (*position, *entry))
        .collect();
    let removed = before.pending.keys().filter(|position| !after.pending.contains_key(position)).copied().collect();
    (upserts, removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BOUNDS: Bounds = Bounds { max_attempts: 3, pending_max: 100, parked_max: 100 };

    fn fetch(ledger: &mut Ledger, fresh: Vec<(u64, bool)>, max: usize, now_ms: i64) -> Vec<u64> {
        let change = Change::Fetch { fresh, max, now_ms, lease_ms: 30_000, lease_id: 1, exclusive: false };
        ledger.apply(change, BOUNDS).leased.into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn filtered_out_events_move_the_position_and_an_unacked_event_holds_it() {
        let mut ledger = Ledger::starting_at(5);
        let leased = fetch(&mut ledger, vec![(5, false), (6, true), (7, false), (8, true)], 10, 0);
        assert_eq!(leased, vec![6, 8]);
        assert_eq!(ledger.position(), 6, "6 is leased, not acked");
        ledger.apply(Change::Ack { positions: vec![8] }, BOUNDS);
        assert_eq!(ledger.position(), 6, "acking 8 out of order does not pass 6");
        ledger.apply(Change::Ack { positions: vec![6] }, BOUNDS);
        assert_eq!(ledger.position(), 9);
    }

    #[test]
    fn a_live_lease_is_not_handed_out_again_and_an_expired_one_is() {
        let mut ledger = Ledger::starting_at(0);
        assert_eq!(fetch(&mut ledger, vec![(0, true), (1, true)], 1, 0), vec![0]);
        assert_eq!(fetch(&mut ledger, vec![], 10, 1_000), vec![1], "0 is leased to the first fetch");
        assert_eq!(fetch(&mut ledger, vec![], 10, 29_999), Vec::<u64>::new());
        assert_eq!(fetch(&mut ledger, vec![], 10, 30_000), vec![0], "the first lease ended");
        assert_eq!(ledger.pending[&0].attempts, 2);
    }

    #[test]
    fn an_event_nacked_or_expired_max_attempts_times_is_parked_and_a_retry_delivers_it_again() {
        let mut ledger = Ledger::starting_at(0);
        for attempt in 1..=3 {
            assert_eq!(fetch(&mut ledger, vec![(0, true)], 10, 0), vec![0], "attempt {attempt}");
            let outcome = ledger.apply(Change::Nack { positions: vec![0], park: false, lease_id: None }, BOUNDS);
            assert_eq!(outcome.parked.is_empty(), attempt < 3);
        }
        assert_eq!(ledger.parked_count, 1);
        assert_eq!(ledger.position(), 1, "a parked event no longer holds the position");
        assert!(fetch(&mut ledger, vec![], 10, 0).is_empty());
        ledger.apply(Change::Retry { positions: vec![0] }, BOUNDS);
        assert_eq!((ledger.position(), ledger.parked_count), (0, 0));
        assert_eq!(fetch(&mut ledger, vec![], 10, 0), vec![0]);
        // Expired leases count as attempts too.
        let mut ledger = Ledger::starting_at(0);
        for t in 0..3 {
            assert_eq!(fetch(&mut ledger, vec![(0, true)], 10, t * 30_000), vec![0]);
        }
        let outcome = ledger.apply(
            Change::Fetch { fresh: vec![], max: 10, now_ms: 90_000, lease_ms: 30_000, lease_id: 2, exclusive: false },
            BOUNDS,
        );
        assert_eq!(outcome.parked, vec![Parked { position: 0, attempts: 3, reason: ParkReason::MaxAttempts }]);
    }

    #[test]
    fn a_nack_with_park_parks_at_once_and_a_full_parked_list_keeps_events_pending() {
        let mut ledger = Ledger::starting_at(0);
        fetch(&mut ledger, vec![(0, true), (1, true)], 10, 0);
        let outcome = ledger.apply(Change::Nack { positions: vec![0], park: true, lease_id: None }, BOUNDS);
        assert_eq!(outcome.parked[0].reason, ParkReason::Nacked);
        let full = Bounds { parked_max: 1, ..BOUNDS };
        let outcome = ledger.apply(Change::Nack { positions: vec![1], park: true, lease_id: None }, full);
        assert!(outcome.parked.is_empty(), "no room: stays pending");
        assert_eq!(ledger.position(), 1);
    }

    #[test]
    fn an_exclusive_fetch_waits_for_the_batch_in_flight_and_pending_is_bounded() {
        let mut ledger = Ledger::starting_at(0);
        let bounds = Bounds { pending_max: 2, ..BOUNDS };
        let fresh = vec![(0, true), (1, true), (2, true)];
        let change =
            |fresh, exclusive| Change::Fetch { fresh, max: 10, now_ms: 0, lease_ms: 1, lease_id: 1, exclusive };
        assert_eq!(ledger.apply(change(fresh.clone(), true), bounds).leased.len(), 2);
        assert_eq!(ledger.read_next, 2, "no more than pending_max are read");
        assert!(ledger.apply(change(fresh, true), bounds).leased.is_empty());
    }

    #[test]
    fn diff_names_exactly_the_changed_and_removed_entries() {
        let mut ledger = Ledger::starting_at(0);
        fetch(&mut ledger, vec![(0, true), (1, true), (2, true)], 1, 0);
        let before = ledger.clone();
        ledger.apply(Change::Ack { positions: vec![0] }, BOUNDS);
        fetch(&mut ledger, vec![], 1, 0);
        let (upserts, removed) = diff(&before, &ledger);
        assert_eq!(upserts.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![1]);
        assert_eq!(removed, vec![0]);
    }

    #[derive(Debug, Clone)]
    enum Step {
        Fetch { consumer: usize, max: usize, fresh: usize },
        Ack { consumer: usize, count: usize },
        Nack { consumer: usize, count: usize, park: bool },
        Advance { ms: i64 },
        Retry,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..3usize, 1..5usize, 0..4usize).prop_map(|(consumer, max, fresh)| Step::Fetch { consumer, max, fresh }),
            (0..3usize, 0..4usize).prop_map(|(consumer, count)| Step::Ack { consumer, count }),
            (0..3usize, 0..3usize, any::<bool>()).prop_map(|(consumer, count, park)| Step::Nack {
                consumer,
                count,
                park
            }),
            (1..20_000i64).prop_map(|ms| Step::Advance { ms }),
            Just(Step::Retry),
        ]
    }

    proptest! {
        /// Random fetches, acks, nacks, lease expiries and retries by three consumers against a model:
        /// no event is held by two consumers at once, and the position never passes an event that was
        /// neither acked nor parked.
        #[test]
        fn no_event_is_leased_twice_at_once_and_the_position_never_passes_an_owed_event(
            steps in proptest::collection::vec(step(), 1..80),
            admitted in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let bounds = Bounds { max_attempts: 3, pending_max: 8, parked_max: 5 };
            let mut ledger = Ledger::starting_at(0);
            let mut now = 0i64;
            // Model: who holds what until when, what is done (acked or parked), the parked list.
            let mut held: Vec<BTreeMap<u64, (i64, u64)>> = vec![BTreeMap::new(); 3];
            let mut fetches = 0u64;
            let mut done = std::collections::BTreeSet::new();
            let mut parked: Vec<u64> = Vec::new();
            let mut log_next = 0u64;
            for step in steps {
                match step {
                    Step::Fetch { consumer, max, fresh } => {
                        let fresh_events: Vec<(u64, bool)> = (ledger.read_next..ledger.read_next + fresh as u64)
                            .filter(|p| (*p as usize) < admitted.len())
                            .map(|p| (p, admitted[p as usize]))
                            .collect();
                        fetches += 1;
                        let change = Change::Fetch { fresh: fresh_events, max, now_ms: now, lease_ms: 30_000, lease_id: fetches, exclusive: false };
                        let outcome = ledger.apply(change, bounds);
                        prop_assert!(outcome.leased.len() <= max);
                        for (position, _) in &outcome.leased {
                            for (other, leases) in held.iter().enumerate() {
                                if let Some((until, _)) = leases.get(position) {
                                    prop_assert!(*until <= now, "{position} leased to {consumer} while {other} holds it");
                                }
                            }
                            held[consumer].insert(*position, (now + 30_000, fetches));
                        }
                        for p in &outcome.parked { done.insert(p.position); parked.push(p.position); }
                        log_next = log_next.max(ledger.read_next);
                    }
                    Step::Ack { consumer, count } => {
                        let mine: Vec<u64> = held[consumer].keys().take(count).copied().collect();
                        let outcome = ledger.apply(Change::Ack { positions: mine.clone() }, bounds);
                        for p in &mine { held[consumer].remove(p); }
                        for p in outcome.applied { done.insert(p); }
                    }
                    Step::Nack { consumer, count, park } => {
                        let mine: Vec<(u64, u64)> = held[consumer].iter().take(count).map(|(p, (_, id))| (*p, *id)).collect();
                        let mut outcome = Outcome::default();
                        for (p, id) in &mine {
                            held[consumer].remove(p);
                            let one = ledger.apply(Change::Nack { positions: vec![*p], park, lease_id: Some(*id) }, bounds);
                            outcome.parked.extend(one.parked);
                        }
                        for p in &outcome.parked { done.insert(p.position); parked.push(p.position); }
                    }
                    Step::Advance { ms } => now += ms,
                    Step::Retry => {
                        let taken: Vec<u64> = std::mem::take(&mut parked);
                        for p in &taken { done.remove(p); }
                        ledger.apply(Change::Retry { positions: taken }, bounds);
                    }
                }
                prop_assert_eq!(ledger.parked_count, parked.len() as u64);
                prop_assert!(ledger.pending.len() <= bounds.pending_max + parked.len().max(bounds.parked_max as usize));
                let position = ledger.position();
                for p in 0..position.min(admitted.len() as u64) {
                    if admitted[p as usize] {
                        prop_assert!(done.contains(&p), "position {position} passed {p}, neither acked nor parked");
                    }
                }
            }
        }
    }
}
