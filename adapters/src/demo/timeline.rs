//! One complaint's life, event by event: acknowledge and apologise, analyse the cause, offer solutions,
//! carry one out, confirm, close, revisit, and sometimes escalate or reopen.
//!
//! Every event goes through [`History::push`], which keeps `occurred_at` strictly increasing and folds the
//! event with the engine's own `lifecycle::evolve` (debug builds assert `check` first), so a history the
//! generator builds is one the store accepts.

use super::catalogue::{
    team_of, Agent, Cause, Lang, Phrases, Remedy, Theme, ACKNOWLEDGEMENTS, ANSWERS_GIVEN, APOLOGIES, COMMITMENTS,
    DELAY_NOTES, DELAY_REASONS, ESCALATION_REASONS, LATE_REOPEN_REASONS, PERIODIC_UPDATES, PERSISTING_NOTES,
    PROGRESS_NOTES, QUESTIONS, REJECTIONS, REOPEN_REASONS, REVIEW_UPHELD, REVISIT_NOTES, ROSTER, SATISFIED_COMMENTS,
    TRANSFER_NOTES, UNFOUNDED_CAUSES, UNFOUNDED_NOTES, UNSATISFIED_COMMENTS, VISITORS, VISIT_GIFTS, VISIT_NOTES,
    WITHDRAWALS,
};
use super::local_date;
use super::rng::Rng;
use redress_engine::lifecycle::{self, ComplaintStatus, StreamState};
use redress_schemas::{
    ApologySent, ApologyVisitMade, CauseAnalyzed, Channel, CommitmentMade, ComplaintAcknowledged, ComplaintAssigned,
    ComplaintClosed, ComplaintReceived, ComplaintReopened, ContactVia, CustomerResponded, Escalated, EventData,
    Outcome, ProgressUpdated, ResolutionConfirmed, RevisitDone, RevisitVia, Severity, SolutionAccepted,
    SolutionDelivered, SolutionOffered, SolutionRejected, StandardAnswerUsed, Timestamp, WaitingOnCustomer,
};

pub(super) const MINUTE: i64 = 60;
pub(super) const HOUR: i64 = 3_600;
pub(super) const DAY: i64 = 86_400;

/// The most periodic updates one complaint gets: a repair waiting months on parts is then mostly silence.
const PERIODIC_UPDATES_MAX: usize = 40;

/// The escalation ladder; `escalated` raises the level by one, so the n-th escalation goes to rung n.
const ESCALATION_LADDER: [&str; 3] = ["supervisor", "department_head", "executive"];

/// Everything about a complaint decided before its history is drawn.
pub(super) struct Case<'a> {
    pub received: ComplaintReceived,
    pub received_at: Timestamp,
    pub theme: &'static Theme,
    /// The language staff answer in: `Hans`, `Hant` or `En`.
    pub reply: Lang,
    pub key_customer: bool,
    /// Product name in Chinese and in English (a generic word when the complaint is about no product).
    pub product: (String, String),
    /// Yuan, for refunds.
    pub amount: i64,
    /// Who took the complaint in, and through which service.
    pub intake: (String, &'static str),
    /// The best live standard answer for this complaint at a given instant, if any.
    pub answer_at: &'a dyn Fn(Timestamp) -> Option<String>,
    /// Whether a corrective action that worked has removed a root cause (its `text`) by a given instant: a
    /// cause drawn then is mostly drawn again among the theme's others.
    pub cause_removed: &'a dyn Fn(&str, Timestamp) -> bool,
}

/// One event of the history, before it gets an id.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub at: Timestamp,
    pub data: EventData,
    pub actor: String,
    pub source: &'static str,
}

/// The history being built and the state it folds to.
struct History<'c, 'a> {
    case: &'c Case<'a>,
    events: Vec<Planned>,
    state: StreamState,
    now: Timestamp,
    owner: String,
    next_solution: u32,
}

impl<'c, 'a> History<'c, 'a> {
    /// Appends `data` at `at` (or one second after the previous event, whichever is later).
    fn push(&mut self, at: Timestamp, data: EventData, actor: &str, source: &'static str) {
        let at = if self.events.is_empty() || at > self.now { at } else { self.now.plus_seconds(1) };
        debug_assert!(
            lifecycle::check(&self.state, &data).and_then(|()| lifecycle::check_tightened(&self.state, &data)).is_ok(),
            "generated {} breaks the lifecycle: {:?} {:?}",
            data.event_type(),
            lifecycle::check(&self.state, &data),
            lifecycle::check_tightened(&self.state, &data)
        );
        self.state = lifecycle::evolve(std::mem::take(&mut self.state), &data, at);
        self.now = at;
        self.events.push(Planned { at, data, actor: actor.to_owned(), source });
    }

    /// Makes `agent` the owner (a second assignment is a transfer).
    fn assign(&mut self, at: Timestamp, agent: &Agent, note: Option<String>) {
        let data = EventData::ComplaintAssigned(ComplaintAssigned {
            assignee: agent.id.to_owned(),
            team: Some(agent.team.to_owned()),
            note,
        });
        self.push(at, data, "dispatcher", "crm");
        self.owner = agent.id.to_owned();
    }

    fn team(&self) -> Option<&str> {
        self.state.complaint().and_then(|c| c.team.as_deref())
    }

    fn by_owner(&mut self, at: Timestamp, data: EventData) {
        let owner = self.owner.clone();
        self.push(at, data, &owner, "crm");
    }

    fn after(&self, seconds: i64) -> Timestamp {
        self.now.plus_seconds(seconds)
    }

    fn escalation_level(&self) -> u32 {
        self.state.complaint().map_or(0, |c| c.escalation_level)
    }

    fn confirmed(&self) -> bool {
        self.state.complaint().is_some_and(|c| c.confirmed_satisfied)
    }

    fn say(&self, rng: &mut Rng, phrases: &Phrases) -> &'static str {
        say(rng, phrases, self.case.reply)
    }

    fn english(&self) -> bool {
        self.case.reply == Lang::En
    }

    /// One rung up the ladder, unless already at the top.
    fn escalate(&mut self, rng: &mut Rng, at: Timestamp, reason: (&'static str, &'static str)) {
        let level = self.escalation_level() as usize;
        let Some(to) = ESCALATION_LADDER.get(level) else { return };
        let reason = if self.english() { reason.1 } else { reason.0 };
        let actor = format!("supervisor-{:02}", rng.range(1, 8));
        self.push(at, EventData::Escalated(Escalated { to: (*to).into(), reason: reason.into() }), &actor, "crm");
        // Half the escalated complaints change hands within the team: a transfer.
        if let Some(team) = self.team().map(str::to_owned) {
            if rng.chance(0.5) {
                let others: Vec<&Agent> = ROSTER.iter().filter(|a| a.team == team && a.id != self.owner).collect();
                if !others.is_empty() {
                    let agent = *rng.pick(&others);
                    let note = Some(self.say(rng, &TRANSFER_NOTES).to_owned());
                    let at = self.after(rng.range(5 * MINUTE, 2 * HOUR));
                    self.assign(at, agent, note);
                }
            }
        }
    }

    fn progress(&mut self, at: Timestamp, note: String, customer_informed: bool) {
        self.by_owner(at, EventData::ProgressUpdated(ProgressUpdated { note, customer_informed }));
    }

    fn close(&mut self, at: Timestamp, outcome: Outcome) {
        self.close_with(at, outcome, None);
    }

    /// A close; `override_reason` says why a remedy carried out is closed without the customer's
    /// confirmation (v1.1: the store refuses such a close without one).
    fn close_with(&mut self, at: Timestamp, outcome: Outcome, override_reason: Option<String>) {
        self.by_owner(at, EventData::ComplaintClosed(ComplaintClosed { outcome, override_reason }));
    }

    /// A senior manager's apology visit (道歉小组).
    fn visit(&mut self, rng: &mut Rng, at: Timestamp) {
        // The most senior visitor goes to critical complaints and to those that reached the executive.
        let index = if self.case.received.severity == Severity::Critical || self.escalation_level() >= 3 {
            0
        } else {
            rng.below(VISITORS.len())
        };
        let visitor = VISITORS[index];
        let gift = rng.chance(0.6).then(|| (*rng.pick(VISIT_GIFTS)).to_owned());
        let note = rng.chance(0.7).then(|| self.say(rng, &VISIT_NOTES).to_owned());
        let actor =
            ["vp-customer-service", "regional-gm", "cs-director", "key-accounts-head", "quality-director"][index];
        self.push(
            at,
            EventData::ApologyVisitMade(ApologyVisitMade { visitor: visitor.into(), gift, note }),
            actor,
            "crm",
        );
    }

    /// A moment `lo..=hi` seconds from now, in office hours.
    fn later(&self, rng: &mut Rng, lo: i64, hi: i64) -> Timestamp {
        let at = self.after(rng.range(lo, hi));
        self.office(rng, at)
    }

    /// Skips to office hours (08:30–20:00 China time) unless the complaint is urgent enough for the night shift.
    fn office(&self, rng: &mut Rng, at: Timestamp) -> Timestamp {
        if self.case.received.severity == Severity::Critical {
            return at;
        }
        office_time(rng, at)
    }
}

/// A phrase in the reply language (traditional falls back to simplified where no traditional form exists).
fn say(rng: &mut Rng, phrases: &Phrases, lang: Lang) -> &'static str {
    let list = match lang {
        Lang::En => phrases.en,
        Lang::Hant if !phrases.hant.is_empty() => phrases.hant,
        Lang::Hans | Lang::Hant | Lang::Mixed => phrases.hans,
    };
    list[rng.below(list.len())]
}

/// `template` with each `{name}` replaced.
pub(super) fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut text = template.to_owned();
    for (name, value) in slots {
        let pattern = format!("{{{name}}}");
        if text.contains(&pattern) {
            text = text.replace(&pattern, value);
        }
    }
    text
}

/// The Chinese or the English half of a "中文 / English" text.
fn half(text: &str, english: bool) -> &str {
    match text.split_once(" / ") {
        Some((zh, en)) => {
            if english {
                en
            } else {
                zh
            }
        }
        None => text,
    }
}

fn department_name(code: &str, english: bool) -> &str {
    let (zh, en) = match code {
        "logistics" => ("物流部", "logistics"),
        "warehouse" => ("仓储部", "the warehouse"),
        "repair_center" => ("维修中心", "the repair centre"),
        "field_service" => ("现场服务部", "field service"),
        "billing" => ("财务结算部", "billing"),
        "customer_service" => ("客户服务部", "customer service"),
        "sales" => ("销售部", "sales"),
        "product_engineering" => ("产品工程部", "product engineering"),
        "it_security" => ("信息安全部", "IT security"),
        "training_center" => ("培训中心", "the training centre"),
        other => (other, other),
    };
    if english {
        en
    } else {
        zh
    }
}

fn date_text(at: Timestamp, english: bool) -> String {
    let (_, month, day) = local_date(at);
    if english {
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        format!("{day} {}", MONTHS[usize::from(month - 1)])
    } else {
        format!("{month}月{day}日")
    }
}

fn outcome_of(remedy: Remedy) -> Outcome {
    match remedy {
        Remedy::Refund => Outcome::Refunded,
        Remedy::Replace => Outcome::Replaced,
        _ => Outcome::Resolved,
    }
}

/// Typical days to carry a remedy out.
fn remedy_days(remedy: Remedy) -> i64 {
    match remedy {
        Remedy::Voucher => 1,
        Remedy::Expedite | Remedy::Loaner | Remedy::Reissue | Remedy::PriceMatch => 2,
        Remedy::Repair | Remedy::Redo | Remedy::DoNotCall | Remedy::AssistedOrder => 3,
        Remedy::Replace => 4,
        Remedy::Refund | Remedy::Gift | Remedy::Coaching | Remedy::Pickup => 5,
        Remedy::DataRecovery => 7,
        Remedy::Retrain => 20,
    }
}

/// Who carries a remedy out, and through which service.
fn deliverer(rng: &mut Rng, remedy: Remedy) -> (String, &'static str) {
    match remedy {
        Remedy::Repair | Remedy::Redo | Remedy::Pickup | Remedy::DataRecovery => {
            (format!("engineer-{:02}", rng.range(1, 30)), "field-service-app")
        }
        Remedy::Refund | Remedy::Reissue | Remedy::PriceMatch | Remedy::Voucher => {
            (format!("billing-{:02}", rng.range(1, 6)), "billing")
        }
        Remedy::Replace | Remedy::Gift | Remedy::Expedite | Remedy::Loaner => {
            (format!("logistics-{:02}", rng.range(1, 10)), "logistics")
        }
        Remedy::Retrain | Remedy::Coaching | Remedy::DoNotCall | Remedy::AssistedOrder => {
            (format!("agent-{:02}", rng.range(1, 36)), "crm")
        }
    }
}

fn ack_via(rng: &mut Rng, channel: Channel) -> ContactVia {
    match channel {
        Channel::Hotline | Channel::Other => ContactVia::Phone,
        Channel::Email => ContactVia::Email,
        Channel::Web => *rng.weighted(&[(ContactVia::Email, 6), (ContactVia::Sms, 4)]),
        Channel::Letter => *rng.weighted(&[(ContactVia::Letter, 5), (ContactVia::Phone, 5)]),
        Channel::InPerson => ContactVia::InPerson,
        Channel::Survey => *rng.weighted(&[(ContactVia::Email, 5), (ContactVia::Phone, 5)]),
        Channel::Social => *rng.weighted(&[(ContactVia::Sms, 5), (ContactVia::Phone, 5)]),
    }
}

/// How an offer round goes.
#[derive(Debug, Clone, Copy)]
enum Offers {
    /// One offer, accepted.
    Single,
    /// One offer rejected, a second accepted.
    RejectThenAccept,
    /// Two alternatives at once; the customer takes one, the other stays open.
    Alternatives,
    /// Two offers rejected, the third accepted.
    TwoRejects,
}

/// Draws the whole history of `case`, periodic updates to the customer included. Events after the end of the
/// demo year are cut by the caller.
pub(super) fn history(case: &Case<'_>, rng: &mut Rng) -> Vec<Planned> {
    let events = work(case, rng);
    keep_informed(case, rng, events)
}

/// The service level's `update_every` (API.md v1.1): after the acknowledgement the customer hears from the
/// desk at least this often while the complaint is worked on.
pub(super) fn update_every_seconds(severity: Severity) -> i64 {
    match severity {
        Severity::Critical => 4 * HOUR,
        Severity::High => 24 * HOUR,
        Severity::Normal => 72 * HOUR,
        Severity::Low => 7 * DAY,
    }
}

/// Whether `data` is the desk speaking to the customer (API.md v1.1: what restarts the update clock).
pub(super) fn customer_facing(data: &EventData) -> bool {
    match data {
        EventData::ComplaintAcknowledged(_)
        | EventData::ApologySent(_)
        | EventData::SolutionOffered(_)
        | EventData::SolutionDelivered(_)
        | EventData::ApologyVisitMade(_) => true,
        EventData::ProgressUpdated(update) => update.customer_informed,
        _ => false,
    }
}

/// How an owner keeps the customer informed.
#[derive(Debug, Clone, Copy)]
enum Habit {
    /// Well within `update_every`, every time.
    Kept,
    /// About `update_every`: some updates are late.
    Patchy,
    /// Like `Kept`, but the first long stretch of work passes in silence.
    Silent,
}

/// Fills the stretches where the update clock runs (acknowledged, not yet resolved, not waiting on the
/// customer) with `progress_updated` to the customer at the owner's habit: most keep the severity's
/// `update_every`, some miss it now and then, a few leave one long silence. Low and normal severity updates
/// go out in office hours (their clocks may run on business time). At most [`PERIODIC_UPDATES_MAX`].
fn keep_informed(case: &Case<'_>, rng: &mut Rng, events: Vec<Planned>) -> Vec<Planned> {
    let severity = case.received.severity;
    let every = update_every_seconds(severity);
    let habit = *rng.weighted(&[(Habit::Kept, 70), (Habit::Patchy, 22), (Habit::Silent, 8)]);
    let office_hours = matches!(severity, Severity::Low | Severity::Normal);
    let mut silent_once = matches!(habit, Habit::Silent);
    let mut out: Vec<Planned> = Vec::with_capacity(events.len() + 8);
    let mut state = StreamState::Empty;
    let mut last_contact: Option<Timestamp> = None;
    let mut added = 0;
    for event in events {
        let running = state.complaint().is_some_and(|c| {
            c.acknowledged_at.is_some()
                && !c.is_waiting()
                && !matches!(c.status, ComplaintStatus::Resolved | ComplaintStatus::Confirmed | ComplaintStatus::Closed)
        });
        if let (true, Some(mut from)) = (running, last_contact) {
            let long = event.at.unix_nanos() - from.unix_nanos() > 3 * every * 1_000_000_000;
            let skip = silent_once && long;
            silent_once &= !skip;
            while !skip && added < PERIODIC_UPDATES_MAX {
                let step = match habit {
                    Habit::Kept | Habit::Silent => every * rng.range(45, 85) / 100,
                    Habit::Patchy => every * rng.range(60, 160) / 100,
                };
                let previous = out.last().map_or(from, |p| p.at);
                let mut at = from.plus_seconds(step).max(previous.plus_seconds(MINUTE));
                if office_hours {
                    at = office_time(rng, at);
                }
                if at >= event.at.plus_seconds(-MINUTE) {
                    break;
                }
                let owner = state.complaint().and_then(|c| c.owner.clone());
                let actor = owner.unwrap_or_else(|| event.actor.clone());
                let note = say(rng, &PERIODIC_UPDATES, case.reply).to_owned();
                let data = EventData::ProgressUpdated(ProgressUpdated { note, customer_informed: true });
                state = lifecycle::evolve(state, &data, at);
                out.push(Planned { at, data, actor, source: "crm" });
                added += 1;
                from = at;
            }
        }
        state = lifecycle::evolve(state, &event.data, event.at);
        let resumes = matches!(event.data, EventData::CustomerResponded(_) | EventData::ComplaintReopened(_));
        if customer_facing(&event.data) || resumes {
            last_contact = Some(event.at);
        }
        out.push(event);
    }
    out
}

/// `at`, or the next office hours (08:30–20:00 China time) if it falls outside them.
fn office_time(rng: &mut Rng, at: Timestamp) -> Timestamp {
    let local = (at.unix_nanos() / 1_000_000_000 + 8 * HOUR).rem_euclid(DAY);
    let opens = 8 * HOUR + 30 * MINUTE;
    let closes = 20 * HOUR;
    let wait = if local < opens {
        opens - local
    } else if local >= closes {
        DAY - local + opens
    } else {
        return at;
    };
    at.plus_seconds(wait + rng.range(0, 90 * MINUTE))
}

/// The work on a complaint, from receipt to the last close (and its aftercare).
fn work(case: &Case<'_>, rng: &mut Rng) -> Vec<Planned> {
    let mut h = History {
        case,
        events: Vec::with_capacity(24),
        state: StreamState::Empty,
        now: case.received_at,
        owner: format!("agent-{:02}", rng.range(1, 36)),
        next_solution: 1,
    };
    let severity = case.received.severity;
    let critical = severity == Severity::Critical;
    let urgent = matches!(severity, Severity::High | Severity::Critical);
    h.push(case.received_at, EventData::ComplaintReceived(case.received.clone()), &case.intake.0, case.intake.1);

    // Acknowledge: at once at the counter and on the phone, otherwise mostly within the service level.
    // API.md's default levels: the policy the views judge by.
    let ack_hours = redress_projections::policy::SlaPolicy::default().level(severity).acknowledge_within_hours;
    let ack_sla = ack_hours * HOUR;
    let immediate = matches!(case.received.channel, Channel::Hotline | Channel::InPerson) && rng.chance(0.95);
    let on_time = if case.key_customer || critical { 0.95 } else { 0.88 };
    let delay = if immediate {
        rng.range(MINUTE, 10 * MINUTE)
    } else if rng.chance(on_time) {
        let u = rng.unit();
        2 * MINUTE + (u * u * 0.9 * (ack_sla - 2 * MINUTE) as f64) as i64
    } else {
        ack_sla + rng.range(10 * MINUTE, 2 * ack_sla)
    };
    let via = ack_via(rng, case.received.channel);
    let hours = ack_hours.to_string();
    let slots = [("id", case.received.complaint_id.as_str()), ("hours", hours.as_str()), ("product", product(case))];
    let message = fill(h.say(rng, &ACKNOWLEDGEMENTS), &slots);
    // Most complaints get an owner soon after receipt: before the acknowledgement unless that came at once.
    // Key customers' complaints go to key-accounts; the rest to the category's team, mostly its busiest agents.
    let owner = rng.chance(0.93).then(|| {
        let team = if case.key_customer { "key-accounts" } else { team_of(&case.received.category) };
        let members: Vec<(&Agent, u32)> = ROSTER.iter().filter(|a| a.team == team).map(|a| (a, a.load)).collect();
        *rng.weighted(&members)
    });
    let assign_after = rng.range(MINUTE, 90 * MINUTE);
    if let Some(agent) = owner.filter(|_| !immediate && assign_after < delay) {
        h.assign(case.received_at.plus_seconds(assign_after), agent, None);
    }
    let (actor, source) = if immediate { (case.intake.0.clone(), case.intake.1) } else { (h.owner.clone(), "crm") };
    h.push(
        case.received_at.plus_seconds(delay),
        EventData::ComplaintAcknowledged(ComplaintAcknowledged { via, message }),
        &actor,
        source,
    );
    if let Some(agent) = owner.filter(|a| h.owner != a.id) {
        let at = h.after(assign_after);
        h.assign(at, agent, None);
    }
    if delay > ack_sla && (urgent || case.key_customer) && rng.chance(0.4) {
        let at = h.after(rng.range(5 * MINUTE, 2 * HOUR));
        h.escalate(rng, at, ESCALATION_REASONS.ack_late);
    }
    if case.key_customer || critical || rng.chance(0.7) {
        let message = fill(h.say(rng, &APOLOGIES), &slots);
        let at = h.after(rng.range(MINUTE, 20 * MINUTE));
        h.by_owner(at, EventData::ApologySent(ApologySent { via, message }));
    }
    if rng.chance(0.72) {
        let at = h.after(rng.range(2 * MINUTE, 3 * HOUR));
        if let Some(answer_id) = (case.answer_at)(at) {
            h.by_owner(at, EventData::StandardAnswerUsed(StandardAnswerUsed { answer_id }));
        }
    }

    // Some complaints need something from the customer first; the clocks stop until it comes (now and then
    // weeks later).
    if rng.chance(0.13) {
        let at = h.later(rng, 30 * MINUTE, DAY);
        let reason = h.say(rng, &QUESTIONS).to_owned();
        h.by_owner(at, EventData::WaitingOnCustomer(WaitingOnCustomer { reason }));
        let wait = if rng.chance(0.85) { rng.range(2 * HOUR, 5 * DAY) } else { rng.range(10 * DAY, 40 * DAY) };
        let at = h.after(wait);
        let note = rng.chance(0.7).then(|| h.say(rng, &ANSWERS_GIVEN).to_owned());
        h.by_owner(at, EventData::CustomerResponded(CustomerResponded { note }));
    }

    // A few customers withdraw before anything is analysed.
    if rng.chance(0.025) {
        let at = h.later(rng, DAY, 6 * DAY);
        let note = h.say(rng, &WITHDRAWALS).to_owned();
        h.progress(at, note, true);
        let at = h.after(rng.range(5 * MINUTE, 2 * HOUR));
        h.close(at, Outcome::Withdrawn);
        return h.events;
    }

    // Analyse the cause.
    let investigate = match severity {
        Severity::Critical => rng.range(HOUR, 6 * HOUR),
        Severity::High => rng.range(3 * HOUR, DAY),
        Severity::Normal => rng.range(8 * HOUR, 3 * DAY),
        Severity::Low => rng.range(DAY, 5 * DAY),
    };
    let founded = !rng.chance(case.theme.unfounded);
    let mut cause: Cause = if founded { *rng.weighted(case.theme.causes) } else { *rng.pick(UNFOUNDED_CAUSES) };
    // A root cause a corrective action removed seldom comes back: most such complaints have another cause.
    if founded && (case.cause_removed)(cause.text, h.after(investigate)) && rng.chance(0.85) {
        let others: Vec<(Cause, u32)> =
            case.theme.causes.iter().copied().filter(|(c, _)| !(case.cause_removed)(c.text, h.now)).collect();
        if !others.is_empty() {
            cause = *rng.weighted(&others);
        }
    }
    let analyst = format!("{}-analyst-{}", cause.department.replace('_', "-"), rng.range(1, 5));
    let corrective_action = (founded && rng.chance(0.75)).then(|| cause.corrective.to_owned());
    let at = h.office(rng, h.after(investigate));
    h.push(
        at,
        EventData::CauseAnalyzed(CauseAnalyzed {
            root_cause: cause.text.into(),
            responsible_department: cause.department.into(),
            founded,
            corrective_action,
        }),
        &analyst,
        "crm",
    );
    if critical && rng.chance(0.35) {
        let at = h.after(rng.range(10 * MINUTE, 3 * HOUR));
        h.escalate(rng, at, ESCALATION_REASONS.major);
    } else if case.received.channel == Channel::Social && rng.chance(0.1) {
        let at = h.after(rng.range(10 * MINUTE, 3 * HOUR));
        h.escalate(rng, at, ESCALATION_REASONS.public);
    }

    if !founded {
        unfounded(&mut h, rng, cause);
        return h.events;
    }

    // Apology visits for key customers and critical complaints: some while the work is on, most after the close.
    let visit_planned = (case.key_customer && rng.chance(0.85)) || (critical && rng.chance(0.75));
    let visit_early = visit_planned && rng.chance(0.4);
    if visit_early {
        let at = h.later(rng, DAY, 5 * DAY);
        h.visit(rng, at);
    }
    // Some complaints wait for parts, suppliers or a next course: weeks, now and then months.
    let waiting = if rng.chance(0.09) {
        rng.range(40 * DAY, 150 * DAY)
    } else if rng.chance(0.18) {
        rng.range(7 * DAY, 35 * DAY)
    } else {
        0
    };

    work_until_closed(&mut h, rng, waiting, true);
    if visit_planned && !visit_early {
        let at = h.later(rng, DAY, 10 * DAY);
        h.visit(rng, at);
    }
    if aftercare(&mut h, rng, true) {
        if rng.chance(0.3) {
            let at = h.after(rng.range(10 * MINUTE, 4 * HOUR));
            h.escalate(rng, at, ESCALATION_REASONS.reopened);
        }
        if work_until_closed(&mut h, rng, 0, false).is_some() {
            aftercare(&mut h, rng, false);
        }
    }
    h.events
}

fn product<'x>(case: &'x Case<'_>) -> &'x str {
    if case.reply == Lang::En {
        &case.product.1
    } else {
        &case.product.0
    }
}

/// The investigation found the complaint not factually right: explain, perhaps have a supervisor review,
/// close as unfounded.
fn unfounded(h: &mut History<'_, '_>, rng: &mut Rng, cause: Cause) {
    let english = h.english();
    let note = fill(h.say(rng, &UNFOUNDED_NOTES), &[("cause", half(cause.text, english))]);
    let at = h.later(rng, 2 * HOUR, 2 * DAY);
    h.progress(at, note, true);
    if rng.chance(0.15) {
        let at = h.after(rng.range(HOUR, DAY));
        h.escalate(rng, at, ESCALATION_REASONS.disputed);
        let at = h.later(rng, DAY, 4 * DAY);
        let note = h.say(rng, &REVIEW_UPHELD).to_owned();
        h.progress(at, note, true);
    }
    if h.case.key_customer && rng.chance(0.4) {
        let at = h.later(rng, DAY, 5 * DAY);
        h.visit(rng, at);
    }
    let at = h.later(rng, DAY, 5 * DAY);
    h.close(at, Outcome::Unfounded);
}

/// Offer rounds until the customer confirms (or stops answering), then close. Returns the remedy carried
/// out last, or `None` when the complaint was closed without a confirmation.
fn work_until_closed(h: &mut History<'_, '_>, rng: &mut Rng, waiting: i64, first: bool) -> Option<Remedy> {
    let mut round = 0;
    let remedy = loop {
        round += 1;
        let remedy = offer_round(h, rng, first && round == 1);
        carry_out(h, rng, remedy, if round == 1 { waiting } else { 0 });
        let at = h.later(rng, 4 * HOUR, 3 * DAY);
        if rng.chance(0.05) {
            // No answer from the customer: closed after a week of trying.
            let wait = rng.range(7 * DAY, 10 * DAY);
            let at = h.office(rng, at.plus_seconds(wait));
            let reason = if h.english() {
                "the customer did not answer for a week after the remedy was carried out"
            } else {
                "补救完成后客户一周未回复确认"
            };
            h.close_with(at, outcome_of(remedy), Some(reason.to_owned()));
            return None;
        }
        let satisfied = round >= 3 || rng.chance(if round == 1 { 0.88 } else { 0.95 });
        let comment = if satisfied {
            rng.chance(0.5).then(|| h.say(rng, &SATISFIED_COMMENTS).to_owned())
        } else {
            Some(h.say(rng, &UNSATISFIED_COMMENTS).to_owned())
        };
        let via = rng
            .chance(0.6)
            .then(|| *rng.weighted(&[(ContactVia::Phone, 6), (ContactVia::Sms, 2), (ContactVia::Email, 2)]));
        h.by_owner(at, EventData::ResolutionConfirmed(ResolutionConfirmed { satisfied, comment, via }));
        if satisfied {
            break remedy;
        }
        if rng.chance(0.3) {
            let at = h.after(rng.range(10 * MINUTE, 4 * HOUR));
            h.escalate(rng, at, ESCALATION_REASONS.unsatisfied);
        }
    };
    let at = h.later(rng, 4 * HOUR, 3 * DAY);
    h.close(at, outcome_of(remedy));
    Some(remedy)
}

/// Offers solutions until one is accepted; returns the accepted remedy.
fn offer_round(h: &mut History<'_, '_>, rng: &mut Rng, first: bool) -> Remedy {
    let pattern = if first {
        *rng.weighted(&[
            (Offers::Single, 62),
            (Offers::RejectThenAccept, 22),
            (Offers::Alternatives, 12),
            (Offers::TwoRejects, 4),
        ])
    } else {
        *rng.weighted(&[(Offers::Single, 80), (Offers::RejectThenAccept, 20)])
    };
    let critical = h.case.received.severity == Severity::Critical;
    // How long staff take to work out an offer, and the customer to decide on it.
    let think = if critical { (30 * MINUTE, 6 * HOUR) } else { (2 * HOUR, 2 * DAY) };
    let decide = if critical { (20 * MINUTE, 8 * HOUR) } else { (HOUR, 3 * DAY) };
    let mut offered: Vec<Remedy> = Vec::with_capacity(3);
    let rejections = match pattern {
        Offers::Single | Offers::Alternatives => 0,
        Offers::RejectThenAccept => 1,
        Offers::TwoRejects => 2,
    };
    for _ in 0..rejections {
        let at = h.later(rng, think.0, think.1);
        let (id, _) = offer(h, rng, at, &mut offered);
        let at = h.later(rng, decide.0, decide.1);
        let reason = h.say(rng, &REJECTIONS).to_owned();
        h.by_owner(at, EventData::SolutionRejected(SolutionRejected { solution_id: id, reason }));
        if rng.chance(0.08) {
            let at = h.after(rng.range(10 * MINUTE, 4 * HOUR));
            h.escalate(rng, at, ESCALATION_REASONS.rejected);
        }
    }
    let at = h.later(rng, think.0, think.1);
    let (mut id, mut remedy) = offer(h, rng, at, &mut offered);
    if matches!(pattern, Offers::Alternatives) {
        let second = offer(h, rng, at.plus_seconds(MINUTE), &mut offered);
        if rng.chance(0.6) {
            (id, remedy) = second;
        }
    }
    let at = h.later(rng, decide.0, decide.1);
    h.by_owner(at, EventData::SolutionAccepted(SolutionAccepted { solution_id: id }));
    remedy
}

/// Offers one solution, a remedy not yet offered in this round where the theme has one.
fn offer(h: &mut History<'_, '_>, rng: &mut Rng, at: Timestamp, offered: &mut Vec<Remedy>) -> (String, Remedy) {
    let mut remedy = *rng.weighted(h.case.theme.remedies);
    for _ in 0..4 {
        if !offered.contains(&remedy) {
            break;
        }
        remedy = *rng.weighted(h.case.theme.remedies);
    }
    offered.push(remedy);
    let solution_id = format!("S{}", h.next_solution);
    h.next_solution += 1;
    let amount = if remedy == Remedy::Voucher { rng.range(2, 20) * 50 } else { h.case.amount };
    let amount = amount.to_string();
    let (zh, en) = remedy.offer();
    let description = fill(if h.english() { en } else { zh }, &[("product", product(h.case)), ("amount", &amount)]);
    let promised_by = rng.chance(0.6).then(|| at.plus_seconds(remedy_days(remedy) * DAY));
    h.by_owner(
        at,
        EventData::SolutionOffered(SolutionOffered { solution_id: solution_id.clone(), description, promised_by }),
    );
    (solution_id, remedy)
}

/// Commits to a date, reports progress, delivers (on time, or late with an apology and perhaps a new date).
fn carry_out(h: &mut History<'_, '_>, rng: &mut Rng, remedy: Remedy, waiting: i64) {
    let english = h.english();
    let critical = h.case.received.severity == Severity::Critical;
    let days = if critical { (remedy_days(remedy) / 2).max(1) } else { remedy_days(remedy) };
    let base = days * DAY * rng.range(70, 130) / 100;
    // Half the waits are known when committing; the others surface only once the date has passed.
    let foreseen = waiting == 0 || rng.chance(0.5);
    let span = base + if foreseen { waiting } else { 0 };
    let accepted_at = h.now;
    let due = accepted_at.plus_seconds(span);
    let solution_id = h
        .state
        .complaint()
        .and_then(|c| c.solutions.iter().rev().find(|s| s.state == lifecycle::SolutionState::Accepted))
        .map(|s| s.solution_id.clone())
        .expect("carry_out follows an accepted solution");
    let solution = half_offer(h, remedy);
    let what = fill(h.say(rng, &COMMITMENTS), &[("date", &date_text(due, english)), ("solution", &solution)]);
    let at = h.after(rng.range(MINUTE, 20 * MINUTE));
    let commitment = CommitmentMade { what, due_at: due, solution_id: Some(solution_id.clone()) };
    h.by_owner(at, EventData::CommitmentMade(commitment));

    let kept = foreseen && rng.chance(if h.case.key_customer { 0.9 } else { 0.84 });
    let deliver_at = if kept {
        accepted_at.plus_seconds(span * rng.range(35, 95) / 100).max(h.after(HOUR))
    } else {
        due.plus_seconds(rng.range(6 * HOUR, 10 * DAY) + if foreseen { 0 } else { waiting })
    };
    let updates = rng.range(0, 2) + i64::from(waiting > 0) * rng.range(1, 3);
    let mut marks: Vec<i64> = (0..updates).map(|_| rng.range(1, 99)).collect();
    marks.sort_unstable();
    let before = if kept { deliver_at } else { due };
    let window = before.unix_nanos().saturating_sub(h.now.unix_nanos()) / 1_000_000_000;
    let start = h.now;
    for mark in marks {
        let at = h.office(rng, start.plus_seconds(window * mark / 100));
        if at >= before || at <= h.now {
            continue;
        }
        let dept = h.state.complaint().and_then(|c| c.responsible_department.clone()).unwrap_or_default();
        let note = fill(
            h.say(rng, &PROGRESS_NOTES),
            &[("dept", department_name(&dept, english)), ("date", &date_text(before, english))],
        );
        let informed = rng.chance(0.85);
        h.progress(at, note, informed);
    }
    if !kept {
        // The date slips: tell the customer, sometimes commit to a new date, sometimes the customer escalates.
        let at = due.plus_seconds(rng.range(HOUR, DAY)).min(deliver_at.plus_seconds(-MINUTE)).max(h.after(MINUTE));
        let reason = h.say(rng, &DELAY_REASONS);
        let note = fill(h.say(rng, &DELAY_NOTES), &[("reason", reason)]);
        let informed = rng.chance(0.8);
        h.progress(at, note, informed);
        if rng.chance(0.4) {
            // Due after it is made (the store refuses a commitment due by then), which is within 30 minutes.
            let due_again = deliver_at.plus_seconds(rng.range(0, 2 * DAY)).max(h.after(30 * MINUTE + HOUR));
            let what =
                fill(h.say(rng, &COMMITMENTS), &[("date", &date_text(due_again, english)), ("solution", &solution)]);
            let at = h.after(rng.range(MINUTE, 30 * MINUTE));
            let commitment = CommitmentMade { what, due_at: due_again, solution_id: Some(solution_id.clone()) };
            h.by_owner(at, EventData::CommitmentMade(commitment));
        }
        if rng.chance(if h.case.key_customer { 0.25 } else { 0.1 }) {
            let at = h.after(rng.range(30 * MINUTE, 6 * HOUR));
            h.escalate(rng, at, ESCALATION_REASONS.missed);
        }
    }
    let (zh, en) = remedy.delivered();
    let (actor, source) = deliverer(rng, remedy);
    let at = h.office(rng, deliver_at);
    h.push(
        at,
        EventData::SolutionDelivered(SolutionDelivered {
            solution_id,
            note: (if english { en } else { zh }).to_owned(),
        }),
        &actor,
        source,
    );
}

fn half_offer(h: &History<'_, '_>, remedy: Remedy) -> String {
    let (zh, en) = remedy.offer();
    let amount = h.case.amount.to_string();
    fill(if h.english() { en } else { zh }, &[("product", product(h.case)), ("amount", &amount)])
}

/// After the close: a revisit for most, and a reopen when the issue persists (or, rarely, when the customer
/// comes back weeks later). Returns whether the complaint was reopened.
fn aftercare(h: &mut History<'_, '_>, rng: &mut Rng, allow_reopen: bool) -> bool {
    let revisit_share = if h.case.key_customer { 0.95 } else { 0.65 };
    if h.confirmed() && rng.chance(revisit_share) {
        let at = h.later(rng, 3 * DAY, 21 * DAY);
        let via = if h.case.key_customer && rng.chance(0.6) { RevisitVia::Visit } else { RevisitVia::Phone };
        let issue_persists = rng.chance(0.07);
        let satisfaction = if issue_persists {
            *rng.weighted(&[(1u8, 3), (2, 4), (3, 2)])
        } else {
            *rng.weighted(&[(5u8, 45), (4, 33), (3, 13), (2, 6), (1, 3)])
        };
        let note = if issue_persists {
            Some(h.say(rng, &PERSISTING_NOTES).to_owned())
        } else {
            rng.chance(0.6).then(|| h.say(rng, &REVISIT_NOTES).to_owned())
        };
        let actor = format!("revisit-team-{:02}", rng.range(1, 6));
        h.push(
            at,
            EventData::RevisitDone(RevisitDone { via, satisfaction, issue_persists, note }),
            &actor,
            "callcenter",
        );
        if issue_persists && allow_reopen && rng.chance(0.85) {
            let at = h.later(rng, HOUR, 2 * DAY);
            let reason = h.say(rng, &REOPEN_REASONS).to_owned();
            h.by_owner(at, EventData::ComplaintReopened(ComplaintReopened { reason }));
            return true;
        }
    } else if allow_reopen && rng.chance(0.035) {
        let at = h.later(rng, 5 * DAY, 40 * DAY);
        let reason = h.say(rng, &LATE_REOPEN_REASONS).to_owned();
        h.by_owner(at, EventData::ComplaintReopened(ComplaintReopened { reason }));
        return true;
    }
    false
}
