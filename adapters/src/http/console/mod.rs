//! The web console at `/console`: HTML pages for desk supervisors and auditors, served by the same
//! server, on the same port, with the same roles as the JSON API.
//!
//! Every page is a view the JSON API already answers (`Folds::query`, the store's reads), rendered
//! on the server with `maud`; there is no second set of queries. Writes go through the store's append,
//! as `POST /streams/{stream}/events` does, with the complaint's version as the expected version, so a
//! form submitted over someone else's change is refused rather than applied blindly.
//!
//! Sign-in takes a token once and keeps only a random session id in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` when the request came over TLS through a proxy saying `X-Forwarded-Proto: https`).
//! Every writing form carries the session's CSRF token; the server checks it and the role on every
//! post, whatever the page showed. Assets are compiled into the binary: nothing is fetched at run time,
//! and the Content-Security-Policy allows scripts and styles from the console itself only.

mod page;
mod reports;
mod session;
mod text;

pub use session::{Sessions, SESSIONS_MAX, SESSION_IDLE_MAX, SESSION_LIFETIME};
pub use text::Lang;

use super::auth::Access;
use super::{complaint_as_recorded, projection_query_of, AppState};
use crate::http::ApiError;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use page::Page;
use redress_engine::{Direction, ExpectedVersion};
use redress_schemas::{ProposedEvent, StreamName, Timestamp};
use serde_json::{json, Map, Value};
use session::SessionUser;
use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;
use text::Msg;

/// The session cookie's name.
const SESSION_COOKIE: &str = "redress_session";
/// The language cookie's name (not a secret: a preference).
const LANG_COOKIE: &str = "redress_lang";
/// Events of one complaint shown on its page at most (a complaint has tens).
pub const COMPLAINT_EVENTS_SHOWN_MAX: usize = 1_000;
/// Rows on a list page when the address does not say.
const PAGE_ROWS_DEFAULT: &str = "50";
/// How often a live page's event stream looks for a new head.
const LIVE_POLL: Duration = Duration::from_millis(500);

/// The console's routes, all under `/console`.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/lang", get(switch_lang))
        .route("/console/assets/{name}", get(asset))
        .route("/console/live", get(live))
        .route("/console/needs-attention", get(needs_attention))
        .route("/console/open-complaints", get(open_complaints))
        .route("/console/complaints/{complaint_id}", get(complaint_page))
        .route("/console/complaints/{complaint_id}/{action}", post(complaint_action))
        .route("/console/customers/{customer_id}", get(customer_page))
        .route("/console/problems", get(problems_page))
        .route("/console/satisfaction", get(satisfaction_page))
        .route("/console/suggestions", get(suggestions_page))
        .route("/console/answer-gaps", get(answer_gaps_page))
        .route("/console/audit", get(audit_page))
        .route("/console/operations", get(operations_page))
        .route("/console/audit/erase", post(erase))
        .route("/console/operations/rebuild/{name}", post(rebuild))
        .route("/console/operations/subscriptions/{name}/retry", post(retry_parked))
}

/// Headers every console answer carries: no framing (clickjacking), no sniffing, no script or style
/// from anywhere but the console, no caching of pages that hold complaint data.
pub(super) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).map_or(Lang::default(), Lang::from_code)
}

/// Whether the browser reached us over TLS (through a proxy that terminates it).
fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/console"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// A signed-in browser: its session and language. Without a live session a page answers with the
/// sign-in page's address (303), a post with 401.
pub struct Viewer {
    user: SessionUser,
    session: String,
    lang: Lang,
    /// The address asked for (path and query), for the language switch to come back to.
    here: String,
}

impl Viewer {
    fn may(&self, access: Access) -> bool {
        self.user.role.grants(access)
    }

    fn page(&self, title: Msg) -> Page<'_> {
        Page::new(self.lang, title, Some(&self.user), self.here.clone())
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Viewer, Response> {
        let lang = lang_of(&parts.headers);
        let session = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned);
        match session.as_deref().and_then(|id| state.inner.console.user(id)) {
            Some(user) => {
                let here = parts.uri.path_and_query().map_or("/console", |p| p.as_str()).to_owned();
                Ok(Viewer { user, session: session.unwrap_or_default(), lang, here })
            }
            None if parts.method == axum::http::Method::GET => Err(see_other("/console/login")),
            None => Err(login_page_with(lang, StatusCode::UNAUTHORIZED, Some(Msg::BadToken))),
        }
    }
}

async fn home() -> Response {
    see_other("/console/needs-attention")
}

async fn login_page(headers: HeaderMap) -> Response {
    login_page_with(lang_of(&headers), StatusCode::OK, None)
}

fn login_page_with(lang: Lang, status: StatusCode, failed: Option<Msg>) -> Response {
    Page::new(lang, Msg::SignIn, None, "/console/login".into()).render(status, page::login_form(lang, failed))
}

/// Reads a form body within the API's body limits and timeouts.
async fn form(state: &AppState, body: Body) -> Result<HashMap<String, String>, ApiError> {
    let bytes = state.read_body(body).await?;
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .map(|pairs| pairs.into_iter().collect())
        .map_err(|e| ApiError::bad_request(format!("malformed form: {e}")))
}

/// The fields of a post that writes: the role must grant `access` (checked before the body is read)
/// and the form must carry the session's CSRF token; otherwise the refusal page (403, nothing written).
async fn writing_form(
    state: &AppState,
    viewer: &Viewer,
    page: &Page<'_>,
    access: Access,
    body: Body,
) -> Result<HashMap<String, String>, Response> {
    if !viewer.may(access) {
        return Err(page.error(StatusCode::FORBIDDEN, Msg::Forbidden, &format!("role {}", viewer.user.role)));
    }
    let fields = form(state, body).await.map_err(|error| page.api_error(&error))?;
    if !fields.get("csrf").is_some_and(|given| viewer.user.csrf_matches(given)) {
        return Err(page.error(StatusCode::FORBIDDEN, Msg::CsrfFailed, ""));
    }
    Ok(fields)
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let lang = lang_of(&headers);
    let fields = match form(&state, body).await {
        Ok(fields) => fields,
        Err(error) => return login_page_with(lang, error.status, Some(Msg::BadToken)),
    };
    let token = fields.get("token").map(|t| t.trim()).unwrap_or_default();
    let Some(credential) = state.inner.tokens.credential_of(token) else {
        return login_page_with(lang, StatusCode::UNAUTHORIZED, Some(Msg::BadToken));
    };
    let id = state.inner.console.start(credential.role, credential.name);
    let secure = if over_tls(&headers) { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_LIFETIME.as_secs()
    );
    let mut response = see_other("/console/needs-attention");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn logout(State(state): State<AppState>, viewer: Viewer, body: Body) -> Response {
    let fields = form(&state, body).await.unwrap_or_default();
    if !fields.get("csrf").is_some_and(|given| viewer.user.csrf_matches(given)) {
        return viewer.page(Msg::SignOut).error(StatusCode::FORBIDDEN, Msg::CsrfFailed, "");
    }
    state.inner.console.end(&viewer.session);
    let mut response = see_other("/console/login");
    let expired = format!("{SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Sets the language cookie and goes back to the page it was asked from (a console page only: this
/// must not redirect anywhere else).
async fn switch_lang(Query(query): Query<HashMap<String, String>>) -> Response {
    let lang = Lang::from_code(query.get("to").map_or("zh", String::as_str));
    let back = query
        .get("back")
        .filter(|b| b.starts_with("/console") && !b.starts_with("//") && !b.contains(['\r', '\n', '\\']))
        .map_or("/console", String::as_str);
    let mut response = see_other(back);
    let cookie = format!("{LANG_COOKIE}={}; Path=/console; SameSite=Strict; Max-Age=31536000", lang.code());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The console's static files, compiled in.
async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match name.as_str() {
        "console.css" => (include_bytes!("assets/console.css"), "text/css; charset=utf-8"),
        "console.js" => (include_bytes!("assets/console.js"), "text/javascript; charset=utf-8"),
        "uPlot.iife.min.js" => (include_bytes!("assets/uPlot.iife.min.js"), "text/javascript; charset=utf-8"),
        "uPlot.min.css" => (include_bytes!("assets/uPlot.min.css"), "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// Server-sent events for live pages: the log's head position each time it moves (the page then
/// fetches its rows again). Ends when the server shuts down or the session ends.
async fn live(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let shutdown = state.inner.shutdown.clone();
    let events = futures_util::stream::unfold(
        (state, shutdown, viewer.session, None::<u64>),
        |(state, mut shutdown, session, mut last)| async move {
            loop {
                if *shutdown.borrow() || state.inner.console.user(&session).is_none() {
                    return None;
                }
                let head = state.inner.store.head().await.ok().flatten().map(|h| h.position.0);
                if head.is_some() && head != last {
                    let first = last.is_none();
                    last = head;
                    if !first {
                        let event = SseEvent::default().event("position").data(head.unwrap_or(0).to_string());
                        return Some((Ok(event), (state, shutdown, session, last)));
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(LIVE_POLL) => {}
                    _ = shutdown.changed() => return None,
                }
            }
        },
    );
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The query a list page gives its view: the page's known filters that are not blank.
fn view_query(query: &HashMap<String, String>, known: &[&str]) -> HashMap<String, String> {
    let mut params: HashMap<String, String> = query
        .iter()
        .filter(|(key, value)| known.contains(&key.as_str()) && !value.trim().is_empty())
        .map(|(key, value)| (key.clone(), value.trim().to_owned()))
        .collect();
    params.entry("limit".into()).or_insert_with(|| PAGE_ROWS_DEFAULT.into());
    params
}

/// A past `as_of` from the address (RFC 3339, or a `datetime-local` value read as UTC).
fn as_of_of(query: &HashMap<String, String>) -> Option<String> {
    let raw = query.get("as_of").map(|v| v.trim()).filter(|v| !v.is_empty())?;
    Timestamp::parse(raw)
        .or_else(|_| Timestamp::parse(&format!("{raw}:00Z")))
        .or_else(|_| Timestamp::parse(&format!("{raw}Z")))
        .ok()
        .map(Timestamp::to_rfc3339)
}

async fn list_view(
    state: &AppState,
    name: &str,
    mut params: HashMap<String, String>,
    as_of: &Option<String>,
) -> Result<Value, ApiError> {
    if let Some(as_of) = as_of {
        params.insert("as_of".into(), as_of.clone());
    }
    let query = projection_query_of(params)?;
    Ok(state.inner.projections.query(name, &query).await?)
}

/// The filters of needs-attention.
const ATTENTION_FILTERS: &[&str] = &["reason", "owner", "team", "recorded_by", "cursor", "limit", "min_position"];
/// The filters of open-complaints.
const OPEN_FILTERS: &[&str] =
    &["severity", "owner", "team", "recorded_by", "customer_tier", "waiting", "cursor", "limit", "min_position"];

async fn needs_attention(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    complaint_list(&state, &viewer, &query, page::ListKind::NeedsAttention).await
}

async fn open_complaints(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    complaint_list(&state, &viewer, &query, page::ListKind::OpenComplaints).await
}

async fn complaint_list(
    state: &AppState,
    viewer: &Viewer,
    query: &HashMap<String, String>,
    kind: page::ListKind,
) -> Response {
    let (view, known) = match kind {
        page::ListKind::NeedsAttention => ("needs-attention", ATTENTION_FILTERS),
        page::ListKind::OpenComplaints => ("open-complaints", OPEN_FILTERS),
    };
    let as_of = as_of_of(query);
    let params = view_query(query, known);
    let page = viewer.page(kind.title()).with_as_of(as_of.clone());
    match list_view(state, view, params.clone(), &as_of).await {
        Ok(answer) if query.get("fragment").is_some_and(|f| f == "rows") => {
            page.fragment(page::complaint_rows(viewer.lang, kind, &answer))
        }
        Ok(answer) => page.render(StatusCode::OK, page::complaint_list(viewer.lang, kind, &params, &as_of, &answer)),
        Err(error) => page.api_error(&error),
    }
}

async fn customer_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(customer_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let as_of = as_of_of(&query);
    let mut params = view_query(&query, &["cursor", "limit"]);
    params.insert("customer_id".into(), customer_id.clone());
    let page = viewer.page(Msg::CustomerHistory).with_as_of(as_of.clone());
    match list_view(&state, "customer-history", params, &as_of).await {
        Ok(answer) => page.render(StatusCode::OK, page::customer(viewer.lang, &customer_id, &answer)),
        Err(error) => page.api_error(&error),
    }
}

async fn problems_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let as_of = as_of_of(&query);
    let page = viewer.page(Msg::Problems).with_as_of(as_of.clone());
    let problems =
        list_view(&state, "problems", view_query(&query, &["status", "category", "cursor", "limit"]), &as_of);
    let repeat = list_view(&state, "repeat-issues", view_query(&query, &[]), &as_of);
    match tokio::try_join!(problems, repeat) {
        Ok((problems, repeat)) => page.render(StatusCode::OK, reports::problems(viewer.lang, &problems, &repeat)),
        Err(error) => page.api_error(&error),
    }
}

async fn satisfaction_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let as_of = as_of_of(&query);
    let page = viewer.page(Msg::SatisfactionPage).with_as_of(as_of.clone());
    let mut params = view_query(&query, &["group_by"]);
    params.remove("limit");
    params.entry("group_by".into()).or_insert_with(|| "department".into());
    // A date field gives a day: the period runs from its first instant.
    for bound in ["from", "to"] {
        if let Some(day) = query.get(bound).map(|d| d.trim()).filter(|d| !d.is_empty()) {
            let instant = if day.len() == 10 { format!("{day}T00:00:00Z") } else { day.to_owned() };
            params.insert(bound.into(), instant);
        }
    }
    match list_view(&state, "satisfaction", params.clone(), &as_of).await {
        Ok(answer) => page.render(StatusCode::OK, reports::satisfaction(viewer.lang, &params, &answer)),
        Err(error) => page.api_error(&error),
    }
}

async fn suggestions_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let page = viewer.page(Msg::Suggestions);
    let asked = query.get("text").map(|t| t.trim()).filter(|t| !t.is_empty());
    let answer = match asked {
        None => None,
        Some(text) => {
            let params = HashMap::from([("text".to_owned(), text.to_owned()), ("k".to_owned(), "5".to_owned())]);
            match list_view(&state, "suggestions", params, &None).await {
                Ok(answer) => Some(answer),
                Err(error) => return page.api_error(&error),
            }
        }
    };
    page.render(StatusCode::OK, reports::suggestions(viewer.lang, asked.unwrap_or(""), answer.as_ref()))
}

async fn answer_gaps_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let page = viewer.page(Msg::AnswerGaps);
    match list_view(&state, "answer-gaps", view_query(&query, &["cursor", "limit"]), &None).await {
        Ok(answer) => page.render(StatusCode::OK, reports::answer_gaps(viewer.lang, &answer)),
        Err(error) => page.api_error(&error),
    }
}

async fn audit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let page = viewer.page(Msg::Audit);
    let allowed = viewer.may(Access::Audit);
    let verification = if allowed && query.contains_key("verify") {
        match super::verification_json(&state).await {
            Ok(verification) => Some(verification),
            Err(error) => return page.api_error(&error),
        }
    } else {
        None
    };
    let status = if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN };
    // The latest checkpoint as stored (a page view signs nothing; `GET /audit/checkpoint` does).
    let checkpoint = if allowed {
        match state.inner.store.latest_checkpoint().await {
            Ok(latest) => latest.map(|c| c.to_json()),
            Err(error) => return page.api_error(&ApiError::from(error)),
        }
    } else {
        None
    };
    let erase_csrf = (viewer.may(Access::Admin) && state.erasure.is_some()).then_some(viewer.user.csrf.as_str());
    let extras = reports::AuditExtras {
        checkpoint: checkpoint.as_ref(),
        erased: query.get("erased").map(String::as_str),
        erase_csrf,
    };
    page.render(status, reports::audit(viewer.lang, verification.as_ref(), allowed, &extras))
}

/// An admin's erasure of a customer's personal data, as `POST /customers/{id}/erase`.
async fn erase(State(state): State<AppState>, viewer: Viewer, body: Body) -> Response {
    let page = viewer.page(Msg::Audit);
    let fields = match writing_form(&state, &viewer, &page, Access::Admin, body).await {
        Ok(fields) => fields,
        Err(refused) => return refused,
    };
    let field = |name: &str| fields.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    let request = super::ErasureRequest { requested_by: field("requested_by"), legal_basis: field("legal_basis") };
    match super::erase::erase(&state, viewer.user.name.clone(), &field("customer_id"), &request, "redress-console")
        .await
    {
        Ok(answer) => {
            let pseudonym = answer["pseudonym"].as_str().unwrap_or_default();
            let query = serde_urlencoded::to_string([("erased", pseudonym)]).unwrap_or_default();
            see_other(&format!("/console/audit?{query}"))
        }
        Err(error) => page.api_error(&error),
    }
}

/// An admin's retry of a subscription's parked events, as `POST /subscriptions/{name}/parked/retry`.
async fn retry_parked(State(state): State<AppState>, viewer: Viewer, Path(name): Path<String>, body: Body) -> Response {
    let page = viewer.page(Msg::Operations);
    if let Err(refused) = writing_form(&state, &viewer, &page, Access::Admin, body).await {
        return refused;
    }
    let Some(subscriptions) = state.subscriptions.as_ref() else { return see_other("/console/operations") };
    match subscriptions.retry_parked(&name, redress_subscriptions::limits::FETCH_EVENTS_MAX).await {
        Ok(_) => see_other("/console/operations"),
        Err(error) => page.api_error(&ApiError::from(error)),
    }
}

async fn operations_page(State(state): State<AppState>, viewer: Viewer) -> Response {
    let page = viewer.page(Msg::Operations);
    let statuses = json!({"projections": state.inner.projections.statuses().await});
    let health = match state.inner.store.health() {
        redress_engine::StoreHealth::Ok => json!({"status": "ok"}),
        other => json!({"status": "unavailable", "reason": format!("{other:?}")}),
    };
    let csrf = viewer.may(Access::Admin).then_some(viewer.user.csrf.as_str());
    let subscriptions = match state.subscriptions.as_ref().map(|service| service.statuses()) {
        None => Vec::new(),
        Some(statuses) => match statuses.await {
            Ok(statuses) => statuses.iter().map(|s| s.to_json()).collect(),
            Err(error) => return page.api_error(&ApiError::from(error)),
        },
    };
    page.render(StatusCode::OK, reports::operations(viewer.lang, &statuses, &subscriptions, &health, csrf))
}

/// An admin's rebuild of one projection, as `POST /projections/{name}/rebuild`.
async fn rebuild(State(state): State<AppState>, viewer: Viewer, Path(name): Path<String>, body: Body) -> Response {
    let page = viewer.page(Msg::Operations);
    if let Err(refused) = writing_form(&state, &viewer, &page, Access::Admin, body).await {
        return refused;
    }
    match state.inner.projections.rebuild(&name) {
        Ok(_) => see_other("/console/operations"),
        Err(error) => page.api_error(&ApiError::from(error)),
    }
}

/// A complaint's folded state (as the API's `GET /complaints/{id}` answers it) and its events.
async fn complaint_data(
    state: &AppState,
    complaint_id: &str,
    as_of: &Option<String>,
    min_position: Option<&String>,
) -> Result<(Value, Vec<Value>), ApiError> {
    let stream =
        StreamName::complaint(complaint_id).map_err(|e| ApiError::bad_request(format!("bad complaint id: {e}")))?;
    let past = as_of.as_deref().map(Timestamp::parse).transpose().ok().flatten().filter(|t| *t < Timestamp::now());
    let folded = match past {
        Some(instant) => complaint_as_recorded(state, &stream, complaint_id, instant).await?,
        None => {
            let mut params = HashMap::from([("complaint_id".to_owned(), complaint_id.to_owned())]);
            if let Some(min) = min_position {
                params.insert("min_position".into(), min.clone());
            }
            state.inner.projections.query("complaint", &projection_query_of(params)?).await?
        }
    };
    let page = state.inner.store.read_stream(&stream, 0, Direction::Forward, COMPLAINT_EVENTS_SHOWN_MAX).await?;
    let events = page
        .events
        .iter()
        .filter(|event| past.is_none_or(|instant| event.recorded_at <= instant))
        .map(|event| event.to_json())
        .collect();
    Ok((folded, events))
}

async fn complaint_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(complaint_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let as_of = as_of_of(&query);
    let page = viewer.page(Msg::Complaint).with_as_of(as_of.clone());
    match complaint_data(&state, &complaint_id, &as_of, query.get("min_position")).await {
        Ok((complaint, events)) => {
            let forms = (viewer.may(Access::Write) && as_of.is_none()).then_some(viewer.user.csrf.as_str());
            let notice = page::Notice::of(&query);
            page.render(StatusCode::OK, page::complaint(viewer.lang, &complaint, &events, forms, notice))
        }
        Err(error) => page.api_error(&error),
    }
}

/// The event a shortcut form stands for, from the form's fields: the same JSON an API client sends.
fn action_event(action: &str, fields: &HashMap<String, String>) -> Result<(String, Value), ApiError> {
    let text = |name: &str| fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let required =
        |name: &str| text(name).map(str::to_owned).ok_or_else(|| ApiError::bad_request(format!("{name} is required")));
    let mut data = Map::new();
    let event_type = match action {
        "assign" => {
            data.insert("assignee".into(), json!(required("assignee")?));
            if let Some(team) = text("team") {
                data.insert("team".into(), json!(team));
            }
            "complaint_assigned"
        }
        "acknowledge" => {
            data.insert("via".into(), json!(required("via")?));
            data.insert("message".into(), json!(required("message")?));
            "complaint_acknowledged"
        }
        "offer" => {
            data.insert("solution_id".into(), json!(required("solution_id")?));
            data.insert("description".into(), json!(required("description")?));
            if let Some(promised) = text("promised_by") {
                let instant = Timestamp::parse(promised)
                    .or_else(|_| Timestamp::parse(&format!("{promised}:00Z")))
                    .map_err(|_| ApiError::bad_request("promised_by must be a date and time"))?;
                data.insert("promised_by".into(), json!(instant.to_rfc3339()));
            }
            "solution_offered"
        }
        "revisit" => {
            data.insert("via".into(), json!(required("via")?));
            let satisfaction: u8 = required("satisfaction")?
                .parse()
                .map_err(|_| ApiError::bad_request("satisfaction must be a whole number from 1 to 5"))?;
            data.insert("satisfaction".into(), json!(satisfaction));
            data.insert("issue_persists".into(), json!(text("issue_persists").is_some()));
            if let Some(note) = text("note") {
                data.insert("note".into(), json!(note));
            }
            "revisit_done"
        }
        other => return Err(ApiError::not_found(format!("no console action {other:?}"))),
    };
    Ok((event_type.to_owned(), Value::Object(data)))
}

/// A shortcut form's post: session, CSRF token and role are checked before anything is parsed;
/// the event goes through the store's append with the version the page showed.
async fn complaint_action(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((complaint_id, action)): Path<(String, String)>,
    body: Body,
) -> Response {
    let page = viewer.page(Msg::Complaint);
    let fields = match writing_form(&state, &viewer, &page, Access::Write, body).await {
        Ok(fields) => fields,
        Err(refused) => return refused,
    };
    let back = format!("/console/complaints/{}", page::path_segment(&complaint_id));
    match append_action(&state, &viewer, &complaint_id, &action, &fields).await {
        Ok(position) => see_other(&format!("{back}?min_position={position}&done={action}")),
        Err(error) => {
            let query = serde_urlencoded::to_string([("failed", action.as_str()), ("reason", error.message.as_str())])
                .unwrap_or_default();
            see_other(&format!("{back}?{query}"))
        }
    }
}

async fn append_action(
    state: &AppState,
    viewer: &Viewer,
    complaint_id: &str,
    action: &str,
    fields: &HashMap<String, String>,
) -> Result<u64, ApiError> {
    let stream =
        StreamName::complaint(complaint_id).map_err(|e| ApiError::bad_request(format!("bad complaint id: {e}")))?;
    let expected = match fields.get("version").map(|v| v.parse::<u64>()) {
        Some(Ok(version)) => ExpectedVersion::Exact(version),
        _ => return Err(ApiError::bad_request("the form has no complaint version: open the page again")),
    };
    let (event_type, data) = action_event(action, fields)?;
    let event = json!({
        "event_type": event_type,
        "data": data,
        "metadata": {"actor": viewer.user.name.as_str(), "source": "console"},
    });
    // The server, not the form, names who wrote it: the session's credential.
    let proposed = ProposedEvent::from_json(event, &stream)
        .map_err(|e| ApiError::invalid_event(0, &e))?
        .recorded_by(viewer.user.name.clone());
    let outcome = state.inner.store.append(&stream, expected, vec![proposed]).await?;
    Ok(outcome.result.last_position.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn each_shortcut_form_makes_the_event_an_api_client_would_send() {
        let (kind, data) = action_event("assign", &fields(&[("assignee", " agent-li "), ("team", "")])).unwrap();
        assert_eq!(kind, "complaint_assigned");
        assert_eq!(data, json!({"assignee": "agent-li"}));
        let (kind, data) =
            action_event("revisit", &fields(&[("via", "phone"), ("satisfaction", "4"), ("issue_persists", "on")]))
                .unwrap();
        assert_eq!(kind, "revisit_done");
        assert_eq!(data, json!({"via": "phone", "satisfaction": 4, "issue_persists": true}));
        let (_, data) = action_event(
            "offer",
            &fields(&[("solution_id", "S9"), ("description", "swap"), ("promised_by", "2026-12-01T09:30")]),
        )
        .unwrap();
        assert_eq!(data["promised_by"], "2026-12-01T09:30:00Z");
    }

    #[test]
    fn a_form_missing_a_required_field_or_naming_no_action_is_refused() {
        assert_eq!(action_event("assign", &fields(&[])).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(
            action_event("revisit", &fields(&[("via", "phone"), ("satisfaction", "x")])).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(action_event("delete", &fields(&[])).unwrap_err().status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn cookies_are_read_by_name_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; redress_lang=en; redress_session=xyz"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(lang_of(&headers), Lang::En);
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn as_of_takes_rfc3339_or_a_date_time_field_read_as_utc_and_ignores_garbage() {
        let query = |v: &str| HashMap::from([("as_of".to_owned(), v.to_owned())]);
        assert_eq!(as_of_of(&query("2026-06-01T00:00")).as_deref(), Some("2026-06-01T00:00:00Z"));
        assert_eq!(as_of_of(&query("2026-06-01T08:00:00+08:00")).as_deref(), Some("2026-06-01T00:00:00Z"));
        assert_eq!(as_of_of(&query("yesterday")), None);
        assert_eq!(as_of_of(&query("")), None);
    }
}
