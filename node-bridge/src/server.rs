//! The bridge's `/v1` routes: the contract every driver serves.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/version` | api version, driver, capabilities, host facts |
//! | `GET /v1/machines` | every machine on the node |
//! | `POST /v1/machines` | create: 202 + task (idempotent on the id the backend chose) |
//! | `GET /v1/machines/{id}` | one machine |
//! | `DELETE /v1/machines/{id}?force=` | delete: 202 + task |
//! | `PATCH /v1/machines/{id}` | rename, grow a stopped disk, boot order, insert or eject a CD |
//! | `POST /v1/machines/{id}/{start,stop,reboot}` | power actions |
//! | `GET /v1/events` | newline-delimited JSON of `BridgeEvent`s |
//! | `GET /v1/machines/{id}/snapshots`, `POST …/snapshots` | the snapshot tree; take one |
//! | `POST …/snapshots/{name}/rollback`, `…/clone`, `DELETE …/snapshots/{name}` | use one |
//! | `GET /v1/machines/{id}/serial?offset=` | serial console: replay, then live (an upgrade) |
//! | `GET /v1/machines/{id}/vnc` | the VNC byte stream (an upgrade) |
//! | `GET /v1/machines/{id}/shell?cols=&rows=` | a zone shell on a terminal; framed input, raw output (an upgrade) |
//! | `GET /v1/images`, `POST /v1/images` | the image store: list; import (202 + task) |
//! | `GET /v1/tasks`, `GET /v1/tasks/{id}` | recent tasks, with steps, progress and log |
//! | `GET /v1/metrics?after=&limit=` | samples of the node and its machines after a number |
//! | `GET /v1/images/{name}`, `DELETE /v1/images/{name}` | one image (delete refused while used) |
//! | `POST /v1/sim/machines/{id}/step` | sim driver only |

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use corral_api::bridge::{
    BRIDGE_API_VERSION, BridgeEvent, BridgeImageImport, BridgeMachineCreate, BridgeMachineUpdate,
    BridgeSnapshotClone, BridgeSnapshotCreate, BridgeVersion,
};
use corral_api::machine::MachineState;
use corral_api::{MachineId, TaskId};
use futures::StreamExt;
use serde::Deserialize;

use crate::driver::sim::SimDriver;
use crate::driver::{Driver, PowerAction};
use crate::error::BridgeError;
use crate::images::ImageStore;
use crate::tasks::Tasks;

#[derive(Clone)]
pub struct BridgeState {
    pub driver: Arc<dyn Driver>,
    pub images: ImageStore,
    pub tasks: Tasks,
    /// Set only when the sim driver runs; enables `/v1/sim/…`.
    pub sim: Option<SimDriver>,
    /// Host bridges machines' NICs may join.
    pub host_bridges: Vec<String>,
    pub heartbeat: Duration,
    /// Recent samples of the node and its machines.
    pub metrics: crate::metrics::Metrics,
}

/// `axum::Json` that answers malformed input with our error body.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(BridgeError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(BridgeError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(BridgeError))]
pub struct Query<T>(pub T);

impl From<JsonRejection> for BridgeError {
    fn from(r: JsonRejection) -> Self {
        BridgeError::InvalidRequest(r.body_text())
    }
}
impl From<PathRejection> for BridgeError {
    fn from(r: PathRejection) -> Self {
        BridgeError::InvalidRequest(r.body_text())
    }
}
impl From<QueryRejection> for BridgeError {
    fn from(r: QueryRejection) -> Self {
        BridgeError::InvalidRequest(r.body_text())
    }
}

pub fn build_router(state: BridgeState) -> Router {
    let mut router = Router::new()
        .route("/v1/version", get(version_get))
        .route("/v1/machines", get(machine_list).post(machine_create))
        .route("/v1/machines/{id}", get(machine_get).delete(machine_delete).patch(machine_update))
        .route("/v1/machines/{id}/{action}", post(machine_power))
        .route("/v1/events", get(events_stream))
        .route("/v1/machines/{id}/snapshots", get(snapshot_list).post(snapshot_create))
        .route("/v1/machines/{id}/snapshots/{name}", axum::routing::delete(snapshot_delete))
        .route("/v1/machines/{id}/snapshots/{name}/rollback", post(snapshot_rollback))
        .route("/v1/machines/{id}/snapshots/{name}/clone", post(snapshot_clone))
        .route("/v1/machines/{id}/serial", get(crate::console::serial_stream))
        .route("/v1/machines/{id}/vnc", get(crate::console::vnc_stream))
        .route("/v1/machines/{id}/shell", get(crate::console::shell_stream))
        .route("/v1/images", get(image_list).post(image_import))
        .route("/v1/tasks", get(task_list))
        .route("/v1/tasks/{id}", get(task_get))
        .route("/v1/metrics", get(metrics_after))
        .route("/v1/images/{name}", get(image_get).delete(image_delete));
    if state.sim.is_some() {
        router = router.route("/v1/sim/machines/{id}/step", post(sim_step));
    }
    router
        .fallback(|| async { BridgeError::RouteNotFound })
        .method_not_allowed_fallback(|| async { BridgeError::MethodNotAllowed })
        .with_state(state)
}

async fn version_get(State(s): State<BridgeState>) -> Json<BridgeVersion> {
    Json(BridgeVersion {
        api_version: BRIDGE_API_VERSION,
        bridge_version: env!("CARGO_PKG_VERSION").to_string(),
        driver: s.driver.name().to_string(),
        capabilities: s.driver.capabilities(),
        kinds: s.driver.kinds(),
        host: s.driver.host_facts(),
        accelerator: s.driver.accelerator(),
        host_bridges: s.host_bridges.clone(),
    })
}

async fn machine_list(State(s): State<BridgeState>) -> Response {
    Json(s.driver.machine_list().await).into_response()
}

async fn machine_get(
    State(s): State<BridgeState>,
    Path(id): Path<MachineId>,
) -> Result<Response, BridgeError> {
    Ok(Json(s.driver.machine_get(id).await?).into_response())
}

/// Answers `202` with the task that makes the machine, or `200` with the machine when it
/// exists already with this spec (a retry). What the request alone shows wrong is a 4xx at
/// once; what the node finds (no room, a port taken, a failing `qemu-img`) fails the task.
async fn machine_create(
    State(s): State<BridgeState>,
    Json(req): Json<BridgeMachineCreate>,
) -> Result<Response, BridgeError> {
    corral_api::validate::machine_name(&req.name)?;
    corral_api::validate::vcpus(req.vcpus)?;
    corral_api::validate::memory_mib(req.memory_mib)?;
    corral_api::validate::disk_gib(req.disk_gib)?;
    corral_api::validate::port_forwards(&req.port_forwards)?;
    corral_api::validate::boot_order(&req.boot_order)?;
    corral_api::validate::network(req.host_bridge.as_deref(), &req.port_forwards)?;
    if let Some(init) = &req.init {
        corral_api::validate::guest_init(init)?;
    }
    if !s.driver.kinds().contains(&req.kind) {
        return Err(BridgeError::Validation {
            field: "kind",
            message: format!("this node runs no {}s", req.kind.label()),
        });
    }
    if let Some(image) = &req.image {
        corral_api::validate::image_name(image)?;
        s.images.get(image).map_err(|_| BridgeError::Validation {
            field: "image",
            message: format!("this node has no image named {image}"),
        })?;
    }
    if let Some(iso) = &req.cdrom {
        corral_api::validate::cdrom(iso)?;
    }
    if let Some(bridge) = &req.host_bridge
        && !s.host_bridges.contains(bridge)
    {
        return Err(BridgeError::Validation {
            field: "host_bridge",
            message: match s.host_bridges.is_empty() {
                true => "this node offers no host bridges".into(),
                false => format!("this node offers host bridges {}", s.host_bridges.join(", ")),
            },
        });
    }
    if let Ok(existing) = s.driver.machine_get(req.id).await {
        return match req.matches(&existing) {
            true => Ok((StatusCode::OK, Json(existing)).into_response()),
            false => {
                Err(BridgeError::Conflict(format!("machine {} already exists with another spec", req.id)))
            }
        };
    }
    let (id, target, driver) = (req.id, req.name.clone(), s.driver.clone());
    Ok(as_task(&s, "machine_create", "create", id, &target, async move {
        let (m, _) = driver.machine_create(req).await?;
        Ok(format!("machine {} ({})", m.name, m.id))
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

/// Answers `202` with the task that removes the machine and its disks. A running machine is
/// refused at once unless `force`.
async fn machine_delete(
    State(s): State<BridgeState>,
    Path(id): Path<MachineId>,
    Query(q): Query<DeleteQuery>,
) -> Result<Response, BridgeError> {
    let m = s.driver.machine_get(id).await?;
    match m.state {
        MachineState::Creating => {
            return Err(BridgeError::Conflict(format!("machine {id} is still being created")));
        }
        MachineState::Stopped | MachineState::Failed | MachineState::Deleting => {}
        _ if q.force => {}
        state => {
            return Err(BridgeError::Conflict(format!(
                "machine {id} is {state}; stop it first or delete with force"
            )));
        }
    }
    let (driver, name) = (s.driver.clone(), m.name.clone());
    Ok(as_task(&s, "machine_delete", "delete", id, &m.name, async move {
        driver.machine_delete(id, q.force).await?;
        Ok(format!("machine {name} deleted with its disks"))
    }))
}

async fn machine_update(
    State(s): State<BridgeState>,
    Path(id): Path<MachineId>,
    Json(req): Json<BridgeMachineUpdate>,
) -> Result<Response, BridgeError> {
    corral_api::validate::machine_update(&req)?;
    Ok(Json(s.driver.machine_update(id, req).await?).into_response())
}

async fn machine_power(
    State(s): State<BridgeState>,
    Path((id, action)): Path<(MachineId, String)>,
) -> Result<Response, BridgeError> {
    let action = PowerAction::parse(&action).ok_or(BridgeError::RouteNotFound)?;
    let m = s.driver.machine_power(id, action).await?;
    Ok((StatusCode::ACCEPTED, Json(m)).into_response())
}

async fn snapshot_list(
    State(s): State<BridgeState>,
    Path(id): Path<MachineId>,
) -> Result<Response, BridgeError> {
    Ok(Json(s.driver.snapshot_list(id).await?).into_response())
}

/// Runs `work` as a task of one step and answers `202` with the task at once. What can be
/// checked without touching the machine (the name, that it exists) is checked before, so
/// such mistakes are plain 4xx answers rather than failed tasks.
fn as_task<F>(s: &BridgeState, kind: &str, step: &str, machine: MachineId, target: &str, work: F) -> Response
where
    F: std::future::Future<Output = Result<String, BridgeError>> + Send + 'static,
{
    let task = s.tasks.start(kind, Some(machine), target, &[step]);
    let answer = task.snapshot();
    let step = step.to_string();
    tokio::spawn(async move {
        task.step(&step);
        match work.await {
            Ok(result) => task.succeed(result),
            Err(e) => task.fail(&e),
        }
    });
    (StatusCode::ACCEPTED, Json(answer)).into_response()
}

async fn snapshot_create(
    State(s): State<BridgeState>,
    Path(id): Path<MachineId>,
    Json(req): Json<BridgeSnapshotCreate>,
) -> Result<Response, BridgeError> {
    corral_api::validate::snapshot_name(&req.name)?;
    s.driver.machine_get(id).await?;
    let (driver, name) = (s.driver.clone(), req.name.clone());
    Ok(as_task(&s, "snapshot_create", "create", id, &name, async move {
        let snap = driver.snapshot_create(id, req).await?;
        Ok(format!("snapshot {} of the disk{}", snap.name, if snap.ram { " and RAM" } else { "" }))
    }))
}

async fn snapshot_rollback(
    State(s): State<BridgeState>,
    Path((id, name)): Path<(MachineId, String)>,
) -> Result<Response, BridgeError> {
    corral_api::validate::snapshot_name(&name)?;
    s.driver.machine_get(id).await?;
    let driver = s.driver.clone();
    let target = name.clone();
    Ok(as_task(&s, "snapshot_rollback", "rollback", id, &target, async move {
        driver.snapshot_rollback(id, &name).await?;
        Ok(format!("back at snapshot {name}"))
    }))
}

async fn snapshot_delete(
    State(s): State<BridgeState>,
    Path((id, name)): Path<(MachineId, String)>,
) -> Result<Response, BridgeError> {
    corral_api::validate::snapshot_name(&name)?;
    s.driver.machine_get(id).await?;
    let driver = s.driver.clone();
    let target = name.clone();
    Ok(as_task(&s, "snapshot_delete", "delete", id, &target, async move {
        driver.snapshot_delete(id, &name).await?;
        Ok(format!("snapshot {name} deleted"))
    }))
}

async fn snapshot_clone(
    State(s): State<BridgeState>,
    Path((id, name)): Path<(MachineId, String)>,
    Json(req): Json<BridgeSnapshotClone>,
) -> Result<Response, BridgeError> {
    corral_api::validate::snapshot_name(&name)?;
    corral_api::validate::machine_name(&req.name)?;
    if let Some(init) = &req.init {
        corral_api::validate::guest_init(init)?;
    }
    s.driver.machine_get(id).await?;
    let driver = s.driver.clone();
    let target = req.name.clone();
    Ok(as_task(&s, "snapshot_clone", "clone", id, &target, async move {
        let m = driver.snapshot_clone(id, &name, req).await?;
        Ok(format!("machine {} ({}) from snapshot {name}", m.name, m.id))
    }))
}

async fn image_list(State(s): State<BridgeState>) -> Result<Response, BridgeError> {
    Ok(Json(s.images.list()?).into_response())
}

async fn image_get(State(s): State<BridgeState>, Path(name): Path<String>) -> Result<Response, BridgeError> {
    Ok(Json(s.images.get(&name)?).into_response())
}

/// Starts an import and answers `202` with its task; the work goes on in the background.
async fn image_import(
    State(s): State<BridgeState>,
    Json(req): Json<BridgeImageImport>,
) -> Result<Response, BridgeError> {
    if let Some(sha) = &req.sha256
        && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(BridgeError::Validation { field: "sha256", message: "64 hexadecimal digits".into() });
    }
    let claim = s.images.claim(&req.name, &req.source)?;
    let task = s.tasks.start("image_import", None, &req.name, &["fetch", "verify", "install"]);
    let snapshot = task.snapshot();
    tokio::spawn(claim.run(req.sha256, task));
    Ok((StatusCode::ACCEPTED, Json(snapshot)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
}

async fn metrics_after(State(s): State<BridgeState>, Query(q): Query<MetricsQuery>) -> Response {
    let limit = q.limit.unwrap_or(corral_api::metrics::METRIC_PAGE_MAX);
    Json(s.metrics.after(q.after, limit)).into_response()
}

async fn task_list(State(s): State<BridgeState>) -> Response {
    Json(s.tasks.list()).into_response()
}

async fn task_get(State(s): State<BridgeState>, Path(id): Path<TaskId>) -> Result<Response, BridgeError> {
    s.tasks.get(id).map(|t| Json(t).into_response()).ok_or(BridgeError::RouteNotFound)
}

async fn image_delete(
    State(s): State<BridgeState>,
    Path(name): Path<String>,
) -> Result<Response, BridgeError> {
    // A disk image backs its machines' disks; an ISO is used while it sits in a CD drive.
    let iso = s.images.get(&name)?.format == "iso";
    let users: Vec<String> = s
        .driver
        .machine_list()
        .await
        .into_iter()
        .filter(|m| match iso {
            true => m.cdrom.as_deref() == Some(name.as_str()),
            false => m.image.as_deref() == Some(name.as_str()),
        })
        .map(|m| m.name)
        .collect();
    if !users.is_empty() {
        return Err(BridgeError::Conflict(format!("image {name} is used by {}", users.join(", "))));
    }
    s.images.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn sim_step(State(s): State<BridgeState>, Path(id): Path<MachineId>) -> Result<Response, BridgeError> {
    let sim = s.sim.as_ref().ok_or(BridgeError::RouteNotFound)?;
    match sim.step(id) {
        Ok(m) => Ok(Json(m).into_response()),
        // The step finished a delete: nothing left to show.
        Err(BridgeError::MachineNotFound(_)) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(e),
    }
}

/// Newline-delimited JSON: `hello`, then every change, with heartbeats in the quiet. A reader
/// that falls behind is cut off (it has lost events and must list again), never slowed down.
async fn events_stream(State(s): State<BridgeState>) -> Response {
    let hello = BridgeEvent::Hello { driver: s.driver.name().to_string() };
    let mut tick = tokio::time::interval(s.heartbeat);
    tick.reset(); // the first tick would fire at once; hello already says we are alive
    let mut sampled = s.metrics.watch();
    sampled.mark_unchanged(); // only samples taken from now on are news
    let receivers = (s.driver.subscribe(), s.tasks.subscribe(), tick, sampled);
    let changes =
        futures::stream::unfold(receivers, |(mut machines, mut tasks, mut tick, mut sampled)| async move {
            let ev = tokio::select! {
                r = machines.recv() => match r {
                    Ok(ev) => ev,
                    // Lagged: events were lost, so end the stream; Closed: the driver is gone.
                    Err(_) => return None,
                },
                r = tasks.recv() => match r {
                    Ok(ev) => ev,
                    Err(_) => return None,
                },
                // A watch never lags: a slow reader hears of the newest sample only.
                r = sampled.changed() => match r {
                    Ok(()) => BridgeEvent::Sampled { seq: *sampled.borrow_and_update() },
                    Err(_) => return None,
                },
                _ = tick.tick() => BridgeEvent::Heartbeat,
            };
            Some((ev, (machines, tasks, tick, sampled)))
        });
    let lines = futures::stream::once(async { hello })
        .chain(changes)
        .map(|ev| Ok::<_, Infallible>(Bytes::from(ndjson_line(&ev))));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(lines))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn ndjson_line(ev: &BridgeEvent) -> Vec<u8> {
    let mut line = serde_json::to_vec(ev).unwrap_or_default();
    line.push(b'\n');
    line
}
