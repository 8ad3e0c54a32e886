//! A typed client for the bridge's `/v1` API over any `Transport`.
//!
//! Each request opens its own stream (cheap on a unix socket, a channel on SSH), so one slow
//! request never holds up another. Every request has a deadline, and every answer a size cap:
//! a node is not trusted to keep its answers small, so a larger one fails the request instead
//! of filling the backend's memory.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use corral_api::bridge::{
    BridgeEvent, BridgeImage, BridgeImageImport, BridgeMachine, BridgeMachineCreate, BridgeMachineUpdate,
    BridgeSnapshot, BridgeSnapshotClone, BridgeSnapshotCreate, BridgeVersion,
};
use corral_api::task::{BridgeTask, TaskState};
use corral_api::{ErrorBody, MachineId, TaskId, paths};
use futures::Stream;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use super::transport::Transport;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The link failed: nothing answered, or the connection broke mid-way.
    #[error("{0}")]
    Unreachable(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The bridge answered with an error.
    #[error("{} ({status})", body.message)]
    Api { status: StatusCode, body: ErrorBody },
    /// The bridge answered something we cannot read (version skew?).
    #[error("unreadable answer: {0}")]
    Protocol(String),
}

impl NodeError {
    /// Whether the request may not have reached the bridge (so a retry is the way to know).
    pub fn is_link_failure(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Timeout(_))
    }
}

#[derive(Clone, Debug)]
pub struct BridgeClient {
    transport: Arc<dyn Transport>,
    timeout: Duration,
    /// Told of each task this client starts, before the client follows it.
    on_start: Option<Arc<dyn TaskStarted>>,
}

/// Hears of each task a node starts at a client's request, as soon as the node answers: the
/// backend records who asked, which a node does not know. It cannot fail the request: the
/// node has already begun the work.
#[async_trait::async_trait]
pub trait TaskStarted: Send + Sync + std::fmt::Debug {
    async fn task_started(&self, task: &BridgeTask);
}

type Body = Full<Bytes>;

/// The largest answer read from a node (a listing of some ten thousand machines fits).
pub const ANSWER_MAX_BYTES: usize = 32 << 20;
/// The largest error body, and the longest line of the event stream.
pub const ERROR_MAX_BYTES: usize = 64 << 10;
pub const EVENT_LINE_MAX_BYTES: usize = 1 << 20;

/// Reads a whole body, failing past `max` bytes.
async fn read_capped(body: hyper::body::Incoming, max: usize) -> Result<Bytes, NodeError> {
    http_body_util::Limited::new(body, max).collect().await.map(|c| c.to_bytes()).map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            NodeError::Protocol(format!("the answer is larger than {max} bytes"))
        } else {
            NodeError::Unreachable(format!("reading answer: {e}"))
        }
    })
}

/// Deadline of requests that copy disks or RAM on the node.
const LONG_OPERATION: Duration = Duration::from_secs(600);

/// A finished task as the answer its node would have given: success, or its error body with
/// the matching status.
fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, NodeError> {
    serde_json::from_value(v).map_err(|e| NodeError::Protocol(e.to_string()))
}

fn task_outcome(task: BridgeTask) -> Result<BridgeTask, NodeError> {
    match (&task.state, &task.error) {
        (TaskState::Failed, Some(body)) => {
            let status =
                StatusCode::from_u16(body.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(NodeError::Api { status, body: body.clone() })
        }
        (TaskState::Failed, None) => {
            Err(NodeError::Protocol(format!("task {} failed without a reason", task.id)))
        }
        _ => Ok(task),
    }
}

/// A console byte stream to a machine, both ways.
pub type ConsoleStream = TokioIo<hyper::upgrade::Upgraded>;

impl BridgeClient {
    pub fn new(transport: Arc<dyn Transport>, timeout: Duration) -> Self {
        Self { transport, timeout, on_start: None }
    }

    /// The same client, telling `hook` of each task it starts.
    pub fn on_task_start(self, hook: Arc<dyn TaskStarted>) -> Self {
        Self { on_start: Some(hook), ..self }
    }

    /// Passes a task the node just started to the hook, and back.
    async fn started(&self, task: BridgeTask) -> BridgeTask {
        if let Some(hook) = &self.on_start {
            hook.task_started(&task).await;
        }
        task
    }

    /// The same client with a longer deadline, for operations that copy disks or RAM
    /// (snapshots, clones, deletes of running machines).
    /// The host key the node presented instead of the pinned one, if that is why it fails.
    pub fn key_mismatch(&self) -> Option<String> {
        self.transport.key_mismatch()
    }

    pub fn patient(&self) -> Self {
        Self { timeout: self.timeout.max(LONG_OPERATION), ..self.clone() }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, NodeError> {
        let stream =
            self.transport.connect().await.map_err(|e| NodeError::Unreachable(format!("connecting: {e}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| NodeError::Unreachable(format!("handshake: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "bridge connection ended");
            }
        });
        let mut req = Request::builder().method(method).uri(path).header("host", "bridge");
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Body::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| NodeError::Protocol(e.to_string()))?;
        sender.send_request(req).await.map_err(|e| NodeError::Unreachable(format!("request: {e}")))
    }

    /// One request, its whole answer read, all within the deadline.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, T), NodeError> {
        let work = async {
            let resp = self.send(method, path, body).await?;
            let status = resp.status();
            let max = if status.is_success() { ANSWER_MAX_BYTES } else { ERROR_MAX_BYTES };
            let bytes = read_capped(resp.into_body(), max).await?;
            if !status.is_success() {
                let body = serde_json::from_slice::<ErrorBody>(&bytes)
                    .map_err(|_| NodeError::Protocol(format!("status {status} without error body")))?;
                return Err(NodeError::Api { status, body });
            }
            let value = if bytes.is_empty() {
                serde_json::from_slice(b"null")
            } else {
                serde_json::from_slice(&bytes)
            }
            .map_err(|e| NodeError::Protocol(e.to_string()))?;
            Ok((status, value))
        };
        tokio::time::timeout(self.timeout, work).await.map_err(|_| NodeError::Timeout(self.timeout))?
    }

    pub async fn version(&self) -> Result<BridgeVersion, NodeError> {
        Ok(self.call(Method::GET, paths::bridge::VERSION, None).await?.1)
    }

    pub async fn machine_list(&self) -> Result<Vec<BridgeMachine>, NodeError> {
        Ok(self.call(Method::GET, paths::bridge::MACHINES, None).await?.1)
    }

    /// Makes a machine and answers once the node has: a new one through its task (followed
    /// to its end with the long-operation deadline), a retried one at once.
    pub async fn machine_create(&self, req: &BridgeMachineCreate) -> Result<BridgeMachine, NodeError> {
        let body = serde_json::to_vec(req).map_err(|e| NodeError::Protocol(e.to_string()))?;
        let (status, value) =
            self.call::<serde_json::Value>(Method::POST, paths::bridge::MACHINES, Some(body)).await?;
        if status != StatusCode::ACCEPTED {
            return from_value(value);
        }
        let task = self.started(from_value(value)?).await;
        self.patient().task_finish(task).await?;
        self.machine_get(req.id).await
    }

    /// Starts removing a machine; answers with the task doing it.
    pub async fn machine_delete(&self, id: MachineId, force: bool) -> Result<BridgeTask, NodeError> {
        let path = format!("{}?force={force}", paths::bridge::machine(id));
        Ok(self.started(self.call(Method::DELETE, &path, None).await?.1).await)
    }

    pub async fn machine_power(
        &self,
        id: MachineId,
        action: corral_api::spec::PowerAction,
    ) -> Result<BridgeMachine, NodeError> {
        let path = paths::bridge::machine_action(id, action);
        Ok(self.call(Method::POST, &path, Some(b"{}".to_vec())).await?.1)
    }

    pub async fn machine_update(
        &self,
        id: MachineId,
        req: &BridgeMachineUpdate,
    ) -> Result<BridgeMachine, NodeError> {
        let body = serde_json::to_vec(req).map_err(|e| NodeError::Protocol(e.to_string()))?;
        Ok(self.call(Method::PATCH, &paths::bridge::machine(id), Some(body)).await?.1)
    }

    pub async fn machine_get(&self, id: MachineId) -> Result<BridgeMachine, NodeError> {
        Ok(self.call(Method::GET, &paths::bridge::machine(id), None).await?.1)
    }

    pub async fn image_list(&self) -> Result<Vec<BridgeImage>, NodeError> {
        Ok(self.call(Method::GET, paths::bridge::IMAGES, None).await?.1)
    }

    /// Starts an import; the answer is its task.
    pub async fn image_import(&self, req: &BridgeImageImport) -> Result<BridgeTask, NodeError> {
        let body = serde_json::to_vec(req).map_err(|e| NodeError::Protocol(e.to_string()))?;
        Ok(self.started(self.call(Method::POST, paths::bridge::IMAGES, Some(body)).await?.1).await)
    }

    /// Samples after `after` (a page; `more` says whether others follow).
    pub async fn metrics_after(&self, after: u64) -> Result<corral_api::metrics::MetricPage, NodeError> {
        let path = format!("{}?after={after}", paths::bridge::METRICS);
        Ok(self.call(Method::GET, &path, None).await?.1)
    }

    pub async fn task_get(&self, id: TaskId) -> Result<BridgeTask, NodeError> {
        Ok(self.call(Method::GET, &paths::bridge::task(id), None).await?.1)
    }

    pub async fn task_list(&self) -> Result<Vec<BridgeTask>, NodeError> {
        Ok(self.call(Method::GET, paths::bridge::TASKS, None).await?.1)
    }

    /// Follows a task until it ends (polling; the backend itself follows the event stream).
    pub async fn task_wait(&self, id: TaskId, within: Duration) -> Result<BridgeTask, NodeError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let t = self.task_get(id).await?;
            if t.state != corral_api::task::TaskState::Running {
                return Ok(t);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(NodeError::Timeout(within));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn image_delete(&self, name: &str) -> Result<(), NodeError> {
        let _: serde_json::Value = self.call(Method::DELETE, &paths::bridge::image(name), None).await?.1;
        Ok(())
    }

    pub async fn snapshot_list(&self, id: MachineId) -> Result<Vec<BridgeSnapshot>, NodeError> {
        Ok(self.call(Method::GET, &paths::bridge::snapshots(id), None).await?.1)
    }

    /// Starts a snapshot and returns its task at once.
    pub async fn snapshot_create_task(
        &self,
        id: MachineId,
        req: &BridgeSnapshotCreate,
    ) -> Result<BridgeTask, NodeError> {
        let body = serde_json::to_vec(req).map_err(|e| NodeError::Protocol(e.to_string()))?;
        Ok(self.started(self.call(Method::POST, &paths::bridge::snapshots(id), Some(body)).await?.1).await)
    }

    /// Takes a snapshot: the node runs it as a task, followed here to its end.
    pub async fn snapshot_create(
        &self,
        id: MachineId,
        req: &BridgeSnapshotCreate,
    ) -> Result<BridgeSnapshot, NodeError> {
        let task = self.snapshot_create_task(id, req).await?;
        self.task_finish(task).await?;
        self.snapshot_list(id)
            .await?
            .into_iter()
            .find(|s| s.name == req.name)
            .ok_or_else(|| NodeError::Protocol(format!("snapshot {} missing after its task", req.name)))
    }

    /// Rolls back (a task on the node, followed to its end); answers the machine after.
    pub async fn snapshot_rollback(&self, id: MachineId, name: &str) -> Result<BridgeMachine, NodeError> {
        let path = paths::bridge::snapshot_action(id, name, "rollback");
        let (_, task) = self.call(Method::POST, &path, Some(b"{}".to_vec())).await?;
        self.task_finish(self.started(task).await).await?;
        self.machine_get(id).await
    }

    pub async fn snapshot_delete(&self, id: MachineId, name: &str) -> Result<(), NodeError> {
        let (_, task) = self.call(Method::DELETE, &paths::bridge::snapshot(id, name), None).await?;
        self.task_finish(self.started(task).await).await.map(|_| ())
    }

    /// Clones a snapshot into the machine `req.id` (a task, followed to its end).
    pub async fn snapshot_clone(
        &self,
        id: MachineId,
        name: &str,
        req: &BridgeSnapshotClone,
    ) -> Result<BridgeMachine, NodeError> {
        let body = serde_json::to_vec(req).map_err(|e| NodeError::Protocol(e.to_string()))?;
        let path = paths::bridge::snapshot_action(id, name, "clone");
        let (_, task) = self.call(Method::POST, &path, Some(body)).await?;
        self.task_finish(self.started(task).await).await?;
        self.machine_get(req.id).await
    }

    /// Follows a task to its end through the event stream (no polling), within the client's
    /// deadline. A failed task comes back as the error its node would have answered.
    pub async fn task_finish(&self, task: BridgeTask) -> Result<BridgeTask, NodeError> {
        let id = task.id;
        let work = async {
            if task.state != TaskState::Running {
                return task_outcome(task);
            }
            let mut events = std::pin::pin!(self.events().await?);
            // Read only after the stream is open, so the end cannot slip between the two.
            let now = self.task_get(id).await?;
            if now.state != TaskState::Running {
                return task_outcome(now);
            }
            while let Some(ev) = events.next().await {
                if let BridgeEvent::TaskChanged { task } = ev?
                    && task.id == id
                    && task.state != TaskState::Running
                {
                    return task_outcome(task);
                }
            }
            Err(NodeError::Unreachable(format!("the event stream ended before task {id} did")))
        };
        tokio::time::timeout(self.timeout, work).await.map_err(|_| NodeError::Timeout(self.timeout))?
    }

    /// Opens a console byte stream (an HTTP upgrade): the answer's headers and the stream.
    async fn open_stream(&self, path: &str) -> Result<(hyper::HeaderMap, ConsoleStream), NodeError> {
        let work = async {
            let stream = self
                .transport
                .connect()
                .await
                .map_err(|e| NodeError::Unreachable(format!("connecting: {e}")))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| NodeError::Unreachable(format!("handshake: {e}")))?;
            tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!(error = %e, "console connection ended");
                }
            });
            let req = Request::builder()
                .method(Method::GET)
                .uri(path)
                .header("host", "bridge")
                .header("connection", "upgrade")
                .header("upgrade", "corral-stream")
                .body(Body::new(Bytes::new()))
                .map_err(|e| NodeError::Protocol(e.to_string()))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| NodeError::Unreachable(format!("request: {e}")))?;
            if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
                let status = resp.status();
                let bytes = read_capped(resp.into_body(), ERROR_MAX_BYTES).await.unwrap_or_default();
                let body = serde_json::from_slice::<ErrorBody>(&bytes)
                    .map_err(|_| NodeError::Protocol(format!("status {status} without error body")))?;
                return Err(NodeError::Api { status, body });
            }
            let headers = resp.headers().clone();
            let upgraded = hyper::upgrade::on(resp)
                .await
                .map_err(|e| NodeError::Unreachable(format!("upgrade: {e}")))?;
            Ok((headers, TokioIo::new(upgraded)))
        };
        tokio::time::timeout(self.timeout, work).await.map_err(|_| NodeError::Timeout(self.timeout))?
    }

    /// The serial console of a running machine: output from `offset` on (replayed from the
    /// node's history as far as it reaches), then live; what is written goes to the guest.
    /// Returns the offset of the first byte the stream carries.
    pub async fn serial_stream(&self, id: MachineId, offset: u64) -> Result<(u64, ConsoleStream), NodeError> {
        let path = format!("{}/serial?offset={offset}", paths::bridge::machine(id));
        let (headers, stream) = self.open_stream(&path).await?;
        let start = headers
            .get("x-corral-serial-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| NodeError::Protocol("serial stream without its offset".into()))?;
        Ok((start, stream))
    }

    /// A shell of its own in a running zone, on a terminal of `size`: write
    /// `console::shell_frame` frames, read the terminal's output.
    pub async fn shell_stream(
        &self,
        id: MachineId,
        size: corral_api::console::TermSize,
    ) -> Result<ConsoleStream, NodeError> {
        let path = format!("{}/shell?cols={}&rows={}", paths::bridge::machine(id), size.cols, size.rows);
        Ok(self.open_stream(&path).await?.1)
    }

    /// The VNC byte stream of a running machine (RFB, untouched).
    pub async fn vnc_stream(&self, id: MachineId) -> Result<ConsoleStream, NodeError> {
        Ok(self.open_stream(&format!("{}/vnc", paths::bridge::machine(id))).await?.1)
    }

    /// Opens the event stream. The first event is `hello`; the stream ends when the link
    /// breaks. Only opening is bounded by the deadline; the reader must watch for silence.
    pub async fn events(
        &self,
    ) -> Result<impl Stream<Item = Result<BridgeEvent, NodeError>> + Send + 'static, NodeError> {
        let resp = tokio::time::timeout(self.timeout, self.send(Method::GET, paths::bridge::EVENTS, None))
            .await
            .map_err(|_| NodeError::Timeout(self.timeout))??;
        if !resp.status().is_success() {
            return Err(NodeError::Protocol(format!("events: status {}", resp.status())));
        }
        let body = resp.into_body();
        Ok(futures::stream::unfold((body, Vec::<u8>::new()), |(mut body, mut buf)| async move {
            loop {
                if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let ev = serde_json::from_slice::<BridgeEvent>(&line[..line.len() - 1])
                        .map_err(|e| NodeError::Protocol(format!("event: {e}")));
                    return Some((ev, (body, buf)));
                }
                if buf.len() > EVENT_LINE_MAX_BYTES {
                    // The stream ends after this error: what follows cannot be framed.
                    let e = NodeError::Protocol(format!(
                        "an event line longer than {EVENT_LINE_MAX_BYTES} bytes"
                    ));
                    return Some((Err(e), (body, Vec::new())));
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            buf.extend_from_slice(&data);
                        }
                    }
                    Some(Err(e)) => {
                        return Some((
                            Err(NodeError::Unreachable(format!("event stream: {e}"))),
                            (body, Vec::new()),
                        ));
                    }
                    None => return None,
                }
            }
        }))
    }
}
