//! The metrics rows: what ingesting 1,000 machines' samples costs the backend, how fast a
//! year chart of one machine is answered from SQLite holding a year of data for 1,000
//! machines, how much a machine-year takes, and what the charts add to the browser's bundle.

use std::path::Path;
use std::time::{Duration, Instant};

use corral::metrics::rollup::{self, Entry, TIERS};
use corral_api::MachineId;
use corral_api::bridge::BridgeMachineCreate;
use corral_api::spec::PowerAction;
use corral_e2e::{BackendProc, BridgeProc, root};

/// A row whose figures are not durations.
pub struct FigureRow {
    pub what: &'static str,
    pub ours: String,
    pub base_name: &'static str,
    pub base: String,
    pub goal: String,
}

/// Machines of the ingest and year rows: 1,000, or `CORRAL_BENCH_MACHINES` for a quick look.
fn machines() -> usize {
    std::env::var("CORRAL_BENCH_MACHINES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000)
}

/// The window the ingest row measures over: 60 s, or `CORRAL_BENCH_WINDOW_S`.
fn window() -> Duration {
    Duration::from_secs(
        std::env::var("CORRAL_BENCH_WINDOW_S").ok().and_then(|n| n.parse().ok()).unwrap_or(60),
    )
}

/// CPU time of a process so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    use corral_bridge::metrics::procfs;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    procfs::parse_pid_stat(&stat).map_or(0.0, |s| s.cpu_ticks as f64 / procfs::ticks_per_second())
}

/// A sim node of 1,000 running machines sampled every `sample_ms`, behind a backend; the
/// share of one core the backend uses over `window` once it has settled.
async fn backend_cpu(dir: &Path, sample_ms: &str, window: Duration) -> f64 {
    std::fs::create_dir_all(dir).unwrap();
    let args = [
        "--driver",
        "sim",
        "--sim-delay-ms",
        "1",
        "--sim-cpus",
        "4096",
        "--sim-memory-mib",
        "1000000",
        "--sim-disk-gib",
        "100000",
        "--sample-ms",
        sample_ms,
    ];
    let bridge = BridgeProc::start_with(dir, "metrics", &args);
    let c = bridge.client();
    let mut ids = Vec::with_capacity(machines());
    for i in 0..machines() {
        let req = BridgeMachineCreate {
            id: MachineId::new_random(),
            name: format!("m{i}"),
            memory_mib: 64,
            image: None,
            ..corral_e2e::tiny_machine("")
        };
        c.machine_create(&req).await.unwrap();
        ids.push(req.id);
    }
    for id in &ids {
        c.machine_power(*id, PowerAction::Start).await.unwrap();
    }
    // As in production: a full listing every 30 s (tests list every 2 s).
    let backend = BackendProc::start_with(&dir.join("backend"), &[&bridge], None, &["--resync-secs", "30"]);
    // Let the backend take the machines in and the first ticks through.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let before = cpu_seconds(backend.pid());
    tokio::time::sleep(window).await;
    let used = cpu_seconds(backend.pid()) - before;
    if sample_ms == "10000" {
        // The figure means something only if the samples were taken in.
        let url = format!("sqlite://{}", dir.join("backend").join("corral.db").display());
        sqlx::any::install_default_drivers();
        let db = sqlx::AnyPool::connect(&url).await.unwrap();
        let targets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM metric_targets WHERE kind = 'machine'")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(targets as usize, machines(), "every machine's samples stored");
    }
    used / window.as_secs_f64() * 100.0
}

/// What the year-chart row measured.
struct Year {
    /// Through the router: session, policy, the chart, JSON (p99, median).
    api: (Duration, Duration),
    /// The app's chart work alone (`app::metrics`): tier, rows, steps (p99, median).
    chart: (Duration, Duration),
    /// The same 8,760 rows read by SQL alone (p99).
    raw: Duration,
    /// Bytes of the database per machine.
    per_machine: u64,
}

/// SQLite holding a year for 1,000 machines (every tier full, 11 series each, as a VM with
/// one disk and its CD drive has), and a backend reading one machine's year from it: through
/// its API, through its app layer alone, and the rows by SQL alone.
async fn year_chart(dir: &Path, queries: usize) -> Year {
    std::fs::create_dir_all(dir).unwrap();
    use corral::routes::{RouterOptions, build_router};
    let url = format!("sqlite://{}?mode=rwc", dir.join("corral.db").display());
    let db = corral::db::connect(&url).await.unwrap();
    let password = corral::app::bootstrap::ensure_admin(&db).await.unwrap().unwrap();
    let state = corral::state::AppState::new(db.clone(), None, Default::default());
    corral::store::nodes::node_upsert(&db, "n1", "unix:/nonexistent/bridge.sock").await.unwrap();
    let node = corral::store::nodes::node_list(&db).await.unwrap()[0].id;
    let tenant = corral::store::users::tenant_list(&db, None).await.unwrap()[0].id;
    let id = MachineId::new_random();
    let machine = corral::store::machines::NewMachine {
        id,
        name: "charted".into(),
        kind: corral_api::spec::MachineKind::Vm,
        vcpus: 1,
        memory_mib: 128,
        disk_gib: 1,
        image: None,
        devices: Default::default(),
        request_fingerprint: None,
    };
    corral::store::machines::machine_insert(&db, node, tenant, &machine).await.unwrap();

    // The series of a VM with one vCPU, one disk and a CD drive.
    let series: Vec<(String, String)> = [
        ("cpu_seconds", ""),
        ("cpu_seconds", "vcpu0"),
        ("memory_bytes", ""),
        ("disk_read_bytes", "disk0"),
        ("disk_write_bytes", "disk0"),
        ("disk_read_ops", "disk0"),
        ("disk_write_ops", "disk0"),
        ("disk_read_bytes", "cd0"),
        ("disk_write_bytes", "cd0"),
        ("disk_read_ops", "cd0"),
        ("disk_write_ops", "cd0"),
    ]
    .iter()
    .map(|(m, d)| (m.to_string(), d.to_string()))
    .collect();
    let series_json = serde_json::to_string(&series).unwrap();
    let entries: Vec<Entry> = (0..series.len() as u16)
        .map(|s| Entry { series: s, n: 6, avg: 0.25 + f32::from(s), max: 1.0 + f32::from(s) })
        .collect();
    let body: String = rollup::encode(&entries).iter().map(|b| format!("{b:02X}")).collect();
    for i in 0..machines() {
        let target = if i == 0 { id.to_string() } else { MachineId::new_random().to_string() };
        sqlx::query("INSERT INTO metric_targets (id, kind, target, series) VALUES ($1, 'machine', $2, $3)")
            .bind(i as i64 + 1)
            .bind(target)
            .bind(&series_json)
            .execute(&db)
            .await
            .unwrap();
    }
    let now = corral::db::now_ms() / 1000;
    let tiers: Vec<String> =
        TIERS.iter().enumerate().map(|(i, t)| format!("({i}, {}, {})", t.res, t.len)).collect();
    // Every slot of every tier of every target, generated inside SQLite in key order (one
    // statement per target keeps each transaction small). Slot s holds the newest bucket at
    // or before now that falls in it.
    for target in 1..=machines() {
        let sql = format!(
            "WITH RECURSIVE n(s) AS (SELECT 0 UNION ALL SELECT s + 1 FROM n WHERE s < 10079), \
             tiers(tier, res, len) AS (VALUES {}) \
             INSERT INTO metric_rows (target_id, tier, slot, at, body) \
             SELECT {target}, tier, s, ({now} / res - ((({now} / res) - s) % len)) * res, X'{body}' \
             FROM tiers, n WHERE n.s < tiers.len",
            tiers.join(", ")
        );
        sqlx::query(&sql).execute(&db).await.unwrap();
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&db).await.unwrap();
    let bytes = std::fs::metadata(dir.join("corral.db")).map(|m| m.len()).unwrap_or(0);

    let router = build_router(state.clone(), &RouterOptions::default());
    let login = serde_json::json!({"username": "admin", "password": password}).to_string();
    let r = send(&router, "POST", "/api/v1/session", None, Some(login)).await;
    let cookie = r.1.unwrap();
    let uri = format!(
        "/api/v1/machines/{id}/metrics?metric=cpu_seconds&from={}&to={now}&points=1000",
        now - 365 * 86_400
    );
    // Steady state: the first reads bring the machine's pages into SQLite's cache.
    for _ in 0..10 {
        send(&router, "GET", &uri, Some(&cookie), None).await;
    }
    let mut api = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        let (status, _, body) = send(&router, "GET", &uri, Some(&cookie), None).await;
        api.push(t.elapsed());
        assert_eq!(status, 200, "{body}");
        let points = serde_json::from_str::<serde_json::Value>(&body).unwrap()["series"][0]["at"]
            .as_array()
            .map(Vec::len);
        assert!(points.is_some_and(|n| n > 500), "a year of points: {points:?}");
    }
    let mut raw = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        let rows = sqlx::query("SELECT at, body FROM metric_rows WHERE target_id = 1 AND tier = 3")
            .fetch_all(&db)
            .await
            .unwrap();
        raw.push(t.elapsed());
        assert_eq!(rows.len(), 8_760);
    }
    let admin = corral::store::users::user_list(&db).await.unwrap().into_iter().find(|u| u.is_admin).unwrap();
    let actor = corral::auth::Actor {
        id: admin.id,
        username: admin.username.clone(),
        is_admin: true,
        roles: Default::default(),
        me: corral_api::session::Me {
            id: admin.id,
            username: admin.username,
            is_admin: true,
            memberships: vec![],
        },
        token: None,
        session: None,
    };
    let q = corral_api::metrics::MetricQuery {
        metric: corral_api::metrics::Metric::CpuSeconds,
        from: Some(now - 365 * 86_400),
        to: Some(now),
        points: Some(1000),
    };
    let mut chart = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        let s = corral::app::metrics::machine_metrics(&state, &actor, id, q.clone()).await.unwrap();
        chart.push(t.elapsed());
        assert!(s.series[0].at.len() > 500);
    }
    api.sort();
    raw.sort();
    chart.sort();
    let p99 = |v: &[Duration]| v[(v.len() * 99 / 100).min(v.len() - 1)];
    Year {
        api: (p99(&api), api[api.len() / 2]),
        chart: (p99(&chart), chart[chart.len() / 2]),
        raw: p99(&raw),
        per_machine: bytes / machines() as u64,
    }
}

/// One request through the router: status, the session cookie it set, the body.
async fn send(
    router: &axum::Router,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    body: Option<String>,
) -> (u16, Option<String>, String) {
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri).header("host", "bench");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(axum::body::Body::from(body.unwrap_or_default())).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    (status, cookie, String::from_utf8_lossy(&bytes).into_owned())
}

/// The gzipped size of the built frontend's wasm, in KB.
fn bundle_kb() -> Option<f64> {
    let wasm = root().join("frontend/dist/pkg/corral_frontend_bg.wasm");
    let out = std::process::Command::new("gzip").args(["-9", "-c"]).arg(&wasm).output().ok()?;
    out.status.success().then(|| out.stdout.len() as f64 / 1000.0)
}

pub async fn rows(dir: &Path) -> Vec<FigureRow> {
    let window = window();
    let sampled = backend_cpu(&dir.join("ingest"), "10000", window).await;
    let quiet = backend_cpu(&dir.join("quiet"), "3600000", window).await;
    let year = year_chart(&dir.join("year"), 200).await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mib = |b: u64| format!("{:.2} MiB", b as f64 / 1_048_576.0);
    vec![
        FigureRow {
            what: "metrics ingest: 1,000 machines sampled every 10 s (backend CPU)",
            ours: format!("{:.1}% of a core ({sampled:.1}% in all)", sampled - quiet),
            base_name: "same backend and machines, no sampling",
            base: format!("{quiet:.1}% of a core"),
            goal: "< 5% of a core".into(),
        },
        FigureRow {
            what: "year chart of one machine, SQLite with a year of 1,000 machines (app layer, p99)",
            ours: format!("{:.1} ms (median {:.1} ms)", ms(year.chart.0), ms(year.chart.1)),
            base_name: "the same 8,760 rows read by SQL alone (p99)",
            base: format!("{:.1} ms", ms(year.raw)),
            goal: "< 50 ms p99".into(),
        },
        FigureRow {
            what: "the same through the API (session refresh, policy, JSON; p99)",
            ours: format!("{:.1} ms (median {:.1} ms)", ms(year.api.0), ms(year.api.1)),
            base_name: "the app layer alone (p99)",
            base: format!("{:.1} ms", ms(year.chart.0)),
            goal: "—".into(),
        },
        FigureRow {
            what: "stored per machine-year (every tier full, 11 series)",
            ours: mib(year.per_machine),
            base_name: "Proxmox VE 9 RRD per VM (17 sources, arithmetic)",
            base: "1.27 MiB".into(),
            goal: format!("bounded: {} rows a machine, whatever its age", rollup::ROWS_PER_TARGET),
        },
        FigureRow {
            what: "frontend bundle with the charts (wasm, gzip -9)",
            ours: bundle_kb().map_or("not built".into(), |kb| format!("{kb:.0} KB")),
            base_name: "before plotters (7e9f74b, measured then)",
            base: "712 KB".into(),
            goal: "growth stated; < 350 KB later".into(),
        },
    ]
}
