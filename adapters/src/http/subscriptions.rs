//! `/subscriptions`: API.md "Subscriptions for backend services". Each handler: authorize → parse →
//! call `redress_subscriptions::Subscriptions` → render. Admins create and delete; publishers (and
//! admins) read and consume; auditors read.

use super::{openapi::ErrorDoc, Access, ApiError, AppState, Caller};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use redress_subscriptions::limits::{FETCH_EVENTS_MAX, FETCH_WAIT_MAX};
use redress_subscriptions::{SubscriptionError, Subscriptions};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use utoipa::ToSchema;

/// The routes, merged into the API's router.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/subscriptions", get(list_subscriptions))
        .route("/subscriptions/{name}", get(get_subscription).put(put_subscription).delete(delete_subscription))
        .route("/subscriptions/{name}/fetch", post(fetch))
        .route("/subscriptions/{name}/ack", post(ack))
        .route("/subscriptions/{name}/nack", post(nack))
        .route("/subscriptions/{name}/parked", get(parked))
        .route("/subscriptions/{name}/parked/retry", post(retry_parked))
}

impl From<SubscriptionError> for ApiError {
    fn from(error: SubscriptionError) -> ApiError {
        let message = error.to_string();
        match error {
            SubscriptionError::NotFound { .. } => ApiError::not_found(message),
            SubscriptionError::Invalid { field, .. } => ApiError::bad_request(message).with("field", json!(field)),
            SubscriptionError::HostNotAllowed { .. } => {
                ApiError::bad_request(message).with("field", json!("webhook.url"))
            }
            SubscriptionError::LimitExceeded { limit, max, actual } => {
                ApiError::new(StatusCode::CONFLICT, "limit_exceeded", message)
                    .with("limit", json!(limit))
                    .with("max", json!(max))
                    .with("actual", json!(actual))
            }
            SubscriptionError::Store(error) => ApiError::from(error),
            _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
                .with("retry_after_seconds", json!(1)),
        }
    }
}

fn service(state: &AppState) -> Result<&Subscriptions, ApiError> {
    state.subscriptions.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "this server runs no subscriptions")
    })
}

async fn json_body(state: &AppState, body: Body) -> Result<Value, ApiError> {
    let bytes = state.read_body(body).await?;
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    let mut value: Value =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    // `3.0` is the integer 3 to JSON Schema, so to these bodies too.
    redress_schemas::integral_numbers_as_integers(&mut value);
    Ok(value)
}

/// Authorizes `access`, then reads the JSON body, refusing fields other than `known`.
async fn request<'a>(
    state: &'a AppState,
    caller: Caller,
    (access, what): (Access, &str),
    body: Body,
    known: &[&str],
) -> Result<(&'a Subscriptions, Value), ApiError> {
    caller.require(access, what)?;
    let service = service(state)?;
    let body = json_body(state, body).await?;
    refuse_unknown(&body, known)?;
    Ok((service, body))
}

fn positions(body: &Value) -> Result<Vec<u64>, ApiError> {
    let list = body.get("positions").and_then(Value::as_array).ok_or_else(|| {
        ApiError::bad_request("positions: a list of log positions is required").with("field", json!("positions"))
    })?;
    list.iter()
        .map(|p| {
            p.as_u64().ok_or_else(|| {
                ApiError::bad_request("positions: non-negative integers").with("field", json!("positions"))
            })
        })
        .collect()
}

fn refuse_unknown(body: &Value, known: &[&str]) -> Result<(), ApiError> {
    let object = body.as_object().ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::bad_request(format!("unknown field {unknown:?}; known: {}", known.join(", ")))),
        None => Ok(()),
    }
}

/// `PUT /subscriptions/{name}` body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SubscriptionRequest {
    /// Event type names delivered; empty or absent: every type.
    event_types: Option<Vec<String>>,
    /// `"beginning"` (default), `"now"`, or a log position. Only used when the subscription is created.
    #[schema(value_type = Object, example = json!("beginning"))]
    start: Option<Value>,
    /// `{"url": "http://…", "secret": "…"}` or null (pull only). The URL's host must be on the server's
    /// allow-list (`--webhook-hosts`, default loopback only); the secret (16..=256 bytes) signs every
    /// POST and is never shown again.
    #[schema(value_type = Object)]
    webhook: Option<Value>,
    /// Deliveries of an event before it is parked: 1..=1000, default 10.
    #[schema(minimum = 1, maximum = 1000)]
    max_attempts: Option<u32>,
}

/// A subscription's state (never its webhook secret).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SubscriptionDoc {
    name: String,
    event_types: Vec<String>,
    #[schema(value_type = Object)]
    start: Value,
    /// `{"url"}` or null.
    #[schema(value_type = Object)]
    webhook: Option<Value>,
    max_attempts: u32,
    /// Every event below it was acked, parked or filtered out.
    position: u64,
    /// Log events at or after the position.
    lag: u64,
    /// Events leased and not yet acked.
    in_flight: u64,
    /// Events owed (leased or waiting).
    pending: u64,
    parked: u64,
    /// The last webhook delivery failure (null once one succeeds).
    last_error: Option<String>,
    /// Events delivered by webhook by this server.
    delivered: u64,
    /// `{"p50", "p99", "samples"}`: append-to-webhook-delivery latency, ms, over recent deliveries.
    #[schema(value_type = Object)]
    delivery_latency_ms: Option<Value>,
}

/// `POST /subscriptions/{name}/fetch` body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FetchRequest {
    /// Events to lease, 1..=1000 (default 100).
    #[schema(minimum = 1, maximum = 1000)]
    max: Option<u64>,
    /// How long to wait for the first event, ms, 0..=30000 (default 5000).
    #[schema(minimum = 0, maximum = 30000)]
    wait_ms: Option<u64>,
}

/// `POST /subscriptions/{name}/fetch` answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FetchedDoc {
    /// Names this fetch in a nack (optional there).
    lease_id: u64,
    /// When the lease ends: an event not acked by then is delivered again.
    lease_until: String,
    /// Events in log order, each the envelope of `/all` plus `attempt` (1 = first delivery).
    #[schema(value_type = Vec<Object>)]
    events: Vec<Value>,
}

/// `POST /subscriptions/{name}/ack` body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AckRequest {
    /// Log positions of handled events (at most 1,000).
    #[schema(max_items = 1000)]
    positions: Vec<u64>,
}

/// `POST /subscriptions/{name}/nack` body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NackRequest {
    /// Log positions of events not handled (at most 1,000).
    #[schema(max_items = 1000)]
    positions: Vec<u64>,
    /// Park them now instead of delivering them again (default false).
    park: Option<bool>,
    /// Only events still under this fetch's lease (a later fetch may hold the others).
    lease_id: Option<u64>,
}

/// `POST /subscriptions/{name}/parked/retry` body (optional).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RetryRequest {
    /// Parked events to put back, lowest positions first: 1..=1000 (default 1000).
    #[schema(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

#[utoipa::path(get, path = "/subscriptions", tag = "subscriptions",
    responses((status = 200, description = "Every subscription (at most 64)", body = Object),
        (status = 401, description = "No or unknown token", body = ErrorDoc)))]
pub(super) async fn list_subscriptions(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Read, "read subscriptions")?;
    let service = service(&state)?;
    let list: Vec<Value> = service.statuses().await?.iter().map(|s| s.to_json()).collect();
    Ok(Json(json!({"count": list.len(), "subscriptions": list})))
}

#[utoipa::path(get, path = "/subscriptions/{name}", tag = "subscriptions",
    params(("name" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", description = "The subscription")),
    responses((status = 200, description = "Its definition (without the secret), position, lag, leases, parked events, last error", body = SubscriptionDoc),
        (status = 401, description = "No or unknown token", body = ErrorDoc),
        (status = 404, description = "No such subscription", body = ErrorDoc)))]
pub(super) async fn get_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Read, "read subscriptions")?;
    Ok(Json(service(&state)?.status(&name).await?.to_json()))
}

#[utoipa::path(put, path = "/subscriptions/{name}", tag = "subscriptions",
    params(("name" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", description = "The subscription")),
    request_body = SubscriptionRequest,
    responses((status = 201, description = "Created", body = SubscriptionDoc),
        (status = 200, description = "Its definition replaced; its position, leases and parked events kept", body = SubscriptionDoc),
        (status = 400, description = "A bad field (named in `field`), or a webhook host not on the allow-list; nothing written", body = ErrorDoc),
        (status = 401, description = "No or unknown token", body = ErrorDoc),
        (status = 403, description = "Only admins create subscriptions", body = ErrorDoc),
        (status = 409, description = "limit_exceeded: 64 subscriptions already", body = ErrorDoc)))]
pub(super) async fn put_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Access::Admin, "create subscriptions")?;
    let service = service(&state)?;
    let body = json_body(&state, body).await?;
    let created = service.put(&name, &body).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(service.status(&name).await?.to_json())))
}

#[utoipa::path(delete, path = "/subscriptions/{name}", tag = "subscriptions",
    params(("name" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", description = "The subscription")),
    responses((status = 204, description = "Deleted with its position, leases and parked events"),
        (status = 401, description = "No or unknown token", body = ErrorDoc),
        (status = 403, description = "Only admins delete subscriptions", body = ErrorDoc),
        (status = 404, description = "No such subscription", body = ErrorDoc)))]
pub(super) async fn delete_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Access::Admin, "delete subscriptions")?;
    if service(&state)?.delete(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no subscription named {name:?}")))
    }
}

#[utoipa::path(post, path = "/subscriptions/{name}/fetch", tag = "subscriptions",
    params(("name" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", description = "The subscription")),
    request_body = FetchRequest,
    responses((status = 200, description = "Events leased to this caller for 30 s, in log order (possibly none after `wait_ms`)", body = FetchedDoc),
        (status = 400, description = "A bad field", body = ErrorDoc),
        (status = 401, description = "No or unknown token", body = ErrorDoc),
        (status = 403, description = "Auditors may not consume", body = ErrorDoc),
        (status = 404, description = "No such subscription", body = ErrorDoc)))]
pub(super) async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (service, body) =
        request(&state, caller, (Access::Write, "consume subscriptions"), body, &["max", "wait_ms"]).await?;
    let number = |field: &'static str, default: u64, max: u64| -> Result<u64, ApiError> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value.as_u64().filter(|n| *n <= max).ok_or_else(|| {
                ApiError::bad_request(format!("{field}: an integer in 0..={max}")).with("field", json!(field))
            }),
        }
    };
    let max = number("max", 100, FETCH_EVENTS_MAX as u64)? as usize;
    let wait_ms = number("wait_ms", 5_000, FETCH_WAIT_MAX.as_millis() as u64)?;
    let fetched = service.fetch(&name, max, Duration::from_millis(wait_ms)).await?;
    let events: Vec<Value> = fetched.events.iter().map(redress_subscriptions::Delivery::to_json).collect();
    let until = redress_schemas::Timestamp::from_unix_nanos(fetched.lease_until_ms.saturating_mul(1_000_000));
    Ok(Json(json!({"lease_id": fetched.lease_id, "lease_until": until.to_rfc3339(), "events": events})))
}

#[utoipa::path(post, path = "/subscriptions/{name}/ack", tag = "subscriptions",
    params(("name" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", description = "The subscription")),
    request_body = AckRequest,
    responses((status = 200, description = "`acked`: the positions acked now (others were acked before, parked, or never delivered)", body = Object),
        (status = 400, description = "A bad field", body = ErrorDoc),
        (status = 401, description = "No or unknown token", body = ErrorDoc),
        (status = 403, description = "Auditors may not consume", body = ErrorDoc),
        (status = 404, description = "No such subscription", body = ErrorDoc),
        (status = 409, description = "limit_exceeded: more than 1,000 positions", body = ErrorDoc)))]
pub(super) async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (service, body) =
        request(&state, caller, (Access::Write, "consume subscriptions"), body, &["positions"]).await?;
    let acked = service.ack(&name, positions(&body)?).await?;
    Ok(Json(json!({"acked": acked})))
}

#[utoipa::path(post, path = "/subscriptions/{name}/nack", tag = "subscriptions",
    params(("name" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", description = "The subscription")),
    request_body = NackRequest,
    responses((status = 200, description = "`released`: delivered again at once; `parked`: parked (asked to, or out of attempts)", body = Object),
        (status = 400, description = "A bad field", body = ErrorDoc),
        (status = 401, description = "No or unknown token", body = ErrorDoc),
        (status = 403, description = "Auditors may not consume", body = ErrorDoc),
        (status = 404, description = "No such subscription", body = ErrorDoc),
        (status = 409, description = "limit_exceeded: more than 1,000 positions", body = ErrorDoc)))]
pub(super) async fn nack(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (service, body) =
        request(&state, caller, (Access::Write, "consume subscriptions"), body, &["positions", "park", "lease_id"])
            .await?;
    let park = match body.get("park") {
        None | Some(Value::Null) => false,
        Some(value) => value.as_bool().ok_or_else(|| ApiError::bad_request("park: true or false"))?,
    };
    let lease_id = match body.get("lease_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().ok_or_else(|| ApiError::bad_request("lease_id: a fetch's lease_id"))?),
    };
    let (released, parked) = service.nack(&name, positions(&body)?, park, lease_id).await?;
    let released: Vec<u64> = released.into_iter().filter(|p| !parked.contains(p)).collect();
    Ok(Json(json!({"released": released, "parked": parked})))
}

#[utoipa::path(get, path = "/subscriptions/{name}/parked", tag = "subscriptions",
    params(("name" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", description = "The subscription"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "Items per page (default 100)"),
        ("cursor" = Option<String>, Query, pattern = r"^[0-9]{1,19}$", description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "Parked events in position order: `parked` (position, attempts, reason, parked_at), `count` (all parked), `next_cursor`", body = Object),
        (status = 400, description = "A bad parameter", body = ErrorDoc),
        (status = 401, description = "No or unknown token", body = ErrorDoc),
        (status = 404, description = "No such subscription", body = ErrorDoc)))]
pub(super) async fn parked(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Read, "read subscriptions")?;
    let service = service(&state)?;
    if let Some(unknown) = query.keys().find(|k| !["limit", "cursor"].contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("unknown query parameter {unknown:?}; known: limit, cursor")));
    }
    let limit = match query.get("limit") {
        None => 100,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=FETCH_EVENTS_MAX).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be in 1..={FETCH_EVENTS_MAX}")))?,
    };
    let after = match query.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => Some(cursor.parse::<u64>().map_err(|_| ApiError::bad_request("cursor: a next_cursor"))?),
    };
    // One more than the page tells whether another page follows.
    let mut page = service.parked(&name, after, (limit + 1).min(FETCH_EVENTS_MAX + 1)).await?;
    let next_cursor = (page.len() > limit).then(|| page[limit - 1].position.to_string());
    page.truncate(limit);
    let count = service.status(&name).await?.parked;
    let items: Vec<Value> = page
        .iter()
        .map(|p| {
            let at = redress_schemas::Timestamp::from_unix_nanos(p.parked_at_ms.saturating_mul(1_000_000));
            json!({"position": p.position, "attempts": p.attempts, "reason": p.reason.as_str(), "parked_at": at.to_rfc3339()})
        })
        .collect();
    Ok(Json(json!({"parked": items, "count": count, "next_cursor": next_cursor})))
}

#[utoipa::path(post, path = "/subscriptions/{name}/parked/retry", tag = "subscriptions",
    params(("name" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", description = "The subscription")),
    request_body = RetryRequest,
    responses((status = 200, description = "`retried`: the positions put back into delivery, attempts reset", body = Object),
        (status = 400, description = "A bad field", body = ErrorDoc),
        (status = 401, description = "No or unknown token", body = ErrorDoc),
        (status = 403, description = "Auditors may not retry", body = ErrorDoc),
        (status = 404, description = "No such subscription", body = ErrorDoc)))]
pub(super) async fn retry_parked(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (service, body) = request(&state, caller, (Access::Write, "retry parked events"), body, &["limit"]).await?;
    let limit = match body.get("limit") {
        None | Some(Value::Null) => FETCH_EVENTS_MAX,
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=FETCH_EVENTS_MAX as u64).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit: 1..={FETCH_EVENTS_MAX}")))?
            as usize,
    };
    Ok(Json(json!({"retried": service.retry_parked(&name, limit).await?})))
}
