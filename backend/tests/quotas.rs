//! Tenant quotas: admins set them, members see use beside limits, a create that would break
//! one is refused saying which and by how much, and ten racing creates never overshoot.

mod common;

use common::TestApp;
use corral_api::session::Role;
use corral_bridge::driver::Driver;
use hyper::StatusCode;

/// The answer is a 403 refusal naming `field` as the quota it would break.
fn assert_over_quota(r: &common::Resp, field: &str) {
    assert_eq!((r.status, r.body["field"].as_str()), (StatusCode::FORBIDDEN, Some(field)), "{:?}", r.body);
}

fn vm(name: &str, vcpus: u32) -> String {
    serde_json::json!({"name": name, "vcpus": vcpus, "memory_mib": 128, "disk_gib": 1}).to_string()
}

#[tokio::test]
async fn a_create_beyond_the_quota_says_which_limit_and_by_how_much() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let quota = format!("/api/v1/tenants/{tenant}/quota");
    let r = app.call("PUT", &quota, Some(&olive), Some(r#"{"vcpus":4}"#)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "owners do not set their own quota");
    let r = app.call("PUT", &quota, Some(&admin), Some(r#"{"vcpus":4,"disk_gib":10}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    for (name, vcpus) in [("a", 2), ("b", 1)] {
        let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&vm(name, vcpus))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&vm("c", 2))).await;
    assert_eq!(
        (r.status, r.code(), r.body["field"].as_str()),
        (StatusCode::FORBIDDEN, "quota_exceeded", Some("vcpus"))
    );
    let msg = r.body["message"].as_str().unwrap();
    assert!(
        msg.contains("quota is 4 vCPUs") && msg.contains("3 are in use") && msg.contains("by 1"),
        "{msg}"
    );

    let r = app.call("GET", &quota, Some(&olive), None).await;
    assert_eq!((r.body["used"]["vcpus"].as_u64(), r.body["limits"]["vcpus"].as_u64()), (Some(3), Some(4)));
    assert_eq!(r.body["used"]["machines"], 2);

    // Growing a disk counts too.
    let id = app.call("GET", "/api/v1/machines", Some(&olive), None).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.wait_state(&olive, &id, "stopped").await;
    let r =
        app.call("PATCH", &format!("/api/v1/machines/{id}"), Some(&olive), Some(r#"{"disk_gib":20}"#)).await;
    assert_over_quota(&r, "disk_gib");
    let (stranger, _) = app.user_in_new_tenant("sam", Role::Owner).await;
    assert_eq!(app.call("GET", &quota, Some(&stranger), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ten_racing_creates_never_overshoot() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let r = app
        .call("PUT", &format!("/api/v1/tenants/{tenant}/quota"), Some(&admin), Some(r#"{"machines":3}"#))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let bodies: Vec<String> = (0..10).map(|i| vm(&format!("race-{i}"), 1)).collect();
    let results = futures::future::join_all(
        bodies.iter().map(|b| app.call("POST", "/api/v1/machines", Some(&olive), Some(b))),
    )
    .await;
    let made = results.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused =
        results.iter().filter(|r| r.status == StatusCode::FORBIDDEN && r.code() == "quota_exceeded").count();
    assert_eq!((made, refused), (3, 7), "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(app.sim.machine_list().await.len(), 3, "the node has exactly the quota");
}

/// Memory counts as vCPUs do, a clone is admitted as a create is (it needs its source's
/// room), and whatever is refused never reaches the node.
#[tokio::test]
async fn memory_and_clones_count_and_refusals_leave_the_node_untouched() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let quota = format!("/api/v1/tenants/{tenant}/quota");
    let r = app.call("PUT", &quota, Some(&admin), Some(r#"{"memory_mib":384,"disk_gib":10}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let on_node = || async {
        let mut ms: Vec<(String, u64)> =
            app.sim.machine_list().await.into_iter().map(|m| (m.name, m.disk_gib)).collect();
        ms.sort();
        ms
    };
    let vm = |name: &str| {
        serde_json::json!({"name": name, "vcpus": 1, "memory_mib": 256, "disk_gib": 1}).to_string()
    };

    let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&vm("a"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    app.wait_state(&olive, &id, "stopped").await;
    let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&vm("b"))).await;
    assert_over_quota(&r, "memory_mib");

    // A clone of a 256 MiB machine needs 256 MiB more.
    let snaps = format!("/api/v1/machines/{id}/snapshots");
    let r = app.call("POST", &snaps, Some(&olive), Some(r#"{"name":"s1"}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let clone = format!("{snaps}/s1/clone");
    let r = app.call("POST", &clone, Some(&olive), Some(r#"{"name":"a-copy"}"#)).await;
    assert_over_quota(&r, "memory_mib");

    // A disk grown past the quota is refused before the node hears of it.
    let r =
        app.call("PATCH", &format!("/api/v1/machines/{id}"), Some(&olive), Some(r#"{"disk_gib":20}"#)).await;
    assert_over_quota(&r, "disk_gib");
    assert_eq!(on_node().await, [("a".to_string(), 1)], "nothing refused reached the node");
    let r = app.call("GET", "/api/v1/machines", Some(&olive), None).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "and nothing is listed: {:?}", r.body);

    // With room, the same clone is made.
    let r = app.call("PUT", &quota, Some(&admin), Some(r#"{"memory_mib":512,"disk_gib":10}"#)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.call("POST", &clone, Some(&olive), Some(r#"{"name":"a-copy"}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(on_node().await, [("a".to_string(), 1), ("a-copy".to_string(), 1)]);
}

#[tokio::test]
async fn snapshots_count_across_machines_and_other_limits_do_not_block_them() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let quota = format!("/api/v1/tenants/{tenant}/quota");
    let r = app.call("PUT", &quota, Some(&admin), Some(r#"{"vcpus":2,"snapshots":2}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Two 1-vCPU machines fill the vCPU quota exactly, which is allowed.
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&vm(name, 1))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        app.wait_state(&olive, id, "stopped").await;
    }
    // An admin lowers the vCPU quota below what is in use: a snapshot asks for no vCPUs, so
    // that breach does not block it.
    let r = app.call("PUT", &quota, Some(&admin), Some(r#"{"vcpus":1,"snapshots":2}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let snapshot = |id: &str, name: &str| {
        let (path, body) = (format!("/api/v1/machines/{id}/snapshots"), format!(r#"{{"name":"{name}"}}"#));
        let olive = olive.clone();
        let app = &app;
        async move { app.call("POST", &path, Some(&olive), Some(&body)).await }
    };
    // One snapshot on each machine fills the snapshot quota exactly; the count is over the
    // tenant's machines, not one machine's.
    for id in &ids {
        let r = snapshot(id, "s1").await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let r = snapshot(&ids[0], "s2").await;
    assert_over_quota(&r, "snapshots");
    let msg = r.body["message"].as_str().unwrap();
    assert!(msg.contains("quota is 2 snapshots") && msg.contains("2 are in use"), "{msg}");
    let r = app.call("GET", &quota, Some(&olive), None).await;
    assert_eq!(r.body["used"]["snapshots"], 2, "{:?}", r.body);

    // Deleting one makes room again.
    let r =
        app.call("DELETE", &format!("/api/v1/machines/{}/snapshots/s1", ids[1]), Some(&olive), None).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = snapshot(&ids[0], "s2").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

/// Zones count against a tenant's quota as VMs do, and a refused zone leaves the node alone.
#[tokio::test]
async fn zones_count_against_the_quota_with_vms() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    app.import_zone_image().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let quota = format!("/api/v1/tenants/{tenant}/quota");
    let r = app.call("PUT", &quota, Some(&admin), Some(r#"{"vcpus":3,"machines":5}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let zone = |name: &str, vcpus: u32| {
        serde_json::json!({"name": name, "kind": "zone", "image": "busybox.tar.gz", "vcpus": vcpus,
            "memory_mib": 128, "disk_gib": 1})
        .to_string()
    };
    let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&vm("a-vm", 2))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&zone("a-zone", 1))).await;
    assert_eq!((r.status, r.body["kind"].as_str()), (StatusCode::CREATED, Some("zone")), "{:?}", r.body);
    let on_node = app.sim.machine_list().await.len();
    let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&zone("b-zone", 1))).await;
    assert_over_quota(&r, "vcpus");
    assert!(r.body["message"].as_str().unwrap().contains("3 are in use"), "{:?}", r.body);
    assert_eq!(app.sim.machine_list().await.len(), on_node, "the refused zone reached the node");
    let r = app.call("GET", &quota, Some(&olive), None).await;
    assert_eq!((r.body["used"]["vcpus"].as_u64(), r.body["used"]["machines"].as_u64()), (Some(3), Some(2)));
}

/// Hardware grown on the hardware tab is admitted as a create is: against the tenant's quota,
/// then the node's room (explained to admins only); a VM's only while stopped, a zone's
/// limits live. Nothing refused reaches the node.
#[tokio::test]
async fn hardware_changes_count_against_the_quota_and_the_node() {
    let host =
        corral_api::bridge::HostFacts { hostname: "sim".into(), cpus: 8, memory_mib: 2048, disk_gib: 100 };
    let app = TestApp::start_sized(host).await;
    let admin = app.login_admin().await;
    app.import_zone_image().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let quota = format!("/api/v1/tenants/{tenant}/quota");
    let r = app.call("PUT", &quota, Some(&admin), Some(r#"{"vcpus":2,"memory_mib":512}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let id = app.machine(&olive, "a").await;
    let path = format!("/api/v1/machines/{id}");
    let on_node = || async {
        let m = app.sim.machine_list().await.into_iter().next().unwrap();
        (m.vcpus, m.memory_mib)
    };

    let r = app.call("PATCH", &path, Some(&olive), Some(r#"{"vcpus":3}"#)).await;
    assert_over_quota(&r, "vcpus");
    let r = app.call("PATCH", &path, Some(&olive), Some(r#"{"memory_mib":640}"#)).await;
    assert_over_quota(&r, "memory_mib");
    assert_eq!(on_node().await, (1, 128), "nothing refused reached the node");
    let r = app.call("PATCH", &path, Some(&olive), Some(r#"{"vcpus":2,"memory_mib":512}"#)).await;
    assert_eq!(
        (r.status, r.body["vcpus"].as_u64(), r.body["memory_mib"].as_u64()),
        (StatusCode::OK, Some(2), Some(512))
    );
    assert_eq!(on_node().await, (2, 512));
    let r = app.call("GET", &quota, Some(&olive), None).await;
    assert_eq!(
        (r.body["used"]["vcpus"].as_u64(), r.body["used"]["memory_mib"].as_u64()),
        (Some(2), Some(512))
    );
    // Shrinking frees quota and needs no room.
    let r = app.call("PATCH", &path, Some(&olive), Some(r#"{"memory_mib":256}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Beyond the node: the tenant hears the node is full, the admin what it lacks.
    let r = app.call("PUT", &quota, Some(&admin), Some(r#"{}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.call("PATCH", &path, Some(&olive), Some(r#"{"memory_mib":4096}"#)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::INSUFFICIENT_STORAGE, "insufficient_capacity"),
        "{:?}",
        r.body
    );
    let said = r.body["message"].as_str().unwrap();
    assert!(said.contains("its node has no room") && !said.contains("free"), "{said}");
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"memory_mib":4096}"#)).await;
    let said = r.body["message"].as_str().unwrap();
    assert!(said.contains("MiB memory free"), "{said}");
    assert_eq!(on_node().await, (2, 256));

    // A running VM keeps its hardware until stopped; a running zone's limits change live.
    let r = app.call("POST", &format!("{path}/start"), Some(&olive), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    app.wait_state(&olive, &id, "running").await;
    let r = app.call("PATCH", &path, Some(&olive), Some(r#"{"vcpus":1}"#)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("stop it"), "{:?}", r.body);
    let zone = serde_json::json!({"name": "z", "kind": "zone", "image": "busybox.tar.gz", "vcpus": 1,
        "memory_mib": 128, "disk_gib": 1});
    let r = app.call("PUT", &quota, Some(&admin), Some(r#"{"vcpus":4}"#)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&zone.to_string())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let zid = r.body["id"].as_str().unwrap().to_string();
    app.wait_state(&olive, &zid, "stopped").await;
    let r = app.call("POST", &format!("/api/v1/machines/{zid}/start"), Some(&olive), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    app.wait_state(&olive, &zid, "running").await;
    let r = app.call("PATCH", &format!("/api/v1/machines/{zid}"), Some(&olive), Some(r#"{"vcpus":2}"#)).await;
    assert_eq!((r.status, r.body["vcpus"].as_u64()), (StatusCode::OK, Some(2)), "{:?}", r.body);
    let r = app.call("PATCH", &format!("/api/v1/machines/{zid}"), Some(&olive), Some(r#"{"vcpus":3}"#)).await;
    assert_over_quota(&r, "vcpus");
}
