//! A real cloud guest made the way a new user would: in headless Chromium, a tenant's owner
//! keeps their SSH key on the account page, makes a VM from the Debian image
//! (`scripts/build-debian-image.sh`) with that key, user data and a port forward, and starts
//! it; under TCG it boots, cloud-init reads the seed, and the test logs in over SSH through
//! the forward with the key, then finds its hostname and the file the user data wrote. One
//! guest, one boot (it takes minutes under TCG).
//!
//! Needs the Debian image: `scripts/test.sh` builds it (once per machine) and sets
//! `CORRAL_DEBIAN_IMAGE`.

use std::time::{Duration, Instant};

use corral_e2e::browser::{Browser, select as sel};
use corral_e2e::cloud::{WRITTEN, debian_image, keypair, user_data, wait_for_login};
use corral_e2e::{Api, BackendProc, BridgeProc, frontend_dist, wait_until};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_new_user_makes_a_debian_guest_in_the_page_and_logs_in_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = BridgeProc::start_with(dir.path(), "deb", &["--driver", "qemu", "--accel", "tcg"]);
    bridge.import_image("debian-12.qcow2", &debian_image()).await;
    let backend = BackendProc::start(&dir.path().join("backend"), &[&bridge], Some(&frontend_dist()));
    let base = backend.url.as_str();
    let admin = Api::login(base, "admin", &backend.admin_password).await;
    let tenant = admin.send("POST", "/api/v1/tenants", Some(json!({"name": "lab"}))).await;
    assert_eq!(tenant.status, 201, "{:?}", tenant.body);
    let dana = json!({"username": "dana", "tenant_id": tenant.body["id"], "role": "owner"});
    let dana = admin.send("POST", "/api/v1/users", Some(dana)).await;
    assert_eq!(dana.status, 201, "{:?}", dana.body);
    let password = dana.body["password"].as_str().unwrap().to_string();
    wait_until("the node's image", Duration::from_secs(30), || async {
        admin.send("GET", "/api/v1/images", None).await.body.as_array().is_some_and(|a| !a.is_empty())
    })
    .await;

    let b = Browser::start().await;
    b.login(base, "dana", &password).await;
    let (key, public) = keypair(dir.path());
    b.open(base, "/account").await;
    b.fill(sel::SSH_KEY_NAME, "laptop").await;
    b.fill(sel::SSH_KEY_TEXT, &public).await;
    b.click(sel::SSH_KEY_ADD).await;
    b.wait_text(sel::SSH_KEY_FINGERPRINT, |t| t.starts_with("SHA256:")).await;

    b.open(base, "/machines/new").await;
    b.wait_text(sel::CREATE_IMAGE_OPTION, |t| t == "debian-12.qcow2").await;
    b.fill(sel::CREATE_NAME, "deb").await;
    b.fill(sel::CREATE_VCPUS, "2").await;
    b.fill(sel::CREATE_MEMORY, "1024").await;
    b.fill(sel::CREATE_DISK, "4").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    b.fill(sel::CREATE_FORWARDS, &format!("{port}:22")).await;
    b.click(&sel::create_key("laptop")).await;
    b.fill(sel::CREATE_USER_DATA, &user_data()).await;
    b.screenshot("cloud-01-create").await;
    let started = Instant::now();
    b.click(sel::CREATE_SUBMIT).await;
    b.wait_text(sel::MACHINE_NAME, |t| t == "deb").await;
    b.state_is("stopped").await;
    b.wait_text(sel::GUEST_KEYS, |t| t.starts_with("laptop (SHA256:")).await;
    b.click(sel::START).await;
    b.state_is("running").await;

    let login = wait_for_login(&key, port, started, Duration::from_secs(360)).await;
    assert_eq!(login.hostname, "deb", "the hostname from meta-data: the machine's name");
    assert_eq!(login.written, WRITTEN.1, "the file the user data wrote");
    eprintln!(
        "debian guest: create to SSH login {:.0} s under tcg; cloud-init {:?} s",
        login.create_to_login.as_secs_f64(),
        login.cloud_init_secs
    );
    b.close().await;
    let machines = admin.machines().await;
    let id = machines.iter().find(|m| m.name == "deb").map(|m| m.id).unwrap();
    let _ = admin.send("POST", &format!("/api/v1/machines/{id}/force-stop"), None).await;
}
