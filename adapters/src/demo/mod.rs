//! Demo data: a year of complaint history for a company that sells and services computer equipment,
//! deterministic for a seed, for `redress demo` and `redress serve --demo`.
//!
//! [`generate`] is pure (no clock, no I/O, the seedable [`rng`]): the same [`DemoConfig`] and answers give the
//! same appends, event ids included, on every platform. [`load`] writes them to any [`EventStore`]. Because the
//! ids and times are fixed, loading the same demo twice is harmless: the second load finds it all there.
//! [`load`] imports the year as if it had been recorded as it happened ([`Recorder`]: each event's `recorded_at`
//! is when it happened), so replays by `recorded_at` see the year go by.
//! For demos too large to hold (a million complaints are about 23 million events), [`stream`] yields the same appends
//! one at a time in bounded memory and [`load_stream`] writes them.
//!
//! What the year holds:
//! - every standard answer published at the start in its `qa-<answer_id>` stream; a few revised during the
//!   year, and two merged into a sibling of their category (the sibling revised, the merged one retired);
//! - complaints on every channel and in every category of the Q&A library, plus three themes no answer
//!   covers (`recycling`, `accessibility`, `data_migration`) and a few uncovered themes inside covered
//!   categories (overheating laptops, router drop-outs, subscription auto-renewal);
//! - texts in simplified and traditional Chinese, English and mixed, from per-theme templates with slots;
//! - about 1,200 customers for 3,000 complaints with a long tail of repeat customers (the same customer in the
//!   same category within 90 days happens), about 5% of them key customers;
//! - full timelines: acknowledgements mostly within the service level of API.md, apologies, root causes that
//!   recur (some seasonal: carrier backlog around shopping festivals, a router firmware defect mid-year),
//!   offers with rejections, commitments kept and missed, escalations up the ladder, confirmations (some
//!   unsatisfied), revisits, apology visits for key customers and critical complaints, reopens, closes with
//!   every outcome; and about a tenth of the complaints still open at the end of the year, some overdue;
//! - the desk (v1.1): owners from a roster of twelve agents in four teams with uneven workloads, transfers,
//!   complaints waiting on the customer, periodic updates to the customer kept and missed, six problems with
//!   linked complaints and corrective actions (one that did not work, one resolved, one reopened), and
//!   duplicate and follow-up links between a customer's complaints.
//!
//! Every history is folded with the engine's own lifecycle rules while it is generated, so the store accepts it.

mod answers;
mod catalogue;
mod population;
mod problems;
mod record;
pub use redress_schemas::rng;
mod stream;
mod timeline;

use answers::AnswerBook;
use catalogue::{Lang, ProductKind, Theme, CLOSINGS_EN, CLOSINGS_HANS, CLOSINGS_HANT, PRODUCTS, THEMES};
use population::Customer;
use problems::Problems;
pub use record::Recorder;
use redress_engine::lifecycle::{self, StreamState};
use redress_engine::{EventStore, ExpectedVersion, StoreError};
use redress_schemas::{
    Channel, ComplaintLinked, ComplaintReceived, CustomerTier, EventData, EventId, LinkRelation, Metadata,
    ProposedEvent, RecordedBy, Severity, StandardAnswerPublished, StreamName, Timestamp, WrittenEvent,
};
use rng::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
pub use stream::DemoStream;
use timeline::{Case, Planned, DAY, HOUR, MINUTE};

/// Events of one complaint written together when they happen within this many seconds of the first
/// (received + an immediate acknowledgement, an offer of two alternatives, an acceptance and its commitment).
const APPEND_WINDOW_SECONDS: i64 = 15 * MINUTE;

/// The `recorded_by` of every demo event: the credential name the sample history is loaded under.
pub const DEMO_RECORDED_BY: &str = "demo-loader";
/// The most events one demo append carries (far below the engine's `APPEND_EVENTS_MAX`).
const APPEND_EVENTS_MAX: usize = 32;
/// The most events one import of [`load`] carries: the store's limit per import; whole appends only, so a
/// chunk may hold fewer (an append holds at most [`APPEND_EVENTS_MAX`]).
const IMPORT_EVENTS_MAX: usize = redress_engine::limits::APPEND_EVENTS_MAX;
const _: () = assert!(APPEND_EVENTS_MAX <= IMPORT_EVENTS_MAX, "an append fits in one import");
/// Repeat complaints about the same category within this window are what the repeat-issues projection finds.
const REPEAT_WINDOW_SECONDS: i64 = 90 * DAY;

// Labels of the independent random streams, so that one part of the demo can change without shifting another.
const RNG_ANSWERS: u64 = 1;
const RNG_ARRIVALS: u64 = 2;
const RNG_CUSTOMERS: u64 = 3;
const RNG_COMPLAINT: u64 = 4;
const RNG_EVENT_IDS: u64 = 5;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Same seed, same demo.
    pub seed: u64,
    /// How many complaints (default 3,000).
    pub complaints: usize,
    /// The first instant of the demo year (default 2025-12-01T00:00:00Z). The standard answers are published
    /// at this instant; complaints arrive from an hour later.
    pub start: Timestamp,
    /// How many days the demo covers (default 365; at least one day is used). No event is later than
    /// [`DemoConfig::end`].
    pub days: u32,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 20_251_201,
            complaints: 3_000,
            // 2025-12-01T00:00:00Z.
            start: Timestamp::from_unix_nanos(1_764_547_200 * 1_000_000_000),
            days: 365,
        }
    }
}

impl DemoConfig {
    /// The end of the demo: `start` plus `days` (at least one). Complaints still open then stay open.
    pub fn end(&self) -> Timestamp {
        self.start.plus_seconds(i64::from(self.days.max(1)) * DAY)
    }
}

/// Why the standard answers could not be read: the library file's own refusal
/// ([`LibraryFileError`]: the line, counted from 1, and what is wrong with it). Handling: fix the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    #[error("standard answers, {0}")]
    Answers(#[from] LibraryFileError),
}

use redress_projections::library::eval::{library_answers, LibraryFileError};

/// The demo desk's service-level policy, as a policy file: API.md's levels, with low and normal
/// severity on business hours (Monday to Friday, 09:00–18:00 in Asia/Shanghai, with days off for the
/// 2026 public holidays as sample data, not an official calendar) and the default watch words. `serve --demo` runs with it unless `--policy` is given.
pub const DEMO_POLICY_JSON: &str = r#"{
  "critical": {"acknowledge_within_hours": 2, "resolve_within_hours": 24},
  "high": {"acknowledge_within_hours": 4, "resolve_within_hours": 72},
  "normal": {"acknowledge_within_hours": 24, "resolve_within_hours": 168, "business_hours": true},
  "low": {"acknowledge_within_hours": 48, "resolve_within_hours": 336, "business_hours": true},
  "calendar": {"timezone": "Asia/Shanghai", "working_days": ["mon", "tue", "wed", "thu", "fri"],
               "opens": "09:00", "closes": "18:00",
               "holidays": ["2026-01-01", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20",
                            "2026-04-06", "2026-05-01", "2026-05-04", "2026-05-05", "2026-06-19", "2026-09-25",
                            "2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"]}
}"#;

/// [`DEMO_POLICY_JSON`], parsed.
pub fn policy() -> redress_projections::policy::SlaPolicy {
    redress_projections::policy::SlaPolicy::from_json(DEMO_POLICY_JSON)
        .expect("the demo policy is valid (a test reads it)")
}

/// The English of the demo library, written for the demo (not the shared file's `title_en`): a
/// `translations["en"]` for every answer (`library::eval::TranslationLine` lines).
pub const DEMO_TRANSLATIONS: &str = include_str!("answers-en.jsonl");

/// Reads the shared standard-answers file (JSON Lines: `answer_id`, `category`, `title_zh`, optional
/// `title_en`, `answer_zh`, `keywords_zh`; other fields are ignored, blank lines skipped) as the answers
/// the demo publishes: the Chinese text as each answer's own, [`DEMO_TRANSLATIONS`] as its English.
///
/// Fails on the first line that is not such an object, has a blank required field, an id that cannot name a
/// stream, or an id seen before. Blank keywords are dropped.
pub fn parse_standard_answers(jsonl: &str) -> Result<Vec<StandardAnswerPublished>, DemoError> {
    // The translations name the shared file's answers: another library (`REDRESS_QA_LIBRARY`) is
    // published untranslated.
    let answers = match library_answers(jsonl, Some(DEMO_TRANSLATIONS)) {
        Err(LibraryFileError::Translation { .. }) => library_answers(jsonl, None),
        read => read,
    };
    Ok(answers?)
}

/// One append of the demo: events for one stream, with the version the stream is expected at.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoAppend {
    pub stream: StreamName,
    /// `NoStream` for a stream's first append, then `Exact(last version)`.
    pub expected: ExpectedVersion,
    /// Each with an explicit id, `occurred_at`, and metadata `actor` and `source`.
    pub events: Vec<ProposedEvent>,
}

impl DemoAppend {
    /// The append as the body of `POST /streams/{stream}/events` (what `redress append --file` reads).
    pub fn to_request_json(&self) -> Value {
        let expected = match self.expected {
            ExpectedVersion::Any => json!("any"),
            ExpectedVersion::NoStream => json!("no_stream"),
            ExpectedVersion::Exists => json!("exists"),
            ExpectedVersion::Exact(v) => json!(v),
        };
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|e| {
                json!({
                    "event_id": e.event_id.map(|id| id.to_string()),
                    "event_type": e.data.event_type().name(),
                    "occurred_at": e.occurred_at.map(Timestamp::to_rfc3339),
                    "metadata": e.metadata.to_json_value(),
                    "data": e.data.to_json_value(),
                })
            })
            .collect();
        json!({"expected_version": expected, "events": events})
    }

    /// When the append's first event happened.
    fn first_at(&self) -> Option<Timestamp> {
        self.events.first().and_then(|e| e.occurred_at)
    }
}

/// What a demo holds (from [`summarize`]) and, after [`load`], how much of it was already in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct DemoSummary {
    pub complaints: usize,
    pub events: usize,
    pub appends: usize,
    /// Distinct customers who complained.
    pub customers: usize,
    /// Of those, customers with `customer_tier: key`.
    pub key_customers: usize,
    /// Customers with more than one complaint.
    pub repeat_customers: usize,
    /// Complaints escalated at least once.
    pub escalated: usize,
    /// Complaints reopened at least once.
    pub reopened: usize,
    /// `apology_visit_made` events.
    pub apology_visits: usize,
    /// Complaints the investigation found not factually right.
    pub unfounded: usize,
    /// Complaints not closed at the last event of the demo.
    pub open_at_end: usize,
    /// Open complaints past a deadline at the last event of the demo (the default service levels of API.md:
    /// acknowledgement not made in time, or no delivered solution by the latest commitment or the resolve limit).
    pub overdue_at_end: usize,
    pub answers_published: usize,
    /// `standard_answer_revised` events.
    pub answers_revised: usize,
    pub answers_retired: usize,
    /// `standard_answer_used` events.
    pub answers_used: usize,
    /// Set by [`load`]: appends the store already held (idempotent retries that wrote nothing).
    pub already_present: usize,
    /// The desk (v1.1): distinct agents complaints were assigned to, and their teams.
    #[serde(default)]
    pub owners: usize,
    #[serde(default)]
    pub teams: usize,
    /// Complaints with an owner at the end.
    #[serde(default)]
    pub assigned: usize,
    /// `complaint_assigned` events that changed an owner (transfers).
    #[serde(default)]
    pub transfers: usize,
    /// `waiting_on_customer` events, and complaints still waiting at the end of the demo.
    #[serde(default)]
    pub waited_on_customer: usize,
    #[serde(default)]
    pub waiting_at_end: usize,
    /// `progress_updated` events to the customer (`customer_informed`), and internal notes.
    #[serde(default)]
    pub customer_updates: usize,
    #[serde(default)]
    pub internal_notes: usize,
    /// `problem-` streams, corrective actions, problems resolved and reopened.
    #[serde(default)]
    pub problems: usize,
    #[serde(default)]
    pub corrective_actions: usize,
    #[serde(default)]
    pub problems_resolved: usize,
    #[serde(default)]
    pub problems_reopened: usize,
    /// Complaints linked to a problem (`same_problem`), and to another complaint (`duplicate_of`, `follow_up_of`).
    #[serde(default)]
    pub problem_links: usize,
    #[serde(default)]
    pub complaint_links: usize,
    /// The first and the last event's `occurred_at`: the demo's year (a replay `as_of` between them sees it as
    /// the desk recorded it then).
    #[serde(default)]
    pub first_event_at: Option<Timestamp>,
    #[serde(default)]
    pub last_event_at: Option<Timestamp>,
}

/// The service levels of API.md: hours to acknowledge, hours to resolve.
/// The date in China (UTC+8) at `at`: year, month 1..=12, day.
fn local_date(at: Timestamp) -> (i32, u8, u8) {
    let seconds = at.unix_nanos().div_euclid(1_000_000_000) + 8 * HOUR;
    let date = time::OffsetDateTime::from_unix_timestamp(seconds)
        .expect("demo instants are within years 1677..2262, which time represents")
        .date();
    (date.year(), u8::from(date.month()), date.day())
}

/// Generates the demo: the answers' appends first (at `start`), then every complaint's appends, all in
/// `occurred_at` order of their first event, so the log reads like a year going by. Per stream the appends
/// are in version order with matching expected versions.
///
/// The whole demo in memory: fine for the 3,000 complaints of `redress demo`; for large demos use [`stream`],
/// which yields the same appends in the same order in bounded memory (this is `stream(..).collect()`).
///
/// Answers whose id cannot name a stream, whose required text is blank, or whose id repeats an earlier one
/// are left out (the store would refuse them); [`parse_standard_answers`] never returns such answers.
pub fn generate(config: &DemoConfig, answers: &[StandardAnswerPublished]) -> Vec<DemoAppend> {
    stream(config, answers).collect()
}

/// The demo of [`generate`], append by append, in the same order, in bounded memory: complaints are drawn in
/// arrival order, and an append comes out once no complaint still to be drawn can come before it. See
/// [`DemoStream`] for the memory it holds; [`DemoStream::summary`] counts what it yielded.
pub fn stream(config: &DemoConfig, answers: &[StandardAnswerPublished]) -> DemoStream {
    DemoStream::new(config, answers, stream::DRAWN_AHEAD_SECONDS)
}

/// Draws complaint `index` (in arrival order) of `customer`, received at `received_at`; `recent` is the theme
/// of the customer's previous complaint if that one is within the repeat window. Returns its stream, its whole
/// history (not yet cut at the end of the demo) and its theme.
#[allow(clippy::too_many_arguments)] // each is one fact about the complaint; a struct would only rename them
fn draw_complaint(
    config: &DemoConfig,
    book: &AnswerBook,
    problems: &Problems,
    index: usize,
    received_at: Timestamp,
    customer: &Customer,
    recent: Option<usize>,
    previous: Option<(String, Timestamp)>,
    complaint_id: String,
) -> (StreamName, Vec<Planned>, usize) {
    let end = config.end();
    let mut rng = Rng::derive(config.seed, RNG_COMPLAINT, index as u64);
    let fraction = (received_at.unix_nanos() - config.start.unix_nanos()) as f64
        / (end.unix_nanos() - config.start.unix_nanos()) as f64;
    let (theme_index, same_theme) = choose_theme(&mut rng, problems, recent, received_at, fraction);
    let theme = &THEMES[theme_index];

    let case_text = describe(&mut rng, theme, customer, same_theme);
    let severity = severity(&mut rng, theme, customer.key, same_theme, case_text.product_kind);
    let channel = *rng.weighted(&[
        (Channel::Hotline, 34),
        (Channel::Email, 16),
        (Channel::Web, 20),
        (Channel::Letter, 3),
        (Channel::InPerson, 7),
        (Channel::Survey, 6),
        (Channel::Social, 9),
        (Channel::Other, 5),
    ]);
    let chinese = case_text.lang != Lang::En;
    let description = format!("{}{}", catalogue::channel_prefix(channel, chinese, rng.below(3)), case_text.text);
    let intake = intake(&mut rng, channel);
    let haystack = format!("{} {}", description, theme.hints.join(" "));
    let category = theme.category;
    let answer_at = |at: Timestamp| book.best(category, &haystack, at);
    let cause_removed = |cause: &str, at: Timestamp| problems.removed(cause, at);
    let received = ComplaintReceived {
        complaint_id: complaint_id.clone(),
        customer_id: customer.id(),
        channel,
        category: category.to_owned(),
        severity,
        description,
        product: case_text.product_field,
        customer_tier: customer.tier,
    };
    let reply = match case_text.lang {
        Lang::En => Lang::En,
        Lang::Hant => Lang::Hant,
        Lang::Hans | Lang::Mixed => Lang::Hans,
    };
    let case = Case {
        received,
        received_at,
        theme,
        reply,
        key_customer: customer.key,
        product: case_text.product_names,
        amount: case_text.amount,
        intake,
        answer_at: &answer_at,
        cause_removed: &cause_removed,
    };
    let mut planned = timeline::history(&case, &mut rng);
    // Links: to the problem of the root cause found, and to the customer's previous complaint when this one
    // is the same thing again (a duplicate within days, a follow-up later).
    let analysis = planned.iter().rev().find_map(|p| match &p.data {
        EventData::CauseAnalyzed(c) if c.founded => Some((c.root_cause.clone(), p.at)),
        _ => None,
    });
    if let Some(link) = analysis.and_then(|(cause, at)| problems.link(&mut rng, &cause, at)) {
        insert_in_order(&mut planned, link);
    }
    if let Some((target, previous_at)) = previous.filter(|_| same_theme) {
        let days_apart = (received_at.unix_nanos() - previous_at.unix_nanos()) / (DAY * 1_000_000_000);
        let relation = if days_apart < 3 && rng.chance(0.6) {
            Some(LinkRelation::DuplicateOf)
        } else {
            rng.chance(0.5).then_some(LinkRelation::FollowUpOf)
        };
        if let Some(relation) = relation {
            let at = received_at.plus_seconds(rng.range(30 * MINUTE, DAY));
            let data = EventData::ComplaintLinked(ComplaintLinked { target, relation, note: None });
            let actor = planned.get(1).map_or_else(|| "dispatcher".to_owned(), |p| p.actor.clone());
            insert_in_order(&mut planned, Planned { at, data, actor, source: "crm" });
        }
    }
    let stream = StreamName::complaint(&complaint_id).expect("complaint ids are ASCII letters, digits and '-'");
    (stream, planned, theme_index)
}

/// Puts `event` into the time-ordered `history` at a second no other event holds (one later, if taken); drops it
/// when there is no such second before the next event (never in practice: events are minutes apart or more).
fn insert_in_order(history: &mut Vec<Planned>, mut event: Planned) {
    let index = history.partition_point(|p| p.at <= event.at);
    if let Some(previous) = index.checked_sub(1).map(|i| history[i].at) {
        if event.at <= previous {
            event.at = previous.plus_seconds(1);
        }
    }
    if history.get(index).is_some_and(|next| next.at <= event.at) {
        return;
    }
    history.insert(index, event);
}

/// The theme of a complaint: a customer coming back within 90 days (`recent` is the theme of their last
/// complaint) often has the same kind of problem; otherwise the seasonal mix decides. Returns the theme's
/// index and whether it repeats the recent one.
/// Themes whose causes a corrective action removed come up less (by 90% of the share of their causes removed).
fn choose_theme(
    rng: &mut Rng,
    problems: &Problems,
    recent: Option<usize>,
    received_at: Timestamp,
    fraction: f64,
) -> (usize, bool) {
    match recent {
        Some(previous) if rng.chance(0.35) => {
            if rng.chance(0.7) {
                (previous, true)
            } else {
                let category = THEMES[previous].category;
                let weights: Vec<f64> =
                    THEMES.iter().map(|t| if t.category == category { t.weight } else { 0.0 }).collect();
                let chosen = rng.weighted_index(&weights);
                (chosen, chosen == previous)
            }
        }
        _ => {
            let (_, month, _) = local_date(received_at);
            let weights: Vec<f64> = THEMES
                .iter()
                .map(|t| {
                    let total: u32 = t.causes.iter().map(|(_, w)| w).sum();
                    let removed: u32 =
                        t.causes.iter().filter(|(c, _)| problems.removed(c.text, received_at)).map(|(_, w)| w).sum();
                    let removed_share = f64::from(removed) / f64::from(total.max(1));
                    t.weight * seasonal(t.key, month, fraction) * (1.0 - 0.9 * removed_share)
                })
                .collect();
            (rng.weighted_index(&weights), false)
        }
    }
}

/// Cuts `planned` at `end`, gives each event its id (drawn for the stream's index), and groups events close in
/// time into appends, in version order. Returns the appends from the `from`-th on (the earlier ones are only
/// counted: their versions and ids still shift the later ones).
fn cut_into_appends(
    seed: u64,
    stream_index: u64,
    stream: &StreamName,
    planned: Vec<Planned>,
    end: Timestamp,
    from: usize,
) -> Vec<DemoAppend> {
    let mut groups: Vec<Vec<Planned>> = Vec::new();
    let mut group_start: Option<Timestamp> = None;
    for event in planned.into_iter().take_while(|e| e.at <= end) {
        let starts_group = match (group_start, groups.last()) {
            (Some(start), Some(current)) => {
                event.at.unix_nanos() - start.unix_nanos() > APPEND_WINDOW_SECONDS * 1_000_000_000
                    || current.len() >= APPEND_EVENTS_MAX
            }
            _ => true,
        };
        if starts_group {
            groups.push(Vec::new());
            group_start = Some(event.at);
        }
        groups.last_mut().expect("a group was pushed above").push(event);
    }
    let mut ids = Rng::derive(seed, RNG_EVENT_IDS, stream_index);
    let recorded_by = RecordedBy::credential(DEMO_RECORDED_BY).expect("DEMO_RECORDED_BY is a valid credential name");
    let mut version: Option<u64> = None;
    let mut appends = Vec::with_capacity(groups.len().saturating_sub(from));
    for (index, group) in groups.into_iter().enumerate() {
        let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        let count = group.len() as u64;
        version = Some(version.map_or(count - 1, |v| v + count));
        if index < from {
            // Skipped, but its ids are drawn all the same: the later appends' ids follow them.
            for _ in &group {
                let _ = ids.uuid();
            }
            continue;
        }
        let events = group
            .into_iter()
            .map(|event| ProposedEvent {
                event_id: Some(EventId(ids.uuid())),
                occurred_at: Some(event.at),
                metadata: Metadata::default().with("actor", &event.actor).with("source", event.source),
                data: event.data,
                recorded_by: Some(recorded_by.clone()),
            })
            .collect();
        appends.push(DemoAppend { stream: stream.clone(), expected, events });
    }
    appends
}

/// How much more (or less) often a theme comes up at a point of the year.
fn seasonal(theme: &str, month: u8, fraction: f64) -> f64 {
    match theme {
        // Shopping festivals (11.11, 6.18) and the Spring Festival jam the carriers.
        "late_delivery" => match month {
            11 => 2.2,
            1 | 2 => 1.6,
            6 => 1.5,
            _ => 1.0,
        },
        "damaged_on_arrival" if month == 11 => 1.5,
        "hotline_wait" if matches!(month, 11 | 12) => 1.6,
        "licence_activation" if month == 1 => 1.5,
        // Firmware 3.2 ships a little before mid-year and is fixed three months later.
        "router_firmware" => {
            if (0.45..0.72).contains(&fraction) {
                1.0
            } else {
                0.0
            }
        }
        // Themes no answer covers grow over the year, so the gap becomes visible.
        "ewaste_pickup" | "web_accessibility" | "migration_incomplete" => 0.5 + fraction,
        _ => 1.0,
    }
}

/// A drawn complaint text with what it is about.
struct CaseText {
    lang: Lang,
    text: String,
    product_kind: Option<&'static ProductKind>,
    product_field: Option<String>,
    product_names: (String, String),
    amount: i64,
}

fn describe(rng: &mut Rng, theme: &'static Theme, customer: &Customer, repeat: bool) -> CaseText {
    let kind = (!theme.products.is_empty())
        .then(|| *rng.pick(theme.products))
        .and_then(|key| PRODUCTS.iter().find(|p| p.key == key));
    let model = kind.map_or("", |k| *rng.pick(k.models));
    let price = kind.map_or(0, |k| rng.range(k.price.0 / 100, k.price.1 / 100) * 100 - 1);
    let amount = match theme.amount {
        Some((lo, hi)) => rng.range(lo / 10, hi / 10) * 10,
        None => price.max(rng.range(5, 50) * 10),
    };
    let days = rng.range(theme.days.0, theme.days.1);
    let candidates: Vec<&(Lang, &str)> = {
        let exact: Vec<_> = theme.texts.iter().filter(|(l, _)| *l == customer.lang).collect();
        if exact.is_empty() {
            theme.texts.iter().filter(|(l, _)| *l == Lang::Hans).collect()
        } else {
            exact
        }
    };
    let (lang, template) = **rng.pick(&candidates);
    let product_text = kind.map_or("", |k| match lang {
        Lang::En => k.en,
        Lang::Hant => k.hant,
        Lang::Hans | Lang::Mixed => k.hans,
    });
    let days_text = days.to_string();
    let amount_text = amount.to_string();
    let text = timeline::fill(
        template,
        &[
            ("product", product_text),
            ("model", model),
            ("days", &days_text),
            ("amount", &amount_text),
            ("city", customer.city),
        ],
    );
    // Customers often quote their order and close with a plea of their own.
    let text = if kind.is_some() && rng.chance(0.35) {
        let order = format!("SO{}", rng.range(10_000_000, 99_999_999));
        match lang {
            Lang::En => format!("{text} (order {order})"),
            Lang::Hant => format!("{text}（訂單號 {order}）"),
            Lang::Hans | Lang::Mixed => format!("{text}（订单号 {order}）"),
        }
    } else {
        text
    };
    let text = if rng.chance(0.5) {
        let closing = match lang {
            Lang::En => *rng.pick(CLOSINGS_EN),
            Lang::Hant => *rng.pick(CLOSINGS_HANT),
            Lang::Hans | Lang::Mixed => *rng.pick(CLOSINGS_HANS),
        };
        let space = if lang == Lang::En { " " } else { "" };
        format!("{text}{space}{closing}")
    } else {
        text
    };
    let text = if repeat {
        let prefix = match lang {
            Lang::En => "This is the second time I am reporting this. ",
            Lang::Hant => "這是我第二次反映這個問題了。",
            Lang::Hans | Lang::Mixed => "这是我第二次反映这个问题了。",
        };
        format!("{prefix}{text}")
    } else {
        text
    };
    let product_field = kind.filter(|_| rng.chance(0.9)).map(|k| format!("{model} {}", k.en));
    let product_names = match kind {
        Some(k) => (format!("{}（{model}）", k.hans), format!("{} {}", model, k.en)),
        None => ("此次服务".to_owned(), "service".to_owned()),
    };
    CaseText { lang, text, product_kind: kind, product_field, product_names, amount }
}

fn severity(rng: &mut Rng, theme: &Theme, key: bool, repeat: bool, kind: Option<&ProductKind>) -> Severity {
    const LADDER: [Severity; 4] = [Severity::Low, Severity::Normal, Severity::High, Severity::Critical];
    let mut level: i32 = *rng.weighted(&[(0, 16), (1, 66), (2, 14), (3, 4)]);
    if theme.severity_bias != 0 && rng.chance(0.4) {
        level += i32::from(theme.severity_bias.signum());
    }
    if key && rng.chance(0.25) {
        level += 1;
    }
    if repeat && rng.chance(0.2) {
        level += 1;
    }
    if kind.is_some_and(|k| k.key == "server") && rng.chance(0.25) {
        level += 1;
    }
    LADDER[level.clamp(0, 3) as usize]
}

/// Who takes a complaint in on each channel, and the service that records it.
fn intake(rng: &mut Rng, channel: Channel) -> (String, &'static str) {
    match channel {
        Channel::Hotline => (format!("agent-{:02}", rng.range(1, 35)), "callcenter"),
        Channel::Email => (format!("agent-{:02}", rng.range(1, 35)), "email-gateway"),
        Channel::Web => ("web-form".to_owned(), "web-portal"),
        Channel::Letter => (format!("mailroom-{}", rng.range(1, 3)), "mailroom"),
        Channel::InPerson => (format!("service-desk-{:02}", rng.range(1, 12)), "service-desk"),
        Channel::Survey => ("survey-bot".to_owned(), "survey-platform"),
        Channel::Social => (format!("social-care-{:02}", rng.range(1, 4)), "social-listening"),
        Channel::Other => (format!("agent-{:02}", rng.range(1, 35)), "crm"),
    }
}

/// Counts what `appends` hold. Open and overdue complaints are judged at the latest `occurred_at` of all
/// events (the end of the demo), with the default service levels of API.md.
pub fn summarize(appends: &[DemoAppend]) -> DemoSummary {
    let mut tally = Tally::default();
    let mut states: HashMap<&StreamName, StreamState> = HashMap::new();
    for append in appends {
        tally.counts.appends += 1;
        let state = states.entry(&append.stream).or_default();
        for event in &append.events {
            *state = tally.event(std::mem::take(state), event);
        }
    }
    let mut complaints_per_customer: HashMap<&str, (usize, bool)> = HashMap::new();
    for state in states.values() {
        let Some(c) = state.complaint() else { continue };
        tally.complaint(c);
        let entry = complaints_per_customer.entry(c.customer_id.as_str()).or_insert((0, false));
        entry.0 += 1;
        entry.1 |= c.customer_tier == Some(CustomerTier::Key);
    }
    tally.summary(complaints_per_customer.into_values())
}

/// What a [`DemoSummary`] counts, event by event and complaint by complaint: [`summarize`] feeds it a whole
/// demo, [`DemoStream`] one stream at a time.
#[derive(Debug, Default)]
struct Tally {
    counts: DemoSummary,
    /// The latest `occurred_at` so far: at the end, the end of the demo, where open complaints are judged.
    as_of: Option<Timestamp>,
    /// Each open complaint's state at the end, judged overdue or not only once the whole demo is counted
    /// (at `as_of`), by the clocks the views use (`SlaPolicy::deadlines_of`, API.md's default levels).
    open_at_end: Vec<lifecycle::ComplaintState>,
    /// Agents and teams assigned so far (a dozen: bounded by the roster).
    owners: BTreeSet<String>,
    teams: BTreeSet<String>,
}

impl Tally {
    /// Counts `event` and returns the state of its stream after it.
    fn event(&mut self, state: StreamState, event: &ProposedEvent) -> StreamState {
        let latest = self.as_of.unwrap_or(Timestamp::from_unix_nanos(i64::MIN));
        let at = event.occurred_at.unwrap_or(latest);
        self.as_of = Some(latest.max(at));
        let counts = &mut self.counts;
        counts.events += 1;
        counts.first_event_at = Some(counts.first_event_at.map_or(at, |first| first.min(at)));
        counts.last_event_at = self.as_of;
        match &event.data {
            EventData::ComplaintReceived(_) => counts.complaints += 1,
            EventData::ComplaintAssigned(assigned) => {
                counts.transfers += usize::from(state.complaint().is_some_and(|c| c.owner.is_some()));
                if !self.owners.contains(&assigned.assignee) {
                    self.owners.insert(assigned.assignee.clone());
                }
                if let Some(team) = assigned.team.as_ref().filter(|t| !self.teams.contains(*t)) {
                    self.teams.insert(team.clone());
                }
            }
            EventData::WaitingOnCustomer(_) => counts.waited_on_customer += 1,
            EventData::ProgressUpdated(update) if update.customer_informed => counts.customer_updates += 1,
            EventData::ProgressUpdated(_) => counts.internal_notes += 1,
            EventData::ProblemIdentified(_) => counts.problems += 1,
            EventData::CorrectiveActionTaken(_) => counts.corrective_actions += 1,
            EventData::ProblemResolved(_) => counts.problems_resolved += 1,
            EventData::ProblemReopened(_) => counts.problems_reopened += 1,
            EventData::ComplaintLinked(link) if link.relation == LinkRelation::SameProblem => counts.problem_links += 1,
            EventData::ComplaintLinked(_) => counts.complaint_links += 1,
            EventData::ApologyVisitMade(_) => counts.apology_visits += 1,
            EventData::StandardAnswerPublished(_) => counts.answers_published += 1,
            EventData::StandardAnswerRevised(_) => counts.answers_revised += 1,
            EventData::StandardAnswerRetired(_) => counts.answers_retired += 1,
            EventData::StandardAnswerUsed(_) => counts.answers_used += 1,
            _ => {}
        }
        lifecycle::evolve(state, &event.data, at)
    }

    /// Counts one stream whose every append is in `appends`; returns its state at the end.
    fn stream(&mut self, appends: &[DemoAppend]) -> StreamState {
        let mut state = StreamState::default();
        for append in appends {
            self.counts.appends += 1;
            for event in &append.events {
                state = self.event(state, event);
            }
        }
        if let Some(c) = state.complaint() {
            self.complaint(c);
        }
        state
    }

    /// Counts a complaint as it stands at the end of the demo.
    fn complaint(&mut self, c: &lifecycle::ComplaintState) {
        let counts = &mut self.counts;
        counts.escalated += usize::from(c.escalation_level > 0);
        counts.reopened += usize::from(c.reopen_count > 0);
        counts.unfounded += usize::from(c.founded == Some(false));
        counts.assigned += usize::from(c.owner.is_some());
        counts.waiting_at_end += usize::from(c.is_waiting());
        if c.is_open() {
            counts.open_at_end += 1;
            self.open_at_end.push(c.clone());
        }
    }

    /// The summary so far, given each complaining customer's complaint count and whether one was a key
    /// customer's.
    fn summary(&self, customers: impl Iterator<Item = (usize, bool)>) -> DemoSummary {
        let mut summary = self.counts.clone();
        let as_of = self.as_of.unwrap_or(Timestamp::from_unix_nanos(i64::MIN));
        // The same clocks as the open-complaints view (acknowledgement, resolution, promise and the v1.1
        // update deadline, waits on the customer), so the tour and the summary agree.
        let policy = redress_projections::policy::SlaPolicy::default();
        summary.overdue_at_end = self
            .open_at_end
            .iter()
            .filter(|c| {
                !policy.deadlines_of(&redress_projections::policy::Clock::from(*c), as_of).overdue_reasons.is_empty()
            })
            .count();
        summary.owners = self.owners.len();
        summary.teams = self.teams.len();
        for (complaints, key) in customers {
            summary.customers += 1;
            summary.key_customers += usize::from(key);
            summary.repeat_customers += usize::from(complaints > 1);
        }
        summary
    }
}

/// Writes the demo to `store` as if it had been recorded while its year went by, and returns its
/// [`summarize`] summary with `already_present` set.
///
/// The events are imported ([`EventStore::import`]), not appended: each keeps the `recorded_at` the store's
/// writer would have given it had it been appended when it happened ([`Recorder`]), so replays by
/// `recorded_at` (`basis=recorded`, `as_of` in the past) see the year go by instead of an empty store before
/// the load. The stored log is the generated order exactly. Imports of up to `APPEND_EVENTS_MAX` events, whole
/// appends, each durable before the next: a load cut short leaves a prefix of the demo.
/// `progress(events_done, events_total)` is called after each append is durable.
///
/// Meant for an empty store, or one holding a prefix of this same demo (a load that was cut short, or all of
/// it): the appends it already holds count as `already_present` and the rest is imported after them. A store
/// holding anything else is refused with [`StoreError::ImportRejected`] naming its head position, and nothing
/// is written; so is any other failure of the store (imports that completed before it stay written).
pub async fn load(
    store: &dyn EventStore,
    appends: Vec<DemoAppend>,
    mut progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    let summary = summarize(&appends);
    let total = summary.events;
    let already_present = import_in_order(store, appends.into_iter(), |done| progress(done, total)).await?;
    Ok(DemoSummary { already_present, ..summary })
}

/// [`load`] for a [`DemoStream`]: the same imports, in bounded memory; returns [`DemoStream::summary`] with
/// `already_present` set. `progress(events_done)` is called after each append is durable (the total is known
/// only at the end).
pub async fn load_stream(
    store: &dyn EventStore,
    mut appends: DemoStream,
    progress: impl FnMut(usize),
) -> Result<DemoSummary, StoreError> {
    let already_present = import_in_order(store, appends.by_ref(), progress).await?;
    Ok(DemoSummary { already_present, ..appends.summary() })
}

/// Imports `appends` as [`load`] describes; returns how many the store already held.
async fn import_in_order(
    store: &dyn EventStore,
    appends: impl Iterator<Item = DemoAppend>,
    mut progress: impl FnMut(usize),
) -> Result<usize, StoreError> {
    let head = store.head().await?;
    let mut recorder = Recorder::new();
    let mut already_present = 0;
    let mut done = 0;
    // The head's event, once the demo reached it, matched: every event before it is the demo's too (the chain).
    let mut head_matched = head.is_none();
    let mut chunk: Vec<WrittenEvent> = Vec::with_capacity(IMPORT_EVENTS_MAX);
    // Events per append in `chunk`, for progress once it is durable.
    let mut chunk_appends: Vec<usize> = Vec::new();
    for append in appends {
        let count = append.events.len();
        let mut written = Vec::with_capacity(count);
        recorder.record(append, &mut written);
        if let Some(head) = head.as_ref().filter(|_| !head_matched) {
            if let Some(at_head) = written.iter().find(|e| e.header.position == head.position) {
                if at_head.header.hash != head.hash {
                    return Err(another_log(head.position));
                }
                head_matched = true;
            }
            written.retain(|e| e.header.position > head.position);
            if written.is_empty() {
                already_present += 1;
                done += count;
                progress(done);
                continue;
            }
        }
        if chunk.len() + written.len() > IMPORT_EVENTS_MAX {
            import_chunk(store, &mut chunk, &mut chunk_appends, &mut done, &mut progress).await?;
        }
        chunk.extend(written);
        chunk_appends.push(count);
    }
    if let Some(head) = head.as_ref().filter(|_| !head_matched) {
        // The store holds more than this demo, or the demo is empty.
        return Err(another_log(head.position));
    }
    import_chunk(store, &mut chunk, &mut chunk_appends, &mut done, &mut progress).await?;
    Ok(already_present)
}

fn another_log(position: redress_schemas::Position) -> StoreError {
    StoreError::ImportRejected {
        position,
        reason: "the store holds events that are not this demo: the demo loads into an empty store".into(),
    }
}

async fn import_chunk(
    store: &dyn EventStore,
    chunk: &mut Vec<WrittenEvent>,
    chunk_appends: &mut Vec<usize>,
    done: &mut usize,
    progress: &mut impl FnMut(usize),
) -> Result<(), StoreError> {
    if chunk.is_empty() {
        return Ok(());
    }
    debug_assert!(chunk.len() <= IMPORT_EVENTS_MAX, "a chunk of whole appends within the import limit");
    store.import(std::mem::replace(chunk, Vec::with_capacity(IMPORT_EVENTS_MAX))).await?;
    for count in chunk_appends.drain(..) {
        *done += count;
        progress(*done);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
