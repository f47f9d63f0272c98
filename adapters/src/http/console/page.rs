//! The console's HTML: one layout and the pieces of each page, rendered from the JSON the views
//! answer. `maud` escapes every interpolated value, so text from events cannot become markup.

use super::session::SessionUser;
use super::text::{code_label, Lang, Msg};
use crate::http::ApiError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use redress_schemas::Timestamp;
use serde_json::Value;
use std::collections::HashMap;

/// One page being answered: its language, title, who is signed in, the address it answers, and the
/// past instant it shows (if any).
pub struct Page<'a> {
    lang: Lang,
    title: Msg,
    user: Option<&'a SessionUser>,
    here: String,
    as_of: Option<String>,
}

impl<'a> Page<'a> {
    pub fn new(lang: Lang, title: Msg, user: Option<&'a SessionUser>, here: String) -> Page<'a> {
        Page { lang, title, user, here, as_of: None }
    }

    /// The page shows what was true at `as_of` (a banner says so on every such page).
    pub fn with_as_of(mut self, as_of: Option<String>) -> Page<'a> {
        self.as_of = as_of;
        self
    }

    /// The whole page around `body`.
    pub fn render(&self, status: StatusCode, body: Markup) -> Response {
        let lang = self.lang;
        let t = |m: Msg| m.in_lang(lang);
        let markup = html! {
            (DOCTYPE)
            html lang=(lang.tag()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (t(self.title)) " · " (t(Msg::Title)) }
                    link rel="stylesheet" href="/console/assets/console.css";
                    link rel="stylesheet" href="/console/assets/uPlot.min.css";
                    script src="/console/assets/uPlot.iife.min.js" defer {}
                    script src="/console/assets/console.js" defer {}
                }
                body {
                    a.skip href="#main" { (t(Msg::Title)) }
                    header {
                        span.brand { (t(Msg::Title)) }
                        @if let Some(user) = self.user {
                            nav aria-label=(t(Msg::Title)) {
                                a href="/console/needs-attention" { (t(Msg::NeedsAttention)) }
                                a href="/console/open-complaints" { (t(Msg::OpenComplaints)) }
                                a href="/console/problems" { (t(Msg::Problems)) }
                                a href="/console/satisfaction" { (t(Msg::SatisfactionPage)) }
                                a href="/console/suggestions" { (t(Msg::Suggestions)) }
                                a href="/console/answer-gaps" { (t(Msg::AnswerGaps)) }
                                a href="/console/audit" { (t(Msg::Audit)) }
                                a href="/console/operations" { (t(Msg::Operations)) }
                            }
                            span.who { (t(Msg::SignedInAs)) ": " strong #who { (user.name) } " (" (user.role) ")" }
                            form.inline method="post" action="/console/logout" {
                                input type="hidden" name="csrf" value=(user.csrf);
                                button type="submit" #sign-out { (t(Msg::SignOut)) }
                            }
                        }
                        a #lang href=(lang_switch(lang.other(), &self.here)) lang=(lang.other().tag()) { (t(Msg::SwitchLanguage)) }
                    }
                    @if let Some(as_of) = &self.as_of {
                        div.banner #as-of-banner role="status" {
                            (t(Msg::AsOfBanner)) " " strong #as-of { (as_of) } " · " (t(Msg::AsOfBasis)) " · "
                            a href=(without_as_of(&self.here)) { (t(Msg::BackToNow)) }
                        }
                    }
                    main #main {
                        h1 { (t(self.title)) }
                        (body)
                    }
                }
            }
        };
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
    }

    /// Only a piece of a page (the rows a live page fetches again).
    pub fn fragment(&self, body: Markup) -> Response {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body.into_string()).into_response()
    }

    /// A page saying what went wrong.
    pub fn error(&self, status: StatusCode, message: Msg, detail: &str) -> Response {
        let lang = self.lang;
        self.render(
            status,
            html! {
                p.error role="alert" #error { (message.in_lang(lang)) }
                @if !detail.is_empty() { p.detail { (detail) } }
            },
        )
    }

    /// A page for an API error, with its status and message.
    pub fn api_error(&self, error: &ApiError) -> Response {
        let message = match error.status {
            StatusCode::NOT_FOUND => Msg::NotFound,
            StatusCode::FORBIDDEN => Msg::Forbidden,
            StatusCode::SERVICE_UNAVAILABLE => Msg::Unavailable,
            _ => Msg::WriteFailed,
        };
        self.error(error.status, message, &error.message)
    }
}

fn lang_switch(to: Lang, here: &str) -> String {
    let query = serde_urlencoded::to_string([("to", to.code()), ("back", here)]).unwrap_or_default();
    format!("/console/lang?{query}")
}

fn without_as_of(here: &str) -> String {
    let (path, query) = here.split_once('?').unwrap_or((here, ""));
    let kept: Vec<(String, String)> = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "as_of" && k != "cursor")
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
pub fn path_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The sign-in form.
pub fn login_form(lang: Lang, failed: Option<Msg>) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    html! {
        @if let Some(failed) = failed { p.error role="alert" #error { (t(failed)) } }
        form.card method="post" action="/console/login" {
            label for="token" { (t(Msg::Token)) }
            input #token type="password" name="token" autocomplete="current-password" required autofocus;
            p.help { (t(Msg::SignInHelp)) }
            button type="submit" #sign-in { (t(Msg::SignIn)) }
        }
    }
}

/// Which complaint list a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    NeedsAttention,
    OpenComplaints,
}

impl ListKind {
    pub fn title(self) -> Msg {
        match self {
            ListKind::NeedsAttention => Msg::NeedsAttention,
            ListKind::OpenComplaints => Msg::OpenComplaints,
        }
    }

    fn path(self) -> &'static str {
        match self {
            ListKind::NeedsAttention => "/console/needs-attention",
            ListKind::OpenComplaints => "/console/open-complaints",
        }
    }
}

fn str_of<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// An instant as the desk reads it: minutes, UTC.
fn when(value: &Value) -> String {
    value.as_str().map(|s| s.get(..16).unwrap_or(s).replace('T', " ")).unwrap_or_else(|| "—".into())
}

fn select(name: &str, label: Msg, lang: Lang, options: &[&str], chosen: &str, any: Msg) -> Markup {
    html! {
        label { (label.in_lang(lang))
            select name=(name) {
                option value="" selected[chosen.is_empty()] { (any.in_lang(lang)) }
                @for option in options {
                    option value=(option) selected[*option == chosen] { (code_label(option, lang)) }
                }
            }
        }
    }
}

fn text_filter(name: &str, label: Msg, lang: Lang, value: &str) -> Markup {
    html! { label { (label.in_lang(lang)) input type="text" name=(name) value=(value); } }
}

/// A complaint list page: filters, the rows (live unless it shows the past), paging.
pub fn complaint_list(
    lang: Lang,
    kind: ListKind,
    params: &HashMap<String, String>,
    as_of: &Option<String>,
    answer: &Value,
) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    let param = |k: &str| params.get(k).map_or("", String::as_str);
    let count = answer.get("count").and_then(Value::as_u64).unwrap_or(0);
    let next = answer.get("next_cursor").and_then(Value::as_str);
    let mut filters: Vec<(String, String)> =
        params.iter().filter(|(k, _)| *k != "cursor").map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(as_of) = as_of {
        filters.push(("as_of".into(), as_of.clone()));
    }
    filters.sort();
    let link = |cursor: Option<&str>| {
        let mut pairs = filters.clone();
        if let Some(cursor) = cursor {
            pairs.push(("cursor".into(), cursor.to_owned()));
        }
        format!("{}?{}", kind.path(), serde_urlencoded::to_string(pairs).unwrap_or_default())
    };
    html! {
        form.filters method="get" action=(kind.path()) role="search" {
            @match kind {
                ListKind::NeedsAttention => {
                    (select("reason", Msg::Reason, lang,
                        &["overdue", "update_due_soon", "key_customer_not_visited", "issue_persists", "watch_word"],
                        param("reason"), Msg::AnyReason))
                }
                ListKind::OpenComplaints => {
                    (select("severity", Msg::Severity, lang, &["critical", "high", "normal", "low"], param("severity"), Msg::AnySeverity))
                    (select("waiting", Msg::Waiting, lang, &["true", "false"], param("waiting"), Msg::WaitingAny))
                }
            }
            (text_filter("owner", Msg::Owner, lang, param("owner")))
            (text_filter("team", Msg::Team, lang, param("team")))
            label { (t(Msg::AsOf)) input type="datetime-local" name="as_of" value=(as_of.as_deref().map_or(String::new(), |a| a.get(..16).unwrap_or(a).to_owned())); }
            button type="submit" #apply-filters { (t(Msg::Filter)) }
            a href=(kind.path()) { (t(Msg::Clear)) }
        }
        p.count { (t(Msg::Total)) " " span #count { (count) } }
        table.rows data-sortable="1" {
            thead { tr {
                th { button type="button" data-sort="0" { (t(Msg::Complaint)) } }
                th { (t(Msg::Reasons)) }
                th { button type="button" data-sort="2" { (t(Msg::Severity)) } }
                th { button type="button" data-sort="3" { (t(Msg::Status)) } }
                th { button type="button" data-sort="4" { (t(Msg::Owner)) } }
                th { button type="button" data-sort="5" { (t(Msg::Team)) } }
                th { (t(Msg::Waiting)) }
                th { button type="button" data-sort="7" { (t(Msg::ResolutionDue)) } }
                th { button type="button" data-sort="8" { (t(Msg::PromisedDue)) } }
                th { button type="button" data-sort="9" { (t(Msg::NextUpdateDue)) } }
                th { (t(Msg::Customer)) }
            } }
            tbody #rows data-live=[as_of.is_none().then_some("1")] { (complaint_rows(lang, kind, answer)) }
        }
        nav.paging aria-label="paging" {
            @if params.contains_key("cursor") { a href=(link(None)) #first-page { (t(Msg::First)) } }
            @if let Some(next) = next { a href=(link(Some(next))) #next-page { (t(Msg::Next)) } }
        }
        @if as_of.is_none() { p.live #live-status { (t(Msg::LiveOn)) } }
    }
}

/// The rows of a complaint list (also what a live page fetches again).
pub fn complaint_rows(lang: Lang, kind: ListKind, answer: &Value) -> Markup {
    let rows = answer.get("complaints").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    html! {
        @if rows.is_empty() { tr { td colspan="11" { (Msg::Nothing.in_lang(lang)) } } }
        @for row in rows {
            @let id = str_of(row, "complaint_id");
            @let reasons: Vec<&str> = match kind {
                ListKind::NeedsAttention => row.get("reasons"),
                ListKind::OpenComplaints => row.get("overdue_reasons"),
            }.and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            @let overdue: Vec<&str> = row.get("overdue_reasons").and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            tr data-complaint=(id) {
                td { a href={ "/console/complaints/" (path_segment(id)) } { (id) } }
                td.reasons {
                    @for reason in &reasons { span.tag { (code_label(reason, lang)) } }
                    @if kind == ListKind::NeedsAttention && !overdue.is_empty() {
                        span.sub { "(" @for (i, r) in overdue.iter().enumerate() { @if i > 0 { ", " } (code_label(r, lang)) } ")" }
                    }
                    @if let Some(word) = row.get("watch_word").and_then(Value::as_str) { span.sub { "「" (word) "」" } }
                }
                td { (code_label(str_of(row, "severity"), lang)) }
                td { (code_label(str_of(row, "status"), lang)) }
                td.owner { (str_of(row, "owner")) }
                td { (str_of(row, "team")) }
                td { @if row.get("waiting_on_customer").and_then(Value::as_bool).unwrap_or(false) { (Msg::Yes.in_lang(lang)) } }
                td.due[overdue.contains(&"resolution")] { (when(&row["resolution_due"])) }
                td.due[overdue.contains(&"promise")] { (when(&row["promised_due"])) }
                td.due[overdue.contains(&"update")] { (when(&row["next_update_due"])) }
                td {
                    @let customer = str_of(row, "customer_id");
                    a href={ "/console/customers/" (path_segment(customer)) } { (customer) }
                    @if str_of(row, "customer_tier") == "key" { " " span.tag.key { (Msg::KeyCustomer.in_lang(lang)) } }
                }
            }
        }
    }
}

/// A customer's complaints.
pub fn customer(lang: Lang, customer_id: &str, answer: &Value) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    let rows = answer.get("complaints").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    html! {
        h2 { (customer_id) }
        p.count { (t(Msg::Total)) " " span #count { (answer.get("count").and_then(Value::as_u64).unwrap_or(0)) } }
        table.rows {
            thead { tr { th { (t(Msg::Complaint)) } th { (t(Msg::Received)) } th { (t(Msg::Category)) } th { (t(Msg::Status)) } th { (t(Msg::Description)) } } }
            tbody {
                @if rows.is_empty() { tr { td colspan="5" { (t(Msg::Nothing)) } } }
                @for row in rows {
                    @let id = str_of(row, "complaint_id");
                    tr {
                        td { a href={ "/console/complaints/" (path_segment(id)) } { (id) } }
                        td { (when(&row["received_at"])) }
                        td { (str_of(row, "category")) }
                        td { (code_label(str_of(row, "status"), lang)) }
                        td { (str_of(row, "description")) }
                    }
                }
            }
        }
    }
}

/// What the last form post on a complaint page did, from the address it was sent back to.
pub enum Notice {
    None,
    Done(String),
    Failed(String, String),
}

impl Notice {
    pub fn of(query: &HashMap<String, String>) -> Notice {
        match (query.get("done"), query.get("failed")) {
            (Some(done), _) => Notice::Done(done.clone()),
            (None, Some(failed)) => Notice::Failed(failed.clone(), query.get("reason").cloned().unwrap_or_default()),
            (None, None) => Notice::None,
        }
    }
}

/// The deadlines a complaint's page draws on its time axis, with their labels.
const DEADLINES: &[(&str, Msg)] = &[
    ("ack_due", Msg::AckDue),
    ("resolution_due", Msg::ResolutionDue),
    ("promised_due", Msg::PromisedDue),
    ("next_update_due", Msg::NextUpdateDue),
];

fn instant(value: &Value) -> Option<i64> {
    value.as_str().and_then(|s| Timestamp::parse(s).ok()).map(Timestamp::unix_nanos)
}

/// The complaint's events and deadlines on one time axis (SVG; no script needed).
fn timeline(lang: Lang, complaint: &Value, events: &[Value]) -> Markup {
    const WIDTH: f64 = 1000.0;
    const LEFT: f64 = 20.0;
    const RIGHT: f64 = 980.0;
    let now = instant(&complaint["as_of"]).unwrap_or_else(|| Timestamp::now().unix_nanos());
    let mut points: Vec<i64> = events.iter().filter_map(|e| instant(&e["occurred_at"])).collect();
    points.extend(DEADLINES.iter().filter_map(|(key, _)| instant(&complaint[*key])));
    points.push(now);
    let start = points.iter().copied().min().unwrap_or(now);
    let end = points.iter().copied().max().unwrap_or(now).max(start + 1);
    let x = |t: i64| LEFT + (t - start) as f64 / (end - start) as f64 * (RIGHT - LEFT);
    html! {
        svg.timeline viewBox={ "0 0 " (WIDTH) " 124" } role="img" aria-label=(Msg::Timeline.in_lang(lang)) {
            line x1=(LEFT) y1="60" x2=(RIGHT) y2="60" class="axis" {}
            @for (row, (key, label)) in DEADLINES.iter().enumerate() {
                @if let Some(t) = instant(&complaint[*key]) {
                    g class={ "deadline " (key) } {
                        line x1=(x(t)) y1="15" x2=(x(t)) y2="105" {}
                        // Labels on alternating rows: deadlines close together stay readable.
                        text x=(x(t)) y=(if row % 2 == 0 { 11 } else { 24 }) { (label.in_lang(lang)) }
                        title { (label.in_lang(lang)) ": " (when(&complaint[*key])) }
                    }
                }
            }
            g class="now" {
                line x1=(x(now)) y1="30" x2=(x(now)) y2="90" {}
                text x=(x(now)) y="118" { (Msg::Now.in_lang(lang)) }
            }
            @for event in events {
                @if let Some(t) = instant(&event["occurred_at"]) {
                    circle cx=(x(t)) cy="60" r="5" class={ "event " (str_of(event, "event_type")) } {
                        title { (when(&event["occurred_at"])) " " (code_label(str_of(event, "event_type"), lang)) }
                    }
                }
            }
        }
    }
}

/// A short reading of an event's data: its texts and values, keys in the event's own order.
fn summary(data: &Value) -> String {
    data.as_object()
        .map(|object| {
            object
                .iter()
                .map(|(key, value)| match value {
                    Value::String(s) => format!("{key}: {s}"),
                    other => format!("{key}: {other}"),
                })
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .unwrap_or_default()
}

fn hidden(csrf: &str, version: u64) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); input type="hidden" name="version" value=(version); }
}

/// The shortcut forms of a complaint's next steps (only for roles that write).
fn action_forms(lang: Lang, complaint_id: &str, version: u64, csrf: &str) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    let action = |name: &str| format!("/console/complaints/{}/{name}", path_segment(complaint_id));
    let vias = |name: &str, options: &[&str]| {
        html! { label { (t(Msg::Via)) select name=(name) { @for o in options { option value=(o) { (code_label(o, lang)) } } } } }
    };
    html! {
        section.actions #actions aria-label=(t(Msg::Actions)) {
            h2 { (t(Msg::Actions)) }
            form.card #assign-form method="post" action=(action("assign")) {
                h3 { (t(Msg::Assign)) }
                (hidden(csrf, version))
                label { (t(Msg::Assignee)) input type="text" name="assignee" required; }
                label { (t(Msg::Team)) input type="text" name="team"; }
                button type="submit" { (t(Msg::Assign)) }
            }
            form.card #acknowledge-form method="post" action=(action("acknowledge")) {
                h3 { (t(Msg::Acknowledge)) }
                (hidden(csrf, version))
                (vias("via", &["phone", "email", "sms", "letter", "in_person"]))
                label { (t(Msg::Message)) textarea name="message" required {} }
                button type="submit" { (t(Msg::Acknowledge)) }
            }
            form.card #offer-form method="post" action=(action("offer")) {
                h3 { (t(Msg::OfferSolution)) }
                (hidden(csrf, version))
                label { (t(Msg::SolutionId)) input type="text" name="solution_id" required; }
                label { (t(Msg::Description)) textarea name="description" required {} }
                label { (t(Msg::PromisedBy)) input type="datetime-local" name="promised_by"; }
                button type="submit" { (t(Msg::OfferSolution)) }
            }
            form.card #revisit-form method="post" action=(action("revisit")) {
                h3 { (t(Msg::RecordRevisit)) }
                (hidden(csrf, version))
                (vias("via", &["phone", "visit"]))
                label { (t(Msg::Satisfaction)) input type="number" name="satisfaction" min="1" max="5" required; }
                label.check { input type="checkbox" name="issue_persists"; (t(Msg::IssuePersists)) }
                label { (t(Msg::Note)) input type="text" name="note"; }
                button type="submit" { (t(Msg::RecordRevisit)) }
            }
        }
    }
}

/// A complaint: its state, deadlines, timeline, events, and (for writers) the next-step forms.
pub fn complaint(lang: Lang, complaint: &Value, events: &[Value], forms: Option<&str>, notice: Notice) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    let id = str_of(complaint, "complaint_id");
    let version = complaint.get("version").and_then(Value::as_u64).unwrap_or(0);
    let overdue: Vec<&str> = complaint
        .get("overdue_reasons")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    html! {
        @match &notice {
            Notice::Done(action) => p.ok role="status" #notice data-action=(action) { (t(Msg::Saved)) },
            Notice::Failed(action, reason) => p.error role="alert" #notice data-action=(action) { (t(Msg::WriteFailed)) ": " (reason) },
            Notice::None => {},
        }
        h2 #complaint-id { (id) }
        dl.facts {
            dt { (t(Msg::Status)) } dd #status { (code_label(str_of(complaint, "status"), lang)) }
            dt { (t(Msg::Owner)) } dd #owner { (str_of(complaint, "owner")) }
            dt { (t(Msg::Team)) } dd #team { (str_of(complaint, "team")) }
            dt { (t(Msg::Severity)) } dd { (code_label(str_of(complaint, "severity"), lang)) }
            dt { (t(Msg::Channel)) } dd { (code_label(str_of(complaint, "channel"), lang)) }
            dt { (t(Msg::Customer)) } dd {
                @let customer = str_of(complaint, "customer_id");
                a href={ "/console/customers/" (path_segment(customer)) } { (customer) }
                " (" (code_label(str_of(complaint, "customer_tier"), lang)) ")"
            }
            dt { (t(Msg::Waiting)) } dd { @if complaint["waiting_on_customer"].as_bool().unwrap_or(false) { (t(Msg::Yes)) } @else { (t(Msg::No)) } }
            dt { (t(Msg::Escalation)) } dd { (complaint["escalation_level"]) }
            @for (key, label) in DEADLINES {
                dt { (label.in_lang(lang)) }
                dd.due[overdue.iter().any(|r| key.starts_with(r) || (*r == "acknowledgement" && *key == "ack_due"))] { (when(&complaint[*key])) }
            }
            dt { (t(Msg::Overdue)) } dd { @for r in &overdue { span.tag { (code_label(r, lang)) } } }
            dt { (t(Msg::Description)) } dd { (str_of(complaint, "description")) }
        }
        h2 { (t(Msg::Timeline)) }
        (timeline(lang, complaint, events))
        table.rows.events {
            thead { tr { th { (t(Msg::Occurred)) } th { (t(Msg::Recorded)) } th { (t(Msg::Event)) } th { (t(Msg::Actor)) } th { (t(Msg::RecordedBy)) } th { (t(Msg::Details)) } } }
            tbody {
                @for event in events {
                    tr {
                        td { (when(&event["occurred_at"])) }
                        td { (when(&event["recorded_at"])) }
                        td { (code_label(str_of(event, "event_type"), lang)) }
                        td { (event["metadata"].get("actor").and_then(Value::as_str).unwrap_or("")) }
                        td { (str_of(event, "recorded_by")) }
                        td.details { (summary(&event["data"])) }
                    }
                }
            }
        }
        @match forms {
            Some(csrf) => (action_forms(lang, id, version, csrf)),
            None => p.readonly #read-only { (t(Msg::ReadOnly)) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_from_events_is_escaped_and_never_becomes_markup() {
        let complaint = json!({"complaint_id": "C-1", "description": "<script>alert(1)</script>", "version": 0});
        let html = super::complaint(Lang::En, &complaint, &[], None, Notice::None).into_string();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn a_reader_gets_no_form_and_a_writer_gets_forms_carrying_the_csrf_token_and_version() {
        let complaint = json!({"complaint_id": "C-1", "version": 7});
        let read_only = super::complaint(Lang::Zh, &complaint, &[], None, Notice::None).into_string();
        assert!(!read_only.contains("<form"));
        let writer = super::complaint(Lang::Zh, &complaint, &[], Some("tok123"), Notice::None).into_string();
        assert_eq!(writer.matches("<form").count(), 4);
        assert_eq!(writer.matches(r#"name="csrf" value="tok123""#).count(), 4);
        assert_eq!(writer.matches(r#"name="version" value="7""#).count(), 4);
    }

    #[test]
    fn path_segments_are_encoded_and_back_links_drop_the_instant_and_cursor() {
        assert_eq!(path_segment("C-1/../x y"), "C-1%2F..%2Fx%20y");
        assert_eq!(
            without_as_of("/console/open-complaints?owner=a&as_of=2026&cursor=x"),
            "/console/open-complaints?owner=a"
        );
        assert_eq!(without_as_of("/console/needs-attention?as_of=2026"), "/console/needs-attention");
    }
}
