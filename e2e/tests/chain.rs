//! The whole chain with real processes on loopback: a backend and two sim bridges. A machine
//! lives its life through the REST API; a bridge is killed and comes back; a machine made
//! behind the backend's back shows up as unmanaged.

use std::time::Duration;

use corral_api::bridge::BridgeMachineCreate;
use corral_api::machine::MachineState;
use corral_api::node::NodeStatus;
use corral_api::{MachineId, NodeId};
use corral_e2e::{Api, BackendProc, BridgeProc, wait_until};
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(10);

async fn create_on(api: &Api, name: &str, node: NodeId) -> MachineId {
    let r = api
        .send(
            "POST",
            "/api/v1/machines",
            Some(json!({"name": name, "vcpus": 1, "memory_mib": 256, "disk_gib": 5, "node_id": node})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    serde_json::from_value(r.body["id"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_bridges_a_life_cycle_and_a_bridge_that_dies_and_returns() {
    let dir = tempfile::tempdir().unwrap();
    let b1 = BridgeProc::start(dir.path(), "node-a");
    let mut b2 = BridgeProc::start(dir.path(), "node-b");
    let backend = BackendProc::start(&dir.path().join("backend"), &[&b1, &b2], None);
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;

    wait_until("both nodes online", PATIENCE, || async {
        let nodes = api.nodes().await;
        nodes.len() == 2 && nodes.iter().all(|n| n.status == NodeStatus::Online)
    })
    .await;
    let nodes = api.nodes().await;
    let node_id = |name: &str| nodes.iter().find(|n| n.name == name).unwrap().id;

    // A life on node-a: create → stopped → running → stopped → deleted.
    let a = create_on(&api, "alpha", node_id("node-a")).await;
    let b = create_on(&api, "bravo", node_id("node-b")).await;
    api.wait_state(a, MachineState::Stopped, PATIENCE).await;
    api.wait_state(b, MachineState::Stopped, PATIENCE).await;
    for id in [a, b] {
        assert_eq!(api.send("POST", &format!("/api/v1/machines/{id}/start"), None).await.status, 202);
    }
    api.wait_state(a, MachineState::Running, PATIENCE).await;
    api.wait_state(b, MachineState::Running, PATIENCE).await;
    assert_eq!(api.send("POST", &format!("/api/v1/machines/{a}/stop"), None).await.status, 202);
    api.wait_state(a, MachineState::Stopped, PATIENCE).await;
    assert_eq!(api.send("DELETE", &format!("/api/v1/machines/{a}"), None).await.status, 202);
    wait_until("alpha to be gone", PATIENCE, || async { api.machine(a).await.is_none() }).await;
    assert!(b1.client().machine_list().await.unwrap().is_empty(), "node-a has nothing left");

    // node-b dies: its machine turns unknown (never a stale running), the node unreachable.
    b2.kill9();
    api.wait_state(b, MachineState::Unknown, PATIENCE).await;
    let node_b = api.nodes().await.into_iter().find(|n| n.name == "node-b").unwrap();
    assert_eq!(node_b.status, NodeStatus::Unreachable);
    assert!(node_b.last_error.is_some());
    let r = api.send("POST", &format!("/api/v1/machines/{b}/stop"), None).await;
    assert_eq!((r.status, r.body["code"].as_str()), (503, Some("node_unreachable")), "{:?}", r.body);
    // Placement skips it and says why when nothing else fits.
    let r = api
        .send(
            "POST",
            "/api/v1/machines",
            Some(json!({"name": "huge", "vcpus": 1, "memory_mib": 4000000, "disk_gib": 1})),
        )
        .await;
    assert_eq!(r.status, 507);
    assert!(r.body["message"].as_str().unwrap().contains("node-b is unreachable"), "{:?}", r.body);

    // It comes back: online again, and the machine is running as it always was.
    b2.restart();
    api.wait_state(b, MachineState::Running, PATIENCE).await;
    wait_until("node-b online", PATIENCE, || async {
        api.nodes().await.iter().any(|n| n.name == "node-b" && n.status == NodeStatus::Online)
    })
    .await;

    // Something made on node-b behind the backend's back appears, owned by nobody.
    let stray = MachineId::new_random();
    b2.client()
        .machine_create(&BridgeMachineCreate {
            id: stray,
            name: "stray".into(),
            kind: Default::default(),
            vcpus: 1,
            memory_mib: 128,
            disk_gib: 1,
            image: None,
            port_forwards: vec![],
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
            init: None,
        })
        .await
        .unwrap();
    wait_until("the stray machine to appear", PATIENCE, || async { api.machine(stray).await.is_some() })
        .await;
    let m = api.machine(stray).await.unwrap();
    assert!(!m.managed && m.tenant_id.is_none(), "{m:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_to_real_processes_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b1 = BridgeProc::start(dir.path(), "node-a");
    let backend = BackendProc::start(&dir.path().join("backend"), &[&b1], None);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/session", backend.url))
        .json(&json!({"username": "admin", "password": "not-it"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "login_failed");

    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    for body in [
        json!({"name": "x".repeat(100), "vcpus": 1, "memory_mib": 128, "disk_gib": 1}),
        json!({"name": "ok", "vcpus": -4, "memory_mib": 128, "disk_gib": 1}),
        json!({"name": "ok", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "extra": true}),
        json!({"name": "semi;colon", "vcpus": 1, "memory_mib": 128, "disk_gib": 1}),
    ] {
        let r = api.send("POST", "/api/v1/machines", Some(body.clone())).await;
        assert!((400..500).contains(&r.status), "{body}: {r:?}");
        assert!(r.body["code"].is_string() && r.body["message"].is_string(), "{r:?}");
    }
    assert!(api.machines().await.is_empty());
    assert!(b1.client().machine_list().await.unwrap().is_empty());
}
