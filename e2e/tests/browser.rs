//! The journey of a new user in headless Chromium against real processes: log in, see the
//! dashboard, create a machine through the form, watch it change state without reloading,
//! start and stop it, delete it. Screenshots land in e2e/screenshots/.

use std::time::Duration;

use corral_e2e::browser::Browser;
use corral_e2e::{Api, BackendProc, BridgeProc, root, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn a_new_user_creates_runs_stops_and_deletes_a_machine() {
    let frontend = root().join("frontend/dist");
    assert!(frontend.join("index.html").exists(), "build the frontend first (scripts/test.sh does)");
    let dir = tempfile::tempdir().unwrap();
    let bridge = BridgeProc::start(dir.path(), "local");
    let backend = BackendProc::start(&dir.path().join("backend"), &[&bridge], Some(&frontend));
    let b = Browser::start().await;

    // Logging in with a wrong password says so and stays on the page.
    b.client.goto(&format!("{}/machines", backend.url)).await.unwrap();
    b.find("[data-test=login-username]").await.send_keys("admin").await.unwrap();
    b.find("[data-test=login-password]").await.send_keys("wrong").await.unwrap();
    b.find("[data-test=login-submit]").await.click().await.unwrap();
    b.wait_text("[data-test=error]", |t| t.contains("wrong username or password")).await;
    b.screenshot("01-login-failed").await;

    b.find("[data-test=login-password]").await.send_keys(&backend.admin_password).await.unwrap();
    b.find("[data-test=login-submit]").await.click().await.unwrap();
    b.wait_text("[data-test=current-user]", |t| t == "admin").await;
    b.wait_text("[data-test=node-status]", |t| t == "online").await;
    b.wait_text("[data-test=link-state]", |t| t == "live").await;
    b.screenshot("02-dashboard").await;

    // The form checks names as the server does, before anything is sent.
    b.client.goto(&format!("{}/machines", backend.url)).await.unwrap();
    b.find("[data-test=new-machine]").await.click().await.unwrap();
    let name = b.find("[data-test=create-name]").await;
    name.send_keys("Bad Name").await.unwrap();
    b.wait_text(".field-error", |t| t.contains("lowercase")).await;
    name.clear().await.unwrap();
    name.send_keys("e2e-web").await.unwrap();
    b.screenshot("03-create-form").await;
    b.find("[data-test=create-submit]").await.click().await.unwrap();

    // The detail page follows the machine from creating to stopped with no reload.
    b.wait_text("[data-test=machine-name]", |t| t == "e2e-web").await;
    b.wait_text("[data-test=state]", |t| t == "stopped").await;
    b.find("[data-test=action-start]").await.click().await.unwrap();
    b.wait_text("[data-test=state]", |t| t == "running").await;
    b.screenshot("04-running").await;

    // The list shows a machine created elsewhere (here: through the API) without a reload.
    b.client.goto(&format!("{}/machines", backend.url)).await.unwrap();
    b.find("[data-test=machine-row][data-name=e2e-web]").await;
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    let r = api
        .send(
            "POST",
            "/api/v1/machines",
            Some(serde_json::json!({"name": "from-api", "vcpus": 1, "memory_mib": 128, "disk_gib": 1})),
        )
        .await;
    assert_eq!(r.status, 201);
    b.wait_text("[data-test=machine-row][data-name=from-api] [data-test=state]", |t| t == "stopped").await;
    b.screenshot("05-list-live").await;

    // Stop, then delete with confirmation.
    b.find("[data-test=machine-row][data-name=e2e-web] a").await.click().await.unwrap();
    b.wait_text("[data-test=state]", |t| t == "running").await;
    b.find("[data-test=action-stop]").await.click().await.unwrap();
    b.wait_text("[data-test=state]", |t| t == "stopped").await;
    b.find("[data-test=action-delete]").await.click().await.unwrap();
    b.find("[data-test=confirm-delete]").await;
    b.screenshot("06-confirm-delete").await;
    b.find("[data-test=confirm-delete]").await.click().await.unwrap();
    b.find("[data-test=machine-table]").await;
    b.wait_gone("[data-test=machine-row][data-name=e2e-web]").await;
    wait_until("e2e-web gone from the node", Duration::from_secs(10), || async {
        bridge.client().machine_list().await.unwrap().iter().all(|m| m.name != "e2e-web")
    })
    .await;
    b.screenshot("07-deleted").await;
    b.close().await;
}
