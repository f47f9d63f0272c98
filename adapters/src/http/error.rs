//! API errors: the JSON bodies and status codes of API.md.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use redress_engine::StoreError;
use redress_schemas::InvalidEvent;
use serde_json::{json, Map, Value};

/// An error answered as `{"error": code, "message": text, ...details}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
    /// Headers the status calls for (`WWW-Authenticate`, `Retry-After`, `Connection: close`). A list,
    /// not a `HeaderMap`: it is empty for almost every error, and it keeps the error small to return.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with `status`, API.md's `code` and a human `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: Map::new(), headers: Vec::new() }
    }

    /// Adds a detail member to the JSON body.
    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        self.details.insert(key.to_owned(), value);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// The JSON body: `{"error": code, "message": text, ...details}`.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.code.into()));
        body.insert("message".into(), Value::String(self.message.clone()));
        body.extend(self.details.iter().map(|(k, v)| (k.clone(), v.clone())));
        Value::Object(body)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 with `WWW-Authenticate: Bearer`: no token, or one nobody configured.
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required")
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub fn forbidden(role: impl std::fmt::Display, what: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("the {role} role may not {what}"))
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn payload_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 405 for a known route asked with another method (the router adds `Allow`).
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take this method")
    }

    /// 408: the body did not arrive in time. The connection is closed, as its remaining bytes are unread.
    pub fn body_timeout(timeout: std::time::Duration) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request body did not arrive within {} ms", timeout.as_millis()),
        )
        .with_header(header::CONNECTION, HeaderValue::from_static("close"))
    }

    /// 413 for a body refused before it was read whole (its declared length, or the bytes read so far,
    /// exceed `max`). The connection is closed, as its remaining bytes are unread: a keep-alive client
    /// would otherwise send its next request into them.
    pub fn body_too_large(max: usize) -> ApiError {
        ApiError::payload_too_large(format!("the request body exceeds {max} bytes"))
            .with_header(header::CONNECTION, HeaderValue::from_static("close"))
    }

    /// 414: the request line (method, path and query) is longer than `max` bytes.
    pub fn uri_too_long(max: usize) -> ApiError {
        ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request line (method, path and query) exceeds {max} bytes"),
        )
    }

    /// 431: the headers exceed `bytes_max` bytes in all, or `fields_max` fields.
    pub fn header_fields_too_large(bytes_max: usize, fields_max: usize) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            format!("the headers exceed {bytes_max} bytes in all, or {fields_max} fields"),
        )
    }

    /// 503 from load shedding: `max` requests are in flight already. Says when to retry.
    pub fn overloaded(max: usize, retry_after_seconds: u64) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the server is handling its maximum of {max} requests; retry after {retry_after_seconds} s"),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds))
    }

    /// 503 for work refused because the same kind of work is running (a whole-log replay or audit job):
    /// retry after `retry_after_seconds`, in the body and in `Retry-After`.
    pub fn busy(message: impl Into<String>, retry_after_seconds: u64) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            .with("retry_after_seconds", json!(retry_after_seconds))
            .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds))
    }

    /// 422 for one event of a request, naming it, the field when there is one, and `rule` when the
    /// event matches its type's schema but not the stream it is appended to (the document's schemas
    /// cannot say which stream an event belongs to; a `field` without `rule` means the event itself
    /// is malformed).
    pub fn invalid_event(index: usize, error: &InvalidEvent) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", format!("event {index}: {error}"))
            .with("index", json!(index));
        match error {
            InvalidEvent::Field { field, .. } => e = e.with("field", json!(field)),
            InvalidEvent::NotThisStream { field, .. } => {
                e = e.with("field", json!(field)).with("rule", json!(error.to_string()));
            }
            InvalidEvent::WrongStream { .. } => e = e.with("rule", json!(error.to_string())),
            _ => {}
        }
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let message = error.to_string();
        match error {
            StoreError::WrongExpectedVersion { expected, current, .. } => {
                let expected = match expected {
                    redress_engine::ExpectedVersion::Exact(v) => json!(v),
                    other => json!(other.to_string()),
                };
                ApiError::new(StatusCode::CONFLICT, "wrong_expected_version", message)
                    .with("expected", expected)
                    .with("current_version", json!(current))
            }
            StoreError::Lifecycle { index, violation, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", message)
                    .with("index", json!(index))
                    .with("rule", json!(violation.to_string()))
            }
            StoreError::InvalidEvent { index, error } => ApiError::invalid_event(index, &error),
            StoreError::LimitExceeded { limit, max, actual } => ApiError::payload_too_large(message)
                .with("limit", json!(limit))
                .with("max", json!(max))
                .with("actual", json!(actual)),
            StoreError::StreamName(_) | StoreError::EmptyAppend => ApiError::bad_request(message),
            // Each event may match its schema; the request breaks a rule across them.
            StoreError::DuplicateEventId(event_id) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", message.clone())
                    .with("event_id", json!(event_id.to_string()))
                    .with("rule", json!(message))
            }
            // An extension of API.md's codes: ids reused by something that is not a retry.
            StoreError::IdempotencyConflict { event_id, .. } => {
                ApiError::new(StatusCode::CONFLICT, "idempotency_conflict", message)
                    .with("event_id", json!(event_id.to_string()))
            }
            StoreError::ImportRejected { position, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", message)
                    .with("position", json!(position.0))
            }
            // Personal data for an erased customer: a rule of the store (v1.1), like a lifecycle rule.
            StoreError::CustomerErased { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", message.clone())
                    .with("rule", json!(message))
            }
            StoreError::UnknownCustomer { .. } => ApiError::not_found(message),
            StoreError::Io(_) | StoreError::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
                    .with("retry_after_seconds", json!(1))
            }
            // The store failed after the events may have reached the disk (API.md v1.1).
            StoreError::OutcomeUnknown(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
                .with("outcome", json!("unknown"))
                .with("retry_after_seconds", json!(1)),
            StoreError::Corruption { .. } | StoreError::Codec { .. } => {
                tracing::error!(%message, "stored data does not read back");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
        }
    }
}
