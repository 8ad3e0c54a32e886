//! The authorization table: every route of the OpenAPI document × {no session, a member of
//! another tenant, viewer, operator, owner, admin}. Each route must have a rule in
//! `corral::policy::POLICY` (the test fails on one that has none), every caller the rule
//! excludes is refused with the right status (401 no session, 404 a tenant they are not in,
//! 403 too low a role or not an admin), and every caller it admits gets past the gate.

mod common;

use common::TestApp;
use corral::policy::{self, Need};
use corral_api::session::Role;
use hyper::StatusCode;

struct Caller {
    name: &'static str,
    cookie: Option<String>,
    /// The role in the machine's tenant; `None` for no session and for strangers.
    role: Option<Role>,
    admin: bool,
    stranger: bool,
}

/// What the rule says for this caller: `None` admitted, else the refusal's status. A route
/// that names a machine or tenant the caller cannot see is 404 whatever its rule.
fn expected(need: Need, c: &Caller, names_tenant: bool) -> Option<StatusCode> {
    if c.cookie.is_none() {
        return (need != Need::Public).then_some(StatusCode::UNAUTHORIZED);
    }
    if names_tenant && c.stranger {
        return Some(StatusCode::NOT_FOUND);
    }
    match need {
        Need::Public | Need::LoggedIn => None,
        Need::Admin => (!c.admin).then_some(StatusCode::FORBIDDEN),
        Need::Tenant(_) if c.admin => None,
        Need::Tenant(_) if c.stranger => Some(StatusCode::NOT_FOUND),
        Need::Tenant(needed) => (c.role.unwrap_or(Role::Viewer) < needed).then_some(StatusCode::FORBIDDEN),
    }
}

#[tokio::test]
async fn every_route_refuses_exactly_whom_its_rule_excludes() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (owner, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (stranger, _) = app.user_in_new_tenant("sam", Role::Owner).await;
    let mut in_tenant = Vec::new();
    for (name, role) in [("vic", Role::Viewer), ("otto", Role::Operator)] {
        use corral::store::users;
        let hash = corral::auth::password_hash("pw-for-tests").unwrap();
        let user = users::user_create(&app.state.db, name, &hash, false).await.unwrap();
        users::membership_set(&app.state.db, user, tenant, role).await.unwrap();
        in_tenant.push((app.login(name, "pw-for-tests").await, user));
    }
    let body = serde_json::json!({"name": "vm", "vcpus": 1, "memory_mib": 128, "disk_gib": 1}).to_string();
    let r = app.call("POST", "/api/v1/machines", Some(&owner), Some(&body)).await;
    let machine = r.body["id"].as_str().unwrap().to_string();
    app.wait_state(&owner, &machine, "stopped").await;
    app.call("POST", &format!("/api/v1/machines/{machine}/start"), Some(&owner), None).await;
    app.wait_state(&owner, &machine, "running").await;
    let stranger_id = app.call("GET", "/api/v1/session", Some(&stranger), None).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();

    let callers = [
        Caller { name: "no session", cookie: None, role: None, admin: false, stranger: false },
        Caller { name: "stranger", cookie: Some(stranger.clone()), role: None, admin: false, stranger: true },
        Caller {
            name: "viewer",
            cookie: Some(in_tenant[0].0.clone()),
            role: Some(Role::Viewer),
            admin: false,
            stranger: false,
        },
        Caller {
            name: "operator",
            cookie: Some(in_tenant[1].0.clone()),
            role: Some(Role::Operator),
            admin: false,
            stranger: false,
        },
        Caller {
            name: "owner",
            cookie: Some(owner.clone()),
            role: Some(Role::Owner),
            admin: false,
            stranger: false,
        },
        Caller { name: "admin", cookie: Some(admin.clone()), role: None, admin: true, stranger: false },
    ];

    let doc: serde_json::Value = serde_json::from_str(&corral::routes::openapi_json()).unwrap();
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    // Deleting the machine last, so every other route still has it.
    routes.sort_by_key(|(m, p)| (m == "DELETE" && p == "/api/v1/machines/{id}", p.clone(), m.clone()));
    let missing: Vec<String> = routes
        .iter()
        .filter(|(m, p)| policy::need(m, p).is_none())
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(missing.is_empty(), "routes without a rule in policy::POLICY: {missing:?}");

    let concrete = |path: &str| {
        let mut p = path.replace("/machines/{id}", &format!("/machines/{machine}"));
        p = p.replace("/tenants/{id}", &format!("/tenants/{tenant}"));
        p = p.replace("{user_id}", &stranger_id).replace("/users/{id}", &format!("/users/{stranger_id}"));
        p = p.replace("/nodes/{id}", &format!("/nodes/{}", app.node_id));
        p = p.replace("/tasks/{id}", &format!("/tasks/{}", uuid::Uuid::new_v4()));
        p = p.replace("/tokens/{id}", "/tokens/nope").replace("{name}", "s1").replace("{kind}", "vnc");
        // A bad query or body stops an admitted request in its handler, before it acts.
        if p.ends_with(&format!("/machines/{machine}")) {
            p.push_str("?force=maybe");
        }
        p
    };
    let mut checked = 0;
    for (method, path) in &routes {
        let need = policy::need(method, path).unwrap();
        if need == Need::Public {
            continue;
        }
        let uri = concrete(path);
        let body = matches!(method.as_str(), "POST" | "PUT" | "PATCH").then_some("not json");
        for c in &callers {
            let r = app.call(method, &uri, c.cookie.as_deref(), body).await;
            let names_tenant =
                path.starts_with("/api/v1/machines/{id}") || path.starts_with("/api/v1/tenants/{id}");
            match expected(need, c, names_tenant) {
                Some(refusal) => assert_eq!(r.status, refusal, "{method} {path} as {}: {:?}", c.name, r.body),
                None => assert!(
                    r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                    "{method} {path} as {} was refused: {:?}",
                    c.name,
                    r.body
                ),
            }
            checked += 1;
        }
    }
    assert!(checked >= 250, "{checked} checks");
}
