//! The complaint and Q&A lifecycles: which event may follow which, and the state a stream's history folds to.
//!
//! Two plain functions in the decide/evolve style (STYLE.md §2):
//! - [`check`] says whether an event may be appended to a stream in a given state, and if not, why, as a
//!   typed [`LifecycleViolation`];
//! - [`evolve`] applies one accepted event to the state; [`fold`] replays a whole history from [`StreamState::Empty`];
//! - [`check_times`] says whether the event's instants fit (v1.1: not in the future beyond the allowed clock
//!   skew, not before the complaint's receipt, a commitment due after it is made), given them as [`EventTimes`];
//! - [`check_tightened`] holds the v1.1 rules that tighten event types v1 already had (one solution carried out
//!   at a time; a resolved close needs the customer's confirmation or an override reason);
//! - [`referenced_stream`] and [`check_reference`] are the cross-stream rules (v1.1: a used standard answer is
//!   published and not retired; a link's target exists): the writer looks the referenced stream's state up in
//!   its own view and passes it in.
//!
//! The writer calls `check`, `check_times`, `check_tightened` and `check_reference` before an append and
//! `evolve` after it; a reader rebuilds any stream's state with `fold`, which never consults the three
//! append-only checks (histories stored or exported before v1.1 replay and import as ever, and a fold needs
//! no other stream). The rules are the "rule" columns of EVENTS.md; where the text leaves a choice, the decision is
//! written on the rule's arm in [`check`].
//!
//! Architecture invariant: nothing here does I/O, reads a clock, draws random numbers or awaits. Time comes in
//! as data (each event's `occurred_at`), so replaying the same history always gives the same state.

use redress_schemas::{
    Channel, CustomerTier, EventData, EventType, LinkRelation, Outcome, Severity, StreamKind, StreamName, Timestamp,
    LINK_TARGET_PREFIXES,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Where a complaint stands, derived from its events (EVENTS.md, "Status derived from the events").
///
/// The serde form is the snake_case name, the same string [`ComplaintStatus::as_str`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStatus {
    /// `complaint_received` and nothing that moves it on yet.
    Received,
    /// The customer was told the complaint arrived.
    Acknowledged,
    /// The cause was analysed.
    Investigating,
    /// At least one solution was offered and none accepted yet.
    SolutionProposed,
    /// A solution was accepted, or the complaint was reopened or its resolution not confirmed.
    InProgress,
    /// A solution was delivered and the customer has not confirmed it yet.
    Resolved,
    /// The customer confirmed the resolution as satisfying.
    Confirmed,
    /// Closed with an outcome; only reopening, acknowledgements, apology visits and revisits follow.
    Closed,
}

impl ComplaintStatus {
    /// The snake_case name (`solution_proposed`), identical to the serde form.
    pub const fn as_str(self) -> &'static str {
        match self {
            ComplaintStatus::Received => "received",
            ComplaintStatus::Acknowledged => "acknowledged",
            ComplaintStatus::Investigating => "investigating",
            ComplaintStatus::SolutionProposed => "solution_proposed",
            ComplaintStatus::InProgress => "in_progress",
            ComplaintStatus::Resolved => "resolved",
            ComplaintStatus::Confirmed => "confirmed",
            ComplaintStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for ComplaintStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one offered solution stands. A solution only moves forward: offered → accepted | rejected,
/// accepted → delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SolutionState {
    /// Offered, neither accepted nor rejected yet.
    Offered,
    /// The customer accepted it; it waits to be delivered.
    Accepted,
    /// The customer rejected it; final.
    Rejected,
    /// Carried out; final.
    Delivered,
}

impl SolutionState {
    /// The snake_case name (`delivered`), identical to the serde form.
    pub const fn as_str(self) -> &'static str {
        match self {
            SolutionState::Offered => "offered",
            SolutionState::Accepted => "accepted",
            SolutionState::Rejected => "rejected",
            SolutionState::Delivered => "delivered",
        }
    }
}

impl fmt::Display for SolutionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One solution offered on a complaint, as its events left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Solution {
    /// The publisher's id; unique within the complaint.
    pub solution_id: String,
    /// What was offered.
    pub description: String,
    /// The date the offer promised, if it named one.
    pub promised_by: Option<Timestamp>,
    /// Where it stands now.
    pub state: SolutionState,
    /// `occurred_at` of its `solution_offered`.
    pub offered_at: Timestamp,
}

/// One `revisit_done`, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revisit {
    /// `occurred_at` of the revisit.
    pub at: Timestamp,
    /// 1 (very unhappy) ..= 5 (very satisfied), as published.
    pub satisfaction: u8,
    /// The customer says the problem is still there.
    pub issue_persists: bool,
}

/// A complaint as its history leaves it: the fold of a `complaint-` stream.
///
/// Guarantees, for any state [`evolve`] builds from accepted events: `closed_at` and `outcome` are set exactly
/// when `status` is [`ComplaintStatus::Closed`]; solution ids are unique; `event_count` is the number of events
/// folded in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintState {
    /// From `complaint_received`.
    pub complaint_id: String,
    /// From `complaint_received`.
    pub customer_id: String,
    /// From `complaint_received`.
    pub category: String,
    /// From `complaint_received`.
    pub description: String,
    /// From `complaint_received`.
    pub channel: Channel,
    /// From `complaint_received`; decides the service-level deadlines.
    pub severity: Severity,
    /// From `complaint_received`.
    pub product: Option<String>,
    /// From `complaint_received`.
    pub customer_tier: Option<CustomerTier>,
    /// Where the complaint stands.
    pub status: ComplaintStatus,
    /// `occurred_at` of `complaint_received`; deadlines run from it.
    pub received_at: Timestamp,
    /// `occurred_at` of the first `complaint_acknowledged`: it stops the acknowledgement clock, later ones don't
    /// move it.
    pub acknowledged_at: Option<Timestamp>,
    /// `due_at` of the latest `commitment_made`: the resolution deadline.
    pub commitment_due: Option<Timestamp>,
    /// `occurred_at` of the latest `solution_delivered`.
    pub delivered_at: Option<Timestamp>,
    /// A satisfied `resolution_confirmed` stands; cleared by a reopen or an unsatisfied confirmation.
    pub confirmed_satisfied: bool,
    /// `occurred_at` of the `complaint_closed` that closed it; `None` while open (a reopen clears it).
    pub closed_at: Option<Timestamp>,
    /// The outcome it was closed with; `None` while open (a reopen clears it).
    pub outcome: Option<Outcome>,
    /// How many times it was escalated.
    pub escalation_level: u32,
    /// `to` of the latest escalation.
    pub escalated_to: Option<String>,
    /// From the latest `cause_analyzed`.
    pub root_cause: Option<String>,
    /// From the latest `cause_analyzed`.
    pub responsible_department: Option<String>,
    /// From the latest `cause_analyzed`: is the complaint factually right?
    pub founded: Option<bool>,
    /// From the latest `cause_analyzed` (its schema version 2 field; `None` for version 1 events).
    pub corrective_action: Option<String>,
    /// Every offered solution, in offer order.
    pub solutions: Vec<Solution>,
    /// How many `apology_sent`.
    pub apologies: u32,
    /// How many `apology_visit_made`.
    pub apology_visits: u32,
    /// How many `complaint_reopened`.
    pub reopen_count: u32,
    /// Every `revisit_done`, in order.
    pub revisits: Vec<Revisit>,
    /// `answer_id` of every `standard_answer_used`, in order (repeats kept).
    pub standard_answers_used: Vec<String>,
    /// The length of the history folded in: every event of the stream counts, `complaint_received` included.
    pub event_count: u64,
    /// `assignee` of the latest `complaint_assigned` (v1.1): the owner; a new assignment is a transfer.
    #[serde(default)]
    pub owner: Option<String>,
    /// `team` of the latest `complaint_assigned` (v1.1); `None` when it named none.
    #[serde(default)]
    pub team: Option<String>,
    /// `occurred_at` of the `waiting_on_customer` the complaint waits on (v1.1): a flag beside the status, not
    /// a status. Cleared by `customer_responded`, and by a close (a closed complaint waits on nobody).
    #[serde(default)]
    pub waiting_since: Option<Timestamp>,
    /// Every `complaint_linked`, in order (v1.1).
    #[serde(default)]
    pub links: Vec<Link>,
    /// Every finished wait on the customer (v1.1), in order: `waiting_on_customer` until
    /// `customer_responded` (or the close that ended it). The service-level clocks stood still in them.
    #[serde(default)]
    pub waits: Vec<Wait>,
    /// `occurred_at` of the latest customer-facing event (v1.1, API.md "Service levels"): acknowledgement,
    /// apology, solution offered, progress with `customer_informed`, delivery, apology visit.
    #[serde(default)]
    pub last_contact_at: Option<Timestamp>,
    /// `occurred_at` of the latest `complaint_reopened`.
    #[serde(default)]
    pub reopened_at: Option<Timestamp>,
}

/// A finished wait on the customer (v1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wait {
    /// `occurred_at` of `waiting_on_customer`.
    pub from: Timestamp,
    /// `occurred_at` of the `customer_responded` (or close) that ended it.
    pub until: Timestamp,
}

/// One `complaint_linked` (v1.1), as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The linked `complaint-` or `problem-` stream.
    pub target: String,
    /// How this complaint relates to it.
    pub relation: LinkRelation,
    /// `occurred_at` of the link.
    pub at: Timestamp,
}

impl ComplaintState {
    /// `true` unless the complaint is closed (a reopened complaint is open again).
    pub fn is_open(&self) -> bool {
        self.status != ComplaintStatus::Closed
    }

    /// `true` while the complaint waits on the customer (v1.1: every running service-level clock pauses).
    pub fn is_waiting(&self) -> bool {
        self.waiting_since.is_some()
    }

    /// The name of this complaint's own stream (`complaint-<complaint_id>`).
    pub fn stream_name(&self) -> String {
        format!("complaint-{}", self.complaint_id)
    }

    fn solution(&self, solution_id: &str) -> Option<&Solution> {
        self.solutions.iter().find(|s| s.solution_id == solution_id)
    }

    fn solution_mut(&mut self, solution_id: &str) -> Option<&mut Solution> {
        self.solutions.iter_mut().find(|s| s.solution_id == solution_id)
    }
}

/// A standard answer of the Q&A library as its history leaves it: the fold of a `qa-` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerState {
    /// From `standard_answer_published`.
    pub answer_id: String,
    /// The latest category.
    pub category: String,
    /// The latest title.
    pub title: String,
    /// The latest answer text.
    pub answer: String,
    /// The latest keyword list.
    pub keywords: Vec<String>,
    /// Retired answers are never suggested and accept no further events.
    pub retired: bool,
    /// How many `standard_answer_revised`.
    pub revisions: u32,
}

/// Where a problem (root cause) stands (v1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemStatus {
    /// Identified (or reopened), no corrective action taken since.
    Identified,
    /// At least one corrective action was taken since it was identified or last reopened.
    ActionTaken,
    /// Verified gone; only a reopen follows.
    Resolved,
}

/// One `corrective_action_taken`, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectiveAction {
    /// What was done.
    pub action: String,
    /// Who is responsible for it.
    pub owner: String,
    /// When it should be complete, if a date was set.
    pub due_at: Option<Timestamp>,
    /// `occurred_at` of the event.
    pub taken_at: Timestamp,
}

/// A customer stream after its `customer_data_erased` (v1.1): the customer's personal data was erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerState {
    /// From `customer_data_erased`.
    pub customer_id: String,
    /// When the erasure was recorded (its `occurred_at`).
    pub erased_at: Timestamp,
}

/// A problem as its history leaves it: the fold of a `problem-` stream (v1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemState {
    /// From `problem_identified`.
    pub problem_id: String,
    /// From `problem_identified`.
    pub title: String,
    /// From `problem_identified`.
    pub category: String,
    /// From `problem_identified`.
    pub root_cause: String,
    /// From `problem_identified`.
    pub responsible_department: String,
    /// Where it stands.
    pub status: ProblemStatus,
    /// `occurred_at` of `problem_identified`.
    pub identified_at: Timestamp,
    /// Every corrective action, in order (those before a reopen included).
    pub corrective_actions: Vec<CorrectiveAction>,
    /// `occurred_at` of the latest `problem_resolved`; cleared by a reopen.
    pub resolved_at: Option<Timestamp>,
    /// How many `problem_reopened`.
    pub reopen_count: u32,
}

/// The state of one stream: nothing yet, a complaint, a standard answer or a problem.
///
/// The first accepted event decides the kind: `complaint_received` makes a complaint, `standard_answer_published`
/// an answer, `problem_identified` a problem; every other event needs one of them first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// No event folded in yet.
    #[default]
    Empty,
    /// A `complaint-` stream after its `complaint_received`.
    Complaint(Box<ComplaintState>),
    /// A `qa-` stream after its `standard_answer_published`.
    Answer(Box<AnswerState>),
    /// A `problem-` stream after its `problem_identified` (v1.1).
    Problem(Box<ProblemState>),
    /// A `customer-` stream after its `customer_data_erased` (v1.1).
    Customer(Box<CustomerState>),
}

impl StreamState {
    /// The complaint, if this stream holds one.
    pub fn complaint(&self) -> Option<&ComplaintState> {
        match self {
            StreamState::Complaint(complaint) => Some(complaint),
            StreamState::Empty | StreamState::Answer(_) | StreamState::Problem(_) | StreamState::Customer(_) => None,
        }
    }

    /// The standard answer, if this stream holds one.
    pub fn answer(&self) -> Option<&AnswerState> {
        match self {
            StreamState::Answer(answer) => Some(answer),
            StreamState::Empty | StreamState::Complaint(_) | StreamState::Problem(_) | StreamState::Customer(_) => None,
        }
    }

    /// The problem, if this stream holds one.
    pub fn problem(&self) -> Option<&ProblemState> {
        match self {
            StreamState::Problem(problem) => Some(problem),
            StreamState::Empty | StreamState::Complaint(_) | StreamState::Answer(_) | StreamState::Customer(_) => None,
        }
    }
}

/// Why [`check`] refused an event. Every variant names the refused event's type and the state that refused it.
///
/// Handling, for every variant: nothing may be written. The publisher's idea of the stream differs from the
/// stored one, or it skipped a step; it re-reads the stream and decides again. Over HTTP: 422 `invalid_event`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleViolation {
    /// `complaint_received` on a stream that already holds a complaint: it comes once, first.
    /// Handling: a retried append should reuse its `event_id` (then it is an idempotent no-op, not this).
    #[error("complaint {complaint_id} was already received; complaint_received comes once, as the first event")]
    AlreadyReceived {
        /// Always `complaint_received`.
        event_type: EventType,
        /// The complaint the stream already holds.
        complaint_id: String,
    },
    /// A complaint event on a stream with no `complaint_received` yet.
    /// Handling: append `complaint_received` first.
    #[error("the stream holds no complaint yet; complaint_received must come before {event_type}")]
    NotReceived {
        /// The refused event's type.
        event_type: EventType,
    },
    /// An event that needs an open complaint, on a closed one.
    /// Handling: append `complaint_reopened` first if the complaint really needs more work.
    #[error("the complaint is closed; reopen it before recording {event_type}")]
    ComplaintClosed {
        /// The refused event's type.
        event_type: EventType,
    },
    /// `complaint_closed` on a complaint that is already closed.
    /// Handling: nothing to do; to change the outcome, reopen and close again.
    #[error("the complaint is already closed")]
    AlreadyClosed {
        /// Always `complaint_closed`.
        event_type: EventType,
    },
    /// `solution_offered` with a `solution_id` this complaint already has.
    /// Handling: give a new offer its own id.
    #[error("solution {solution_id} was already offered on this complaint; a new offer needs a new solution_id")]
    SolutionAlreadyOffered {
        /// Always `solution_offered`.
        event_type: EventType,
        /// The id already in use.
        solution_id: String,
    },
    /// `solution_accepted`, `solution_rejected` or `solution_delivered` naming a solution never offered.
    /// Handling: offer it first, or fix the id.
    #[error("solution {solution_id} was never offered on this complaint")]
    UnknownSolution {
        /// The refused event's type.
        event_type: EventType,
        /// The id that names no offered solution.
        solution_id: String,
    },
    /// `solution_accepted` or `solution_rejected` on a solution that is no longer merely offered.
    /// Handling: the customer already decided; offer a new solution if needed.
    #[error("solution {solution_id} is {state}; only a solution still offered can be accepted or rejected")]
    SolutionNotPending {
        /// `solution_accepted` or `solution_rejected`.
        event_type: EventType,
        /// The solution.
        solution_id: String,
        /// Where it stands instead of `offered`.
        state: SolutionState,
    },
    /// `solution_delivered` on a solution that is not accepted (still offered, rejected, or delivered already).
    /// Handling: have it accepted first; a delivered solution is not delivered twice.
    #[error("solution {solution_id} is {state}; only an accepted solution can be delivered")]
    SolutionNotAccepted {
        /// Always `solution_delivered`.
        event_type: EventType,
        /// The solution.
        solution_id: String,
        /// Where it stands instead of `accepted`.
        state: SolutionState,
    },
    /// `resolution_confirmed` when no delivered solution awaits confirmation (status is not `resolved`).
    /// Handling: deliver a solution first.
    #[error("the complaint is {status}; only a resolved complaint (delivered, not yet confirmed) can be confirmed")]
    NothingToConfirm {
        /// Always `resolution_confirmed`.
        event_type: EventType,
        /// The complaint's status instead of `resolved`.
        status: ComplaintStatus,
    },
    /// `revisit_done` with no satisfied confirmation standing.
    /// Handling: revisits follow a confirmed resolution; record progress or an apology instead.
    #[error("the complaint ({status}) has no standing satisfied confirmation; revisits follow a confirmed resolution")]
    NotConfirmed {
        /// Always `revisit_done`.
        event_type: EventType,
        /// The complaint's status.
        status: ComplaintStatus,
    },
    /// `complaint_reopened` on a complaint that is neither resolved, confirmed nor closed.
    /// Handling: the complaint is still being worked on; nothing to reopen.
    #[error("the complaint is {status}; only a resolved, confirmed or closed complaint can be reopened")]
    NotReopenable {
        /// Always `complaint_reopened`.
        event_type: EventType,
        /// The complaint's status.
        status: ComplaintStatus,
    },
    /// `standard_answer_published` on a stream that already holds an answer.
    /// Handling: revise the answer instead.
    #[error("standard answer {answer_id} is already published; revise it instead")]
    AnswerAlreadyPublished {
        /// Always `standard_answer_published`.
        event_type: EventType,
        /// The answer the stream holds.
        answer_id: String,
    },
    /// `standard_answer_revised` or `standard_answer_retired` before `standard_answer_published`.
    /// Handling: publish the answer first.
    #[error("no standard answer is published on this stream; standard_answer_published must come before {event_type}")]
    AnswerNotPublished {
        /// The refused event's type.
        event_type: EventType,
    },
    /// `standard_answer_revised` or `standard_answer_retired` on a retired answer.
    /// Handling: retired is final; publish a new answer under a new id.
    #[error("standard answer {answer_id} is retired; it accepts no further changes")]
    AnswerRetired {
        /// The refused event's type.
        event_type: EventType,
        /// The retired answer.
        answer_id: String,
    },
    /// A complaint event on a standard-answer stream, or the other way round. The schemas crate's stream
    /// validation normally refuses these first. Handling: a publisher bug; send it to the right stream.
    #[error(
        "{event_type} belongs on a {} stream, but this stream holds a {}",
        stream_noun(event_type.stream_kind()),
        stream_noun(*.found)
    )]
    WrongStreamKind {
        /// The refused event's type.
        event_type: EventType,
        /// What the stream holds.
        found: StreamKind,
    },
    /// `occurred_at` later than the store's clock plus the allowed clock skew: nothing has happened in the
    /// future (v1.1). Handling: fix the publisher's clock or the instant it sends; an event sent without
    /// `occurred_at` happened when the store records it.
    #[error(
        "occurred_at {occurred_at} is in the future: the store's clock says {recorded_at} and allows \
         {clock_skew_max:?} of clock skew"
    )]
    OccurredInTheFuture {
        /// The refused event's type.
        event_type: EventType,
        /// When the event says it happened.
        occurred_at: Timestamp,
        /// When the store would have recorded it.
        recorded_at: Timestamp,
        /// How far a publisher's clock may run ahead of the store's.
        clock_skew_max: Duration,
    },
    /// A complaint event that says it happened before the complaint was received (v1.1): its clocks would
    /// run backwards (an acknowledgement "met" before the complaint arrived). Handling: the instant is wrong;
    /// send the real one, or none for "now".
    #[error("occurred_at {occurred_at} is before the complaint was received ({received_at})")]
    OccurredBeforeReceipt {
        /// The refused event's type.
        event_type: EventType,
        /// When the event says it happened.
        occurred_at: Timestamp,
        /// `occurred_at` of the complaint's `complaint_received`.
        received_at: Timestamp,
    },
    /// `commitment_made` (or, v1.1, `corrective_action_taken`) whose `due_at` is not after its own
    /// `occurred_at`: a promise falls due after it is made. Handling: send the date actually promised.
    #[error("due_at {due_at} is not after the commitment's occurred_at {occurred_at}")]
    DueBeforeCommitment {
        /// `commitment_made` or `corrective_action_taken`.
        event_type: EventType,
        /// The promised date.
        due_at: Timestamp,
        /// When the commitment was made.
        occurred_at: Timestamp,
    },
    /// `solution_accepted` while another accepted solution is not delivered yet (v1.1: one solution is carried
    /// out at a time). Handling: deliver the accepted one first.
    #[error(
        "solution {in_progress} is accepted and not yet delivered; deliver it before accepting {solution_id} \
         (one solution is carried out at a time)"
    )]
    AnotherSolutionInProgress {
        /// Always `solution_accepted`.
        event_type: EventType,
        /// The solution the refused event accepts.
        solution_id: String,
        /// The accepted, undelivered solution.
        in_progress: String,
    },
    /// `complaint_closed` with outcome resolved, refunded or replaced, without the customer's satisfied
    /// `resolution_confirmed` since the last reopen and without an `override_reason` (v1.1: the customer
    /// confirms completion, not the desk). Handling: record the customer's confirmation first, or give an
    /// `override_reason` saying why the desk closes without it.
    #[error(
        "closing as {outcome:?} needs the customer's resolution_confirmed with satisfied: true since the last \
         reopen; record it first, or give an override_reason saying why the complaint closes without it"
    )]
    CloseWithoutConfirmation {
        /// Always `complaint_closed`.
        event_type: EventType,
        /// The outcome asked for.
        outcome: Outcome,
    },
    /// `waiting_on_customer` on a complaint already waiting on the customer (v1.1).
    /// Handling: record `customer_responded` when the customer answers, then wait again if needed.
    #[error(
        "the complaint has been waiting on the customer since {since}; record customer_responded before waiting again"
    )]
    AlreadyWaiting {
        /// Always `waiting_on_customer`.
        event_type: EventType,
        /// When the wait began.
        since: Timestamp,
    },
    /// `customer_responded` on a complaint that is not waiting on the customer (v1.1).
    /// Handling: nothing to end; record the customer's message as `progress_updated` instead, or record
    /// `waiting_on_customer` when the desk asks the customer something.
    #[error("the complaint is not waiting on the customer; customer_responded ends a waiting_on_customer")]
    NotWaiting {
        /// Always `customer_responded`.
        event_type: EventType,
    },
    /// `complaint_linked` whose target is this complaint's own stream (v1.1). Handling: link another stream.
    #[error("{target} is this complaint's own stream; a complaint is not linked to itself")]
    LinkToItself {
        /// Always `complaint_linked`.
        event_type: EventType,
        /// The refused target.
        target: String,
    },
    /// `complaint_linked` whose target is not a `complaint-` or `problem-` stream name (v1.1). The schemas
    /// crate's validation normally refuses it first. Handling: name a complaint's or a problem's stream.
    #[error("{target} is not a complaint- or problem- stream name")]
    LinkTargetNotLinkable {
        /// Always `complaint_linked`.
        event_type: EventType,
        /// The refused target.
        target: String,
    },
    /// `complaint_linked` whose target stream holds no event (v1.1, checked by the writer against its own
    /// view). Handling: create the target first (`complaint_received`, `problem_identified`), or fix the name.
    #[error("{target} does not exist; record its first event before linking to it")]
    LinkTargetMissing {
        /// Always `complaint_linked`.
        event_type: EventType,
        /// The missing target.
        target: String,
    },
    /// `standard_answer_used` naming an answer that is not published (v1.1, checked by the writer).
    /// Handling: publish it first (`standard_answer_published` on `qa-<answer_id>`), or fix the id.
    #[error("standard answer {answer_id} is not published; publish it on qa-{answer_id} before using it")]
    AnswerNotFound {
        /// Always `standard_answer_used`.
        event_type: EventType,
        /// The unknown answer.
        answer_id: String,
    },
    /// `standard_answer_used` naming a retired answer (v1.1, checked by the writer).
    /// Handling: use the answer that replaced it.
    #[error("standard answer {answer_id} is retired; use a current answer instead")]
    RetiredAnswerUsed {
        /// Always `standard_answer_used`.
        event_type: EventType,
        /// The retired answer.
        answer_id: String,
    },
    /// `problem_identified` on a stream that already holds a problem (v1.1).
    /// Handling: record corrective actions on it, or identify a new problem under a new id.
    #[error("problem {problem_id} was already identified; problem_identified comes once, as the first event")]
    ProblemAlreadyIdentified {
        /// Always `problem_identified`.
        event_type: EventType,
        /// The problem the stream holds.
        problem_id: String,
    },
    /// A problem event on a stream with no `problem_identified` yet (v1.1).
    /// Handling: append `problem_identified` first.
    #[error("the stream holds no problem yet; problem_identified must come before {event_type}")]
    ProblemNotIdentified {
        /// The refused event's type.
        event_type: EventType,
    },
    /// `corrective_action_taken` or `problem_resolved` on a resolved problem (v1.1).
    /// Handling: append `problem_reopened` first if the cause came back.
    #[error("problem {problem_id} is resolved; reopen it before recording {event_type}")]
    ProblemAlreadyResolved {
        /// The refused event's type.
        event_type: EventType,
        /// The resolved problem.
        problem_id: String,
    },
    /// `problem_resolved` with no corrective action taken since the problem was identified or reopened (v1.1).
    /// Handling: record the `corrective_action_taken` that removed the cause first.
    #[error("no corrective action was taken on problem {problem_id} since it was identified or reopened; record one before resolving it")]
    NoCorrectiveAction {
        /// Always `problem_resolved`.
        event_type: EventType,
        /// The problem.
        problem_id: String,
    },
    /// `customer_data_erased` for a customer already erased (v1.1): the key is destroyed once. Handling:
    /// nothing to do; the earlier erasure stands (over HTTP: 422 `invalid_event` with this rule).
    #[error("customer {customer_id} was already erased")]
    CustomerAlreadyErased {
        /// Always `customer_data_erased`.
        event_type: EventType,
        /// The customer.
        customer_id: String,
    },
    /// `problem_reopened` on a problem that is not resolved (v1.1). Handling: nothing to reopen; record a
    /// further corrective action instead.
    #[error("problem {problem_id} is not resolved; only a resolved problem can be reopened")]
    ProblemNotResolved {
        /// Always `problem_reopened`.
        event_type: EventType,
        /// The problem.
        problem_id: String,
    },
}

impl LifecycleViolation {
    /// The type of the refused event.
    pub fn event_type(&self) -> EventType {
        match self {
            LifecycleViolation::AlreadyReceived { event_type, .. }
            | LifecycleViolation::NotReceived { event_type }
            | LifecycleViolation::ComplaintClosed { event_type }
            | LifecycleViolation::AlreadyClosed { event_type }
            | LifecycleViolation::SolutionAlreadyOffered { event_type, .. }
            | LifecycleViolation::UnknownSolution { event_type, .. }
            | LifecycleViolation::SolutionNotPending { event_type, .. }
            | LifecycleViolation::SolutionNotAccepted { event_type, .. }
            | LifecycleViolation::NothingToConfirm { event_type, .. }
            | LifecycleViolation::NotConfirmed { event_type, .. }
            | LifecycleViolation::NotReopenable { event_type, .. }
            | LifecycleViolation::AnswerAlreadyPublished { event_type, .. }
            | LifecycleViolation::AnswerNotPublished { event_type }
            | LifecycleViolation::AnswerRetired { event_type, .. }
            | LifecycleViolation::WrongStreamKind { event_type, .. }
            | LifecycleViolation::OccurredInTheFuture { event_type, .. }
            | LifecycleViolation::OccurredBeforeReceipt { event_type, .. }
            | LifecycleViolation::DueBeforeCommitment { event_type, .. }
            | LifecycleViolation::AnotherSolutionInProgress { event_type, .. }
            | LifecycleViolation::CloseWithoutConfirmation { event_type, .. }
            | LifecycleViolation::AlreadyWaiting { event_type, .. }
            | LifecycleViolation::NotWaiting { event_type }
            | LifecycleViolation::LinkToItself { event_type, .. }
            | LifecycleViolation::LinkTargetNotLinkable { event_type, .. }
            | LifecycleViolation::LinkTargetMissing { event_type, .. }
            | LifecycleViolation::AnswerNotFound { event_type, .. }
            | LifecycleViolation::RetiredAnswerUsed { event_type, .. }
            | LifecycleViolation::ProblemAlreadyIdentified { event_type, .. }
            | LifecycleViolation::ProblemNotIdentified { event_type }
            | LifecycleViolation::ProblemAlreadyResolved { event_type, .. }
            | LifecycleViolation::NoCorrectiveAction { event_type, .. }
            | LifecycleViolation::ProblemNotResolved { event_type, .. }
            | LifecycleViolation::CustomerAlreadyErased { event_type, .. } => *event_type,
        }
    }
}

fn stream_noun(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Complaint => "complaint",
        StreamKind::StandardAnswer => "standard answer",
        StreamKind::Problem => "problem",
        StreamKind::Customer => "customer",
        StreamKind::Other => "other",
    }
}

/// Decides whether `data` may be appended to a stream whose history folds to `state`.
///
/// Returns `Ok(())` when the rules of EVENTS.md allow it, otherwise the first rule it breaks. Pure and total:
/// it never panics, whatever the state and the event.
pub fn check(state: &StreamState, data: &EventData) -> Result<(), LifecycleViolation> {
    match state {
        StreamState::Empty => check_first(data),
        StreamState::Complaint(complaint) => check_complaint(complaint, data),
        StreamState::Answer(answer) => check_answer(answer, data),
        StreamState::Problem(problem) => check_problem(problem, data),
        StreamState::Customer(customer) => check_customer(customer, data),
    }
}

fn check_customer(customer: &CustomerState, data: &EventData) -> Result<(), LifecycleViolation> {
    let event_type = data.event_type();
    match data {
        EventData::CustomerDataErased(_) => {
            Err(LifecycleViolation::CustomerAlreadyErased { event_type, customer_id: customer.customer_id.clone() })
        }
        _ => Err(LifecycleViolation::WrongStreamKind { event_type, found: StreamKind::Customer }),
    }
}

fn check_first(data: &EventData) -> Result<(), LifecycleViolation> {
    let event_type = data.event_type();
    match data {
        EventData::ComplaintReceived(_)
        | EventData::StandardAnswerPublished(_)
        | EventData::ProblemIdentified(_)
        | EventData::CustomerDataErased(_) => Ok(()),
        EventData::StandardAnswerRevised(_) | EventData::StandardAnswerRetired(_) => {
            Err(LifecycleViolation::AnswerNotPublished { event_type })
        }
        EventData::CorrectiveActionTaken(_) | EventData::ProblemResolved(_) | EventData::ProblemReopened(_) => {
            Err(LifecycleViolation::ProblemNotIdentified { event_type })
        }
        EventData::ComplaintAcknowledged(_)
        | EventData::ApologySent(_)
        | EventData::CauseAnalyzed(_)
        | EventData::SolutionOffered(_)
        | EventData::SolutionAccepted(_)
        | EventData::SolutionRejected(_)
        | EventData::CommitmentMade(_)
        | EventData::ProgressUpdated(_)
        | EventData::Escalated(_)
        | EventData::StandardAnswerUsed(_)
        | EventData::SolutionDelivered(_)
        | EventData::ResolutionConfirmed(_)
        | EventData::RevisitDone(_)
        | EventData::ApologyVisitMade(_)
        | EventData::ComplaintReopened(_)
        | EventData::ComplaintClosed(_)
        | EventData::ComplaintAssigned(_)
        | EventData::WaitingOnCustomer(_)
        | EventData::CustomerResponded(_)
        | EventData::ComplaintLinked(_) => Err(LifecycleViolation::NotReceived { event_type }),
    }
}

fn check_complaint(complaint: &ComplaintState, data: &EventData) -> Result<(), LifecycleViolation> {
    let event_type = data.event_type();
    // Open-only events on a closed complaint are refused for being closed before anything else is looked at:
    // "reopen first" is the one answer that helps the publisher.
    let require_open =
        || if complaint.is_open() { Ok(()) } else { Err(LifecycleViolation::ComplaintClosed { event_type }) };
    match data {
        EventData::ComplaintReceived(_) => {
            Err(LifecycleViolation::AlreadyReceived { event_type, complaint_id: complaint.complaint_id.clone() })
        }
        // "after received" / "any time after received": closed complaints included (a late acknowledgement
        // still happened; apology visits often follow the close).
        EventData::ComplaintAcknowledged(_) | EventData::ApologyVisitMade(_) => Ok(()),
        EventData::ApologySent(_)
        | EventData::CauseAnalyzed(_)
        | EventData::ProgressUpdated(_)
        | EventData::Escalated(_)
        | EventData::StandardAnswerUsed(_)
        | EventData::ComplaintAssigned(_) => require_open(),
        EventData::CommitmentMade(commitment) => {
            require_open()?;
            // v1.1: a commitment about a solution names one that was offered (whatever became of it since: a
            // promise may concern a delivery already late).
            match &commitment.solution_id {
                Some(solution_id) if complaint.solution(solution_id).is_none() => {
                    Err(LifecycleViolation::UnknownSolution { event_type, solution_id: solution_id.clone() })
                }
                Some(_) | None => Ok(()),
            }
        }
        EventData::WaitingOnCustomer(_) => {
            require_open()?;
            match complaint.waiting_since {
                None => Ok(()),
                Some(since) => Err(LifecycleViolation::AlreadyWaiting { event_type, since }),
            }
        }
        // Not open-only by itself: a close ends the wait, so a closed complaint is not waiting.
        EventData::CustomerResponded(_) => {
            if complaint.is_waiting() {
                Ok(())
            } else {
                Err(LifecycleViolation::NotWaiting { event_type })
            }
        }
        // Not open-only: a closed complaint is often found to share a problem later. That the target exists is
        // a cross-stream rule ([`check_reference`]).
        EventData::ComplaintLinked(link) => {
            let linkable = LINK_TARGET_PREFIXES
                .iter()
                .any(|prefix| link.target.strip_prefix(prefix).is_some_and(|id| !id.is_empty()))
                && StreamName::new(link.target.as_str()).is_ok();
            if !linkable {
                Err(LifecycleViolation::LinkTargetNotLinkable { event_type, target: link.target.clone() })
            } else if link.target == complaint.stream_name() {
                Err(LifecycleViolation::LinkToItself { event_type, target: link.target.clone() })
            } else {
                Ok(())
            }
        }
        EventData::SolutionOffered(offer) => {
            require_open()?;
            match complaint.solution(&offer.solution_id) {
                None => Ok(()),
                Some(_) => Err(LifecycleViolation::SolutionAlreadyOffered {
                    event_type,
                    solution_id: offer.solution_id.clone(),
                }),
            }
        }
        EventData::SolutionAccepted(decision) => {
            require_open()?;
            check_pending(complaint, &decision.solution_id, event_type)
        }
        EventData::SolutionRejected(decision) => {
            require_open()?;
            check_pending(complaint, &decision.solution_id, event_type)
        }
        EventData::SolutionDelivered(delivery) => {
            require_open()?;
            let solution_id = &delivery.solution_id;
            match complaint.solution(solution_id) {
                None => Err(LifecycleViolation::UnknownSolution { event_type, solution_id: solution_id.clone() }),
                Some(solution) if solution.state == SolutionState::Accepted => Ok(()),
                Some(solution) => Err(LifecycleViolation::SolutionNotAccepted {
                    event_type,
                    solution_id: solution_id.clone(),
                    state: solution.state,
                }),
            }
        }
        EventData::ResolutionConfirmed(_) => {
            require_open()?;
            match complaint.status {
                ComplaintStatus::Resolved => Ok(()),
                status => Err(LifecycleViolation::NothingToConfirm { event_type, status }),
            }
        }
        // Not open-only: a revisit typically happens after the close of a confirmed complaint.
        EventData::RevisitDone(_) => {
            if complaint.confirmed_satisfied {
                Ok(())
            } else {
                Err(LifecycleViolation::NotConfirmed { event_type, status: complaint.status })
            }
        }
        EventData::ComplaintReopened(_) => match complaint.status {
            ComplaintStatus::Resolved | ComplaintStatus::Confirmed | ComplaintStatus::Closed => Ok(()),
            status @ (ComplaintStatus::Received
            | ComplaintStatus::Acknowledged
            | ComplaintStatus::Investigating
            | ComplaintStatus::SolutionProposed
            | ComplaintStatus::InProgress) => Err(LifecycleViolation::NotReopenable { event_type, status }),
        },
        EventData::ComplaintClosed(_) => {
            if complaint.is_open() {
                Ok(())
            } else {
                Err(LifecycleViolation::AlreadyClosed { event_type })
            }
        }
        EventData::StandardAnswerPublished(_)
        | EventData::StandardAnswerRevised(_)
        | EventData::StandardAnswerRetired(_)
        | EventData::ProblemIdentified(_)
        | EventData::CorrectiveActionTaken(_)
        | EventData::ProblemResolved(_)
        | EventData::ProblemReopened(_)
        | EventData::CustomerDataErased(_) => {
            Err(LifecycleViolation::WrongStreamKind { event_type, found: StreamKind::Complaint })
        }
    }
}

fn check_pending(
    complaint: &ComplaintState,
    solution_id: &str,
    event_type: EventType,
) -> Result<(), LifecycleViolation> {
    match complaint.solution(solution_id) {
        None => Err(LifecycleViolation::UnknownSolution { event_type, solution_id: solution_id.to_owned() }),
        Some(solution) if solution.state == SolutionState::Offered => Ok(()),
        Some(solution) => Err(LifecycleViolation::SolutionNotPending {
            event_type,
            solution_id: solution_id.to_owned(),
            state: solution.state,
        }),
    }
}

fn check_answer(answer: &AnswerState, data: &EventData) -> Result<(), LifecycleViolation> {
    let event_type = data.event_type();
    match data {
        EventData::StandardAnswerPublished(_) => {
            Err(LifecycleViolation::AnswerAlreadyPublished { event_type, answer_id: answer.answer_id.clone() })
        }
        EventData::StandardAnswerRevised(_) | EventData::StandardAnswerRetired(_) => {
            if answer.retired {
                Err(LifecycleViolation::AnswerRetired { event_type, answer_id: answer.answer_id.clone() })
            } else {
                Ok(())
            }
        }
        EventData::ComplaintReceived(_)
        | EventData::ComplaintAcknowledged(_)
        | EventData::ApologySent(_)
        | EventData::CauseAnalyzed(_)
        | EventData::SolutionOffered(_)
        | EventData::SolutionAccepted(_)
        | EventData::SolutionRejected(_)
        | EventData::CommitmentMade(_)
        | EventData::ProgressUpdated(_)
        | EventData::Escalated(_)
        | EventData::StandardAnswerUsed(_)
        | EventData::SolutionDelivered(_)
        | EventData::ResolutionConfirmed(_)
        | EventData::RevisitDone(_)
        | EventData::ApologyVisitMade(_)
        | EventData::ComplaintReopened(_)
        | EventData::ComplaintClosed(_)
        | EventData::ComplaintAssigned(_)
        | EventData::WaitingOnCustomer(_)
        | EventData::CustomerResponded(_)
        | EventData::ComplaintLinked(_)
        | EventData::ProblemIdentified(_)
        | EventData::CorrectiveActionTaken(_)
        | EventData::ProblemResolved(_)
        | EventData::ProblemReopened(_)
        | EventData::CustomerDataErased(_) => {
            Err(LifecycleViolation::WrongStreamKind { event_type, found: StreamKind::StandardAnswer })
        }
    }
}

fn check_problem(problem: &ProblemState, data: &EventData) -> Result<(), LifecycleViolation> {
    let event_type = data.event_type();
    let problem_id = || problem.problem_id.clone();
    match data {
        EventData::ProblemIdentified(_) => {
            Err(LifecycleViolation::ProblemAlreadyIdentified { event_type, problem_id: problem_id() })
        }
        EventData::CorrectiveActionTaken(_) => match problem.status {
            ProblemStatus::Identified | ProblemStatus::ActionTaken => Ok(()),
            ProblemStatus::Resolved => {
                Err(LifecycleViolation::ProblemAlreadyResolved { event_type, problem_id: problem_id() })
            }
        },
        EventData::ProblemResolved(_) => match problem.status {
            ProblemStatus::ActionTaken => Ok(()),
            ProblemStatus::Identified => {
                Err(LifecycleViolation::NoCorrectiveAction { event_type, problem_id: problem_id() })
            }
            ProblemStatus::Resolved => {
                Err(LifecycleViolation::ProblemAlreadyResolved { event_type, problem_id: problem_id() })
            }
        },
        EventData::ProblemReopened(_) => match problem.status {
            ProblemStatus::Resolved => Ok(()),
            ProblemStatus::Identified | ProblemStatus::ActionTaken => {
                Err(LifecycleViolation::ProblemNotResolved { event_type, problem_id: problem_id() })
            }
        },
        EventData::ComplaintReceived(_)
        | EventData::ComplaintAcknowledged(_)
        | EventData::ApologySent(_)
        | EventData::CauseAnalyzed(_)
        | EventData::SolutionOffered(_)
        | EventData::SolutionAccepted(_)
        | EventData::SolutionRejected(_)
        | EventData::CommitmentMade(_)
        | EventData::ProgressUpdated(_)
        | EventData::Escalated(_)
        | EventData::StandardAnswerUsed(_)
        | EventData::SolutionDelivered(_)
        | EventData::ResolutionConfirmed(_)
        | EventData::RevisitDone(_)
        | EventData::ApologyVisitMade(_)
        | EventData::ComplaintReopened(_)
        | EventData::ComplaintClosed(_)
        | EventData::ComplaintAssigned(_)
        | EventData::WaitingOnCustomer(_)
        | EventData::CustomerResponded(_)
        | EventData::ComplaintLinked(_)
        | EventData::StandardAnswerPublished(_)
        | EventData::StandardAnswerRevised(_)
        | EventData::StandardAnswerRetired(_)
        | EventData::CustomerDataErased(_) => {
            Err(LifecycleViolation::WrongStreamKind { event_type, found: StreamKind::Problem })
        }
    }
}

/// The instants an appended event is judged by (EVENTS.md v1.1, `occurred_at`). The store passes them in:
/// nothing here reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTimes {
    /// When the event happened in the world: the publisher's `occurred_at`, or `recorded_at` when it sent
    /// none.
    pub occurred_at: Timestamp,
    /// When the store records it: its own clock at the append.
    pub recorded_at: Timestamp,
    /// How far `occurred_at` may run ahead of `recorded_at`: a publisher's clock may be a little ahead of
    /// the store's.
    pub clock_skew_max: Duration,
}

/// Decides whether the instants of `data` fit a stream whose history folds to `state` (EVENTS.md v1.1):
/// `occurred_at` is never later than `recorded_at` plus the allowed clock skew; in a complaint stream it is
/// never earlier than the complaint's `complaint_received`; a `commitment_made` falls due after it is made.
///
/// A sibling of [`check`], not part of it: [`evolve`] and [`fold`] keep replaying histories written before
/// these rules existed (older stores, imports), so a stored event that breaks them is still folded in.
/// Pure and total, like `check`; the store calls both before it appends.
pub fn check_times(state: &StreamState, data: &EventData, times: EventTimes) -> Result<(), LifecycleViolation> {
    let EventTimes { occurred_at, recorded_at, clock_skew_max } = times;
    let event_type = data.event_type();
    if occurred_at > recorded_at.saturating_add(clock_skew_max) {
        return Err(LifecycleViolation::OccurredInTheFuture { event_type, occurred_at, recorded_at, clock_skew_max });
    }
    if let Some(complaint) = state.complaint() {
        if occurred_at < complaint.received_at {
            return Err(LifecycleViolation::OccurredBeforeReceipt {
                event_type,
                occurred_at,
                received_at: complaint.received_at,
            });
        }
    }
    // Exhaustive on purpose: a new type carrying a date it falls due on (EVENTS.md v1.1 plans
    // `corrective_action_taken.due_at`) must decide here whether the rule holds for it.
    let due_at = match data {
        EventData::CommitmentMade(commitment) => Some(commitment.due_at),
        // A corrective action's date is a promise like a commitment's: it falls due after the action is taken.
        EventData::CorrectiveActionTaken(action) => action.due_at,
        // `solution_offered.promised_by` is a date as well, but EVENTS.md sets it no rule: an offer may restate
        // a promise already overdue.
        EventData::ComplaintReceived(_)
        | EventData::ComplaintAcknowledged(_)
        | EventData::ApologySent(_)
        | EventData::CauseAnalyzed(_)
        | EventData::SolutionOffered(_)
        | EventData::SolutionAccepted(_)
        | EventData::SolutionRejected(_)
        | EventData::ProgressUpdated(_)
        | EventData::Escalated(_)
        | EventData::StandardAnswerUsed(_)
        | EventData::SolutionDelivered(_)
        | EventData::ResolutionConfirmed(_)
        | EventData::RevisitDone(_)
        | EventData::ApologyVisitMade(_)
        | EventData::ComplaintReopened(_)
        | EventData::ComplaintClosed(_)
        | EventData::StandardAnswerPublished(_)
        | EventData::StandardAnswerRevised(_)
        | EventData::StandardAnswerRetired(_)
        | EventData::ComplaintAssigned(_)
        | EventData::WaitingOnCustomer(_)
        | EventData::CustomerResponded(_)
        | EventData::ComplaintLinked(_)
        | EventData::ProblemIdentified(_)
        | EventData::ProblemResolved(_)
        | EventData::ProblemReopened(_)
        | EventData::CustomerDataErased(_) => None,
    };
    match due_at {
        Some(due_at) if due_at <= occurred_at => {
            Err(LifecycleViolation::DueBeforeCommitment { event_type, due_at, occurred_at })
        }
        Some(_) | None => Ok(()),
    }
}

/// Decides the v1.1 rules that tighten event types v1 already had, for `data` appended to a stream whose
/// history folds to `state`:
/// - `solution_accepted`: no other accepted solution is still undelivered (one solution is carried out at a time);
/// - `complaint_closed` with outcome resolved, refunded or replaced: the customer's satisfied
///   `resolution_confirmed` stands (since the last reopen), or the close gives an `override_reason`.
///
/// A sibling of [`check`], not part of it, for the reason [`check_times`] is: stores and exports written before
/// v1.1 hold histories these rules refuse (a complaint closed as resolved without a confirmation), and
/// [`evolve`], [`fold`] and imports must keep replaying them to the same state. Pure and total; the store calls
/// it on every append, after `check`.
pub fn check_tightened(state: &StreamState, data: &EventData) -> Result<(), LifecycleViolation> {
    let Some(complaint) = state.complaint() else { return Ok(()) };
    let event_type = data.event_type();
    match data {
        EventData::SolutionAccepted(decision) => {
            match complaint.solutions.iter().find(|s| s.state == SolutionState::Accepted) {
                Some(in_progress) if in_progress.solution_id != decision.solution_id => {
                    Err(LifecycleViolation::AnotherSolutionInProgress {
                        event_type,
                        solution_id: decision.solution_id.clone(),
                        in_progress: in_progress.solution_id.clone(),
                    })
                }
                // Accepting the accepted one again is `check`'s refusal (not pending).
                Some(_) | None => Ok(()),
            }
        }
        EventData::ComplaintClosed(close) => {
            let needs_confirmation = match close.outcome {
                Outcome::Resolved | Outcome::Refunded | Outcome::Replaced => true,
                // Nothing was carried out for the customer to confirm.
                Outcome::Withdrawn | Outcome::Unfounded => false,
            };
            let overridden = close.override_reason.as_deref().is_some_and(|reason| !reason.trim().is_empty());
            if needs_confirmation && !complaint.confirmed_satisfied && !overridden {
                Err(LifecycleViolation::CloseWithoutConfirmation { event_type, outcome: close.outcome })
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// The stream a cross-stream rule of `data` reads (v1.1): `qa-<answer_id>` for `standard_answer_used`, the
/// target for `complaint_linked`; `None` for every other type, and when the name is no valid stream name
/// (then nothing can be stored under it: [`check_reference`] judges it against [`StreamState::Empty`]).
pub fn referenced_stream(data: &EventData) -> Option<StreamName> {
    match data {
        EventData::StandardAnswerUsed(used) => StreamName::standard_answer(&used.answer_id).ok(),
        EventData::ComplaintLinked(link) => StreamName::new(link.target.as_str()).ok(),
        _ => None,
    }
}

/// Decides the cross-stream rules of `data` (v1.1) given `referenced`, the state the writer's own view holds
/// for [`referenced_stream`]`(data)` (earlier appends of the same atomic group included), or
/// [`StreamState::Empty`] when there is none:
/// - `standard_answer_used`: the answer is published and not retired;
/// - `complaint_linked`: the target stream exists.
///
/// Every other type passes. Append-only like [`check_tightened`]: a fold never reads another stream.
pub fn check_reference(data: &EventData, referenced: &StreamState) -> Result<(), LifecycleViolation> {
    let event_type = data.event_type();
    match data {
        EventData::StandardAnswerUsed(used) => match referenced.answer() {
            Some(answer) if answer.retired => {
                Err(LifecycleViolation::RetiredAnswerUsed { event_type, answer_id: used.answer_id.clone() })
            }
            Some(_) => Ok(()),
            None => Err(LifecycleViolation::AnswerNotFound { event_type, answer_id: used.answer_id.clone() }),
        },
        EventData::ComplaintLinked(link) => match referenced {
            StreamState::Empty => {
                Err(LifecycleViolation::LinkTargetMissing { event_type, target: link.target.clone() })
            }
            StreamState::Complaint(_) | StreamState::Answer(_) | StreamState::Problem(_) | StreamState::Customer(_) => {
                Ok(())
            }
        },
        _ => Ok(()),
    }
}

/// Applies one event, which happened at `occurred_at`, to `state` and returns the new state.
///
/// Callers pass only events [`check`] accepts; debug builds assert it (a refused event here is a caller bug).
/// Release builds never panic: an event `check` refuses is not applied. On a complaint it still counts in
/// `event_count` (it is part of the stream's history) and changes nothing else; on an empty or answer stream
/// it leaves the state exactly as it was. So a history written under looser rules replays to the state of its
/// acceptable events, and never reaches a state the rules forbid.
pub fn evolve(state: StreamState, data: &EventData, occurred_at: Timestamp) -> StreamState {
    debug_assert!(check(&state, data).is_ok(), "evolve got an event check refuses: {:?}", check(&state, data));
    evolve_unasserted(state, data, occurred_at)
}

/// [`evolve`] without the debug assertion: the release-build behaviour, callable (and tested) in every build.
fn evolve_unasserted(state: StreamState, data: &EventData, occurred_at: Timestamp) -> StreamState {
    match check(&state, data) {
        Ok(()) => apply(state, data, occurred_at),
        Err(_) => match state {
            StreamState::Complaint(mut complaint) => {
                complaint.event_count = complaint.event_count.saturating_add(1);
                StreamState::Complaint(complaint)
            }
            untouched @ (StreamState::Empty
            | StreamState::Answer(_)
            | StreamState::Problem(_)
            | StreamState::Customer(_)) => untouched,
        },
    }
}

/// Replays a history, oldest first, from [`StreamState::Empty`]: the same as calling [`evolve`] on each
/// `(event, occurred_at)` in turn, with the same guarantees and the same treatment of refused events.
pub fn fold<'a>(events: impl IntoIterator<Item = (&'a EventData, Timestamp)>) -> StreamState {
    events.into_iter().fold(StreamState::Empty, |state, (data, occurred_at)| evolve(state, data, occurred_at))
}

/// Applies an event `check` accepted.
fn apply(state: StreamState, data: &EventData, occurred_at: Timestamp) -> StreamState {
    match state {
        StreamState::Empty => match data {
            EventData::ComplaintReceived(received) => StreamState::Complaint(Box::new(ComplaintState {
                complaint_id: received.complaint_id.clone(),
                customer_id: received.customer_id.clone(),
                category: received.category.clone(),
                description: received.description.clone(),
                channel: received.channel,
                severity: received.severity,
                product: received.product.clone(),
                customer_tier: received.customer_tier,
                status: ComplaintStatus::Received,
                received_at: occurred_at,
                acknowledged_at: None,
                commitment_due: None,
                delivered_at: None,
                confirmed_satisfied: false,
                closed_at: None,
                outcome: None,
                escalation_level: 0,
                escalated_to: None,
                root_cause: None,
                responsible_department: None,
                founded: None,
                corrective_action: None,
                solutions: Vec::new(),
                apologies: 0,
                apology_visits: 0,
                reopen_count: 0,
                revisits: Vec::new(),
                standard_answers_used: Vec::new(),
                event_count: 1,
                owner: None,
                team: None,
                waiting_since: None,
                links: Vec::new(),
                waits: Vec::new(),
                last_contact_at: None,
                reopened_at: None,
            })),
            EventData::StandardAnswerPublished(published) => StreamState::Answer(Box::new(AnswerState {
                answer_id: published.answer_id.clone(),
                category: published.category.clone(),
                title: published.title.clone(),
                answer: published.answer.clone(),
                keywords: published.keywords.clone(),
                retired: false,
                revisions: 0,
            })),
            EventData::ProblemIdentified(identified) => StreamState::Problem(Box::new(ProblemState {
                problem_id: identified.problem_id.clone(),
                title: identified.title.clone(),
                category: identified.category.clone(),
                root_cause: identified.root_cause.clone(),
                responsible_department: identified.responsible_department.clone(),
                status: ProblemStatus::Identified,
                identified_at: occurred_at,
                corrective_actions: Vec::new(),
                resolved_at: None,
                reopen_count: 0,
            })),
            EventData::CustomerDataErased(erased) => StreamState::Customer(Box::new(CustomerState {
                customer_id: erased.customer_id.clone(),
                erased_at: occurred_at,
            })),
            // `check` accepts nothing else on an empty stream.
            EventData::ComplaintAcknowledged(_)
            | EventData::ApologySent(_)
            | EventData::CauseAnalyzed(_)
            | EventData::SolutionOffered(_)
            | EventData::SolutionAccepted(_)
            | EventData::SolutionRejected(_)
            | EventData::CommitmentMade(_)
            | EventData::ProgressUpdated(_)
            | EventData::Escalated(_)
            | EventData::StandardAnswerUsed(_)
            | EventData::SolutionDelivered(_)
            | EventData::ResolutionConfirmed(_)
            | EventData::RevisitDone(_)
            | EventData::ApologyVisitMade(_)
            | EventData::ComplaintReopened(_)
            | EventData::ComplaintClosed(_)
            | EventData::StandardAnswerRevised(_)
            | EventData::StandardAnswerRetired(_)
            | EventData::ComplaintAssigned(_)
            | EventData::WaitingOnCustomer(_)
            | EventData::CustomerResponded(_)
            | EventData::ComplaintLinked(_)
            | EventData::CorrectiveActionTaken(_)
            | EventData::ProblemResolved(_)
            | EventData::ProblemReopened(_) => StreamState::Empty,
        },
        StreamState::Complaint(mut complaint) => {
            complaint.event_count = complaint.event_count.saturating_add(1);
            apply_to_complaint(&mut complaint, data, occurred_at);
            StreamState::Complaint(complaint)
        }
        StreamState::Answer(mut answer) => {
            apply_to_answer(&mut answer, data);
            StreamState::Answer(answer)
        }
        StreamState::Problem(mut problem) => {
            apply_to_problem(&mut problem, data, occurred_at);
            StreamState::Problem(problem)
        }
        // `check` accepts nothing after the erasure.
        customer @ StreamState::Customer(_) => customer,
    }
}

/// Whether `data` is the desk speaking to the customer (API.md v1.1 "Service levels": what keeps the
/// update clock).
pub fn is_customer_contact(data: &EventData) -> bool {
    match data {
        EventData::ComplaintAcknowledged(_)
        | EventData::ApologySent(_)
        | EventData::SolutionOffered(_)
        | EventData::SolutionDelivered(_)
        | EventData::ApologyVisitMade(_) => true,
        EventData::ProgressUpdated(progress) => progress.customer_informed,
        _ => false,
    }
}

fn apply_to_complaint(complaint: &mut ComplaintState, data: &EventData, occurred_at: Timestamp) {
    use ComplaintStatus as S;
    if is_customer_contact(data) {
        complaint.last_contact_at = Some(occurred_at);
    }
    match data {
        EventData::ComplaintAcknowledged(_) => {
            if complaint.acknowledged_at.is_none() {
                complaint.acknowledged_at = Some(occurred_at);
            }
            if complaint.status == S::Received {
                complaint.status = S::Acknowledged;
            }
        }
        EventData::ApologySent(_) => complaint.apologies = complaint.apologies.saturating_add(1),
        EventData::CauseAnalyzed(cause) => {
            complaint.root_cause = Some(cause.root_cause.clone());
            complaint.responsible_department = Some(cause.responsible_department.clone());
            complaint.founded = Some(cause.founded);
            complaint.corrective_action = cause.corrective_action.clone();
            if matches!(complaint.status, S::Received | S::Acknowledged) {
                complaint.status = S::Investigating;
            }
        }
        EventData::SolutionOffered(offer) => {
            complaint.solutions.push(Solution {
                solution_id: offer.solution_id.clone(),
                description: offer.description.clone(),
                promised_by: offer.promised_by,
                state: SolutionState::Offered,
                offered_at: occurred_at,
            });
            if matches!(complaint.status, S::Received | S::Acknowledged | S::Investigating) {
                complaint.status = S::SolutionProposed;
            }
        }
        EventData::SolutionAccepted(decision) => {
            if let Some(solution) = complaint.solution_mut(&decision.solution_id) {
                solution.state = SolutionState::Accepted;
            }
            complaint.status = S::InProgress;
        }
        EventData::SolutionRejected(decision) => {
            if let Some(solution) = complaint.solution_mut(&decision.solution_id) {
                solution.state = SolutionState::Rejected;
            }
        }
        EventData::CommitmentMade(commitment) => complaint.commitment_due = Some(commitment.due_at),
        EventData::ProgressUpdated(_) => {}
        EventData::Escalated(escalation) => {
            complaint.escalation_level = complaint.escalation_level.saturating_add(1);
            complaint.escalated_to = Some(escalation.to.clone());
        }
        EventData::StandardAnswerUsed(used) => complaint.standard_answers_used.push(used.answer_id.clone()),
        EventData::SolutionDelivered(delivery) => {
            if let Some(solution) = complaint.solution_mut(&delivery.solution_id) {
                solution.state = SolutionState::Delivered;
            }
            complaint.delivered_at = Some(occurred_at);
            complaint.status = S::Resolved;
        }
        EventData::ResolutionConfirmed(confirmation) => {
            complaint.confirmed_satisfied = confirmation.satisfied;
            complaint.status = if confirmation.satisfied { S::Confirmed } else { S::InProgress };
        }
        EventData::RevisitDone(revisit) => complaint.revisits.push(Revisit {
            at: occurred_at,
            satisfaction: revisit.satisfaction,
            issue_persists: revisit.issue_persists,
        }),
        EventData::ApologyVisitMade(_) => complaint.apology_visits = complaint.apology_visits.saturating_add(1),
        EventData::ComplaintReopened(_) => {
            complaint.status = S::InProgress;
            complaint.closed_at = None;
            complaint.outcome = None;
            complaint.confirmed_satisfied = false;
            complaint.reopen_count = complaint.reopen_count.saturating_add(1);
            complaint.reopened_at = Some(occurred_at);
        }
        EventData::ComplaintClosed(close) => {
            complaint.status = S::Closed;
            complaint.closed_at = Some(occurred_at);
            complaint.outcome = Some(close.outcome);
            if let Some(from) = complaint.waiting_since.take() {
                complaint.waits.push(Wait { from, until: occurred_at.max(from) });
            }
        }
        EventData::ComplaintAssigned(assignment) => {
            complaint.owner = Some(assignment.assignee.clone());
            complaint.team.clone_from(&assignment.team);
        }
        EventData::WaitingOnCustomer(_) => complaint.waiting_since = Some(occurred_at),
        EventData::CustomerResponded(_) => {
            if let Some(from) = complaint.waiting_since.take() {
                complaint.waits.push(Wait { from, until: occurred_at.max(from) });
            }
        }
        EventData::ComplaintLinked(link) => {
            complaint.links.push(Link { target: link.target.clone(), relation: link.relation, at: occurred_at })
        }
        // `check` refuses these on a complaint.
        EventData::ComplaintReceived(_)
        | EventData::StandardAnswerPublished(_)
        | EventData::StandardAnswerRevised(_)
        | EventData::StandardAnswerRetired(_)
        | EventData::ProblemIdentified(_)
        | EventData::CorrectiveActionTaken(_)
        | EventData::ProblemResolved(_)
        | EventData::ProblemReopened(_)
        | EventData::CustomerDataErased(_) => {}
    }
}

fn apply_to_answer(answer: &mut AnswerState, data: &EventData) {
    match data {
        EventData::StandardAnswerRevised(revision) => {
            if let Some(title) = &revision.title {
                answer.title.clone_from(title);
            }
            if let Some(text) = &revision.answer {
                answer.answer.clone_from(text);
            }
            if let Some(keywords) = &revision.keywords {
                answer.keywords.clone_from(keywords);
            }
            if let Some(category) = &revision.category {
                answer.category.clone_from(category);
            }
            answer.revisions = answer.revisions.saturating_add(1);
        }
        EventData::StandardAnswerRetired(_) => answer.retired = true,
        // `check` refuses every other event on an answer stream.
        EventData::StandardAnswerPublished(_)
        | EventData::ComplaintReceived(_)
        | EventData::ComplaintAcknowledged(_)
        | EventData::ApologySent(_)
        | EventData::CauseAnalyzed(_)
        | EventData::SolutionOffered(_)
        | EventData::SolutionAccepted(_)
        | EventData::SolutionRejected(_)
        | EventData::CommitmentMade(_)
        | EventData::ProgressUpdated(_)
        | EventData::Escalated(_)
        | EventData::StandardAnswerUsed(_)
        | EventData::SolutionDelivered(_)
        | EventData::ResolutionConfirmed(_)
        | EventData::RevisitDone(_)
        | EventData::ApologyVisitMade(_)
        | EventData::ComplaintReopened(_)
        | EventData::ComplaintClosed(_)
        | EventData::ComplaintAssigned(_)
        | EventData::WaitingOnCustomer(_)
        | EventData::CustomerResponded(_)
        | EventData::ComplaintLinked(_)
        | EventData::ProblemIdentified(_)
        | EventData::CorrectiveActionTaken(_)
        | EventData::ProblemResolved(_)
        | EventData::ProblemReopened(_)
        | EventData::CustomerDataErased(_) => {}
    }
}

fn apply_to_problem(problem: &mut ProblemState, data: &EventData, occurred_at: Timestamp) {
    match data {
        EventData::CorrectiveActionTaken(action) => {
            problem.corrective_actions.push(CorrectiveAction {
                action: action.action.clone(),
                owner: action.owner.clone(),
                due_at: action.due_at,
                taken_at: occurred_at,
            });
            problem.status = ProblemStatus::ActionTaken;
        }
        EventData::ProblemResolved(_) => {
            problem.status = ProblemStatus::Resolved;
            problem.resolved_at = Some(occurred_at);
        }
        // A reopened problem needs a new corrective action before it can be resolved again: the last one
        // did not remove the cause.
        EventData::ProblemReopened(_) => {
            problem.status = ProblemStatus::Identified;
            problem.resolved_at = None;
            problem.reopen_count = problem.reopen_count.saturating_add(1);
        }
        // `check` refuses every other event on a problem stream.
        EventData::ProblemIdentified(_)
        | EventData::ComplaintReceived(_)
        | EventData::ComplaintAcknowledged(_)
        | EventData::ApologySent(_)
        | EventData::CauseAnalyzed(_)
        | EventData::SolutionOffered(_)
        | EventData::SolutionAccepted(_)
        | EventData::SolutionRejected(_)
        | EventData::CommitmentMade(_)
        | EventData::ProgressUpdated(_)
        | EventData::Escalated(_)
        | EventData::StandardAnswerUsed(_)
        | EventData::SolutionDelivered(_)
        | EventData::ResolutionConfirmed(_)
        | EventData::RevisitDone(_)
        | EventData::ApologyVisitMade(_)
        | EventData::ComplaintReopened(_)
        | EventData::ComplaintClosed(_)
        | EventData::ComplaintAssigned(_)
        | EventData::WaitingOnCustomer(_)
        | EventData::CustomerResponded(_)
        | EventData::ComplaintLinked(_)
        | EventData::StandardAnswerPublished(_)
        | EventData::StandardAnswerRevised(_)
        | EventData::StandardAnswerRetired(_)
        | EventData::CustomerDataErased(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use redress_schemas::{
        ApologySent, ApologyVisitMade, CauseAnalyzed, CommitmentMade, ComplaintAcknowledged, ComplaintReceived,
        ComplaintReopened, ContactVia, Escalated, ProgressUpdated, ResolutionConfirmed, RevisitDone, RevisitVia,
        SolutionAccepted, SolutionDelivered, SolutionOffered, SolutionRejected, StandardAnswerPublished,
        StandardAnswerRetired, StandardAnswerRevised, StandardAnswerUsed,
    };
    use redress_schemas::{
        ComplaintAssigned, ComplaintLinked, CorrectiveActionTaken, CustomerResponded, ProblemIdentified,
        ProblemReopened, ProblemResolved, WaitingOnCustomer,
    };
    use std::collections::BTreeSet;
    use LifecycleViolation as V;

    // ---- events -------------------------------------------------------------------------------------------

    /// 2026-01-01T00:00:00Z plus `minute` minutes.
    fn at(minute: i64) -> Timestamp {
        Timestamp::from_unix_nanos(1_767_225_600_000_000_000).plus_seconds(minute * 60)
    }

    fn received() -> EventData {
        EventData::ComplaintReceived(ComplaintReceived {
            complaint_id: "C-1001".into(),
            customer_id: "K-7".into(),
            channel: Channel::Hotline,
            category: "delivery".into(),
            severity: Severity::High,
            description: "货到了但是屏幕碎了".into(),
            product: Some("phone X".into()),
            customer_tier: Some(CustomerTier::Key),
        })
    }
    fn acknowledged() -> EventData {
        EventData::ComplaintAcknowledged(ComplaintAcknowledged { via: ContactVia::Sms, message: "got it".into() })
    }
    fn apology() -> EventData {
        EventData::ApologySent(ApologySent { via: ContactVia::Phone, message: "we are sorry".into() })
    }
    fn cause(root_cause: &str) -> EventData {
        EventData::CauseAnalyzed(CauseAnalyzed {
            root_cause: root_cause.into(),
            responsible_department: format!("dept of {root_cause}"),
            founded: true,
            corrective_action: Some(format!("fix {root_cause}")),
        })
    }
    fn offer(solution_id: &str) -> EventData {
        EventData::SolutionOffered(SolutionOffered {
            solution_id: solution_id.into(),
            description: format!("solution {solution_id}"),
            promised_by: Some(at(10_000)),
        })
    }
    fn accept(solution_id: &str) -> EventData {
        EventData::SolutionAccepted(SolutionAccepted { solution_id: solution_id.into() })
    }
    fn reject(solution_id: &str) -> EventData {
        EventData::SolutionRejected(SolutionRejected { solution_id: solution_id.into(), reason: "too slow".into() })
    }
    fn commitment(due_at: Timestamp) -> EventData {
        EventData::CommitmentMade(CommitmentMade { what: "replace the screen".into(), due_at, solution_id: None })
    }
    fn commitment_on(solution_id: &str) -> EventData {
        EventData::CommitmentMade(CommitmentMade {
            what: "replace the screen".into(),
            due_at: at(5000),
            solution_id: Some(solution_id.into()),
        })
    }
    fn progress() -> EventData {
        EventData::ProgressUpdated(ProgressUpdated { note: "part ordered".into(), customer_informed: true })
    }
    fn escalate(to: &str) -> EventData {
        EventData::Escalated(Escalated { to: to.into(), reason: "customer insists".into() })
    }
    fn answer_used(answer_id: &str) -> EventData {
        EventData::StandardAnswerUsed(StandardAnswerUsed { answer_id: answer_id.into() })
    }
    fn deliver(solution_id: &str) -> EventData {
        EventData::SolutionDelivered(SolutionDelivered { solution_id: solution_id.into(), note: "done".into() })
    }
    fn confirm(satisfied: bool) -> EventData {
        EventData::ResolutionConfirmed(ResolutionConfirmed { satisfied, comment: None, via: None })
    }
    fn revisit(satisfaction: u8, issue_persists: bool) -> EventData {
        EventData::RevisitDone(RevisitDone { via: RevisitVia::Phone, satisfaction, issue_persists, note: None })
    }
    fn apology_visit() -> EventData {
        EventData::ApologyVisitMade(ApologyVisitMade { visitor: "regional director".into(), gift: None, note: None })
    }
    fn reopen() -> EventData {
        EventData::ComplaintReopened(ComplaintReopened { reason: "broke again".into() })
    }
    fn close(outcome: Outcome) -> EventData {
        EventData::ComplaintClosed(redress_schemas::ComplaintClosed { outcome, override_reason: None })
    }
    fn close_overriding(outcome: Outcome, reason: &str) -> EventData {
        EventData::ComplaintClosed(redress_schemas::ComplaintClosed { outcome, override_reason: Some(reason.into()) })
    }
    fn assign(assignee: &str, team: Option<&str>) -> EventData {
        EventData::ComplaintAssigned(ComplaintAssigned {
            assignee: assignee.into(),
            team: team.map(Into::into),
            note: None,
        })
    }
    fn wait() -> EventData {
        EventData::WaitingOnCustomer(WaitingOnCustomer { reason: "which order number?".into() })
    }
    fn respond() -> EventData {
        EventData::CustomerResponded(CustomerResponded { note: Some("order 42".into()) })
    }
    fn link(target: &str) -> EventData {
        EventData::ComplaintLinked(ComplaintLinked {
            target: target.into(),
            relation: LinkRelation::SameProblem,
            note: None,
        })
    }
    fn identify() -> EventData {
        EventData::ProblemIdentified(ProblemIdentified {
            problem_id: "P-1".into(),
            title: "screens crack in transit".into(),
            category: "delivery".into(),
            root_cause: "thin packaging".into(),
            responsible_department: "logistics".into(),
        })
    }
    fn act(due_at: Option<Timestamp>) -> EventData {
        EventData::CorrectiveActionTaken(CorrectiveActionTaken {
            action: "double-wall boxes".into(),
            owner: "logistics lead".into(),
            due_at,
        })
    }
    fn resolve_problem() -> EventData {
        EventData::ProblemResolved(ProblemResolved { verification: "no cracked screens for 60 days".into() })
    }
    fn reopen_problem() -> EventData {
        EventData::ProblemReopened(ProblemReopened { reason: "cracks again".into() })
    }
    fn publish() -> EventData {
        EventData::StandardAnswerPublished(StandardAnswerPublished {
            answer_id: "A-1".into(),
            category: "delivery".into(),
            title: "Damaged on arrival".into(),
            answer: "We replace it within 3 days.".into(),
            keywords: vec!["broken".into(), "damaged".into()],
            translations: None,
        })
    }
    fn revise_title(title: &str) -> EventData {
        EventData::StandardAnswerRevised(StandardAnswerRevised {
            title: Some(title.into()),
            answer: None,
            keywords: None,
            category: None,
            translations: None,
        })
    }
    fn retire() -> EventData {
        EventData::StandardAnswerRetired(StandardAnswerRetired { reason: "policy changed".into() })
    }

    /// One event of every type of the catalogue.
    fn one_of_each_type() -> Vec<EventData> {
        vec![
            received(),
            acknowledged(),
            apology(),
            cause("courier"),
            offer("S1"),
            accept("S1"),
            reject("S1"),
            commitment(at(5000)),
            progress(),
            escalate("supervisor"),
            answer_used("A-1"),
            deliver("S1"),
            confirm(true),
            revisit(5, false),
            apology_visit(),
            reopen(),
            close(Outcome::Resolved),
            publish(),
            revise_title("new"),
            retire(),
            assign("agent-7", Some("north")),
            wait(),
            respond(),
            link("problem-P-1"),
            identify(),
            act(None),
            resolve_problem(),
            reopen_problem(),
            erase("K-1"),
        ]
    }

    fn complaint_events_but_received() -> Vec<EventData> {
        one_of_each_type()
            .into_iter()
            .filter(|e| e.event_type().stream_kind() == StreamKind::Complaint)
            .filter(|e| e.event_type() != EventType::ComplaintReceived)
            .collect()
    }

    // ---- given / when / then ------------------------------------------------------------------------------

    /// The state after `events`, the i-th occurring at minute i.
    fn given(events: &[EventData]) -> StreamState {
        fold(events.iter().zip(0..).map(|(event, minute)| (event, at(minute))))
    }

    fn complaint_of(state: StreamState) -> ComplaintState {
        state.complaint().cloned().expect("a complaint history folds to a complaint")
    }

    /// Then `next` is accepted after `history`: the complaint it leaves, `next` occurring at minute 100.
    fn accepted(history: &[EventData], next: EventData) -> ComplaintState {
        let state = given(history);
        assert_eq!(check(&state, &next), Ok(()), "{} after {history:?}", next.event_type());
        complaint_of(evolve(state, &next, at(100)))
    }

    /// Then `next` is refused after `history`: the violation.
    fn refused(history: &[EventData], next: EventData) -> LifecycleViolation {
        let verdict = check(&given(history), &next);
        verdict.expect_err("the event should be refused")
    }

    fn delivered_s1() -> Vec<EventData> {
        vec![received(), offer("S1"), accept("S1"), deliver("S1")]
    }

    fn confirmed_s1() -> Vec<EventData> {
        [delivered_s1(), vec![confirm(true)]].concat()
    }

    #[test]
    fn the_test_events_cover_every_type_of_the_catalogue() {
        let covered: BTreeSet<EventType> = one_of_each_type().iter().map(EventData::event_type).collect();
        let all: BTreeSet<EventType> = EventType::ALL.iter().copied().collect();
        assert_eq!(covered, all);
    }

    // ---- complaint_received -------------------------------------------------------------------------------

    #[test]
    fn complaint_received_on_an_empty_stream_opens_the_complaint_with_its_details() {
        assert_eq!(check(&StreamState::Empty, &received()), Ok(()));
        let complaint = complaint_of(evolve(StreamState::Empty, &received(), at(3)));
        assert_eq!(complaint.complaint_id, "C-1001");
        assert_eq!(complaint.customer_id, "K-7");
        assert_eq!(complaint.channel, Channel::Hotline);
        assert_eq!(complaint.severity, Severity::High);
        assert_eq!(complaint.product.as_deref(), Some("phone X"));
        assert_eq!(complaint.customer_tier, Some(CustomerTier::Key));
        assert_eq!(complaint.status, ComplaintStatus::Received);
        assert_eq!(complaint.received_at, at(3));
        assert_eq!(complaint.acknowledged_at, None);
        assert!(complaint.is_open());
        assert_eq!(complaint.event_count, 1);
    }

    #[test]
    fn complaint_received_twice_is_refused() {
        assert_eq!(
            refused(&[received()], received()),
            V::AlreadyReceived { event_type: EventType::ComplaintReceived, complaint_id: "C-1001".into() }
        );
    }

    #[test]
    fn complaint_received_after_close_is_still_refused() {
        assert_eq!(
            refused(&[received(), close(Outcome::Withdrawn)], received()),
            V::AlreadyReceived { event_type: EventType::ComplaintReceived, complaint_id: "C-1001".into() }
        );
    }

    #[test]
    fn every_complaint_event_before_complaint_received_is_refused_as_not_received() {
        let events = complaint_events_but_received();
        assert_eq!(events.len(), 20);
        for event in events {
            assert_eq!(refused(&[], event.clone()), V::NotReceived { event_type: event.event_type() });
        }
    }

    // ---- complaint_acknowledged ---------------------------------------------------------------------------

    #[test]
    fn acknowledging_a_received_complaint_moves_it_to_acknowledged_and_stops_the_clock() {
        let complaint = accepted(&[received()], acknowledged());
        assert_eq!(complaint.status, ComplaintStatus::Acknowledged);
        assert_eq!(complaint.acknowledged_at, Some(at(100)));
    }

    #[test]
    fn a_second_acknowledgement_is_accepted_but_the_first_keeps_the_clock() {
        let complaint = accepted(&[received(), acknowledged()], acknowledged());
        assert_eq!(complaint.acknowledged_at, Some(at(1)));
        assert_eq!(complaint.status, ComplaintStatus::Acknowledged);
    }

    #[test]
    fn acknowledging_later_in_the_lifecycle_stops_the_clock_without_moving_the_status_back() {
        let complaint = accepted(&[received(), cause("courier")], acknowledged());
        assert_eq!(complaint.status, ComplaintStatus::Investigating);
        assert_eq!(complaint.acknowledged_at, Some(at(100)));
    }

    #[test]
    fn acknowledging_a_closed_complaint_is_accepted_and_it_stays_closed() {
        let complaint = accepted(&[received(), close(Outcome::Withdrawn)], acknowledged());
        assert_eq!(complaint.status, ComplaintStatus::Closed);
        assert_eq!(complaint.acknowledged_at, Some(at(100)));
    }

    // ---- apology_sent -------------------------------------------------------------------------------------

    #[test]
    fn each_apology_on_an_open_complaint_is_counted() {
        let complaint = accepted(&[received(), apology()], apology());
        assert_eq!(complaint.apologies, 2);
        assert_eq!(complaint.status, ComplaintStatus::Received);
    }

    // ---- open-only events on a closed complaint -----------------------------------------------------------

    #[test]
    fn every_open_only_event_on_a_closed_complaint_is_refused_as_closed() {
        // S3 still offered, S2 accepted, S1 delivered: each event below is acceptable while the complaint is open.
        let open = vec![received(), offer("S1"), offer("S2"), offer("S3"), accept("S2"), accept("S1"), deliver("S1")];
        let closed = [open.clone(), vec![close(Outcome::Resolved)]].concat();
        let open_only = [
            apology(),
            cause("courier"),
            offer("S4"),
            accept("S3"),
            reject("S3"),
            commitment(at(5000)),
            progress(),
            escalate("supervisor"),
            answer_used("A-1"),
            deliver("S2"),
            confirm(true),
            assign("agent-7", None),
            wait(),
        ];
        for event in open_only {
            assert_eq!(check(&given(&open), &event), Ok(()), "{} while open", event.event_type());
            assert_eq!(refused(&closed, event.clone()), V::ComplaintClosed { event_type: event.event_type() });
        }
    }

    // ---- cause_analyzed -----------------------------------------------------------------------------------

    #[test]
    fn analysing_the_cause_records_it_and_moves_the_complaint_to_investigating() {
        let complaint = accepted(&[received(), acknowledged()], cause("courier"));
        assert_eq!(complaint.status, ComplaintStatus::Investigating);
        assert_eq!(complaint.root_cause.as_deref(), Some("courier"));
        assert_eq!(complaint.responsible_department.as_deref(), Some("dept of courier"));
        assert_eq!(complaint.founded, Some(true));
        assert_eq!(complaint.corrective_action.as_deref(), Some("fix courier"));
    }

    #[test]
    fn a_later_cause_analysis_replaces_the_earlier_one_without_moving_the_status_back() {
        let complaint = accepted(&[received(), cause("courier"), offer("S1")], cause("warehouse"));
        assert_eq!(complaint.root_cause.as_deref(), Some("warehouse"));
        assert_eq!(complaint.responsible_department.as_deref(), Some("dept of warehouse"));
        assert_eq!(complaint.status, ComplaintStatus::SolutionProposed);
    }

    // ---- solution_offered ---------------------------------------------------------------------------------

    #[test]
    fn offering_a_solution_records_it_as_offered_and_proposes_a_solution() {
        let complaint = accepted(&[received(), cause("courier")], offer("S1"));
        assert_eq!(complaint.status, ComplaintStatus::SolutionProposed);
        assert_eq!(
            complaint.solutions,
            vec![Solution {
                solution_id: "S1".into(),
                description: "solution S1".into(),
                promised_by: Some(at(10_000)),
                state: SolutionState::Offered,
                offered_at: at(100),
            }]
        );
    }

    #[test]
    fn several_solutions_can_be_offered_as_alternatives_and_keep_their_order() {
        let complaint = accepted(&[received(), offer("S2"), offer("S1")], offer("S3"));
        let ids: Vec<&str> = complaint.solutions.iter().map(|s| s.solution_id.as_str()).collect();
        assert_eq!(ids, ["S2", "S1", "S3"]);
        assert!(complaint.solutions.iter().all(|s| s.state == SolutionState::Offered));
    }

    #[test]
    fn offering_the_same_solution_id_twice_is_refused_whatever_became_of_it() {
        for history in [vec![received(), offer("S1")], vec![received(), offer("S1"), reject("S1")], delivered_s1()] {
            assert_eq!(
                refused(&history, offer("S1")),
                V::SolutionAlreadyOffered { event_type: EventType::SolutionOffered, solution_id: "S1".into() }
            );
        }
    }

    #[test]
    fn offering_another_solution_while_in_progress_keeps_the_status() {
        let complaint = accepted(&[received(), offer("S1"), accept("S1")], offer("S2"));
        assert_eq!(complaint.status, ComplaintStatus::InProgress);
        assert_eq!(complaint.solutions.len(), 2);
    }

    // ---- solution_accepted --------------------------------------------------------------------------------

    #[test]
    fn accepting_an_offered_solution_puts_the_complaint_in_progress() {
        let complaint = accepted(&[received(), offer("S1"), offer("S2")], accept("S2"));
        assert_eq!(complaint.status, ComplaintStatus::InProgress);
        assert_eq!(complaint.solutions[0].state, SolutionState::Offered);
        assert_eq!(complaint.solutions[1].state, SolutionState::Accepted);
    }

    #[test]
    fn accepting_a_solution_that_was_never_offered_is_refused() {
        assert_eq!(
            refused(&[received(), offer("S1")], accept("S9")),
            V::UnknownSolution { event_type: EventType::SolutionAccepted, solution_id: "S9".into() }
        );
    }

    #[test]
    fn accepting_a_rejected_solution_is_refused() {
        assert_eq!(
            refused(&[received(), offer("S1"), reject("S1")], accept("S1")),
            V::SolutionNotPending {
                event_type: EventType::SolutionAccepted,
                solution_id: "S1".into(),
                state: SolutionState::Rejected
            }
        );
    }

    #[test]
    fn accepting_a_solution_twice_is_refused() {
        assert_eq!(
            refused(&[received(), offer("S1"), accept("S1")], accept("S1")),
            V::SolutionNotPending {
                event_type: EventType::SolutionAccepted,
                solution_id: "S1".into(),
                state: SolutionState::Accepted
            }
        );
    }

    #[test]
    fn accepting_a_delivered_solution_is_refused() {
        assert_eq!(
            refused(&delivered_s1(), accept("S1")),
            V::SolutionNotPending {
                event_type: EventType::SolutionAccepted,
                solution_id: "S1".into(),
                state: SolutionState::Delivered
            }
        );
    }

    // ---- solution_rejected --------------------------------------------------------------------------------

    #[test]
    fn rejecting_an_offered_solution_marks_it_rejected_and_keeps_the_status() {
        let complaint = accepted(&[received(), offer("S1")], reject("S1"));
        assert_eq!(complaint.solutions[0].state, SolutionState::Rejected);
        assert_eq!(complaint.status, ComplaintStatus::SolutionProposed);
    }

    #[test]
    fn rejecting_a_solution_that_was_never_offered_is_refused() {
        assert_eq!(
            refused(&[received()], reject("S1")),
            V::UnknownSolution { event_type: EventType::SolutionRejected, solution_id: "S1".into() }
        );
    }

    #[test]
    fn rejecting_an_accepted_solution_is_refused() {
        assert_eq!(
            refused(&[received(), offer("S1"), accept("S1")], reject("S1")),
            V::SolutionNotPending {
                event_type: EventType::SolutionRejected,
                solution_id: "S1".into(),
                state: SolutionState::Accepted
            }
        );
    }

    #[test]
    fn rejecting_a_solution_twice_is_refused() {
        assert_eq!(
            refused(&[received(), offer("S1"), reject("S1")], reject("S1")),
            V::SolutionNotPending {
                event_type: EventType::SolutionRejected,
                solution_id: "S1".into(),
                state: SolutionState::Rejected
            }
        );
    }

    // ---- commitment_made, progress_updated, escalated, standard_answer_used -------------------------------

    #[test]
    fn the_latest_commitment_replaces_the_due_date_even_when_it_is_earlier() {
        let complaint = accepted(&[received(), commitment(at(9000))], commitment(at(4000)));
        assert_eq!(complaint.commitment_due, Some(at(4000)));
    }

    #[test]
    fn a_progress_update_on_an_open_complaint_changes_nothing_but_the_event_count_and_the_contact() {
        let history = [received(), offer("S1"), accept("S1")];
        let before = complaint_of(given(&history));
        let after = accepted(&history, progress());
        let expected = ComplaintState { event_count: before.event_count + 1, last_contact_at: Some(at(100)), ..before };
        assert_eq!(after, expected);
    }

    #[test]
    fn each_escalation_raises_the_level_by_one_and_records_the_latest_target() {
        let complaint = accepted(&[received(), escalate("supervisor")], escalate("department_head"));
        assert_eq!(complaint.escalation_level, 2);
        assert_eq!(complaint.escalated_to.as_deref(), Some("department_head"));
        assert_eq!(complaint.status, ComplaintStatus::Received);
    }

    #[test]
    fn standard_answers_used_are_recorded_in_order_with_repeats() {
        let complaint = accepted(&[received(), answer_used("A-2"), answer_used("A-1")], answer_used("A-2"));
        assert_eq!(complaint.standard_answers_used, ["A-2", "A-1", "A-2"]);
    }

    // ---- solution_delivered -------------------------------------------------------------------------------

    #[test]
    fn delivering_an_accepted_solution_resolves_the_complaint_at_occurred_at() {
        let complaint = accepted(&[received(), offer("S1"), accept("S1")], deliver("S1"));
        assert_eq!(complaint.status, ComplaintStatus::Resolved);
        assert_eq!(complaint.delivered_at, Some(at(100)));
        assert_eq!(complaint.solutions[0].state, SolutionState::Delivered);
    }

    #[test]
    fn delivering_a_solution_that_was_only_offered_is_refused() {
        assert_eq!(
            refused(&[received(), offer("S1")], deliver("S1")),
            V::SolutionNotAccepted {
                event_type: EventType::SolutionDelivered,
                solution_id: "S1".into(),
                state: SolutionState::Offered
            }
        );
    }

    #[test]
    fn delivering_a_rejected_solution_is_refused() {
        assert_eq!(
            refused(&[received(), offer("S1"), reject("S1")], deliver("S1")),
            V::SolutionNotAccepted {
                event_type: EventType::SolutionDelivered,
                solution_id: "S1".into(),
                state: SolutionState::Rejected
            }
        );
    }

    #[test]
    fn delivering_a_solution_twice_is_refused() {
        assert_eq!(
            refused(&delivered_s1(), deliver("S1")),
            V::SolutionNotAccepted {
                event_type: EventType::SolutionDelivered,
                solution_id: "S1".into(),
                state: SolutionState::Delivered
            }
        );
    }

    #[test]
    fn delivering_a_solution_that_was_never_offered_is_refused() {
        assert_eq!(
            refused(&[received(), offer("S1"), accept("S1")], deliver("S2")),
            V::UnknownSolution { event_type: EventType::SolutionDelivered, solution_id: "S2".into() }
        );
    }

    // ---- resolution_confirmed -----------------------------------------------------------------------------

    #[test]
    fn confirming_without_a_delivery_is_refused() {
        assert_eq!(
            refused(&[received()], confirm(true)),
            V::NothingToConfirm { event_type: EventType::ResolutionConfirmed, status: ComplaintStatus::Received }
        );
        assert_eq!(
            refused(&[received(), offer("S1"), accept("S1")], confirm(true)),
            V::NothingToConfirm { event_type: EventType::ResolutionConfirmed, status: ComplaintStatus::InProgress }
        );
    }

    #[test]
    fn a_satisfied_confirmation_confirms_the_resolution() {
        let complaint = accepted(&delivered_s1(), confirm(true));
        assert_eq!(complaint.status, ComplaintStatus::Confirmed);
        assert!(complaint.confirmed_satisfied);
        assert!(complaint.is_open());
    }

    #[test]
    fn confirming_twice_is_refused() {
        assert_eq!(
            refused(&confirmed_s1(), confirm(true)),
            V::NothingToConfirm { event_type: EventType::ResolutionConfirmed, status: ComplaintStatus::Confirmed }
        );
    }

    #[test]
    fn an_unsatisfied_confirmation_returns_to_in_progress_and_a_new_solution_can_complete_the_cycle() {
        let mut history = [delivered_s1(), vec![confirm(false)]].concat();
        let complaint = complaint_of(given(&history));
        assert_eq!(complaint.status, ComplaintStatus::InProgress);
        assert!(!complaint.confirmed_satisfied);
        assert!(matches!(refused(&history, confirm(true)), V::NothingToConfirm { .. }));

        for (next, status_after) in [
            (offer("S2"), ComplaintStatus::InProgress),
            (accept("S2"), ComplaintStatus::InProgress),
            (deliver("S2"), ComplaintStatus::Resolved),
            (confirm(true), ComplaintStatus::Confirmed),
        ] {
            let complaint = accepted(&history, next.clone());
            assert_eq!(complaint.status, status_after, "after {}", next.event_type());
            history.push(next);
        }
        let complaint = complaint_of(given(&history));
        assert!(complaint.confirmed_satisfied);
        let states: Vec<SolutionState> = complaint.solutions.iter().map(|s| s.state).collect();
        assert_eq!(states, [SolutionState::Delivered, SolutionState::Delivered]);
    }

    // ---- revisit_done -------------------------------------------------------------------------------------

    #[test]
    fn a_revisit_after_a_satisfied_confirmation_is_recorded() {
        let complaint = accepted(&confirmed_s1(), revisit(4, true));
        assert_eq!(complaint.revisits, [Revisit { at: at(100), satisfaction: 4, issue_persists: true }]);
        assert_eq!(complaint.status, ComplaintStatus::Confirmed);
    }

    #[test]
    fn a_revisit_before_any_confirmation_is_refused() {
        assert_eq!(
            refused(&delivered_s1(), revisit(5, false)),
            V::NotConfirmed { event_type: EventType::RevisitDone, status: ComplaintStatus::Resolved }
        );
    }

    #[test]
    fn a_revisit_after_an_unsatisfied_confirmation_is_refused() {
        let history = [delivered_s1(), vec![confirm(false)]].concat();
        assert_eq!(
            refused(&history, revisit(2, true)),
            V::NotConfirmed { event_type: EventType::RevisitDone, status: ComplaintStatus::InProgress }
        );
    }

    #[test]
    fn a_revisit_after_a_confirmed_complaint_was_closed_is_accepted() {
        let history = [confirmed_s1(), vec![close(Outcome::Resolved), revisit(5, false)]].concat();
        let complaint = accepted(&history, revisit(3, false));
        assert_eq!(complaint.revisits.len(), 2);
        assert_eq!(complaint.revisits[1], Revisit { at: at(100), satisfaction: 3, issue_persists: false });
        assert_eq!(complaint.status, ComplaintStatus::Closed);
    }

    #[test]
    fn a_revisit_after_a_close_without_confirmation_is_refused() {
        assert_eq!(
            refused(&[received(), close(Outcome::Unfounded)], revisit(5, false)),
            V::NotConfirmed { event_type: EventType::RevisitDone, status: ComplaintStatus::Closed }
        );
    }

    #[test]
    fn a_revisit_after_a_reopen_is_refused_until_a_new_confirmation() {
        let history = [confirmed_s1(), vec![reopen()]].concat();
        assert_eq!(
            refused(&history, revisit(1, true)),
            V::NotConfirmed { event_type: EventType::RevisitDone, status: ComplaintStatus::InProgress }
        );
    }

    // ---- apology_visit_made -------------------------------------------------------------------------------

    #[test]
    fn an_apology_visit_is_accepted_at_any_stage_after_received_even_when_closed() {
        for history in [vec![received()], delivered_s1(), vec![received(), close(Outcome::Refunded)]] {
            let before = complaint_of(given(&history));
            let after = accepted(&history, apology_visit());
            assert_eq!(after.apology_visits, before.apology_visits + 1);
            assert_eq!(after.status, before.status);
        }
    }

    // ---- complaint_reopened -------------------------------------------------------------------------------

    #[test]
    fn reopening_a_complaint_still_being_worked_on_is_refused() {
        let cases = [
            (vec![received()], ComplaintStatus::Received),
            (vec![received(), acknowledged()], ComplaintStatus::Acknowledged),
            (vec![received(), cause("courier")], ComplaintStatus::Investigating),
            (vec![received(), offer("S1")], ComplaintStatus::SolutionProposed),
            (vec![received(), offer("S1"), accept("S1")], ComplaintStatus::InProgress),
        ];
        for (history, status) in cases {
            assert_eq!(
                refused(&history, reopen()),
                V::NotReopenable { event_type: EventType::ComplaintReopened, status }
            );
        }
    }

    #[test]
    fn reopening_a_closed_complaint_returns_it_to_in_progress_and_clears_the_outcome() {
        let history = [confirmed_s1(), vec![close(Outcome::Resolved)]].concat();
        let complaint = accepted(&history, reopen());
        assert_eq!(complaint.status, ComplaintStatus::InProgress);
        assert_eq!(complaint.closed_at, None);
        assert_eq!(complaint.outcome, None);
        assert!(!complaint.confirmed_satisfied);
        assert_eq!(complaint.reopen_count, 1);
        assert!(complaint.is_open());
    }

    #[test]
    fn reopening_a_resolved_complaint_returns_it_to_in_progress() {
        let complaint = accepted(&delivered_s1(), reopen());
        assert_eq!(complaint.status, ComplaintStatus::InProgress);
        assert_eq!(complaint.reopen_count, 1);
    }

    #[test]
    fn reopening_a_confirmed_complaint_withdraws_the_confirmation() {
        let complaint = accepted(&confirmed_s1(), reopen());
        assert_eq!(complaint.status, ComplaintStatus::InProgress);
        assert!(!complaint.confirmed_satisfied);
    }

    #[test]
    fn reopens_are_counted() {
        let history = [delivered_s1(), vec![reopen(), close(Outcome::Replaced)]].concat();
        assert_eq!(accepted(&history, reopen()).reopen_count, 2);
    }

    // ---- complaint_closed ---------------------------------------------------------------------------------

    #[test]
    fn closing_an_open_complaint_records_the_outcome_and_when() {
        let complaint = accepted(&[received(), acknowledged()], close(Outcome::Withdrawn));
        assert_eq!(complaint.status, ComplaintStatus::Closed);
        assert_eq!(complaint.closed_at, Some(at(100)));
        assert_eq!(complaint.outcome, Some(Outcome::Withdrawn));
        assert!(!complaint.is_open());
    }

    #[test]
    fn closing_a_closed_complaint_is_refused() {
        assert_eq!(
            refused(&[received(), close(Outcome::Withdrawn)], close(Outcome::Resolved)),
            V::AlreadyClosed { event_type: EventType::ComplaintClosed }
        );
    }

    #[test]
    fn a_reopened_complaint_can_be_closed_again_with_a_new_outcome() {
        let history = [delivered_s1(), vec![close(Outcome::Resolved), reopen()]].concat();
        let complaint = accepted(&history, close(Outcome::Refunded));
        assert_eq!(complaint.outcome, Some(Outcome::Refunded));
        assert_eq!(complaint.closed_at, Some(at(100)));
    }

    // ---- Q&A library --------------------------------------------------------------------------------------

    fn answer_of(state: StreamState) -> AnswerState {
        state.answer().cloned().expect("a Q&A history folds to an answer")
    }

    #[test]
    fn publishing_an_answer_on_an_empty_stream_creates_it() {
        assert_eq!(check(&StreamState::Empty, &publish()), Ok(()));
        let answer = answer_of(evolve(StreamState::Empty, &publish(), at(0)));
        assert_eq!(answer.answer_id, "A-1");
        assert_eq!(answer.title, "Damaged on arrival");
        assert_eq!(answer.keywords, ["broken", "damaged"]);
        assert!(!answer.retired);
        assert_eq!(answer.revisions, 0);
    }

    #[test]
    fn publishing_an_answer_twice_is_refused() {
        assert_eq!(
            refused(&[publish()], publish()),
            V::AnswerAlreadyPublished { event_type: EventType::StandardAnswerPublished, answer_id: "A-1".into() }
        );
    }

    #[test]
    fn revising_or_retiring_before_publishing_is_refused() {
        assert_eq!(
            refused(&[], revise_title("x")),
            V::AnswerNotPublished { event_type: EventType::StandardAnswerRevised }
        );
        assert_eq!(refused(&[], retire()), V::AnswerNotPublished { event_type: EventType::StandardAnswerRetired });
    }

    #[test]
    fn revising_replaces_only_the_given_fields_and_counts_revisions() {
        let revision = EventData::StandardAnswerRevised(StandardAnswerRevised {
            title: None,
            answer: Some("We replace it within 2 days.".into()),
            keywords: Some(vec!["cracked".into()]),
            category: None,
            translations: None,
        });
        let state = given(&[publish(), revise_title("Broken on arrival")]);
        assert_eq!(check(&state, &revision), Ok(()));
        let answer = answer_of(evolve(state, &revision, at(5)));
        assert_eq!(answer.title, "Broken on arrival");
        assert_eq!(answer.answer, "We replace it within 2 days.");
        assert_eq!(answer.keywords, ["cracked"]);
        assert_eq!(answer.category, "delivery");
        assert_eq!(answer.revisions, 2);
    }

    #[test]
    fn retiring_an_answer_marks_it_retired() {
        let state = given(&[publish()]);
        assert_eq!(check(&state, &retire()), Ok(()));
        assert!(answer_of(evolve(state, &retire(), at(1))).retired);
    }

    #[test]
    fn revising_a_retired_answer_is_refused() {
        assert_eq!(
            refused(&[publish(), retire()], revise_title("x")),
            V::AnswerRetired { event_type: EventType::StandardAnswerRevised, answer_id: "A-1".into() }
        );
    }

    #[test]
    fn retiring_an_answer_twice_is_refused() {
        assert_eq!(
            refused(&[publish(), retire()], retire()),
            V::AnswerRetired { event_type: EventType::StandardAnswerRetired, answer_id: "A-1".into() }
        );
    }

    // ---- stream kinds -------------------------------------------------------------------------------------

    #[test]
    fn complaint_events_on_an_answer_stream_are_refused_as_wrong_stream_kind() {
        for event in [vec![received()], complaint_events_but_received()].concat() {
            assert_eq!(
                refused(&[publish()], event.clone()),
                V::WrongStreamKind { event_type: event.event_type(), found: StreamKind::StandardAnswer }
            );
        }
    }

    #[test]
    fn answer_events_on_a_complaint_stream_are_refused_as_wrong_stream_kind() {
        for event in [publish(), revise_title("x"), retire()] {
            assert_eq!(
                refused(&[received()], event.clone()),
                V::WrongStreamKind { event_type: event.event_type(), found: StreamKind::Complaint }
            );
        }
    }

    // ---- the state as a whole -----------------------------------------------------------------------------

    #[test]
    fn every_event_of_a_complaint_history_counts_in_event_count() {
        let history = [
            confirmed_s1(),
            vec![revisit(5, false), close(Outcome::Resolved), acknowledged(), apology_visit(), revisit(4, false)],
        ]
        .concat();
        assert_eq!(complaint_of(given(&history)).event_count, 10);
    }

    #[test]
    fn fold_is_evolve_applied_in_order() {
        let history = confirmed_s1();
        let by_hand = history.iter().zip(0..).fold(StreamState::Empty, |s, (e, m)| evolve(s, e, at(m)));
        assert_eq!(given(&history), by_hand);
        assert_eq!(fold(std::iter::empty()), StreamState::Empty);
    }

    #[test]
    fn a_refused_event_leaves_a_complaint_as_it_was_but_counted_in_release_builds() {
        let state = given(&[received(), offer("S1")]);
        let before = complaint_of(state.clone());
        let after = complaint_of(evolve_unasserted(state, &deliver("S1"), at(50)));
        assert_eq!(after, ComplaintState { event_count: before.event_count + 1, ..before });
    }

    #[test]
    fn a_refused_event_leaves_an_empty_or_answer_stream_exactly_as_it_was_in_release_builds() {
        assert_eq!(evolve_unasserted(StreamState::Empty, &acknowledged(), at(0)), StreamState::Empty);
        let answer = given(&[publish(), retire()]);
        assert_eq!(evolve_unasserted(answer.clone(), &revise_title("x"), at(9)), answer);
        assert_eq!(evolve_unasserted(answer.clone(), &received(), at(9)), answer);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "evolve got an event check refuses")]
    fn evolving_with_a_refused_event_panics_in_debug_builds() {
        let _ = evolve(given(&[received()]), &received(), at(1));
    }

    #[test]
    fn violations_read_as_sentences_naming_what_went_wrong() {
        let unknown = refused(&[received(), offer("S1")], accept("S9"));
        assert_eq!(unknown.to_string(), "solution S9 was never offered on this complaint");
        assert_eq!(unknown.event_type(), EventType::SolutionAccepted);
        assert_eq!(
            refused(&[received()], confirm(true)).to_string(),
            "the complaint is received; only a resolved complaint (delivered, not yet confirmed) can be confirmed"
        );
        assert_eq!(
            refused(&[], progress()).to_string(),
            "the stream holds no complaint yet; complaint_received must come before progress_updated"
        );
        assert_eq!(
            refused(&[publish()], acknowledged()).to_string(),
            "complaint_acknowledged belongs on a complaint stream, but this stream holds a standard answer"
        );
    }

    // ---- instants (v1.1): check_times -------------------------------------------------------------------

    const SKEW: Duration = Duration::from_secs(5 * 60);

    /// When `next` occurs at `occurred_at` and the store records it at `recorded_at`, allowing [`SKEW`].
    fn times(occurred_at: Timestamp, recorded_at: Timestamp) -> EventTimes {
        EventTimes { occurred_at, recorded_at, clock_skew_max: SKEW }
    }

    /// Then `next`, at `occurred_at` and recorded at minute 100, is accepted after `history` (its i-th event
    /// at minute i).
    fn on_time(history: &[EventData], next: &EventData, occurred_at: Timestamp) -> Result<(), LifecycleViolation> {
        check_times(&given(history), next, times(occurred_at, at(100)))
    }

    #[test]
    fn an_event_up_to_the_clock_skew_ahead_of_the_store_is_accepted() {
        assert_eq!(on_time(&[], &received(), at(100)), Ok(()));
        assert_eq!(on_time(&[], &received(), at(105)), Ok(()), "exactly the skew ahead");
        assert_eq!(on_time(&[received()], &progress(), at(103)), Ok(()));
    }

    #[test]
    fn an_event_further_ahead_than_the_clock_skew_is_refused_as_in_the_future() {
        let late = at(105).plus_seconds(1);
        assert_eq!(
            on_time(&[received()], &progress(), late),
            Err(V::OccurredInTheFuture {
                event_type: EventType::ProgressUpdated,
                occurred_at: late,
                recorded_at: at(100),
                clock_skew_max: SKEW,
            })
        );
        for next in one_of_each_type() {
            let verdict = check_times(&StreamState::Empty, &next, times(at(10_000_000), at(100)));
            assert!(matches!(verdict, Err(V::OccurredInTheFuture { .. })), "{next:?}: {verdict:?}");
        }
    }

    #[test]
    fn the_allowed_clock_skew_is_whatever_the_store_passes() {
        let strict =
            EventTimes { occurred_at: at(100).plus_seconds(1), recorded_at: at(100), clock_skew_max: Duration::ZERO };
        assert!(matches!(check_times(&StreamState::Empty, &received(), strict), Err(V::OccurredInTheFuture { .. })));
        let lenient =
            EventTimes { occurred_at: at(159), recorded_at: at(100), clock_skew_max: Duration::from_secs(3600) };
        assert_eq!(check_times(&StreamState::Empty, &received(), lenient), Ok(()));
    }

    #[test]
    fn a_complaint_event_before_its_receipt_is_refused_whatever_its_type() {
        // `given` receives the complaint at minute 0.
        assert_eq!(
            on_time(&[received()], &acknowledged(), at(-1)),
            Err(V::OccurredBeforeReceipt {
                event_type: EventType::ComplaintAcknowledged,
                occurred_at: at(-1),
                received_at: at(0),
            })
        );
        for next in complaint_events_but_received() {
            let verdict = on_time(&[received(), close(Outcome::Withdrawn)], &next, at(-1));
            assert!(matches!(verdict, Err(V::OccurredBeforeReceipt { .. })), "{next:?}: {verdict:?}");
        }
    }

    #[test]
    fn a_complaint_event_at_the_instant_of_receipt_or_later_is_accepted() {
        assert_eq!(on_time(&[received()], &acknowledged(), at(0)), Ok(()));
        // Events need not arrive in occurred_at order, only after the receipt.
        assert_eq!(on_time(&[received(), progress(), progress()], &acknowledged(), at(1)), Ok(()));
    }

    #[test]
    fn streams_without_a_receipt_take_any_past_instant() {
        let long_ago = Timestamp::parse("1999-12-31T00:00:00Z").unwrap();
        assert_eq!(on_time(&[], &received(), long_ago), Ok(()));
        assert_eq!(on_time(&[], &publish(), long_ago), Ok(()));
        assert_eq!(on_time(&[publish()], &revise_title("older"), long_ago), Ok(()));
    }

    #[test]
    fn a_commitment_due_after_it_is_made_is_accepted() {
        assert_eq!(on_time(&[received()], &commitment(at(51)), at(50)), Ok(()));
    }

    #[test]
    fn a_commitment_due_when_or_before_it_is_made_is_refused() {
        for due_at in [at(50), at(49), Timestamp::parse("2020-01-01T00:00:00Z").unwrap()] {
            assert_eq!(
                on_time(&[received()], &commitment(due_at), at(50)),
                Err(V::DueBeforeCommitment { event_type: EventType::CommitmentMade, due_at, occurred_at: at(50) })
            );
        }
    }

    #[test]
    fn instants_are_judged_after_the_lifecycle_so_check_alone_never_refuses_for_time() {
        // `check` is what replays and `evolve` rely on: an event stored before the v1.1 rules, dated before
        // its receipt, still folds in (the acknowledgement clock stops at its instant).
        let state = fold([(&received(), at(10)), (&acknowledged(), at(5))]);
        assert_eq!(complaint_of(state).acknowledged_at, Some(at(5)));
    }

    #[test]
    fn instant_violations_read_as_sentences() {
        assert_eq!(
            on_time(&[received()], &commitment(at(49)), at(50)).unwrap_err().to_string(),
            "due_at 2026-01-01T00:49:00Z is not after the commitment's occurred_at 2026-01-01T00:50:00Z"
        );
        assert_eq!(
            on_time(&[received()], &progress(), at(-60)).unwrap_err().to_string(),
            "occurred_at 2025-12-31T23:00:00Z is before the complaint was received (2026-01-01T00:00:00Z)"
        );
        assert_eq!(
            on_time(&[], &received(), at(200)).unwrap_err().to_string(),
            "occurred_at 2026-01-01T03:20:00Z is in the future: the store's clock says 2026-01-01T01:40:00Z and \
             allows 300s of clock skew"
        );
    }

    #[test]
    fn statuses_and_solution_states_serialize_as_their_snake_case_names() {
        let statuses = [
            ComplaintStatus::Received,
            ComplaintStatus::Acknowledged,
            ComplaintStatus::Investigating,
            ComplaintStatus::SolutionProposed,
            ComplaintStatus::InProgress,
            ComplaintStatus::Resolved,
            ComplaintStatus::Confirmed,
            ComplaintStatus::Closed,
        ];
        for status in statuses {
            assert_eq!(serde_json::to_value(status).ok(), Some(serde_json::Value::from(status.as_str())));
            assert_eq!(status.to_string(), status.as_str());
        }
        assert_eq!(ComplaintStatus::SolutionProposed.as_str(), "solution_proposed");
        for state in
            [SolutionState::Offered, SolutionState::Accepted, SolutionState::Rejected, SolutionState::Delivered]
        {
            assert_eq!(serde_json::to_value(state).ok(), Some(serde_json::Value::from(state.as_str())));
        }
    }

    #[test]
    fn stream_state_defaults_to_empty_and_each_accessor_answers_only_for_its_kind() {
        assert_eq!(StreamState::default(), StreamState::Empty);
        assert!(StreamState::Empty.complaint().is_none() && StreamState::Empty.answer().is_none());
        let complaint = given(&[received()]);
        assert!(complaint.complaint().is_some() && complaint.answer().is_none());
        let answer = given(&[publish()]);
        assert!(answer.answer().is_some() && answer.complaint().is_none() && answer.problem().is_none());
        let problem = given(&[identify()]);
        assert!(problem.problem().is_some() && problem.complaint().is_none() && problem.answer().is_none());
    }

    // ---- v1.1: one solution at a time (check_tightened) --------------------------------------------------

    /// `next` after `history` under the append-only rules (`check` passed first).
    fn tightened(history: &[EventData], next: &EventData) -> Result<(), LifecycleViolation> {
        let state = given(history);
        assert_eq!(check(&state, next), Ok(()), "check accepts {} after {history:?}", next.event_type());
        check_tightened(&state, next)
    }

    #[test]
    fn accepting_a_second_solution_while_the_first_is_undelivered_is_refused_naming_both() {
        let history = [received(), offer("S1"), offer("S2"), accept("S1")];
        let violation = tightened(&history, &accept("S2")).unwrap_err();
        assert_eq!(
            violation,
            V::AnotherSolutionInProgress {
                event_type: EventType::SolutionAccepted,
                solution_id: "S2".into(),
                in_progress: "S1".into(),
            }
        );
        assert_eq!(
            violation.to_string(),
            "solution S1 is accepted and not yet delivered; deliver it before accepting S2 (one solution is \
             carried out at a time)"
        );
    }

    #[test]
    fn accepting_a_second_solution_after_the_first_was_delivered_is_accepted() {
        let history = [received(), offer("S1"), offer("S2"), accept("S1"), deliver("S1"), confirm(false)];
        assert_eq!(tightened(&history, &accept("S2")), Ok(()));
    }

    // ---- v1.1: commitments about a solution ---------------------------------------------------------------

    #[test]
    fn a_commitment_about_an_offered_solution_is_accepted() {
        accepted(&[received(), offer("S1")], commitment_on("S1"));
        // Whatever became of it since: a promise may concern a delivery.
        accepted(&[received(), offer("S1"), accept("S1")], commitment_on("S1"));
    }

    #[test]
    fn a_commitment_about_a_solution_never_offered_is_refused() {
        assert_eq!(
            refused(&[received(), offer("S1")], commitment_on("S9")),
            V::UnknownSolution { event_type: EventType::CommitmentMade, solution_id: "S9".into() }
        );
    }

    // ---- v1.1: closing needs the customer's confirmation (check_tightened) --------------------------------

    #[test]
    fn closing_as_resolved_refunded_or_replaced_without_a_satisfied_confirmation_is_refused() {
        for outcome in [Outcome::Resolved, Outcome::Refunded, Outcome::Replaced] {
            for history in [delivered_s1(), [delivered_s1(), vec![confirm(false)]].concat(), vec![received()]] {
                assert_eq!(
                    tightened(&history, &close(outcome)),
                    Err(V::CloseWithoutConfirmation { event_type: EventType::ComplaintClosed, outcome }),
                    "{outcome:?} after {history:?}"
                );
            }
        }
        let message = tightened(&delivered_s1(), &close(Outcome::Refunded)).unwrap_err().to_string();
        assert!(message.contains("resolution_confirmed") && message.contains("override_reason"), "{message}");
    }

    #[test]
    fn closing_as_resolved_after_a_satisfied_confirmation_is_accepted() {
        for outcome in [Outcome::Resolved, Outcome::Refunded, Outcome::Replaced] {
            assert_eq!(tightened(&confirmed_s1(), &close(outcome)), Ok(()));
        }
    }

    #[test]
    fn a_confirmation_before_the_last_reopen_does_not_count_for_the_close() {
        let reopened = [confirmed_s1(), vec![reopen()]].concat();
        assert!(matches!(tightened(&reopened, &close(Outcome::Resolved)), Err(V::CloseWithoutConfirmation { .. })));
        let confirmed_again = [reopened, vec![offer("S2"), accept("S2"), deliver("S2"), confirm(true)]].concat();
        assert_eq!(tightened(&confirmed_again, &close(Outcome::Resolved)), Ok(()));
    }

    #[test]
    fn an_override_reason_closes_as_resolved_without_a_confirmation_but_a_blank_one_does_not() {
        let overriding = close_overriding(Outcome::Resolved, "customer unreachable for 10 days");
        assert_eq!(tightened(&delivered_s1(), &overriding), Ok(()));
        assert!(matches!(
            tightened(&delivered_s1(), &close_overriding(Outcome::Replaced, "  ")),
            Err(V::CloseWithoutConfirmation { .. })
        ));
    }

    #[test]
    fn withdrawn_and_unfounded_closes_need_neither_confirmation_nor_override() {
        for outcome in [Outcome::Withdrawn, Outcome::Unfounded] {
            assert_eq!(tightened(&[received()], &close(outcome)), Ok(()));
        }
    }

    #[test]
    fn histories_stored_before_the_tightened_rules_still_fold_as_they_were_written() {
        // A v1 store may hold a resolved close without confirmation: `evolve` applies it (no check_tightened).
        let closed = complaint_of(given(&[delivered_s1(), vec![close(Outcome::Resolved)]].concat()));
        assert_eq!(closed.status, ComplaintStatus::Closed);
        assert_eq!(closed.outcome, Some(Outcome::Resolved));
    }

    #[test]
    fn the_tightened_rules_leave_every_other_event_and_stream_alone() {
        assert_eq!(check_tightened(&StreamState::Empty, &close(Outcome::Resolved)), Ok(()));
        assert_eq!(tightened(&delivered_s1(), &progress()), Ok(()));
        assert_eq!(check_tightened(&given(&[publish()]), &retire()), Ok(()));
    }

    // ---- v1.1: complaint_assigned -------------------------------------------------------------------------

    #[test]
    fn an_assignment_makes_the_assignee_the_owner_and_a_later_one_transfers() {
        let complaint = accepted(&[received()], assign("agent-7", Some("north")));
        assert_eq!((complaint.owner.as_deref(), complaint.team.as_deref()), (Some("agent-7"), Some("north")));
        let transferred = accepted(&[received(), assign("agent-7", Some("north"))], assign("agent-9", None));
        assert_eq!((transferred.owner.as_deref(), transferred.team.as_deref()), (Some("agent-9"), None));
        assert_eq!(transferred.status, ComplaintStatus::Received, "an assignment is not a status");
    }

    #[test]
    fn assigning_a_closed_complaint_is_refused() {
        assert_eq!(
            refused(&[received(), close(Outcome::Withdrawn)], assign("agent-7", None)),
            V::ComplaintClosed { event_type: EventType::ComplaintAssigned }
        );
    }

    // ---- v1.1: waiting_on_customer / customer_responded ---------------------------------------------------

    #[test]
    fn waiting_on_the_customer_sets_a_flag_beside_the_status_and_a_response_clears_it() {
        let waiting = accepted(&[received(), offer("S1")], wait());
        assert_eq!(waiting.waiting_since, Some(at(100)));
        assert!(waiting.is_waiting());
        assert_eq!(waiting.status, ComplaintStatus::SolutionProposed);
        let answered = accepted(&[received(), offer("S1"), wait()], respond());
        assert!(!answered.is_waiting());
        assert_eq!(answered.status, ComplaintStatus::SolutionProposed);
    }

    #[test]
    fn a_finished_wait_is_kept_for_the_clocks_and_a_close_ends_one() {
        // Minutes: received 0, wait 1, respond 2, wait 3; then closed at 100.
        let answered = complaint_of(given(&[received(), wait(), respond()]));
        assert_eq!(answered.waits, vec![Wait { from: at(1), until: at(2) }]);
        let closed = accepted(&[received(), wait(), respond(), wait()], close(Outcome::Withdrawn));
        assert_eq!(closed.waits, vec![Wait { from: at(1), until: at(2) }, Wait { from: at(3), until: at(100) }]);
        assert_eq!(closed.waiting_since, None);
    }

    #[test]
    fn the_last_customer_contact_is_the_latest_customer_facing_event() {
        assert_eq!(complaint_of(given(&[received()])).last_contact_at, None);
        // An internal note is not a contact; an acknowledgement is.
        let internal =
            EventData::ProgressUpdated(ProgressUpdated { note: "checked stock".into(), customer_informed: false });
        assert_eq!(accepted(&[received(), acknowledged()], internal).last_contact_at, Some(at(1)));
        assert_eq!(accepted(&[received(), acknowledged()], progress()).last_contact_at, Some(at(100)));
        assert_eq!(accepted(&[received()], apology()).last_contact_at, Some(at(100)));
        assert_eq!(
            accepted(&[received(), acknowledged()], wait()).last_contact_at,
            Some(at(1)),
            "waiting is not a contact"
        );
    }

    #[test]
    fn waiting_while_already_waiting_is_refused_saying_since_when() {
        let violation = refused(&[received(), wait()], wait());
        assert_eq!(violation, V::AlreadyWaiting { event_type: EventType::WaitingOnCustomer, since: at(1) });
        assert!(violation.to_string().contains("record customer_responded"), "{violation}");
    }

    #[test]
    fn waiting_on_a_closed_complaint_is_refused() {
        assert_eq!(
            refused(&[received(), close(Outcome::Withdrawn)], wait()),
            V::ComplaintClosed { event_type: EventType::WaitingOnCustomer }
        );
    }

    #[test]
    fn a_response_while_not_waiting_is_refused() {
        for history in [vec![received()], vec![received(), wait(), respond()]] {
            assert_eq!(refused(&history, respond()), V::NotWaiting { event_type: EventType::CustomerResponded });
        }
    }

    #[test]
    fn closing_ends_the_wait() {
        let closed = complaint_of(given(&[received(), wait(), close(Outcome::Withdrawn)]));
        assert!(!closed.is_waiting());
        assert_eq!(
            refused(&[received(), wait(), close(Outcome::Withdrawn)], respond()),
            V::NotWaiting { event_type: EventType::CustomerResponded }
        );
    }

    // ---- v1.1: complaint_linked ---------------------------------------------------------------------------

    #[test]
    fn linking_to_a_problem_or_another_complaint_is_recorded_even_after_the_close() {
        let complaint = accepted(&[received()], link("problem-P-1"));
        assert_eq!(
            complaint.links,
            [Link { target: "problem-P-1".into(), relation: LinkRelation::SameProblem, at: at(100) }]
        );
        let closed = accepted(&[received(), close(Outcome::Withdrawn)], link("complaint-C-9"));
        assert_eq!(closed.links.len(), 1);
    }

    #[test]
    fn linking_a_complaint_to_itself_is_refused() {
        assert_eq!(
            refused(&[received()], link("complaint-C-1001")),
            V::LinkToItself { event_type: EventType::ComplaintLinked, target: "complaint-C-1001".into() }
        );
    }

    #[test]
    fn linking_to_a_stream_that_is_no_complaint_or_problem_is_refused() {
        for target in ["qa-A-1", "orders", "problem-", "complaint-a b"] {
            assert_eq!(
                refused(&[received()], link(target)),
                V::LinkTargetNotLinkable { event_type: EventType::ComplaintLinked, target: target.into() }
            );
        }
    }

    // ---- v1.1: cross-stream rules (check_reference) -------------------------------------------------------

    #[test]
    fn the_referenced_stream_is_the_answers_or_the_link_targets() {
        assert_eq!(referenced_stream(&answer_used("A-1")), Some(StreamName::new("qa-A-1").unwrap()));
        assert_eq!(referenced_stream(&link("problem-P-1")), Some(StreamName::new("problem-P-1").unwrap()));
        assert_eq!(referenced_stream(&answer_used("A 1")), None, "no stream can have that name");
        assert_eq!(referenced_stream(&progress()), None);
    }

    #[test]
    fn using_a_published_answer_is_accepted() {
        assert_eq!(check_reference(&answer_used("A-1"), &given(&[publish(), revise_title("x")])), Ok(()));
    }

    #[test]
    fn using_an_answer_never_published_is_refused() {
        let violation = check_reference(&answer_used("A-1"), &StreamState::Empty).unwrap_err();
        assert_eq!(violation, V::AnswerNotFound { event_type: EventType::StandardAnswerUsed, answer_id: "A-1".into() });
        assert_eq!(violation.to_string(), "standard answer A-1 is not published; publish it on qa-A-1 before using it");
    }

    #[test]
    fn using_a_retired_answer_is_refused() {
        assert_eq!(
            check_reference(&answer_used("A-1"), &given(&[publish(), retire()])),
            Err(V::RetiredAnswerUsed { event_type: EventType::StandardAnswerUsed, answer_id: "A-1".into() })
        );
    }

    #[test]
    fn linking_to_an_existing_stream_is_accepted_and_to_a_missing_one_refused() {
        assert_eq!(check_reference(&link("problem-P-1"), &given(&[identify()])), Ok(()));
        assert_eq!(check_reference(&link("complaint-C-1001"), &given(&[received()])), Ok(()));
        assert_eq!(
            check_reference(&link("problem-P-2"), &StreamState::Empty),
            Err(V::LinkTargetMissing { event_type: EventType::ComplaintLinked, target: "problem-P-2".into() })
        );
    }

    #[test]
    fn events_without_a_reference_pass_the_cross_stream_check() {
        assert_eq!(check_reference(&progress(), &StreamState::Empty), Ok(()));
    }

    // ---- v1.1: problem streams ----------------------------------------------------------------------------

    fn problem_of(state: StreamState) -> ProblemState {
        state.problem().cloned().expect("a problem history folds to a problem")
    }

    #[test]
    fn identifying_a_problem_on_an_empty_stream_creates_it() {
        assert_eq!(check(&StreamState::Empty, &identify()), Ok(()));
        let problem = problem_of(evolve(StreamState::Empty, &identify(), at(2)));
        assert_eq!((problem.problem_id.as_str(), problem.status), ("P-1", ProblemStatus::Identified));
        assert_eq!(problem.identified_at, at(2));
    }

    #[test]
    fn identifying_a_problem_twice_is_refused() {
        assert_eq!(
            refused(&[identify()], identify()),
            V::ProblemAlreadyIdentified { event_type: EventType::ProblemIdentified, problem_id: "P-1".into() }
        );
    }

    #[test]
    fn problem_events_before_identification_are_refused() {
        for event in [act(None), resolve_problem(), reopen_problem()] {
            assert_eq!(refused(&[], event.clone()), V::ProblemNotIdentified { event_type: event.event_type() });
        }
    }

    #[test]
    fn corrective_actions_are_recorded_while_the_problem_is_not_resolved() {
        let state = given(&[identify(), act(None)]);
        assert_eq!(check(&state, &act(Some(at(900)))), Ok(()));
        let problem = problem_of(evolve(state, &act(Some(at(900))), at(5)));
        assert_eq!(problem.corrective_actions.len(), 2);
        assert_eq!(problem.corrective_actions[1].due_at, Some(at(900)));
        assert_eq!(problem.status, ProblemStatus::ActionTaken);
    }

    #[test]
    fn a_corrective_action_on_a_resolved_problem_is_refused() {
        assert_eq!(
            refused(&[identify(), act(None), resolve_problem()], act(None)),
            V::ProblemAlreadyResolved { event_type: EventType::CorrectiveActionTaken, problem_id: "P-1".into() }
        );
    }

    #[test]
    fn resolving_after_a_corrective_action_is_accepted() {
        let state = given(&[identify(), act(None)]);
        assert_eq!(check(&state, &resolve_problem()), Ok(()));
        let problem = problem_of(evolve(state, &resolve_problem(), at(9)));
        assert_eq!((problem.status, problem.resolved_at), (ProblemStatus::Resolved, Some(at(9))));
    }

    #[test]
    fn resolving_without_a_corrective_action_or_twice_is_refused() {
        assert_eq!(
            refused(&[identify()], resolve_problem()),
            V::NoCorrectiveAction { event_type: EventType::ProblemResolved, problem_id: "P-1".into() }
        );
        assert_eq!(
            refused(&[identify(), act(None), resolve_problem()], resolve_problem()),
            V::ProblemAlreadyResolved { event_type: EventType::ProblemResolved, problem_id: "P-1".into() }
        );
    }

    #[test]
    fn reopening_a_resolved_problem_needs_a_new_corrective_action_before_it_resolves_again() {
        let resolved = [identify(), act(None), resolve_problem()];
        let state = given(&resolved);
        assert_eq!(check(&state, &reopen_problem()), Ok(()));
        let problem = problem_of(evolve(state, &reopen_problem(), at(20)));
        assert_eq!((problem.status, problem.resolved_at, problem.reopen_count), (ProblemStatus::Identified, None, 1));
        let reopened = [resolved.to_vec(), vec![reopen_problem()]].concat();
        assert!(matches!(refused(&reopened, resolve_problem()), V::NoCorrectiveAction { .. }));
    }

    #[test]
    fn reopening_a_problem_that_is_not_resolved_is_refused() {
        for history in [vec![identify()], vec![identify(), act(None)]] {
            assert_eq!(
                refused(&history, reopen_problem()),
                V::ProblemNotResolved { event_type: EventType::ProblemReopened, problem_id: "P-1".into() }
            );
        }
    }

    fn erase(customer_id: &str) -> EventData {
        EventData::CustomerDataErased(redress_schemas::CustomerDataErased {
            customer_id: customer_id.into(),
            requested_by: "dpo".into(),
            legal_basis: "GDPR Art. 17".into(),
        })
    }

    #[test]
    fn a_customer_is_erased_once_and_their_stream_takes_nothing_else() {
        assert_eq!(check(&StreamState::Empty, &erase("K-1")), Ok(()));
        assert_eq!(
            refused(&[erase("K-1")], erase("K-1")),
            V::CustomerAlreadyErased { event_type: EventType::CustomerDataErased, customer_id: "K-1".into() }
        );
        assert_eq!(
            refused(&[erase("K-1")], received()),
            V::WrongStreamKind { event_type: EventType::ComplaintReceived, found: StreamKind::Customer }
        );
        assert_eq!(
            refused(&[received()], erase("K-1")),
            V::WrongStreamKind { event_type: EventType::CustomerDataErased, found: StreamKind::Complaint }
        );
    }

    #[test]
    fn problem_and_complaint_events_stay_on_their_own_kind_of_stream() {
        for event in [identify(), act(None), resolve_problem(), reopen_problem()] {
            assert_eq!(
                refused(&[received()], event.clone()),
                V::WrongStreamKind { event_type: event.event_type(), found: StreamKind::Complaint }
            );
        }
        for event in [received(), assign("a", None), link("problem-P-2"), publish()] {
            assert_eq!(
                refused(&[identify()], event.clone()),
                V::WrongStreamKind { event_type: event.event_type(), found: StreamKind::Problem }
            );
        }
    }

    #[test]
    fn a_corrective_action_due_before_it_is_taken_is_refused_like_a_commitment() {
        let due_before = EventTimes { occurred_at: at(50), recorded_at: at(100), clock_skew_max: SKEW };
        assert_eq!(
            check_times(&given(&[identify()]), &act(Some(at(40))), due_before),
            Err(V::DueBeforeCommitment {
                event_type: EventType::CorrectiveActionTaken,
                due_at: at(40),
                occurred_at: at(50)
            })
        );
        assert_eq!(check_times(&given(&[identify()]), &act(Some(at(60))), due_before), Ok(()));
        assert_eq!(check_times(&given(&[identify()]), &act(None), due_before), Ok(()));
    }

    // ---- properties over random histories -----------------------------------------------------------------

    fn any_event() -> impl Strategy<Value = EventData> {
        let solution = || prop::sample::select(vec!["S1", "S2", "S3"]);
        let outcomes =
            vec![Outcome::Resolved, Outcome::Withdrawn, Outcome::Unfounded, Outcome::Refunded, Outcome::Replaced];
        prop_oneof![
            2 => Just(received()),
            2 => Just(acknowledged()),
            1 => Just(apology()),
            1 => prop::sample::select(vec!["courier", "warehouse"]).prop_map(cause),
            3 => solution().prop_map(offer),
            4 => solution().prop_map(accept),
            2 => solution().prop_map(reject),
            1 => (0i64..10_000).prop_map(|minute| commitment(at(minute))),
            1 => Just(progress()),
            1 => prop::sample::select(vec!["supervisor", "executive"]).prop_map(escalate),
            1 => prop::sample::select(vec!["A-1", "A-2"]).prop_map(answer_used),
            4 => solution().prop_map(deliver),
            4 => any::<bool>().prop_map(confirm),
            3 => (1u8..=5, any::<bool>()).prop_map(|(satisfaction, persists)| revisit(satisfaction, persists)),
            1 => Just(apology_visit()),
            1 => Just(reopen()),
            1 => prop::sample::select(outcomes).prop_map(close),
            1 => Just(publish()),
            1 => prop::sample::select(vec!["t1", "t2"]).prop_map(revise_title),
            1 => Just(retire()),
            1 => prop::sample::select(vec!["agent-1", "agent-2"]).prop_map(|a| assign(a, Some("north"))),
            2 => Just(wait()),
            2 => Just(respond()),
            1 => prop::sample::select(vec!["problem-P-1", "complaint-C-1001", "complaint-C-9"]).prop_map(link),
            1 => Just(identify()),
            2 => Just(act(None)),
            2 => Just(resolve_problem()),
            1 => Just(reopen_problem()),
        ]
    }

    /// Mostly complaint histories (so the lifecycle gets deep), some Q&A ones, some starting anywhere.
    fn any_history() -> impl Strategy<Value = Vec<EventData>> {
        // A move is one random event, or now and then a whole offer-to-revisit run, which random events alone
        // rarely complete before something else (a close, another acceptance) gets in the way.
        let single = || any_event().prop_map(|event| vec![event]);
        let run = (prop::sample::select(vec!["S1", "S2", "S3"]), any::<bool>(), 1u8..=5).prop_map(
            |(id, satisfied, satisfaction)| {
                vec![offer(id), accept(id), deliver(id), confirm(satisfied), revisit(satisfaction, false)]
            },
        );
        let moves = prop_oneof![8 => single(), 1 => run];
        let events = move || prop::collection::vec(moves.clone(), 0..60).prop_map(|moves| moves.concat());
        prop_oneof![
            6 => events().prop_map(|rest| [vec![received()], rest].concat()),
            1 => events().prop_map(|rest| [vec![publish()], rest].concat()),
            1 => events().prop_map(|rest| [vec![identify()], rest].concat()),
            1 => events(),
        ]
    }

    /// What a complaint's counters must show after the accepted events, kept independently of `evolve`.
    #[derive(Default)]
    struct Tally {
        apologies: u32,
        apology_visits: u32,
        escalations: u32,
        reopens: u32,
        revisits: usize,
        answers_used: usize,
        offers: usize,
        revisions: u32,
        links: usize,
        corrective_actions: usize,
    }

    impl Tally {
        fn count(&mut self, event: &EventData) {
            match event {
                EventData::ApologySent(_) => self.apologies += 1,
                EventData::ApologyVisitMade(_) => self.apology_visits += 1,
                EventData::Escalated(_) => self.escalations += 1,
                EventData::ComplaintReopened(_) => self.reopens += 1,
                EventData::RevisitDone(_) => self.revisits += 1,
                EventData::StandardAnswerUsed(_) => self.answers_used += 1,
                EventData::SolutionOffered(_) => self.offers += 1,
                EventData::StandardAnswerRevised(_) => self.revisions += 1,
                EventData::ComplaintLinked(_) => self.links += 1,
                EventData::CorrectiveActionTaken(_) => self.corrective_actions += 1,
                _ => {}
            }
        }
    }

    fn invariants_hold(state: &StreamState, tally: &Tally, accepted: usize) -> Result<(), TestCaseError> {
        match state {
            StreamState::Empty => prop_assert_eq!(accepted, 0),
            StreamState::Customer(_) => prop_assert_eq!(accepted, 1, "an erasure is the only event of its stream"),
            StreamState::Answer(answer) => prop_assert_eq!(answer.revisions, tally.revisions),
            StreamState::Problem(problem) => {
                prop_assert_eq!(problem.corrective_actions.len(), tally.corrective_actions);
                prop_assert_eq!(problem.resolved_at.is_some(), problem.status == ProblemStatus::Resolved);
                if problem.status == ProblemStatus::Resolved {
                    prop_assert!(!problem.corrective_actions.is_empty());
                }
            }
            StreamState::Complaint(c) => {
                prop_assert_eq!(c.event_count, accepted as u64);
                prop_assert_eq!(c.closed_at.is_some(), !c.is_open());
                prop_assert_eq!(c.outcome.is_some(), !c.is_open());
                let ids: BTreeSet<&str> = c.solutions.iter().map(|s| s.solution_id.as_str()).collect();
                prop_assert_eq!(ids.len(), c.solutions.len(), "solution ids are unique");
                if c.status == ComplaintStatus::Resolved {
                    prop_assert!(c.delivered_at.is_some());
                    prop_assert!(c.solutions.iter().any(|s| s.state == SolutionState::Delivered));
                }
                if c.status == ComplaintStatus::Confirmed {
                    prop_assert!(c.confirmed_satisfied);
                }
                if c.acknowledged_at.is_some() {
                    prop_assert_ne!(c.status, ComplaintStatus::Received);
                }
                prop_assert_eq!(c.apologies, tally.apologies);
                prop_assert_eq!(c.apology_visits, tally.apology_visits);
                prop_assert_eq!(c.escalation_level, tally.escalations);
                prop_assert_eq!(c.reopen_count, tally.reopens);
                prop_assert_eq!(c.revisits.len(), tally.revisits);
                prop_assert_eq!(c.standard_answers_used.len(), tally.answers_used);
                prop_assert_eq!(c.solutions.len(), tally.offers);
                prop_assert_eq!(c.links.len(), tally.links);
                if !c.is_open() {
                    prop_assert!(!c.is_waiting(), "a closed complaint waits on nobody");
                }
            }
        }
        Ok(())
    }

    /// Probes for `check`: every type, each solution event with every id the generator uses and one it never does.
    fn probes() -> Vec<EventData> {
        let mut probes = one_of_each_type();
        probes.push(confirm(false));
        for id in ["S1", "S2", "S3", "S-unknown"] {
            probes.extend([offer(id), accept(id), reject(id), deliver(id)]);
        }
        probes
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_histories_fold_to_the_state_built_step_by_step(
            history in any_history(),
            minutes in prop::collection::vec(0i64..100_000, 101),
        ) {
            let mut state = StreamState::Empty;
            let mut kept: Vec<(EventData, Timestamp)> = Vec::new();
            let mut tally = Tally::default();
            for (event, minute) in history.into_iter().zip(minutes) {
                match check(&state, &event) {
                    Ok(()) => {
                        state = evolve(state, &event, at(minute));
                        tally.count(&event);
                        kept.push((event, at(minute)));
                    }
                    Err(violation) => {
                        prop_assert_eq!(violation.event_type(), event.event_type());
                        // Release builds: a refused event changes nothing but a complaint's count.
                        let mut expected = state.clone();
                        if let StreamState::Complaint(c) = &mut expected {
                            c.event_count += 1;
                        }
                        prop_assert_eq!(evolve_unasserted(state.clone(), &event, at(minute)), expected);
                    }
                }
                invariants_hold(&state, &tally, kept.len())?;
            }
            prop_assert_eq!(fold(kept.iter().map(|(event, occurred_at)| (event, *occurred_at))), state);
        }

        #[test]
        fn check_answers_every_event_on_every_reached_state_and_a_closed_complaint_takes_only_the_after_close_events(
            history in any_history()
        ) {
            let mut state = StreamState::Empty;
            for (event, minute) in history.iter().zip(0..) {
                for probe in probes() {
                    match check(&state, &probe) {
                        Err(violation) => prop_assert_eq!(violation.event_type(), probe.event_type()),
                        Ok(()) => {
                            if let Some(c) = state.complaint() {
                                let after_close = matches!(
                                    probe.event_type(),
                                    EventType::ComplaintAcknowledged
                                        | EventType::ApologyVisitMade
                                        | EventType::RevisitDone
                                        | EventType::ComplaintReopened
                                        | EventType::ComplaintLinked
                                );
                                prop_assert!(
                                    c.is_open() || after_close,
                                    "{} accepted on a closed complaint",
                                    probe.event_type()
                                );
                            }
                            let next = evolve(state.clone(), &probe, at(minute));
                            prop_assert_ne!(&next, &StreamState::Empty);
                        }
                    }
                }
                if check(&state, event).is_ok() {
                    state = evolve(state, event, at(minute));
                }
            }
        }
    }
}
