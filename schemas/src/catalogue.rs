//! The event catalogue of EVENTS.md as Rust types.
//!
//! One table (the `catalogue!` invocation below) names every event type with its wire name, its stable
//! binary code and its current schema version; the enums and their dispatch are generated from it, so a
//! new type is one line here plus its payload struct.
//!
//! Binary-stability rules (bincode is not self-describing): never reorder or remove payload fields or enum
//! variants; add enum variants only at the end; adding a field means a new schema version, a frozen copy
//! of the old struct in [`crate::upcast`], and an upcaster. New event types get codes in their stream
//! kind's range: complaints 1.., standard answers 101.., problems 201.., customers 301...

use crate::ids::StreamKind;
use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a complaint reached the company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Hotline,
    Email,
    Web,
    Letter,
    InPerson,
    Survey,
    Social,
    Other,
}

/// How serious a complaint is; decides its service-level deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Normal,
    High,
    Critical,
}

/// Key customers get a senior manager's apology visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerTier {
    Standard,
    Key,
}

/// How an acknowledgement or apology reached the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactVia {
    Phone,
    Email,
    Letter,
    Sms,
    InPerson,
}

/// How a revisit was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevisitVia {
    Phone,
    Visit,
}

/// How a complaint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Resolved,
    Withdrawn,
    Unfounded,
    Refunded,
    Replaced,
}

/// `complaint_received`: the first event of a complaint stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintReceived {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub complaint_id: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub customer_id: String,
    pub channel: Channel,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub category: String,
    pub severity: Severity,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub description: String,
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub customer_tier: Option<CustomerTier>,
}

/// `complaint_acknowledged`: the first one stops the acknowledgement clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintAcknowledged {
    pub via: ContactVia,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub message: String,
}

/// `apology_sent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApologySent {
    pub via: ContactVia,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub message: String,
}

/// `cause_analyzed` (schema version 2: adds the optional `corrective_action` that removes the root cause).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CauseAnalyzed {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub root_cause: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub responsible_department: String,
    /// Is the complaint factually right?
    pub founded: bool,
    /// What is done so the same cause does not come back (schema version 2).
    #[serde(default)]
    pub corrective_action: Option<String>,
}

/// `solution_offered`: one of possibly several alternatives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SolutionOffered {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub solution_id: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub description: String,
    #[serde(default)]
    pub promised_by: Option<Timestamp>,
}

/// `solution_accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SolutionAccepted {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub solution_id: String,
}

/// `solution_rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SolutionRejected {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub solution_id: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub reason: String,
}

/// `commitment_made`: sets the promised date to `due_at` (schema version 2: adds the optional `solution_id`
/// the promise is about).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitmentMade {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub what: String,
    /// When it falls due: after the event's `occurred_at`.
    pub due_at: Timestamp,
    /// The offered solution the promise is about (schema version 2).
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    #[serde(default)]
    pub solution_id: Option<String>,
}

/// `progress_updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressUpdated {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub note: String,
    pub customer_informed: bool,
}

/// `escalated`: raises the escalation level by one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalated {
    /// e.g. supervisor, department_head, executive.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub to: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub reason: String,
}

/// `standard_answer_used`: feeds back into suggestions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardAnswerUsed {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub answer_id: String,
}

/// `solution_delivered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SolutionDelivered {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub solution_id: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub note: String,
}

/// `resolution_confirmed`: `satisfied: false` sends the complaint back to in-progress (schema version 2: adds
/// the optional `via`, how the customer confirmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionConfirmed {
    pub satisfied: bool,
    #[serde(default)]
    pub comment: Option<String>,
    /// How the customer's confirmation reached the desk (schema version 2).
    #[serde(default)]
    pub via: Option<ContactVia>,
}

/// `revisit_done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisitDone {
    pub via: RevisitVia,
    /// 1 (very unhappy) ..= 5 (very satisfied).
    #[schemars(range(min = 1, max = 5))]
    pub satisfaction: u8,
    pub issue_persists: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// `apology_visit_made` (道歉小组: key customers and major complaints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApologyVisitMade {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub visitor: String,
    #[serde(default)]
    pub gift: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// `complaint_reopened`: back to in-progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintReopened {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub reason: String,
}

/// `complaint_closed` (schema version 2: adds the optional `override_reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintClosed {
    pub outcome: Outcome,
    /// Why a resolved, refunded or replaced complaint is closed without the customer's satisfied
    /// confirmation (schema version 2); given, it is not blank.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// `complaint_assigned` (v1.1): the latest assignment names the complaint's owner; a new one is a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintAssigned {
    /// The agent's id.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub assignee: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// `waiting_on_customer` (v1.1): every running service-level clock pauses until `customer_responded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitingOnCustomer {
    /// e.g. the question asked.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub reason: String,
}

/// `customer_responded` (v1.1): the clocks run again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerResponded {
    #[serde(default)]
    pub note: Option<String>,
}

/// How a linked complaint relates to its link's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkRelation {
    DuplicateOf,
    SameProblem,
    FollowUpOf,
}

/// The prefixes a `complaint_linked` target may have: another complaint or a problem.
pub const LINK_TARGET_PREFIXES: [&str; 2] = ["complaint-", "problem-"];

/// `complaint_linked` (v1.1): this complaint relates to another complaint or to a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintLinked {
    /// A `complaint-` or `problem-` stream name, not this complaint's own; the stream must exist.
    #[schemars(length(min = 1, max = 200), regex(pattern = r"^(complaint|problem)-[A-Za-z0-9_.:-]+$"))]
    pub target: String,
    pub relation: LinkRelation,
    #[serde(default)]
    pub note: Option<String>,
}

/// `problem_identified` (v1.1): the first event of a `problem-` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemIdentified {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub problem_id: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub title: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub category: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub root_cause: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub responsible_department: String,
}

/// `corrective_action_taken` (v1.1): what was done to remove a problem's cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectiveActionTaken {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub action: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub owner: String,
    /// When the action should be complete, if a date was set.
    #[serde(default)]
    pub due_at: Option<Timestamp>,
}

/// `problem_resolved` (v1.1): the cause is gone, and how that was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemResolved {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub verification: String,
}

/// `problem_reopened` (v1.1): the cause came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemReopened {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub reason: String,
}

/// Languages one standard answer may be translated into (`translations`).
pub const TRANSLATIONS_MAX: usize = 16;

/// A BCP 47 language tag as `translations` takes it: a 2–3 letter language, then subtags of 1–8 letters
/// or digits (`en`, `zh-Hant`, `pt-BR`). At most 35 characters.
pub const LANGUAGE_TAG_PATTERN: &str = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$";

/// Whether `tag` is a language tag `translations` takes ([`LANGUAGE_TAG_PATTERN`]).
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or("");
    let subtags: Vec<&str> = parts.collect();
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && subtags.len() <= 3
        && subtags.iter().all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// One language's text of a standard answer (v1.1): what `translations` maps a language tag to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerTranslation {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub title: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub answer: String,
    #[schemars(inner(length(min = 1), regex(pattern = r"\S")))]
    pub keywords: Vec<String>,
}

/// A standard answer's texts in other languages than its own, by BCP 47 tag (v1.1).
pub type Translations = BTreeMap<String, AnswerTranslation>;

fn translations_schema(generator: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    let mut schema = generator.subschema_for::<Translations>().into_object();
    let object = schema.object();
    object.min_properties = Some(1);
    object.max_properties = Some(TRANSLATIONS_MAX as u32);
    object.property_names = Some(Box::new(schemars::schema::Schema::Object(schemars::schema::SchemaObject {
        string: Some(Box::new(schemars::schema::StringValidation {
            pattern: Some(LANGUAGE_TAG_PATTERN.to_owned()),
            ..Default::default()
        })),
        ..Default::default()
    })));
    schema.metadata().description = Some(format!(
        "The answer in other languages, by BCP 47 tag (e.g. \"en\"), at most {TRANSLATIONS_MAX}: each is matched \
         like the answer's own text."
    ));
    schemars::schema::Schema::Object(schema)
}

/// [`translations_schema`] that also admits `null` (read as absent): the publication's, whose `default` is
/// `null`. A revision's stays non-null, like its other fields (a revision of only nulls is refused).
fn nullable_translations_schema(generator: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    use schemars::schema::{InstanceType, Schema, SingleOrVec};
    match translations_schema(generator) {
        Schema::Object(mut schema) => {
            schema.instance_type = Some(SingleOrVec::Vec(vec![InstanceType::Object, InstanceType::Null]));
            Schema::Object(schema)
        }
        other => other,
    }
}

/// `standard_answer_published`: the first event of a `qa-` stream (schema version 2: adds the optional
/// `translations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardAnswerPublished {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub answer_id: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub category: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub title: String,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub answer: String,
    #[schemars(inner(length(min = 1), regex(pattern = r"\S")))]
    pub keywords: Vec<String>,
    /// The answer in other languages (schema version 2).
    #[serde(default)]
    #[schemars(schema_with = "nullable_translations_schema")]
    pub translations: Option<Translations>,
}

/// `standard_answer_revised`: any of the fields, at least one (schema version 2: adds the optional
/// `translations`).
///
/// The schema says a given field is a non-blank value (`null` reads as absent, but a revision of only
/// nulls is refused); "at least one" is `minProperties` (`crate::jsonschema`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardAnswerRevised {
    #[serde(default)]
    #[schemars(with = "String", length(min = 1), regex(pattern = r"\S"))]
    pub title: Option<String>,
    #[serde(default)]
    #[schemars(with = "String", length(min = 1), regex(pattern = r"\S"))]
    pub answer: Option<String>,
    #[serde(default)]
    #[schemars(with = "Vec<String>", inner(length(min = 1), regex(pattern = r"\S")))]
    pub keywords: Option<Vec<String>>,
    #[serde(default)]
    #[schemars(with = "String", length(min = 1), regex(pattern = r"\S"))]
    pub category: Option<String>,
    /// Languages given replace those languages; the others stay (schema version 2).
    #[serde(default)]
    #[schemars(schema_with = "translations_schema")]
    pub translations: Option<Translations>,
}

/// `standard_answer_retired`: retired answers are never suggested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardAnswerRetired {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub reason: String,
}

/// `customer_data_erased` (v1.1): the first and only event of a `customer-<customer_id>` stream. It
/// records that the customer's personal data was erased on request (EVENTS.md "Personal data"): the
/// evidence of the erasure stays in the log while the erased texts can no longer be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerDataErased {
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub customer_id: String,
    /// Who asked for the erasure (a person or a ticket of the data-protection office).
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub requested_by: String,
    /// The law or article the erasure follows, e.g. `GDPR Art. 17` or `PIPL Art. 47`.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub legal_basis: String,
}

macro_rules! catalogue {
    ($( $variant:ident($payload:ident) = $name:literal, code $code:literal, version $version:literal, stream $kind:ident; )*) => {
        /// The payload of an event, one variant per event type of EVENTS.md.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum EventData {
            $( #[doc = concat!("`", $name, "`")] $variant($payload), )*
        }

        /// The type of an event: its wire name, binary code and current schema version.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $( #[doc = concat!("`", $name, "`")] $variant, )*
        }

        impl EventType {
            /// Every event type of the catalogue.
            pub const ALL: &'static [EventType] = &[$( EventType::$variant, )*];

            /// The wire name (`complaint_received`, ...).
            pub const fn name(self) -> &'static str {
                match self { $( EventType::$variant => $name, )* }
            }

            /// The stable code stored in binary records. Never reuse or change one.
            pub const fn code(self) -> u16 {
                match self { $( EventType::$variant => $code, )* }
            }

            /// The schema version new events of this type are written with.
            pub const fn schema_version(self) -> u16 {
                match self { $( EventType::$variant => $version, )* }
            }

            /// The kind of stream this type may be appended to.
            pub const fn stream_kind(self) -> StreamKind {
                match self { $( EventType::$variant => StreamKind::$kind, )* }
            }

            /// The type with wire name `name`.
            pub fn from_name(name: &str) -> Option<EventType> {
                match name { $( $name => Some(EventType::$variant), )* _ => None }
            }

            /// The type with binary code `code`.
            pub fn from_code(code: u16) -> Option<EventType> {
                match code { $( $code => Some(EventType::$variant), )* _ => None }
            }

            /// The JSON Schema of this type's `data` object.
            pub fn data_schema(self) -> schemars::schema::RootSchema {
                match self { $( EventType::$variant => schemars::schema_for!($payload), )* }
            }
        }

        impl EventData {
            /// This payload's type.
            pub const fn event_type(&self) -> EventType {
                match self { $( EventData::$variant(_) => EventType::$variant, )* }
            }

            /// Parses the `data` object of an event of type `event_type`; the error names the bad field.
            pub(crate) fn from_json_value(
                event_type: EventType,
                value: serde_json::Value,
            ) -> Result<EventData, serde_path_to_error::Error<serde_json::Error>> {
                Ok(match event_type {
                    $( EventType::$variant => EventData::$variant(serde_path_to_error::deserialize(value)?), )*
                })
            }

            /// The payload as a JSON value (absent optional fields are `null`).
            pub(crate) fn to_json_value_with_nulls(&self) -> serde_json::Value {
                let value = match self {
                    $( EventData::$variant(payload) => serde_json::to_value(payload), )*
                };
                value.expect("payloads are plain structs with string keys and always serialize")
            }

            /// Appends the payload's current-version binary form to `out`.
            pub(crate) fn encode_payload(&self, out: &mut Vec<u8>) -> Result<(), bincode::Error> {
                match self {
                    $( EventData::$variant(payload) => crate::codec::encode_into(out, payload), )*
                }
            }

            /// Reads a payload of the current schema version of `event_type`.
            pub(crate) fn decode_current(event_type: EventType, bytes: &[u8]) -> Result<EventData, bincode::Error> {
                Ok(match event_type {
                    $( EventType::$variant => EventData::$variant(crate::codec::decode_exact(bytes)?), )*
                })
            }
        }
    };
}

catalogue! {
    ComplaintReceived(ComplaintReceived) = "complaint_received", code 1, version 1, stream Complaint;
    ComplaintAcknowledged(ComplaintAcknowledged) = "complaint_acknowledged", code 2, version 1, stream Complaint;
    ApologySent(ApologySent) = "apology_sent", code 3, version 1, stream Complaint;
    CauseAnalyzed(CauseAnalyzed) = "cause_analyzed", code 4, version 2, stream Complaint;
    SolutionOffered(SolutionOffered) = "solution_offered", code 5, version 1, stream Complaint;
    SolutionAccepted(SolutionAccepted) = "solution_accepted", code 6, version 1, stream Complaint;
    SolutionRejected(SolutionRejected) = "solution_rejected", code 7, version 1, stream Complaint;
    CommitmentMade(CommitmentMade) = "commitment_made", code 8, version 2, stream Complaint;
    ProgressUpdated(ProgressUpdated) = "progress_updated", code 9, version 1, stream Complaint;
    Escalated(Escalated) = "escalated", code 10, version 1, stream Complaint;
    StandardAnswerUsed(StandardAnswerUsed) = "standard_answer_used", code 11, version 1, stream Complaint;
    SolutionDelivered(SolutionDelivered) = "solution_delivered", code 12, version 1, stream Complaint;
    ResolutionConfirmed(ResolutionConfirmed) = "resolution_confirmed", code 13, version 2, stream Complaint;
    RevisitDone(RevisitDone) = "revisit_done", code 14, version 1, stream Complaint;
    ApologyVisitMade(ApologyVisitMade) = "apology_visit_made", code 15, version 1, stream Complaint;
    ComplaintReopened(ComplaintReopened) = "complaint_reopened", code 16, version 1, stream Complaint;
    ComplaintClosed(ComplaintClosed) = "complaint_closed", code 17, version 2, stream Complaint;
    ComplaintAssigned(ComplaintAssigned) = "complaint_assigned", code 18, version 1, stream Complaint;
    WaitingOnCustomer(WaitingOnCustomer) = "waiting_on_customer", code 19, version 1, stream Complaint;
    CustomerResponded(CustomerResponded) = "customer_responded", code 20, version 1, stream Complaint;
    ComplaintLinked(ComplaintLinked) = "complaint_linked", code 21, version 1, stream Complaint;
    StandardAnswerPublished(StandardAnswerPublished) = "standard_answer_published", code 101, version 2, stream StandardAnswer;
    StandardAnswerRevised(StandardAnswerRevised) = "standard_answer_revised", code 102, version 2, stream StandardAnswer;
    StandardAnswerRetired(StandardAnswerRetired) = "standard_answer_retired", code 103, version 1, stream StandardAnswer;
    ProblemIdentified(ProblemIdentified) = "problem_identified", code 201, version 1, stream Problem;
    CorrectiveActionTaken(CorrectiveActionTaken) = "corrective_action_taken", code 202, version 1, stream Problem;
    ProblemResolved(ProblemResolved) = "problem_resolved", code 203, version 1, stream Problem;
    ProblemReopened(ProblemReopened) = "problem_reopened", code 204, version 1, stream Problem;
    CustomerDataErased(CustomerDataErased) = "customer_data_erased", code 301, version 1, stream Customer;
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
