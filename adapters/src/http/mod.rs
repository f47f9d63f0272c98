//! The HTTP API of API.md on axum. Each handler: authorize → parse → call the engine → render.
//! The edge around it (connections, request heads, timeouts, load) is `edge` and `connection`.

mod auth;
mod connection;
pub mod console;
mod edge;
mod erase;
mod error;
mod limits;
mod metrics;
mod openapi;
mod subscriptions;

pub use auth::{
    admin_token_file, bearer_token, generate_token, Access, Credential, Role, TokenError, Tokens, TOKEN_CHARS_MIN,
};
pub use edge::{connections_max_within_open_files, serve, FILES_RESERVED};
pub use erase::{parse_erasure_body, ErasureRequest};
pub use error::ApiError;
pub use limits::*;
pub use metrics::{Metrics, CONSOLE_ROUTE, METHOD_LABELS, UNMATCHED_ROUTE};
pub use openapi::{event_schema_name, openapi_json, openapi_value, ROUTES};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, MatchedPath, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use redress_engine::{
    checkpoint_now, lifecycle, verify_store, CheckpointError, CheckpointSigner, Direction, EventFilter, EventStore,
    ExpectedVersion, StoreHealth, Subscription, Verification,
};
use redress_projections::policy::SlaPolicy;
use redress_projections::{Basis, Folds, ProjectionError, Query as ProjectionQuery};
use redress_schemas::{EventType, Position, ProposedEvent, RecordedBy, StreamName, Timestamp};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Events per read page when the caller does not say.
pub const PAGE_EVENTS_DEFAULT: usize = 100;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
    limits: Arc<ServeLimits>,
    /// The key this server signs checkpoints with; `None`: it serves the store's latest and signs none.
    signer: Option<Arc<CheckpointSigner>>,
    /// `/subscriptions` (issue 12); `None` answers them 503.
    subscriptions: Option<redress_subscriptions::Subscriptions>,
    /// The store's erasure (`POST /customers/{id}/erase`); `None` answers that route 503.
    erasure: Option<Arc<redress_engine::ShreddableStore>>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    projections: Arc<Folds>,
    tokens: Tokens,
    policy: SlaPolicy,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    /// The web console's signed-in sessions.
    console: console::Sessions,
    /// One whole-log audit job at a time (see [`audit_permit`]).
    audit_work: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// State over `store` and its running `projections`, answering `tokens`, judging deadlines by
    /// `policy`. Long-lived responses (subscriptions) end when `shutdown` turns true.
    pub fn new(
        store: Arc<dyn EventStore>,
        projections: Arc<Folds>,
        tokens: Tokens,
        policy: SlaPolicy,
        shutdown: watch::Receiver<bool>,
    ) -> AppState {
        let metrics = Arc::new(Metrics::default());
        AppState {
            inner: Arc::new(Inner {
                store,
                projections,
                tokens,
                policy,
                metrics,
                shutdown,
                console: console::Sessions::default(),
                audit_work: Arc::new(tokio::sync::Semaphore::new(1)),
            }),
            limits: Arc::new(ServeLimits::default()),
            signer: None,
            subscriptions: None,
            erasure: None,
        }
    }

    /// The same state, signing checkpoints with `signer` (`GET /audit/checkpoint` signs the head when the
    /// latest checkpoint is behind it).
    pub fn with_signer(self, signer: Arc<CheckpointSigner>) -> AppState {
        AppState { signer: Some(signer), ..self }
    }

    /// The same state, serving `/subscriptions` from `subscriptions`.
    pub fn with_subscriptions(self, subscriptions: redress_subscriptions::Subscriptions) -> AppState {
        AppState { subscriptions: Some(subscriptions), ..self }
    }

    /// The same state, erasing customers' personal data through `shreddable` (the store it serves).
    pub fn with_erasure(self, shreddable: Arc<redress_engine::ShreddableStore>) -> AppState {
        AppState { erasure: Some(shreddable), ..self }
    }

    /// The same state, served within `limits` instead of API.md's defaults.
    pub fn with_limits(self, limits: ServeLimits) -> AppState {
        AppState { limits: Arc::new(limits), ..self }
    }

    /// Reads a request body whole: at most `body_bytes_max` bytes (413 beyond: a declared length is
    /// refused before a byte is read) within `body_read_timeout` in all (408 beyond). tower-http's
    /// body timeout restarts at every frame, so a body trickled a byte at a time would never end;
    /// API.md bounds the whole body.
    async fn read_body(&self, body: Body) -> Result<Bytes, ApiError> {
        use http_body_util::BodyExt;
        let max = self.limits.body_bytes_max;
        let too_large = || ApiError::body_too_large(max);
        if http_body::Body::size_hint(&body).lower() > max as u64 {
            return Err(too_large());
        }
        let read = http_body_util::Limited::new(body, max).collect();
        let read = if self.limits.enforced {
            let timeout = self.limits.body_read_timeout;
            tokio::time::timeout(timeout, read).await.map_err(|_| ApiError::body_timeout(timeout))?
        } else {
            read.await
        };
        match read {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Err(error) => Err(ApiError::bad_request(format!("the request body could not be read: {error}"))),
        }
    }
}

/// The credential of the request's bearer token. As an extractor it runs before the handler reads a body,
/// so a request without a valid token is answered 401 (with `WWW-Authenticate: Bearer`) and its body
/// is never buffered.
pub struct Caller(Credential);

impl Caller {
    /// The caller's role if it grants `access`, else 403 saying it may not do `what`.
    pub fn require(&self, access: Access, what: &str) -> Result<Role, ApiError> {
        if self.0.role.grants(access) {
            Ok(self.0.role)
        } else {
            Err(ApiError::forbidden(self.0.role, what))
        }
    }

    /// The credential's name: what the server stamps as `recorded_by` on the events this caller appends.
    pub fn name(&self) -> &RecordedBy {
        &self.0.name
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(ApiError::unauthorized)?;
        state.inner.tokens.credential_of(token).map(Caller).ok_or_else(ApiError::unauthorized)
    }
}

/// The router with every route of API.md, its errors as JSON (404, 405 with `Allow`), and request
/// metrics. The edge's checks come before it (`edge`).
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/streams/{stream}/events", post(append))
        .route("/streams/{stream}", get(read_stream))
        .route("/all", get(read_all))
        .route("/subscribe", get(subscribe))
        .route("/complaints/{complaint_id}", get(complaint))
        .route("/customers/{customer_id}/history", get(customer_history))
        .route("/customers/{customer_id}/erase", post(erase::erase_customer))
        .route("/projections", get(projection_statuses))
        .route("/projections/open-complaints", get(view_open_complaints))
        .route("/projections/needs-attention", get(view_needs_attention))
        .route("/projections/problems", get(view_problems))
        .route("/projections/deadline-alerts", get(view_deadline_alerts))
        .route("/projections/customer-history", get(view_customer_history))
        .route("/projections/repeat-issues", get(view_repeat_issues))
        .route("/projections/satisfaction", get(view_satisfaction))
        .route("/projections/complaint", get(view_complaint))
        .route("/projections/suggestions", get(view_suggestions))
        .route("/projections/answer-gaps", get(view_answer_gaps))
        .route("/projections/{name}", get(projection_query))
        .route("/projections/{name}/rebuild", post(projection_rebuild))
        .route("/audit/verify", get(audit_verify))
        .route("/audit/checkpoint", get(audit_checkpoint))
        .route("/audit/replay", get(audit_replay))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .merge(console::routes().layer(middleware::map_response(console::security_headers)))
        .merge(subscriptions::routes())
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .fallback(|| async { ApiError::not_found("no such route") });
    routes.layer(middleware::from_fn_with_state(state.clone(), count_requests)).with_state(state)
}

/// Counts every answered request. Labels come from `ROUTES` and `METHOD_LABELS` only, so no request
/// can add a time series (an unknown path is `unmatched`, an unknown method `other`).
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str())
        .and_then(|matched| {
            ROUTES
                .iter()
                .find(|(_, path)| *path == matched)
                .map(|(_, path)| *path)
                .or_else(|| matched.starts_with("/console").then_some(CONSOLE_ROUTE))
        })
        .unwrap_or(UNMATCHED_ROUTE);
    let method = request.method().clone();
    let response = next.run(request).await;
    state.inner.metrics.request(&method, route, response.status());
    response
}

fn stream_name(raw: &str) -> Result<StreamName, ApiError> {
    StreamName::new(raw).map_err(|e| ApiError::bad_request(format!("bad stream name: {e}")))
}

/// Query parameters, refusing names the route does not know (a typo must not be ignored silently).
struct Params(HashMap<String, String>);

impl Params {
    fn new(query: HashMap<String, String>, known: &[&str]) -> Result<Params, ApiError> {
        if let Some(unknown) = query.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {unknown:?}; known: {}",
                known.join(", ")
            )));
        }
        Ok(Params(query))
    }

    fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.0
            .get(name)
            .map(|v| v.parse().map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer"))))
            .transpose()
    }

    fn limit(&self) -> Result<usize, ApiError> {
        let limit = self.u64("limit")?.unwrap_or(PAGE_EVENTS_DEFAULT as u64);
        let max = redress_engine::limits::READ_EVENTS_MAX as u64;
        if limit == 0 || limit > max {
            return Err(ApiError::bad_request(format!("limit must be in 1..={max}")));
        }
        Ok(limit as usize)
    }

    fn filter(&self) -> Result<EventFilter, ApiError> {
        match self.0.get("event_type").filter(|v| !v.is_empty()) {
            None => Ok(EventFilter::all()),
            Some(list) => {
                let types = list
                    .split(',')
                    .map(|name| {
                        EventType::from_name(name.trim())
                            .ok_or_else(|| ApiError::bad_request(format!("unknown event type {name:?} in event_type")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(EventFilter::types(types))
            }
        }
    }
}

fn page_json(events: Vec<redress_schemas::RecordedEvent>, next: Option<u64>) -> Json<Value> {
    Json(json!({"events": events.iter().map(|e| e.to_json()).collect::<Vec<_>>(), "next": next}))
}

/// Parses an expected version given as text (`any`, `no_stream`, `exists` or a version).
pub fn parse_expected_text(text: &str) -> Result<ExpectedVersion, ApiError> {
    parse_expected(Some(&Value::String(text.to_owned())))
}

fn parse_expected(value: Option<&Value>) -> Result<ExpectedVersion, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(ExpectedVersion::Any),
        Some(Value::String(s)) => match s.as_str() {
            "any" => Ok(ExpectedVersion::Any),
            "no_stream" => Ok(ExpectedVersion::NoStream),
            "exists" => Ok(ExpectedVersion::Exists),
            other => other.parse().map(ExpectedVersion::Exact).map_err(|_| {
                ApiError::bad_request(format!("expected_version {other:?}: use any, no_stream, exists or a version"))
            }),
        },
        // JSON does not tell 3 from 3.0 (nor does the document's `integer`).
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && (0.0..1.8e19).contains(f)).map(|f| f as u64))
            .map(ExpectedVersion::Exact)
            .ok_or_else(|| ApiError::bad_request("expected_version must be a non-negative integer")),
        Some(_) => {
            Err(ApiError::bad_request("expected_version must be \"any\", \"no_stream\", \"exists\" or a version"))
        }
    }
}

/// Parses an append request body (the same JSON as `redress append --file`).
pub fn parse_append_body(body: &[u8], stream: &StreamName) -> Result<(ExpectedVersion, Vec<ProposedEvent>), ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::bad_request("the body must be a JSON object with expected_version and events"));
    };
    if let Some(unknown) = object.keys().find(|k| !matches!(k.as_str(), "expected_version" | "events")) {
        return Err(ApiError::bad_request(format!("unknown field {unknown:?}")));
    }
    let expected = parse_expected(object.get("expected_version"))?;
    let events = match object.remove("events") {
        Some(Value::Array(events)) => events,
        Some(_) => return Err(ApiError::bad_request("events must be an array")),
        None => return Err(ApiError::bad_request("events is missing")),
    };
    if events.is_empty() {
        return Err(ApiError::bad_request("events is empty: an append needs at least one event"));
    }
    let max = redress_engine::limits::APPEND_EVENTS_MAX;
    if events.len() > max {
        return Err(ApiError::payload_too_large(format!("{} events in one append; the limit is {max}", events.len())));
    }
    let proposed = events
        .into_iter()
        .enumerate()
        .map(|(index, event)| ProposedEvent::from_json(event, stream).map_err(|e| ApiError::invalid_event(index, &e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((expected, proposed))
}

#[utoipa::path(post, path = "/streams/{stream}/events", tag = "write",
    params(("stream" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,200}$", example = "complaint-C-9001",
        description = "Stream name: 1..=200 bytes of [A-Za-z0-9_.:-]. `complaint-<id>` takes complaint events, `qa-<id>` standard-answer events; any other stream none (422 with `rule`)")),
    request_body = openapi::AppendRequest,
    responses(
        (status = 201, description = "Written and durable", body = openapi::AppendResultDoc),
        (status = 200, description = "Every event id was written before: the original result", body = openapi::AppendResultDoc),
        (status = 400, description = "Malformed request", body = openapi::ErrorDoc),
        (status = 401, description = "No or unknown token: answered before the body is read", body = openapi::ErrorDoc),
        (status = 403, description = "The token's role may not write: answered before the body is read", body = openapi::ErrorDoc),
        (status = 408, description = "request_timeout: the body did not arrive within the body timeout (30 s); the connection is closed", body = openapi::ErrorDoc),
        (status = 409, description = "wrong_expected_version (with current_version) or idempotency_conflict", body = openapi::ErrorDoc),
        (status = 413, description = "Body over 8 MiB (refused on its declared length before it is read), event over 1 MiB or more than 1,000 events", body = openapi::ErrorDoc),
        (status = 422, description = "invalid_event, naming the event's `index`: with `field` alone, the event does not match its type's schema; with `rule`, a schema-valid event breaks a rule of its stream (lifecycle, the stream's kind, the id its name carries). Nothing is written", body = openapi::ErrorDoc),
        (status = 503, description = "unavailable: the store cannot write (nothing written), or `outcome: unknown` when it failed after the events may have reached the disk (retry with the same event ids)", body = openapi::ErrorDoc),
    ))]
async fn append(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Access::Write, "append events")?;
    let body = state.read_body(body).await?;
    let stream = stream_name(&stream)?;
    let (expected, events) = parse_append_body(&body, &stream)?;
    // The body cannot name who appends (`ProposedEvent::from_json` refuses `recorded_by`): the token does.
    let events: Vec<ProposedEvent> = events.into_iter().map(|event| event.recorded_by(caller.name().clone())).collect();
    let count = events.len() as u64;
    let started = Instant::now();
    let outcome = state.inner.store.append(&stream, expected, events).await?;
    let metrics = &state.inner.metrics;
    metrics.append_latency(started.elapsed());
    let status = if outcome.idempotent_retry {
        metrics.appends_idempotent.fetch_add(1, Ordering::Relaxed);
        StatusCode::OK
    } else {
        metrics.events_appended.fetch_add(count, Ordering::Relaxed);
        StatusCode::CREATED
    };
    let r = outcome.result;
    Ok((
        status,
        Json(json!({
            "first_version": r.first_version, "last_version": r.last_version,
            "first_position": r.first_position.0, "last_position": r.last_position.0,
        })),
    ))
}

#[utoipa::path(get, path = "/streams/{stream}", tag = "read",
    params(("stream" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,200}$", example = "complaint-C-9001", description = "Stream name"),
        openapi::StreamPage),
    responses((status = 200, description = "A page of the stream", body = openapi::PageDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc),
        (status = 404, description = "The stream has no events", body = openapi::ErrorDoc)))]
async fn read_stream(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Read, "read")?;
    let stream = stream_name(&stream)?;
    let params = Params::new(query, &["from_version", "limit", "direction"])?;
    let direction = match params.0.get("direction").map(String::as_str) {
        None | Some("forward") => Direction::Forward,
        Some("backward") => Direction::Backward,
        Some(other) => return Err(ApiError::bad_request(format!("direction {other:?}: use forward or backward"))),
    };
    let from = params.u64("from_version")?.unwrap_or(match direction {
        Direction::Forward => 0,
        Direction::Backward => u64::MAX,
    });
    let limit = params.limit()?;
    if state.inner.store.stream_version(&stream).await?.is_none() {
        return Err(ApiError::not_found(format!("stream {stream} has no events")));
    }
    let page = state.inner.store.read_stream(&stream, from, direction, limit).await?;
    Ok(page_json(page.events, page.next))
}

#[utoipa::path(get, path = "/all", tag = "read",
    params(openapi::LogPage),
    responses((status = 200, description = "A page of the global log", body = openapi::PageDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc)))]
async fn read_all(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Read, "read")?;
    let params = Params::new(query, &["from_position", "limit", "event_type"])?;
    let from = Position(params.u64("from_position")?.unwrap_or(0));
    let limit = params.u64("limit")?.map_or(Ok(1000), |_| params.limit())?;
    let page = state.inner.store.read_all(from, limit, &params.filter()?).await?;
    Ok(page_json(page.events, page.next))
}

#[utoipa::path(get, path = "/subscribe", tag = "read",
    params(openapi::SubscribeQuery),
    responses((status = 200, description = "Server-Sent Events (the schema is one event's): `id:` the position, `data:` the envelope; catch-up, then live, until the server shuts down", content_type = "text/event-stream", body = openapi::SseEventDoc),
        (status = 400, description = "Bad parameter (an unknown event type)", body = openapi::ErrorDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc)))]
async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    caller.require(Access::Read, "subscribe")?;
    let params = Params::new(query, &["from_position", "event_type"])?;
    let from = match params.u64("from_position")? {
        Some(p) => Position(p),
        // Without a position: from the current end of the log (live only).
        None => state.inner.store.head().await?.map_or(Position(0), |h| h.position.next()),
    };
    let subscription = Subscription::new(Arc::clone(&state.inner.store), from, params.filter()?);
    state.inner.metrics.sse_clients.fetch_add(1, Ordering::Relaxed);
    let guard = SseClient(state.clone());
    let shutdown = state.inner.shutdown.clone();
    let events = futures_util::stream::unfold(
        (subscription, shutdown, guard),
        |(mut subscription, mut shutdown, guard)| async move {
            if *shutdown.borrow() {
                return None;
            }
            tokio::select! {
                next = subscription.next() => match next {
                    Ok(event) => {
                        let sse = SseEvent::default().id(event.position.0.to_string()).data(event.to_json().to_string());
                        Some((Ok(sse), (subscription, shutdown, guard)))
                    }
                    Err(error) => {
                        tracing::warn!(%error, "subscription ended");
                        None
                    }
                },
                _ = shutdown.changed() => None,
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Counts an open subscription stream for as long as it lives.
struct SseClient(AppState);

impl Drop for SseClient {
    fn drop(&mut self) {
        self.0.inner.metrics.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The JSON view of a complaint: its folded state and its deadlines at `as_of`.
pub use redress_projections::complaints::complaint_json as complaint_view;

#[utoipa::path(get, path = "/complaints/{complaint_id}", tag = "read",
    params(("complaint_id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,190}$", description = "The complaint id: its stream `complaint-<id>` is a stream name (1..=200 bytes of [A-Za-z0-9_.:-])"), openapi::ReadYourWrites),
    responses((status = 200, description = "Status, deadlines, solutions, escalation level, history length", body = openapi::ComplaintDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc),
        (status = 404, description = "No such complaint (as of `as_of`)", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting or failed", body = openapi::ErrorDoc)))]
async fn complaint(
    State(state): State<AppState>,
    caller: Caller,
    Path(complaint_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Read, "read")?;
    let params = Params::new(query, &["as_of", "min_position", "wait_ms"])?;
    let explicit_as_of = params.0.contains_key("as_of");
    let mut query = projection_query_of(params.0)?;
    let stream =
        StreamName::complaint(&complaint_id).map_err(|e| ApiError::bad_request(format!("bad complaint id: {e}")))?;
    if explicit_as_of && query.as_of < Timestamp::now() {
        // What was true at an earlier instant: this complaint's events recorded by then, folded.
        return complaint_as_recorded(&state, &stream, &complaint_id, query.as_of).await.map(Json);
    }
    query.params.insert("complaint_id".into(), complaint_id);
    Ok(Json(state.inner.projections.query("complaint", &query).await?))
}

/// One complaint as the store had recorded it at `as_of`: a fold of its stream's events recorded by then.
async fn complaint_as_recorded(
    state: &AppState,
    stream: &StreamName,
    complaint_id: &str,
    as_of: Timestamp,
) -> Result<Value, ApiError> {
    let mut events = Vec::new();
    let mut from = 0;
    loop {
        let page = state.inner.store.read_stream(stream, from, Direction::Forward, 10_000).await?;
        let done = page.next.is_none();
        events.extend(page.events.into_iter().filter(|e| e.recorded_at <= as_of));
        match page.next {
            Some(next) if !done => from = next,
            _ => break,
        }
    }
    let last_version = events
        .last()
        .map(|e| e.version)
        .ok_or_else(|| ApiError::not_found(format!("no complaint {complaint_id:?} as of {as_of}")))?;
    let folded = lifecycle::fold(events.iter().map(|e| (&e.data, e.occurred_at)));
    let complaint = folded.complaint().ok_or_else(|| ApiError::not_found(format!("no complaint {complaint_id:?}")))?;
    Ok(complaint_view(complaint, last_version, &state.inner.policy, as_of))
}

#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, description = "`{ok: true, events, head_position, head_hash}` or `{ok: false, position, reason}`", body = openapi::VerificationDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc),
        (status = 403, description = "Publishers may not audit", body = openapi::ErrorDoc),
        (status = 503, description = "unavailable: another audit job (verify or replay) is running on this server (one at a time); retry after `Retry-After` seconds", body = openapi::ErrorDoc)))]
async fn audit_verify(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Audit, "audit")?;
    Ok(Json(verification_json(&state).await?))
}

/// Seconds a refused audit job is told to wait.
const AUDIT_RETRY_AFTER_SECONDS: u64 = 5;

/// A permit for a whole-log audit job (a verify or a replay), or 503 at once while another runs. Each
/// reads the whole log and hashes or folds it (seconds per 100k events), and a client that gives up does
/// not stop it: queued, abandoned jobs would hold the cores for minutes (a fuzzer's 10 s timeouts did
/// exactly that). So one runs per server and the next is refused, with `Retry-After`.
fn audit_permit(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    Arc::clone(&state.inner.audit_work)
        .try_acquire_owned()
        .map_err(|_| ApiError::busy("another audit job (verify or replay) is running", AUDIT_RETRY_AFTER_SECONDS))
}

/// The chain verified from the first event: `/audit/verify`'s answer (the console's audit page shows it).
/// It runs on the blocking pool: it hashes for seconds with few awaits, and on a runtime worker it would
/// hold that worker, and the tasks queued behind it, just as long (as `Folds::replay` does for replays).
async fn verification_json(state: &AppState) -> Result<Value, ApiError> {
    let _permit = audit_permit(state)?;
    let store = Arc::clone(&state.inner.store);
    let verdict = redress_engine::on_blocking_pool(async move { verify_store(&*store, |_| {}).await })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("the verify failed: {e}")))?;
    Ok(match verdict? {
        Verification::Intact { events, head } => json!({
            "ok": true, "events": events,
            "head_position": head.map(|(p, _)| p.0), "head_hash": head.map(|(_, h)| h.to_hex()),
        }),
        Verification::Broken { position, reason } => json!({"ok": false, "position": position.0, "reason": reason}),
    })
}

#[utoipa::path(get, path = "/audit/checkpoint", tag = "audit",
    responses((status = 200, description = "The latest signed checkpoint of the log's head (signed now if the head moved past it)", body = openapi::CheckpointDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc),
        (status = 403, description = "Publishers may not audit", body = openapi::ErrorDoc),
        (status = 404, description = "No checkpoint yet: the log is empty (or this server signs none and none is stored)", body = openapi::ErrorDoc)))]
async fn audit_checkpoint(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Audit, "audit")?;
    let store = &*state.inner.store;
    let latest = match &state.signer {
        Some(signer) => checkpoint_now(store, signer, Timestamp::now()).await.map_err(|error| match error {
            CheckpointError::Store(error) => ApiError::from(error),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "checkpoint_failed", other.to_string()),
        })?,
        None => store.latest_checkpoint().await?,
    };
    latest
        .map(|checkpoint| Json(checkpoint.to_json()))
        .ok_or_else(|| ApiError::not_found("no checkpoint yet: the log is empty"))
}

#[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, description = "Appends can succeed; the log's head position", body = openapi::HealthDoc),
        (status = 503, description = "Appends cannot succeed now: `{status: \"unavailable\", reason}`", body = openapi::HealthUnavailableDoc)))]
async fn health(State(state): State<AppState>) -> Response {
    let head = state.inner.store.head().await.ok().flatten().map(|h| h.position.0);
    match state.inner.store.health() {
        StoreHealth::Ok => Json(json!({"status": "ok", "head_position": head})).into_response(),
        other => {
            let (reason, recovering) = match &other {
                StoreHealth::Recovering { reason, .. } => (reason.clone(), true),
                StoreHealth::Failed { reason } => (reason.clone(), false),
                StoreHealth::Closed => ("the store is closed".to_owned(), false),
                StoreHealth::Ok => unreachable!("matched above"),
            };
            let body = json!({"status": "unavailable", "reason": reason, "recovering": recovering,
                "store": other, "head_position": head});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc)))]
async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Access::Read, "read metrics")?;
    let head = state.inner.store.head().await?.map(|h| h.position.0);
    let mut text = state.inner.metrics.render(head);
    if let Some(subscriptions) = &state.subscriptions {
        text.push_str(&subscriptions.metrics_text().await);
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "This document", body = Object)))]
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

impl From<ProjectionError> for ApiError {
    fn from(error: ProjectionError) -> ApiError {
        let message = error.to_string();
        match error {
            ProjectionError::BadQuery(_) => ApiError::bad_request(message),
            ProjectionError::Unknown(_) => ApiError::not_found(message),
            ProjectionError::Failed { position, .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
                    .with("failed_at", json!(position))
            }
            ProjectionError::Starting(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
            ProjectionError::NotCaughtUp { checkpoint, min_position, .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_caught_up", message)
                    .with("checkpoint", json!(checkpoint))
                    .with("min_position", json!(min_position))
            }
            ProjectionError::NotFound(_) => ApiError::not_found(message),
            ProjectionError::Busy(_) => ApiError::busy(message, AUDIT_RETRY_AFTER_SECONDS),
            ProjectionError::Store(e) => e.into(),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
        }
    }
}

/// A projection query from query parameters: `as_of` (RFC 3339, default now) becomes the query's
/// instant, `min_position` and `wait_ms` (API.md v1.1: read your own writes) how far the log must be
/// applied; the rest are the view's parameters.
fn projection_query_of(mut query: HashMap<String, String>) -> Result<ProjectionQuery, ApiError> {
    let as_of = match query.remove("as_of").as_ref() {
        Some(v) => Timestamp::parse(v).map_err(|e| ApiError::bad_request(format!("as_of: {e}")))?,
        None => Timestamp::now(),
    };
    let number = |query: &mut HashMap<String, String>, name: &str| {
        query
            .remove(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer")))
            })
            .transpose()
    };
    let min_position = number(&mut query, "min_position")?;
    let wait_ms = number(&mut query, "wait_ms")?.unwrap_or(redress_projections::WAIT_MS_DEFAULT);
    if wait_ms > redress_projections::WAIT_MS_MAX {
        return Err(ApiError::bad_request(format!("wait_ms must be at most {}", redress_projections::WAIT_MS_MAX)));
    }
    let mut q = ProjectionQuery::at(as_of);
    q.params = query.into_iter().collect();
    q.min_position = min_position;
    q.wait = std::time::Duration::from_millis(wait_ms);
    Ok(q)
}

#[utoipa::path(get, path = "/projections", tag = "projections",
    responses((status = 200, description = "Each projection's name, version, checkpoint, lag and state", body = openapi::ProjectionStatusesDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc)))]
async fn projection_statuses(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Read, "read")?;
    Ok(Json(json!({"projections": state.inner.projections.statuses().await})))
}

#[utoipa::path(get, path = "/projections/{name}", tag = "projections",
    params(("name" = String, Path, description = "A projection's name: a developer's own, or a built-in view (whose own path documents its parameters)"),
        openapi::ReadYourWrites),
    responses((status = 200, description = "The projection's answer", body = Object),
        (status = 400, description = "Bad parameter (a view's own parameters are on its path)", body = openapi::ErrorDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc),
        (status = 404, description = "No such projection", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the projection is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn projection_query(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, &name, query).await
}

/// A built-in view on its own path: what `/projections/{name}` answers for that name.
async fn view(
    state: &AppState,
    caller: Caller,
    name: &str,
    query: HashMap<String, String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Read, "read")?;
    let query = projection_query_of(query)?;
    Ok(Json(state.inner.projections.query(name, &query).await?))
}

#[utoipa::path(get, path = "/projections/open-complaints", tag = "projections",
    params(openapi::OpenComplaintFilters, openapi::Paging, openapi::ReadYourWrites),
    responses((status = 200, description = "A page of the complaints not closed, earliest unmet deadline first", body = openapi::OpenComplaintsDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_open_complaints(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "open-complaints", query).await
}

#[utoipa::path(get, path = "/projections/needs-attention", tag = "projections",
    params(openapi::AttentionFilters, openapi::TextPaging, openapi::ReadYourWrites),
    responses((status = 200, description = "A page of complaints a supervisor should look at, each with why: overdue, an update due soon, a key customer not visited, an issue a revisit found persisting, a watch word", body = openapi::NeedsAttentionDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_needs_attention(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "needs-attention", query).await
}

#[utoipa::path(get, path = "/projections/problems", tag = "projections",
    params(openapi::ProblemFilters, openapi::TextPaging, openapi::ReadYourWrites),
    responses((status = 200, description = "A page of problems (root causes) with their corrective actions, linked complaints and recurrences, most recurrences first", body = openapi::ProblemsDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_problems(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "problems", query).await
}

#[utoipa::path(get, path = "/projections/deadline-alerts", tag = "projections",
    params(openapi::AlertQuery, openapi::Paging, openapi::ReadYourWrites),
    responses((status = 200, description = "A page of open complaints' deadlines not met yet that fall due within the lead time (`due_soon`) or have passed (`overdue`), earliest deadline first; the server sends each to the subscriptions the policy's `alerts` names", body = openapi::DeadlineAlertsDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_deadline_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "deadline-alerts", query).await
}

#[utoipa::path(get, path = "/projections/customer-history", tag = "projections",
    params(openapi::CustomerQuery, openapi::Paging, openapi::ReadYourWrites),
    responses((status = 200, description = "A page of the customer's complaints, newest first (none: an empty page)", body = openapi::CustomerHistoryDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_customer_history(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "customer-history", query).await
}

#[utoipa::path(get, path = "/projections/repeat-issues", tag = "projections",
    params(openapi::RepeatWindow, openapi::TextPaging, openapi::ReadYourWrites),
    responses((status = 200, description = "A page of repeat complaints, with root causes, reopen rate and persisting complaints", body = openapi::RepeatIssuesDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_repeat_issues(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "repeat-issues", query).await
}

#[utoipa::path(get, path = "/projections/satisfaction", tag = "projections",
    params(openapi::SatisfactionGroups, openapi::ReadYourWrites),
    responses((status = 200, description = "Revisit satisfaction, time to acknowledge and resolve, deadlines met, per group", body = openapi::SatisfactionDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_satisfaction(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "satisfaction", query).await
}

#[utoipa::path(get, path = "/projections/complaint", tag = "projections",
    params(openapi::ComplaintQuery, openapi::ReadYourWrites),
    responses((status = 200, description = "One complaint's state and deadlines", body = openapi::ComplaintDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 404, description = "No such complaint (as of `as_of`)", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_complaint(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "complaint", query).await
}

#[utoipa::path(get, path = "/projections/suggestions", tag = "projections",
    params(openapi::SuggestionQuery, openapi::ReadYourWrites),
    responses((status = 200, description = "Standard answers for the text, best first; retired answers never", body = openapi::SuggestionsDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_suggestions(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "suggestions", query).await
}

#[utoipa::path(get, path = "/projections/answer-gaps", tag = "projections",
    params(openapi::GapQuery, openapi::TextPaging, openapi::ReadYourWrites),
    responses((status = 200, description = "Recurring complaint themes no standard answer covers, largest first", body = openapi::AnswerGapsDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting, failed or busy", body = openapi::ErrorDoc)))]
async fn view_answer_gaps(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    view(&state, caller, "answer-gaps", query).await
}

#[utoipa::path(post, path = "/projections/{name}/rebuild", tag = "projections",
    params(("name" = String, Path, description = "The projection to rebuild from position 0")),
    responses((status = 202, description = "Rebuilding beside the current state, which keeps answering", body = openapi::RebuildDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc),
        (status = 403, description = "Only admins rebuild", body = openapi::ErrorDoc),
        (status = 404, description = "No such projection", body = openapi::ErrorDoc)))]
async fn projection_rebuild(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Access::Admin, "rebuild projections")?;
    state.inner.projections.rebuild(&name)?;
    Ok((StatusCode::ACCEPTED, Json(json!({"rebuilding": name}))))
}

#[utoipa::path(get, path = "/customers/{customer_id}/history", tag = "read",
    params(("customer_id" = String, Path, description = "The customer"), openapi::Paging, openapi::ReadYourWrites),
    responses((status = 200, description = "The customer's complaints and outcomes, newest first (客户档案)", body = openapi::CustomerHistoryDoc),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc),
        (status = 404, description = "No complaint from this customer (as of `as_of`)", body = openapi::ErrorDoc),
        (status = 503, description = "not_caught_up: `min_position` not applied within `wait_ms`; unavailable: the view is starting or failed", body = openapi::ErrorDoc)))]
async fn customer_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Read, "read")?;
    let mut query = projection_query_of(query)?;
    query.params.insert("customer_id".into(), customer_id.clone());
    let answer = state.inner.projections.query("customer-history", &query).await?;
    if answer["complaint_count"] == 0 {
        return Err(ApiError::not_found(format!("no complaint from customer {customer_id:?}")));
    }
    Ok(Json(answer))
}

#[utoipa::path(get, path = "/audit/replay", tag = "audit",
    params(openapi::ReplayQuery),
    responses((status = 200, description = "The projection's answer as it stood at as_of", body = Object),
        (status = 400, description = "Bad parameter", body = openapi::ErrorDoc),
        (status = 403, description = "Publishers may not audit", body = openapi::ErrorDoc),
        (status = 404, description = "No such projection", body = openapi::ErrorDoc),
        (status = 503, description = "unavailable: another audit job (verify or replay) is running on this server (one at a time); retry after `Retry-After` seconds", body = openapi::ErrorDoc)))]
async fn audit_replay(
    State(state): State<AppState>,
    caller: Caller,
    Query(mut query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Access::Audit, "audit")?;
    let name = query.remove("projection").ok_or_else(|| ApiError::bad_request("projection is required"))?;
    if !query.contains_key("as_of") {
        return Err(ApiError::bad_request("as_of is required"));
    }
    let basis = match query.remove("basis").as_deref() {
        None | Some("recorded") => Basis::Recorded,
        Some("occurred") => Basis::Occurred,
        Some(other) => return Err(ApiError::bad_request(format!("basis {other:?}: use recorded or occurred"))),
    };
    let query = projection_query_of(query)?;
    // Folds::replay runs it on the blocking pool, one replay at a time; the permit keeps a verify apart.
    let _permit = audit_permit(&state)?;
    Ok(Json(state.inner.projections.replay(&name, basis, &query).await?))
}
