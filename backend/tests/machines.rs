//! Machines through the router, against a real sim bridge: the life cycle, bad input that
//! changes nothing, visibility across tenants, unmanaged machines, and the Origin check.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use corral_api::session::Role;
use corral_bridge::driver::Driver;

fn create(name: &str, vcpus: i64, memory: i64, disk: i64) -> String {
    serde_json::json!({ "name": name, "vcpus": vcpus, "memory_mib": memory, "disk_gib": disk }).to_string()
}

/// A machine says since when it is in its state: a change of name or size leaves that time,
/// a start moves it (the machine page's "Running since", its uptime).
#[tokio::test]
async fn a_machine_says_since_when_it_is_in_its_state() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&create("up", 1, 128, 2))).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    app.wait_state(&admin, &id, "stopped").await;
    let path = format!("/api/v1/machines/{id}");
    let stopped = app.call("GET", &path, Some(&admin), None).await.body;
    let stopped_since = stopped["state_since"].as_str().unwrap().to_string();
    assert!(stopped_since.as_str() >= stopped["created_at"].as_str().unwrap(), "{stopped:?}");

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"name":"up-2","disk_gib":3}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let renamed = app.call("GET", &path, Some(&admin), None).await.body;
    assert_eq!(renamed["state_since"].as_str(), Some(stopped_since.as_str()), "a rename is not a new state");
    assert_ne!(renamed["updated_at"], stopped["updated_at"], "but it is a change");

    let r = app.call("POST", &format!("{path}/start"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    app.wait_state(&admin, &id, "running").await;
    let running = app.call("GET", &path, Some(&admin), None).await.body;
    let running_since = running["state_since"].as_str().unwrap();
    assert!(running_since > stopped_since.as_str(), "{running_since} after {stopped_since}");
    assert!(running_since <= running["updated_at"].as_str().unwrap(), "{running:?}");
}

#[tokio::test]
async fn create_start_stop_delete() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&create("web-1", 2, 512, 10))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // The sim makes a machine in 30 ms: on a slow database its report may be in the row
    // already when the answer is written.
    let state = r.body["state"].as_str();
    assert!(matches!(state, Some("creating" | "stopped")), "{:?}", r.body);
    assert_eq!(r.body["managed"], true);
    assert_eq!(r.body["node_name"], "node-1");
    let id = r.body["id"].as_str().unwrap().to_string();
    app.wait_state(&admin, &id, "stopped").await;

    let r = app.call("POST", &format!("/api/v1/machines/{id}/start"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    app.wait_state(&admin, &id, "running").await;

    let r = app.call("DELETE", &format!("/api/v1/machines/{id}"), Some(&admin), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "running: refused without force");

    let r = app.call("POST", &format!("/api/v1/machines/{id}/pause"), Some(&admin), None).await;
    assert_eq!((r.status, r.body["state"].as_str()), (StatusCode::ACCEPTED, Some("paused")));
    let r = app.call("POST", &format!("/api/v1/machines/{id}/reboot"), Some(&admin), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "no reboot while paused");
    let r = app.call("POST", &format!("/api/v1/machines/{id}/resume"), Some(&admin), None).await;
    assert_eq!(r.body["state"], "running");

    let r = app.call("POST", &format!("/api/v1/machines/{id}/reboot"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    app.wait_state(&admin, &id, "running").await;
    app.call("POST", &format!("/api/v1/machines/{id}/stop"), Some(&admin), None).await;
    app.wait_state(&admin, &id, "stopped").await;

    // The node's usage counts the machine while it exists.
    let r = app.call("GET", "/api/v1/nodes", Some(&admin), None).await;
    assert_eq!(r.body[0]["usage"]["vcpus"], 2);

    let r = app.call("DELETE", &format!("/api/v1/machines/{id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    app.wait_for(|| async {
        app.call("GET", &format!("/api/v1/machines/{id}"), Some(&admin), None).await.status
            == StatusCode::NOT_FOUND
    })
    .await;
    assert!(app.sim.machine_list().await.is_empty());
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let long = "a".repeat(64);
    let cases = [
        ("{\"name\":", StatusCode::BAD_REQUEST, "invalid_request"),
        (
            r#"{"name":"a","vcpus":1,"memory_mib":128,"disk_gib":1,"gpu":true}"#,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (&create("neg", -1, 128, 1), StatusCode::BAD_REQUEST, "invalid_request"),
        (&create("neg", 1, -128, 1), StatusCode::BAD_REQUEST, "invalid_request"),
        (&create(&long, 1, 128, 1), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (&create("Web 1", 1, 128, 1), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (&create("web/../1", 1, 128, 1), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (&create("web", 0, 128, 1), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (&create("web", 1, 1, 1), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (&create("web", 1, 128, 0), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (&create("web", 64, 128, 1), StatusCode::INSUFFICIENT_STORAGE, "insufficient_capacity"),
        ("[]", StatusCode::BAD_REQUEST, "invalid_request"),
    ];
    for (body, status, code) in cases {
        let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(body)).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {:?}", r.body);
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&create(&long, 1, 128, 1))).await;
    assert_eq!(r.body["field"], "name");
    assert!(r.body["message"].as_str().unwrap().contains("64"), "says how long it was: {:?}", r.body);

    // A form post (not JSON) is refused too.
    let r = app
        .call_with(
            "POST",
            "/api/v1/machines",
            Some(&admin),
            None,
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let unknown = corral_api::MachineId::new_random();
    for (method, path) in [
        ("GET", format!("/api/v1/machines/{unknown}")),
        ("POST", format!("/api/v1/machines/{unknown}/start")),
        ("DELETE", format!("/api/v1/machines/{unknown}")),
        ("GET", format!("/api/v1/nodes/{unknown}")),
        ("GET", "/api/v1/no-such-thing".into()),
    ] {
        let r = app.call(method, &path, Some(&admin), None).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}");
    }
    let r = app.call("GET", "/api/v1/machines/not-an-id", Some(&admin), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    let r = app.call("PUT", "/api/v1/machines", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

    let r = app.call("GET", "/api/v1/machines", Some(&admin), None).await;
    assert_eq!(r.body, serde_json::json!([]), "the database is unchanged");
    assert!(app.sim.machine_list().await.is_empty(), "the bridge is unchanged");
}

#[tokio::test]
async fn names_are_unique_per_tenant() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&create("db", 1, 128, 1))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&create("db", 1, 128, 1))).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "already_exists"));
    assert_eq!(app.sim.machine_list().await.len(), 1);
}

#[tokio::test]
async fn other_tenants_see_404_and_viewers_may_not_act() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (owner, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (stranger, _) = app.user_in_new_tenant("sam", Role::Owner).await;

    let r = app.call("POST", "/api/v1/machines", Some(&owner), Some(&create("mine", 1, 128, 1))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["tenant_id"], tenant.to_string());
    let id = r.body["id"].as_str().unwrap().to_string();

    let r = app.call("GET", &format!("/api/v1/machines/{id}"), Some(&stranger), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not 403: its existence is not told");
    let r = app.call("POST", &format!("/api/v1/machines/{id}/start"), Some(&stranger), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call("GET", "/api/v1/machines", Some(&stranger), None).await;
    assert_eq!(r.body, serde_json::json!([]));
    let r = app.call("GET", "/api/v1/machines", Some(&admin), None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "admins see every tenant");

    // A viewer in the owner's tenant sees it but may not power it.
    let (vic, _) = app.user_in(tenant, "vic", Role::Viewer).await;
    let r = app.call("GET", &format!("/api/v1/machines/{id}"), Some(&vic), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.call("POST", &format!("/api/v1/machines/{id}/start"), Some(&vic), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = app.call("POST", "/api/v1/machines", Some(&vic), Some(&create("nope", 1, 128, 1))).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
}

#[tokio::test]
async fn a_machine_made_behind_our_back_shows_as_unmanaged_to_admins_only() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (owner, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let id = corral_api::MachineId::new_random();
    app.sim
        .machine_create(corral_api::bridge::BridgeMachineCreate {
            id,
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
    let path = format!("/api/v1/machines/{id}");
    app.wait_for(|| async { app.call("GET", &path, Some(&admin), None).await.status == StatusCode::OK })
        .await;
    let r = app.call("GET", &path, Some(&admin), None).await;
    assert_eq!(r.body["managed"], false);
    assert_eq!(r.body["tenant_id"], serde_json::Value::Null);
    let r = app.call("GET", &path, Some(&owner), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cross_origin_writes_are_refused_before_anything_happens() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let evil = [("origin", "http://evil.example")];
    let r =
        app.call_with("POST", "/api/v1/machines", Some(&admin), Some(&create("x", 1, 128, 1)), &evil).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "bad_origin"));
    assert!(app.sim.machine_list().await.is_empty());

    let ours = [("origin", "http://corral.test")];
    let r =
        app.call_with("POST", "/api/v1/machines", Some(&admin), Some(&create("x", 1, 128, 1)), &ours).await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Reads are not checked: a cross-site page cannot read the answer anyway.
    let r = app.call_with("GET", "/api/v1/machines", Some(&admin), None, &evil).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn requests_without_a_session_get_401() {
    let app = TestApp::start().await;
    for (method, path) in
        [("GET", "/api/v1/machines"), ("POST", "/api/v1/machines"), ("GET", "/api/v1/nodes")]
    {
        let body = (method == "POST").then(|| create("x", 1, 128, 1));
        let r = app.call(method, path, None, body.as_deref()).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{method} {path}");
    }
    assert!(app.sim.machine_list().await.is_empty());
}

#[tokio::test]
async fn images_are_listed_from_nodes_and_steer_placement() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&with_image("a", "nope.qcow2"))).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{:?}", r.body);
    assert_eq!(r.body["field"], "image");
    assert!(r.body["message"].as_str().unwrap().contains("no online node holds"), "{:?}", r.body);

    // Put a small raw image on the node, as an operator would.
    let raw = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(raw.path(), vec![0u8; 1 << 20]).unwrap();
    let client = app.state.nodes.get(app.node_id).unwrap();
    let import = corral_api::bridge::BridgeImageImport {
        name: "blank.raw".into(),
        source: raw.path().display().to_string(),
        sha256: None,
    };
    let task = client.image_import(&import).await.unwrap();
    let task = client.task_wait(task.id, std::time::Duration::from_secs(10)).await.unwrap();
    assert_eq!(task.state, corral_api::task::TaskState::Succeeded, "{task:?}");

    let r = app.call("GET", "/api/v1/images", Some(&admin), None).await;
    assert_eq!(r.body[0]["image"]["name"], "blank.raw");
    assert_eq!(r.body[0]["node_name"], "node-1");
    assert_eq!(r.body[0]["image"]["format"], "raw");

    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&with_image("b", "blank.raw"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["image"], "blank.raw");
    let id = r.body["id"].as_str().unwrap().to_string();
    app.wait_state(&admin, &id, "stopped").await;
    let r = app.call("GET", &format!("/api/v1/machines/{id}"), Some(&admin), None).await;
    assert_eq!(r.body["image"], "blank.raw", "the image survives the round trip through the node");
}

fn with_image(name: &str, image: &str) -> String {
    serde_json::json!({ "name": name, "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "image": image })
        .to_string()
}

#[tokio::test]
async fn rename_and_grow_a_stopped_machine() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let mut ids = Vec::new();
    for name in ["one", "two"] {
        let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&create(name, 1, 128, 2))).await;
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        app.wait_state(&admin, id, "stopped").await;
    }
    let path = format!("/api/v1/machines/{}", ids[0]);
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"name":"uno","disk_gib":5}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["name"].as_str(), r.body["disk_gib"].as_u64()), (Some("uno"), Some(5)));
    assert_eq!(app.sim.machine_list().await.iter().find(|m| m.name == "uno").map(|m| m.disk_gib), Some(5));

    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"name":"two"}"#)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "already_exists"));
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"disk_gib":1}"#)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "disks only grow"
    );
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"name":"Bad Name"}"#)).await;
    assert_eq!(r.body["field"], "name");
    app.call("POST", &format!("{path}/start"), Some(&admin), None).await;
    app.wait_state(&admin, &ids[0], "running").await;
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"disk_gib":8}"#)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "not while running");
    let r = app.call("GET", &path, Some(&admin), None).await;
    assert_eq!(
        (r.body["name"].as_str(), r.body["disk_gib"].as_u64()),
        (Some("uno"), Some(5)),
        "nothing changed"
    );
}

/// Boot order, CD and host bridge are kept from create to the node and back, an ISO can be
/// ejected, and a host bridge no node offers is refused before any node is asked.
#[tokio::test]
async fn boot_order_cd_and_host_bridge_round_trip() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let body = serde_json::json!({
        "name": "net", "vcpus": 1, "memory_mib": 128, "disk_gib": 1,
        "boot_order": ["network", "disk"], "cdrom": "drivers.iso", "host_bridge": "br0",
    });
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&body.to_string())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["boot_order"], serde_json::json!(["network", "disk"]));
    assert_eq!(
        (r.body["cdrom"].as_str(), r.body["host_bridge"].as_str()),
        (Some("drivers.iso"), Some("br0"))
    );
    let on_node = app.sim.machine_list().await.into_iter().find(|m| m.name == "net").unwrap();
    assert_eq!(on_node.host_bridge.as_deref(), Some("br0"));
    assert_eq!(app.node().await.host_bridges, vec!["br0".to_string()]);

    let path = format!("/api/v1/machines/{id}");
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"cdrom":null,"boot_order":[]}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["cdrom"].clone(), r.body["boot_order"].clone()),
        (serde_json::Value::Null, serde_json::json!([]))
    );
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"cdrom":"disk.qcow2"}"#)).await;
    assert_eq!((r.status, r.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cdrom")));

    let before = app.sim.machine_list().await.len();
    for (bad, field) in [
        (
            serde_json::json!({"name": "x", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "host_bridge": "br7"}),
            "host_bridge",
        ),
        (
            serde_json::json!({"name": "x", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "host_bridge": "br0",
                "port_forwards": [{"host_port": 2222, "guest_port": 22}]}),
            "port_forwards",
        ),
        (
            serde_json::json!({"name": "x", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "boot_order": ["cdrom", "cdrom"]}),
            "boot_order",
        ),
    ] {
        let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&bad.to_string())).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{bad}"
        );
    }
    assert_eq!(app.sim.machine_list().await.len(), before, "nothing reached the node");
}

/// The same request with the same `Idempotency-Key` makes one machine; the key cannot be
/// reused for another request; a bad key is refused before anything happens.
#[tokio::test]
async fn an_idempotency_key_makes_a_retried_create_one_machine() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let body = create("once", 1, 128, 1);
    let key = [("idempotency-key", "8d0b7c2e-retry-1")];
    let first = app.call_with("POST", "/api/v1/machines", Some(&admin), Some(&body), &key).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let again = app.call_with("POST", "/api/v1/machines", Some(&admin), Some(&body), &key).await;
    assert_eq!(again.status, StatusCode::OK, "a replay, not a second machine: {:?}", again.body);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(app.sim.machine_list().await.iter().filter(|m| m.name == "once").count(), 1);

    let other = create("twice", 1, 128, 1);
    let r = app.call_with("POST", "/api/v1/machines", Some(&admin), Some(&other), &key).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "{:?}", r.body);
    let r = app
        .call_with(
            "POST",
            "/api/v1/machines",
            Some(&admin),
            Some(&other),
            &[("idempotency-key", "no spaces")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("Idempotency-Key"))
    );
    let r = app
        .call_with("POST", "/api/v1/machines", Some(&admin), Some(&other), &[("idempotency-key", "k2")])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "a new key is a new request");
    assert_eq!(app.sim.machine_list().await.len(), 2);
}

/// A zone goes to a node that runs zones, even when a node that runs only VMs has more room;
/// a node that runs none is not a place for one, and the kind survives the round trip.
#[tokio::test]
async fn zones_go_only_to_nodes_that_run_them() {
    use corral_api::spec::MachineKind;
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let big = corral_api::bridge::HostFacts {
        hostname: "big".into(),
        cpus: 64,
        memory_mib: 1 << 20,
        disk_gib: 4096,
    };
    let vms_only = app.add_node("vms-only", big, vec![MachineKind::Vm]).await;
    let zone = |name: &str, node: Option<corral_api::NodeId>| {
        serde_json::json!({ "name": name, "kind": "zone", "image": "busybox.tar.gz", "vcpus": 1,
            "memory_mib": 128, "disk_gib": 1, "node_id": node })
        .to_string()
    };
    app.import_zone_image().await;
    let images = app.call("GET", "/api/v1/images", Some(&admin), None).await;
    let image = &images
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"]["name"] == "busybox.tar.gz")
        .unwrap()["image"];
    assert_eq!(
        (&image["kind"], &image["format"], &image["zone"]["init"]),
        (&"zone".into(), &"tar".into(), &"busybox".into())
    );
    let vm_of_zone_image = serde_json::json!({ "name": "v", "image": "busybox.tar.gz", "vcpus": 1,
        "memory_mib": 128, "disk_gib": 1 });
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&vm_of_zone_image.to_string())).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("image")),
        "{:?}",
        r.body
    );

    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&create("vm", 1, 128, 1))).await;
    assert_eq!(
        (r.status, &r.body["kind"], &r.body["node_name"]),
        (StatusCode::CREATED, &"vm".into(), &"vms-only".into())
    );
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&zone("z1", None))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((&r.body["kind"], &r.body["node_name"]), (&"zone".into(), &"node-1".into()));
    let id = r.body["id"].as_str().unwrap().to_string();
    app.wait_state(&admin, &id, "stopped").await;
    let listed = app.call("GET", "/api/v1/machines", Some(&admin), None).await;
    let z1 = listed.body.as_array().unwrap().iter().find(|m| m["id"] == id.as_str()).unwrap().clone();
    assert_eq!(z1["kind"], "zone", "the kind survives the node's report");
    assert_eq!(
        (&z1["zone"]["os"], &z1["zone"]["init"], &z1["zone"]["storage"]),
        (&"sim".into(), &"busybox".into(), &"dir".into()),
        "the zone's facts are kept from the node's report: {z1}"
    );
    let vm = listed.body.as_array().unwrap().iter().find(|m| m["kind"] == "vm").unwrap();
    assert!(vm.get("zone").is_none(), "a VM has no zone facts: {vm}");
    assert_eq!(app.sim.machine_get(id.parse().unwrap()).await.unwrap().kind, MachineKind::Zone);

    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&zone("z2", Some(vms_only)))).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{:?}", r.body);
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&zone("z3", None))).await;
    assert_eq!(r.status, StatusCode::CREATED, "node-1 still has room: {:?}", r.body);

    // Where no node runs zones: said on the field, and nothing is recorded.
    let app = TestApp::start_running(vec![MachineKind::Vm]).await;
    let admin = app.login_admin().await;
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&zone("z4", None))).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("kind")),
        "{:?}",
        r.body
    );
    assert!(r.body["message"].as_str().unwrap().contains("no node runs zones"), "{:?}", r.body);
    let listed = app.call("GET", "/api/v1/machines", Some(&admin), None).await;
    assert_eq!(listed.body, serde_json::json!([]));
}

/// A node of 2 CPUs takes eight 1-vCPU machines at the default CPU ratio of 4, stopped ones
/// keeping their share; the ninth is refused, with the ratio named to admins and nothing but
/// the sizes to a tenant. An admin who raises the ratio makes room; nobody else may.
#[tokio::test]
async fn allocation_ratios_decide_a_nodes_room() {
    let host =
        corral_api::bridge::HostFacts { hostname: "small".into(), cpus: 2, memory_mib: 8192, disk_gib: 100 };
    let app = TestApp::start_sized(host).await;
    let admin = app.login_admin().await;
    let (owner, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let small = |name: &str| {
        serde_json::json!({ "name": name, "tenant_id": tenant, "vcpus": 1, "memory_mib": 128, "disk_gib": 1 })
            .to_string()
    };
    for i in 0..8 {
        let r = app.call("POST", "/api/v1/machines", Some(&owner), Some(&small(&format!("m{i}")))).await;
        assert_eq!(r.status, StatusCode::CREATED, "machine {i}: {:?}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        if i < 5 {
            app.wait_state(&owner, &id, "stopped").await;
            app.call("POST", &format!("/api/v1/machines/{id}/start"), Some(&owner), None).await;
        }
    }
    let r = app.call("GET", "/api/v1/nodes", Some(&owner), None).await;
    assert_eq!((&r.body[0]["ratios"]["cpu"], &r.body[0]["usage"]["vcpus"]), (&4.0.into(), &8.into()));

    let r = app.call("POST", "/api/v1/machines", Some(&owner), Some(&small("m8"))).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::INSUFFICIENT_STORAGE, "insufficient_capacity"),
        "{:?}",
        r.body
    );
    assert_eq!(r.body["message"], "no node has room for 1 vCPUs, 128 MiB memory, 1 GiB disk");
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&small("m8"))).await;
    assert_eq!(r.code(), "insufficient_capacity");
    let said = r.body["message"].as_str().unwrap();
    assert!(said.contains("node-1 has only 0 vCPUs free (at 4 per CPU)"), "{said}");

    let node = format!("/api/v1/nodes/{}", app.node_id);
    let r = app.call("PATCH", &node, Some(&owner), Some(r#"{"cpu_ratio": 8}"#)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for (body, field) in [(r#"{"cpu_ratio": 0}"#, "cpu_ratio"), (r#"{"memory_ratio": 4.5}"#, "memory_ratio")]
    {
        let r = app.call("PATCH", &node, Some(&admin), Some(body)).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }
    let r = app.call("PATCH", &node, Some(&admin), Some(r#"{"cpu_ratio": 8}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((&r.body["ratios"]["cpu"], &r.body["ratios"]["memory"]), (&8.0.into(), &1.0.into()));
    let r = app.call("POST", "/api/v1/machines", Some(&owner), Some(&small("m8"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}
