//! The Debian cloud guest's journey, shared by its e2e test and `corral-bench`: through the
//! backend as a user would, an SSH key is kept, a VM is made from the Debian image
//! (`scripts/build-debian-image.sh`) with that key, user data that writes a file, and a port
//! forward to its SSH server; it is started, and the journey logs in over SSH with the key.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Api, BackendProc, BridgeProc, root, wait_until};

/// The Debian cloud image (`CORRAL_DEBIAN_IMAGE` may point elsewhere).
pub fn debian_image() -> PathBuf {
    let path = std::env::var_os("CORRAL_DEBIAN_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".corral/images/debian-12.qcow2"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-debian-image.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// What the journey found, and how long it took.
pub struct Login {
    /// From the create request to the first command run over SSH.
    pub create_to_login: Duration,
    /// What cloud-init says its stages took (`cloud-init analyze show`), in seconds.
    pub cloud_init_secs: Option<f64>,
    pub hostname: String,
    /// The file the user data wrote.
    pub written: String,
    pub accel: String,
}

/// The file the user data writes, and what it holds.
pub const WRITTEN: (&str, &str) = ("/etc/corral-e2e", "made-by-user-data");

/// Makes a key pair in `dir` with ssh-keygen; the private key's path and the public line.
pub fn keypair(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("id_ed25519");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "e2e@corral", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_string())
}

/// Runs `command` on the guest over SSH as `debian` (the image's default user).
pub async fn ssh(key: &Path, port: u16, command: &str) -> Result<String, String> {
    let out = tokio::process::Command::new("ssh")
        .args(["-i"])
        .arg(key)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            "-p",
            &port.to_string(),
            "debian@127.0.0.1",
            command,
        ])
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(60), out).await {
        Ok(Ok(o)) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(Ok(o)) => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("ssh took over a minute".into()),
    }
}

/// The journey, on a qemu bridge (`accel`: `tcg` or `kvm`) and backend of its own in `dir`;
/// waits up to `patience` for the login.
pub async fn debian_login(dir: &Path, accel: &str, patience: Duration) -> Login {
    std::fs::create_dir_all(dir).expect("the journey's folder");
    let bridge = BridgeProc::start_with(dir, "deb", &["--driver", "qemu", "--accel", accel]);
    bridge.import_image("debian-12.qcow2", &debian_image()).await;
    let backend = BackendProc::start(&dir.join("backend"), &[&bridge], None);
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    wait_until("the node's image", Duration::from_secs(30), || async {
        api.send("GET", "/api/v1/images", None).await.body.as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let (key, public) = keypair(dir);
    let made = api
        .send("POST", "/api/v1/ssh-keys", Some(serde_json::json!({"name": "e2e", "public_key": public})))
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let user_data = user_data();
    let body = serde_json::json!({
        "name": "deb", "vcpus": 2, "memory_mib": 1024, "disk_gib": 4, "image": "debian-12.qcow2",
        "port_forwards": [{"protocol": "tcp", "host_port": port, "guest_port": 22}],
        "ssh_key_ids": [made.body["id"]], "user_data": user_data,
    });
    let started = Instant::now();
    let r = api.send("POST", "/api/v1/machines", Some(body)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = api.send("POST", &format!("/api/v1/machines/{id}/start"), None).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let seen = wait_for_login(&key, port, started, patience).await;
    let _ = api.send("POST", &format!("/api/v1/machines/{id}/force-stop"), None).await;
    Login { accel: accel.to_string(), ..seen }
}

/// Tries to log in to the guest behind `port` with `key` until it lets us in (or `patience`
/// after `started` runs out), then reads what cloud-init left: the hostname, the file the
/// user data wrote, and cloud-init's own account of its time. `accel` is left empty.
pub async fn wait_for_login(key: &Path, port: u16, started: Instant, patience: Duration) -> Login {
    let path = WRITTEN.0;
    let answer = loop {
        let said = match ssh(key, port, &format!("hostname; cat {path}")).await {
            Ok(out) => break out,
            Err(e) => e,
        };
        assert!(started.elapsed() < patience, "no SSH login within {patience:?}; ssh said: {said}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let create_to_login = started.elapsed();
    let mut lines = answer.lines();
    let hostname = lines.next().unwrap_or_default().to_string();
    let written = lines.next().unwrap_or_default().to_string();
    let analyzed = ssh(key, port, "cloud-init status --wait >/dev/null; cloud-init analyze show").await;
    let cloud_init_secs = analyzed.ok().and_then(|text| {
        text.lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("Total Time: ")?.split_whitespace().next()?.parse().ok())
    });
    Login { create_to_login, cloud_init_secs, hostname, written, accel: String::new() }
}

/// User data that writes [`WRITTEN`].
pub fn user_data() -> String {
    let (path, content) = WRITTEN;
    format!("#cloud-config\nwrite_files:\n  - path: {path}\n    content: {content}\n")
}
