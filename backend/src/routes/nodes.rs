//! `/api/v1/nodes`: the fleet, with each node's link status, facts and usage.

use axum::extract::State;
use corral_api::node::Node;
use corral_api::{ErrorBody, NodeId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path};
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::nodes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(node_list)).routes(routes!(node_get))
}

/// Every node. Any logged-in user sees the fleet's capacity and health.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes",
    responses((status = 200, body = Vec<Node>), (status = 401, body = ErrorBody)))]
async fn node_list(State(state): State<AppState>, _actor: Actor) -> ApiResult<Json<Vec<Node>>> {
    Ok(Json(nodes::node_list(&state.db).await?))
}

/// One node.
#[utoipa::path(get, path = "/api/v1/nodes/{id}", tag = "nodes",
    params(("id" = NodeId, Path)),
    responses((status = 200, body = Node), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn node_get(
    State(state): State<AppState>,
    _actor: Actor,
    Path(id): Path<NodeId>,
) -> ApiResult<Json<Node>> {
    nodes::node_get(&state.db, id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("node {id}")))
}
