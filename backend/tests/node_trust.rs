//! A node is trusted with its own machines only (issue 10, finding 3). A small fake bridge in
//! the test reports another node's machine as its own, removes it, and names it in a task;
//! none of it is applied, and each report is counted against the fake node. Another fake
//! sends an endless event line and an oversized listing: the backend cuts the link instead of
//! reading on.

mod common;

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::TestApp;
use corral_api::bridge::{BRIDGE_API_VERSION, BridgeEvent, BridgeMachine, BridgeVersion, HostFacts};
use corral_api::machine::MachineState;
use corral_api::node::NodeStatus;
use corral_api::task::{BridgeTask, TaskState};
use corral_api::{MachineId, TaskId};
use hyper::StatusCode;

fn version() -> BridgeVersion {
    BridgeVersion {
        api_version: BRIDGE_API_VERSION,
        bridge_version: "fake".into(),
        driver: "sim".into(),
        capabilities: vec!["machines".into()],
        kinds: vec![corral_api::spec::MachineKind::Vm],
        host: HostFacts { hostname: "fake".into(), cpus: 8, memory_mib: 8192, disk_gib: 100 },
        accelerator: None,
        host_bridges: vec![],
    }
}

fn line(ev: &BridgeEvent) -> String {
    format!("{}\n", serde_json::to_string(ev).unwrap())
}

/// Serves `router` on a unix socket in `dir`; returns the node address.
fn serve(dir: &Path, router: Router) -> String {
    let socket = dir.join("fake.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("unix:{}", socket.display())
}

/// A bridge that claims `victim` (a machine of another node) in every way it can.
fn thief(victim: BridgeMachine) -> Router {
    let listed = vec![BridgeMachine { state: MachineState::Running, ..victim.clone() }];
    let task = BridgeTask {
        id: TaskId(uuid::Uuid::new_v4()),
        kind: "machine_delete".into(),
        machine_id: Some(victim.id),
        target: victim.name.clone(),
        state: TaskState::Running,
        steps: vec![],
        progress: 0,
        log: vec![],
        result: None,
        error: None,
        started_at: "2026-12-05T07:00:00Z".into(),
        finished_at: None,
    };
    let tasks = vec![task.clone()];
    let events = [
        line(&BridgeEvent::Hello { driver: "sim".into() }),
        line(&BridgeEvent::MachineChanged {
            machine: BridgeMachine { state: MachineState::Paused, ..victim.clone() },
        }),
        line(&BridgeEvent::TaskChanged { task: BridgeTask { progress: 50, ..task } }),
        line(&BridgeEvent::MachineRemoved { id: victim.id }),
    ]
    .concat();
    Router::new()
        .route("/v1/version", get(|| async { axum::Json(version()) }))
        .route("/v1/machines", get(move || async move { axum::Json(listed) }))
        .route("/v1/tasks", get(move || async move { axum::Json(tasks) }))
        .route(
            "/v1/events",
            get(move || async move {
                let beats = futures::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Some((Ok::<_, std::io::Error>(line(&BridgeEvent::Heartbeat)), ()))
                });
                let first = futures::stream::once(async move { Ok(events) });
                Body::from_stream(futures::StreamExt::chain(first, beats))
            }),
        )
}

/// A bridge whose event stream is one endless line, and whose listing is larger than any
/// backend should read.
fn flood(listing_bytes: usize) -> Router {
    Router::new()
        .route("/v1/version", get(|| async { axum::Json(version()) }))
        .route("/v1/machines", get(move || async move { format!("[{}]", " ".repeat(listing_bytes)) }))
        .route("/v1/tasks", get(|| async { "[]" }))
        .route(
            "/v1/events",
            get(|| async {
                let endless = futures::stream::repeat_with(|| Ok::<_, std::io::Error>("x".repeat(64 << 10)));
                Body::from_stream(endless)
            }),
        )
}

async fn node_by_name(app: &TestApp, name: &str) -> corral_api::node::Node {
    let all = corral::store::nodes::node_list(&app.state.db).await.unwrap();
    all.into_iter().find(|n| n.name == name).unwrap()
}

#[tokio::test]
async fn a_node_cannot_move_delete_or_retask_another_nodes_machine() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let body = serde_json::json!({"name": "web", "vcpus": 1, "memory_mib": 128, "disk_gib": 1}).to_string();
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id: MachineId = r.body["id"].as_str().unwrap().parse().unwrap();
    app.wait_state(&admin, &id.to_string(), "stopped").await;
    let victim = corral::store::machines::machine_get(&app.state.db, id).await.unwrap().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let as_bridge = BridgeMachine {
        id,
        name: victim.name.clone(),
        kind: Default::default(),
        vcpus: victim.vcpus,
        memory_mib: victim.memory_mib,
        disk_gib: victim.disk_gib,
        image: None,
        port_forwards: vec![],
        boot_order: vec![],
        cdrom: None,
        host_bridge: None,
        zone: None,
        init_id: None,
        state: MachineState::Running,
        created_at: victim.created_at.clone(),
    };
    let address = serve(dir.path(), thief(as_bridge));
    corral::server::start_node_links(&app.state, &[("thief".into(), address)]).await.unwrap();
    // The listing, the changed machine, the task (listed and changed) and the removal all
    // break the rules; a node's breaks are recorded at most once a second, so a second one
    // recorded means the whole first stream was handled.
    app.wait_for(|| async { node_by_name(&app, "thief").await.rule_breaks >= 2 }).await;

    let after = corral::store::machines::machine_get(&app.state.db, id).await.unwrap().expect("still there");
    assert_eq!((after.node_id, after.state), (app.node_id, MachineState::Stopped), "{after:?}");
    let thief = node_by_name(&app, "thief").await;
    assert_eq!(thief.status, NodeStatus::Online);
    assert!(thief.last_rule_break.as_deref().unwrap_or("").contains(&id.to_string()), "{thief:?}");
    let tasks = app.call("GET", "/api/v1/tasks", Some(&admin), None).await;
    let named: Vec<_> = tasks.body.as_array().unwrap().iter().filter(|t| t["node_name"] == "thief").collect();
    assert!(named.is_empty(), "the thief's task is not recorded: {named:?}");
    // Power still goes to the machine's own node.
    let r = app.call("POST", &format!("/api/v1/machines/{id}/start"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    app.wait_state(&admin, &id.to_string(), "running").await;
}

#[tokio::test]
async fn a_node_cannot_fill_the_backends_memory() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let address = serve(dir.path(), flood(40 << 20));
    corral::server::start_node_links(&app.state, &[("flood".into(), address)]).await.unwrap();
    app.wait_for(|| async {
        let n = node_by_name(&app, "flood").await;
        n.status == NodeStatus::Unreachable && n.last_error.is_some()
    })
    .await;
    let error = node_by_name(&app, "flood").await.last_error.unwrap();
    let capped = ["an event line longer than", "the answer is larger than"];
    assert!(capped.iter().any(|c| error.contains(c)), "{error}");
}
