//! `/api/v1/tenants`, `/api/v1/users` and `/api/v1/session/password`: tenants, their
//! members, users, and changing one's own password.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_api::people::{
    Member, MemberSet, PasswordChange, Quota, QuotaLimits, Tenant, TenantCreate, TenantUpdate, User,
    UserCreate, UserCreated, UserUpdate,
};
use corral_api::{ErrorBody, TenantId, UserId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path};
use crate::app::people as app;
use crate::auth::Actor;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant_list, tenant_create))
        .routes(routes!(tenant_update, tenant_delete))
        .routes(routes!(member_list))
        .routes(routes!(member_set, member_remove))
        .routes(routes!(user_list, user_create))
        .routes(routes!(user_update, user_delete))
        .routes(routes!(password_change))
        .routes(routes!(quota_get, quota_set))
}

/// A tenant's limits beside what it uses (its members and admins).
#[utoipa::path(get, path = "/api/v1/tenants/{id}/quota", tag = "people", params(("id" = TenantId, Path)),
    responses((status = 200, body = Quota), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn quota_get(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<TenantId>,
) -> ApiResult<Json<Quota>> {
    Ok(Json(crate::app::quotas::quota_get(&state, &actor, id).await?))
}

/// Set a tenant's limits (admins); an absent limit is no limit.
#[utoipa::path(put, path = "/api/v1/tenants/{id}/quota", tag = "people", params(("id" = TenantId, Path)),
    request_body = QuotaLimits,
    responses((status = 200, body = Quota), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn quota_set(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<TenantId>,
    Json(limits): Json<QuotaLimits>,
) -> ApiResult<Json<Quota>> {
    Ok(Json(crate::app::quotas::quota_set(&state, &actor, id, limits).await?))
}

/// Tenants: all of them for admins, one's own for everyone else.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "people",
    responses((status = 200, body = Vec<Tenant>), (status = 401, body = ErrorBody)))]
async fn tenant_list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<Tenant>>> {
    Ok(Json(app::tenant_list(&state, &actor).await?))
}

/// Create a tenant (admins).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "people", request_body = TenantCreate,
    responses((status = 201, body = Tenant), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn tenant_create(
    State(state): State<AppState>,
    actor: Actor,
    Json(req): Json<TenantCreate>,
) -> ApiResult<Response> {
    let t = app::tenant_create(&state, &actor, req).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

/// Rename a tenant (admins).
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "people", params(("id" = TenantId, Path)),
    request_body = TenantUpdate,
    responses((status = 200, body = Tenant), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn tenant_update(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<TenantId>,
    Json(req): Json<TenantUpdate>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(app::tenant_update(&state, &actor, id, req).await?))
}

/// Delete a tenant that holds no machines (admins), with its memberships and quota.
#[utoipa::path(delete, path = "/api/v1/tenants/{id}", tag = "people", params(("id" = TenantId, Path)),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn tenant_delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<TenantId>,
) -> ApiResult<StatusCode> {
    app::tenant_delete(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A tenant's members (any member sees them).
#[utoipa::path(get, path = "/api/v1/tenants/{id}/members", tag = "people", params(("id" = TenantId, Path)),
    responses((status = 200, body = Vec<Member>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn member_list(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<TenantId>,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(app::member_list(&state, &actor, id).await?))
}

/// Add a member or change their role (owners). A tenant keeps at least one owner.
#[utoipa::path(put, path = "/api/v1/tenants/{id}/members/{user_id}", tag = "people",
    params(("id" = TenantId, Path), ("user_id" = UserId, Path)), request_body = MemberSet,
    responses((status = 200, body = Vec<Member>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn member_set(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, user)): Path<(TenantId, UserId)>,
    Json(req): Json<MemberSet>,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(app::member_set(&state, &actor, id, user, req).await?))
}

/// Remove a member (owners). The last owner stays.
#[utoipa::path(delete, path = "/api/v1/tenants/{id}/members/{user_id}", tag = "people",
    params(("id" = TenantId, Path), ("user_id" = UserId, Path)),
    responses((status = 204, description = "removed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn member_remove(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, user)): Path<(TenantId, UserId)>,
) -> ApiResult<StatusCode> {
    app::member_remove(&state, &actor, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every user (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "people",
    responses((status = 200, body = Vec<User>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn user_list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(app::user_list(&state, &actor).await?))
}

/// Create a user: admins anyone, owners a member of their tenant. Without a password one is
/// generated and shown in the answer, once.
#[utoipa::path(post, path = "/api/v1/users", tag = "people", request_body = UserCreate,
    responses((status = 201, body = UserCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn user_create(
    State(state): State<AppState>,
    actor: Actor,
    Json(req): Json<UserCreate>,
) -> ApiResult<Response> {
    let u = app::user_create(&state, &actor, req).await?;
    Ok((StatusCode::CREATED, Json(u)).into_response())
}

/// Disable or enable a user, grant or take the admin role (admins). A disabled user's
/// sessions stop working at their next request.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "people", params(("id" = UserId, Path)), request_body = UserUpdate,
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn user_update(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<UserId>,
    Json(req): Json<UserUpdate>,
) -> ApiResult<Json<User>> {
    Ok(Json(app::user_update(&state, &actor, id, req).await?))
}

/// Delete a user (admins; not oneself). Their sessions, consoles and event sockets end; the
/// audit log keeps their entries.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "people", params(("id" = UserId, Path)),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn user_delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<UserId>,
) -> ApiResult<StatusCode> {
    app::user_delete(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change one's own password (the current one is asked for).
#[utoipa::path(post, path = "/api/v1/session/password", tag = "session", request_body = PasswordChange,
    responses((status = 204, description = "changed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn password_change(
    State(state): State<AppState>,
    actor: Actor,
    Json(req): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    app::password_change(&state, &actor, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
