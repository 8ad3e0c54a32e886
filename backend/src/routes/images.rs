//! `/api/v1/images`: the images machines can be created from, node by node.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_api::ErrorBody;
use corral_api::machine::{ImageImport, NodeImage};
use corral_api::task::Task;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json;
use crate::auth::Actor;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(image_list, image_import))
}

/// Bring an image into a node's store, from a path on the node or an http(s) URL (admins).
/// Answers at once with the task doing it; follow it at `/api/v1/tasks/{id}` or on the
/// events socket.
#[utoipa::path(post, path = "/api/v1/images", tag = "images", request_body = ImageImport,
    responses((status = 202, body = Task), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn image_import(
    State(state): State<AppState>,
    actor: Actor,
    Json(req): Json<ImageImport>,
) -> ApiResult<Response> {
    let task = crate::app::images::image_import(&state, &actor, req).await?;
    Ok((StatusCode::ACCEPTED, Json(task)).into_response())
}

/// Every image on every online node.
#[utoipa::path(get, path = "/api/v1/images", tag = "images",
    responses((status = 200, body = Vec<NodeImage>), (status = 401, body = ErrorBody)))]
async fn image_list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<NodeImage>>> {
    Ok(Json(crate::app::images::image_list(&state, &actor).await?))
}
