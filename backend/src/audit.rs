//! The audit trail: every mutation through the API is recorded by a middleware (who, tenant,
//! action, target, result, time, source address); logins, failed logins and console
//! openings are recorded where they happen. Recording never fails a request: a database
//! error is logged instead.
//!
//! Actions are named from the route: `machine.create`, `machine.start`, `snapshot.rollback`,
//! `member.set`, `token.delete`, … (the resource of the last literal path segment and a verb
//! from the method, or the segment itself when it is a verb).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use corral_api::{MachineId, TenantId, UserId};

use crate::state::AppState;
use crate::store::audit::{self, NewEntry};
use crate::store::machines;

/// Who made the request, filled in by the `Actor` extractor when it authenticates.
#[derive(Clone, Debug, Default)]
pub struct Who {
    pub user_id: Option<UserId>,
    pub username: Option<String>,
    pub token_id: Option<String>,
}

/// The request's slot for `Who` (a request extension).
#[derive(Clone, Default)]
pub struct AuditSlot(pub Arc<Mutex<Who>>);

impl AuditSlot {
    pub fn set(&self, who: Who) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = who;
    }

    fn get(&self) -> Who {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The client's address, when the server knows it.
pub fn source_of(req: &Request) -> Option<String> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

/// The client's address as an extractor (`None` in tests without a listener).
pub struct Source(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Source(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())))
    }
}

fn singular(word: &str) -> String {
    word.strip_suffix('s').unwrap_or(word).replace('-', "_")
}

/// `machine.create` and friends, from the method and the route's template.
pub fn action_name(method: &Method, template: &str) -> String {
    let segs: Vec<&str> = template.trim_start_matches("/api/v1/").split('/').collect();
    let is_param = |s: &str| s.starts_with('{');
    let last = segs.last().copied().unwrap_or_default();
    let method_verb = match *method {
        Method::POST => "create",
        Method::PUT => "set",
        Method::PATCH => "update",
        Method::DELETE => "delete",
        _ => "read",
    };
    if is_param(last) {
        let resource = segs.iter().rev().find(|s| !is_param(s)).copied().unwrap_or_default();
        return format!("{}.{method_verb}", singular(resource));
    }
    // `…/{id}/start`: a verb on the resource before it; `…/{id}/snapshots`: a collection.
    const VERBS: [&str; 9] =
        ["start", "stop", "force-stop", "reboot", "reset", "pause", "resume", "rollback", "clone"];
    if VERBS.contains(&last)
        && let Some(resource) = segs.iter().rev().skip(1).find(|s| !is_param(s))
    {
        return format!("{}.{}", singular(resource), last.replace('-', "_"));
    }
    format!("{}.{method_verb}", singular(last))
}

/// The values of the template's parameters in `path`, in order, with the literal segment
/// before each (`machines`, `<id>`).
fn params<'a>(template: &'a str, path: &'a str) -> Vec<(&'a str, &'a str)> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.iter()
        .zip(p.iter())
        .enumerate()
        .filter(|(_, (ts, _))| ts.starts_with('{'))
        .map(|(i, (_, value))| (if i > 0 { t[i - 1] } else { "" }, *value))
        .collect()
}

/// Records every mutating API request after it ran.
pub async fn record_mutations(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let skip = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        || !path.starts_with("/api/")
        || path == corral_api::paths::SESSION;
    let template = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    // Unknown paths (the catch-all) did nothing worth recording.
    let template = template.filter(|t| !t.contains("{*"));
    let (true, Some(template)) = (!skip, template) else { return next.run(req).await };
    let slot = AuditSlot::default();
    req.extensions_mut().insert(slot.clone());
    let source = source_of(&req);
    let found = params(&template, &path);
    let machine_id =
        found.iter().find(|(k, _)| *k == "machines").and_then(|(_, v)| v.parse::<MachineId>().ok());
    let mut tenant_id =
        found.iter().find(|(k, _)| *k == "tenants").and_then(|(_, v)| v.parse::<TenantId>().ok());
    if let Some(m) = machine_id
        && let Ok(Some(row)) = machines::machine_get(&state.db, m).await
    {
        tenant_id = row.tenant_id;
    }
    let target = found.last().map(|(k, v)| format!("{}:{v}", singular(k)));

    let resp = next.run(req).await;
    let status = resp.status();
    // Small JSON answers tell what a create made (its id and tenant) or why it failed.
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let field = |k: &str| json.as_ref().and_then(|j| j.get(k)).and_then(|v| v.as_str()).map(str::to_string);
    let result = if status.is_success() {
        "ok".to_string()
    } else {
        format!("{} {}", status.as_u16(), field("code").unwrap_or_default()).trim().to_string()
    };
    let action = action_name(&method, &template);
    let mut entry = NewEntry {
        tenant_id,
        action: action.clone(),
        target,
        machine_id,
        result,
        source,
        ..Default::default()
    };
    if status.is_success() && action == "machine.create" {
        entry.machine_id = field("id").and_then(|v| v.parse().ok());
        entry.tenant_id = field("tenant_id").and_then(|v| v.parse().ok());
        entry.target = entry.machine_id.map(|m| format!("machine:{m}"));
    }
    let who = slot.get();
    entry.user_id = who.user_id;
    entry.username = who.username;
    entry.token_id = who.token_id;
    if let Err(e) = audit::append(&state.db, &entry).await {
        tracing::error!(error = %e, action = %entry.action, "recording an audit entry");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Records something that is not a plain mutation (a login, a console opening).
pub async fn record(state: &AppState, entry: NewEntry) {
    if let Err(e) = audit::append(&state.db, &entry).await {
        tracing::error!(error = %e, action = %entry.action, "recording an audit entry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_from_routes() {
        let cases = [
            (Method::POST, "/api/v1/machines", "machine.create"),
            (Method::DELETE, "/api/v1/machines/{id}", "machine.delete"),
            (Method::PATCH, "/api/v1/machines/{id}", "machine.update"),
            (Method::POST, "/api/v1/machines/{id}/start", "machine.start"),
            (Method::POST, "/api/v1/machines/{id}/force-stop", "machine.force_stop"),
            (Method::POST, "/api/v1/machines/{id}/snapshots", "snapshot.create"),
            (Method::POST, "/api/v1/machines/{id}/snapshots/{name}/rollback", "snapshot.rollback"),
            (Method::DELETE, "/api/v1/machines/{id}/snapshots/{name}", "snapshot.delete"),
            (Method::POST, "/api/v1/machines/{id}/console", "console.create"),
            (Method::PUT, "/api/v1/tenants/{id}/members/{user_id}", "member.set"),
            (Method::POST, "/api/v1/tokens", "token.create"),
            (Method::DELETE, "/api/v1/tokens/{id}", "token.delete"),
        ];
        for (m, t, want) in cases {
            assert_eq!(action_name(&m, t), want, "{m} {t}");
        }
        assert_eq!(
            params("/api/v1/machines/{id}/snapshots/{name}", "/api/v1/machines/abc/snapshots/s1"),
            [("machines", "abc"), ("snapshots", "s1")]
        );
    }
}
