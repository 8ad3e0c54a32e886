//! Fixtures for end-to-end tests: real `corral` and `corral-bridge` processes on loopback,
//! and a cookie-keeping HTTP client speaking the shared API types.

pub mod browser;
pub mod btrfs;
pub mod cloud;
pub mod guest;
pub mod netns;
pub mod sshd;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corral_api::machine::{Machine, MachineState};
use corral_api::node::Node;
use corral_testkit::serial::Serial;
use corral_testkit::socket::{self, Opener, Socket};
use serde::de::DeserializeOwned;

/// The workspace's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A binary built by `cargo build --workspace --bins`.
pub fn bin(name: &str) -> PathBuf {
    // The profile of whoever asks: tests run from target/<profile>/deps, `corral-bench` from
    // target/<profile>, so a release benchmark drives release binaries.
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    let profile_dir =
        exe_dir.map(|d| if d.ends_with("deps") { d.parent().map(Path::to_path_buf).unwrap_or(d) } else { d });
    if let Some(dir) = profile_dir
        && dir.join(name).exists()
    {
        return dir.join(name);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let path = target.join("debug").join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace --bins` first", path.display());
    path
}

pub use corral_testkit::{wait_for, wait_until};

/// The frontend's build, which `scripts/test.sh` makes before the browser tests.
pub fn frontend_dist() -> PathBuf {
    let dist = root().join("frontend/dist");
    assert!(dist.join("index.html").exists(), "build the frontend first (scripts/test.sh does)");
    dist
}

/// The tiny guest image (`scripts/build-tiny-image.sh` builds it; `CORRAL_TINY_IMAGE` may
/// point elsewhere).
pub fn tiny_image() -> PathBuf {
    let path = std::env::var_os("CORRAL_TINY_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".corral/images/tiny.qcow2"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-tiny-image.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The busybox zone image (`scripts/build-zone-image.sh` builds it; `CORRAL_ZONE_IMAGE` may
/// point elsewhere).
pub fn zone_image() -> PathBuf {
    let path = std::env::var_os("CORRAL_ZONE_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".corral/images/busybox.tar.gz"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-zone-image.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A small zone from the busybox zone image, to be adjusted with `..` by each test.
pub fn busybox_zone(name: &str) -> corral_api::bridge::BridgeMachineCreate {
    corral_api::bridge::BridgeMachineCreate {
        kind: corral_api::spec::MachineKind::Zone,
        memory_mib: 64,
        image: Some("busybox.tar.gz".into()),
        ..tiny_machine(name)
    }
}

/// Where the Debian cloud image is, if `CORRAL_DEBIAN_IMAGE` names one elsewhere.
fn debian_image_dir() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("CORRAL_DEBIAN_IMAGE")?);
    path.parent().filter(|d| d.exists()).map(Path::to_path_buf)
}

/// Where the tiny image is, if it is anywhere (bridges are allowed to import from there).
fn tiny_image_dir() -> Option<PathBuf> {
    let path = std::env::var_os("CORRAL_TINY_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".corral/images/tiny.qcow2"));
    path.parent().filter(|d| d.exists()).map(Path::to_path_buf)
}

/// A small machine from the tiny image, to be adjusted with `..` by each test.
pub fn tiny_machine(name: &str) -> corral_api::bridge::BridgeMachineCreate {
    corral_api::bridge::BridgeMachineCreate {
        id: corral_api::MachineId::new_random(),
        name: name.into(),
        kind: corral_api::spec::MachineKind::Vm,
        vcpus: 1,
        memory_mib: 128,
        disk_gib: 1,
        image: Some("tiny.qcow2".into()),
        port_forwards: vec![],
        boot_order: vec![],
        cdrom: None,
        host_bridge: None,
        init: None,
    }
}

/// A qemu bridge with the tiny image, a backend in front of it (serving `frontend` if given)
/// and an admin logged in, with one machine made from the image and started: the `machine`.
pub struct TinyGuest {
    pub api: Api,
    pub machine: corral_api::MachineId,
    pub backend: BackendProc,
    /// Dropped before `dir`: it finds its VMs' QEMUs (to kill them) in the directory.
    pub bridge: BridgeProc,
    pub dir: tempfile::TempDir,
}

impl TinyGuest {
    pub async fn start(name: &str, frontend: Option<&Path>) -> TinyGuest {
        let dir = tempfile::tempdir().unwrap();
        let bridge = BridgeProc::start_with(dir.path(), "q", &["--driver", "qemu", "--accel", "tcg"]);
        bridge.import_image("tiny.qcow2", &tiny_image()).await;
        let backend = BackendProc::start(&dir.path().join("backend"), &[&bridge], frontend);
        let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
        wait_until("the node's image", Duration::from_secs(10), || async {
            api.send("GET", "/api/v1/images", None).await.body.as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
        let body = serde_json::json!({"name": name, "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "image": "tiny.qcow2"});
        let r = api.send("POST", "/api/v1/machines", Some(body)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let machine: corral_api::MachineId = serde_json::from_value(r.body["id"].clone()).unwrap();
        let r = api.send("POST", &format!("/api/v1/machines/{machine}/start"), None).await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        wait_until("the machine to run", Duration::from_secs(15), || async {
            api.machine(machine).await.is_some_and(|m| m.state == corral_api::machine::MachineState::Running)
        })
        .await;
        TinyGuest { api, machine, backend, bridge, dir }
    }
}

/// A `corral-bridge` process with the sim driver.
pub struct BridgeProc {
    pub name: String,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    driver_args: Vec<String>,
    /// A network namespace to run in (for host-bridge tests).
    netns: Option<String>,
    child: Option<Child>,
}

impl BridgeProc {
    /// A bridge with the sim driver.
    pub fn start(dir: &Path, name: &str) -> BridgeProc {
        Self::start_with(dir, name, &["--driver", "sim", "--sim-delay-ms", "150"])
    }

    /// A bridge with the given driver arguments.
    pub fn start_with(dir: &Path, name: &str, driver_args: &[&str]) -> BridgeProc {
        Self::start_in(dir, name, None, driver_args)
    }

    /// A bridge inside network namespace `netns` (its socket is still on the shared
    /// filesystem, so clients outside reach it).
    pub fn start_in(dir: &Path, name: &str, netns: Option<&str>, driver_args: &[&str]) -> BridgeProc {
        let mut b = BridgeProc {
            name: name.to_string(),
            socket: dir.join(format!("{name}.sock")),
            data_dir: dir.join(name),
            driver_args: driver_args.iter().map(|s| s.to_string()).collect(),
            netns: netns.map(str::to_string),
            child: None,
        };
        b.restart();
        b
    }

    /// Starts it (again), waiting until its socket accepts connections.
    pub fn restart(&mut self) {
        let mut cmd = match &self.netns {
            // `ip netns exec` enters the namespace and execs the bridge: the child is the bridge.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin("corral-bridge"));
                c
            }
            None => Command::new(bin("corral-bridge")),
        };
        let child = cmd
            .args(["--socket", &self.socket.display().to_string()])
            .args(["--data-dir", &self.data_dir.display().to_string()])
            .args(&self.driver_args)
            .args(["--heartbeat-ms", "500"])
            // Charts in the browser tests fill within seconds, not tens of them (unless the
            // caller chose).
            .args(if self.driver_args.iter().any(|a| a == "--sample-ms") {
                &[][..]
            } else {
                &["--sample-ms", "1000"][..]
            })
            .args(["--hostname", &self.name])
            // Tests import from their own directories, the tiny image's, and loopback servers.
            .args(["--import-dir", &std::env::temp_dir().display().to_string()])
            .args(["--import-dir", &self.data_dir.parent().unwrap_or(&self.data_dir).display().to_string()])
            .args(tiny_image_dir().iter().flat_map(|d| ["--import-dir".to_string(), d.display().to_string()]))
            .args(zone_image_dir().iter().flat_map(|d| ["--import-dir".to_string(), d.display().to_string()]))
            .args(
                debian_image_dir().iter().flat_map(|d| ["--import-dir".to_string(), d.display().to_string()]),
            )
            .args(["--import-allow-host", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.data_dir.with_extension("log")).expect("bridge log"))
            .spawn()
            .expect("starting corral-bridge");
        self.child = Some(child);
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "bridge {} did not come up", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`: no goodbye, as when a node dies.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Imports an image from a path on this machine and waits for its task to end.
    pub async fn import_image(&self, name: &str, source: &Path) -> corral_api::task::BridgeTask {
        let c = self.client();
        let req = corral_api::bridge::BridgeImageImport {
            name: name.into(),
            source: source.display().to_string(),
            sha256: None,
        };
        let task = c.image_import(&req).await.expect("import accepted");
        c.task_wait(task.id, Duration::from_secs(60)).await.expect("import task ends")
    }

    pub fn address(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// A client straight to this bridge, bypassing the backend (to act behind its back).
    pub fn client(&self) -> corral::nodes::BridgeClient {
        let transport = corral::nodes::transport::from_address(&self.address()).unwrap();
        corral::nodes::BridgeClient::new(transport, Duration::from_secs(5))
    }
}

impl Drop for BridgeProc {
    /// Kills the bridge and, since guests outlive their bridge by design, every QEMU and
    /// zone it started: a test must not leave machines running behind it.
    fn drop(&mut self) {
        self.kill9();
        let zones = self.data_dir.join("zones");
        if let Ok(dirs) = std::fs::read_dir(&zones) {
            for dir in dirs.flatten() {
                let name = dir.file_name().to_string_lossy().into_owned();
                let lxc = |tool: &str, args: &[&str]| {
                    let _ = Command::new(tool)
                        .arg("-P")
                        .arg(&zones)
                        .args(["-n", &name])
                        .args(args)
                        .stderr(Stdio::null())
                        .status();
                };
                lxc("lxc-stop", &["-k"]);
                lxc("lxc-destroy", &[]);
            }
        }
        let Ok(machines) = std::fs::read_dir(self.data_dir.join("machines")) else { return };
        for dir in machines.flatten() {
            let Ok(pid) = std::fs::read_to_string(dir.path().join("qemu.pid")) else { continue };
            let pid = pid.trim();
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&*dir.path().to_string_lossy()));
            if ours {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
    }
}

/// Where the zone image is, if it is anywhere (bridges may import from there).
fn zone_image_dir() -> Option<PathBuf> {
    let path = std::env::var_os("CORRAL_ZONE_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".corral/images/busybox.tar.gz"));
    path.parent().filter(|d| d.exists()).map(Path::to_path_buf)
}

/// A `corral serve` process on a free loopback port.
pub struct BackendProc {
    pub url: String,
    pub admin_password: String,
    child: Child,
    args: Vec<String>,
    log: PathBuf,
}

impl BackendProc {
    pub fn start(data_dir: &Path, bridges: &[&BridgeProc], frontend: Option<&Path>) -> BackendProc {
        Self::start_with(data_dir, bridges, frontend, &[])
    }

    /// With more arguments to `corral serve`.
    pub fn start_with(
        data_dir: &Path,
        bridges: &[&BridgeProc],
        frontend: Option<&Path>,
        extra: &[&str],
    ) -> BackendProc {
        let mut args: Vec<String> = vec!["serve".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--data-dir".into(), data_dir.display().to_string()]);
        args.extend(["--listen", "127.0.0.1:0"].map(String::from));
        // Tests list every 2 s to notice quickly; a caller may choose (the bench: production's).
        if !extra.contains(&"--resync-secs") {
            args.extend(["--resync-secs", "2"].map(String::from));
        }
        // Sums of metrics a second after each 10 s, so pages show them within a test's patience.
        if !extra.contains(&"--metrics-sum-wait-secs") {
            args.extend(["--metrics-sum-wait-secs", "1"].map(String::from));
        }
        for b in bridges {
            args.extend(["--node".into(), format!("{}={}", b.name, b.address())]);
        }
        if let Some(dir) = frontend {
            args.extend(["--frontend-dir".into(), dir.display().to_string()]);
        }
        let log = data_dir.with_extension("log");
        let (child, url, password) = Self::spawn(&args, &log);
        BackendProc {
            url,
            admin_password: password.expect("a fresh data dir prints the admin password"),
            child,
            args,
            log,
        }
    }

    /// Starts `corral` and reads its URL (and the first admin's password, the first time).
    fn spawn(args: &[String], log: &Path) -> (Child, String, Option<String>) {
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("backend log");
        let mut child = Command::new(bin("corral"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting corral");
        let stdout = child.stdout.take().expect("stdout");
        let (mut url, mut password) = (None, None);
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("reading corral's output");
            if let Some(rest) = line.split_once("with password ") {
                password = Some(rest.1.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("corral: listening on ") {
                url = Some(rest.trim().to_string());
                break;
            }
        }
        (child, url.expect("corral printed its URL"), password)
    }

    /// The backend's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`, as when the machine dies: no goodbye, nothing flushed.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same data (on a new port: `url` changes).
    pub fn restart(&mut self) {
        let (child, url, _) = Self::spawn(&self.args, &self.log);
        self.child = child;
        self.url = url;
    }
}

impl Drop for BackendProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A logged-in API client.
pub struct Api {
    pub base: String,
    http: reqwest::Client,
    /// The session cookie (`name=value`), for clients other than this one (websockets).
    pub cookie: String,
}

#[derive(Debug)]
pub struct ApiResp {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Api {
    pub async fn login(base: &str, username: &str, password: &str) -> Api {
        let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let resp = http
            .post(format!("{base}/api/v1/session"))
            .header("origin", base)
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(resp.status().as_u16(), 200, "login: {:?}", resp.text().await);
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
            .collect::<Vec<_>>()
            .join("; ");
        Api { base: base.to_string(), http, cookie }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> ApiResp {
        self.send_with(method, path, body, &[]).await
    }

    /// `send` with extra headers.
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> ApiResp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        ApiResp { status, body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null) }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let r = self.send("GET", path, None).await;
        assert_eq!(r.status, 200, "GET {path}: {:?}", r.body);
        serde_json::from_value(r.body).unwrap()
    }

    pub async fn machines(&self) -> Vec<Machine> {
        self.get("/api/v1/machines").await
    }

    pub async fn nodes(&self) -> Vec<Node> {
        self.get("/api/v1/nodes").await
    }

    pub async fn machine(&self, id: corral_api::MachineId) -> Option<Machine> {
        self.machines().await.into_iter().find(|m| m.id == id)
    }

    /// Waits for the console to show machine `id` in state `want`.
    pub async fn wait_state(&self, id: corral_api::MachineId, want: MachineState, within: Duration) {
        wait_for(&format!("machine {id} to be {want}"), within, || async {
            match self.machine(id).await {
                Some(m) if m.state == want => Ok(()),
                Some(m) => Err(m.state.to_string()),
                None => Err("not listed".to_string()),
            }
        })
        .await;
    }

    /// A console ticket for machine `id`, then the websocket it opens, as the browser opens
    /// it (`kind`: `serial` or `vnc`; `query` is appended to the URL, `&offset=…`).
    pub async fn console_socket(&self, id: corral_api::MachineId, kind: &str, query: &str) -> Socket {
        let path = format!("/api/v1/machines/{id}/console");
        let r = self.send("POST", &path, Some(serde_json::json!({"kind": kind}))).await;
        assert_eq!(r.status, 201, "console ticket: {:?}", r.body);
        let url = format!(
            "{}{}?ticket={}{query}",
            self.base.replace("http://", "ws://"),
            r.body["path"].as_str().expect("a console path"),
            r.body["ticket"].as_str().expect("a console ticket")
        );
        let browser = Opener {
            cookie: Some(&self.cookie),
            origin: Some(&self.base),
            binary: kind == "vnc",
            bearer: None,
        };
        socket::open(&url, browser).await.expect("the console websocket")
    }

    /// The serial line of machine `id` through the backend, taken over from whoever had it,
    /// read from the first byte the node kept.
    pub async fn serial(&self, id: corral_api::MachineId) -> Serial<Socket> {
        let mut ws = self.console_socket(id, "serial", "&takeover=true").await;
        let offset = socket::hello(&mut ws).await;
        Serial::new(ws, offset)
    }

    /// Waits until the console has listed every node's machines twice since the call (each
    /// full listing moves the node's `last_seen_at`). The second listing began after the
    /// call, so whatever a listing would bring back (a ghost row) is back by then.
    pub async fn wait_for_resync(&self) {
        let seen = |nodes: Vec<Node>| nodes.into_iter().map(|n| (n.id, n.last_seen_at)).collect::<Vec<_>>();
        let mut before = seen(self.nodes().await);
        for listing in ["first", "second"] {
            let what = format!("the {listing} full listing of every node");
            wait_until(&what, Duration::from_secs(30), || async {
                let now = seen(self.nodes().await);
                before.iter().all(|(id, at)| now.iter().any(|(n, a)| n == id && a != at))
            })
            .await;
            before = seen(self.nodes().await);
        }
    }
}

/// An admin's `Api` makes people for the tests ([`corral_testkit::people::person`]).
impl corral_testkit::people::AdminApi for Api {
    async fn admin_post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.send("POST", path, Some(body)).await;
        (r.status, r.body)
    }
}

/// Serves one file over plain HTTP on loopback at `/<name>` (anything else is 404), for
/// tests of downloads. Returns the file's URL.
pub async fn serve_file(path: &Path, name: &str) -> String {
    let bytes = std::fs::read(path).expect("file to serve");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let wanted = format!("/{name}");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = listener.accept().await {
            let (bytes, wanted) = (bytes.clone(), wanted.clone());
            tokio::spawn(async move {
                let mut req = vec![0u8; 4096];
                let n = sock.read(&mut req).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&req[..n]).to_string();
                let mut parts = head.split_whitespace();
                let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                if target != wanted {
                    let _ = sock
                        .write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    return;
                }
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    bytes.len()
                );
                let _ = sock.write_all(header.as_bytes()).await;
                if method != "HEAD" {
                    let _ = sock.write_all(&bytes).await;
                }
            });
        }
    });
    format!("http://{addr}/{name}")
}

/// The newest sample the bridge kept of machine `id`, if any.
pub async fn latest_sample(
    c: &corral::nodes::BridgeClient,
    id: corral_api::MachineId,
) -> Option<corral_api::metrics::MetricSample> {
    let (mut after, mut newest) = (0, None);
    loop {
        let page = c.metrics_after(after).await.ok()?;
        after = page.samples.last().map_or(after, |s| s.seq);
        for s in page.samples {
            if s.target == (corral_api::metrics::MetricTarget::Machine { id }) {
                newest = Some(s);
            }
        }
        if !page.more {
            return newest;
        }
    }
}

/// A point's value in a sample (`device` `None`: the whole machine).
pub fn sample_value(
    s: &corral_api::metrics::MetricSample,
    metric: corral_api::metrics::Metric,
    device: Option<&str>,
) -> Option<f64> {
    s.points.iter().find(|p| p.metric == metric && p.device.as_deref() == device).map(|p| p.value)
}

/// Waits up to `within` for a sample of machine `id` that `ok` accepts; the sample.
pub async fn wait_for_sample(
    c: &corral::nodes::BridgeClient,
    id: corral_api::MachineId,
    within: Duration,
    ok: impl Fn(&corral_api::metrics::MetricSample) -> bool,
) -> corral_api::metrics::MetricSample {
    let deadline = std::time::Instant::now() + within;
    loop {
        let newest = latest_sample(c, id).await;
        match newest {
            Some(s) if ok(&s) => return s,
            _ if std::time::Instant::now() > deadline => {
                panic!("no fitting sample of {id} within {within:?}: the newest {newest:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
