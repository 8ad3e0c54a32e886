//! `/api/v1/audit`: the audit log, filtered by tenant, user or machine, newest first, and
//! the same as JSON lines for export (who sees what: `app::audit`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use corral_api::ErrorBody;
use corral_api::audit::{AuditEntry, AuditQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Query};
use crate::app::audit as app;
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_list)).routes(routes!(audit_export))
}

/// Audit entries, newest first (at most 1000; page with `before`).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn audit_list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(app::audit_list(&state, &actor, &q).await?))
}

/// The same entries as JSON lines (`application/x-ndjson`), for export.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "one AuditEntry per line", content_type = "application/x-ndjson"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn audit_export(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let mut out = String::new();
    for e in app::audit_list(&state, &actor, &q).await? {
        out.push_str(&serde_json::to_string(&e).map_err(ApiError::internal)?);
        out.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}
