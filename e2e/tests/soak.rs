//! Faults, as a bounded soak (issue 10). Four clients run 500 mixed operations (creates with
//! Idempotency-Keys, power, snapshots, deletes) against two sim nodes while the backend is
//! killed with SIGKILL at random moments and restarted each time: afterwards every
//! acknowledged operation is in effect, no machine exists twice, and nothing on a node is
//! left without its machine. Then a qemu node with three tiny guests has its bridge killed
//! in the middle of power and snapshot operations: the guests keep running, the restarted
//! bridge adopts every one, and each snapshot tree stays whole. Both print their counts.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use corral_api::MachineId;
use corral_api::bridge::BridgeSnapshotCreate;
use corral_api::machine::MachineState;
use corral_api::spec::PowerAction;
use corral_e2e::{BackendProc, BridgeProc, tiny_image, tiny_machine, wait_until};
use corral_testkit::people::{PASSWORD, person};
use serde_json::{Value, json};

const CLIENTS: usize = 4;
const OPS_PER_CLIENT: usize = 125;

/// What one client saw acknowledged.
#[derive(Default)]
struct Acked {
    creates: Vec<MachineId>,
    deletes: HashSet<MachineId>,
    snapshots: Vec<(MachineId, String)>,
    ops: usize,
}

/// A tiny deterministic generator, so a failing run can be told apart from another.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

/// Sends until the backend answers with something other than "not now": a cut connection
/// (the backend was killed) or a 503 (its node links are coming back) is tried again, the
/// same request, against wherever the backend listens now.
async fn send(
    http: &reqwest::Client,
    url: &RwLock<String>,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "{method} {path}: no answer within 60 s");
        let base = url.read().unwrap().clone();
        let mut req = http.request(method.clone(), format!("{base}{path}")).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        match req.send().await {
            Ok(resp) if resp.status().as_u16() != 503 => {
                let status = resp.status().as_u16();
                let body = resp.json().await.unwrap_or(Value::Null);
                return (status, body);
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn client(n: usize, token: String, url: Arc<RwLock<String>>) -> Acked {
    let http = reqwest::Client::new();
    let mut rng = Rng(0x5eed_0000 + n as u64 * 7919);
    let mut acked = Acked::default();
    let mut live: Vec<MachineId> = Vec::new();
    use reqwest::Method;
    for op in 0..OPS_PER_CLIENT {
        let roll = rng.next(100);
        if live.is_empty() || roll < 35 {
            let body = json!({"name": format!("c{n}-m{op}"), "vcpus": 1, "memory_mib": 64, "disk_gib": 1});
            let key = format!("soak-{n}-{op}");
            let (status, r) =
                send(&http, &url, &token, Method::POST, "/api/v1/machines", Some(&body), Some(&key)).await;
            assert!(status == 201 || status == 200, "create: {status} {r}");
            let id: MachineId = r["id"].as_str().unwrap().parse().unwrap();
            acked.creates.push(id);
            live.push(id);
        } else if roll < 60 {
            let m = live[rng.next(live.len())];
            let action = ["start", "stop", "force-stop"][rng.next(3)];
            let (status, r) = send(
                &http,
                &url,
                &token,
                Method::POST,
                &format!("/api/v1/machines/{m}/{action}"),
                None,
                None,
            )
            .await;
            assert!(status == 202 || status == 409, "{action}: {status} {r}");
        } else if roll < 80 {
            let m = live[rng.next(live.len())];
            let name = format!("s{op}");
            let path = format!("/api/v1/machines/{m}/snapshots");
            let (status, r) =
                send(&http, &url, &token, Method::POST, &path, Some(&json!({"name": name})), None).await;
            // A retry of a snapshot the node made before the backend died finds it made.
            let exists = status == 409 && r["message"].as_str().unwrap_or("").contains("already");
            if status == 201 || exists {
                acked.snapshots.push((m, name));
            } else {
                assert!(status == 409 || status == 503, "snapshot: {status} {r}");
            }
        } else {
            let i = rng.next(live.len());
            let m = live[i];
            let (status, r) = send(
                &http,
                &url,
                &token,
                Method::DELETE,
                &format!("/api/v1/machines/{m}?force=true"),
                None,
                None,
            )
            .await;
            if status == 202 || status == 404 {
                acked.deletes.insert(m);
                live.swap_remove(i);
            } else {
                assert_eq!(status, 409, "delete: {r}");
            }
        }
        acked.ops += 1;
    }
    acked
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backend_killed_at_random_loses_duplicates_and_orphans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sized =
        ["--driver", "sim", "--sim-delay-ms", "20", "--sim-cpus", "100000", "--sim-memory-mib", "100000000"];
    let nodes =
        [BridgeProc::start_with(dir.path(), "s1", &sized), BridgeProc::start_with(dir.path(), "s2", &sized)];
    let mut backend = BackendProc::start(&dir.path().join("data"), &[&nodes[0], &nodes[1]], None);
    let admin = corral_e2e::Api::login(&backend.url, "admin", &backend.admin_password).await;
    let mut tokens = Vec::new();
    for c in 0..CLIENTS {
        let name = format!("soak{c}");
        person(&admin, &name, corral_api::session::Role::Owner, None).await;
        let owner = corral_e2e::Api::login(&backend.url, &name, PASSWORD).await;
        let t = owner.send("POST", "/api/v1/tokens", Some(json!({"name": "soak"}))).await.body;
        tokens.push(t["token"].as_str().unwrap().to_string());
    }
    let url = Arc::new(RwLock::new(backend.url.clone()));

    // The killer: SIGKILL at a random moment, restart, again, until the clients are done.
    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (done, kills, url) = (done.clone(), kills.clone(), url.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0xdead_beef);
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50 + rng.next(400) as u64));
                if done.load(Ordering::Relaxed) {
                    break;
                }
                backend.kill9();
                backend.restart();
                *url.write().unwrap() = backend.url.clone();
                kills.fetch_add(1, Ordering::Relaxed);
            }
            backend
        })
    };
    let started = Instant::now();
    let runs: Vec<_> =
        tokens.into_iter().enumerate().map(|(n, t)| tokio::spawn(client(n, t, url.clone()))).collect();
    let mut acked = Vec::new();
    for r in runs {
        acked.push(r.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    let backend = killer.join().unwrap();
    let took = started.elapsed();

    // Let the reconcilers settle: nothing still on its way.
    let admin = corral_e2e::Api::login(&backend.url, "admin", &backend.admin_password).await;
    // A wait that runs out names each row still on its way, what its node says of it, and
    // what the backend logged of it (worked out once, at the deadline).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = admin.send("GET", "/api/v1/machines", None).await.body;
        let Some(rows) = list.as_array() else {
            assert!(Instant::now() < deadline, "listing machines failed: {list}");
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        let stuck: Vec<&Value> =
            rows.iter().filter(|m| m["state"] == "creating" || m["state"] == "deleting").collect();
        if stuck.is_empty() {
            break;
        }
        if Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        // Every run of the backend wrote to one log.
        let log = std::fs::read_to_string(dir.path().join("data").with_extension("log")).unwrap_or_default();
        let mut seen = Vec::new();
        for m in stuck {
            let id: Option<MachineId> = m["id"].as_str().and_then(|s| s.parse().ok());
            let node = nodes.iter().find(|n| m["node_name"] == n.name.as_str());
            let there = match (node, id) {
                (Some(n), Some(id)) => format!("{:?}", n.client().machine_get(id).await.map(|b| b.state)),
                _ => "nothing: no such node".into(),
            };
            seen.push(format!("{} {} on {}: the node says {there}", m["id"], m["state"], m["node_name"]));
            let said = m["id"].as_str().unwrap_or("?");
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(said)).collect();
            seen.extend(lines[lines.len().saturating_sub(20)..].iter().map(|l| format!("  log: {l}")));
        }
        panic!("machines still creating or deleting after 60 s:\n{}", seen.join("\n"));
    }
    let backend_list = admin.send("GET", "/api/v1/machines", None).await.body;
    let backend_list = backend_list.as_array().unwrap();
    let managed: HashMap<MachineId, &Value> = backend_list
        .iter()
        .filter(|m| m["managed"] == true)
        .map(|m| (m["id"].as_str().unwrap().parse().unwrap(), m))
        .collect();
    let mut on_nodes: HashMap<MachineId, usize> = HashMap::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for n in &nodes {
        for m in n.client().machine_list().await.unwrap() {
            *on_nodes.entry(m.id).or_default() += 1;
            *names.entry(m.name).or_default() += 1;
        }
    }

    let (mut lost, mut undone) = (0, 0);
    for a in &acked {
        for id in a.creates.iter().filter(|id| !a.deletes.contains(id)) {
            if !managed.contains_key(id) || !on_nodes.contains_key(id) {
                eprintln!("lost: machine {id}");
                lost += 1;
            }
        }
        for id in &a.deletes {
            if managed.contains_key(id) || on_nodes.contains_key(id) {
                let row = backend_list.iter().find(|m| m["id"] == id.to_string());
                eprintln!(
                    "undone: deleted machine {id} is back: row {row:?}, on nodes {:?}",
                    on_nodes.get(id)
                );
                undone += 1;
            }
        }
        for (id, name) in a.snapshots.iter().filter(|(id, _)| !a.deletes.contains(id)) {
            let node = managed[id]["node_name"].as_str().unwrap();
            let n = nodes.iter().find(|n| n.name == node).unwrap();
            let snaps = n.client().snapshot_list(*id).await.unwrap();
            if !snaps.iter().any(|s| &s.name == name) {
                eprintln!("lost: snapshot {name} of {id}");
                lost += 1;
            }
        }
    }
    let duplicated =
        on_nodes.values().filter(|c| **c > 1).count() + names.values().filter(|c| **c > 1).count();
    let orphaned = on_nodes.keys().filter(|id| !managed.contains_key(id)).count()
        + managed.keys().filter(|id| !on_nodes.contains_key(id)).count();
    let ops: usize = acked.iter().map(|a| a.ops).sum();
    let kills = kills.load(Ordering::Relaxed);
    println!(
        "soak: {ops} operations from {CLIENTS} clients in {:.1} s, backend killed {kills} times; \
         {} machines and {} snapshots acknowledged; lost {}, duplicated {duplicated}, orphaned {orphaned}",
        took.as_secs_f64(),
        acked.iter().map(|a| a.creates.len()).sum::<usize>(),
        acked.iter().map(|a| a.snapshots.len()).sum::<usize>(),
        lost + undone,
    );
    assert!(ops == CLIENTS * OPS_PER_CLIENT && kills >= 5, "{ops} operations, {kills} kills");
    assert_eq!((lost + undone, duplicated, orphaned), (0, 0, 0));
}

fn qemu_pid(bridge: &BridgeProc, id: MachineId) -> u32 {
    let pid = std::fs::read_to_string(bridge.data_dir.join("machines").join(id.to_string()).join("qemu.pid"));
    pid.unwrap().trim().parse().unwrap()
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bridge_killed_during_operations_leaves_its_guests_running_and_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--driver", "qemu", "--accel", "tcg", "--stop-timeout-secs", "20"];
    let mut bridge = BridgeProc::start_with(dir.path(), "q", &args);
    bridge.import_image("tiny.qcow2", &tiny_image()).await;
    let c = bridge.client();
    let mut guests = Vec::new();
    for i in 0..3 {
        let m = c.machine_create(&tiny_machine(&format!("g{i}"))).await.unwrap();
        c.machine_power(m.id, PowerAction::Start).await.unwrap();
        guests.push(m.id);
    }
    let pids: Vec<u32> = guests.iter().map(|id| qemu_pid(&bridge, *id)).collect();

    let (mut kills, mut adopted) = (0, 0);
    for round in 0..6 {
        let g = guests[round % guests.len()];
        // Start an operation and kill the bridge while it runs.
        match round % 3 {
            0 => {
                let snap = BridgeSnapshotCreate { name: format!("r{round}"), ram: true };
                c.snapshot_create_task(g, &snap).await.unwrap();
            }
            1 => drop(c.machine_power(g, PowerAction::Pause).await),
            _ => drop(c.machine_power(g, PowerAction::Resume).await),
        }
        // At a different moment of the operation each round.
        tokio::time::sleep(Duration::from_millis((round as u64 * 37) % 150)).await;
        bridge.kill9();
        kills += 1;
        for (id, pid) in guests.iter().zip(&pids) {
            assert!(alive(*pid), "round {round}: the guest {id} died with its bridge");
        }
        bridge.restart();
        let c = bridge.client();
        wait_until("every guest adopted", Duration::from_secs(30), || async {
            let list = c.machine_list().await.unwrap_or_default();
            guests.iter().all(|id| {
                list.iter()
                    .any(|m| m.id == *id && matches!(m.state, MachineState::Running | MachineState::Paused))
            })
        })
        .await;
        for (id, pid) in guests.iter().zip(&pids) {
            assert_eq!(qemu_pid(&bridge, *id), *pid, "round {round}: {id} was adopted, not restarted");
            // The tree is whole: names are unique and every parent is in it.
            let tree = c.snapshot_list(*id).await.unwrap();
            let names: HashSet<&str> = tree.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names.len(), tree.len(), "{tree:?}");
            assert!(tree.iter().all(|s| s.parent.as_deref().is_none_or(|p| names.contains(p))), "{tree:?}");
            assert!(tree.iter().filter(|s| s.current).count() <= 1, "{tree:?}");
        }
        adopted += guests.len();
    }

    let c = bridge.client();
    for id in &guests {
        // A snapshot that was still being written when the bridge died may be busy a while.
        wait_until("the guest to take a force-stop", Duration::from_secs(60), || async {
            c.machine_power(*id, PowerAction::ForceStop).await.is_ok()
        })
        .await;
    }
    for (id, pid) in guests.iter().zip(&pids) {
        wait_until("qemu to end", Duration::from_secs(30), || async { !alive(*pid) }).await;
        c.machine_delete(*id, true).await.unwrap();
        wait_until("the guest deleted", Duration::from_secs(30), || async {
            c.machine_get(*id).await.is_err()
        })
        .await;
    }
    println!(
        "qemu soak: {kills} bridge kills during operations, {adopted} adoptions of live guests, 0 guests lost"
    );
}
