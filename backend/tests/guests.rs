//! What guests are given, through the API against a sim node: users' SSH keys, the data a
//! create hands the node (and what it refuses, keeping nothing), who may read the user
//! data, a change for the next boot, and a clone as a new instance.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use corral::store::audit;
use corral_api::session::Role;
use corral_bridge::driver::Driver;
use serde_json::{Value, json};

const OLIVE_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEDP++AB6YIP5+uvo3/GxR5jU8eMI4ChHm/l8zJPXNDq olive@laptop";
const OLIVE_FINGERPRINT: &str = "SHA256:0NoZMkog07CDEvQUAsX8g6zJJqxgLPyGSFd0IuRhWj8";
const MIA_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMB08kUvaEw0Ed82lFYZQ6vuf++WzKX2Bo4SBOEk4RXX mia@desk";
const SECRET: &str = "hunter2-in-the-user-data";

fn user_data() -> String {
    format!("#cloud-config\nwrite_files:\n  - path: /etc/corral-test\n    content: {SECRET}\n")
}

async fn key(app: &TestApp, cookie: &str, name: &str, public_key: &str) -> common::Resp {
    let body = json!({"name": name, "public_key": public_key}).to_string();
    app.call("POST", "/api/v1/ssh-keys", Some(cookie), Some(&body)).await
}

async fn create(app: &TestApp, cookie: &str, body: Value) -> common::Resp {
    app.call("POST", "/api/v1/machines", Some(cookie), Some(&body.to_string())).await
}

#[tokio::test]
async fn users_keep_their_own_keys() {
    let app = TestApp::start().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (mia, _) = app.user_in_new_tenant("mia", Role::Owner).await;

    let r = key(&app, &olive, "laptop", &format!("  {OLIVE_KEY}\n")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        (r.body["fingerprint"].as_str(), r.body["public_key"].as_str()),
        (Some(OLIVE_FINGERPRINT), Some(OLIVE_KEY))
    );
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(key(&app, &olive, "again", OLIVE_KEY).await.status, StatusCode::CONFLICT, "one key once");

    // In words, on the field.
    for (bad, says) in [
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEDP++AB6YIP5", "cut short"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not a key type"),
    ] {
        let r = key(&app, &olive, "bad", bad).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("public_key")),
            "{bad}"
        );
        assert!(r.body["message"].as_str().unwrap().contains(says), "{bad}: {:?}", r.body);
    }

    // Mia sees none of Olive's and cannot delete them.
    assert_eq!(app.call("GET", "/api/v1/ssh-keys", Some(&mia), None).await.body, json!([]));
    let r = app.call("DELETE", &format!("/api/v1/ssh-keys/{id}"), Some(&mia), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let listed = app.call("GET", "/api/v1/ssh-keys", Some(&olive), None).await.body;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let r = app.call("DELETE", &format!("/api/v1/ssh-keys/{id}"), Some(&olive), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call("GET", "/api/v1/ssh-keys", Some(&olive), None).await.body, json!([]));
}

/// A create hands the node the guest's data; the API shows what was given, the user data
/// only to operators and owners, and never writes it into the audit trail or the task log.
#[tokio::test]
async fn a_guest_gets_its_keys_hostname_and_user_data() {
    let app = TestApp::start().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (viewer, _) = app.user_in(tenant, "vic", Role::Viewer).await;
    let (operator, _) = app.user_in(tenant, "otto", Role::Operator).await;
    let key_id = key(&app, &olive, "laptop", OLIVE_KEY).await.body["id"].as_str().unwrap().to_string();

    let r = create(
        &app,
        &olive,
        json!({"name": "web", "vcpus": 1, "memory_mib": 128, "disk_gib": 1,
               "ssh_key_ids": [key_id], "user_data": user_data(), "hostname": "web.example.org"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id: corral_api::MachineId = r.body["id"].as_str().unwrap().parse().unwrap();
    let on_node = app.sim.machine_get(id).await.unwrap();
    assert_eq!(on_node.init_id, Some(format!("{id}-r1")), "the node wrote the data as its first instance");

    let given = app.call("GET", &format!("/api/v1/machines/{id}/guest"), Some(&viewer), None).await;
    assert_eq!(given.status, StatusCode::OK, "{:?}", given.body);
    assert_eq!(given.body["hostname"], "web.example.org");
    assert_eq!(given.body["ssh_keys"], json!([{"name": "laptop", "fingerprint": OLIVE_FINGERPRINT}]));
    assert_eq!(given.body["user_data"], json!({"kind": "cloud_config", "bytes": user_data().len()}));
    assert!(!given.body.to_string().contains(SECRET), "a viewer learns its size, not its words");

    let path = format!("/api/v1/machines/{id}/user-data");
    assert_eq!(app.call("GET", &path, Some(&viewer), None).await.status, StatusCode::FORBIDDEN);
    let read = app.call("GET", &path, Some(&operator), None).await;
    assert_eq!(read.body["user_data"], user_data(), "{:?}", read.body);

    // The secret is in no audit row and no task.
    let entries = audit::list(&app.state.db, &Default::default(), None).await.unwrap();
    assert!(!entries.is_empty() && !format!("{entries:?}").contains(SECRET));
    let admin = app.login_admin().await;
    let tasks = app.call("GET", "/api/v1/tasks", Some(&admin), None).await.body;
    assert!(!tasks.to_string().contains(SECRET));
    assert!(!format!("{:?}", app.sim.machine_get(id).await.unwrap()).contains(SECRET));
}

/// Bad input is refused in words, on its field, and leaves nothing behind.
#[tokio::test]
async fn bad_guest_data_is_refused_and_nothing_is_kept() {
    let app = TestApp::start().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (mia, _) = app.user_in_new_tenant("mia", Role::Owner).await;
    let mias = key(&app, &mia, "desk", MIA_KEY).await.body["id"].as_str().unwrap().to_string();
    let base = json!({"name": "web", "vcpus": 1, "memory_mib": 128, "disk_gib": 1});
    let with = |field: &str, value: Value| {
        let mut b = base.clone();
        b[field] = value;
        b
    };
    let too_big = format!("#!/bin/sh\n{}", "#".repeat(64 * 1024));
    for (body, field, says) in [
        (with("user_data", json!(too_big)), "user_data", "64 KiB"),
        (with("user_data", json!("#cloud-config\npackages: [htop\n")), "user_data", "not YAML"),
        (with("user_data", json!("#cloud-config\n- a list\n")), "user_data", "mapping"),
        (with("user_data", json!("echo hi")), "user_data", "#cloud-config"),
        (with("hostname", json!("web_1")), "hostname", "letters, digits"),
        (with("ssh_key_ids", json!([mias])), "ssh_key_ids", "no SSH key"),
        (with("network", json!({"address": "192.0.2.10/24"})), "network", "host bridge"),
    ] {
        let r = create(&app, &olive, body.clone()).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {:?}",
            r.body
        );
        assert!(r.body["message"].as_str().unwrap().contains(says), "{field}: {:?}", r.body);
    }
    assert_eq!(app.call("GET", "/api/v1/machines", Some(&olive), None).await.body, json!([]));
    assert!(app.sim.machine_list().await.is_empty(), "the node was never asked");
}

/// New user data is for the next boot: a new revision, so a new instance id on the node; a
/// clone is a new instance of its own.
#[tokio::test]
async fn changed_user_data_and_clones_are_new_instances() {
    let app = TestApp::start().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (operator, _) = app.user_in(tenant, "otto", Role::Operator).await;
    let r = create(
        &app,
        &olive,
        json!({"name": "web", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "user_data": "#!/bin/sh\necho one\n"}),
    )
    .await;
    let id: corral_api::MachineId = r.body["id"].as_str().unwrap().parse().unwrap();
    app.wait_state(&olive, &id.to_string(), "stopped").await;
    let path = format!("/api/v1/machines/{id}/user-data");
    let body = json!({"user_data": "#!/bin/sh\necho two\n"}).to_string();
    assert_eq!(app.call("PUT", &path, Some(&operator), Some(&body)).await.status, StatusCode::FORBIDDEN);
    let r = app.call("PUT", &path, Some(&olive), Some(&body)).await;
    assert_eq!((r.status, &r.body["revision"]), (StatusCode::OK, &json!(2)), "{:?}", r.body);
    assert_eq!(app.sim.machine_get(id).await.unwrap().init_id, Some(format!("{id}-r2")));
    let bad = json!({"user_data": "#cloud-config\n: :\n  - ["}).to_string();
    let r = app.call("PUT", &path, Some(&olive), Some(&bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(app.call("GET", &path, Some(&olive), None).await.body["user_data"], "#!/bin/sh\necho two\n");

    let snap = json!({"name": "s1", "ram": false}).to_string();
    let r = app.call("POST", &format!("/api/v1/machines/{id}/snapshots"), Some(&olive), Some(&snap)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let clone = json!({"name": "web2"}).to_string();
    let r = app
        .call("POST", &format!("/api/v1/machines/{id}/snapshots/s1/clone"), Some(&olive), Some(&clone))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let copy: corral_api::MachineId = r.body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.sim.machine_get(copy).await.unwrap().init_id, Some(format!("{copy}-r1")));
    let given = app.call("GET", &format!("/api/v1/machines/{copy}/guest"), Some(&olive), None).await.body;
    assert_eq!(given["hostname"], "web2", "a hostname that was the source's name becomes the clone's");
    let r = app.call("GET", &format!("/api/v1/machines/{copy}/user-data"), Some(&olive), None).await;
    assert_eq!(r.body["user_data"], "#!/bin/sh\necho two\n");
}
