//! `/api/v1/machines/{id}/snapshots`: the snapshot tree of a machine, and taking, rolling
//! back, deleting and cloning snapshots.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_api::machine::Machine;
use corral_api::snapshot::{Snapshot, SnapshotClone, SnapshotCreate};
use corral_api::{ErrorBody, MachineId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path};
use crate::app::snapshots as app;
use crate::auth::Actor;
use crate::error::ApiResult;
use crate::policy::TargetMachine;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(snapshot_list, snapshot_create))
        .routes(routes!(snapshot_delete))
        .routes(routes!(snapshot_rollback))
        .routes(routes!(snapshot_clone))
}

/// The machine's snapshots, each with its parent, and which one is current.
#[utoipa::path(get, path = "/api/v1/machines/{id}/snapshots", tag = "snapshots",
    params(("id" = MachineId, Path)),
    responses((status = 200, body = Vec<Snapshot>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the machine's node keeps no snapshots"), (status = 503, body = ErrorBody)))]
async fn snapshot_list(
    State(state): State<AppState>,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Json<Vec<Snapshot>>> {
    Ok(Json(app::snapshot_list(&state, m).await?))
}

/// Take a snapshot; with `ram`, of the running guest's memory too.
#[utoipa::path(post, path = "/api/v1/machines/{id}/snapshots", tag = "snapshots",
    params(("id" = MachineId, Path)), request_body = SnapshotCreate,
    responses((status = 201, body = Snapshot), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn snapshot_create(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
    Json(req): Json<SnapshotCreate>,
) -> ApiResult<Response> {
    let s = app::snapshot_create(&state, &actor, m, req).await?;
    Ok((StatusCode::CREATED, Json(s)).into_response())
}

/// Delete a snapshot; what hung below it hangs from its parent.
#[utoipa::path(delete, path = "/api/v1/machines/{id}/snapshots/{name}", tag = "snapshots",
    params(("id" = MachineId, Path), ("name" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn snapshot_delete(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
    Path((_, name)): Path<(MachineId, String)>,
) -> ApiResult<StatusCode> {
    app::snapshot_delete(&state, &actor, m, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Return the machine to a snapshot. A running machine resumes from the snapshot's RAM state;
/// a disk-only snapshot needs the machine stopped.
#[utoipa::path(post, path = "/api/v1/machines/{id}/snapshots/{name}/rollback", tag = "snapshots",
    params(("id" = MachineId, Path), ("name" = String, Path)),
    responses((status = 200, body = Machine), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn snapshot_rollback(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
    Path((_, name)): Path<(MachineId, String)>,
) -> ApiResult<Json<Machine>> {
    Ok(Json(app::snapshot_rollback(&state, &actor, m, &name).await?))
}

/// A new machine whose disk starts as the snapshot's, in the same tenant and on the same node.
#[utoipa::path(post, path = "/api/v1/machines/{id}/snapshots/{name}/clone", tag = "snapshots",
    params(("id" = MachineId, Path), ("name" = String, Path)), request_body = SnapshotClone,
    responses((status = 201, body = Machine), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody), (status = 507, body = ErrorBody)))]
async fn snapshot_clone(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
    Path((_, name)): Path<(MachineId, String)>,
    Json(req): Json<SnapshotClone>,
) -> ApiResult<Response> {
    let m = app::snapshot_clone(&state, &actor, m, &name, req).await?;
    Ok((StatusCode::CREATED, Json(m)).into_response())
}
