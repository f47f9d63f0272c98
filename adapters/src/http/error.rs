//! API errors: the JSON bodies and status codes of API.md.

use axum::http::StatusCode;
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
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: Map::new() }
    }

    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        self.details.insert(key.to_owned(), value);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required")
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

    /// 422 for one event of a request, naming it and (when known) the field.
    pub fn invalid_event(index: usize, error: &InvalidEvent) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", format!("event {index}: {error}"))
            .with("index", json!(index));
        if let InvalidEvent::Field { field, .. } = error {
            e = e.with("field", json!(field));
        }
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.code.into()));
        body.insert("message".into(), Value::String(self.message));
        body.extend(self.details);
        (self.status, Json(Value::Object(body))).into_response()
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
            StoreError::StreamName(_) | StoreError::EmptyAppend | StoreError::DuplicateEventId(_) => {
                ApiError::bad_request(message)
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
