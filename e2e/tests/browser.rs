//! The journey of a new user in headless Chromium against real processes: log in, see the
//! dashboard, create a machine through the form, watch it change state without reloading,
//! start and stop it, delete it. Screenshots land in e2e/screenshots/.

use std::time::Duration;

use corral_e2e::browser::Browser;
use corral_e2e::{Api, BackendProc, BridgeProc, TinyGuest, root, wait_until};

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

/// On a qemu node: create a machine from the node's image through the form, start it, take
/// a snapshot with RAM, roll back to it and clone it, all from the machine page.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_snapshots_a_real_vm_from_the_machine_page() {
    let frontend = root().join("frontend/dist");
    assert!(frontend.join("index.html").exists(), "build the frontend first (scripts/test.sh does)");
    let image = corral_e2e::tiny_image();
    let dir = tempfile::tempdir().unwrap();
    let bridge = BridgeProc::start_with(dir.path(), "q", &["--driver", "qemu", "--accel", "tcg"]);
    let task = bridge.import_image("tiny.qcow2", &image).await;
    assert_eq!(task.state, corral_api::task::TaskState::Succeeded, "{task:?}");
    let backend = BackendProc::start(&dir.path().join("backend"), &[&bridge], Some(&frontend));
    let b = Browser::start().await;

    b.client.goto(&format!("{}/login", backend.url)).await.unwrap();
    b.find("[data-test=login-username]").await.send_keys("admin").await.unwrap();
    b.find("[data-test=login-password]").await.send_keys(&backend.admin_password).await.unwrap();
    b.find("[data-test=login-submit]").await.click().await.unwrap();
    b.wait_text("[data-test=node-status]", |t| t == "online").await;

    // The images page lists the node's image; an admin imports a copy and watches the task.
    b.client.goto(&format!("{}/images", backend.url)).await.unwrap();
    b.find("[data-test=image-row][data-name='tiny.qcow2']").await;
    b.find("[data-test=import-name]").await.send_keys("copy.qcow2").await.unwrap();
    b.find("[data-test=import-source]").await.send_keys(&image.display().to_string()).await.unwrap();
    b.find("[data-test=import-submit]").await.click().await.unwrap();
    b.wait_text("[data-test=import-task] [data-test=task-state]", |t| t == "succeeded").await;
    b.find("[data-test=image-row][data-name='copy.qcow2']").await;
    b.screenshot("10-image-imported").await;
    b.client.goto(&format!("{}/tasks", backend.url)).await.unwrap();
    b.wait_text("[data-test=task-row][data-target='copy.qcow2'] [data-test=task-state]", |t| {
        t == "succeeded"
    })
    .await;

    b.client.goto(&format!("{}/machines/new", backend.url)).await.unwrap();
    b.wait_text("[data-test=create-image] option", |t| t == "copy.qcow2" || t == "tiny.qcow2").await;
    b.find("[data-test=create-name]").await.send_keys("vm-snap").await.unwrap();
    let memory = b.find("[data-test=create-memory]").await;
    memory.clear().await.unwrap();
    memory.send_keys("128").await.unwrap();
    let disk = b.find("[data-test=create-disk]").await;
    disk.clear().await.unwrap();
    disk.send_keys("1").await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let forwards = b.find("[data-test=create-forwards]").await;
    forwards.send_keys("80:80").await.unwrap();
    b.wait_text("label:has([data-test=create-forwards]) .field-error", |t| t.contains("privileged")).await;
    forwards.clear().await.unwrap();
    forwards.send_keys(&format!("{port}:22")).await.unwrap();
    b.find("[data-test=create-submit]").await.click().await.unwrap();
    b.wait_text("[data-test=state]", |t| t == "stopped").await;
    b.wait_text("[data-test=ports]", |t| t == format!("127.0.0.1:{port} → 22/tcp")).await;
    b.find("[data-test=action-start]").await.click().await.unwrap();
    b.wait_text("[data-test=state]", |t| t == "running").await;
    b.find("[data-test=no-snapshots]").await;

    b.find("[data-test=snapshot-name]").await.send_keys("golden").await.unwrap();
    b.find("[data-test=snapshot-take]").await.click().await.unwrap();
    b.wait_text("[data-test=snapshot-row][data-name=golden]", |t| t.contains("current") && t.contains("RAM"))
        .await;
    // The snapshot ran as a task on the node; the machine page follows it.
    b.wait_text(
        "[data-test=machine-tasks] [data-test=task-row][data-target=golden] [data-test=task-state]",
        |t| t == "succeeded",
    )
    .await;
    b.find("[data-test=snapshot-name]").await.send_keys("later").await.unwrap();
    b.find("[data-test=snapshot-take]").await.click().await.unwrap();
    b.wait_text("[data-test=snapshot-row][data-name=later]", |t| t.contains("current")).await;
    b.screenshot("08-snapshots").await;

    b.find("[data-test=snapshot-row][data-name=golden] [data-test=snapshot-rollback]")
        .await
        .click()
        .await
        .unwrap();
    b.find("[data-test=snapshot-confirm-go]").await.click().await.unwrap();
    b.wait_text("[data-test=snapshot-row][data-name=golden]", |t| t.contains("current")).await;
    b.wait_text("[data-test=state]", |t| t == "running").await;

    b.find("[data-test=snapshot-row][data-name=golden] [data-test=snapshot-clone]")
        .await
        .click()
        .await
        .unwrap();
    b.find("[data-test=snapshot-confirm-go]").await.click().await.unwrap();
    b.wait_text(".banner.ok", |t| t.contains("golden-clone")).await;
    b.screenshot("09-cloned").await;
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    wait_until("the clone in the list", Duration::from_secs(10), || async {
        api.machines().await.iter().any(|m| m.name == "golden-clone")
    })
    .await;

    // Settings: a taken name is refused with the server's words; a free one is taken.
    let name = b.find("[data-test=settings-name]").await;
    name.clear().await.unwrap();
    name.send_keys("golden-clone").await.unwrap();
    b.find("[data-test=settings-save]").await.click().await.unwrap();
    b.wait_text("[data-test=settings] [data-test=error]", |t| t.contains("already has a machine named"))
        .await;
    name.clear().await.unwrap();
    name.send_keys("vm-renamed").await.unwrap();
    b.find("[data-test=settings-save]").await.click().await.unwrap();
    b.wait_text("[data-test=machine-name]", |t| t == "vm-renamed").await;
    b.close().await;
}

/// An admin adds a node over SSH from the dashboard: installs the backend's key, fetches and
/// checks the node's host key, trusts it; later the node's key changes and the card says so
/// until the admin trusts the new one.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_a_node_over_ssh_and_trusts_its_changed_key() {
    use corral_e2e::sshd::{SshdProc, ssh_user};
    let frontend = root().join("frontend/dist");
    let dir = tempfile::tempdir().unwrap();
    let backend = BackendProc::start(&dir.path().join("backend"), &[], Some(&frontend));
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    let key: corral_api::node::SshPublicKey = api.get("/api/v1/ssh-key").await;
    let bridge = BridgeProc::start(dir.path(), "remote");
    let mut sshd = SshdProc::start(&dir.path().join("sshd"), &key.public_key);
    let b = Browser::start().await;

    b.client.goto(&backend.url).await.unwrap();
    b.find("[data-test=login-username]").await.send_keys("admin").await.unwrap();
    b.find("[data-test=login-password]").await.send_keys(&backend.admin_password).await.unwrap();
    b.find("[data-test=login-submit]").await.click().await.unwrap();
    b.find("[data-test=add-node]").await.click().await.unwrap();
    b.wait_text("[data-test=ssh-public-key]", |t| t.trim() == key.public_key).await;
    for (field, value) in [
        ("node-name", "remote".to_string()),
        ("node-host", "127.0.0.1".to_string()),
        ("node-user", ssh_user()),
        ("node-socket", bridge.socket.display().to_string()),
    ] {
        let input = b.find(&format!("[data-test={field}]")).await;
        input.clear().await.unwrap();
        input.send_keys(&value).await.unwrap();
    }
    let port = b.find("[data-test=node-port]").await;
    port.clear().await.unwrap();
    port.send_keys(&sshd.port.to_string()).await.unwrap();
    b.find("[data-test=node-fetch-key]").await.click().await.unwrap();
    let fingerprint = sshd.host_key_fingerprint();
    b.wait_text("[data-test=node-key-shown]", |t| t.contains(&fingerprint)).await;
    b.screenshot("20-add-node").await;
    b.find("[data-test=node-enroll]").await.click().await.unwrap();
    b.wait_text("[data-test=node-status]", |t| t == "online").await;
    b.screenshot("21-node-added").await;

    sshd.stop();
    sshd.new_host_key();
    let fresh = sshd.host_key_fingerprint();
    sshd.restart();
    b.wait_text("[data-test=node-status]", |t| t == "key mismatch").await;
    b.wait_text("[data-test=node-key-mismatch]", |t| t.contains(&fresh)).await;
    b.screenshot("22-key-mismatch").await;
    b.find("[data-test=node-trust-key]").await.click().await.unwrap();
    b.wait_text("[data-test=node-status]", |t| t == "online").await;
    b.close().await;
}

/// How many pixels of the noVNC canvas are not black.
async fn canvas_lit(b: &Browser) -> u64 {
    let v = b
        .client
        .execute(
            "const c = document.querySelector('[data-test=vnc-screen] canvas');
             if (!c || !c.width) return 0;
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let lit = 0;
             for (let i = 0; i < d.length; i += 4) {
               if (d[i] | d[i + 1] | d[i + 2]) lit++;
             }
             return lit;",
            vec![],
        )
        .await
        .unwrap();
    v.as_u64().unwrap_or(0)
}

/// The text xterm.js shows.
async fn terminal_text(b: &Browser) -> String {
    let v = b
        .client
        .execute("const r = document.querySelector('[data-test=serial-screen] .xterm-rows'); return r ? r.innerText : '';", vec![])
        .await
        .unwrap();
    v.as_str().unwrap_or_default().to_string()
}

async fn wait_terminal(b: &Browser, needle: &str) {
    let start = std::time::Instant::now();
    loop {
        let text = terminal_text(b).await;
        if text.contains(needle) {
            return;
        }
        if start.elapsed() > Duration::from_secs(60) {
            b.screenshot("failure").await;
            panic!("the terminal never showed {needle:?}; it shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A user opens the screen of a real TCG guest (the canvas shows it, and a command typed into
/// it as keystrokes runs), then its serial line (types a command, sees the output;
/// after a reload the history is replayed).
#[tokio::test(flavor = "multi_thread")]
async fn a_user_watches_the_screen_and_types_on_the_serial_line_of_a_real_vm() {
    let frontend = root().join("frontend/dist");
    let guest = TinyGuest::start("screen", Some(&frontend)).await;
    let (backend, id) = (&guest.backend, guest.machine);
    let b = Browser::start().await;
    b.login(&backend.url, "admin", &backend.admin_password).await;
    b.client.goto(&format!("{}/machines/{id}", backend.url)).await.unwrap();
    b.wait_text("[data-test=state]", |t| t == "running").await;

    // The screen: noVNC connects, and the guest's text console lights the canvas up.
    b.find("[data-test=console-open-vnc]").await.click().await.unwrap();
    b.wait_text("[data-test=console-link]", |t| t == "connected").await;
    wait_until("the guest's text console on the canvas", Duration::from_secs(60), || async {
        canvas_lit(&b).await > 2000
    })
    .await;
    // Text typed as keystrokes runs in the shell on the guest's screen (tty1), which writes
    // its answer to the serial line: "vnc-42" shows up there only if every key arrived, with
    // Shift where the text needs it (`$`, `(`, `*`, `)`, `>`). A blinking cursor proves nothing.
    b.find("[data-test=vnc-text]").await.send_keys("echo vnc-$((6*7)) > /dev/ttyS0").await.unwrap();
    b.find("[data-test=vnc-type]").await.click().await.unwrap();
    b.find("[data-test=vnc-type-enter]").await.click().await.unwrap();
    b.screenshot("30-vnc-console").await;

    // The serial line: the boot log is there, a command typed in the terminal runs.
    b.find("[data-test=console-open-serial]").await.click().await.unwrap();
    b.wait_text("[data-test=console-link]", |t| t == "connected").await;
    wait_terminal(&b, "corral-tiny: ready").await;
    wait_terminal(&b, "vnc-42").await;
    b.find("[data-test=serial-screen] .xterm-helper-textarea")
        .await
        .send_keys("echo serial-$((6*7))\n")
        .await
        .unwrap();
    wait_terminal(&b, "serial-42").await;
    b.screenshot("31-serial-console").await;

    // A reload starts from nothing in the page: the node's history brings it all back.
    b.client.refresh().await.unwrap();
    b.find("[data-test=console-open-serial]").await.click().await.unwrap();
    b.wait_text("[data-test=console-link]", |t| t == "connected").await;
    wait_terminal(&b, "serial-42").await;

    // The pop-out page is the console alone; a second screen viewer shares it.
    b.client.goto(&format!("{}/machines/{id}/console/vnc", backend.url)).await.unwrap();
    b.wait_text("[data-test=console-link]", |t| t == "connected").await;
    b.find("[data-test=vnc-screen] canvas").await;
    b.close().await;
}

/// An admin works through the admin panel: a tenant with a quota, an owner made into it
/// (password shown once), users listed and one disabled, the audit log of it all, and an
/// API token created and revoked from the account page.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_runs_tenants_users_quotas_tokens_and_audit_from_the_panel() {
    let frontend = root().join("frontend/dist");
    let dir = tempfile::tempdir().unwrap();
    let bridge = BridgeProc::start(dir.path(), "local");
    let backend = BackendProc::start(&dir.path().join("backend"), &[&bridge], Some(&frontend));
    let b = Browser::start().await;
    b.login(&backend.url, "admin", &backend.admin_password).await;

    b.find("[data-test=nav-admin]").await.click().await.unwrap();
    b.find("[data-test=tenant-name]").await.send_keys("acme").await.unwrap();
    b.find("[data-test=tenant-create]").await.click().await.unwrap();
    b.find("[data-test=tenant-card][data-name=acme] a").await.click().await.unwrap();
    b.find("[data-test=quota-vcpus]").await.send_keys("8").await.unwrap();
    b.find("[data-test=quota-machines]").await.send_keys("4").await.unwrap();
    b.find("[data-test=quota-save]").await.click().await.unwrap();
    b.wait_text("[data-test=quota-table]", |t| t.contains("vCPUs 0 8") && t.contains("Machines 0 4")).await;
    b.find("[data-test=member-new-name]").await.send_keys("olga").await.unwrap();
    b.find("[data-test=member-new-role]").await.send_keys("owner").await.unwrap();
    b.find("[data-test=member-add]").await.click().await.unwrap();
    b.wait_text("[data-test=new-user-password]", |t| t.contains("olga: ")).await;
    b.find("[data-test=member-row][data-name=olga]").await;
    b.screenshot("40-admin-tenant").await;

    b.client.goto(&format!("{}/admin/users", backend.url)).await.unwrap();
    b.find("[data-test=user-row][data-name=olga] [data-test=user-toggle]").await.click().await.unwrap();
    b.wait_text("[data-test=user-row][data-name=olga] [data-test=user-state]", |t| t == "disabled").await;
    b.screenshot("41-admin-users").await;

    b.client.goto(&format!("{}/admin/audit", backend.url)).await.unwrap();
    b.find("[data-test=audit-row][data-action='tenant.create']").await;
    b.find("[data-test=audit-row][data-action='user.create']").await;
    b.find("[data-test=audit-row][data-action='user.update']").await;
    b.screenshot("42-admin-audit").await;

    b.client.goto(&format!("{}/account", backend.url)).await.unwrap();
    b.find("[data-test=token-name]").await.send_keys("backup-script").await.unwrap();
    b.find("[data-test=token-create]").await.click().await.unwrap();
    let secret = b.wait_text("[data-test=token-secret]", |t| t.starts_with("corral_")).await;
    let api = reqwest::Client::new();
    let r =
        api.get(format!("{}/api/v1/machines", backend.url)).bearer_auth(secret.trim()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "the token works");
    b.find("[data-test=token-row][data-name=backup-script] [data-test=token-revoke]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_gone("[data-test=token-row][data-name=backup-script]").await;
    let r =
        api.get(format!("{}/api/v1/machines", backend.url)).bearer_auth(secret.trim()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "revoked");
    b.close().await;
}
