//! `/api/v1/tokens`: a user's API tokens — create (the secret is shown once), list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_api::ErrorBody;
use corral_api::token::{ApiToken, ApiTokenCreate, ApiTokenCreated};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path};
use crate::app::tokens as app;
use crate::auth::Actor;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token_list, token_create)).routes(routes!(token_revoke))
}

/// The caller's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = Vec<ApiToken>), (status = 401, body = ErrorBody)))]
async fn token_list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(app::token_list(&state, &actor).await?))
}

/// Make a token for scripts (`Authorization: Bearer …`); its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = ApiTokenCreate,
    responses((status = 201, body = ApiTokenCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "the caller holds the most tokens one may"),
        (status = 422, body = ErrorBody)))]
async fn token_create(
    State(state): State<AppState>,
    actor: Actor,
    Json(req): Json<ApiTokenCreate>,
) -> ApiResult<Response> {
    let t = app::token_create(&state, &actor, req).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

/// Revoke one of the caller's tokens; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn token_revoke(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app::token_revoke(&state, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
