//! `/api/v1/nodes`: the fleet, with each node's link status, facts and usage; enrolling nodes
//! over SSH (admins); the backend's SSH public key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_api::node::{HostKey, HostKeyProbe, Node, NodeEnroll, NodeUpdate, SshPublicKey};
use corral_api::{ErrorBody, NodeId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path};
use crate::app::nodes as app;
use crate::auth::Actor;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(node_list, node_enroll))
        .routes(routes!(node_get, node_update))
        .routes(routes!(host_key_probe))
        .routes(routes!(host_key_confirm))
        .routes(routes!(ssh_key_get))
}

/// Every node. Any logged-in user sees the fleet's capacity and health; where nodes are,
/// their keys and their errors are for admins.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes",
    responses((status = 200, body = Vec<Node>), (status = 401, body = ErrorBody)))]
async fn node_list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<Node>>> {
    Ok(Json(app::node_list(&state, &actor).await?))
}

/// One node.
#[utoipa::path(get, path = "/api/v1/nodes/{id}", tag = "nodes",
    params(("id" = NodeId, Path)),
    responses((status = 200, body = Node), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn node_get(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<NodeId>,
) -> ApiResult<Json<Node>> {
    Ok(Json(app::node_get(&state, &actor, id).await?))
}

/// Set a node's allocation ratios (admins): how far its CPUs, memory and disk may be
/// promised to machines.
#[utoipa::path(patch, path = "/api/v1/nodes/{id}", tag = "nodes", request_body = NodeUpdate,
    params(("id" = NodeId, Path)),
    responses((status = 200, body = Node), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn node_update(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<NodeId>,
    Json(req): Json<NodeUpdate>,
) -> ApiResult<Json<Node>> {
    Ok(Json(app::node_update(&state, &actor, id, req).await?))
}

/// Add a node reached over SSH (admins). The host key must be one the admin confirmed; the
/// node must accept the backend's key and its bridge must answer, or nothing is stored.
#[utoipa::path(post, path = "/api/v1/nodes", tag = "nodes", request_body = NodeEnroll,
    responses((status = 201, body = Node), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn node_enroll(
    State(state): State<AppState>,
    actor: Actor,
    Json(req): Json<NodeEnroll>,
) -> ApiResult<Response> {
    let node = app::node_enroll(&state, &actor, req).await?;
    Ok((StatusCode::CREATED, Json(node)).into_response())
}

/// The host key fingerprint an sshd presents, for an admin to confirm before enrolling it.
#[utoipa::path(post, path = "/api/v1/nodes/host-key", tag = "nodes", request_body = HostKeyProbe,
    responses((status = 200, body = HostKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn host_key_probe(
    State(state): State<AppState>,
    actor: Actor,
    Json(req): Json<HostKeyProbe>,
) -> ApiResult<Json<HostKey>> {
    Ok(Json(app::host_key_probe(&state, &actor, req).await?))
}

/// Pin a new host key for a node whose key changed (`key_mismatch`), once an admin has
/// checked it on the node.
#[utoipa::path(put, path = "/api/v1/nodes/{id}/host-key", tag = "nodes",
    params(("id" = NodeId, Path)), request_body = HostKey,
    responses((status = 200, body = Node), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn host_key_confirm(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<NodeId>,
    Json(req): Json<HostKey>,
) -> ApiResult<Json<Node>> {
    Ok(Json(app::host_key_confirm(&state, &actor, id, req).await?))
}

/// The backend's SSH public key (admins): the line for a node user's `authorized_keys`.
#[utoipa::path(get, path = "/api/v1/ssh-key", tag = "nodes",
    responses((status = 200, body = SshPublicKey), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn ssh_key_get(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<SshPublicKey>> {
    Ok(Json(app::ssh_public_key(&state, &actor)?))
}
