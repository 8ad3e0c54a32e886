//! The bridge's `/v1` routes through `oneshot`: statuses, bodies, and bad input refused with
//! the error body while nothing changes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use corral_api::bridge::{BridgeMachine, BridgeVersion, HostFacts};
use corral_api::machine::MachineState;
use corral_api::spec::MachineKind;
use corral_api::task::{BridgeTask, TaskState};
use corral_api::{ErrorBody, ErrorCode, MachineId};
use corral_bridge::driver::sim::{SimConfig, SimDriver};
use corral_bridge::host::RealExec;
use corral_bridge::images::ImageStore;
use corral_bridge::server::{BridgeState, build_router};
use corral_bridge::store::MachineStore;
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Fixture {
    router: Router,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    fixture_running(MachineKind::ALL.to_vec())
}

/// A sim bridge that runs only these kinds of machine.
fn fixture_running(kinds: Vec<MachineKind>) -> Fixture {
    fixture_with(kinds, None)
}

/// A sim bridge whose transitions complete by themselves, sampling its node and machines.
fn sampling_fixture(every: Duration) -> Fixture {
    let sampling = corral_bridge::metrics::Sampling { every, ..Default::default() };
    fixture_with(MachineKind::ALL.to_vec(), Some(sampling))
}

fn fixture_with(kinds: Vec<MachineKind>, sampling: Option<corral_bridge::metrics::Sampling>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let images = ImageStore::open(dir.path(), Arc::new(RealExec), "qemu-img").unwrap();
    let sim = SimDriver::open(
        SimConfig {
            delay: Duration::from_millis(10),
            step_mode: sampling.is_none(),
            host: HostFacts { hostname: "n1".into(), cpus: 4, memory_mib: 2048, disk_gib: 20 },
            kinds,
        },
        MachineStore::open(dir.path()).unwrap(),
    )
    .unwrap();
    let metrics = match sampling {
        Some(s) => corral_bridge::metrics::Metrics::start(Arc::new(sim.clone()), s),
        None => Default::default(),
    };
    let state = BridgeState {
        metrics,
        driver: Arc::new(sim.clone()),
        images,
        tasks: Default::default(),
        sim: Some(sim),
        heartbeat: Duration::from_secs(5),
        host_bridges: vec![],
    };
    Fixture { router: build_router(state), _dir: dir }
}

async fn call(f: &Fixture, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
    let resp = f.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    (status, resp.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn create_body(id: MachineId, name: &str, vcpus: u32) -> String {
    format!(r#"{{"id":"{id}","name":"{name}","vcpus":{vcpus},"memory_mib":256,"disk_gib":2}}"#)
}

/// Follows a `202` answer's task until it ends.
async fn task_end(f: &Fixture, accepted: &[u8]) -> BridgeTask {
    let task: BridgeTask = serde_json::from_slice(accepted).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = call(f, "GET", &format!("/v1/tasks/{}", task.id), None).await;
        let now: BridgeTask = serde_json::from_slice(&body).unwrap();
        if now.state != TaskState::Running {
            return now;
        }
        assert!(std::time::Instant::now() < deadline, "task {} never ended: {now:?}", task.id);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The event stream's next line, within 10 s.
async fn next_line(body: &mut Body) -> String {
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame()).await;
    let frame = frame.expect("no event within 10 s").expect("the stream ended").unwrap();
    String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
}

/// A create that must work: `202`, then its task succeeds.
async fn create(f: &Fixture, id: MachineId, name: &str) {
    let (status, body) = call(f, "POST", "/v1/machines", Some(&create_body(id, name, 1))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&body));
    let task = task_end(f, &body).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    assert_eq!((task.kind.as_str(), task.machine_id), ("machine_create", Some(id)));
}

async fn machine_count(f: &Fixture) -> usize {
    let (_, body) = call(f, "GET", "/v1/machines", None).await;
    serde_json::from_slice::<Vec<BridgeMachine>>(&body).unwrap().len()
}

#[tokio::test]
async fn version_reports_driver_capabilities_and_host() {
    let f = fixture();
    let (status, body) = call(&f, "GET", "/v1/version", None).await;
    assert_eq!(status, StatusCode::OK);
    let v: BridgeVersion = serde_json::from_slice(&body).unwrap();
    assert_eq!((v.api_version, v.driver.as_str()), (corral_api::bridge::BRIDGE_API_VERSION, "sim"));
    assert!(v.capabilities.contains(&"step".to_string()));
    assert_eq!(v.host.cpus, 4);
}

#[tokio::test]
async fn create_then_retry_is_one_machine() {
    let f = fixture();
    let id = MachineId::new_random();
    create(&f, id, "a").await;
    let (status, body) = call(&f, "POST", "/v1/machines", Some(&create_body(id, "a", 1))).await;
    assert_eq!(status, StatusCode::OK, "a retry answers with the machine already made");
    let m: BridgeMachine = serde_json::from_slice(&body).unwrap();
    assert_eq!((m.id, m.state), (id, MachineState::Creating));
    let (status, body) = call(&f, "POST", "/v1/machines", Some(&create_body(id, "a", 2))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(serde_json::from_slice::<ErrorBody>(&body).unwrap().code, ErrorCode::Conflict);
    assert_eq!(machine_count(&f).await, 1);
}

#[tokio::test]
async fn life_cycle_through_routes() {
    let f = fixture();
    let id = MachineId::new_random();
    create(&f, id, "a").await;
    let step = format!("/v1/sim/machines/{id}/step");
    let (s, _) = call(&f, "POST", &step, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = call(&f, "POST", &format!("/v1/machines/{id}/start"), None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(serde_json::from_slice::<BridgeMachine>(&body).unwrap().state, MachineState::Starting);
    call(&f, "POST", &step, None).await;
    let (s, body) = call(&f, "DELETE", &format!("/v1/machines/{id}"), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{}", String::from_utf8_lossy(&body));
    let (s, body) = call(&f, "DELETE", &format!("/v1/machines/{id}?force=true"), None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let task = task_end(&f, &body).await;
    assert_eq!((task.kind.as_str(), task.state), ("machine_delete", TaskState::Succeeded), "{task:?}");
    let (s, _) = call(&f, "POST", &step, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(machine_count(&f).await, 0);
}

#[tokio::test]
async fn bad_input_is_refused_with_the_error_body_and_changes_nothing() {
    let f = fixture();
    let id = MachineId::new_random();
    let cases: Vec<(String, StatusCode, ErrorCode)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
        (
            format!(r#"{{"id":"{id}","name":"a","vcpus":1,"memory_mib":256,"disk_gib":2,"x":1}}"#),
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
        ),
        (
            format!(r#"{{"id":"{id}","name":"a","vcpus":-1,"memory_mib":256,"disk_gib":2}}"#),
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
        ),
        (create_body(id, "Bad Name", 1), StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed),
        (create_body(id, &"a".repeat(64), 1), StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed),
        (create_body(id, "a", 0), StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed),
        (
            format!(
                r#"{{"id":"{id}","name":"a","vcpus":1,"memory_mib":256,"disk_gib":2,"host_bridge":"br0"}}"#
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
        ),
        (
            format!(
                r#"{{"id":"{id}","name":"a","vcpus":1,"memory_mib":256,"disk_gib":2,"boot_order":["disk","disk"]}}"#
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
        ),
        (
            format!(
                r#"{{"id":"{id}","name":"a","vcpus":1,"memory_mib":256,"disk_gib":2,"boot_order":["floppy"]}}"#
            ),
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
        ),
    ];
    for (body, want_status, want_code) in cases {
        let (status, resp) = call(&f, "POST", "/v1/machines", Some(&body)).await;
        let err: ErrorBody = serde_json::from_slice(&resp).unwrap();
        assert_eq!((status, err.code), (want_status, want_code), "{body} -> {}", err.message);
        assert!(!err.message.is_empty());
    }
    assert_eq!(machine_count(&f).await, 0);

    // What only the node can tell (no room for 4 GiB of memory in 2) fails the task, with the
    // same body.
    let big = create_body(id, "a", 1).replace(r#""memory_mib":256"#, r#""memory_mib":4096"#);
    let (status, body) = call(&f, "POST", "/v1/machines", Some(&big)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = task_end(&f, &body).await;
    assert_eq!(task.state, TaskState::Failed);
    assert_eq!(task.error.unwrap().code, ErrorCode::InsufficientCapacity);
    assert_eq!(machine_count(&f).await, 0);

    let unknown = MachineId::new_random();
    let (s, _) = call(&f, "GET", &format!("/v1/machines/{unknown}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&f, "POST", &format!("/v1/machines/{unknown}/start"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&f, "GET", "/v1/machines/not-a-uuid", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(&f, "POST", &format!("/v1/machines/{unknown}/explode"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = call(&f, "PUT", "/v1/machines", None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(serde_json::from_slice::<ErrorBody>(&body).unwrap().code, ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn event_stream_starts_with_hello_and_carries_changes() {
    let f = fixture();
    let req = Request::get("/v1/events").body(Body::empty()).unwrap();
    let resp = f.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let mut body = resp.into_body();
    assert_eq!(next_line(&mut body).await, "{\"type\":\"hello\",\"driver\":\"sim\"}\n");

    let id = MachineId::new_random();
    call(&f, "POST", "/v1/machines", Some(&create_body(id, "a", 1))).await;
    // The create's task comes first, then the machine it makes.
    let line = loop {
        let line = next_line(&mut body).await;
        assert!(line.ends_with('\n'), "{line}");
        if !line.starts_with("{\"type\":\"task_changed\"") {
            break line;
        }
    };
    assert!(line.starts_with("{\"type\":\"machine_changed\""), "{line}");
    assert!(line.contains(&id.to_string()) && line.contains("\"creating\""), "{line}");
}

#[tokio::test]
async fn a_kind_the_node_does_not_run_is_refused_on_its_field() {
    let f = fixture_running(vec![MachineKind::Vm]);
    let (_, body) = call(&f, "GET", "/v1/version", None).await;
    assert_eq!(serde_json::from_slice::<BridgeVersion>(&body).unwrap().kinds, [MachineKind::Vm]);
    let zone = format!(
        r#"{{"id":"{}","name":"z","kind":"zone","vcpus":1,"memory_mib":64,"disk_gib":1}}"#,
        MachineId::new_random()
    );
    let (status, body) = call(&f, "POST", "/v1/machines", Some(&zone)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let e: ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ValidationFailed, Some("kind")), "{e:?}");
    assert_eq!(e.message, "kind: this node runs no zones");
    assert_eq!(machine_count(&f).await, 0);
    let odd = zone.replace(r#""zone""#, r#""jail""#);
    let (status, body) = call(&f, "POST", "/v1/machines", Some(&odd)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a kind nobody knows is malformed JSON");
    assert_eq!(serde_json::from_slice::<ErrorBody>(&body).unwrap().code, ErrorCode::InvalidRequest);
}

/// Samples of the node and of each running machine are kept and served after a number; the
/// event stream says when new ones are ready; a machine that stops is sampled no more.
#[tokio::test]
async fn samples_are_served_after_a_number_and_announced() {
    use corral_api::metrics::{Metric, MetricPage, MetricTarget};
    let f = sampling_fixture(Duration::from_millis(50));
    let id = MachineId::new_random();
    create(&f, id, "busy").await;
    // Transitions complete by themselves here: the new machine settles stopped first.
    let state = |f: &Fixture| {
        let f = f.router.clone();
        async move {
            let req = Request::builder().uri(format!("/v1/machines/{id}")).body(Body::empty()).unwrap();
            let body = f.oneshot(req).await.unwrap().into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<BridgeMachine>(&body).unwrap().state
        }
    };
    while state(&f).await != MachineState::Stopped {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _) = call(&f, "POST", &format!("/v1/machines/{id}/start"), Some("{}")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    while state(&f).await != MachineState::Running {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let req = Request::builder().uri("/v1/events").body(Body::empty()).unwrap();
    let mut events = f.router.clone().oneshot(req).await.unwrap().into_body();
    assert!(next_line(&mut events).await.contains("hello"));
    let sampled = loop {
        let line = next_line(&mut events).await;
        if line.contains("sampled") {
            break line;
        }
    };
    let seq = serde_json::from_str::<serde_json::Value>(&sampled).unwrap()["seq"].as_u64().unwrap();

    let page = |after: u64| {
        let f = &f;
        async move {
            let (status, body) = call(f, "GET", &format!("/v1/metrics?after={after}"), None).await;
            assert_eq!(status, StatusCode::OK);
            serde_json::from_slice::<MetricPage>(&body).unwrap()
        }
    };
    let all = page(0).await;
    assert!(all.samples.iter().any(|s| s.seq == seq), "the announced sample is served");
    assert!(all.samples.windows(2).all(|w| w[1].seq == w[0].seq + 1), "in order, no gaps");
    assert!(all.samples.iter().any(|s| s.target == MetricTarget::Node));
    let ours =
        all.samples.iter().rev().find(|s| s.target == MetricTarget::Machine { id }).expect("the machine");
    let cpu = ours.points.iter().find(|p| p.metric == Metric::CpuSeconds).unwrap();
    assert!(cpu.start_ms.is_some(), "a counter says when it began");
    let later = page(seq).await;
    assert!(later.samples.iter().all(|s| s.seq > seq));

    let (status, body) = call(&f, "GET", "/v1/metrics?after=x", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));

    let (status, body) = call(&f, "POST", &format!("/v1/machines/{id}/stop"), Some("{}")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&body));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let newest = page(0).await.samples.last().unwrap().seq;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_stop = page(newest).await;
    assert!(!after_stop.samples.is_empty(), "the node is still sampled");
    assert!(after_stop.samples.iter().all(|s| s.target == MetricTarget::Node), "a stopped machine is not");
}
