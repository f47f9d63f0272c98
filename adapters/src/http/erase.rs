//! `POST /customers/{customer_id}/erase` (API.md v1.1, "Audit evidence"): crypto-shredding of one
//! customer's personal data. Parse → `ShreddableStore::erase` → rebuild every fold, so the read models
//! drop the erased texts (a rebuild reads them as `"[erased]"`).

use super::{openapi, ApiError, AppState, Caller};
use crate::http::auth::Access;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use redress_engine::personal::KeyId;
use redress_schemas::{Metadata, StreamName};
use serde_json::{json, Value};

/// The body of an erasure request.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// Who asked for the erasure.
    pub requested_by: String,
    /// The law or article it follows (`GDPR Art. 17`, `PIPL Art. 47`).
    pub legal_basis: String,
}

/// Parses an erasure body: a JSON object with exactly `requested_by` and `legal_basis`, both non-blank.
pub fn parse_erasure_body(body: &[u8]) -> Result<ErasureRequest, ApiError> {
    let request: ErasureRequest =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed erasure request: {e}")))?;
    request.check()?;
    Ok(request)
}

impl ErasureRequest {
    /// Refuses a blank `requested_by` or `legal_basis`.
    pub fn check(&self) -> Result<(), ApiError> {
        for (field, value) in [("requested_by", &self.requested_by), ("legal_basis", &self.legal_basis)] {
            if value.trim().is_empty() {
                return Err(ApiError::bad_request(format!("{field} must not be empty")));
            }
        }
        Ok(())
    }
}

#[utoipa::path(post, path = "/customers/{customer_id}/erase", tag = "audit",
    params(("customer_id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,191}$",
        description = "The customer whose personal data is erased")),
    request_body = openapi::ErasureRequestDoc,
    responses(
        (status = 201, description = "The key is destroyed and `customer_data_erased` appended to `customer-<customer_id>`; projections are rebuilding without the texts", body = openapi::ErasureDoc),
        (status = 400, description = "Malformed body or customer id", body = openapi::ErrorDoc),
        (status = 401, description = "No or unknown token", body = openapi::ErrorDoc),
        (status = 403, description = "Only admins erase", body = openapi::ErrorDoc),
        (status = 404, description = "No personal data key for this customer (no sealed event names them)", body = openapi::ErrorDoc),
        (status = 422, description = "invalid_event with `rule`: the customer was already erased", body = openapi::ErrorDoc),
        (status = 503, description = "unavailable: the store cannot write, or has no key table", body = openapi::ErrorDoc)))]
pub(super) async fn erase_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Access::Admin, "erase personal data")?;
    let body = state.read_body(body).await?;
    StreamName::customer(&customer_id).map_err(|e| ApiError::bad_request(format!("bad customer id: {e}")))?;
    let request = parse_erasure_body(&body)?;
    let answer = erase(&state, caller.name().clone(), &customer_id, &request, "redress-http").await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Erases `customer_id`'s personal data as the credential `by` asked through `source` (the API or the
/// console): destroys the key, appends `customer_data_erased`, and starts the rebuild of every fold so
/// the read models drop the texts. Returns the 201 answer's body. The caller checked the role.
pub(super) async fn erase(
    state: &AppState,
    by: redress_schemas::RecordedBy,
    customer_id: &str,
    request: &ErasureRequest,
    source: &str,
) -> Result<Value, ApiError> {
    StreamName::customer(customer_id).map_err(|e| ApiError::bad_request(format!("bad customer id: {e}")))?;
    request.check()?;
    let Some(shreddable) = state.erasure.as_ref() else {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "this store has no key table"));
    };
    let mut metadata = Metadata::default();
    metadata.0.insert("actor".into(), request.requested_by.clone());
    metadata.0.insert("source".into(), source.into());
    let outcome = shreddable.erase(customer_id, &request.requested_by, &request.legal_basis, metadata, by).await?;
    let projections = &state.inner.projections;
    for view in projections.names() {
        // One fold serves several views: the second call finds its rebuild already running.
        let _ = projections.rebuild(view);
    }
    Ok(json!({
        "customer_id": customer_id,
        "pseudonym": KeyId::of_customer(customer_id).pseudonym(),
        "position": outcome.result.last_position.0,
        "projections_rebuilding": true,
    }))
}
