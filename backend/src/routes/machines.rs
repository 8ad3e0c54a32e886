//! `/api/v1/machines`: list, get, create, update, delete, and the power actions (start, stop,
//! force-stop, reboot, reset, pause, resume).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use corral_api::machine::{Machine, MachineCreate, MachineDeleteQuery, MachineUpdate};
use corral_api::spec::PowerAction;
use corral_api::{ErrorBody, MachineId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Query};
use crate::app::machines as app;
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult};
use crate::policy::TargetMachine;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(machine_list, machine_create))
        .routes(routes!(machine_get, machine_delete, machine_update))
        .routes(routes!(machine_start))
        .routes(routes!(machine_stop))
        .routes(routes!(machine_force_stop))
        .routes(routes!(machine_reboot))
        .routes(routes!(machine_reset))
        .routes(routes!(machine_pause))
        .routes(routes!(machine_resume))
}

/// Machines the caller may see.
#[utoipa::path(get, path = "/api/v1/machines", tag = "machines",
    responses((status = 200, body = Vec<Machine>), (status = 401, body = ErrorBody)))]
async fn machine_list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<Machine>>> {
    Ok(Json(app::machine_list(&state, &actor).await?))
}

/// One machine.
#[utoipa::path(get, path = "/api/v1/machines/{id}", tag = "machines",
    params(("id" = MachineId, Path)),
    responses((status = 200, body = Machine), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn machine_get(TargetMachine(m): TargetMachine) -> Json<Machine> {
    Json(m)
}

/// Create a machine on the node with room for it (or the one named; with an image, only
/// nodes holding it). Answers with the machine as its node reports it (`creating` while the
/// node works, or already `stopped`); later changes arrive on the events socket.
/// Create a machine. Send an `Idempotency-Key` header (e.g. a fresh UUID per form) to make a
/// retry safe: a repeat of the same request with the same key answers 200 with the machine
/// the first one made, whatever happened to the first answer.
#[utoipa::path(post, path = "/api/v1/machines", tag = "machines", request_body = MachineCreate,
    params(("Idempotency-Key" = Option<String>, Header, description = "1–100 of letters, digits, '.', '_', ':', '-'")),
    responses((status = 201, body = Machine), (status = 200, body = Machine, description = "an earlier request with this Idempotency-Key made it"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody), (status = 507, body = ErrorBody)))]
async fn machine_create(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    Json(req): Json<MachineCreate>,
) -> ApiResult<Response> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::Validation {
            field: "Idempotency-Key".into(),
            message: "visible ASCII only".into(),
        })?),
        None => None,
    };
    let (status, m) = match app::machine_create(&state, &actor, req, key).await? {
        app::Created::New(m) => (StatusCode::CREATED, m),
        app::Created::Replayed(m) => (StatusCode::OK, m),
    };
    let made = crate::audit::Made { machine_id: m.id, tenant_id: m.tenant_id };
    let mut resp = (status, Json(m)).into_response();
    resp.extensions_mut().insert(made);
    Ok(resp)
}

/// Rename a machine; change its vCPUs, memory, disk or port forwards (a VM while stopped,
/// a zone's CPU and memory limits live); change its boot order or CD.
#[utoipa::path(patch, path = "/api/v1/machines/{id}", tag = "machines",
    params(("id" = MachineId, Path)), request_body = MachineUpdate,
    responses((status = 200, body = Machine), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody), (status = 507, body = ErrorBody)))]
async fn machine_update(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
    Json(req): Json<MachineUpdate>,
) -> ApiResult<Json<Machine>> {
    Ok(Json(crate::app::machine_update::machine_update(&state, &actor, m, req).await?))
}

/// Delete a machine and its disks. Refused while it runs unless `force`.
#[utoipa::path(delete, path = "/api/v1/machines/{id}", tag = "machines",
    params(("id" = MachineId, Path), MachineDeleteQuery),
    responses((status = 202, body = Machine), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn machine_delete(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
    Query(q): Query<MachineDeleteQuery>,
) -> ApiResult<Response> {
    let m = app::machine_delete(&state, &actor, m, q.force).await?;
    Ok((StatusCode::ACCEPTED, Json(m)).into_response())
}

async fn power(state: AppState, actor: Actor, m: Machine, action: PowerAction) -> ApiResult<Response> {
    let m = app::machine_power(&state, &actor, m, action).await?;
    Ok((StatusCode::ACCEPTED, Json(m)).into_response())
}

/// Power a machine on.
#[utoipa::path(post, path = "/api/v1/machines/{id}/start", tag = "machines",
    params(("id" = MachineId, Path)),
    responses((status = 202, body = Machine), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn machine_start(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Response> {
    power(state, actor, m, PowerAction::Start).await
}

/// Shut a machine down through its ACPI power button; it is forced off if the guest has not
/// stopped after the node's timeout.
#[utoipa::path(post, path = "/api/v1/machines/{id}/stop", tag = "machines",
    params(("id" = MachineId, Path)),
    responses((status = 202, body = Machine), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn machine_stop(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Response> {
    power(state, actor, m, PowerAction::Stop).await
}

/// Power a machine off at once, without asking its guest.
#[utoipa::path(post, path = "/api/v1/machines/{id}/force-stop", tag = "machines",
    params(("id" = MachineId, Path)),
    responses((status = 202, body = Machine), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn machine_force_stop(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Response> {
    power(state, actor, m, PowerAction::ForceStop).await
}

/// Reboot a running machine.
#[utoipa::path(post, path = "/api/v1/machines/{id}/reboot", tag = "machines",
    params(("id" = MachineId, Path)),
    responses((status = 202, body = Machine), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn machine_reboot(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Response> {
    power(state, actor, m, PowerAction::Reboot).await
}

/// Hard-reset a running machine, like its reset button.
#[utoipa::path(post, path = "/api/v1/machines/{id}/reset", tag = "machines",
    params(("id" = MachineId, Path)),
    responses((status = 202, body = Machine), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn machine_reset(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Response> {
    power(state, actor, m, PowerAction::Reset).await
}

/// Halt a running machine's CPUs, keeping its memory.
#[utoipa::path(post, path = "/api/v1/machines/{id}/pause", tag = "machines",
    params(("id" = MachineId, Path)),
    responses((status = 202, body = Machine), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn machine_pause(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Response> {
    power(state, actor, m, PowerAction::Pause).await
}

/// Let a paused machine run on.
#[utoipa::path(post, path = "/api/v1/machines/{id}/resume", tag = "machines",
    params(("id" = MachineId, Path)),
    responses((status = 202, body = Machine), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn machine_resume(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Response> {
    power(state, actor, m, PowerAction::Resume).await
}
