//! What guests are given: `/api/v1/ssh-keys` (each user's own public keys) and a machine's
//! guest data, `/api/v1/machines/{id}/guest` and `/user-data` (who sees what: `app::guests`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_api::guest::{GuestInitView, SshKey, SshKeyCreate, UserData};
use corral_api::{ErrorBody, MachineId, SshKeyId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path};
use crate::app::guests as app;
use crate::auth::Actor;
use crate::error::ApiResult;
use crate::policy::TargetMachine;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ssh_key_list, ssh_key_create))
        .routes(routes!(ssh_key_delete))
        .routes(routes!(guest_get))
        .routes(routes!(user_data_get, user_data_set))
}

/// The caller's SSH public keys, oldest first.
#[utoipa::path(get, path = "/api/v1/ssh-keys", tag = "guests",
    responses((status = 200, body = Vec<SshKey>), (status = 401, body = ErrorBody)))]
async fn ssh_key_list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<SshKey>>> {
    Ok(Json(app::ssh_key_list(&state, &actor).await?))
}

/// Keep an SSH public key, to give guests at create (at most 32 per user).
#[utoipa::path(post, path = "/api/v1/ssh-keys", tag = "guests", request_body = SshKeyCreate,
    responses((status = 201, body = SshKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the caller keeps this key, or the most keys one may"),
        (status = 422, body = ErrorBody)))]
async fn ssh_key_create(
    State(state): State<AppState>,
    actor: Actor,
    Json(req): Json<SshKeyCreate>,
) -> ApiResult<Response> {
    let key = app::ssh_key_create(&state, &actor, req).await?;
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

/// Delete one of the caller's keys. Guests given it keep it.
#[utoipa::path(delete, path = "/api/v1/ssh-keys/{id}", tag = "guests", params(("id" = SshKeyId, Path)),
    responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn ssh_key_delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<SshKeyId>,
) -> ApiResult<StatusCode> {
    app::ssh_key_delete(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the machine's guest was given at boot: hostname, keys (by name and fingerprint),
/// the user data's kind and size, the static address. 404 when it was given nothing.
#[utoipa::path(get, path = "/api/v1/machines/{id}/guest", tag = "guests", params(("id" = MachineId, Path)),
    responses((status = 200, body = GuestInitView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn guest_get(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Json<GuestInitView>> {
    Ok(Json(app::guest_get(&state, &actor, &m).await?))
}

/// The machine's user data (operators and owners: it may hold secrets).
#[utoipa::path(get, path = "/api/v1/machines/{id}/user-data", tag = "guests", params(("id" = MachineId, Path)),
    responses((status = 200, body = UserData), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn user_data_get(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
) -> ApiResult<Response> {
    let data = app::user_data_get(&state, &actor, &m).await?;
    // It may hold secrets: no cache along the way keeps a copy.
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], Json(data)).into_response())
}

/// New user data for the guest's next boot (owners): a new instance id, so cloud-init applies
/// it. `null` leaves the guest only its hostname and keys.
#[utoipa::path(put, path = "/api/v1/machines/{id}/user-data", tag = "guests", params(("id" = MachineId, Path)),
    request_body = UserData,
    responses((status = 200, body = GuestInitView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn user_data_set(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
    Json(req): Json<UserData>,
) -> ApiResult<Json<GuestInitView>> {
    Ok(Json(app::user_data_set(&state, &actor, &m, req).await?))
}
