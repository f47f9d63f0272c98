//! The complaints fold's views. Each reads the summaries and indexes in memory; only the rows of a
//! page that need a complaint's texts read its full state.

use super::book::{Book, Dimension, GroupFigures, Summary, Sym, NONE};
use crate::keyed::KeyedMap;
use crate::policy::{SlaPolicy, ALERT_LEAD_HOURS_MAX};
use crate::projection::{ProjectionError, Query};
use crate::StateReader;
use redress_engine::lifecycle::{ComplaintStatus, StreamState};
use redress_schemas::{Channel, Timestamp};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

const DAY_NANOS: i64 = 86_400 * 1_000_000_000;
/// Root causes one `repeat-issues` answer lists (the most frequent; `root_cause_count` is the total).
const ROOT_CAUSES_LISTED_MAX: usize = 100;
/// Persisting complaints one answer lists (`persisting_count` is the total).
const PERSISTING_LISTED_MAX: usize = 100;
/// Characters of a complaint's description a history row carries (the whole text is in
/// `GET /complaints/{id}`): a page of 1,000 rows stays small even when descriptions are 1 MiB each.
pub const DESCRIPTION_PREVIEW_CHARS_MAX: usize = 500;
/// Windows whose repeat chains are kept computed at once.
const REPEAT_CACHE_WINDOWS_MAX: usize = 4;
/// A change between two windows is called rising or falling only past this z-score (two-sided 95%).
const TREND_Z_MIN: f64 = 1.96;

const CHANNELS: [Channel; 8] = [
    Channel::Hotline,
    Channel::Email,
    Channel::Web,
    Channel::Letter,
    Channel::InPerson,
    Channel::Survey,
    Channel::Social,
    Channel::Other,
];

const STATUSES: [ComplaintStatus; 8] = [
    ComplaintStatus::Received,
    ComplaintStatus::Acknowledged,
    ComplaintStatus::Investigating,
    ComplaintStatus::SolutionProposed,
    ComplaintStatus::InProgress,
    ComplaintStatus::Resolved,
    ComplaintStatus::Confirmed,
    ComplaintStatus::Closed,
];

fn text_of<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn bad(message: impl Into<String>) -> ProjectionError {
    ProjectionError::BadQuery(message.into())
}

/// Parameters every paged view takes besides its own.
const PAGING: [&str; 2] = ["limit", "cursor"];

fn only(query: &Query, own: &[&str]) -> Result<(), ProjectionError> {
    let known: Vec<&str> = own.iter().chain(PAGING.iter()).copied().collect();
    query.only(&known)
}

/// Splits a cursor `a|b`.
fn cursor_parts(cursor: &str) -> Result<(&str, &str), ProjectionError> {
    cursor.split_once('|').ok_or_else(|| bad(format!("cursor {cursor:?} is not one this view gave")))
}

// ---------------------------------------------------------------------------------------------
// open-complaints

fn open_row(book: &Book, s: &Summary, policy: &SlaPolicy, as_of: Timestamp) -> (bool, Value) {
    let d = policy.deadlines_of(&s.clock(), as_of);
    let overdue = !d.overdue_reasons.is_empty();
    let row = json!({
        "complaint_id": &*s.id, "customer_id": book.name(s.customer), "status": s.status,
        "category": book.name(s.category), "severity": s.severity, "channel": s.channel,
        "received_at": s.received_at, "ack_due": d.ack_due, "acknowledged_at": s.acknowledged_at,
        "resolution_due": d.resolution_due, "promised_due": d.promised_due,
        "next_update_due": d.next_update_due, "last_customer_contact_at": s.last_contact_at,
        "overdue": overdue, "overdue_reasons": d.overdue_reasons,
        "escalation_level": s.escalation_level, "responsible_department": book.name(s.department),
        "customer_tier": s.tier, "owner": book.name(s.owner), "team": book.name(s.team),
        "waiting_on_customer": s.waiting_since.is_some(), "waiting_since": s.waiting_since,
        "recorded_by": book.name(s.recorded_by),
    });
    (overdue, row)
}

/// A `true|false` filter.
fn flag(query: &Query, name: &str) -> Result<Option<bool>, ProjectionError> {
    match query.get(name) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(bad(format!("{name}: {other:?} is not true or false"))),
    }
}

/// `open-complaints`: complaints not closed, earliest unmet deadline first. Filters: `status`, `category`,
/// `department`, `customer_id`, `severity`, `customer_tier`, `owner`, `team`, `recorded_by` (who recorded
/// the receipt), `overdue=true|false`, `waiting=true|false`; paged.
pub(super) fn open_complaints(book: &Book, query: &Query) -> Result<Value, ProjectionError> {
    only(
        query,
        &[
            "status",
            "category",
            "department",
            "customer_id",
            "severity",
            "customer_tier",
            "owner",
            "team",
            "recorded_by",
            "overdue",
            "waiting",
        ],
    )?;
    let paging = query.paging()?;
    let overdue_only = flag(query, "overdue")? == Some(true);
    let waiting = flag(query, "waiting")?;
    let status = match query.get("status") {
        None => None,
        Some(name) => Some(
            STATUSES
                .iter()
                .copied()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| bad(format!("status: {name:?} is not a complaint status")))?,
        ),
    };
    let text_filter = |name: &str| query.get(name).map(str::to_owned);
    let (severity, tier) = (text_filter("severity"), text_filter("customer_tier"));
    // A filter on a name the book has never seen matches nothing.
    let sym_filter = |name: &str| -> Option<Option<Sym>> { query.get(name).map(|v| book.strings.lookup(v)) };
    let (category, department, customer) =
        (sym_filter("category"), sym_filter("department"), sym_filter("customer_id"));
    let (owner, team, recorded_by) = (sym_filter("owner"), sym_filter("team"), sym_filter("recorded_by"));
    let matches = |s: &Summary| {
        status.is_none_or(|st| s.status == st)
            && category.is_none_or(|c| c == Some(s.category))
            && department.is_none_or(|d| d == Some(s.department))
            && customer.is_none_or(|c| c == Some(s.customer))
            && owner.is_none_or(|o| o == Some(s.owner))
            && team.is_none_or(|t| t == Some(s.team))
            && recorded_by.is_none_or(|r| r == Some(s.recorded_by))
            && waiting.is_none_or(|w| w == s.waiting_since.is_some())
            && severity.as_deref().is_none_or(|v| text_of(s.severity) == v)
            && tier.as_deref().is_none_or(|v| s.tier.map(text_of).as_deref() == Some(v))
    };
    let after = queue_cursor(paging.cursor.as_deref())?;
    let (mut count, mut overdue_count, mut more) = (0usize, 0usize, false);
    let mut rows: Vec<(String, Value)> = Vec::with_capacity(paging.limit.min(256));
    for (unmet, id) in &book.queue {
        let Some(&slot) = book.by_id.get(id) else { continue };
        let s = &book.slots[slot as usize];
        if !matches(s) {
            continue;
        }
        // Judge every match (the counts need them all); render only the rows of the page.
        let overdue = !book.policy.deadlines_of(&s.clock(), query.as_of).overdue_reasons.is_empty();
        if overdue_only && !overdue {
            continue;
        }
        count += 1;
        overdue_count += usize::from(overdue);
        if after.as_ref().is_some_and(|a| (*unmet, id) <= (a.0, &a.1)) {
            continue;
        }
        if rows.len() < paging.limit {
            let (_, row) = open_row(book, s, &book.policy, query.as_of);
            rows.push((format!("{unmet}|{id}"), row));
        } else {
            more = true;
        }
    }
    let next_cursor = if more { rows.last().map(|(k, _)| k.clone()) } else { None };
    Ok(json!({
        "as_of": query.as_of, "count": count, "overdue_count": overdue_count,
        "complaints": rows.into_iter().map(|(_, row)| row).collect::<Vec<_>>(), "next_cursor": next_cursor,
    }))
}

/// A cursor into the open queue (`<earliest unmet deadline, ns>|<complaint id>`), as the queue's views
/// give it.
fn queue_cursor(cursor: Option<&str>) -> Result<Option<(i64, Arc<str>)>, ProjectionError> {
    let Some(cursor) = cursor else { return Ok(None) };
    let (unmet, id) = cursor_parts(cursor)?;
    let unmet: i64 = unmet.parse().map_err(|_| bad(format!("cursor {cursor:?} is not one this view gave")))?;
    Ok(Some((unmet, Arc::<str>::from(id))))
}

// ---------------------------------------------------------------------------------------------
// deadline-alerts

/// `deadline-alerts` (v1.1): the deadlines of open complaints not met yet that have passed (`overdue`)
/// or fall due within `lead_hours` (`due_soon`; default the policy's alert lead time, else its update
/// lead time), by the same clocks as `open-complaints`; complaints in deadline order, paged by complaint.
/// Each row's `alert_id` names (complaint, deadline, state, due instant): the server's alert task sends
/// each id once per subscription the policy names, and a moved deadline is a new alert.
pub(super) fn deadline_alerts(book: &Book, query: &Query) -> Result<Value, ProjectionError> {
    only(query, &["lead_hours"])?;
    let paging = query.paging()?;
    let lead_hours = match query.get("lead_hours") {
        None => book.policy.alerts().map_or(book.policy.update_lead_hours(), |a| a.lead_hours),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|h| (0..=ALERT_LEAD_HOURS_MAX).contains(h))
            .ok_or_else(|| bad(format!("lead_hours: {text:?} is not in 0..={ALERT_LEAD_HOURS_MAX}")))?,
    };
    let horizon = query.as_of.plus_seconds(lead_hours * 3_600).unix_nanos();
    let after = queue_cursor(paging.cursor.as_deref())?;
    let (mut count, mut complaints, mut more) = (0usize, 0usize, false);
    let mut rows: Vec<Value> = Vec::new();
    let mut last_key = None;
    for (unmet, id) in &book.queue {
        // The queue's order is a lower bound of each complaint's earliest unmet deadline: past the
        // horizon, no deadline of this complaint or a later one is due soon or overdue.
        if *unmet > horizon {
            break;
        }
        let Some(&slot) = book.by_id.get(id) else { continue };
        let s = &book.slots[slot as usize];
        let alerts = book.policy.alerts_of(&s.clock(), query.as_of, lead_hours);
        if alerts.is_empty() {
            continue;
        }
        count += alerts.len();
        if after.as_ref().is_some_and(|a| (*unmet, id) <= (a.0, &a.1)) {
            continue;
        }
        if complaints == paging.limit {
            more = true;
            continue;
        }
        complaints += 1;
        last_key = Some(format!("{unmet}|{id}"));
        for alert in alerts {
            let (deadline, state) = (alert.deadline.name(), alert.state.name());
            rows.push(json!({
                "alert_id": format!("{id}:{deadline}:{state}:{}", alert.due.unix_nanos()),
                "complaint_id": &**id, "deadline": deadline, "state": state, "due_at": alert.due,
                "status": s.status, "severity": s.severity, "customer_tier": s.tier,
                "owner": book.name(s.owner), "team": book.name(s.team),
            }));
        }
    }
    Ok(json!({
        "as_of": query.as_of, "lead_hours": lead_hours, "count": count, "alerts": rows,
        "next_cursor": if more { last_key } else { None },
    }))
}

// ---------------------------------------------------------------------------------------------
// customer-history

/// `customer-history` (客户档案): one customer's complaints, newest first, with their outcomes. Query:
/// `customer_id` (required); paged.
pub(super) async fn customer_history(
    book: &Book,
    records: &KeyedMap<StreamState>,
    stored: &dyn StateReader,
    query: &Query,
) -> Result<Value, ProjectionError> {
    only(query, &["customer_id"])?;
    let paging = query.paging()?;
    let customer = query.get("customer_id").ok_or_else(|| bad("customer_id is required"))?;
    let mut list: Vec<&Summary> = book
        .strings
        .lookup(customer)
        .and_then(|sym| book.by_customer.get(&sym))
        .into_iter()
        .flatten()
        .map(|&slot| &book.slots[slot as usize])
        .filter(|s| s.received_at <= query.as_of)
        .collect();
    list.sort_by(|a, b| b.received_at.cmp(&a.received_at).then_with(|| b.id.cmp(&a.id)));
    let open_count = list.iter().filter(|s| s.is_open()).count();
    let tier = list.iter().find_map(|s| s.tier);
    let start = match paging.cursor.as_deref() {
        None => 0,
        Some(cursor) => {
            let (at, id) = cursor_parts(cursor)?;
            let at: i64 = at.parse().map_err(|_| bad(format!("cursor {cursor:?} is not one this view gave")))?;
            // Newest first: the next page starts after (older than, or the same instant and a smaller id).
            list.iter().position(|s| (s.received_at.unix_nanos(), &*s.id) < (at, id)).unwrap_or(list.len())
        }
    };
    let page: Vec<&Summary> = list.iter().skip(start).take(paging.limit).copied().collect();
    let next_cursor = (start + page.len() < list.len())
        .then(|| page.last().map(|s| format!("{}|{}", s.received_at.unix_nanos(), s.id)))
        .flatten();
    let ids: Vec<&str> = page.iter().map(|s| &*s.id).collect();
    let full = records.read(&ids, stored).await?;
    let rows: Vec<Value> = page
        .iter()
        .zip(full)
        .map(|(s, state)| {
            let c = state.as_ref().and_then(StreamState::complaint);
            let description = c.map(|c| preview(&c.description));
            json!({
                "complaint_id": &*s.id, "received_at": s.received_at, "channel": s.channel,
                "category": book.name(s.category), "severity": s.severity, "status": s.status,
                "outcome": s.outcome, "closed_at": s.closed_at,
                "description": description.as_ref().map(|d| d.0),
                "description_truncated": description.as_ref().is_some_and(|d| d.1),
                "product": c.and_then(|c| c.product.as_deref()),
                "escalation_level": s.escalation_level, "reopen_count": s.reopen_count,
                "confirmed_satisfied": s.confirmed_satisfied, "last_revisit_satisfaction": s.grades.last(),
                "apology_visits": s.apology_visits,
            })
        })
        .collect();
    Ok(json!({
        "customer_id": customer, "customer_tier": tier, "as_of": query.as_of,
        "complaint_count": list.len(), "count": list.len(), "open_count": open_count,
        "complaints": rows, "next_cursor": next_cursor,
    }))
}

/// The first [`DESCRIPTION_PREVIEW_CHARS_MAX`] characters of `text`, and whether it was cut.
fn preview(text: &str) -> (&str, bool) {
    match text.char_indices().nth(DESCRIPTION_PREVIEW_CHARS_MAX) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

// ---------------------------------------------------------------------------------------------
// repeat-issues

/// Chains of complaints by one customer in one category, each within `window` of the one before, of at
/// least two: largest first, then by first complaint id.
fn repeat_chains(book: &Book, window_days: i64) -> Arc<Vec<(Sym, Sym, Vec<u32>)>> {
    let mut cache = book.repeat_cache.lock().expect("repeat cache lock");
    if let Some(hit) = cache.iter().find(|c| c.changes == book.chain_changes && c.window_days == window_days) {
        return Arc::clone(&hit.chains);
    }
    let window = window_days * DAY_NANOS;
    let mut chains = Vec::new();
    let mut list: Vec<(Sym, Timestamp, &str, u32)> = Vec::new();
    for (&customer, slots) in &book.by_customer {
        if slots.len() < 2 {
            continue;
        }
        // One sort by (category, receipt, id) lays out every category's complaints in order.
        list.clear();
        list.extend(slots.iter().map(|&slot| {
            let s = &book.slots[slot as usize];
            (s.category, s.received_at, &*s.id, slot)
        }));
        list.sort_unstable();
        let mut chain: Vec<u32> = Vec::new();
        let mut previous: Option<(Sym, i64)> = None;
        for &(category, received, _, slot) in &list {
            let received = received.unix_nanos();
            let continues = previous.is_some_and(|(c, at)| c == category && received - at <= window);
            if !continues {
                if chain.len() >= 2 {
                    let first = book.slots[chain[0] as usize].category;
                    chains.push((customer, first, std::mem::take(&mut chain)));
                }
                chain.clear();
            }
            chain.push(slot);
            previous = Some((category, received));
        }
        if chain.len() >= 2 {
            let first = book.slots[chain[0] as usize].category;
            chains.push((customer, first, chain));
        }
    }
    // Longest first, then by the first complaint's id (the cursor's order); keys read once.
    chains.sort_by_cached_key(|(_, _, chain)| {
        (std::cmp::Reverse(chain.len()), Arc::clone(&book.slots[chain[0] as usize].id))
    });
    let chains = Arc::new(chains);
    cache.retain(|c| c.changes == book.chain_changes);
    if cache.len() == REPEAT_CACHE_WINDOWS_MAX {
        cache.remove(0);
    }
    cache.push(super::book::RepeatCache { changes: book.chain_changes, window_days, chains: Arc::clone(&chains) });
    chains
}

/// `rising`/`falling` when the change between the two windows is larger than chance would make it
/// (counts as Poisson: z = (recent − before) / √(recent + before) beyond ±1.96), else `steady`.
pub(crate) fn trend(recent: u64, before: u64) -> &'static str {
    let total = (recent + before) as f64;
    if total == 0.0 {
        return "steady";
    }
    let z = (recent as f64 - before as f64) / total.sqrt();
    if z > TREND_Z_MIN {
        "rising"
    } else if z < -TREND_Z_MIN {
        "falling"
    } else {
        "steady"
    }
}

/// `repeat-issues`: repeat customers ranked by how many complaints they made in a chain (paged); root
/// causes with counts and a trend over the last two windows; reopen rate; complaints whose revisit found
/// the issue persisting. Query: `window_days` (default 90).
pub(super) fn repeat_issues(book: &Book, query: &Query) -> Result<Value, ProjectionError> {
    only(query, &["window_days"])?;
    let paging = query.paging()?;
    let window_days: i64 = query.parse("window_days")?.unwrap_or(90);
    if !(1..=3650).contains(&window_days) {
        return Err(bad("window_days must be in 1..=3650"));
    }
    let as_of = query.as_of;
    let chains = repeat_chains(book, window_days);
    // A chain is in receipt order: what was known at `as_of` is a prefix of it.
    let known = |chain: &[u32]| chain.partition_point(|&slot| book.slots[slot as usize].received_at <= as_of);
    let ranked = chains.iter().filter_map(|(customer, category, chain)| {
        let chain = &chain[..known(chain)];
        (chain.len() >= 2).then_some((customer, category, chain))
    });
    let key = |chain: &[u32]| format!("{:010}|{}", u32::MAX as usize - chain.len(), book.slots[chain[0] as usize].id);
    // The cursor as the key's parts, so that skipping to it formats no key.
    let cursor: Option<(usize, &str)> = paging.cursor.as_deref().and_then(|c| {
        let (len, id) = c.split_once('|')?;
        Some((len.parse().ok()?, id))
    });
    let (mut count, mut rows, mut more): (usize, Vec<(String, Value)>, bool) = (0, Vec::new(), false);
    for (customer, category, chain) in ranked {
        count += 1;
        let after_cursor = cursor.is_none_or(|(len, id)| {
            let inverted = u32::MAX as usize - chain.len();
            (inverted, &*book.slots[chain[0] as usize].id) > (len, id)
        });
        if !after_cursor {
            continue;
        }
        if rows.len() == paging.limit {
            more = true;
            continue;
        }
        let k = key(chain);
        let ids: Vec<&str> = chain.iter().map(|&s| &*book.slots[s as usize].id).collect();
        rows.push((
            k,
            json!({"customer_id": book.name(*customer), "category": book.name(*category),
            "count": ids.len(), "complaint_ids": ids}),
        ));
    }
    let next_cursor = if more { rows.last().map(|(k, _)| k.clone()) } else { None };
    let window = window_days * DAY_NANOS;
    let mut causes: Vec<(u64, Value)> = Vec::new();
    for (&(cause, department), arrivals) in &book.causes {
        // Counted from the end: an `as_of` at or after the latest arrival (the usual question) walks nothing.
        let later = arrivals.range((Timestamp::from_unix_nanos(as_of.unix_nanos().saturating_add(1)), 0)..).count();
        let count = (arrivals.len() - later) as u64;
        if count < 2 {
            continue;
        }
        let in_window = |from: i64, to: i64| {
            arrivals.range((Timestamp::from_unix_nanos(from), 0)..(Timestamp::from_unix_nanos(to), 0)).count() as u64
        };
        let now = as_of.unix_nanos().saturating_add(1);
        let recent = in_window(now - window, now);
        let before = in_window(now - 2 * window, now - window);
        causes.push((
            count,
            json!({"root_cause": book.name(cause), "responsible_department": book.name(department), "count": count,
                "last_window": recent, "previous_window": before, "trend": trend(recent, before)}),
        ));
    }
    causes.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1["root_cause"].as_str().cmp(&b.1["root_cause"].as_str())));
    let root_cause_count = causes.len();
    causes.truncate(ROOT_CAUSES_LISTED_MAX);
    let reopen_rate = if book.resolved_ever == 0 { 0.0 } else { book.reopened as f64 / book.resolved_ever as f64 };
    let persisting: Vec<&str> = book.persisting.iter().take(PERSISTING_LISTED_MAX).map(|id| &**id).collect();
    Ok(json!({
        "as_of": as_of, "window_days": window_days,
        "repeat_complaints": rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "count": count, "next_cursor": next_cursor,
        "root_causes": causes.into_iter().map(|c| c.1).collect::<Vec<_>>(), "root_cause_count": root_cause_count,
        "reopen_rate": (reopen_rate * 10_000.0).round() / 10_000.0,
        "reopened": book.reopened, "resolved_at_least_once": book.resolved_ever,
        "persisting": persisting, "persisting_count": book.persisting.len(),
    }))
}

// ---------------------------------------------------------------------------------------------
// satisfaction

/// The nearest-rank `p` percentile of a seconds → count map, in hours to two decimals.
fn percentile(map: &BTreeMap<u32, u64>, p: f64) -> Option<f64> {
    let total: u64 = map.values().sum();
    if total == 0 {
        return None;
    }
    let rank = (p * (total - 1) as f64).round() as u64;
    let mut seen = 0;
    for (&seconds, &count) in map {
        seen += count;
        if seen > rank {
            return Some((f64::from(seconds) / 3600.0 * 100.0).round() / 100.0);
        }
    }
    None
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0)
}

fn group_name(book: &Book, dimension: Dimension, sym: Sym) -> String {
    match dimension {
        Dimension::Channel => CHANNELS.get(sym as usize).map(text_of).unwrap_or_default(),
        // Received before v1.1, when the server recorded no identity.
        Dimension::RecordedBy if sym == NONE => "unrecorded".to_owned(),
        _ if sym == NONE => "unassigned".to_owned(),
        _ => book.name(sym).unwrap_or_default().to_owned(),
    }
}

/// `satisfaction`: revisit grades and the share satisfied (4–5), hours to acknowledge and to resolve (p50,
/// p90), and the shares of deadlines met — the service level's and the desk's own promises, apart — per
/// department, category, channel, owner, team or the credential that recorded the receipt (`group_by`:
/// `recorded_by`), over every complaint or those received in
/// a period (`from`, `to`: RFC 3339, `to` excluded, so `to` at or before `from` is an empty period; a period
/// is computed by a scan of the complaints).
pub(super) fn satisfaction(book: &Book, query: &Query) -> Result<Value, ProjectionError> {
    query.only(&["group_by", "from", "to"])?;
    let group_by = query.get("group_by").unwrap_or("department");
    let dimension = Dimension::parse(group_by).ok_or_else(|| {
        bad(format!("group_by: {group_by:?}; use one of {}", super::book::SATISFACTION_GROUP_BY.join(", ")))
    })?;
    let instant = |name: &str| -> Result<Option<Timestamp>, ProjectionError> {
        query.get(name).map(|v| Timestamp::parse(v).map_err(|e| bad(format!("{name}: {e}")))).transpose()
    };
    // `to` at or before `from` is an empty period: no complaint was received in it.
    let (from, to) = (instant("from")?, instant("to")?);
    let in_period = |s: &Summary| from.is_none_or(|f| s.received_at >= f) && to.is_none_or(|t| s.received_at < t);
    let period = from.is_some() || to.is_some();
    let as_of = query.as_of;
    // The settled figures — kept up to date by the fold for the whole log, counted here for a period —
    // plus what the instant decides: open complaints whose deadline passed by then (`late`: acknowledgement,
    // resolution, promise). The fold's figures are read, never copied: they hold every complaint's times.
    let counted: HashMap<Sym, GroupFigures>;
    let settled: &HashMap<Sym, GroupFigures> = if period {
        let mut by_group: HashMap<Sym, GroupFigures> = HashMap::new();
        for s in book.slots.iter().filter(|s| in_period(s)) {
            by_group.entry(book.group_of(s, dimension)).or_default().account(s, &book.policy, 1);
        }
        counted = by_group;
        &counted
    } else {
        &book.figures[dimension as usize]
    };
    let mut late: HashMap<Sym, [u64; 3]> = HashMap::new();
    for (_, id) in &book.queue {
        let Some(&slot) = book.by_id.get(id) else { continue };
        let s = &book.slots[slot as usize];
        if !in_period(s) {
            continue;
        }
        let d = book.policy.deadlines_of(&s.clock(), as_of);
        let judged = late.entry(book.group_of(s, dimension)).or_default();
        judged[0] += u64::from(s.acknowledged_at.is_none() && as_of > d.ack_due);
        judged[1] += u64::from(s.delivered_at.is_none() && as_of > d.resolution_due);
        judged[2] += u64::from(s.delivered_at.is_none() && d.promised_due.is_some_and(|due| as_of > due));
    }
    // Named once at the end; two symbols with one name (an unnamed group) are added up.
    let no_figures = GroupFigures::default();
    let mut figures: BTreeMap<String, (Cow<'_, GroupFigures>, [u64; 3])> = BTreeMap::new();
    let symbols: BTreeSet<Sym> = settled.keys().chain(late.keys()).copied().collect();
    for sym in symbols {
        let group = settled.get(&sym).unwrap_or(&no_figures);
        let judged = late.get(&sym).copied().unwrap_or_default();
        match figures.entry(group_name(book, dimension, sym)) {
            std::collections::btree_map::Entry::Occupied(mut existing) => {
                let (figures, late) = existing.get_mut();
                figures.to_mut().merge(group);
                late.iter_mut().zip(judged).for_each(|(sum, n)| *sum += n);
            }
            std::collections::btree_map::Entry::Vacant(vacant) => {
                vacant.insert((Cow::Borrowed(group), judged));
            }
        }
    }
    let rows: Vec<Value> = figures
        .into_iter()
        .filter(|(_, (g, _))| g.complaints > 0)
        .map(|(name, (g, late))| {
            let revisits: u64 = g.grades.iter().sum();
            let satisfied = g.grades[3] + g.grades[4];
            let sum: u64 = g.grades.iter().enumerate().map(|(i, n)| (i as u64 + 1) * n).sum();
            let mean = (revisits > 0).then(|| (sum as f64 / revisits as f64 * 100.0).round() / 100.0);
            let mut row = Map::new();
            row.insert(group_by.to_owned(), json!(name));
            row.insert("complaints".into(), json!(g.complaints));
            row.insert("revisits".into(), json!(revisits));
            row.insert("mean_satisfaction".into(), json!(mean));
            row.insert("share_satisfied".into(), json!(share(satisfied, revisits)));
            row.insert(
                "hours_to_acknowledge".into(),
                json!({"p50": percentile(&g.ack_seconds, 0.5), "p90": percentile(&g.ack_seconds, 0.9)}),
            );
            row.insert(
                "hours_to_resolve".into(),
                json!({"p50": percentile(&g.resolve_seconds, 0.5), "p90": percentile(&g.resolve_seconds, 0.9)}),
            );
            row.insert("acknowledgement_deadlines_met".into(), json!(share(g.ack_met, g.ack_judged + late[0])));
            row.insert(
                "resolution_deadlines_met".into(),
                json!(share(g.resolution_met, g.resolution_judged + late[1])),
            );
            row.insert("promise_deadlines_met".into(), json!(share(g.promise_met, g.promise_judged + late[2])));
            Value::Object(row)
        })
        .collect();
    Ok(json!({"as_of": as_of, "group_by": group_by, "from": from, "to": to, "groups": rows}))
}

// ---------------------------------------------------------------------------------------------
// complaint

/// The JSON view of a complaint: its folded state and its deadlines at `as_of`.
pub fn complaint_json(
    complaint: &redress_engine::lifecycle::ComplaintState,
    version: u64,
    policy: &SlaPolicy,
    as_of: Timestamp,
) -> Value {
    let deadlines = policy.deadlines(complaint, as_of);
    let mut view = match serde_json::to_value(complaint) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    view.insert("version".into(), json!(version));
    view.insert("history_length".into(), json!(complaint.event_count));
    view.insert("as_of".into(), json!(as_of));
    view.insert("ack_due".into(), json!(deadlines.ack_due));
    view.insert("resolution_due".into(), json!(deadlines.resolution_due));
    view.insert("promised_due".into(), json!(deadlines.promised_due));
    view.insert("next_update_due".into(), json!(deadlines.next_update_due));
    view.insert("last_customer_contact_at".into(), json!(complaint.last_contact_at));
    view.insert("waiting_on_customer".into(), json!(complaint.waiting_since.is_some()));
    view.insert("overdue".into(), json!(!deadlines.overdue_reasons.is_empty()));
    view.insert("overdue_reasons".into(), json!(deadlines.overdue_reasons));
    Value::Object(view)
}

/// `complaint`: one complaint's state and deadlines. Query: `complaint_id` (required).
pub(super) async fn complaint(
    policy: &SlaPolicy,
    records: &KeyedMap<StreamState>,
    stored: &dyn StateReader,
    query: &Query,
) -> Result<Value, ProjectionError> {
    query.only(&["complaint_id"])?;
    let id = query.get("complaint_id").ok_or_else(|| bad("complaint_id is required"))?;
    let state = records.read(&[id], stored).await?.pop().flatten();
    let complaint = state
        .as_ref()
        .and_then(StreamState::complaint)
        .filter(|c| c.received_at <= query.as_of)
        .ok_or_else(|| ProjectionError::NotFound(format!("no complaint {id:?}")))?;
    Ok(complaint_json(complaint, complaint.event_count.saturating_sub(1), policy, query.as_of))
}

// ---------------------------------------------------------------------------------------------
// needs-attention

/// Why a complaint is on the supervisor's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Attention {
    /// A deadline has passed (`overdue_reasons` says which).
    Overdue,
    /// The customer must hear from the desk within the policy's lead time.
    UpdateDueSoon,
    /// A key customer's complaint no senior manager has visited yet (道歉小组).
    KeyCustomerNotVisited,
    /// A revisit found the issue still there and the complaint was not reopened since.
    IssuePersists,
    /// The text mentions a regulator, the media or a lawyer (the policy's watch words).
    WatchWord,
}

impl Attention {
    const ALL: [Attention; 5] = [
        Attention::Overdue,
        Attention::UpdateDueSoon,
        Attention::KeyCustomerNotVisited,
        Attention::IssuePersists,
        Attention::WatchWord,
    ];

    fn name(self) -> &'static str {
        match self {
            Attention::Overdue => "overdue",
            Attention::UpdateDueSoon => "update_due_soon",
            Attention::KeyCustomerNotVisited => "key_customer_not_visited",
            Attention::IssuePersists => "issue_persists",
            Attention::WatchWord => "watch_word",
        }
    }
}

/// Why `s` needs attention at `as_of` (empty: it does not).
fn attention_of(book: &Book, s: &Summary, as_of: Timestamp) -> Vec<Attention> {
    let mut why = Vec::new();
    if s.is_open() {
        let d = book.policy.deadlines_of(&s.clock(), as_of);
        if !d.overdue_reasons.is_empty() {
            why.push(Attention::Overdue);
        } else if d.next_update_due.is_some_and(|due| {
            due.unix_nanos() - as_of.unix_nanos() <= book.policy.update_lead_hours() * 3_600 * 1_000_000_000
        }) {
            why.push(Attention::UpdateDueSoon);
        }
        if s.tier == Some(redress_schemas::CustomerTier::Key) && s.apology_visits == 0 {
            why.push(Attention::KeyCustomerNotVisited);
        }
    }
    if s.persisted_at.is_some_and(|at| s.reopened_at.is_none_or(|reopened| reopened < at)) {
        why.push(Attention::IssuePersists);
    }
    if s.is_open() && s.watched != NONE {
        why.push(Attention::WatchWord);
    }
    why
}

/// `needs-attention`: what a supervisor looks at first — open complaints overdue or whose update falls
/// due within the policy's lead time, key customers' complaints without an apology visit, complaints a
/// revisit found persisting with no reopen since (closed ones too), and open complaints whose text
/// mentions a watch word. Each row says why (`reasons`); most reasons first, then earliest deadline.
/// Filters: `reason`, `owner`, `team`, `recorded_by`; paged; `counts` gives the rows per reason.
pub(super) fn needs_attention(book: &Book, query: &Query) -> Result<Value, ProjectionError> {
    only(query, &["reason", "owner", "team", "recorded_by"])?;
    let paging = query.paging()?;
    let reason = match query.get("reason") {
        None => None,
        Some(name) => Some(Attention::ALL.into_iter().find(|a| a.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Attention::ALL.iter().map(|a| a.name()).collect();
            bad(format!("reason: {name:?} is not one of {}", names.join(", ")))
        })?),
    };
    let sym_filter = |name: &str| -> Option<Option<Sym>> { query.get(name).map(|v| book.strings.lookup(v)) };
    let (owner, team, recorded_by) = (sym_filter("owner"), sym_filter("team"), sym_filter("recorded_by"));
    // Open complaints in deadline order, then the closed ones a revisit found persisting.
    let open = book.queue.iter().filter_map(|(unmet, id)| book.by_id.get(id).map(|&slot| (*unmet, slot)));
    let closed = book
        .persisting
        .iter()
        .filter_map(|id| book.by_id.get(id).copied())
        .filter(|&slot| !book.slots[slot as usize].is_open());
    let mut counts = [0usize; 5];
    let mut found: Vec<(usize, i64, u32, Vec<Attention>)> = Vec::new();
    for (unmet, slot) in open.chain(closed.map(|slot| (i64::MAX, slot))) {
        let s = &book.slots[slot as usize];
        if owner.is_some_and(|o| o != Some(s.owner))
            || team.is_some_and(|t| t != Some(s.team))
            || recorded_by.is_some_and(|r| r != Some(s.recorded_by))
        {
            continue;
        }
        let why = attention_of(book, s, query.as_of);
        if why.is_empty() || reason.is_some_and(|r| !why.contains(&r)) {
            continue;
        }
        for a in &why {
            counts[*a as usize] += 1;
        }
        found.push((why.len(), unmet, slot, why));
    }
    // Most reasons first, then the earliest deadline, then the id.
    // The deadline as an order-preserving unsigned number, so the text keys sort as the tuples do.
    let key = |(n, unmet, slot, _): &(usize, i64, u32, Vec<Attention>)| {
        let deadline = (*unmet as u64) ^ (1 << 63);
        format!("{}|{deadline:020}|{}", 9 - (*n).min(9), &*book.slots[*slot as usize].id)
    };
    let mut keyed: Vec<(String, usize)> = found.iter().enumerate().map(|(i, f)| (key(f), i)).collect();
    keyed.sort_unstable();
    let count = keyed.len();
    let (page, next_cursor) = paging.page(keyed);
    let rows: Vec<Value> = page
        .into_iter()
        .map(|i| {
            let (_, _, slot, why) = &found[i];
            let s = &book.slots[*slot as usize];
            let (_, mut row) = open_row(book, s, &book.policy, query.as_of);
            row["reasons"] = json!(why);
            row["watch_word"] = json!(book.name(s.watched));
            row["apology_visits"] = json!(s.apology_visits);
            row["issue_persisted_at"] = json!(s.persisted_at);
            row
        })
        .collect();
    let counts: Map<String, Value> =
        Attention::ALL.iter().map(|a| (a.name().to_owned(), json!(counts[*a as usize]))).collect();
    Ok(json!({
        "as_of": query.as_of, "count": count, "counts": counts, "complaints": rows, "next_cursor": next_cursor,
        "update_lead_hours": book.policy.update_lead_hours(),
    }))
}
