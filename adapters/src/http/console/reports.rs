//! The console's reading pages beyond the complaint lists: problems and repeat customers, satisfaction
//! and service levels, answer suggestions, answer gaps, audit and operations. Each renders the JSON its
//! view already answers; charts are drawn in the browser by the vendored uPlot from the numbers the
//! page also shows as a table (a chart never holds a number the table does not).

use super::page::path_segment;
use super::text::{code_label, Lang, Msg};
use maud::{html, Markup};
use serde_json::{json, Value};
use std::collections::HashMap;

fn list<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[][..], Vec::as_slice)
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn day(value: &Value) -> String {
    value.as_str().map(|s| s.get(..10).unwrap_or(s).to_owned()).unwrap_or_else(|| "—".into())
}

fn percent(value: &Value) -> String {
    value.as_f64().map_or_else(|| "—".into(), |share| format!("{:.1}%", share * 100.0))
}

fn complaint_link(id: &str) -> Markup {
    html! { a href={ "/console/complaints/" (path_segment(id)) } { (id) } }
}

/// A chart the page script draws: `data-chart` holds `{"kind", "labels", "series": [{"name", "values"}],
/// "marks"}`. The same numbers are in the table beside it.
fn chart(id: &str, label: &str, spec: Value) -> Markup {
    html! { div.chart id=(id) role="img" aria-label=(label) data-chart=(spec.to_string()) {} }
}

/// Problems (root causes), most recurrences first, each with its monthly linked complaints around its
/// corrective actions; then the customers who complain again.
pub fn problems(lang: Lang, problems: &Value, repeat: &Value) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    html! {
        @for problem in list(problems, "problems") {
            @let id = text(problem, "problem_id");
            section.problem data-problem=(id) {
                h2 { (id) " · " (text(problem, "title")) }
                p { (t(Msg::Status)) ": " span.tag { (code_label(text(problem, "status"), lang)) } " · "
                    (t(Msg::Linked)) ": " strong.linked { (problem["linked_count"]) } " · "
                    (t(Msg::Recurrences)) ": " strong.recurrences { (problem["recurrence_count"]) } }
                @let months = list(problem, "linked_by_month");
                @let actions = list(problem, "corrective_actions");
                @let spec = json!({
                    "kind": "bars",
                    "labels": months.iter().map(|m| text(m, "month")).collect::<Vec<_>>(),
                    "series": [{"name": t(Msg::Linked), "values": months.iter().map(|m| m["complaints"].clone()).collect::<Vec<_>>()}],
                    "marks": actions.iter().map(|a| a["taken_at"].as_str().and_then(|s| s.get(..7)).unwrap_or("")).collect::<Vec<_>>(),
                });
                div.side {
                    (chart(&format!("chart-{id}"), t(Msg::ComplaintsByMonth), spec))
                    table.rows.numbers {
                        caption { (t(Msg::ComplaintsByMonth)) }
                        tbody { @for m in months { tr { th { (text(m, "month")) } td { (m["complaints"]) } } } }
                    }
                }
                h3 { (t(Msg::CorrectiveActions)) }
                ul { @for a in actions { li { (day(&a["taken_at"])) " · " (text(a, "action")) " (" (text(a, "owner")) ")" } } }
                p.sub { (t(Msg::Recurrences)) ": "
                    @for c in list(problem, "recurrences") { (complaint_link(c.as_str().unwrap_or(""))) " " } }
            }
        }
        h2 { (t(Msg::RepeatCustomers)) }
        table.rows #repeat-customers {
            thead { tr { th { (t(Msg::Customer)) } th { (t(Msg::Category)) } th { (t(Msg::Count)) } } }
            tbody {
                @for repeat in list(repeat, "repeat_complaints") {
                    @let id = text(repeat, "customer_id");
                    tr {
                        td { a href={ "/console/customers/" (path_segment(id)) } { (id) } }
                        td { (text(repeat, "category")) } td { (repeat["count"]) }
                    }
                }
            }
        }
        h2 { (t(Msg::Trend)) }
        table.rows #root-causes {
            thead { tr { th { (t(Msg::Reason)) } th { (t(Msg::Count)) } th { (t(Msg::Trend)) } } }
            tbody {
                @for cause in list(repeat, "root_causes") {
                    tr {
                        td { (text(cause, "root_cause")) } td { (cause["count"]) }
                        td { (code_label(text(cause, "trend"), lang)) " (" (cause["previous_window"]) " → " (cause["last_window"]) ")" }
                    }
                }
            }
        }
    }
}

/// The satisfaction groups a page may ask for: the view's own `group_by` values.
pub const SATISFACTION_GROUPS: &[&str] = &redress_projections::complaints::SATISFACTION_GROUP_BY;

/// Satisfaction and service levels per group over a period: a chart and the numbers.
pub fn satisfaction(lang: Lang, params: &HashMap<String, String>, answer: &Value) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    let group_by = params.get("group_by").map_or("department", String::as_str);
    let groups = list(answer, "groups");
    let name = |g: &Value| text(g, group_by).to_owned();
    let spec = json!({
        "kind": "bars",
        "labels": groups.iter().map(name).collect::<Vec<_>>(),
        "series": [
            {"name": t(Msg::ShareSatisfied), "values": groups.iter().map(|g| g["share_satisfied"].clone()).collect::<Vec<_>>()},
            {"name": t(Msg::ResolutionMet), "values": groups.iter().map(|g| g["resolution_deadlines_met"].clone()).collect::<Vec<_>>()},
            {"name": t(Msg::PromiseMet), "values": groups.iter().map(|g| g["promise_deadlines_met"].clone()).collect::<Vec<_>>()},
        ],
        "marks": [],
    });
    html! {
        form.filters method="get" action="/console/satisfaction" {
            label { (t(Msg::GroupBy)) select name="group_by" {
                @for g in SATISFACTION_GROUPS { option value=(g) selected[*g == group_by] { (code_label(g, lang)) } }
            } }
            label { (t(Msg::From)) input type="date" name="from" value=(params.get("from").map_or("", |v| v.get(..10).unwrap_or(v))); }
            label { (t(Msg::To)) input type="date" name="to" value=(params.get("to").map_or("", |v| v.get(..10).unwrap_or(v))); }
            button type="submit" #apply-filters { (t(Msg::Filter)) }
        }
        (chart("chart-satisfaction", t(Msg::SatisfactionPage), spec))
        table.rows #satisfaction {
            thead { tr {
                th { (code_label(group_by, lang)) } th { (t(Msg::Complaints)) } th { (t(Msg::ShareSatisfied)) }
                th { (t(Msg::MeanSatisfaction)) } th { (t(Msg::AckMet)) } th { (t(Msg::ResolutionMet)) }
                th { (t(Msg::PromiseMet)) } th { (t(Msg::HoursToResolve)) }
            } }
            tbody {
                @if groups.is_empty() { tr { td colspan="8" { (t(Msg::Nothing)) } } }
                @for g in groups {
                    tr {
                        th { (name(g)) } td { (g["complaints"]) } td { (percent(&g["share_satisfied"])) }
                        td { (g["mean_satisfaction"]) } td { (percent(&g["acknowledgement_deadlines_met"])) }
                        td { (percent(&g["resolution_deadlines_met"])) } td { (percent(&g["promise_deadlines_met"])) }
                        td { (g["hours_to_resolve"]["p50"]) " / " (g["hours_to_resolve"]["p90"]) }
                    }
                }
            }
        }
    }
}

/// The suggestion form and, for a text, the ranked answers with their reasons.
pub fn suggestions(lang: Lang, text_asked: &str, answer: Option<&Value>) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    html! {
        form.card.wide method="get" action="/console/suggestions" {
            label for="complaint-text" { (t(Msg::ComplaintText)) }
            textarea #complaint-text name="text" rows="4" required { (text_asked) }
            button type="submit" #suggest { (t(Msg::Suggest)) }
        }
        @if let Some(answer) = answer {
            ol #suggestions {
                @let found = list(answer, "suggestions");
                @if found.is_empty() { p { (t(Msg::Nothing)) } }
                @for s in found {
                    li data-answer=(text(s, "answer_id")) {
                        strong { (text(s, "answer_id")) " · " (text(s, "title")) }
                        " " span.sub { (t(Msg::Score)) " " (s["score"]) @if let Some(c) = s.get("confidence") { " · " (c) } }
                        p.sub { (t(Msg::Why)) ": " (text(s, "why")) }
                    }
                }
            }
        }
    }
}

/// Complaints no standard answer covers, by theme.
pub fn answer_gaps(lang: Lang, answer: &Value) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    html! {
        table.rows #gaps {
            thead { tr { th { (t(Msg::Category)) } th { (t(Msg::Count)) } th { (t(Msg::SuggestedTitle)) } th { (t(Msg::Reason)) } th { (t(Msg::Examples)) } } }
            tbody {
                @let gaps = list(answer, "gaps");
                @if gaps.is_empty() { tr { td colspan="5" { (t(Msg::Nothing)) } } }
                @for gap in gaps {
                    tr {
                        td { (text(gap, "category")) } td { (gap["count"]) } td { (text(gap, "suggested_title")) }
                        td { (code_label(text(gap, "reason"), lang)) }
                        td { @for c in list(gap, "example_complaint_ids") { (complaint_link(c.as_str().unwrap_or(""))) " " } }
                    }
                }
            }
        }
    }
}

/// The audit page: verify the chain (on request: it reads the whole log), replay the lists as of an
/// instant.
/// What the audit page shows besides the verification: the latest signed checkpoint (`None`: none yet),
/// the erasure just made (its pseudonym), and the admin's CSRF token (`None`: no erasure form).
pub struct AuditExtras<'a> {
    pub checkpoint: Option<&'a Value>,
    pub erased: Option<&'a str>,
    pub erase_csrf: Option<&'a str>,
}

pub fn audit(lang: Lang, verification: Option<&Value>, allowed: bool, extras: &AuditExtras<'_>) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    html! {
        @if !allowed { p.readonly #read-only { (t(Msg::AuditOnly)) } }
        @else {
            section.card.wide #checkpoint {
                h2 { (t(Msg::SignedCheckpoint)) }
                @match extras.checkpoint {
                    Some(c) => dl.facts {
                        dt { (t(Msg::Position)) } dd #checkpoint-position { (c["position"]) }
                        dt { (t(Msg::HeadHash)) } dd { code { (text(c, "hash")) } }
                        dt { (t(Msg::SignedAt)) } dd { (text(c, "recorded_at")) }
                        dt { (t(Msg::PublicKey)) } dd { code #public-key { (text(c, "public_key")) } }
                        dt { (t(Msg::Signature)) } dd { code.wrap { (text(c, "signature")) } }
                    },
                    None => p { (t(Msg::NoCheckpoint)) },
                }
            }
            section.card.wide {
                h2 { (t(Msg::VerifyChain)) }
                form method="get" action="/console/audit" {
                    input type="hidden" name="verify" value="1";
                    button type="submit" #verify { (t(Msg::VerifyChain)) }
                }
                @if let Some(v) = verification {
                    @if v["ok"].as_bool() == Some(true) {
                        p.ok #verification { (t(Msg::ChainIntact)) }
                        dl.facts {
                            dt { (t(Msg::Events)) } dd #verified-events { (v["events"]) }
                            dt { (t(Msg::Position)) } dd { (v["head_position"]) }
                            dt { (t(Msg::HeadHash)) } dd { code { (text(v, "head_hash")) } }
                        }
                    } @else {
                        p.error #verification { (t(Msg::ChainBroken)) ": " (v["position"]) " · " (text(v, "reason")) }
                    }
                }
            }
            section.card.wide {
                h2 { (t(Msg::Replay)) }
                form method="get" action="/console/open-complaints" {
                    label { (t(Msg::AsOf)) input type="datetime-local" name="as_of" required; }
                    button type="submit" #replay { (t(Msg::OpenComplaints)) }
                }
                form method="get" action="/console/needs-attention" {
                    label { (t(Msg::AsOf)) input type="datetime-local" name="as_of" required; }
                    button type="submit" { (t(Msg::NeedsAttention)) }
                }
            }
            @if let Some(csrf) = extras.erase_csrf {
                section.card.wide #erasure {
                    h2 { (t(Msg::Erasure)) }
                    p { (t(Msg::ErasureHelp)) }
                    @if let Some(pseudonym) = extras.erased { p.ok #erased { (t(Msg::Erased)) " " code { (pseudonym) } } }
                    form method="post" action="/console/audit/erase" {
                        input type="hidden" name="csrf" value=(csrf);
                        label { (t(Msg::CustomerId)) input type="text" name="customer_id" required pattern="[A-Za-z0-9_.:-]{1,191}"; }
                        label { (t(Msg::RequestedBy)) input type="text" name="requested_by" required; }
                        label { (t(Msg::LegalBasis)) input type="text" name="legal_basis" required placeholder="GDPR Art. 17 / PIPL Art. 47"; }
                        button type="submit" #erase { (t(Msg::Erase)) }
                    }
                }
            }
        }
    }
}

/// Operations: each projection's checkpoint, lag and state (admins may rebuild), each subscription's
/// position, lag, in-flight and parked events and last error (admins may retry the parked), and the
/// store's health.
pub fn operations(lang: Lang, statuses: &Value, subscriptions: &[Value], health: &Value, csrf: Option<&str>) -> Markup {
    let t = |m: Msg| m.in_lang(lang);
    html! {
        p { (t(Msg::Health)) ": " strong #health { (text(health, "status")) } @if let Some(reason) = health.get("reason").and_then(Value::as_str) { " · " (reason) } }
        table.rows #projections {
            thead { tr { th { (t(Msg::Projection)) } th { (t(Msg::Checkpoint)) } th { (t(Msg::Lag)) } th { (t(Msg::State)) } @if csrf.is_some() { th { (t(Msg::Rebuild)) } } } }
            tbody {
                @for p in list(statuses, "projections") {
                    @let name = text(p, "name");
                    tr {
                        td { (name) } td { (p["checkpoint"]) } td { (p["lag"]) } td { (text(p, "state")) }
                        @if let Some(csrf) = csrf {
                            td { form method="post" action={ "/console/operations/rebuild/" (path_segment(name)) } {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { (t(Msg::Rebuild)) }
                            } }
                        }
                    }
                }
            }
        }
        h2 { (t(Msg::Subscriptions)) }
        table.rows #subscriptions {
            thead { tr {
                th { (t(Msg::Subscriptions)) } th { (t(Msg::Position)) } th { (t(Msg::Lag)) } th { (t(Msg::InFlight)) }
                th { (t(Msg::Parked)) } th { (t(Msg::LastError)) } @if csrf.is_some() { th { (t(Msg::RetryParked)) } }
            } }
            tbody {
                @for sub in subscriptions {
                    @let name = text(sub, "name");
                    tr {
                        td { (name) } td { (sub["position"]) } td { (sub["lag"]) } td { (sub["in_flight"]) }
                        td.parked { (sub["parked"]) } td { (text(sub, "last_error")) }
                        @if let Some(csrf) = csrf {
                            td { @if sub["parked"].as_u64().unwrap_or(0) > 0 {
                                form method="post" action={ "/console/operations/subscriptions/" (path_segment(name)) "/retry" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { (t(Msg::RetryParked)) }
                                }
                            } }
                        }
                    }
                }
            }
        }
    }
}
