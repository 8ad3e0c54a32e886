//! Image imports cannot read what is not theirs to read (issue 10, finding 4), with the real
//! `qemu-img` and `curl`: a qcow2 naming a backing or external data file is refused, paths
//! only come from the import directories, URLs never reach loopback unless the host is
//! allowed (redirects included), and a size cap holds. Each refusal leaves nothing behind.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Redirect;
use axum::routing::get;
use corral_api::bridge::HostFacts;
use corral_api::task::{BridgeTask, TaskState};
use corral_bridge::driver::sim::{SimConfig, SimDriver};
use corral_bridge::host::RealExec;
use corral_bridge::images::{ImageStore, ImportPolicy};
use corral_bridge::server::{BridgeState, build_router};
use corral_bridge::store::MachineStore;
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Node {
    router: Router,
    dir: tempfile::TempDir,
    /// The one directory path imports may come from.
    imports: PathBuf,
}

fn node(allow_hosts: &[&str], max_bytes: u64) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let imports = dir.path().join("imports");
    std::fs::create_dir(&imports).unwrap();
    let policy = ImportPolicy {
        dirs: vec![imports.clone()],
        allow_hosts: allow_hosts.iter().map(|h| h.to_string()).collect(),
        max_bytes,
    };
    let images = ImageStore::open(dir.path(), Arc::new(RealExec), "qemu-img").unwrap().with_policy(policy);
    let sim = SimDriver::open(
        SimConfig {
            delay: Duration::from_millis(10),
            step_mode: true,
            host: HostFacts { hostname: "n1".into(), cpus: 4, memory_mib: 2048, disk_gib: 20 },
            kinds: corral_api::spec::MachineKind::ALL.to_vec(),
        },
        MachineStore::open(dir.path()).unwrap(),
    )
    .unwrap();
    let state = BridgeState {
        metrics: Default::default(),
        driver: Arc::new(sim.clone()),
        images,
        tasks: Default::default(),
        sim: Some(sim),
        heartbeat: Duration::from_secs(5),
        host_bridges: vec![],
    };
    Node { router: build_router(state), dir, imports }
}

/// Starts an import: the status, and the task's end when it was accepted.
async fn import(n: &Node, name: &str, source: &str) -> (StatusCode, Option<BridgeTask>, String) {
    let body = serde_json::json!({ "name": name, "source": source }).to_string();
    let req = Request::post("/v1/images")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = n.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    if status != StatusCode::ACCEPTED {
        return (status, None, String::from_utf8_lossy(&bytes).into_owned());
    }
    let task: BridgeTask = serde_json::from_slice(&bytes).unwrap();
    for _ in 0..600 {
        let req = Request::get(format!("/v1/tasks/{}", task.id)).body(Body::empty()).unwrap();
        let resp = n.router.clone().oneshot(req).await.unwrap();
        let now: BridgeTask =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        if now.state != TaskState::Running {
            let message = now.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
            return (status, Some(now), message);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("import of {name} never ended");
}

/// The image store holds nothing: no image, no metadata, no partial file.
fn assert_empty(n: &Node) {
    let left: Vec<_> =
        std::fs::read_dir(n.dir.path().join("images")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

fn qemu_img(args: &[&str]) {
    let out = std::process::Command::new("qemu-img").args(args).output().unwrap();
    assert!(out.status.success(), "qemu-img {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn failed_saying(r: &(StatusCode, Option<BridgeTask>, String), words: &str) {
    let (status, task, message) = r;
    assert_eq!(*status, StatusCode::ACCEPTED, "{message}");
    assert_eq!(task.as_ref().map(|t| t.state), Some(TaskState::Failed), "{message}");
    assert!(message.contains(words), "{message:?} should say {words:?}");
}

#[tokio::test]
async fn an_image_that_names_another_file_is_refused_and_leaves_nothing() {
    let n = node(&[], 1 << 30);
    let secret = n.dir.path().join("another-tenants-disk.raw");
    std::fs::write(&secret, vec![7u8; 1 << 20]).unwrap();
    let backed = n.imports.join("backed.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        &secret.display().to_string(),
        "-F",
        "raw",
        &backed.display().to_string(),
    ]);
    failed_saying(&import(&n, "backed.qcow2", &backed.display().to_string()).await, "backing file");
    assert_empty(&n);

    let with_data = n.imports.join("data.qcow2");
    let data = format!("data_file={}", secret.display());
    qemu_img(&["create", "-f", "qcow2", "-o", &data, &with_data.display().to_string(), "1M"]);
    failed_saying(&import(&n, "data.qcow2", &with_data.display().to_string()).await, "data file");
    assert_empty(&n);

    // A plain one goes in.
    let plain = n.imports.join("plain.qcow2");
    qemu_img(&["create", "-f", "qcow2", &plain.display().to_string(), "1M"]);
    let (_, task, message) = import(&n, "plain.qcow2", &plain.display().to_string()).await;
    assert_eq!(task.map(|t| t.state), Some(TaskState::Succeeded), "{message}");
}

#[tokio::test]
async fn paths_come_only_from_the_import_directories() {
    let n = node(&[], 1 << 30);
    let outside = n.dir.path().join("outside.raw");
    std::fs::write(&outside, vec![0u8; 4096]).unwrap();
    // A link inside pointing outside is outside.
    let link = n.imports.join("link.raw");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let sneaky = format!("{}/../outside.raw", n.imports.display());
    for source in [outside.display().to_string(), link.display().to_string(), sneaky, "/etc/shadow".into()] {
        let (status, _, body) = import(&n, "x.raw", &source).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{source}: {body}");
        assert!(body.contains("\"field\":\"source\""), "{body}");
    }
    assert_empty(&n);
}

/// Serves a 2 MiB image at `/big.raw` and a redirect to `target` at `/hop`, on loopback.
async fn image_server(target: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/big.raw", get(|| async { vec![0u8; 2 << 20] })).route(
        "/hop",
        get(move || async move { Redirect::temporary(&target.replace("PORT", &port.to_string())) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

#[tokio::test]
async fn urls_never_reach_inward_unless_the_host_is_allowed() {
    let port = image_server("http://127.0.0.1:PORT/big.raw").await;
    // Nothing allowed: loopback is refused, by address and by name.
    let n = node(&[], 1 << 30);
    for url in [format!("http://127.0.0.1:{port}/big.raw"), format!("http://localhost:{port}/big.raw")] {
        failed_saying(&import(&n, "big.raw", &url).await, "internal address");
    }
    assert_empty(&n);

    // `localhost` allowed, but its redirect to 127.0.0.1 is another host: refused.
    let n = node(&["localhost"], 1 << 30);
    failed_saying(&import(&n, "big.raw", &format!("http://localhost:{port}/hop")).await, "internal address");
    assert_empty(&n);

    // Allowed, and under the cap: in.
    let n = node(&["127.0.0.1"], 4 << 20);
    let (_, task, message) = import(&n, "big.raw", &format!("http://127.0.0.1:{port}/big.raw")).await;
    assert_eq!(task.map(|t| t.state), Some(TaskState::Succeeded), "{message}");

    // Over the cap: refused, nothing kept.
    let n = node(&["127.0.0.1"], 1 << 20);
    failed_saying(&import(&n, "big.raw", &format!("http://127.0.0.1:{port}/big.raw")).await, "larger than");
    assert_empty(&n);
}
