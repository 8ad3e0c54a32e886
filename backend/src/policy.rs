//! Who may call which route: one table, checked by a middleware on every API request before
//! the handler runs (websockets included). A route missing from the table is refused (and a
//! test walks the OpenAPI document so none can be missing).
//!
//! The middleware is also the one place where a request's path parameters are read: each is
//! checked once ([`PathParams`]) and what it names is loaded once ([`Authorized`]), then
//! handed to the handler and to the audit trail through the request's extensions, so the
//! three can never disagree about which machine or tenant a request touched. A parameter
//! that is not written plainly (percent-encoded, an id in another spelling) is refused with
//! 400 before anything runs: the check fails closed.
//!
//! Rules over a machine or a tenant load it and take the caller's role in its tenant: none
//! answers 404 (the resource does not exist for them), too low a role 403. Handlers still
//! filter what they list and check what only the request body says (the tenant a machine is
//! created in); the table is the first gate, not the only one.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use corral_api::machine::Machine;
use corral_api::session::Role;
use corral_api::{MachineId, TenantId};

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{machines, users};

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

/// One row of the table: a route, what it needs, and the name its calls have in the audit
/// log (`resource.verb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub method: &'static str,
    pub template: &'static str,
    pub need: Need,
    pub action: &'static str,
}

const fn rule(method: &'static str, template: &'static str, need: Need, action: &'static str) -> Rule {
    Rule { method, template, need, action }
}

/// Every API route.
pub const POLICY: &[Rule] = &[
    rule("GET", "/api/v1/openapi.json", Public, "openapi.read"),
    rule("POST", "/api/v1/session", Public, "session.login"),
    rule("DELETE", "/api/v1/session", Public, "session.logout"),
    rule("GET", "/api/v1/session", LoggedIn, "session.read"),
    rule("POST", "/api/v1/session/password", LoggedIn, "password.change"),
    rule("GET", "/api/v1/events", LoggedIn, "events.read"),
    rule("GET", "/api/v1/machines", LoggedIn, "machine.list"),
    rule("POST", "/api/v1/machines", LoggedIn, "machine.create"),
    rule("GET", "/api/v1/machines/{id}", Tenant(Viewer), "machine.read"),
    rule("PATCH", "/api/v1/machines/{id}", Tenant(Owner), "machine.update"),
    rule("DELETE", "/api/v1/machines/{id}", Tenant(Owner), "machine.delete"),
    rule("POST", "/api/v1/machines/{id}/start", Tenant(Operator), "machine.start"),
    rule("POST", "/api/v1/machines/{id}/stop", Tenant(Operator), "machine.stop"),
    rule("POST", "/api/v1/machines/{id}/force-stop", Tenant(Operator), "machine.force_stop"),
    rule("POST", "/api/v1/machines/{id}/reboot", Tenant(Operator), "machine.reboot"),
    rule("POST", "/api/v1/machines/{id}/reset", Tenant(Operator), "machine.reset"),
    rule("POST", "/api/v1/machines/{id}/pause", Tenant(Operator), "machine.pause"),
    rule("POST", "/api/v1/machines/{id}/resume", Tenant(Operator), "machine.resume"),
    rule("POST", "/api/v1/machines/{id}/console", Tenant(Operator), "console.create"),
    rule("GET", "/api/v1/machines/{id}/console/{kind}", Tenant(Operator), "console.open"),
    rule("GET", "/api/v1/machines/{id}/snapshots", Tenant(Viewer), "snapshot.list"),
    rule("POST", "/api/v1/machines/{id}/snapshots", Tenant(Operator), "snapshot.create"),
    rule("DELETE", "/api/v1/machines/{id}/snapshots/{name}", Tenant(Operator), "snapshot.delete"),
    rule("POST", "/api/v1/machines/{id}/snapshots/{name}/rollback", Tenant(Operator), "snapshot.rollback"),
    rule("POST", "/api/v1/machines/{id}/snapshots/{name}/clone", Tenant(Owner), "snapshot.clone"),
    rule("GET", "/api/v1/machines/{id}/guest", Tenant(Viewer), "guest.read"),
    rule("GET", "/api/v1/machines/{id}/user-data", Tenant(Operator), "user_data.read"),
    rule("PUT", "/api/v1/machines/{id}/user-data", Tenant(Owner), "user_data.set"),
    rule("GET", "/api/v1/ssh-keys", LoggedIn, "ssh_key.list"),
    rule("POST", "/api/v1/ssh-keys", LoggedIn, "ssh_key.create"),
    rule("DELETE", "/api/v1/ssh-keys/{id}", LoggedIn, "ssh_key.delete"),
    rule("GET", "/api/v1/images", LoggedIn, "image.list"),
    rule("POST", "/api/v1/images", Admin, "image.create"),
    rule("GET", "/api/v1/machines/{id}/metrics", Tenant(Viewer), "machine_metrics.read"),
    rule("GET", "/api/v1/nodes/{id}/metrics", Admin, "node_metrics.read"),
    rule("GET", "/api/v1/tenants/{id}/metrics", Tenant(Viewer), "tenant_metrics.read"),
    rule("GET", "/api/v1/metrics/fleet", Admin, "fleet_metrics.read"),
    rule("GET", "/metrics", LoggedIn, "prometheus.read"),
    rule("GET", "/api/v1/tasks", LoggedIn, "task.list"),
    rule("GET", "/api/v1/tasks/{id}", LoggedIn, "task.read"),
    rule("GET", "/api/v1/nodes", LoggedIn, "node.list"),
    rule("GET", "/api/v1/nodes/{id}", LoggedIn, "node.read"),
    rule("PATCH", "/api/v1/nodes/{id}", Admin, "node.update"),
    rule("POST", "/api/v1/nodes", Admin, "node.create"),
    rule("POST", "/api/v1/nodes/host-key", Admin, "host_key.create"),
    rule("PUT", "/api/v1/nodes/{id}/host-key", Admin, "host_key.set"),
    rule("GET", "/api/v1/ssh-key", Admin, "ssh_key.read"),
    rule("GET", "/api/v1/tenants", LoggedIn, "tenant.list"),
    rule("POST", "/api/v1/tenants", Admin, "tenant.create"),
    rule("PATCH", "/api/v1/tenants/{id}", Admin, "tenant.update"),
    rule("DELETE", "/api/v1/tenants/{id}", Admin, "tenant.delete"),
    rule("GET", "/api/v1/tenants/{id}/members", Tenant(Viewer), "member.list"),
    rule("PUT", "/api/v1/tenants/{id}/members/{user_id}", Tenant(Owner), "member.set"),
    rule("DELETE", "/api/v1/tenants/{id}/members/{user_id}", Tenant(Owner), "member.delete"),
    rule("GET", "/api/v1/tenants/{id}/quota", Tenant(Viewer), "quota.read"),
    rule("PUT", "/api/v1/tenants/{id}/quota", Admin, "quota.set"),
    rule("GET", "/api/v1/users", Admin, "user.list"),
    // Admins create anyone; owners create into their tenant (the body says which).
    rule("POST", "/api/v1/users", LoggedIn, "user.create"),
    rule("PATCH", "/api/v1/users/{id}", Admin, "user.update"),
    rule("DELETE", "/api/v1/users/{id}", Admin, "user.delete"),
    rule("GET", "/api/v1/tokens", LoggedIn, "token.list"),
    rule("POST", "/api/v1/tokens", LoggedIn, "token.create"),
    rule("DELETE", "/api/v1/tokens/{id}", LoggedIn, "token.delete"),
    // Admins read everything; owners their tenants (filtered by the handler).
    rule("GET", "/api/v1/audit", LoggedIn, "audit.list"),
    rule("GET", "/api/v1/audit/export", LoggedIn, "audit.export"),
];

/// The rule of a route.
pub fn rule_for(method: &str, template: &str) -> Option<&'static Rule> {
    POLICY.iter().find(|r| r.method == method && r.template == template)
}

/// What a route needs.
pub fn need(method: &str, template: &str) -> Option<Need> {
    rule_for(method, template).map(|r| r.need)
}

/// The longest path parameter that is not an id (snapshot names, token ids, console kinds
/// are all far shorter).
const PARAM_MAX_LEN: usize = 100;

/// The parameters of a request's path, each with the literal segment before it
/// (`("machines", "<id>")`), every one checked: ids are UUIDs in their one canonical
/// spelling (lowercase, hyphenated), everything else is 1–100 of letters, digits, `.`, `_`
/// and `-`. Nothing in them is percent-encoded, so the raw path and the decoded one that
/// handlers see name the same things.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    /// Reads the parameters of `template` out of the raw `path`.
    pub fn parse(template: &'static str, path: &str) -> Result<Self, ApiError> {
        let t: Vec<&'static str> = template.split('/').collect();
        let p: Vec<&str> = path.split('/').collect();
        if t.len() != p.len() {
            return Err(ApiError::InvalidRequest("the path does not match its route".into()));
        }
        let mut found = Vec::new();
        for (i, (ts, value)) in t.iter().zip(&p).enumerate() {
            if !ts.starts_with('{') {
                continue;
            }
            let after = t[..i].last().copied().unwrap_or("");
            let is_id = matches!(*ts, "{id}" | "{user_id}") && after != "tokens";
            check_param(value, is_id)?;
            found.push((after, value.to_string()));
        }
        Ok(Self(found))
    }

    /// The value after `collection` (`machines` → the machine id as written).
    pub fn get(&self, collection: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| *k == collection).map(|(_, v)| v.as_str())
    }

    pub fn machine(&self) -> Option<MachineId> {
        self.get("machines").and_then(|v| v.parse().ok())
    }

    pub fn tenant(&self) -> Option<TenantId> {
        self.get("tenants").and_then(|v| v.parse().ok())
    }

    /// What the request acts on, for the audit log: the last parameter, named by its
    /// collection (`snapshot:s1`, `member:<id>`).
    pub fn target(&self) -> Option<String> {
        self.0.last().map(|(k, v)| format!("{}:{v}", k.strip_suffix('s').unwrap_or(k).replace('-', "_")))
    }
}

/// The first characters of something a caller sent, for an error message.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn check_param(value: &str, is_id: bool) -> Result<(), ApiError> {
    if is_id {
        let canonical = uuid::Uuid::parse_str(value).is_ok_and(|u| u.hyphenated().to_string() == value);
        if !canonical {
            return Err(ApiError::InvalidRequest(format!(
                "{:?} is not an id: ids are written as lowercase hyphenated UUIDs",
                clip(value)
            )));
        }
        return Ok(());
    }
    let ok = !value.is_empty()
        && value.len() <= PARAM_MAX_LEN
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        return Err(ApiError::InvalidRequest(format!(
            "{:?} is not a name: 1–{PARAM_MAX_LEN} of letters, digits, '.', '_', '-', not percent-encoded",
            clip(value)
        )));
    }
    Ok(())
}

/// What the gate established about an admitted request, for the handler and the audit.
#[derive(Clone, Debug)]
pub struct Authorized {
    pub rule: &'static Rule,
    pub params: PathParams,
    /// The caller; `None` on public routes.
    pub actor: Option<Actor>,
    /// The route's machine, loaded once (`/machines/{id}/…`).
    pub machine: Option<Machine>,
    /// The tenant the request acts in: the machine's, or the route's `/tenants/{id}`.
    pub tenant: Option<TenantId>,
}

/// The route's machine as the gate loaded it: the handler's view of `/machines/{id}/…`.
#[derive(Clone, Debug)]
pub struct TargetMachine(pub Machine);

impl<S: Send + Sync> FromRequestParts<S> for TargetMachine {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Authorized>().and_then(|a| a.machine.clone()).map(TargetMachine).ok_or_else(
            || ApiError::internal(anyhow::anyhow!("the route's machine was not loaded by its rule")),
        )
    }
}

/// The gate: checks the route's rule before its handler runs, hands what it loaded on, and
/// has the call recorded in the audit log.
pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let template = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    // The catch-all for unknown API paths answers 404 itself.
    let Some(template) = template.filter(|t| !t.contains("{*")) else { return next.run(req).await };
    // HEAD is served by the GET handler: it takes the GET rule.
    let method =
        if req.method() == axum::http::Method::HEAD { "GET" } else { req.method().as_str() }.to_string();
    let Some(rule) = rule_for(&method, &template) else {
        if POLICY.iter().any(|r| r.template == template) {
            // A method the route does not have: the caller's mistake, not ours.
            return ApiError::MethodNotAllowed.into_response();
        }
        tracing::error!(%template, "a route without a policy rule: refused");
        return ApiError::Forbidden("this route has no permission rule".into()).into_response();
    };
    let (mut parts, body) = req.into_parts();
    let params = match PathParams::parse(rule.template, parts.uri.path()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let mut admitted = Authorized { rule, params, actor: None, machine: None, tenant: None };
    if rule.need != Public {
        let actor = match Actor::from_request_parts(&mut parts, &state).await {
            Ok(a) => a,
            Err(e) => {
                // A stranger's request is counted, never stored: whatever they send costs the
                // database nothing.
                state.refused.note(&e);
                return e.into_response();
            }
        };
        let verdict = admit(&state, &actor, &mut admitted).await;
        // A refusal lands in a tenant's audit log only if the caller is in that tenant:
        // probing other tenants' ids must not flood their owners' view.
        if verdict.is_err() && actor.role_in(admitted.tenant).is_none() {
            admitted.tenant = None;
        }
        admitted.actor = Some(actor);
        if let Err(e) = verdict {
            let resp = e.into_response();
            let (source, outcome) = (source_of(&state, &parts), crate::audit::Outcome::of(&resp));
            crate::audit::record_call(&state, source, &admitted, outcome).await;
            return resp;
        }
        parts.extensions.insert(admitted.actor.clone().expect("set above"));
    }
    let source = source_of(&state, &parts);
    parts.extensions.insert(admitted.clone());
    let resp = next.run(Request::from_parts(parts, body)).await;
    crate::audit::record_call(&state, source, &admitted, crate::audit::Outcome::of(&resp)).await;
    resp
}

fn source_of(state: &AppState, parts: &Parts) -> Option<String> {
    crate::client_addr::client_ip(parts, &state.proxies).map(|ip| ip.to_string())
}

/// Checks the rule for `actor`, loading the route's machine or tenant into `admitted` first
/// (for every rule: a missing one is 404 for admins too, never a database error later).
async fn admit(state: &AppState, actor: &Actor, admitted: &mut Authorized) -> Result<(), ApiError> {
    let not_found = |what: String| ApiError::NotFound(what);
    if let Some(id) = admitted.params.machine() {
        let m =
            machines::machine_get(&state.db, id).await?.ok_or_else(|| not_found(format!("machine {id}")))?;
        admitted.tenant = m.tenant_id;
        admitted.machine = Some(m);
    } else if let Some(id) = admitted.params.tenant() {
        // Only what the caller may see is told apart from what does not exist.
        if actor.role_in(Some(id)).is_none() || !users::tenant_exists(&state.db, id).await? {
            return Err(not_found(format!("tenant {id}")));
        }
        admitted.tenant = Some(id);
    }
    decide(actor, admitted)
}

/// The rule's verdict on `actor`, once the route's machine or tenant is loaded.
fn decide(actor: &Actor, admitted: &Authorized) -> Result<(), ApiError> {
    let needed = match admitted.rule.need {
        Public | LoggedIn => return Ok(()),
        Admin if actor.is_admin => return Ok(()),
        Admin => return Err(ApiError::Forbidden("this is for administrators".into())),
        Tenant(role) => role,
    };
    if admitted.machine.is_none() && admitted.tenant.is_none() && admitted.params.tenant().is_none() {
        return Err(ApiError::internal(anyhow::anyhow!(
            "rule {} {} needs a tenant role but names no machine or tenant",
            admitted.rule.method,
            admitted.rule.template
        )));
    }
    // What the caller may not see answers exactly as what does not exist.
    let what = match &admitted.machine {
        Some(m) => format!("machine {}", m.id),
        None => format!("tenant {}", admitted.tenant.map(|t| t.to_string()).unwrap_or_default()),
    };
    match actor.role_in(admitted.tenant) {
        None => Err(ApiError::NotFound(what)),
        Some(r) if r < needed => Err(ApiError::Forbidden(format!(
            "your role in this tenant ({}) may not do this; it needs {}",
            r.as_str(),
            needed.as_str()
        ))),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::session::{Me, Role};
    use corral_api::{TenantId, UserId};

    fn actor(is_admin: bool, roles: &[(TenantId, Role)]) -> Actor {
        let id = UserId::new_random();
        let me = Me { id, username: "u".into(), is_admin, memberships: Vec::new() };
        let roles = roles.iter().copied().collect();
        Actor { id, username: "u".into(), is_admin, roles, me, token: None, session: None }
    }

    fn in_tenant(method: &str, template: &str, tenant: Option<TenantId>) -> Authorized {
        let rule = rule_for(method, template).expect("a rule");
        Authorized { rule, params: PathParams::default(), actor: None, machine: None, tenant }
    }

    /// The gate's own verdict, apart from the handlers (which check some things again, so a
    /// gate that let too much through would not show in the route tests).
    #[test]
    fn the_gate_decides_by_the_rule_alone() {
        let (t, other) = (TenantId::new_random(), TenantId::new_random());
        let admin = actor(true, &[]);
        let owner = actor(false, &[(t, Role::Owner)]);
        let operator = actor(false, &[(t, Role::Operator)]);
        let viewer = actor(false, &[(t, Role::Viewer)]);
        let admin_only = in_tenant("GET", "/api/v1/users", None);
        let quota_set = in_tenant("PUT", "/api/v1/tenants/{id}/quota", Some(t));
        let start = in_tenant("POST", "/api/v1/machines/{id}/start", Some(t));
        let members = in_tenant("PUT", "/api/v1/tenants/{id}/members/{user_id}", Some(t));
        let elsewhere = in_tenant("POST", "/api/v1/machines/{id}/start", Some(other));
        let verdict = |a: &Actor, r: &Authorized| match decide(a, r) {
            Ok(()) => "ok",
            Err(ApiError::Forbidden(_)) => "forbidden",
            Err(ApiError::NotFound(_)) => "not found",
            Err(_) => "other",
        };
        let cases = [
            (&admin, &admin_only, "ok"),
            (&owner, &admin_only, "forbidden"),
            (&owner, &quota_set, "forbidden"),
            (&admin, &start, "ok"),
            (&owner, &start, "ok"),
            (&operator, &start, "ok"),
            (&viewer, &start, "forbidden"),
            (&operator, &members, "forbidden"),
            (&owner, &members, "ok"),
            (&owner, &elsewhere, "not found"),
        ];
        for (i, (who, what, want)) in cases.into_iter().enumerate() {
            assert_eq!(verdict(who, what), want, "case {i}: {} {}", what.rule.method, what.rule.template);
        }
    }

    #[test]
    fn every_rule_is_unique_and_named_resource_dot_verb() {
        for (i, r) in POLICY.iter().enumerate() {
            assert!(
                !POLICY[..i].iter().any(|o| o.method == r.method && o.template == r.template),
                "{} {} twice",
                r.method,
                r.template
            );
            let (resource, verb) = r.action.split_once('.').expect("resource.verb");
            assert!(!resource.is_empty() && !verb.is_empty() && !verb.contains('.'), "{}", r.action);
        }
    }

    #[test]
    fn path_parameters_are_read_once_and_fail_closed() {
        let id = "6c2d5f8e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";
        let t = "/api/v1/machines/{id}/snapshots/{name}";
        let p = PathParams::parse(t, &format!("/api/v1/machines/{id}/snapshots/s1")).unwrap();
        assert_eq!(p.machine().unwrap().to_string(), id);
        assert_eq!(p.target().as_deref(), Some("snapshot:s1"));
        for bad in [
            format!("/api/v1/machines/%36{}/snapshots/s1", &id[1..]),
            format!("/api/v1/machines/{}/snapshots/s1", id.to_uppercase()),
            format!("/api/v1/machines/{}/snapshots/s1", id.replace('-', "")),
            format!("/api/v1/machines/{{{id}}}/snapshots/s1"),
            format!("/api/v1/machines/urn:uuid:{id}/snapshots/s1"),
            format!("/api/v1/machines/{id}/snapshots/s%31"),
            format!("/api/v1/machines/{id}/snapshots/{}", "a".repeat(101)),
        ] {
            let e = PathParams::parse(t, &bad).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
            assert!(e.to_string().len() < 200, "the message quotes only the start: {e}");
        }
        let tok = PathParams::parse("/api/v1/tokens/{id}", "/api/v1/tokens/0a1b2c3d4e5f").unwrap();
        assert_eq!(tok.target().as_deref(), Some("token:0a1b2c3d4e5f"));
        let member = format!("/api/v1/tenants/{id}/members/{id}");
        let m = PathParams::parse("/api/v1/tenants/{id}/members/{user_id}", &member).unwrap();
        assert_eq!(
            (m.tenant().unwrap().to_string(), m.target().unwrap()),
            (id.into(), format!("member:{id}"))
        );
    }

    /// A handler mounted without a rule is refused whatever the caller (a route added in a
    /// hurry must not be open); a known route asked with a method it lacks is the caller's
    /// mistake. Neither reaches its handler.
    #[tokio::test]
    async fn a_route_without_a_rule_is_closed_and_a_wrong_method_is_405() {
        use axum::body::Body;
        use tower::ServiceExt;

        let db = crate::db::connect("sqlite::memory:").await.unwrap();
        let state = AppState::new(db, None, Default::default());
        let served = || async { "served" };
        let app = axum::Router::new()
            .route("/api/v1/rogue", axum::routing::get(served))
            .route("/api/v1/machines", axum::routing::put(served))
            .layer(axum::middleware::from_fn_with_state(state.clone(), enforce))
            .with_state(state);
        for (method, uri, status, code) in [
            ("GET", "/api/v1/rogue", 403, "forbidden"),
            ("HEAD", "/api/v1/rogue", 403, "forbidden"),
            ("PUT", "/api/v1/machines", 405, "invalid_request"),
        ] {
            let req = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "{method} {uri}");
            let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
            if method == "HEAD" {
                continue;
            }
            let body: corral_api::error::ErrorBody = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(serde_json::to_value(body.code).unwrap(), code, "{method} {uri}");
            if status == 403 {
                assert_eq!(body.message, "this route has no permission rule");
            }
        }
    }
}
