//! A backend under test: its router over a fresh database, linked to a real sim bridge
//! served on a unix socket in this process.
//!
//! The database is SQLite, or PostgreSQL when `CORRAL_TEST_DATABASE=postgres`: then
//! `CORRAL_TEST_POSTGRES_URL` names a server whose user may create databases, and each test
//! gets a database of its own. `scripts/test.sh` runs the backend's tests once on each.

#![allow(dead_code)] // each test binary uses its own part of this

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use corral::routes::{RouterOptions, build_router};
use corral::state::{AppState, Tuning};
use corral_api::NodeId;
use corral_api::bridge::HostFacts;
use corral_api::node::{Node, NodeStatus};
use corral_api::spec::MachineKind;
use corral_bridge::driver::sim::{SimConfig, SimDriver};
use corral_bridge::server::BridgeState;
use corral_bridge::store::MachineStore;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub admin_password: String,
    pub sim: SimDriver,
    pub node_id: NodeId,
    admin_cookie: tokio::sync::OnceCell<String>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    /// The bridge directories of nodes added with `add_node`.
    more_dirs: std::sync::Mutex<Vec<tempfile::TempDir>>,
}

/// How long a test waits for something the sim does at once (a busy CI machine included).
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

pub fn fast_tuning() -> Tuning {
    Tuning {
        bridge_timeout: Duration::from_secs(5),
        resync_interval: Duration::from_millis(500),
        // As in production: a node whose heartbeats (every second here) are late only
        // because the machine is busy must not be taken for gone in the middle of a test.
        silence_timeout: Duration::from_secs(15),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(300),
        metrics_sum_wait: Duration::from_secs(5),
    }
}

/// Serves a sim bridge on `socket` in this process.
pub async fn serve_sim_bridge(dir: &std::path::Path, socket: &std::path::Path, cpus: u32) -> SimDriver {
    serve_sim_host(dir, socket, HostFacts { hostname: "sim".into(), cpus, memory_mib: 8192, disk_gib: 100 })
        .await
}

/// Serves a sim bridge of the given size, running VMs and zones, on `socket` in this process.
pub async fn serve_sim_host(dir: &std::path::Path, socket: &std::path::Path, host: HostFacts) -> SimDriver {
    serve_sim_node(dir, socket, host, MachineKind::ALL.to_vec()).await
}

/// Serves a sim bridge of the given size and kinds on `socket` in this process.
pub async fn serve_sim_node(
    dir: &std::path::Path,
    socket: &std::path::Path,
    host: HostFacts,
    kinds: Vec<MachineKind>,
) -> SimDriver {
    let sim = SimDriver::open(
        SimConfig { delay: Duration::from_millis(30), step_mode: false, host, kinds },
        MachineStore::open(dir).unwrap(),
    )
    .unwrap();
    // Tests put their images in the temporary directory.
    let policy =
        corral_bridge::images::ImportPolicy { dirs: vec![std::env::temp_dir()], ..Default::default() };
    let images =
        corral_bridge::images::ImageStore::open(dir, Arc::new(corral_bridge::host::RealExec), "qemu-img")
            .unwrap()
            .with_policy(policy);
    let state = BridgeState {
        metrics: Default::default(),
        driver: Arc::new(sim.clone()),
        images,
        tasks: Default::default(),
        sim: Some(sim.clone()),
        heartbeat: Duration::from_secs(1),
        host_bridges: vec!["br0".into()],
    };
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    tokio::spawn(async move {
        axum::serve(listener, corral_bridge::server::build_router(state)).await.unwrap();
    });
    sim
}

/// A fresh, empty PostgreSQL database on the test server, or `None` when no server is named
/// (which `CORRAL_REQUIRE_POSTGRES=1`, set by the test command, turns into a failure).
pub async fn fresh_postgres() -> Option<String> {
    use sqlx::Connection;
    let Ok(admin_url) = std::env::var("CORRAL_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CORRAL_REQUIRE_POSTGRES").is_none(),
            "CORRAL_REQUIRE_POSTGRES is set but CORRAL_TEST_POSTGRES_URL is not"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("corral_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(&admin_url).await.expect("connecting to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
    Some(format!("{base}/{name}"))
}

/// Whether this run's tests are on PostgreSQL (`CORRAL_TEST_DATABASE=postgres`).
pub fn on_postgres() -> bool {
    match std::env::var("CORRAL_TEST_DATABASE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("CORRAL_TEST_DATABASE is sqlite or postgres, not {other:?}"),
    }
}

/// A fresh database for one test, of the kind this run is on.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    if on_postgres() {
        return fresh_postgres().await.expect("CORRAL_TEST_DATABASE=postgres needs CORRAL_TEST_POSTGRES_URL");
    }
    format!("sqlite://{}?mode=rwc", dir.join("corral.db").display())
}

impl TestApp {
    /// On a fresh database.
    pub async fn start() -> TestApp {
        Self::start_on(None).await
    }

    /// With a node roomy enough for hundreds of small machines.
    pub async fn start_roomy() -> TestApp {
        let host = HostFacts { hostname: "sim".into(), cpus: 4096, memory_mib: 1 << 24, disk_gib: 1 << 20 };
        Self::start_with(None, host, MachineKind::ALL.to_vec()).await
    }

    /// With a node of this size.
    pub async fn start_sized(host: HostFacts) -> TestApp {
        Self::start_with(None, host, MachineKind::ALL.to_vec()).await
    }

    /// With a node that runs only these kinds of machine.
    pub async fn start_running(kinds: Vec<MachineKind>) -> TestApp {
        Self::start_with(None, Self::host(), kinds).await
    }

    fn host() -> HostFacts {
        HostFacts { hostname: "sim".into(), cpus: 8, memory_mib: 8192, disk_gib: 100 }
    }

    /// On the database at `url` (which must be empty), or a fresh one.
    pub async fn start_on(url: Option<String>) -> TestApp {
        Self::start_with(url, Self::host(), MachineKind::ALL.to_vec()).await
    }

    async fn start_with(url: Option<String>, host: HostFacts, kinds: Vec<MachineKind>) -> TestApp {
        let data = tempfile::tempdir().unwrap();
        let bridge_dir = tempfile::tempdir().unwrap();
        let socket = bridge_dir.path().join("bridge.sock");
        let sim = serve_sim_node(bridge_dir.path(), &socket, host, kinds).await;

        let url = match url {
            Some(url) => url,
            None => fresh_database(data.path()).await,
        };
        let db = corral::db::connect(&url).await.unwrap();
        let admin_password = corral::app::bootstrap::ensure_admin(&db).await.unwrap().unwrap();
        let state = AppState::new(db, None, fast_tuning());
        let address = format!("unix:{}", socket.display());
        corral::server::start_node_links(&state, &[("node-1".into(), address)]).await.unwrap();
        let node_id = corral::store::nodes::node_list(&state.db).await.unwrap()[0].id;
        let router = build_router(state.clone(), &RouterOptions::default());
        let app = TestApp {
            router,
            state,
            admin_password,
            sim,
            node_id,
            admin_cookie: Default::default(),
            _dirs: (data, bridge_dir),
            more_dirs: Default::default(),
        };
        app.wait_for(|| async { app.node().await.status == NodeStatus::Online }).await;
        app
    }

    /// Another sim node, of this size and running these kinds, linked and online.
    pub async fn add_node(&self, name: &str, host: HostFacts, kinds: Vec<MachineKind>) -> NodeId {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bridge.sock");
        serve_sim_node(dir.path(), &socket, host, kinds).await;
        let address = format!("unix:{}", socket.display());
        let id = corral::store::nodes::node_upsert(&self.state.db, name, &address).await.unwrap();
        let all = corral::store::nodes::node_addresses(&self.state.db).await.unwrap();
        corral::nodes::links::start(&self.state, all.iter().find(|n| n.id == id).unwrap()).unwrap();
        self.more_dirs.lock().unwrap().push(dir);
        let db = &self.state.db;
        self.wait_for(|| async move {
            corral::store::nodes::node_get(db, id)
                .await
                .unwrap()
                .is_some_and(|n| n.status == NodeStatus::Online)
        })
        .await;
        id
    }

    /// Puts a small zone image, `busybox.tar.gz`, on the first node.
    pub async fn import_zone_image(&self) {
        let file = tempfile::Builder::new().suffix(".tar.gz").tempfile().unwrap();
        corral_testkit::images::write_zone_image(file.path()).unwrap();
        let client = self.state.nodes.get(self.node_id).unwrap();
        let import = corral_api::bridge::BridgeImageImport {
            name: "busybox.tar.gz".into(),
            source: file.path().display().to_string(),
            sha256: None,
        };
        let task = client.image_import(&import).await.unwrap();
        let task = client.task_wait(task.id, Duration::from_secs(10)).await.unwrap();
        assert_eq!(task.state, corral_api::task::TaskState::Succeeded, "{task:?}");
    }

    pub async fn node(&self) -> Node {
        corral::store::nodes::node_get(&self.state.db, self.node_id).await.unwrap().unwrap()
    }

    /// Waits up to 10 s for `check` to hold.
    pub async fn wait_for<F, Fut>(&self, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        corral_testkit::wait_until("a condition of the test", PATIENCE, check).await;
    }

    /// Serves the app on a real loopback listener (for websockets); returns `host:port`.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("127.0.0.1:{}", addr.port())
    }

    pub async fn call(&self, method: &str, uri: &str, cookie: Option<&str>, body: Option<&str>) -> Resp {
        self.call_with(method, uri, cookie, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        uri: &str,
        cookie: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        send(&self.router, None, method, uri, cookie, body, headers).await
    }

    /// A call that arrives from `peer` (as the real server's listener would say).
    pub async fn call_from(&self, peer: &str, method: &str, uri: &str, body: Option<&str>) -> Resp {
        send(&self.router, Some(peer), method, uri, None, body, &[]).await
    }
}

/// Sends a request through `router`, from `peer` when given.
pub async fn send(
    router: &Router,
    peer: Option<&str>,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri).header("host", "corral.test");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
    if let Some(peer) = peer {
        let addr: std::net::SocketAddr = format!("{peer}:40000").parse().unwrap();
        req.extensions_mut().insert(axum::extract::ConnectInfo(addr));
    }
    let resp = router.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Resp { status, headers, body }
}

impl TestApp {
    /// Logs in and returns the `cookie` header value to send.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let body = serde_json::json!({ "username": username, "password": password }).to_string();
        let resp = self.call("POST", "/api/v1/session", None, Some(&body)).await;
        assert_eq!(resp.status, StatusCode::OK, "{:?}", resp.body);
        session_cookie(&resp.headers).expect("login sets a session cookie")
    }

    pub async fn login_admin(&self) -> String {
        self.login("admin", &self.admin_password.clone()).await
    }

    /// A user with `role` in a new tenant, made through the API by the admin; returns
    /// (cookie, tenant id).
    pub async fn user_in_new_tenant(
        &self,
        username: &str,
        role: corral_api::session::Role,
    ) -> (String, corral_api::TenantId) {
        let p = corral_testkit::people::person(&self.as_admin().await, username, role, None).await;
        (self.login(username, corral_testkit::people::PASSWORD).await, p.tenant_id)
    }

    /// A user with `role` in `tenant`, made through the API by the admin; returns (cookie, id).
    pub async fn user_in(
        &self,
        tenant: corral_api::TenantId,
        username: &str,
        role: corral_api::session::Role,
    ) -> (String, corral_api::UserId) {
        let p = corral_testkit::people::person(&self.as_admin().await, username, role, Some(tenant)).await;
        (self.login(username, corral_testkit::people::PASSWORD).await, p.user_id)
    }

    /// The admin's session, logged in once per app.
    async fn as_admin(&self) -> AsAdmin<'_> {
        let cookie = self.admin_cookie.get_or_init(|| self.login_admin()).await.clone();
        AsAdmin { app: self, cookie }
    }

    /// Makes the smallest machine (1 vCPU, 128 MiB, 1 GiB) called `name` as `cookie` and
    /// waits until the node has it, stopped; its id.
    pub async fn machine(&self, cookie: &str, name: &str) -> String {
        let body =
            serde_json::json!({"name": name, "vcpus": 1, "memory_mib": 128, "disk_gib": 1}).to_string();
        let r = self.call("POST", "/api/v1/machines", Some(cookie), Some(&body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "creating {name}: {:?}", r.body);
        let id = r.body["id"].as_str().expect("a machine id").to_string();
        self.wait_state(cookie, &id, "stopped").await;
        id
    }

    /// [`Self::machine`], started; its id.
    pub async fn running_machine(&self, cookie: &str, name: &str) -> String {
        let id = self.machine(cookie, name).await;
        let r = self.call("POST", &format!("/api/v1/machines/{id}/start"), Some(cookie), None).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "starting {name}: {:?}", r.body);
        self.wait_state(cookie, &id, "running").await;
        id
    }

    pub async fn machine_state(&self, cookie: &str, id: &str) -> String {
        let r = self.call("GET", &format!("/api/v1/machines/{id}"), Some(cookie), None).await;
        r.body["state"].as_str().unwrap_or("").to_string()
    }

    /// Waits up to 10 s for the machine to be in `state`, saying which state it was in last.
    pub async fn wait_state(&self, cookie: &str, id: &str, state: &str) {
        corral_testkit::wait_for(&format!("machine {id} to be {state}"), PATIENCE, || async {
            let now = self.machine_state(cookie, id).await;
            if now == state { Ok(()) } else { Err(now) }
        })
        .await;
    }
}

/// The app's admin, making people through the API ([`corral_testkit::people`]).
pub struct AsAdmin<'a> {
    app: &'a TestApp,
    cookie: String,
}

impl corral_testkit::people::AdminApi for AsAdmin<'_> {
    async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.app.call("POST", path, Some(&self.cookie), Some(&body.to_string())).await;
        (r.status.as_u16(), r.body)
    }
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("corral_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}
