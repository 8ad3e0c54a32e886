//! `/api/v1/images`: the images machines can be created from, node by node.

use axum::extract::State;
use corral_api::ErrorBody;
use corral_api::machine::NodeImage;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json;
use crate::auth::Actor;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(image_list))
}

/// Every image on every online node.
#[utoipa::path(get, path = "/api/v1/images", tag = "images",
    responses((status = 200, body = Vec<NodeImage>), (status = 401, body = ErrorBody)))]
async fn image_list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<NodeImage>>> {
    Ok(Json(crate::app::images::image_list(&state, &actor).await?))
}
