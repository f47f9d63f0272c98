//! The HTTP API through a real server on an ephemeral port, over real sled files.

use futures_util::StreamExt;
use redress_adapters::http::{self, AppState, ServeLimits, Tokens, ROUTES};
use redress_engine::{EventStore, SledStore};
use redress_projections::policy::SlaPolicy;
use redress_projections::{Folds, MemoryFoldStores};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

pub const ADMIN: &str = "admin-token-0123456789";
pub const PUBLISHER: &str = "publisher-token-0123456789";
pub const AUDITOR: &str = "auditor-token-0123456789";

/// A running server and a client for it. Dropping it stops the server.
pub struct Server {
    pub base: String,
    pub client: Client,
    pub store: Arc<dyn EventStore>,
    pub projections: Arc<Folds>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The `http::serve` task: it ends once the server has shut down.
    pub served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_serving();
    }
}

/// A server with API.md's default limits.
pub async fn start() -> Server {
    start_with(ServeLimits::default()).await
}

/// A server with `limits` (short timeouts, small counts) on an ephemeral port.
pub async fn start_with(limits: ServeLimits) -> Server {
    let tokens = Tokens::parse(&format!("admin:{ADMIN},publisher:{PUBLISHER},auditor:{AUDITOR}")).unwrap();
    start_with_tokens(limits, tokens).await
}

/// The seed of the key every test server signs checkpoints with.
pub const SIGNING_SEED: [u8; 32] = [42; 32];

/// A server answering `tokens` on an ephemeral port.
pub async fn start_with_tokens(limits: ServeLimits, tokens: Tokens) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let (stop_streams, streams_stopped) = tokio::sync::watch::channel(false);
    let mut projections = Folds::new(Arc::clone(&store), Arc::new(MemoryFoldStores::default()));
    redress_projections::add_builtins(&mut projections, &SlaPolicy::default()).await.unwrap();
    projections.start();
    let projections = Arc::new(projections);
    let state =
        AppState::new(Arc::clone(&store), Arc::clone(&projections), tokens, SlaPolicy::default(), streams_stopped)
            .with_limits(limits)
            .with_signer(Arc::new(redress_engine::CheckpointSigner::from_seed(SIGNING_SEED)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(http::serve(listener, state, stop_streams, async move {
        let _ = stopped.await;
    }));
    Server { base, client: Client::new(), store, projections, stop: Some(stop), served: Some(served), _dir: dir }
}

impl Server {
    /// Starts the graceful shutdown: stop accepting, end subscriptions, finish what is in flight.
    pub fn stop_serving(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// `host:port` of the server, for raw sockets.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn raw_post(&self, path: &str, token: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until every projection has applied the log.
    pub async fn settle(&self) {
        assert!(self.projections.wait_caught_up(std::time::Duration::from_secs(10)).await, "projections catch up");
    }

    pub async fn head(&self) -> Option<u64> {
        let (_, body) = self.call(Method::GET, "/health", None, None).await;
        body["head_position"].as_u64()
    }
}

pub fn received_json(id: &str) -> Value {
    json!({"event_type": "complaint_received", "event_id": uuid::Uuid::new_v4().to_string(), "data": {
        "complaint_id": id, "customer_id": "K-1", "channel": "web", "category": "delivery",
        "severity": "critical", "description": "The monitor arrived cracked"}})
}

pub fn body(expected: Value, events: Vec<Value>) -> Value {
    json!({"expected_version": expected, "events": events})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appending_answers_201_then_200_for_a_retry_and_409_for_a_stale_version() {
    let s = start().await;
    let request = body(json!("no_stream"), vec![received_json("c1")]);
    let (status, first) =
        s.call(Method::POST, "/streams/complaint-c1/events", Some(PUBLISHER), Some(request.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first, json!({"first_version": 0, "last_version": 0, "first_position": 0, "last_position": 0}));
    let (status, again) = s.call(Method::POST, "/streams/complaint-c1/events", Some(PUBLISHER), Some(request)).await;
    assert_eq!((status, &again), (StatusCode::OK, &first), "a retry gets the first result");
    let progress = json!({"event_type": "progress_updated", "data": {"note": "called", "customer_informed": true}});
    let (status, conflict) = s
        .call(Method::POST, "/streams/complaint-c1/events", Some(PUBLISHER), Some(body(json!(5), vec![progress])))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["error"], "wrong_expected_version");
    assert_eq!(conflict["current_version"], 0);
    assert_eq!(conflict["expected"], 5);
    assert_eq!(s.head().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_id_with_other_content_answers_409_idempotency_conflict_and_writes_nothing() {
    let s = start().await;
    let path = "/streams/complaint-c1/events";
    let first = received_json("c1");
    let (status, answer) =
        s.call(Method::POST, path, Some(PUBLISHER), Some(body(json!("no_stream"), vec![first.clone()]))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let mut other_data = first.clone();
    other_data["data"]["description"] = json!("The monitor arrived fine after all");
    let mut other_metadata = first.clone();
    other_metadata["metadata"] = json!({"actor": "someone-else"});
    for (what, event) in [("data", other_data), ("metadata", other_metadata)] {
        let (status, conflict) =
            s.call(Method::POST, path, Some(PUBLISHER), Some(body(json!("no_stream"), vec![event]))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{what}: {conflict}");
        assert_eq!(conflict["error"], "idempotency_conflict", "{what}: {conflict}");
        assert_eq!(conflict["event_id"], first["event_id"], "{what}: names the reused id");
        assert_eq!(s.head().await, Some(0), "{what}: nothing written");
    }
    let (_, stored) = s.call(Method::GET, "/streams/complaint-c1", Some(PUBLISHER), None).await;
    assert_eq!(stored["events"][0]["data"]["description"], first["data"]["description"], "the first content stands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_in_the_future_or_before_its_complaint_answers_422_naming_its_index() {
    let s = start().await;
    let path = "/streams/complaint-c1/events";
    let mut received = received_json("c1");
    received["occurred_at"] = json!("2026-03-01T08:00:00Z");
    let (status, answer) =
        s.call(Method::POST, path, Some(PUBLISHER), Some(body(json!("no_stream"), vec![received]))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let at = |occurred_at: String| {
        json!({"event_type": "progress_updated", "occurred_at": occurred_at,
        "data": {"note": "called", "customer_informed": true}})
    };
    let tomorrow = redress_schemas::Timestamp::now().plus_seconds(86_400).to_rfc3339();
    for (what, late) in [("in the future", tomorrow), ("before the receipt", "2026-02-28T08:00:00Z".to_owned())] {
        let events = vec![at("2026-03-02T08:00:00Z".to_owned()), at(late)];
        let (status, refusal) = s.call(Method::POST, path, Some(PUBLISHER), Some(body(json!(0), events))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {refusal}");
        assert_eq!(refusal["error"], "invalid_event", "{what}: {refusal}");
        assert_eq!(refusal["index"], 1, "{what}: names the event: {refusal}");
        assert_eq!(s.head().await, Some(0), "{what}: nothing written");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_close_without_the_customers_confirmation_is_422_saying_what_to_do_and_writes_nothing() {
    let s = start().await;
    let path = "/streams/complaint-c1/events";
    let work = vec![
        received_json("c1"),
        json!({"event_type": "solution_offered", "data": {"solution_id": "S1", "description": "new screen"}}),
        json!({"event_type": "solution_accepted", "data": {"solution_id": "S1"}}),
        json!({"event_type": "solution_delivered", "data": {"solution_id": "S1", "note": "fitted"}}),
    ];
    let (status, answer) = s.call(Method::POST, path, Some(ADMIN), Some(body(json!("no_stream"), work))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let note = json!({"event_type": "progress_updated", "data": {"note": "closing", "customer_informed": true}});
    let close = json!({"event_type": "complaint_closed", "data": {"outcome": "resolved"}});
    let (status, refusal) =
        s.call(Method::POST, path, Some(ADMIN), Some(body(json!(3), vec![note.clone(), close]))).await;
    assert_eq!(
        (status, refusal["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_event")),
        "{refusal}"
    );
    assert_eq!(refusal["index"], 1, "{refusal}");
    let rule = refusal["rule"].as_str().expect("the rule is named");
    assert!(rule.contains("resolution_confirmed") && rule.contains("override_reason"), "says what to do: {rule}");
    // Nothing of the append was written: version 3 is still the stream's last.
    let again = json!({"event_type": "progress_updated", "data": {"note": "still open", "customer_informed": false}});
    let (status, answer) = s.call(Method::POST, path, Some(ADMIN), Some(body(json!(3), vec![again]))).await;
    assert_eq!(status, StatusCode::CREATED, "the refused append wrote nothing: {answer}");
    let confirmed = json!({"event_type": "resolution_confirmed", "data": {"satisfied": true, "via": "phone"}});
    let close = json!({"event_type": "complaint_closed", "data": {"outcome": "resolved"}});
    let (status, answer) = s.call(Method::POST, path, Some(ADMIN), Some(body(json!(4), vec![confirmed, close]))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_422_says_whether_the_event_is_malformed_or_breaks_a_rule_of_its_stream() {
    let s = start().await;
    let path = "/streams/complaint-c1/events";
    let (status, answer) =
        s.call(Method::POST, path, Some(ADMIN), Some(body(json!("no_stream"), vec![received_json("c1")]))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let close = |outcome: &str| json!({"event_type": "complaint_closed", "data": {"outcome": outcome}});
    // (what, stream, event, the field it names or null, whether a rule of the stream is named)
    let cases = [
        ("malformed", path.to_owned(), close("vanished"), json!("data.outcome"), false),
        (
            "lifecycle",
            path.to_owned(),
            json!({"event_type": "solution_accepted", "data": {"solution_id": "S9"}}),
            Value::Null,
            true,
        ),
        ("stream kind", "/streams/qa-A1/events".to_owned(), close("withdrawn"), Value::Null, true),
        (
            "other stream's id",
            "/streams/complaint-c2/events".to_owned(),
            received_json("c3"),
            json!("data.complaint_id"),
            true,
        ),
    ];
    for (what, path, event, field, rule) in cases {
        let (status, refusal) = s.call(Method::POST, &path, Some(ADMIN), Some(body(json!("any"), vec![event]))).await;
        assert_eq!(
            (status, refusal["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_event")),
            "{what}: {refusal}"
        );
        assert_eq!(refusal["field"], field, "{what}: {refusal}");
        assert_eq!(refusal["rule"].is_string(), rule, "{what}: `rule` only for a schema-valid event: {refusal}");
    }
    let id = "5f0c1a7e-3f5a-4f59-9a55-7d2d1a0c9b11";
    let twice =
        vec![json!({"event_id": id, "event_type": "apology_sent", "data": {"via": "sms", "message": "sorry"}}); 2];
    let (status, refusal) = s.call(Method::POST, path, Some(ADMIN), Some(body(json!("any"), twice))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "one id twice: {refusal}");
    assert!(refusal["rule"].is_string() && refusal["event_id"] == id, "one id twice: {refusal}");
    // JSON does not tell 1 from 1.0, nor does the document's `integer`.
    let revisit = json!({"event_type": "progress_updated", "data": {"note": "called", "customer_informed": true}});
    let (status, answer) = s.call(Method::POST, path, Some(ADMIN), Some(body(json!(0.0), vec![revisit]))).await;
    assert_eq!(status, StatusCode::CREATED, "expected_version 0.0: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_gets_its_error_and_writes_nothing() {
    let s = start().await;
    s.call(
        Method::POST,
        "/streams/complaint-c1/events",
        Some(ADMIN),
        Some(body(json!("no_stream"), vec![received_json("c1")])),
    )
    .await;
    let path = "/streams/complaint-c1/events";
    let progress =
        |note: Value| json!({"event_type": "progress_updated", "data": {"note": note, "customer_informed": false}});
    /// (what is wrong, the raw body, the status, the error code, the field it names)
    type Case = (&'static str, Vec<u8>, StatusCode, &'static str, Option<&'static str>);
    let cases: Vec<Case> = vec![
        ("malformed JSON", b"{\"events\": [".to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        ("not an object", b"[1,2]".to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        ("no events member", b"{}".to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        ("events not a list", br#"{"events": {}}"#.to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        ("empty event list", br#"{"events": []}"#.to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        ("unknown member", br#"{"events": [], "expected": 1}"#.to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        ("bad expected_version", br#"{"expected_version": true, "events": [{}]}"#.to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        ("unknown event type", json!({"events": [{"event_type": "complaint_vanished", "data": {}}]}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", None),
        ("missing field", json!({"events": [{"event_type": "progress_updated", "data": {"note": "x"}}]}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", None),
        ("wrong field type", json!({"events": [progress(json!(42))]}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", Some("data.note")),
        ("unknown enum value", json!({"events": [{"event_type": "complaint_closed", "data": {"outcome": "vanished"}}]}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", Some("data.outcome")),
        ("bad event id", json!({"events": [{"event_id": "42", "event_type": "progress_updated", "data": {"note": "x", "customer_informed": true}}]}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", Some("event_id")),
        ("missing data", json!({"events": [{"event_type": "progress_updated"}]}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", Some("data")),
        ("broken lifecycle rule", json!({"events": [{"event_type": "solution_accepted", "data": {"solution_id": "never"}}]}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", None),
        ("too many events", json!({"events": vec![progress(json!("x")); 1001]}).to_string().into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
        ("event over 1 MiB", json!({"events": [progress(json!("x".repeat(1_100_000)))]}).to_string().into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
        ("body over the limit", vec![b' '; http::BODY_BYTES_MAX + 1], StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
    ];
    // A body refused before it was read whole leaves bytes unread: the server closes that connection,
    // so a keep-alive client does not send its next request into them (seen: the next request failed
    // with an incomplete message).
    let refused = s
        .client
        .post(format!("{}{path}", s.base))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(vec![b' '; http::BODY_BYTES_MAX + 1])
        .send()
        .await
        .expect("the server answers");
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.headers().get("connection").and_then(|v| v.to_str().ok()), Some("close"));
    for (name, raw, status, code, field) in cases {
        let (got, answer) = s.raw_post(path, ADMIN, raw).await;
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(answer["error"], code, "{name}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: a human message");
        if let Some(field) = field {
            assert_eq!(answer["field"], field, "{name}: names the field: {answer}");
        }
        assert_eq!(s.head().await, Some(0), "{name}: nothing was written");
    }
    for bad_stream in
        ["/streams/$all/events", "/streams/has%20space/events", &format!("/streams/{}/events", "x".repeat(201))]
    {
        let (got, answer) =
            s.raw_post(bad_stream, ADMIN, body(json!("any"), vec![received_json("c1")]).to_string().into_bytes()).await;
        assert_eq!(got, StatusCode::BAD_REQUEST, "{bad_stream}: {answer}");
    }
    assert_eq!(s.head().await, Some(0));
}

/// (method, path, body, access) for one request of every route, in an order that makes each succeed.
fn one_request_per_route() -> Vec<(Method, String, Option<Value>, &'static str)> {
    vec![
        (
            Method::POST,
            "/streams/complaint-r1/events".into(),
            Some(body(json!("any"), vec![received_json("r1")])),
            "write",
        ),
        (Method::GET, "/streams/complaint-r1".into(), None, "read"),
        (Method::GET, "/all".into(), None, "read"),
        (Method::GET, "/complaints/r1".into(), None, "read"),
        (Method::GET, "/customers/K-1/history".into(), None, "read"),
        (Method::GET, "/projections".into(), None, "read"),
        (Method::GET, "/projections/open-complaints".into(), None, "read"),
        (Method::POST, "/projections/satisfaction/rebuild".into(), None, "admin"),
        (Method::GET, "/audit/verify".into(), None, "audit"),
        (Method::GET, "/audit/replay?as_of=2030-01-01T00:00:00Z&projection=open-complaints".into(), None, "audit"),
        (Method::GET, "/metrics".into(), None, "read"),
        (Method::GET, "/health".into(), None, "open"),
        (Method::GET, "/openapi.json".into(), None, "open"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_matrix_holds_on_every_kind_of_route() {
    let s = start().await;
    for (method, path, request, access) in one_request_per_route() {
        s.settle().await;
        let call = |token: Option<&'static str>| s.call(method.clone(), &path, token, request.clone());
        if access == "open" {
            assert!(call(None).await.0.is_success(), "{path} needs no token");
            continue;
        }
        let (status, answer) = call(None).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{path} without a token"
        );
        assert_eq!(
            call(Some("not-a-known-token-at-all")).await.0,
            StatusCode::UNAUTHORIZED,
            "{path} with an unknown token"
        );
        for (role, token) in [("admin", ADMIN), ("publisher", PUBLISHER), ("auditor", AUDITOR)] {
            let allowed = match access {
                "write" => role != "auditor",
                "audit" => role != "publisher",
                "admin" => role == "admin",
                _ => true,
            };
            let (status, answer) = call(Some(token)).await;
            if allowed {
                assert!(status.is_success(), "{role} on {path}: {status} {answer}");
            } else {
                assert_eq!(
                    (status, answer["error"].as_str()),
                    (StatusCode::FORBIDDEN, Some("forbidden")),
                    "{role} on {path}"
                );
            }
        }
    }
    // The auditor's refused write wrote nothing: only admin's and publisher's appends (same event id: one write).
    assert_eq!(s.head().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_page_in_both_directions_and_filter_by_type() {
    let s = start().await;
    let notes: Vec<Value> = (0..5)
        .map(
            |i| json!({"event_type": "progress_updated", "data": {"note": format!("n{i}"), "customer_informed": true}}),
        )
        .collect();
    let mut events = vec![received_json("c1")];
    events.extend(notes);
    s.call(Method::POST, "/streams/complaint-c1/events", Some(PUBLISHER), Some(body(json!("no_stream"), events))).await;
    s.call(
        Method::POST,
        "/streams/complaint-c2/events",
        Some(PUBLISHER),
        Some(body(json!("no_stream"), vec![received_json("c2")])),
    )
    .await;

    let versions = |page: &Value| {
        page["events"].as_array().unwrap().iter().map(|e| e["version"].as_u64().unwrap()).collect::<Vec<_>>()
    };
    let (status, page) = s.call(Method::GET, "/streams/complaint-c1?limit=4", Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((versions(&page), page["next"].clone()), (vec![0, 1, 2, 3], json!(4)));
    let (_, page) = s.call(Method::GET, "/streams/complaint-c1?direction=backward&limit=2", Some(AUDITOR), None).await;
    assert_eq!((versions(&page), page["next"].clone()), (vec![5, 4], json!(3)));
    let (_, page) = s.call(Method::GET, "/streams/complaint-c1?from_version=4", Some(AUDITOR), None).await;
    assert_eq!((versions(&page), page["next"].clone()), (vec![4, 5], Value::Null));
    let first = &page["events"][0];
    for key in [
        "event_id",
        "stream",
        "version",
        "position",
        "event_type",
        "schema_version",
        "occurred_at",
        "recorded_at",
        "metadata",
        "data",
        "hash",
    ] {
        assert!(first.get(key).is_some(), "the envelope has {key}");
    }

    let (status, _) = s.call(Method::GET, "/streams/complaint-none", Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [
        "/streams/complaint-c1?direction=sideways",
        "/streams/complaint-c1?limit=0",
        "/streams/complaint-c1?from_version=-1",
        "/streams/complaint-c1?colour=red",
        "/all?event_type=nope",
    ] {
        let (status, answer) = s.call(Method::GET, bad, Some(AUDITOR), None).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{bad}");
    }

    let (_, all) = s.call(Method::GET, "/all?event_type=complaint_received", Some(AUDITOR), None).await;
    let positions: Vec<u64> =
        all["events"].as_array().unwrap().iter().map(|e| e["position"].as_u64().unwrap()).collect();
    assert_eq!(positions, [0, 6]);
    let (_, all) = s.call(Method::GET, "/all?from_position=5&limit=1", Some(AUDITOR), None).await;
    assert_eq!((all["events"][0]["position"].as_u64(), all["next"].as_u64()), (Some(5), Some(6)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaint_state_shows_status_deadlines_and_overdue_as_of_an_instant() {
    let s = start().await;
    let instant = |seconds: i64| {
        serde_json::to_value(redress_schemas::Timestamp::now().plus_seconds(seconds))
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Received an hour ago, critical: acknowledge within 2 h (an hour from now), resolve within 24 h.
    let mut received = received_json("c9");
    let received_at = instant(-3_600);
    received["occurred_at"] = json!(received_at);
    let offered = json!({"event_type": "solution_offered", "occurred_at": instant(-1_800),
        "data": {"solution_id": "s1", "description": "replace the monitor"}});
    let (status, written) = s
        .call(
            Method::POST,
            "/streams/complaint-c9/events",
            Some(PUBLISHER),
            Some(body(json!("no_stream"), vec![received, offered])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Read your own write: wait until the view has applied the append's last position.
    let own = format!("/complaints/c9?min_position={}", written["last_position"]);
    let (status, view) = s.call(Method::GET, &own, Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "solution_proposed");
    let received = redress_schemas::Timestamp::parse(&received_at).unwrap();
    assert_eq!(view["ack_due"], serde_json::to_value(received.plus_seconds(2 * 3_600)).unwrap());
    assert_eq!(view["resolution_due"], serde_json::to_value(received.plus_seconds(24 * 3_600)).unwrap());
    assert_eq!((view["overdue"].clone(), view["history_length"].clone()), (json!(false), json!(2)));
    assert_eq!(view["solutions"][0]["state"], "offered");
    // Judged at a later instant (what will be overdue then): the acknowledgement will be late.
    let later = format!("/complaints/c9?as_of={}", instant(2 * 3_600));
    let (_, later) = s.call(Method::GET, &later, Some(AUDITOR), None).await;
    assert_eq!((later["overdue"].clone(), later["overdue_reasons"].clone()), (json!(true), json!(["acknowledgement"])));
    // As recorded at an earlier instant, before the store had it: nothing.
    let (status, _) =
        s.call(Method::GET, &format!("/complaints/c9?as_of={}", instant(-7_200)), Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::GET, "/complaints/nobody", Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A position the log has not reached yet: not caught up within the wait.
    let (status, answer) =
        s.call(Method::GET, "/complaints/c9?min_position=999&wait_ms=100", Some(AUDITOR), None).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("not_caught_up")),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_health_and_metrics_report_the_log() {
    let s = start().await;
    for i in 0..3 {
        s.call(
            Method::POST,
            &format!("/streams/complaint-m{i}/events"),
            Some(PUBLISHER),
            Some(body(json!("no_stream"), vec![received_json(&format!("m{i}"))])),
        )
        .await;
    }
    let (status, verify) = s.call(Method::GET, "/audit/verify", Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::OK);
    let head = s.store.head().await.unwrap().unwrap();
    assert_eq!(verify, json!({"ok": true, "events": 3, "head_position": 2, "head_hash": head.hash.to_hex()}));
    let (_, metrics) = s.call(Method::GET, "/metrics", Some(AUDITOR), None).await;
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(metrics.contains("redress_events_appended_total 3"), "{metrics}");
    assert!(metrics.contains("redress_log_head_position 2"));
    assert!(
        metrics
            .contains(r#"redress_http_requests_total{route="/streams/{stream}/events",method="POST",status="201"} 3"#),
        "{metrics}"
    );
    assert!(metrics.contains("redress_append_duration_seconds_count 3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_and_every_route_is_served() {
    let s = start().await;
    let (status, doc) = s.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "OpenAPI 3");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.values().map(|p| p.as_object().unwrap().len()).sum::<usize>(),
        ROUTES.len(),
        "no undocumented extras"
    );
    for (method, path) in ROUTES {
        let operation = &paths[*path][*method];
        let responses = operation["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} is documented"));
        // What the edge answers on any route, and 401 where a token is needed.
        let open = ["/health", "/openapi.json"].contains(path);
        let mut expected = vec!["400", "405", "414", "431", "503"];
        if !open {
            expected.push("401");
        }
        if *path == "/streams/{stream}/events" {
            expected.extend(["408", "413"]);
        }
        for status in expected {
            assert!(responses.contains_key(status), "{method} {path} documents {status}: {:?}", responses.keys());
        }
        let header = |status: &str, name: &str| responses.get(status).is_some_and(|r| r["headers"].get(name).is_some());
        assert!(header("405", "Allow") && header("503", "Retry-After"), "{method} {path}: Allow, Retry-After");
        assert!(open || header("401", "WWW-Authenticate"), "{method} {path}: WWW-Authenticate");
    }
    for (method, path, request, _) in one_request_per_route() {
        s.settle().await;
        let (status, answer) = s.call(method.clone(), &path, Some(ADMIN), request).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        let template = ROUTES.iter().any(|(m, p)| {
            m.eq_ignore_ascii_case(method.as_str()) && {
                let prefix = p.split('{').next().unwrap();
                path.starts_with(prefix)
            }
        });
        assert!(template, "{method} {path} is one of ROUTES");
    }
    let (status, answer) = s.call(Method::GET, "/nowhere", Some(ADMIN), None).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_holds_every_event_schema_and_the_answers_shapes() {
    use redress_schemas::{EventType, TIMESTAMP_PATTERN};
    let s = start().await;
    let (_, doc) = s.call(Method::GET, "/openapi.json", None, None).await;
    let schemas = &doc["components"]["schemas"];
    // Each event type's schema, the same as schemas/json/<type>.json but for where its refs point.
    let proposed = &schemas["ProposedEvent"];
    assert_eq!(proposed["discriminator"]["propertyName"], "event_type");
    for event_type in EventType::ALL {
        let name = http::event_schema_name(*event_type);
        let reference = format!("#/components/schemas/{name}");
        let published = redress_schemas::event_schema(*event_type);
        let documented = &schemas[&name];
        assert_eq!(documented["properties"]["event_type"]["const"], event_type.name(), "{name} is in the document");
        let refs_moved = published["properties"]["data"].to_string().replace("#/definitions/", "#/components/schemas/");
        assert_eq!(documented["properties"]["data"].to_string(), refs_moved, "{name}: the data schema of schemas/json");
        assert_eq!(proposed["discriminator"]["mapping"][event_type.name()], reference.as_str());
        assert!(proposed["oneOf"].as_array().unwrap().contains(&json!({"$ref": reference})), "{name} in oneOf");
    }
    let append = &schemas["AppendRequest"];
    assert_eq!(append["properties"]["events"]["items"]["$ref"], "#/components/schemas/ProposedEvent");
    assert_eq!(append["properties"]["events"]["maxItems"], redress_engine::limits::APPEND_EVENTS_MAX);
    assert_eq!(append["additionalProperties"], false);
    // Every built-in view has its own path; the generic one takes every other name.
    let paths = &doc["paths"];
    for view in redress_projections::BUILTIN_NAMES {
        let path = format!("/projections/{view}");
        assert!(ROUTES.contains(&("get", path.as_str())), "{path} is a route");
        assert!(paths[&path]["get"]["responses"]["200"].is_object(), "{path} is documented");
    }
    let name =
        paths["/projections/{name}"]["get"]["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "name");
    assert_eq!(name.unwrap()["schema"]["not"]["enum"], json!(redress_projections::BUILTIN_NAMES));
    // Bounds are the server's own.
    let parameter = |path: &str, name: &str| {
        let parameters = paths[path]["get"]["parameters"].as_array().unwrap_or_else(|| panic!("{path} has parameters"));
        parameters.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{path} takes {name}"))["schema"].clone()
    };
    for path in ["/all", "/streams/{stream}"] {
        assert_eq!(parameter(path, "limit")["maximum"], redress_engine::limits::READ_EVENTS_MAX, "{path}");
    }
    let paged = [
        "/projections/open-complaints",
        "/projections/customer-history",
        "/projections/repeat-issues",
        "/customers/{customer_id}/history",
    ];
    for path in paged {
        assert_eq!(parameter(path, "limit")["maximum"], redress_projections::PAGE_LIMIT_MAX, "{path}");
        assert!(parameter(path, "cursor")["type"] == "string", "{path} takes a cursor");
        assert_eq!(parameter(path, "wait_ms")["maximum"], redress_projections::WAIT_MS_MAX, "{path}");
        assert_eq!(parameter(path, "as_of")["pattern"], TIMESTAMP_PATTERN, "{path}: instants of storable years");
        let answer = &paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
        let answer = &schemas[answer.as_str().unwrap().trim_start_matches("#/components/schemas/")];
        for member in ["count", "next_cursor", "checkpoint"] {
            assert!(answer["required"].as_array().unwrap().contains(&json!(member)), "{path}: a page has {member}");
        }
    }
    assert_eq!(
        parameter("/projections/suggestions", "k")["maximum"],
        redress_projections::suggestions::SUGGESTIONS_MAX
    );
    // Errors, /health and the event stream.
    assert!(schemas["ErrorDoc"]["properties"]["outcome"].is_object(), "a 503 may say outcome: unknown");
    assert!(schemas["ErrorDoc"]["properties"]["rule"].is_object(), "a 422 may name a rule of the stream");
    let health = &paths["/health"]["get"]["responses"];
    for (status, body) in [("200", "HealthDoc"), ("503", "HealthUnavailableDoc")] {
        let reference = &health[status]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(reference, &json!(format!("#/components/schemas/{body}")), "/health {status}");
    }
    let sse = &paths["/subscribe"]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"]["$ref"];
    assert_eq!(sse, "#/components/schemas/SseEventDoc", "/subscribe: one event's schema");
    assert_eq!(
        schemas["SseEventDoc"]["properties"]["data"]["contentSchema"]["$ref"],
        "#/components/schemas/EnvelopeDoc"
    );
}

/// Reads `n` SSE events (`id:` + `data:` envelopes) from a subscription response.
pub async fn read_sse(response: reqwest::Response, n: usize) -> Vec<(u64, Value)> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .expect("events arrive within 20 s")
            .expect("the stream stays open")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let id = frame.lines().find_map(|l| l.strip_prefix("id:")).map(|v| v.trim().parse::<u64>().unwrap());
            let data =
                frame.lines().find_map(|l| l.strip_prefix("data:")).map(|v| serde_json::from_str(v.trim()).unwrap());
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id, data));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_subscribers_before_and_after_a_burst_see_every_event_once_in_order() {
    let s = start().await;
    let subscribe =
        |from: u64| s.client.get(format!("{}/subscribe?from_position={from}", s.base)).bearer_auth(AUDITOR).send();
    let early = subscribe(0).await.unwrap();
    assert_eq!(early.status(), StatusCode::OK);
    assert!(early.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    const COMPLAINTS: usize = 40;
    for i in 0..COMPLAINTS {
        let stream = format!("/streams/complaint-b{i}/events");
        let progress = json!({"event_type": "progress_updated", "data": {"note": "x", "customer_informed": true}});
        let (status, _) = s
            .call(
                Method::POST,
                &stream,
                Some(PUBLISHER),
                Some(body(json!("no_stream"), vec![received_json(&format!("b{i}")), progress])),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let late = subscribe(0).await.unwrap();
    let (early_events, late_events) = tokio::join!(read_sse(early, 2 * COMPLAINTS), read_sse(late, 2 * COMPLAINTS));
    for events in [&early_events, &late_events] {
        let ids: Vec<u64> = events.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, (0..2 * COMPLAINTS as u64).collect::<Vec<_>>(), "every event once, in order");
        assert!(events.iter().all(|(id, e)| e["position"].as_u64() == Some(*id)));
    }
    let (status, _) = s.call(Method::GET, "/subscribe?event_type=bogus", Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_whole_log_audit_job_runs_at_a_time_and_the_next_is_refused_at_once_with_retry_after() {
    let s = start().await;
    // Enough history that a verify takes a while (seconds in a debug build).
    for i in 0..600 {
        let stream = redress_schemas::StreamName::complaint(&format!("r{i}")).unwrap();
        let mut events = vec![crate::support::received(&stream)];
        events.extend((0..49).map(|n| crate::support::progress(&stream, &format!("update {n}"))));
        s.store.append(&stream, redress_engine::ExpectedVersion::NoStream, events).await.unwrap();
    }
    // A verify and a replay sent together: whichever takes the permit first runs, the other is refused
    // at once (not queued behind it). Tried until the two overlap (they all but always do at once).
    let job = |path: &str| {
        let request = s.client.get(format!("{}{path}", s.base)).bearer_auth(AUDITOR);
        async move {
            let response = request.send().await.unwrap();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (response.status(), retry_after, response.json::<Value>().await.unwrap())
        }
    };
    let replay = "/audit/replay?as_of=2099-01-01T00:00:00Z&projection=open-complaints";
    let mut refused = None;
    for _ in 0..20 {
        let (verified, replayed) = tokio::join!(job("/audit/verify"), job(replay));
        match (verified.0, replayed.0) {
            (StatusCode::OK, StatusCode::OK) => continue, // one finished before the other began
            (StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE) => {
                assert_eq!(verified.2["events"], 30_000, "{:?}", verified.2);
                refused = Some(replayed);
            }
            (StatusCode::SERVICE_UNAVAILABLE, StatusCode::OK) => refused = Some(verified),
            other => panic!("{other:?}"),
        }
        break;
    }
    let (_, retry_after, body) = refused.expect("two overlapping audit jobs: one was refused");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(body["error"], "unavailable", "{body}");
    // The permit is released with the job: the next one runs.
    let (status, _) = s
        .call(Method::GET, "/audit/replay?as_of=2099-01-01T00:00:00Z&projection=open-complaints", Some(AUDITOR), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_answer_over_http_with_history_rebuild_and_replay() {
    let s = start().await;
    let at = |t: &str| json!(t);
    let mut r1 = received_json("h1");
    r1["occurred_at"] = at("2026-02-01T08:00:00Z");
    r1["data"]["customer_id"] = json!("K-7");
    let mut r2 = received_json("h2");
    r2["occurred_at"] = at("2026-02-10T08:00:00Z");
    r2["data"]["customer_id"] = json!("K-7");
    s.call(Method::POST, "/streams/complaint-h1/events", Some(PUBLISHER), Some(body(json!("no_stream"), vec![r1])))
        .await;
    let closed = json!({"event_type": "complaint_closed", "occurred_at": "2026-02-02T08:00:00Z", "data": {"outcome": "withdrawn"}});
    s.call(Method::POST, "/streams/complaint-h1/events", Some(PUBLISHER), Some(body(json!(0), vec![closed]))).await;
    s.call(Method::POST, "/streams/complaint-h2/events", Some(PUBLISHER), Some(body(json!("no_stream"), vec![r2])))
        .await;
    s.settle().await;

    let (status, history) = s.call(Method::GET, "/customers/K-7/history", Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let ids: Vec<&str> =
        history["complaints"].as_array().unwrap().iter().map(|c| c["complaint_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["h2", "h1"], "newest first");
    assert_eq!(history["complaints"][1]["outcome"], "withdrawn");
    assert_eq!(s.call(Method::GET, "/customers/K-nobody/history", Some(AUDITOR), None).await.0, StatusCode::NOT_FOUND);

    let (_, open) = s.call(Method::GET, "/projections/open-complaints", Some(AUDITOR), None).await;
    let open_ids: Vec<&str> =
        open["complaints"].as_array().unwrap().iter().map(|c| c["complaint_id"].as_str().unwrap()).collect();
    assert_eq!(open_ids, ["h2"], "closed complaints are not listed: {open}");
    assert_eq!(open["checkpoint"], 2, "the answer says which position it is from: {open}");
    // An instant before the store recorded anything: the replayed answer, not today's state judged then.
    let (_, past) =
        s.call(Method::GET, "/projections/open-complaints?as_of=2026-02-10T09:00:00Z", Some(AUDITOR), None).await;
    assert_eq!((past["count"].clone(), past["basis"].clone()), (json!(0), json!("recorded")), "{past}");
    let (status, bad) = s.call(Method::GET, "/projections/open-complaints?overdue=maybe", Some(AUDITOR), None).await;
    assert_eq!((status, bad["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    assert_eq!(s.call(Method::GET, "/projections/no-such-thing", Some(AUDITOR), None).await.0, StatusCode::NOT_FOUND);

    // As it stood before h1 was closed (recorded basis: every event was recorded just now, so the past
    // is empty); by occurred time, h1 was open on 2026-02-01T12:00.
    let (_, recorded) = s
        .call(Method::GET, "/audit/replay?as_of=2026-02-01T12:00:00Z&projection=open-complaints", Some(AUDITOR), None)
        .await;
    assert_eq!(recorded["count"], 0, "{recorded}");
    let (_, occurred) = s
        .call(
            Method::GET,
            "/audit/replay?as_of=2026-02-01T12:00:00Z&projection=open-complaints&basis=occurred",
            Some(AUDITOR),
            None,
        )
        .await;
    assert_eq!(occurred["complaints"][0]["complaint_id"], "h1", "{occurred}");
    assert_eq!(
        s.call(Method::GET, "/audit/replay?projection=open-complaints", Some(AUDITOR), None).await.0,
        StatusCode::BAD_REQUEST
    );

    let (status, _) = s.call(Method::POST, "/projections/open-complaints/rebuild", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, during) = s.call(Method::GET, "/projections/open-complaints", Some(AUDITOR), None).await;
    assert_eq!(during["count"], 1, "the old state keeps answering during a rebuild: {during}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.settle().await;
    let (_, statuses) = s.call(Method::GET, "/projections", Some(AUDITOR), None).await;
    let open_status =
        statuses["projections"].as_array().unwrap().iter().find(|p| p["name"] == "open-complaints").unwrap().clone();
    assert_eq!(
        (open_status["state"].as_str(), open_status["lag"].as_u64(), open_status["checkpoint"].as_u64()),
        (Some("running"), Some(0), Some(2)),
        "{statuses}"
    );
    let (_, after) = s.call(Method::GET, "/projections/open-complaints", Some(AUDITOR), None).await;
    assert_eq!(
        after["complaints"].as_array().map(|c| c.iter().map(|c| c["complaint_id"].clone()).collect::<Vec<_>>()),
        open["complaints"].as_array().map(|c| c.iter().map(|c| c["complaint_id"].clone()).collect::<Vec<_>>()),
        "the rebuilt state gives the same answer"
    );
}

/// The desk over HTTP (v1.1): an assigned complaint waiting on the customer shows its owner and stands
/// still; the needs-attention view lists a complaint that mentions a regulator, saying why; filters and
/// bad parameters answer as documented.
#[tokio::test]
async fn the_desk_sees_owners_waiting_and_what_needs_attention() {
    let s = start().await;
    let mut watched = received_json("d1");
    watched["data"]["description"] = json!("已经投诉到12315了，请尽快处理");
    let assigned = json!({"event_type": "complaint_assigned", "data": {"assignee": "agent-li", "team": "billing"}});
    let waiting = json!({"event_type": "waiting_on_customer", "data": {"reason": "which invoice?"}});
    let (status, answer) = s
        .call(
            Method::POST,
            "/streams/complaint-d1/events",
            Some(PUBLISHER),
            Some(body(json!("no_stream"), vec![watched, assigned, waiting])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let min = answer["last_position"].as_u64().unwrap();

    let (status, open) = s
        .call(
            Method::GET,
            &format!("/projections/open-complaints?owner=agent-li&min_position={min}"),
            Some(AUDITOR),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{open}");
    let row = &open["complaints"][0];
    assert_eq!((row["owner"].clone(), row["team"].clone()), (json!("agent-li"), json!("billing")), "{open}");
    assert_eq!((row["waiting_on_customer"].clone(), row["overdue"].clone()), (json!(true), json!(false)));
    let (_, none) = s.call(Method::GET, "/projections/open-complaints?waiting=false", Some(AUDITOR), None).await;
    assert_eq!(none["count"], 0, "{none}");

    let (status, attention) = s.call(Method::GET, "/projections/needs-attention", Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::OK, "{attention}");
    assert_eq!(attention["complaints"][0]["complaint_id"], "d1", "{attention}");
    assert_eq!(attention["complaints"][0]["reasons"], json!(["watch_word"]));
    assert_eq!(attention["complaints"][0]["watch_word"], "12315");
    let (status, bad) = s.call(Method::GET, "/projections/needs-attention?reason=bored", Some(AUDITOR), None).await;
    assert_eq!((status, bad["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{bad}");
    let (status, _) = s.call(Method::GET, "/projections/needs-attention", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, by_team) = s.call(Method::GET, "/projections/satisfaction?group_by=team", Some(AUDITOR), None).await;
    assert_eq!((status, by_team["groups"][0]["team"].clone()), (StatusCode::OK, json!("billing")), "{by_team}");

    // A problem, and the complaint linked to it after its corrective action: one recurrence.
    let problem = vec![
        json!({"event_type": "problem_identified", "data": {"problem_id": "P1", "title": "invoices doubled",
            "category": "billing", "root_cause": "batch job ran twice", "responsible_department": "finance"}}),
        json!({"event_type": "corrective_action_taken", "data": {"action": "lock the batch job", "owner": "it-ops"}}),
    ];
    let (status, answer) = s
        .call(Method::POST, "/streams/problem-P1/events", Some(PUBLISHER), Some(body(json!("no_stream"), problem)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let link = json!({"event_type": "complaint_linked", "data": {"target": "problem-P1", "relation": "same_problem"}});
    let (status, answer) =
        s.call(Method::POST, "/streams/complaint-d1/events", Some(PUBLISHER), Some(body(json!(2), vec![link]))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let min = answer["last_position"].as_u64().unwrap();
    let (status, problems) =
        s.call(Method::GET, &format!("/projections/problems?min_position={min}"), Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::OK, "{problems}");
    assert_eq!(problems["problems"][0]["linked_complaints"], json!(["d1"]), "{problems}");
    // d1 was received before the action (its occurred_at is earlier): linked, not a recurrence.
    assert_eq!(problems["problems"][0]["recurrence_count"], 0, "{problems}");
    let missing =
        json!({"event_type": "complaint_linked", "data": {"target": "problem-NOPE", "relation": "same_problem"}});
    let (status, refused) = s
        .call(Method::POST, "/streams/complaint-d1/events", Some(PUBLISHER), Some(body(json!(3), vec![missing])))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a link to a stream that does not exist: {refused}");
}
