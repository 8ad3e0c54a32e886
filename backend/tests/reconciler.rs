//! The reconciler keeps its promises (docs/architecture.md §5), each checked against a sim
//! node: a machine that vanished from its node becomes `lost` and leaves the node's usage, a
//! `creating` row that never reached its node goes after the grace period, tasks a restarted
//! node no longer knows fail with the reason, a bridge that falls silent is taken for
//! unreachable, and an error of our own database leaves the node online.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::TestApp;
use corral_api::bridge::{BRIDGE_API_VERSION, BridgeEvent, BridgeVersion, HostFacts};
use corral_api::node::NodeStatus;
use corral_api::session::Role;
use corral_api::task::{BridgeTask, TaskState};
use corral_api::{MachineId, TaskId};
use hyper::StatusCode;

#[tokio::test]
async fn a_machine_that_vanished_is_lost_and_leaves_the_usage() {
    let app = TestApp::start().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let keep: MachineId = app.machine(&olive, "keep").await.parse().unwrap();
    let gone: MachineId = app.machine(&olive, "gone").await.parse().unwrap();
    assert_eq!(app.node().await.usage.machines, 2);
    app.sim.vanish(gone).unwrap();
    // The next listing (every 500 ms here) finds it missing.
    app.wait_state(&olive, &gone.to_string(), "lost").await;
    assert_eq!(app.machine_state(&olive, &keep.to_string()).await, "stopped", "the other is untouched");
    let node = app.node().await;
    assert_eq!((node.usage.machines, node.usage.vcpus), (1, 1), "a lost machine holds nothing on its node");
    // Deleting a lost machine drops its row without asking the node.
    let r = app.call("DELETE", &format!("/api/v1/machines/{gone}"), Some(&olive), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(
        app.call("GET", &format!("/api/v1/machines/{gone}"), Some(&olive), None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_create_that_never_reached_its_node_goes_after_the_grace_period() {
    let app = TestApp::start().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let row = |name: &str| corral::store::machines::NewMachine {
        id: MachineId::new_random(),
        name: name.into(),
        kind: Default::default(),
        vcpus: 1,
        memory_mib: 128,
        disk_gib: 1,
        image: None,
        devices: Default::default(),
        request_fingerprint: None,
    };
    // A backend that died between writing the row and asking the node, 3 minutes ago; and
    // one that is still on its way.
    let (stale, fresh) = (row("stale"), row("fresh"));
    for m in [&stale, &fresh] {
        corral::store::machines::machine_insert(&app.state.db, app.node_id, tenant, m).await.unwrap();
    }
    sqlx::query("UPDATE machines SET created_at = '2026-01-01T00:00:00Z' WHERE id = $1")
        .bind(stale.id.to_string())
        .execute(&app.state.db)
        .await
        .unwrap();
    let gone = |id: MachineId| {
        let app = &app;
        let olive = olive.clone();
        async move {
            app.call("GET", &format!("/api/v1/machines/{id}"), Some(&olive), None).await.status
                == StatusCode::NOT_FOUND
        }
    };
    app.wait_for(|| gone(stale.id)).await;
    assert_eq!(
        app.machine_state(&olive, &fresh.id.to_string()).await,
        "creating",
        "within the grace period it waits"
    );
}

fn version() -> BridgeVersion {
    BridgeVersion {
        api_version: BRIDGE_API_VERSION,
        bridge_version: "fake".into(),
        driver: "sim".into(),
        capabilities: vec![],
        kinds: vec![corral_api::spec::MachineKind::Vm],
        host: HostFacts { hostname: "fake".into(), cpus: 8, memory_mib: 8192, disk_gib: 100 },
        accelerator: None,
        host_bridges: vec![],
    }
}

/// A bridge that answers its listings and then says nothing at all on its event stream.
fn silent_bridge(dir: &std::path::Path) -> String {
    let socket = dir.join("silent.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let hello = format!("{}\n", serde_json::to_string(&BridgeEvent::Hello { driver: "sim".into() }).unwrap());
    let router = Router::new()
        .route("/v1/version", get(|| async { axum::Json(version()) }))
        .route("/v1/machines", get(|| async { "[]" }))
        .route("/v1/tasks", get(|| async { "[]" }))
        .route(
            "/v1/events",
            get(move || {
                let hello = hello.clone();
                async move {
                    let first = futures::stream::once(async move { Ok::<_, std::io::Error>(hello) });
                    Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()))
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("unix:{}", socket.display())
}

#[tokio::test]
async fn tasks_a_restarted_node_forgot_fail_with_the_reason_and_a_silent_node_is_unreachable() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let address = silent_bridge(dir.path());
    // The node is known with a task running on it, as before a restart of its bridge.
    let node = corral::store::nodes::node_upsert(&app.state.db, "quiet", &address).await.unwrap();
    let task = BridgeTask {
        id: TaskId(uuid::Uuid::new_v4()),
        kind: "image_import".into(),
        machine_id: None,
        target: "x.qcow2".into(),
        state: TaskState::Running,
        steps: vec![],
        progress: 40,
        log: vec![],
        result: None,
        error: None,
        started_at: "2026-12-05T07:00:00Z".into(),
        finished_at: None,
    };
    assert!(corral::store::tasks::task_upsert(&app.state.db, node, &task).await.unwrap());
    let started = std::time::Instant::now();
    corral::server::start_node_links(&app.state, &[]).await.unwrap();
    let ended = || async {
        let t = corral::store::tasks::task_get(&app.state.db, task.id).await.unwrap().unwrap();
        (t.task.state == TaskState::Failed).then_some(t)
    };
    app.wait_for(|| async { ended().await.is_some() }).await;
    let t = ended().await.unwrap();
    assert_eq!(t.task.error.unwrap().message, "the node restarted during this task");

    // Silence on the event stream past the timeout (15 s, here as by default) is a dead link.
    let status =
        || async { corral::store::nodes::node_get(&app.state.db, node).await.unwrap().unwrap().status };
    app.wait_for(|| async { status().await == NodeStatus::Online }).await;
    let deadline = std::time::Instant::now() + app.state.tuning.silence_timeout + Duration::from_secs(7);
    while status().await != NodeStatus::Unreachable {
        assert!(std::time::Instant::now() < deadline, "the silent node is still {:?}", status().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let silent_for = started.elapsed();
    assert!(silent_for >= app.state.tuning.silence_timeout, "unreachable after {silent_for:?}: too soon");
    let why = corral::store::nodes::node_get(&app.state.db, node).await.unwrap().unwrap().last_error.unwrap();
    assert!(why.contains("no word from the node"), "{why}");
}

/// Our own database failing is not the node's fault: the link stays up and the node online
/// (each listing still records that the node answered), so users are not told a falsehood
/// about their machines, and reconnecting, which would not help, is not tried.
#[tokio::test]
async fn a_database_error_while_reconciling_keeps_the_node_online() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    app.machine(&admin, "a").await;
    // Every write of a listing to the machines table fails from now on.
    sqlx::query("ALTER TABLE machines RENAME TO machines_away").execute(&app.state.db).await.unwrap();
    // (The node's row is read alone: its usage is summed from the table that is away.)
    let row = || async {
        let sql = "SELECT status, last_seen_at, last_error FROM nodes WHERE id = $1";
        let (status, seen, error): (String, Option<String>, Option<String>) =
            sqlx::query_as(sql).bind(app.node_id.to_string()).fetch_one(&app.state.db).await.unwrap();
        (status, seen, error)
    };
    for _ in 0..3 {
        let before = row().await.1;
        app.wait_for(|| async { row().await.1 != before }).await;
        let (status, _, error) = row().await;
        assert_eq!(status, NodeStatus::Online.as_str(), "{error:?}");
    }
    sqlx::query("ALTER TABLE machines_away RENAME TO machines").execute(&app.state.db).await.unwrap();
}
