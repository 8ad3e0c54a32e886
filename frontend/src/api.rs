//! The typed client of the backend's REST API, over the shared `corral-api` types.
//!
//! Every call returns `Result<T, ClientError>`; an error body from the server keeps its code
//! and message so pages can show exactly what the server said.

use corral_api::audit::AuditEntry;
use corral_api::console::{ConsoleKind, ConsoleTicket, ConsoleTicketRequest};
use corral_api::machine::{ImageImport, Machine, MachineCreate, MachineUpdate, NodeImage};
use corral_api::node::{HostKey, HostKeyProbe, Node, NodeEnroll, SshPublicKey};
use corral_api::people::{
    Member, MemberSet, PasswordChange, Quota, QuotaLimits, Tenant, TenantCreate, TenantUpdate, User,
    UserCreate, UserCreated, UserUpdate,
};
use corral_api::session::{LoginRequest, Me};
use corral_api::snapshot::{Snapshot, SnapshotClone, SnapshotCreate};
use corral_api::task::Task;
use corral_api::token::{ApiToken, ApiTokenCreate, ApiTokenCreated};
use corral_api::{ErrorBody, ErrorCode, MachineId, NodeId, TenantId, UserId, paths};
use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;

/// What went wrong with a request, in words for the user.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientError {
    /// The server answered with an error body.
    Api { status: u16, body: ErrorBody },
    /// The request never got an answer (network down, server gone).
    Network(String),
    /// The answer was not what we expected.
    Decode(String),
}

impl ClientError {
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, Self::Api { body, .. } if body.code == ErrorCode::Unauthenticated)
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api { body, .. } => f.write_str(&body.message),
            Self::Network(e) => write!(f, "the console cannot be reached ({e})"),
            Self::Decode(e) => write!(f, "unexpected answer from the console ({e})"),
        }
    }
}

impl std::error::Error for ClientError {}

type Result<T> = std::result::Result<T, ClientError>;

async fn read<T: DeserializeOwned>(resp: Response) -> Result<T> {
    let status = resp.status();
    if resp.ok() {
        return resp.json::<T>().await.map_err(|e| ClientError::Decode(e.to_string()));
    }
    match resp.json::<ErrorBody>().await {
        Ok(body) => Err(ClientError::Api { status, body }),
        Err(_) => Err(ClientError::Api {
            status,
            body: ErrorBody::new(ErrorCode::Internal, format!("the console answered {status}")),
        }),
    }
}

async fn read_empty(resp: Response) -> Result<()> {
    if resp.ok() { Ok(()) } else { read::<serde_json::Value>(resp).await.map(|_| ()) }
}

fn net(e: gloo_net::Error) -> ClientError {
    ClientError::Network(e.to_string())
}

async fn get<T: DeserializeOwned>(url: &str) -> Result<T> {
    read(Request::get(url).send().await.map_err(net)?).await
}

async fn post<B: serde::Serialize, T: DeserializeOwned>(url: &str, body: &B) -> Result<T> {
    let req = Request::post(url).json(body).map_err(net)?;
    read(req.send().await.map_err(net)?).await
}

pub async fn session_get() -> Result<Me> {
    get(paths::SESSION).await
}

pub async fn session_create(username: String, password: String) -> Result<Me> {
    post(paths::SESSION, &LoginRequest { username, password }).await
}

pub async fn session_delete() -> Result<()> {
    read_empty(Request::delete(paths::SESSION).send().await.map_err(net)?).await
}

pub async fn machine_list() -> Result<Vec<Machine>> {
    get(paths::MACHINES).await
}

/// `key` makes a retry safe: the same key with the same request answers with the machine the
/// first attempt made.
pub async fn machine_create(req: &MachineCreate, key: &str) -> Result<Machine> {
    let req = Request::post(paths::MACHINES).header("Idempotency-Key", key).json(req).map_err(net)?;
    read(req.send().await.map_err(net)?).await
}

pub async fn machine_power(id: MachineId, action: corral_api::spec::PowerAction) -> Result<Machine> {
    post(&paths::machine_action(id, action), &serde_json::json!({})).await
}

pub async fn machine_update(id: MachineId, req: &MachineUpdate) -> Result<Machine> {
    let req = Request::patch(&paths::machine(id)).json(req).map_err(net)?;
    read(req.send().await.map_err(net)?).await
}

pub async fn machine_delete(id: MachineId, force: bool) -> Result<Machine> {
    let url = format!("{}?force={force}", paths::machine(id));
    read(Request::delete(&url).send().await.map_err(net)?).await
}

pub async fn node_update(id: NodeId, req: &corral_api::node::NodeUpdate) -> Result<Node> {
    send_json(Request::patch(&paths::node(id)), req).await
}

pub async fn node_list() -> Result<Vec<Node>> {
    get(paths::NODES).await
}

pub async fn snapshot_list(id: MachineId) -> Result<Vec<Snapshot>> {
    get(&paths::snapshots(id)).await
}

pub async fn snapshot_create(id: MachineId, req: &SnapshotCreate) -> Result<Snapshot> {
    post(&paths::snapshots(id), req).await
}

pub async fn snapshot_rollback(id: MachineId, name: &str) -> Result<Machine> {
    post(&paths::snapshot_action(id, name, "rollback"), &serde_json::json!({})).await
}

pub async fn snapshot_clone(id: MachineId, name: &str, req: &SnapshotClone) -> Result<Machine> {
    post(&paths::snapshot_action(id, name, "clone"), req).await
}

pub async fn snapshot_delete(id: MachineId, name: &str) -> Result<()> {
    read_empty(Request::delete(&paths::snapshot(id, name)).send().await.map_err(net)?).await
}

pub async fn task_list() -> Result<Vec<Task>> {
    get(paths::TASKS).await
}

pub async fn image_import(req: &ImageImport) -> Result<Task> {
    post(paths::IMAGES, req).await
}

pub async fn image_list() -> Result<Vec<NodeImage>> {
    get(paths::IMAGES).await
}

pub async fn ssh_key_get() -> Result<SshPublicKey> {
    get(paths::SSH_KEY).await
}

pub async fn host_key_probe(req: &HostKeyProbe) -> Result<HostKey> {
    post(paths::NODE_HOST_KEY_PROBE, req).await
}

pub async fn node_enroll(req: &NodeEnroll) -> Result<Node> {
    post(paths::NODES, req).await
}

pub async fn host_key_confirm(id: NodeId, req: &HostKey) -> Result<Node> {
    let req = Request::put(&paths::node_host_key(id)).json(req).map_err(net)?;
    read(req.send().await.map_err(net)?).await
}

/// A one-time ticket for a console's websocket.
pub async fn console_ticket(id: MachineId, kind: ConsoleKind) -> Result<ConsoleTicket> {
    post(&paths::console_ticket(id), &ConsoleTicketRequest { kind }).await
}

async fn send_json<B: serde::Serialize, T: DeserializeOwned>(
    req: gloo_net::http::RequestBuilder,
    body: &B,
) -> Result<T> {
    read(req.json(body).map_err(net)?.send().await.map_err(net)?).await
}

pub async fn tenant_list() -> Result<Vec<Tenant>> {
    get("/api/v1/tenants").await
}

pub async fn tenant_create(req: &TenantCreate) -> Result<Tenant> {
    post("/api/v1/tenants", req).await
}

pub async fn tenant_update(id: TenantId, req: &TenantUpdate) -> Result<Tenant> {
    send_json(Request::patch(&format!("/api/v1/tenants/{id}")), req).await
}

pub async fn tenant_delete(id: TenantId) -> Result<()> {
    read_empty(Request::delete(&format!("/api/v1/tenants/{id}")).send().await.map_err(net)?).await
}

pub async fn member_list(tenant: TenantId) -> Result<Vec<Member>> {
    get(&format!("/api/v1/tenants/{tenant}/members")).await
}

pub async fn member_set(tenant: TenantId, user: UserId, req: &MemberSet) -> Result<Vec<Member>> {
    send_json(Request::put(&format!("/api/v1/tenants/{tenant}/members/{user}")), req).await
}

pub async fn member_remove(tenant: TenantId, user: UserId) -> Result<()> {
    read_empty(
        Request::delete(&format!("/api/v1/tenants/{tenant}/members/{user}")).send().await.map_err(net)?,
    )
    .await
}

pub async fn quota_get(tenant: TenantId) -> Result<Quota> {
    get(&format!("/api/v1/tenants/{tenant}/quota")).await
}

pub async fn quota_set(tenant: TenantId, limits: &QuotaLimits) -> Result<Quota> {
    send_json(Request::put(&format!("/api/v1/tenants/{tenant}/quota")), limits).await
}

pub async fn user_list() -> Result<Vec<User>> {
    get("/api/v1/users").await
}

pub async fn user_create(req: &UserCreate) -> Result<UserCreated> {
    post("/api/v1/users", req).await
}

pub async fn user_update(id: UserId, req: &UserUpdate) -> Result<User> {
    send_json(Request::patch(&format!("/api/v1/users/{id}")), req).await
}

pub async fn user_delete(id: UserId) -> Result<()> {
    read_empty(Request::delete(&format!("/api/v1/users/{id}")).send().await.map_err(net)?).await
}

pub async fn password_change(req: &PasswordChange) -> Result<()> {
    let req = Request::post("/api/v1/session/password").json(req).map_err(net)?;
    read_empty(req.send().await.map_err(net)?).await
}

pub async fn token_list() -> Result<Vec<ApiToken>> {
    get("/api/v1/tokens").await
}

pub async fn token_create(req: &ApiTokenCreate) -> Result<ApiTokenCreated> {
    post("/api/v1/tokens", req).await
}

pub async fn token_revoke(id: &str) -> Result<()> {
    read_empty(Request::delete(&format!("/api/v1/tokens/{id}")).send().await.map_err(net)?).await
}

/// `query` is the query string without `?` (filters).
pub async fn audit_list(query: &str) -> Result<Vec<AuditEntry>> {
    get(&format!("/api/v1/audit?{query}")).await
}

/// What a chart shows: a machine's or a node's metric, or the sum of a tenant's machines or
/// of every machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartTarget {
    Machine(MachineId),
    Node(NodeId),
    Tenant(corral_api::TenantId),
    Fleet,
}

/// One metric of a chart's target from `from` to `to` (Unix seconds), about `points` points.
pub async fn metrics(
    target: ChartTarget,
    metric: corral_api::metrics::Metric,
    from: i64,
    to: i64,
    points: u32,
) -> Result<corral_api::metrics::MetricSeries> {
    let path = match target {
        ChartTarget::Machine(id) => paths::machine_metrics(id),
        ChartTarget::Node(id) => paths::node_metrics(id),
        ChartTarget::Tenant(id) => paths::tenant_metrics(id),
        ChartTarget::Fleet => paths::FLEET_METRICS.to_string(),
    };
    get(&format!("{path}?metric={}&from={from}&to={to}&points={points}", metric.as_str())).await
}

/// The caller's SSH public keys.
pub async fn ssh_key_list() -> Result<Vec<corral_api::guest::SshKey>> {
    get(paths::SSH_KEYS).await
}

pub async fn ssh_key_create(req: &corral_api::guest::SshKeyCreate) -> Result<corral_api::guest::SshKey> {
    post(paths::SSH_KEYS, req).await
}

pub async fn ssh_key_delete(id: corral_api::SshKeyId) -> Result<()> {
    read_empty(Request::delete(&paths::ssh_key(id)).send().await.map_err(net)?).await
}

/// What a machine's guest was given; `None` when it was given nothing.
pub async fn guest_get(id: MachineId) -> Result<Option<corral_api::guest::GuestInitView>> {
    match get(&paths::machine_guest(id)).await {
        Ok(v) => Ok(Some(v)),
        Err(ClientError::Api { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn user_data_get(id: MachineId) -> Result<corral_api::guest::UserData> {
    get(&paths::machine_user_data(id)).await
}

pub async fn user_data_set(
    id: MachineId,
    req: &corral_api::guest::UserData,
) -> Result<corral_api::guest::GuestInitView> {
    send_json(Request::put(&paths::machine_user_data(id)), req).await
}
