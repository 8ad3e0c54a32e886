//! Nodes over SSH: a real OpenSSH `sshd` on a loopback port in front of each bridge, the
//! backend reaching it with its own key and the host key an admin confirmed. Enrolment, a
//! wrong client key, a changed host key, an sshd that goes away and comes back, a create cut
//! mid-way, and three nodes at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_api::MachineId;
use corral_api::machine::MachineState;
use corral_api::node::{Node, NodeStatus, SshPublicKey};
use corral_api::spec::PowerAction;
use corral_e2e::sshd::{SshdProc, ssh_user};
use corral_e2e::{Api, BackendProc, BridgeProc, wait_until};
use serde_json::json;

/// A bridge (sim) behind its own sshd: a remote node.
struct SshNode {
    bridge: BridgeProc,
    sshd: SshdProc,
}

impl SshNode {
    fn start(dir: &Path, name: &str, authorized_key: &str) -> SshNode {
        let bridge = BridgeProc::start(dir, name);
        let sshd = SshdProc::start(&dir.join(format!("{name}-sshd")), authorized_key);
        SshNode { bridge, sshd }
    }

    fn enrolment(&self, name: &str, host_key: &str) -> serde_json::Value {
        json!({
            "name": name, "host": "127.0.0.1", "port": self.sshd.port, "user": ssh_user(),
            "socket": self.bridge.socket.display().to_string(), "host_key": host_key,
        })
    }
}

async fn backend_key(api: &Api) -> String {
    let key: SshPublicKey = api.get("/api/v1/ssh-key").await;
    assert!(key.public_key.starts_with("ssh-ed25519 "), "{}", key.public_key);
    key.public_key
}

async fn node_named(api: &Api, name: &str) -> Node {
    api.nodes().await.into_iter().find(|n| n.name == name).expect("the node")
}

async fn wait_node(api: &Api, name: &str, want: NodeStatus, within: Duration) -> Duration {
    let start = Instant::now();
    wait_until(&format!("node {name} to be {want:?}"), within, || async {
        node_named(api, name).await.status == want
    })
    .await;
    start.elapsed()
}

async fn wait_machine(api: &Api, id: MachineId, want: MachineState) {
    wait_until(&format!("machine {id} to be {want}"), Duration::from_secs(15), || async {
        api.machine(id).await.is_some_and(|m| m.state == want)
    })
    .await;
}

/// Enrols a node with the host key the backend reads from it, as an admin would after
/// checking it; returns the node.
async fn enrol(api: &Api, node: &SshNode, name: &str) -> Node {
    let r = api
        .send("POST", "/api/v1/nodes/host-key", Some(json!({"host": "127.0.0.1", "port": node.sshd.port})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let seen = r.body["host_key"].as_str().unwrap().to_string();
    assert_eq!(seen, node.sshd.host_key_fingerprint(), "the backend shows the key ssh-keygen shows");
    let r = api.send("POST", "/api/v1/nodes", Some(node.enrolment(name, &seen))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let n: Node = serde_json::from_value(r.body).unwrap();
    assert_eq!(n.host_key.as_deref(), Some(seen.as_str()));
    wait_node(api, name, NodeStatus::Online, Duration::from_secs(10)).await;
    n
}

async fn create_running(api: &Api, name: &str, node: &Node) -> MachineId {
    let r = api
        .send(
            "POST",
            "/api/v1/machines",
            Some(json!({"name": name, "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "node_id": node.id})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id: MachineId = serde_json::from_value(r.body["id"].clone()).unwrap();
    wait_machine(api, id, MachineState::Stopped).await;
    let r = api.send("POST", &format!("/api/v1/machines/{id}/start"), None).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    wait_machine(api, id, MachineState::Running).await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_enrolled_with_confirmed_keys_and_wrong_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let backend = BackendProc::start(&dir.path().join("backend"), &[], None);
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    let key = backend_key(&api).await;

    let nodes: Vec<SshNode> = (1..=3).map(|i| SshNode::start(dir.path(), &format!("n{i}"), &key)).collect();
    // A host key nobody confirmed is refused before anything is sent or stored.
    let wrong = format!("SHA256:{}", "A".repeat(43));
    let r = api.send("POST", "/api/v1/nodes", Some(nodes[0].enrolment("n1", &wrong))).await;
    assert_eq!((r.status, r.body["code"].as_str()), (409, Some("conflict")), "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains(&nodes[0].sshd.host_key_fingerprint()));
    assert!(api.nodes().await.is_empty());
    assert!(!nodes[0].sshd.log().contains("Accepted publickey"), "no authentication was tried");
    let r = api
        .send(
            "POST",
            "/api/v1/nodes",
            Some(json!({"name": "x", "host": "-oProxyCommand=sh", "user": "root", "host_key": wrong})),
        )
        .await;
    assert_eq!((r.status, r.body["field"].as_str()), (422, Some("host")));

    let mut enrolled = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        enrolled.push(enrol(&api, node, &format!("n{}", i + 1)).await);
    }
    assert!(nodes[0].sshd.log().contains("Accepted publickey"), "the backend logged in with its key");
    for (i, (node, n)) in nodes.iter().zip(&enrolled).enumerate() {
        let id = create_running(&api, &format!("vm{i}"), n).await;
        let on_node = node.bridge.client().machine_get(id).await.unwrap();
        assert_eq!(on_node.state, MachineState::Running, "made on its node, through SSH");
    }
    let r = api
        .send("POST", "/api/v1/nodes", Some(nodes[0].enrolment("n1", &nodes[0].sshd.host_key_fingerprint())))
        .await;
    assert_eq!(r.status, 409, "a name is enrolled once: {:?}", r.body);

    // A node whose user does not trust the backend's key refuses it, and says so.
    let stranger = SshNode::start(
        dir.path(),
        "n4",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpUJmQvcE5N4ruYn5WOJSxpqVkWXQz6gMcgjSwQVjvq other",
    );
    let r = api
        .send("POST", "/api/v1/nodes", Some(stranger.enrolment("n4", &stranger.sshd.host_key_fingerprint())))
        .await;
    assert_eq!((r.status, r.body["code"].as_str()), (503, Some("node_unreachable")), "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("refused our key"), "{:?}", r.body);
    assert_eq!(api.nodes().await.len(), 3);
}

/// A backend with one node enrolled over SSH, running one machine.
struct OneNode {
    _dir: tempfile::TempDir,
    _backend: BackendProc,
    api: Api,
    node: SshNode,
    id: MachineId,
}

impl OneNode {
    async fn start() -> OneNode {
        let dir = tempfile::tempdir().unwrap();
        let backend = BackendProc::start(&dir.path().join("backend"), &[], None);
        let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
        let node = SshNode::start(dir.path(), "n1", &backend_key(&api).await);
        let n = enrol(&api, &node, "n1").await;
        let id = create_running(&api, "vm", &n).await;
        OneNode { _dir: dir, _backend: backend, api, node, id }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_host_key_is_a_mismatch_and_nothing_is_sent_until_confirmed() {
    let OneNode { _dir, _backend, api, mut node, id } = OneNode::start().await;

    node.sshd.stop();
    node.sshd.new_host_key();
    let new_key = node.sshd.host_key_fingerprint();
    let log_before = node.sshd.log().len();
    node.sshd.restart();
    wait_node(&api, "n1", NodeStatus::KeyMismatch, Duration::from_secs(15)).await;
    let n = node_named(&api, "n1").await;
    assert_eq!(n.presented_host_key.as_deref(), Some(new_key.as_str()));
    assert!(n.last_error.as_deref().unwrap_or_default().contains("host key mismatch"), "{n:?}");
    wait_machine(&api, id, MachineState::Unknown).await;
    let r = api.send("POST", &format!("/api/v1/machines/{id}/stop"), None).await;
    assert_eq!(r.status, 503, "nothing goes to a node with another key: {:?}", r.body);
    let since = node.sshd.log()[log_before..].to_string();
    assert!(
        !since.contains("Accepted publickey") && !since.contains("publickey"),
        "no login was tried: {since}"
    );

    let r = api
        .send("PUT", &format!("/api/v1/nodes/{}/host-key", n.id), Some(json!({"host_key": new_key})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    wait_node(&api, "n1", NodeStatus::Online, Duration::from_secs(10)).await;
    wait_machine(&api, id, MachineState::Running).await;
    assert_eq!(node_named(&api, "n1").await.presented_host_key, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sshd_that_goes_away_makes_the_node_unreachable_and_its_return_reconciles() {
    let OneNode { _dir, _backend, api, mut node, id } = OneNode::start().await;

    node.sshd.stop();
    let took = wait_node(&api, "n1", NodeStatus::Unreachable, Duration::from_secs(10)).await;
    println!("unreachable after {took:?}");
    wait_machine(&api, id, MachineState::Unknown).await;
    // Changed behind the backend's back while the link is down.
    let c = node.bridge.client();
    c.machine_power(id, PowerAction::Stop).await.unwrap();
    wait_until("the sim to stop it", Duration::from_secs(5), || async {
        c.machine_get(id).await.is_ok_and(|m| m.state == MachineState::Stopped)
    })
    .await;

    node.sshd.restart();
    let took = wait_node(&api, "n1", NodeStatus::Online, Duration::from_secs(5)).await;
    println!("online again after {took:?}");
    wait_machine(&api, id, MachineState::Stopped).await;
}

/// Reads one whole HTTP request (headers and a `Content-Length` body) off `s`.
async fn read_request(s: &mut tokio::net::UnixStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut req = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0usize);
            if req.len() >= end + 4 + len {
                return req;
            }
        }
        match s.read(&mut buf).await {
            Ok(n) if n > 0 => req.extend_from_slice(&buf[..n]),
            _ => return req,
        }
    }
}

/// How the tap cuts the link of a machine create once the bridge has taken it in.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Closes the node's socket at once: the SSH channel ends with no answer, sshd stays up.
    Drop,
    /// Holds the answer back, so the test can cut the whole link (sshd) meanwhile.
    Hold,
}

/// Stands between sshd and the bridge's socket, seeing each plain HTTP request. A machine
/// create for a name in `cut` (each once) is passed to the bridge, its answer read and not
/// passed on; the link is cut as the entry says, and the test is told.
async fn tap_creates(
    listener: tokio::net::UnixListener,
    bridge: PathBuf,
    cut: Arc<std::sync::Mutex<Vec<(&'static str, Cut)>>>,
    seen: Arc<tokio::sync::Notify>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    while let Ok((mut client, _)) = listener.accept().await {
        let mut upstream = tokio::net::UnixStream::connect(&bridge).await.unwrap();
        let (cut, seen) = (cut.clone(), seen.clone());
        tokio::spawn(async move {
            let req = read_request(&mut client).await;
            upstream.write_all(&req).await.unwrap();
            let text = String::from_utf8_lossy(&req).into_owned();
            let hit = if text.starts_with("POST /v1/machines ") {
                let mut names = cut.lock().unwrap();
                let at = names.iter().position(|(n, _)| text.contains(&format!("\"name\":\"{n}\"")));
                at.map(|i| names.remove(i).1)
            } else {
                None
            };
            if let Some(how) = hit {
                // The bridge takes it in and answers; the answer goes no further.
                let mut answer = vec![0u8; 4096];
                let _ = upstream.read(&mut answer).await;
                match how {
                    Cut::Drop => drop(client),
                    Cut::Hold => {
                        seen.notify_one();
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                }
                seen.notify_one();
                return;
            }
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_cut_mid_way_is_retried_into_exactly_one_machine() {
    let dir = tempfile::tempdir().unwrap();
    let backend = BackendProc::start(&dir.path().join("backend"), &[], None);
    let api = Arc::new(Api::login(&backend.url, "admin", &backend.admin_password).await);
    let key = backend_key(&api).await;
    let bridge = BridgeProc::start(dir.path(), "n1");
    let tap = dir.path().join("tap.sock");
    let seen = Arc::new(tokio::sync::Notify::new());
    let cut = Arc::new(std::sync::Mutex::new(vec![("once", Cut::Drop), ("given-up", Cut::Hold)]));
    let listener = tokio::net::UnixListener::bind(&tap).unwrap();
    tokio::spawn(tap_creates(listener, bridge.socket.clone(), cut, seen.clone()));
    let mut sshd = SshdProc::start(&dir.path().join("sshd"), &key);
    let host_key = sshd.host_key_fingerprint();
    let r = api
        .send(
            "POST",
            "/api/v1/nodes",
            Some(json!({"name": "n1", "host": "127.0.0.1", "port": sshd.port, "user": ssh_user(),
                "socket": tap.display().to_string(), "host_key": host_key})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    wait_node(&api, "n1", NodeStatus::Online, Duration::from_secs(10)).await;

    let creating = {
        let api = api.clone();
        tokio::spawn(async move {
            api.send(
                "POST",
                "/api/v1/machines",
                Some(json!({"name": "once", "vcpus": 1, "memory_mib": 128, "disk_gib": 1})),
            )
            .await
        })
    };
    tokio::time::timeout(Duration::from_secs(10), seen.notified())
        .await
        .expect("the create reached the node");
    // The node made the machine; its channel closed before the answer came back. The backend
    // asks again with the same id, and the node answers with the machine it has.
    let r = creating.await.unwrap();
    assert_eq!(r.status, 201, "the retry finished the create: {:?}", r.body);
    let on_node: Vec<_> =
        bridge.client().machine_list().await.unwrap().into_iter().filter(|m| m.name == "once").collect();
    assert_eq!(on_node.len(), 1, "exactly one machine on the node: {on_node:?}");
    assert_eq!(on_node[0].id.to_string(), r.body["id"].as_str().unwrap());
    let log = std::fs::read_to_string(dir.path().join("backend.log")).unwrap();
    assert!(
        log.contains("the link failed before the node answered the create; retrying with the same id"),
        "the link really was cut mid-way"
    );
    let listed: Vec<_> = api.machines().await.into_iter().filter(|m| m.name == "once").collect();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].managed);

    wait_node(&api, "n1", NodeStatus::Online, Duration::from_secs(10)).await;
    // Cut for longer than the backend retries: the answer is a clear 503, but the node made
    // the machine. The client retries later with the same Idempotency-Key and gets that one.
    let body = json!({"name": "given-up", "vcpus": 1, "memory_mib": 128, "disk_gib": 1});
    let with_key = |api: Arc<Api>, body: serde_json::Value| async move {
        api.send_with("POST", "/api/v1/machines", Some(body), &[("Idempotency-Key", "retry-me-7")]).await
    };
    let mut creating = tokio::spawn(with_key(api.clone(), body.clone()));
    tokio::select! {
        _ = seen.notified() => {}
        r = &mut creating => panic!("the create ended before reaching the node: {:?}", r.unwrap()),
        _ = tokio::time::sleep(Duration::from_secs(10)) => panic!("the create never reached the node"),
    }
    sshd.stop();
    let r = creating.await.unwrap();
    assert_eq!((r.status, r.body["code"].as_str()), (503, Some("node_unreachable")), "{:?}", r.body);
    sshd.restart();
    wait_until("the node's machine to show, unmanaged", Duration::from_secs(15), || async {
        api.machines().await.iter().any(|m| m.name == "given-up" && !m.managed)
    })
    .await;
    let r = with_key(api.clone(), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["managed"], true);
    let on_node = bridge.client().machine_list().await.unwrap();
    assert_eq!(on_node.iter().filter(|m| m.name == "given-up").count(), 1, "{on_node:?}");
    let listed: Vec<_> = api.machines().await.into_iter().filter(|m| m.name == "given-up").collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id.to_string(), r.body["id"].as_str().unwrap());
}

/// The qemu driver behind sshd: a tiny guest made and started through the backend, and its
/// serial console streamed over an SSH channel with the backend's own key.
#[tokio::test(flavor = "multi_thread")]
async fn a_qemu_node_over_ssh_boots_a_guest_whose_console_streams_through_the_channel() {
    let image = corral_e2e::tiny_image();
    let dir = tempfile::tempdir().unwrap();
    let backend_dir = dir.path().join("backend");
    let backend = BackendProc::start(&backend_dir, &[], None);
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    let bridge = BridgeProc::start_with(dir.path(), "q", &["--driver", "qemu", "--accel", "tcg"]);
    bridge.import_image("tiny.qcow2", &image).await;
    let sshd = SshdProc::start(&dir.path().join("q-sshd"), &backend_key(&api).await);
    let node = SshNode { bridge, sshd };
    let n = enrol(&api, &node, "q").await;
    assert_eq!(n.driver.as_deref(), Some("qemu"));

    let r = api
        .send(
            "POST",
            "/api/v1/machines",
            Some(
                json!({"name": "tiny", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "image": "tiny.qcow2"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id: MachineId = serde_json::from_value(r.body["id"].clone()).unwrap();
    let r = api.send("POST", &format!("/api/v1/machines/{id}/start"), None).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    wait_machine(&api, id, MachineState::Running).await;

    // The same link the backend uses: its key, the pinned host key, a streamlocal channel.
    let identity = corral::nodes::ssh::SshIdentity::load_or_create(&backend_dir).unwrap();
    let address =
        format!("ssh://{}@127.0.0.1:{}{}", ssh_user(), node.sshd.port, node.bridge.socket.display());
    let pin = corral::nodes::ssh::HostKeyPin::new(n.host_key.clone());
    let transport = corral::nodes::ssh::SshTransport::new(address.parse().unwrap(), pin, identity);
    let client = corral::nodes::BridgeClient::new(Arc::new(transport), Duration::from_secs(10));
    let (offset, stream) = client.serial_stream(id, 0).await.unwrap();
    let mut serial = corral_testkit::serial::Serial::new(corral_testkit::serial::Stream(stream), offset);
    serial.expect(corral_e2e::guest::READY, corral_e2e::guest::BOOT).await;
    drop(serial);
    let r = api.send("DELETE", &format!("/api/v1/machines/{id}?force=true"), None).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let deadline = Instant::now() + Duration::from_secs(40);
    while api.machine(id).await.is_some() {
        if Instant::now() > deadline {
            let tail = |p: PathBuf| {
                let s = std::fs::read_to_string(&p).unwrap_or_default();
                let lines: Vec<&str> = s.lines().collect();
                lines[lines.len().saturating_sub(30)..].join("\n")
            };
            panic!(
                "the machine is still listed: {:?}\nbackend:\n{}\nbridge:\n{}",
                api.machine(id).await,
                tail(dir.path().join("backend.log")),
                tail(dir.path().join("q.log"))
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A node in a network namespace the test made, reached over a veth pair: its side can be
/// unplugged without closing anything, as a cable pulled or a switch dying would.
struct NodeNet {
    ns: String,
    node_if: String,
    node_ip: String,
}

impl NodeNet {
    fn new() -> NodeNet {
        let n = std::process::id() % 200 + 20;
        let net = NodeNet {
            ns: format!("corral-ssh-{}", std::process::id()),
            node_if: format!("cs{n}n"),
            node_ip: format!("10.251.{n}.2"),
        };
        let host_if = format!("cs{n}h");
        let ip = |args: &[&str]| {
            let ok = std::process::Command::new("ip").args(args).status().is_ok_and(|s| s.success());
            assert!(ok, "ip {} failed (the SSH tests run as root)", args.join(" "));
        };
        ip(&["netns", "add", &net.ns]);
        ip(&["link", "add", &host_if, "type", "veth", "peer", "name", &net.node_if]);
        ip(&["link", "set", &net.node_if, "netns", &net.ns]);
        ip(&["addr", "add", &format!("10.251.{n}.1/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&["-n", &net.ns, "addr", "add", &format!("{}/30", net.node_ip), "dev", &net.node_if]);
        ip(&["-n", &net.ns, "link", "set", &net.node_if, "up"]);
        ip(&["-n", &net.ns, "link", "set", "lo", "up"]);
        net
    }

    /// Unplugs (or plugs back) the node's side: packets are dropped, nothing is closed.
    fn plugged(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        let ok = std::process::Command::new("ip")
            .args(["-n", &self.ns, "link", "set", &self.node_if, state])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok);
    }
}

impl Drop for NodeNet {
    /// Deleting the namespace takes its end of the veth pair, and so the pair, with it.
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_partition_is_caught_by_keepalives_and_healed() {
    let net = NodeNet::new();
    let dir = tempfile::tempdir().unwrap();
    let backend = BackendProc::start(&dir.path().join("backend"), &[], None);
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    let bridge = BridgeProc::start(dir.path(), "far");
    let mut sshd =
        SshdProc::start_in(&dir.path().join("sshd"), &backend_key(&api).await, Some(&net.ns), &net.node_ip);
    let r = api
        .send(
            "POST",
            "/api/v1/nodes",
            Some(json!({"name": "far", "host": net.node_ip, "port": sshd.port, "user": ssh_user(),
                "socket": bridge.socket.display().to_string(), "host_key": sshd.host_key_fingerprint()})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let node: Node = serde_json::from_value(r.body).unwrap();
    let id = create_running(&api, "vm", &node).await;

    net.plugged(false);
    let took = wait_node(&api, "far", NodeStatus::Unreachable, Duration::from_secs(10)).await;
    println!("a silent partition was noticed after {took:?}");
    wait_machine(&api, id, MachineState::Unknown).await;
    net.plugged(true);
    let took = wait_node(&api, "far", NodeStatus::Online, Duration::from_secs(15)).await;
    println!("online again {took:?} after the cable came back");
    wait_machine(&api, id, MachineState::Running).await;
    sshd.stop();
}
