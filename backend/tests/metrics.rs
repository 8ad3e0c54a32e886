//! Metrics history end to end: a sim bridge sampling every 50 ms behind a link the test can
//! cut, a backend pulling and rolling up its samples, and the series served to who may see
//! them. The rollup arithmetic itself is tested in `corral::metrics::rollup`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{Resp, send};
use corral::routes::{RouterOptions, build_router};
use corral::state::AppState;
use corral_api::bridge::HostFacts;
use corral_api::metrics::{METRIC_PAGE_MAX, MetricPage, MetricSeries, MetricTarget};
use corral_api::node::NodeStatus;
use corral_api::spec::MachineKind;
use corral_bridge::driver::sim::{SimConfig, SimDriver};
use corral_bridge::metrics::{Metrics, Sampling};
use corral_bridge::server::BridgeState;
use corral_bridge::store::MachineStore;
use hyper::StatusCode;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

/// A unix-socket proxy between the backend and the bridge: `cut` drops every connection and
/// stops answering; `mend` answers again on the same path.
struct Link {
    front: PathBuf,
    back: PathBuf,
    tasks: std::sync::Mutex<JoinSet<()>>,
}

impl Link {
    fn open(front: PathBuf, back: PathBuf) -> Arc<Link> {
        let link = Arc::new(Link { front, back, tasks: Default::default() });
        link.mend();
        link
    }

    fn mend(self: &Arc<Self>) {
        let _ = std::fs::remove_file(&self.front);
        let listener = UnixListener::bind(&self.front).unwrap();
        let back = self.back.clone();
        self.tasks.lock().unwrap().spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut front, _)) = listener.accept().await {
                let back = back.clone();
                conns.spawn(async move {
                    if let Ok(mut back) = UnixStream::connect(&back).await {
                        let _ = tokio::io::copy_bidirectional(&mut front, &mut back).await;
                    }
                });
            }
        });
    }

    /// Drops the listener and every connection through it (their tasks are aborted).
    fn cut(&self) {
        self.tasks.lock().unwrap().abort_all();
        let _ = std::fs::remove_file(&self.front);
    }
}

struct Harness {
    state: AppState,
    router: axum::Router,
    admin: String,
    metrics: Metrics,
    sim: SimDriver,
    link: Arc<Link>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn harness() -> Harness {
    let data = tempfile::tempdir().unwrap();
    let bridge_dir = tempfile::tempdir().unwrap();
    let host = HostFacts { hostname: "n1".into(), cpus: 8, memory_mib: 16_384, disk_gib: 100 };
    let sim = SimDriver::open(
        SimConfig {
            delay: Duration::from_millis(20),
            step_mode: false,
            host,
            kinds: MachineKind::ALL.to_vec(),
        },
        MachineStore::open(bridge_dir.path()).unwrap(),
    )
    .unwrap();
    let metrics = Metrics::start(
        Arc::new(sim.clone()),
        Sampling { every: Duration::from_millis(50), ..Default::default() },
    );
    let images = corral_bridge::images::ImageStore::open(
        bridge_dir.path(),
        Arc::new(corral_bridge::host::RealExec),
        "qemu-img",
    )
    .unwrap();
    let state = BridgeState {
        metrics: metrics.clone(),
        driver: Arc::new(sim.clone()),
        images,
        tasks: Default::default(),
        sim: Some(sim.clone()),
        heartbeat: Duration::from_secs(1),
        host_bridges: vec![],
    };
    let back = bridge_dir.path().join("bridge.sock");
    let listener = UnixListener::bind(&back).unwrap();
    tokio::spawn(async move {
        axum::serve(listener, corral_bridge::server::build_router(state)).await.unwrap();
    });
    let link = Link::open(bridge_dir.path().join("front.sock"), back);

    let url = common::fresh_database(data.path()).await;
    let db = corral::db::connect(&url).await.unwrap();
    let password = corral::app::bootstrap::ensure_admin(&db).await.unwrap().unwrap();
    let state = AppState::new(db, None, common::fast_tuning());
    let address = format!("unix:{}", link.front.display());
    corral::server::start_node_links(&state, &[("node-1".into(), address)]).await.unwrap();
    let router = build_router(state.clone(), &RouterOptions::default());
    let body = serde_json::json!({"username": "admin", "password": password}).to_string();
    let r = send(&router, None, "POST", "/api/v1/session", None, Some(&body), &[]).await;
    let admin = common::session_cookie(&r.headers).unwrap();
    Harness { state, router, admin, metrics, sim, link, _dirs: (data, bridge_dir) }
}

impl Harness {
    async fn get(&self, uri: &str) -> Resp {
        send(&self.router, None, "GET", uri, Some(&self.admin), None, &[]).await
    }

    async fn node_status(&self) -> NodeStatus {
        corral::store::nodes::node_list(&self.state.db).await.unwrap()[0].status
    }

    async fn wait(&self, what: &str, check: impl AsyncFn() -> bool) {
        let deadline = tokio::time::Instant::now() + common::PATIENCE;
        while !check().await {
            assert!(tokio::time::Instant::now() < deadline, "waited 10 s for {what}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn series(r: &Resp) -> MetricSeries {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    serde_json::from_value(r.body.clone()).unwrap()
}

/// A running machine's CPU, memory, disk and network come through as rates and gauges, per
/// device, with units; the node's too.
#[tokio::test]
async fn a_running_machines_samples_become_its_series() {
    let h = harness().await;
    h.wait("the node online", async || h.node_status().await == NodeStatus::Online).await;
    let id = machine_in(&h, "busy", None, 2, 512).await;

    let cpu = format!("/api/v1/machines/{id}/metrics?metric=cpu_seconds");
    h.wait("CPU points", async || !series(&h.get(&cpu).await).series.is_empty()).await;
    let s = series(&h.get(&cpu).await);
    assert_eq!((s.unit, s.tier_s, s.step_s), (corral_api::metrics::MetricUnit::Cores, 10, 10));
    let total = &s.series[0];
    assert_eq!(total.device, None);
    // The sim's machine uses 0.2 of each vCPU on average, swelling and ebbing by half.
    assert!(total.avg.iter().all(|v| (0.19..=0.61).contains(v)), "{:?}", total.avg);
    assert!(total.max.iter().zip(&total.avg).all(|(m, a)| m >= a));

    let disk = series(&h.get(&format!("/api/v1/machines/{id}/metrics?metric=disk_write_bytes")).await);
    assert_eq!(disk.series[0].device.as_deref(), Some("disk0"));
    let mem = series(&h.get(&format!("/api/v1/machines/{id}/metrics?metric=memory_bytes")).await);
    // Stored as f32: within a millionth.
    let want = 512.0 * 1_048_576.0 * 0.6;
    assert!((mem.series[0].avg[0] - want).abs() / want < 1e-6, "{:?}", mem.series[0].avg);

    let node = h.state.db.clone();
    let node_id = corral::store::nodes::node_list(&node).await.unwrap()[0].id;
    let modes = series(&h.get(&format!("/api/v1/nodes/{node_id}/metrics?metric=cpu_seconds")).await);
    let devices: Vec<_> = modes.series.iter().filter_map(|s| s.device.clone()).collect();
    assert!(devices.contains(&"user".to_string()) && devices.contains(&"idle".to_string()), "{devices:?}");

    // A range and point count the API refuses, in words, on the field.
    let r = h.get(&format!("/api/v1/machines/{id}/metrics?metric=cpu_seconds&from=100&to=50")).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("to")),
        "{:?}",
        r.body
    );
    let r = h.get(&format!("/api/v1/machines/{id}/metrics?metric=cpu_seconds&points=0")).await;
    assert_eq!(r.body["field"], "points");
    let r = h.get(&format!("/api/v1/machines/{id}/metrics?metric=bogus")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let _ = &h.sim;
}

/// The backend's count of the node's samples in its 10 s rows.
async fn node_samples_stored(state: &AppState) -> u64 {
    let node_id = corral::store::nodes::node_list(&state.db).await.unwrap()[0].id;
    let target = corral::store::metrics::target_get(
        &state.db,
        corral::store::metrics::TargetKind::Node,
        &node_id.to_string(),
    )
    .await
    .unwrap();
    let Some(t) = target else { return 0 };
    let load = t.series.iter().position(|(m, _)| *m == corral_api::metrics::Metric::Load1).unwrap() as u16;
    let now = corral::db::now_ms() / 1000;
    let rows = corral::store::metrics::rows_get(&state.db, t.id, 0, now - 3_600, now + 60).await.unwrap();
    rows.iter().flat_map(|r| r.entries.iter()).filter(|e| e.series == load).map(|e| u64::from(e.n)).sum()
}

/// A cut link loses nothing the bridge's ring still holds: once the link is back, every
/// sample the bridge took while it was down is stored (each counted once).
#[tokio::test]
async fn a_catch_up_after_a_link_cut_leaves_no_gap() {
    let h = harness().await;
    h.wait("the node online", async || h.node_status().await == NodeStatus::Online).await;
    h.wait("samples stored", async || node_samples_stored(&h.state).await >= 5).await;

    h.link.cut();
    h.wait("the node unreachable", async || h.node_status().await != NodeStatus::Online).await;
    tokio::time::sleep(Duration::from_millis(600)).await; // a dozen samples while cut
    h.link.mend();
    h.wait("the node online again", async || h.node_status().await == NodeStatus::Online).await;

    // The catch-up has passed the cut once the cursor is past a sample taken after the mend.
    let node = corral::store::nodes::node_list(&h.state.db).await.unwrap()[0].id;
    let cursor = async || corral::store::metrics::cursor_get(&h.state.db, node).await.unwrap();
    let mended_at = h.metrics.after(0, METRIC_PAGE_MAX).samples.last().map_or(0, |s| s.seq);
    h.wait("the backend past the cut", async || cursor().await > mended_at).await;

    // The puller stores a page every 50 ms, so its cursor never rests for a comparison: cut
    // the link again and let the page in flight land.
    h.link.cut();
    let mut rested = cursor().await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = cursor().await;
        if now == rested {
            break;
        }
        rested = now;
    }
    // Every sample up to the cursor is stored, each once.
    let ring = h.metrics.after(0, METRIC_PAGE_MAX);
    let taken = ring.samples.iter().filter(|s| s.target == MetricTarget::Node && s.seq <= rested).count();
    let stored = node_samples_stored(&h.state).await;
    assert!(!ring.more, "the ring holds more than a page: the test sees only its first");
    assert_eq!(stored, taken as u64, "samples stored against samples the bridge took up to {rested}");
    assert!(stored > 15, "only {stored} samples: the cut and the catch-up were not both seen");
}

/// A sample naming a machine of another node is not taken, and counts against its sender.
#[tokio::test]
async fn a_node_cannot_write_another_nodes_machine_history() {
    let h = harness().await;
    h.wait("the node online", async || h.node_status().await == NodeStatus::Online).await;
    let node = corral::store::nodes::node_list(&h.state.db).await.unwrap()[0].id;
    let stranger = corral_api::MachineId::new_random();
    let page = MetricPage {
        samples: vec![corral_api::metrics::MetricSample {
            seq: u64::MAX - 1,
            at_ms: corral::db::now_ms(),
            target: MetricTarget::Machine { id: stranger },
            points: vec![corral_api::metrics::MetricPoint {
                metric: corral_api::metrics::Metric::MemoryBytes,
                device: None,
                value: 1.0,
                start_ms: None,
            }],
        }],
        more: false,
    };
    corral::metrics::ingest(&h.state, node, page).await.unwrap();
    let t = corral::store::metrics::target_get(
        &h.state.db,
        corral::store::metrics::TargetKind::Machine,
        &stranger.to_string(),
    )
    .await
    .unwrap();
    assert!(t.is_none(), "no history was made for it");
    let n = corral::store::nodes::node_get(&h.state.db, node).await.unwrap().unwrap();
    assert!(n.rule_breaks >= 1, "the node is marked");
}

/// A machine of `vcpus` and `memory_mib` (in `tenant`, or the default one), started; its id.
async fn machine_in(h: &Harness, name: &str, tenant: Option<&str>, vcpus: u32, memory_mib: u64) -> String {
    let mut body = serde_json::json!({"name": name, "vcpus": vcpus, "memory_mib": memory_mib, "disk_gib": 1});
    if let Some(t) = tenant {
        body["tenant_id"] = t.into();
    }
    let r =
        send(&h.router, None, "POST", "/api/v1/machines", Some(&h.admin), Some(&body.to_string()), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    h.wait("stopped", async || h.get(&format!("/api/v1/machines/{id}")).await.body["state"] == "stopped")
        .await;
    let r = send(&h.router, None, "POST", &format!("/api/v1/machines/{id}/start"), Some(&h.admin), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    id
}

async fn scrape(h: &Harness, cookie: &str) -> String {
    let r = send(&h.router, None, "GET", "/metrics", Some(cookie), None, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    r.body.as_str().unwrap().to_string()
}

/// `/metrics` in the OpenMetrics format: an admin gets every machine (counters as totals,
/// with machine, name, node and tenant labels), the nodes and the backend's process figures;
/// a tenant's member only that tenant's machines.
#[tokio::test]
async fn prometheus_sees_what_the_caller_may_see() {
    let h = harness().await;
    h.wait("the node online", async || h.node_status().await == NodeStatus::Online).await;
    let t = send(&h.router, None, "POST", "/api/v1/tenants", Some(&h.admin), Some(r#"{"name":"acme"}"#), &[])
        .await;
    let tenant = t.body["id"].as_str().unwrap().to_string();
    let ours = machine_in(&h, "ours", Some(&tenant), 1, 128).await;
    let theirs = machine_in(&h, "theirs", None, 1, 128).await;
    let body = serde_json::json!({"username": "mia", "tenant_id": tenant, "role": "viewer"}).to_string();
    let u = send(&h.router, None, "POST", "/api/v1/users", Some(&h.admin), Some(&body), &[]).await;
    assert_eq!(u.status, StatusCode::CREATED, "{:?}", u.body);
    let login = serde_json::json!({"username": "mia", "password": u.body["password"]}).to_string();
    let r = send(&h.router, None, "POST", "/api/v1/session", None, Some(&login), &[]).await;
    let mia = common::session_cookie(&r.headers).unwrap();

    h.wait("both machines sampled", async || {
        let text = scrape(&h, &h.admin).await;
        text.contains(&format!("machine=\"{ours}\"")) && text.contains(&format!("machine=\"{theirs}\""))
    })
    .await;
    let admin = scrape(&h, &h.admin).await;
    assert!(admin.contains("# TYPE corral_machine_cpu_seconds counter"), "{admin}");
    let line = admin
        .lines()
        .find(|l| l.starts_with("corral_machine_cpu_seconds_total{") && l.contains(&ours))
        .expect("the machine's CPU counter");
    assert!(
        line.contains("name=\"ours\"")
            && line.contains("tenant=\"acme\"")
            && line.contains("node=\"node-1\""),
        "{line}"
    );
    assert!(admin.contains("corral_machine_block_write_bytes_total{") && admin.contains("device=\"disk0\""));
    assert!(admin.contains("corral_node_cpu_seconds_total{node=\"node-1\",mode=\"user\"}"), "{admin}");
    assert!(admin.contains("process_resident_memory_bytes ") && admin.ends_with("# EOF\n"));

    let member = scrape(&h, &mia).await;
    assert!(member.contains(&ours), "a member sees the tenant's machine");
    assert!(!member.contains(&theirs), "and not another tenant's");
    assert!(!member.contains("corral_node_") && !member.contains("process_"), "nor the nodes or the backend");
}

/// A deleted machine's history goes at the next maintenance pass, from the database and from
/// what the ingest keeps.
#[tokio::test]
async fn a_deleted_machines_history_goes() {
    let h = harness().await;
    h.wait("the node online", async || h.node_status().await == NodeStatus::Online).await;
    let id = machine_in(&h, "brief", None, 1, 128).await;
    let target = async || {
        corral::store::metrics::target_get(&h.state.db, corral::store::metrics::TargetKind::Machine, &id)
            .await
            .unwrap()
    };
    h.wait("its samples stored", async || target().await.is_some()).await;
    let r = send(
        &h.router,
        None,
        "DELETE",
        &format!("/api/v1/machines/{id}?force=true"),
        Some(&h.admin),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    h.wait("the machine gone", async || {
        h.get(&format!("/api/v1/machines/{id}")).await.status == StatusCode::NOT_FOUND
    })
    .await;
    let gone = corral::store::metrics::prune_gone(&h.state.db).await.unwrap();
    assert_eq!(gone.len(), 1);
    h.state.metrics.forget(&gone);
    assert!(target().await.is_none());
    assert!(h.state.metrics.latest(0).iter().all(|(_, key, _)| *key != id));
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM metric_rows WHERE target_id = $1")
        .bind(gone[0])
        .fetch_one(&h.state.db)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

/// A tenant's series is the sum of its machines, bucket by bucket, and the fleet's the sum
/// of every machine; a machine counts with its whole (all its vCPUs), once.
#[tokio::test]
async fn a_tenants_sum_is_its_machines_and_the_fleet_is_everyones() {
    let h = harness().await;
    h.wait("the node online", async || h.node_status().await == NodeStatus::Online).await;
    let t = send(&h.router, None, "POST", "/api/v1/tenants", Some(&h.admin), Some(r#"{"name":"acme"}"#), &[])
        .await;
    let tenant = t.body["id"].as_str().unwrap().to_string();
    let a = machine_in(&h, "a", Some(&tenant), 2, 256).await;
    let b = machine_in(&h, "b", Some(&tenant), 1, 128).await;
    let _elsewhere = machine_in(&h, "c", None, 1, 512).await;

    // The sim holds 60% of a machine's memory: a bucket in which all three ran sums to this.
    let mib = 1_048_576.0 * 0.6;
    let (ours, all) = ((256.0 + 128.0) * mib, (256.0 + 128.0 + 512.0) * mib);
    let close = |v: f64, want: f64| (v - want).abs() / want < 1e-6;
    let memory = format!("/api/v1/tenants/{tenant}/metrics?metric=memory_bytes");
    // A bucket is summed five seconds after it ends (the tests' wait): up to 15 s from now.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let last = |s: &MetricSeries| s.series.first().and_then(|d| d.avg.last().copied());
    loop {
        let s = series(&h.get(&memory).await);
        if last(&s).is_some_and(|v| close(v, ours)) {
            assert_eq!((s.series.len(), s.series[0].device.as_deref()), (1, None), "one series, the sum");
            assert!(s.series[0].avg.iter().all(|v| *v <= ours * (1.0 + 1e-6)), "never more than both");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no bucket summed both machines: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fleet = series(&h.get("/api/v1/metrics/fleet?metric=memory_bytes").await);
    assert!(fleet.series[0].avg.iter().any(|v| close(*v, all)), "{fleet:?}");

    // CPU: each bucket of the sum is the machines' averages in it added up (to within what a
    // sample later than the wait, on a busy machine, may change).
    let cpu = async |path: String| series(&h.get(&format!("{path}?metric=cpu_seconds")).await);
    let sum = cpu(format!("/api/v1/tenants/{tenant}/metrics")).await;
    let ma = cpu(format!("/api/v1/machines/{a}/metrics")).await;
    let mb = cpu(format!("/api/v1/machines/{b}/metrics")).await;
    let whole = |s: &MetricSeries, at: i64| {
        let d = s.series.iter().find(|d| d.device.is_none())?;
        d.at.iter().position(|t| *t == at).map(|i| d.avg[i])
    };
    let compared: Vec<(f64, f64)> = sum.series[0]
        .at
        .iter()
        .zip(&sum.series[0].avg)
        .filter_map(|(at, v)| Some((*v, whole(&ma, *at)? + whole(&mb, *at)?)))
        .collect();
    assert!(!compared.is_empty(), "a bucket with both machines' CPU: {sum:?}");
    for (got, want) in compared {
        assert!((got - want).abs() <= want * 0.05 + 1e-6, "the sum {got}, the machines {want}");
    }
}
