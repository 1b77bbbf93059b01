//! `/admin/clients`: the operator's API clients of every tenant, while the server runs
//! (with sled, the server owns the store, so this is how clients are managed then).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{client_tenant, ApiClient, NewClient, Operator};
use crate::error::{json_rejection, ApiError, Problem};
use crate::state::AppState;

/// A request for a new client, bound to one tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateClient {
    /// The tenant's organization, as events name it in `orgId`.
    pub org_id: String,
    /// The tenant's service, as events name it in `svcId`.
    pub svc_id: String,
}

/// A client as listed: never its secret. Field names are those of `boxtrace clients list`
/// and of the OAuth 2.0 parameters (`client_id`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    /// The client id, `btc_…`.
    pub client_id: String,
    /// The tenant's organization.
    pub org_id: String,
    /// The tenant's service.
    pub svc_id: String,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When revoked (`null`: active).
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiClient> for ClientView {
    fn from(c: ApiClient) -> Self {
        Self {
            client_id: c.client_id,
            org_id: c.org_id,
            svc_id: c.svc_id,
            created_at: c.created_at,
            revoked_at: c.revoked_at,
        }
    }
}

/// Create an API client for a tenant. The answer holds its secret, shown this once.
#[utoipa::path(post, path = "/admin/clients", tag = "operator", operation_id = "createClient", security(("operator" = [])),
    request_body = CreateClient,
    responses(
        (status = 201, description = "Created; `client_secret` is shown once", body = NewClient),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The operator API is off (no operator token configured)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "orgId or svcId missing, empty, too long or with control characters", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable; nothing was created", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    _operator: Operator,
    body: Result<Json<CreateClient>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(request) = body.map_err(json_rejection)?;
    let tenant = client_tenant(&request.org_id, &request.svc_id).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-client",
            "Invalid client",
            e.to_string(),
        )
        .with_field(e.field)
    })?;
    // Wall-clock time, as for the tokens the client will get.
    let created = state.clients.create(&tenant, Utc::now()).await?;
    tracing::info!(client = %created.client_id, org = %created.org_id, svc = %created.svc_id, "API client created by the operator");
    Ok((StatusCode::CREATED, Json(created)))
}

/// List the API clients of every tenant, without secrets.
#[utoipa::path(get, path = "/admin/clients", tag = "operator", operation_id = "listClients", security(("operator" = [])),
    responses(
        (status = 200, body = [ClientView]),
        (status = 401, description = "Missing or wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The operator API is off", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    let clients = state.clients.list().await?;
    Ok(Json(clients.into_iter().map(ClientView::from).collect()))
}

/// Revoke an API client: it gets no more tokens, and its tokens stop working at once.
/// Revoking a revoked client changes nothing.
#[utoipa::path(delete, path = "/admin/clients/{id}", tag = "operator", operation_id = "revokeClient", security(("operator" = [])),
    params(("id" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "Revoked", body = ClientView),
        (status = 401, description = "Missing or wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The operator API is off", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable; nothing was revoked", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> Result<Json<ClientView>, ApiError> {
    if !state.clients.revoke(&id, Utc::now()).await? {
        return Err(ApiError::not_found(format!("no client '{id}'")));
    }
    let client = state
        .clients
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no client '{id}'")))?;
    tracing::info!(client = %client.client_id, org = %client.org_id, "API client revoked by the operator");
    Ok(Json(client.into()))
}
