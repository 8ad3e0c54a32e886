//! `/api/v1/tasks`: long operations on the nodes, newest first, as far as the caller may see
//! them (admins: all; others: tasks on their tenants' machines).

use axum::extract::State;
use corral_api::task::Task;
use corral_api::{ErrorBody, TaskId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path};
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::tasks;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(task_list)).routes(routes!(task_get))
}

/// The newest 200 tasks the caller may see.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks",
    responses((status = 200, body = Vec<Task>), (status = 401, body = ErrorBody)))]
async fn task_list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<Task>>> {
    Ok(Json(tasks::task_list(&state.db, &actor.visibility(), 200).await?))
}

/// One task, with its steps, progress and log.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = TaskId, Path)),
    responses((status = 200, body = Task), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn task_get(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<TaskId>,
) -> ApiResult<Json<Task>> {
    match tasks::task_get(&state.db, id).await? {
        Some(t) if actor.role_in(t.tenant_id).is_some() => Ok(Json(t)),
        _ => Err(ApiError::NotFound(format!("task {id}"))),
    }
}
