//! The authorization table, written by hand and apart from `corral::policy`: every route ×
//! every kind of caller → the exact status the server must answer. Requests are valid, so
//! admitted callers reach their handlers and the status says what the handler did; each
//! admitted caller acts on a fresh machine (or user, or snapshot) so no row depends on
//! another. The test fails on a route of the OpenAPI document missing from the table, and
//! on any difference from the server.

mod common;

use common::{Resp, TestApp};
use corral_api::session::Role;
use hyper::StatusCode;
use serde_json::{Value, json};

/// The callers, in the order of each row's statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    /// No session, no token.
    Nobody,
    /// The owner of another tenant.
    Stranger,
    Viewer,
    Operator,
    Owner,
    Admin,
    /// A read-only token of the owner.
    ReadToken,
    /// A token of a user who was an operator when it was made and is a viewer now.
    DemotedToken,
}

const CALLERS: [Who; 8] = [
    Who::Nobody,
    Who::Stranger,
    Who::Viewer,
    Who::Operator,
    Who::Owner,
    Who::Admin,
    Who::ReadToken,
    Who::DemotedToken,
];

/// What a row needs made before each call.
#[derive(Clone, Copy, Debug)]
enum Needs {
    Nothing,
    /// A machine of the tenant, stopped.
    Stopped,
    /// A machine of the tenant, running.
    Running,
    /// A machine of the tenant, paused.
    Paused,
    /// A stopped machine with a disk-only snapshot `s1`.
    Snapshot,
    /// A user with no tenant.
    User,
    /// A user who is a viewer of the tenant.
    Member,
}

/// One row: method, path template, what it needs, the body, and the status per caller.
struct Row {
    method: &'static str,
    path: &'static str,
    needs: Needs,
    body: fn(usize) -> Option<Value>,
    want: [u16; 8],
}

const fn row(
    method: &'static str,
    path: &'static str,
    needs: Needs,
    body: fn(usize) -> Option<Value>,
    want: [u16; 8],
) -> Row {
    Row { method, path, needs, body, want }
}

fn none(_: usize) -> Option<Value> {
    None
}

/// An ed25519 public key of its own for each `i`: the key type named inside, 32 bytes.
fn ed25519(i: usize) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&[i as u8; 32]);
    format!("ssh-ed25519 {} caller{i}", base64::engine::general_purpose::STANDARD.encode(blob))
}

//                         Nobody Strngr Viewer Oper  Owner Admin RdTok Demoted
const READ_ALL: [u16; 8] = [401, 200, 200, 200, 200, 200, 200, 200];
const VIEW: [u16; 8] = [401, 404, 200, 200, 200, 200, 200, 200];
const ADMIN_READ: [u16; 8] = [401, 403, 403, 403, 403, 200, 403, 403];

fn rows() -> Vec<Row> {
    use Needs::*;
    // Operators of the tenant act; viewers, tokens that may only read and strangers do not.
    let operate = |ok: u16| [401, 404, 403, ok, ok, ok, 403, 403];
    let own = |ok: u16| [401, 404, 403, 403, ok, ok, 403, 403];
    vec![
        row("GET", "/api/v1/openapi.json", Nothing, none, [200; 8]),
        row(
            "POST",
            "/api/v1/session",
            Nothing,
            |i| Some(json!({"username": format!("nobody{i}"), "password": "wrong"})),
            [401; 8],
        ),
        row("GET", "/api/v1/session", Nothing, none, READ_ALL),
        row(
            "POST",
            "/api/v1/session/password",
            Nothing,
            |_| Some(json!({"current": "not it", "new": "a-new-password-1"})),
            [401, 422, 422, 422, 422, 422, 403, 422],
        ),
        // A websocket route asked without the upgrade: the handler's 400 once admitted.
        row("GET", "/api/v1/events", Nothing, none, [401, 400, 400, 400, 400, 400, 400, 400]),
        row("GET", "/api/v1/machines", Nothing, none, READ_ALL),
        row(
            "POST",
            "/api/v1/machines",
            Nothing,
            |i| {
                Some(
                    json!({"name": format!("new-{i}"), "vcpus": 1, "memory_mib": 64, "disk_gib": 1, "tenant_id": "TENANT"}),
                )
            },
            [401, 404, 403, 403, 201, 201, 403, 403],
        ),
        row("GET", "/api/v1/machines/{id}", Stopped, none, VIEW),
        row("GET", "/api/v1/machines/{id}/metrics?metric=cpu_seconds", Stopped, none, VIEW),
        row("GET", "/api/v1/machines/{id}/guest", Stopped, none, VIEW),
        // A read-only token reads what its user may: the user data of an owner's machine.
        row(
            "GET",
            "/api/v1/machines/{id}/user-data",
            Stopped,
            none,
            [401, 404, 403, 200, 200, 200, 200, 403],
        ),
        row(
            "PUT",
            "/api/v1/machines/{id}/user-data",
            Stopped,
            |_| Some(json!({"user_data": "#!/bin/sh\necho hi\n"})),
            own(200),
        ),
        row(
            "PATCH",
            "/api/v1/machines/{id}",
            Stopped,
            |i| Some(json!({"name": format!("renamed-{i}")})),
            own(200),
        ),
        row("DELETE", "/api/v1/machines/{id}", Stopped, none, own(202)),
        row("POST", "/api/v1/machines/{id}/start", Stopped, none, operate(202)),
        row("POST", "/api/v1/machines/{id}/stop", Running, none, operate(202)),
        row("POST", "/api/v1/machines/{id}/force-stop", Running, none, operate(202)),
        row("POST", "/api/v1/machines/{id}/reboot", Running, none, operate(202)),
        row("POST", "/api/v1/machines/{id}/reset", Running, none, operate(202)),
        row("POST", "/api/v1/machines/{id}/pause", Running, none, operate(202)),
        row("POST", "/api/v1/machines/{id}/resume", Paused, none, operate(202)),
        row(
            "POST",
            "/api/v1/machines/{id}/console",
            Running,
            |_| Some(json!({"kind": "serial"})),
            operate(201),
        ),
        // The owner's read-only token may open what it may read: the upgrade is a GET.
        row(
            "GET",
            "/api/v1/machines/{id}/console/serial?ticket=t",
            Running,
            none,
            [401, 404, 403, 400, 400, 400, 400, 403],
        ),
        row("GET", "/api/v1/machines/{id}/snapshots", Stopped, none, VIEW),
        row(
            "POST",
            "/api/v1/machines/{id}/snapshots",
            Stopped,
            |_| Some(json!({"name": "snap"})),
            operate(201),
        ),
        row("DELETE", "/api/v1/machines/{id}/snapshots/s1", Snapshot, none, operate(204)),
        row("POST", "/api/v1/machines/{id}/snapshots/s1/rollback", Snapshot, none, operate(200)),
        row(
            "POST",
            "/api/v1/machines/{id}/snapshots/s1/clone",
            Snapshot,
            |i| Some(json!({"name": format!("clone-{i}")})),
            own(201),
        ),
        row("GET", "/api/v1/images", Nothing, none, READ_ALL),
        // Admins only; the path is outside the node's import directories: the node's 422.
        row(
            "POST",
            "/api/v1/images",
            Nothing,
            |_| Some(json!({"node_id": "NODE", "name": "x.raw", "source": "/nonexistent/x.raw"})),
            [401, 403, 403, 403, 403, 422, 403, 403],
        ),
        row("GET", "/api/v1/tasks", Nothing, none, READ_ALL),
        row(
            "GET",
            "/api/v1/tasks/0a1b2c3d-0000-4000-8000-000000000000",
            Nothing,
            none,
            [401, 404, 404, 404, 404, 404, 404, 404],
        ),
        row("GET", "/api/v1/nodes", Nothing, none, READ_ALL),
        row("GET", "/api/v1/nodes/{node}", Nothing, none, READ_ALL),
        row("GET", "/api/v1/nodes/{node}/metrics?metric=load1", Nothing, none, ADMIN_READ),
        row("GET", "/api/v1/tenants/{tenant}/metrics?metric=cpu_seconds", Nothing, none, VIEW),
        row("GET", "/api/v1/metrics/fleet?metric=memory_bytes", Nothing, none, ADMIN_READ),
        row("GET", "/metrics", Nothing, none, READ_ALL),
        // Admins only: a node's allocation ratios.
        row("PATCH", "/api/v1/nodes/{node}", Nothing, |_| Some(json!({"cpu_ratio": 4.0})), ADMIN_READ),
        // Admins only; the test's backend has no SSH key to enrol a node with.
        row(
            "POST",
            "/api/v1/nodes",
            Nothing,
            |_| {
                Some(
                    json!({"name": "n9", "host": "127.0.0.1", "port": 1, "user": "corral", "socket": "/run/corral/bridge.sock",
                             "host_key": format!("SHA256:{}", "A".repeat(43))}),
                )
            },
            [401, 403, 403, 403, 403, 409, 403, 403],
        ),
        // Admins only; nothing listens on port 1 of loopback: the node cannot be reached.
        row(
            "POST",
            "/api/v1/nodes/host-key",
            Nothing,
            |_| Some(json!({"host": "127.0.0.1", "port": 1})),
            [401, 403, 403, 403, 403, 503, 403, 403],
        ),
        // The test's node is local (no SSH): there is no key to pin.
        row(
            "PUT",
            "/api/v1/nodes/{node}/host-key",
            Nothing,
            |_| Some(json!({"host_key": format!("SHA256:{}", "A".repeat(43))})),
            [401, 403, 403, 403, 403, 409, 403, 403],
        ),
        // The test's backend has no SSH key loaded.
        row("GET", "/api/v1/ssh-key", Nothing, none, [401, 403, 403, 403, 403, 409, 403, 403]),
        row("GET", "/api/v1/tenants", Nothing, none, READ_ALL),
        row(
            "POST",
            "/api/v1/tenants",
            Nothing,
            |i| Some(json!({"name": format!("tenant-{i}")})),
            [401, 403, 403, 403, 403, 201, 403, 403],
        ),
        // Admins only; the tenant holds the world's machines, so even an admin's delete is
        // refused (the empty case is in people.rs).
        row(
            "PATCH",
            "/api/v1/tenants/{tenant}",
            Nothing,
            |_| Some(json!({"name": "acme"})),
            [401, 404, 403, 403, 403, 200, 403, 403],
        ),
        row("DELETE", "/api/v1/tenants/{tenant}", Stopped, none, [401, 404, 403, 403, 403, 409, 403, 403]),
        row("GET", "/api/v1/tenants/{tenant}/members", Nothing, none, VIEW),
        row(
            "PUT",
            "/api/v1/tenants/{tenant}/members/{user}",
            User,
            |_| Some(json!({"role": "viewer"})),
            own(200),
        ),
        row("DELETE", "/api/v1/tenants/{tenant}/members/{user}", Member, none, own(204)),
        row("GET", "/api/v1/tenants/{tenant}/quota", Nothing, none, VIEW),
        // Admins only: the tenant's own owner may not raise its limits.
        row(
            "PUT",
            "/api/v1/tenants/{tenant}/quota",
            Nothing,
            |_| Some(json!({"vcpus": 64})),
            [401, 404, 403, 403, 403, 200, 403, 403],
        ),
        row("GET", "/api/v1/users", Nothing, none, ADMIN_READ),
        // Owners make members of their tenant; a stranger is not in it.
        row(
            "POST",
            "/api/v1/users",
            Nothing,
            |i| Some(json!({"username": format!("made{i}"), "tenant_id": "TENANT", "role": "viewer"})),
            [401, 404, 403, 403, 201, 201, 403, 403],
        ),
        row(
            "PATCH",
            "/api/v1/users/{user}",
            User,
            |_| Some(json!({"disabled": false})),
            [401, 403, 403, 403, 403, 200, 403, 403],
        ),
        row("DELETE", "/api/v1/users/{user}", User, none, [401, 403, 403, 403, 403, 204, 403, 403]),
        row("GET", "/api/v1/ssh-keys", Nothing, none, READ_ALL),
        // Each caller a key of its own (a user keeps a key once).
        row(
            "POST",
            "/api/v1/ssh-keys",
            Nothing,
            |i| Some(json!({"name": "laptop", "public_key": ed25519(i)})),
            [401, 201, 201, 201, 201, 201, 403, 201],
        ),
        row(
            "DELETE",
            "/api/v1/ssh-keys/0a1b2c3d-0000-4000-8000-00000000000f",
            Nothing,
            none,
            [401, 404, 404, 404, 404, 404, 403, 404],
        ),
        row("GET", "/api/v1/tokens", Nothing, none, READ_ALL),
        // Tokens do not make tokens.
        row(
            "POST",
            "/api/v1/tokens",
            Nothing,
            |_| Some(json!({"name": "script"})),
            [401, 201, 201, 201, 201, 201, 403, 403],
        ),
        row("DELETE", "/api/v1/tokens/0a1b2c3d4e5f", Nothing, none, [401, 404, 404, 404, 404, 404, 403, 404]),
        row("GET", "/api/v1/audit", Nothing, none, READ_ALL),
        row("GET", "/api/v1/audit/export", Nothing, none, READ_ALL),
        // Last: it ends the callers' sessions.
        row("DELETE", "/api/v1/session", Nothing, none, [204; 8]),
    ]
}

/// The callers' credentials and what the rows act on.
struct World {
    app: TestApp,
    creds: Vec<(Who, Vec<(String, String)>)>,
    owner: String,
    admin: String,
    tenant: String,
}

impl World {
    async fn new() -> World {
        let app = TestApp::start_roomy().await;
        let admin = app.login_admin().await;
        let (owner, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
        let (stranger, _) = app.user_in_new_tenant("sam", Role::Owner).await;
        let (viewer, _) = app.user_in(tenant, "vic", Role::Viewer).await;
        let (operator, _) = app.user_in(tenant, "otto", Role::Operator).await;
        let (demoted, demoted_id) = app.user_in(tenant, "dora", Role::Operator).await;
        let token = |cookie: String, read_only: bool| {
            let app = &app;
            async move {
                let body = json!({"name": "t", "read_only": read_only}).to_string();
                let r = app.call("POST", "/api/v1/tokens", Some(&cookie), Some(&body)).await;
                assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
                format!("Bearer {}", r.body["token"].as_str().unwrap())
            }
        };
        let read_token = token(owner.clone(), true).await;
        let demoted_token = token(demoted, false).await;
        corral::store::users::membership_set(&app.state.db, demoted_id, tenant, Role::Viewer).await.unwrap();
        let cookie = |c: &str| vec![("cookie".to_string(), c.to_string())];
        let bearer = |t: &str| vec![("authorization".to_string(), t.to_string())];
        let creds = vec![
            (Who::Nobody, vec![]),
            (Who::Stranger, cookie(&stranger)),
            (Who::Viewer, cookie(&viewer)),
            (Who::Operator, cookie(&operator)),
            (Who::Owner, cookie(&owner)),
            (Who::Admin, cookie(&admin)),
            (Who::ReadToken, bearer(&read_token)),
            (Who::DemotedToken, bearer(&demoted_token)),
        ];
        World { app, creds, owner, admin, tenant: tenant.to_string() }
    }

    /// Calls as the owner (to make what a row needs); the answer must be a success.
    async fn setup(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let body = body.map(|b| b.to_string());
        let r = self.app.call(method, path, Some(&self.owner), body.as_deref()).await;
        assert!(r.status.is_success(), "setting up {method} {path}: {} {:?}", r.status, r.body);
        r
    }

    async fn machine(&self, n: usize, state: &str) -> String {
        // A hostname: the machine's guest has data, for the routes that read them.
        let body = json!({"name": format!("m{n}"), "vcpus": 1, "memory_mib": 64, "disk_gib": 1,
            "tenant_id": self.tenant, "hostname": format!("m{n}")});
        let id =
            self.setup("POST", "/api/v1/machines", Some(body)).await.body["id"].as_str().unwrap().to_string();
        self.app.wait_state(&self.owner, &id, "stopped").await;
        if state != "stopped" {
            self.setup("POST", &format!("/api/v1/machines/{id}/start"), None).await;
            self.app.wait_state(&self.owner, &id, "running").await;
        }
        if state == "paused" {
            self.setup("POST", &format!("/api/v1/machines/{id}/pause"), None).await;
            self.app.wait_state(&self.owner, &id, "paused").await;
        }
        id
    }

    async fn user(&self, n: usize, member: bool) -> String {
        let mut body = json!({"username": format!("u{n}")});
        if member {
            body = json!({"username": format!("u{n}"), "tenant_id": self.tenant, "role": "viewer"});
        }
        let r = self.app.call("POST", "/api/v1/users", Some(&self.admin), Some(&body.to_string())).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["user"]["id"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn every_route_answers_each_caller_exactly_as_the_table_says() {
    let w = World::new().await;
    let rows = rows();

    // Every route of the document is in the table, and nothing else.
    let doc = corral::routes::openapi_document();
    // The document itself is served beside the routes it describes.
    let mut documented: Vec<String> = vec!["GET /api/v1/openapi.json".into()];
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let template = |p: &str| {
        let p = p
            .split('?')
            .next()
            .unwrap()
            .replace("{node}", "{id}")
            .replace("{tenant}", "{id}")
            .replace("{user}", "{user_id}");
        let p = p.replace("/console/serial", "/console/{kind}").replace("/snapshots/s1", "/snapshots/{name}");
        let p = p
            .replace("/tasks/0a1b2c3d-0000-4000-8000-000000000000", "/tasks/{id}")
            .replace("/tokens/0a1b2c3d4e5f", "/tokens/{id}")
            .replace("/ssh-keys/0a1b2c3d-0000-4000-8000-00000000000f", "/ssh-keys/{id}");
        if p.starts_with("/api/v1/users/") { "/api/v1/users/{id}".to_string() } else { p }
    };
    let mut tabled: Vec<String> = rows.iter().map(|r| format!("{} {}", r.method, template(r.path))).collect();
    documented.sort();
    tabled.sort();
    assert_eq!(tabled, documented, "the table and the API differ");

    let node = w.app.node_id.to_string();
    let mut n = 0;
    let mut wrong = Vec::new();
    for r in &rows {
        for (i, who) in CALLERS.iter().enumerate() {
            n += 1;
            let (mut machine, mut user) = (String::new(), String::new());
            match r.needs {
                Needs::Nothing => {}
                Needs::Stopped | Needs::Snapshot => machine = w.machine(n, "stopped").await,
                Needs::Running => machine = w.machine(n, "running").await,
                Needs::Paused => machine = w.machine(n, "paused").await,
                Needs::User => user = w.user(n, false).await,
                Needs::Member => user = w.user(n, true).await,
            }
            if matches!(r.needs, Needs::Snapshot) {
                w.setup(
                    "POST",
                    &format!("/api/v1/machines/{machine}/snapshots"),
                    Some(json!({"name": "s1"})),
                )
                .await;
            }
            let path = r
                .path
                .replace("{id}", &machine)
                .replace("{node}", &node)
                .replace("{tenant}", &w.tenant)
                .replace("{user}", &user);
            let body = (r.body)(n).map(|b| b.to_string().replace("TENANT", &w.tenant).replace("NODE", &node));
            let creds = &w.creds.iter().find(|(c, _)| c == who).unwrap().1;
            let headers: Vec<(&str, &str)> = creds.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let got = w.app.call_with(r.method, &path, None, body.as_deref(), &headers).await;
            if got.status.as_u16() != r.want[i] {
                wrong.push(format!(
                    "{} {} as {who:?}: {} (want {}) {}",
                    r.method,
                    r.path,
                    got.status.as_u16(),
                    r.want[i],
                    got.body
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {n} calls differ from the table:\n{}", wrong.len(), wrong.join("\n"));
}
