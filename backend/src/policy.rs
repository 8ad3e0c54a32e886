//! Who may call which route: one table, checked by a middleware on every API request before
//! the handler runs (websockets included). A route missing from the table is refused (and a
//! test walks the OpenAPI document so none can be missing).
//!
//! Rules over a machine or a tenant load it and take the caller's role in its tenant: none
//! answers 404 (the resource does not exist for them), too low a role 403. Handlers still
//! filter what they list and check what only the request body says (the tenant a machine is
//! created in); the table is the first gate, not the only one.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use corral_api::session::Role;
use corral_api::{MachineId, TenantId};

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::machines;

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Anyone, logged in or not.
    Public,
    /// A session or token; what is shown is filtered by the handler.
    LoggedIn,
    /// A global admin.
    Admin,
    /// At least this role in the tenant of the route's machine (`/machines/{id}/…`) or tenant
    /// (`/tenants/{id}/…`).
    Tenant(Role),
}

use Need::*;
use Role::*;

/// Every API route: (method, path template, need).
pub const POLICY: &[(&str, &str, Need)] = &[
    ("GET", "/api/v1/openapi.json", Public),
    ("POST", "/api/v1/session", Public),
    ("DELETE", "/api/v1/session", Public),
    ("GET", "/api/v1/session", LoggedIn),
    ("POST", "/api/v1/session/password", LoggedIn),
    ("GET", "/api/v1/events", LoggedIn),
    ("GET", "/api/v1/machines", LoggedIn),
    ("POST", "/api/v1/machines", LoggedIn),
    ("GET", "/api/v1/machines/{id}", Tenant(Viewer)),
    ("PATCH", "/api/v1/machines/{id}", Tenant(Owner)),
    ("DELETE", "/api/v1/machines/{id}", Tenant(Owner)),
    ("POST", "/api/v1/machines/{id}/start", Tenant(Operator)),
    ("POST", "/api/v1/machines/{id}/stop", Tenant(Operator)),
    ("POST", "/api/v1/machines/{id}/force-stop", Tenant(Operator)),
    ("POST", "/api/v1/machines/{id}/reboot", Tenant(Operator)),
    ("POST", "/api/v1/machines/{id}/reset", Tenant(Operator)),
    ("POST", "/api/v1/machines/{id}/pause", Tenant(Operator)),
    ("POST", "/api/v1/machines/{id}/resume", Tenant(Operator)),
    ("POST", "/api/v1/machines/{id}/console", Tenant(Operator)),
    ("GET", "/api/v1/machines/{id}/console/{kind}", Tenant(Operator)),
    ("GET", "/api/v1/machines/{id}/snapshots", Tenant(Viewer)),
    ("POST", "/api/v1/machines/{id}/snapshots", Tenant(Operator)),
    ("DELETE", "/api/v1/machines/{id}/snapshots/{name}", Tenant(Operator)),
    ("POST", "/api/v1/machines/{id}/snapshots/{name}/rollback", Tenant(Operator)),
    ("POST", "/api/v1/machines/{id}/snapshots/{name}/clone", Tenant(Owner)),
    ("GET", "/api/v1/images", LoggedIn),
    ("POST", "/api/v1/images", Admin),
    ("GET", "/api/v1/tasks", LoggedIn),
    ("GET", "/api/v1/tasks/{id}", LoggedIn),
    ("GET", "/api/v1/nodes", LoggedIn),
    ("GET", "/api/v1/nodes/{id}", LoggedIn),
    ("POST", "/api/v1/nodes", Admin),
    ("POST", "/api/v1/nodes/host-key", Admin),
    ("PUT", "/api/v1/nodes/{id}/host-key", Admin),
    ("GET", "/api/v1/ssh-key", Admin),
    ("GET", "/api/v1/tenants", LoggedIn),
    ("POST", "/api/v1/tenants", Admin),
    ("GET", "/api/v1/tenants/{id}/members", Tenant(Viewer)),
    ("PUT", "/api/v1/tenants/{id}/members/{user_id}", Tenant(Owner)),
    ("DELETE", "/api/v1/tenants/{id}/members/{user_id}", Tenant(Owner)),
    ("GET", "/api/v1/tenants/{id}/quota", Tenant(Viewer)),
    ("PUT", "/api/v1/tenants/{id}/quota", Admin),
    ("GET", "/api/v1/users", Admin),
    // Admins create anyone; owners create into their tenant (the body says which).
    ("POST", "/api/v1/users", LoggedIn),
    ("PATCH", "/api/v1/users/{id}", Admin),
    ("GET", "/api/v1/tokens", LoggedIn),
    ("POST", "/api/v1/tokens", LoggedIn),
    ("DELETE", "/api/v1/tokens/{id}", LoggedIn),
    // Admins read everything; owners their tenants (filtered by the handler).
    ("GET", "/api/v1/audit", LoggedIn),
    ("GET", "/api/v1/audit/export", LoggedIn),
];

/// The rule of a route.
pub fn need(method: &str, template: &str) -> Option<Need> {
    POLICY.iter().find(|(m, t, _)| *m == method && *t == template).map(|(_, _, n)| *n)
}

/// The id after `collection` in `path` (`/api/v1/machines/<id>/…`).
fn id_after<'a>(path: &'a str, collection: &str) -> Option<&'a str> {
    let mut segs = path.split('/');
    segs.by_ref().find(|s| *s == collection)?;
    segs.next()
}

/// Checks the route's rule before its handler runs; the loaded caller is handed on.
pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let template = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    // The catch-all for unknown API paths answers 404 itself.
    let Some(template) = template.filter(|t| !t.contains("{*")) else { return next.run(req).await };
    let method = req.method().as_str().to_string();
    let Some(need) = need(&method, &template) else {
        tracing::error!(%method, %template, "a route without a policy rule: refused");
        return ApiError::Forbidden("this route has no permission rule".into()).into_response();
    };
    if need == Public {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let actor = match Actor::from_request_parts(&mut parts, &state).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let path = parts.uri.path().to_string();
    let verdict = match need {
        Public | LoggedIn => Ok(()),
        Admin if actor.is_admin => Ok(()),
        Admin => Err(ApiError::Forbidden("this is for administrators".into())),
        Tenant(role) => tenant_check(&state, &actor, &template, &path, role).await,
    };
    if let Err(e) = verdict {
        return e.into_response();
    }
    parts.extensions.insert(actor);
    next.run(Request::from_parts(parts, body)).await
}

async fn tenant_check(
    state: &AppState,
    actor: &Actor,
    template: &str,
    path: &str,
    needed: Role,
) -> Result<(), ApiError> {
    // An id that does not parse names nothing: the handler's extractor answers 400 for it.
    let tenant: Option<TenantId> = if template.starts_with("/api/v1/machines/{id}") {
        let Some(id) = id_after(path, "machines").and_then(|s| s.parse::<MachineId>().ok()) else {
            return Ok(());
        };
        let m = machines::machine_get(&state.db, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("machine {id}")))?;
        m.tenant_id
    } else {
        let Some(id) = id_after(path, "tenants").and_then(|s| s.parse::<TenantId>().ok()) else {
            return Ok(());
        };
        Some(id)
    };
    match actor.role_in(tenant) {
        None => Err(ApiError::NotFound(path.trim_start_matches("/api/v1/").to_string())),
        Some(r) if r < needed => Err(ApiError::Forbidden(format!(
            "your role in this tenant ({}) may not do this; it needs {}",
            r.as_str(),
            needed.as_str()
        ))),
        Some(_) => Ok(()),
    }
}
