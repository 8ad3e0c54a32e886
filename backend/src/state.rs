//! `AppState`: what every route and background task shares.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use corral_api::NodeId;
use corral_api::event::Event;
use tokio::sync::broadcast;

use crate::consoles::{SerialWriters, Tickets};
use crate::db::Db;
use crate::nodes::BridgeClient;
use crate::nodes::ssh::{HostKeyPin, SshIdentity};

#[derive(Clone, Debug)]
pub struct Tuning {
    /// Deadline of one request to a bridge.
    pub bridge_timeout: Duration,
    /// How often a full listing double-checks the event stream.
    pub resync_interval: Duration,
    /// A bridge's event stream silent this long is taken for dead (heartbeats come every 5 s).
    pub silence_timeout: Duration,
    /// Reconnect backoff bounds.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long the tenants' and the fleet's sums wait after each 10 s bucket for its late
    /// samples (`metrics::sums`).
    pub metrics_sum_wait: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            bridge_timeout: Duration::from_secs(10),
            resync_interval: Duration::from_secs(30),
            silence_timeout: Duration::from_secs(15),
            backoff_min: Duration::from_millis(200),
            // With up to 25% jitter, a node that comes back is found within about 4 s.
            backoff_max: Duration::from_secs(3),
            metrics_sum_wait: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub nodes: NodeClients,
    /// Changes for browsers; the events websocket filters them per user.
    pub events: broadcast::Sender<Event>,
    /// The console's public origin (`http://127.0.0.1:8080`); mutating requests and
    /// websockets from any other origin are refused. `None` accepts the request's own host.
    pub public_origin: Option<String>,
    pub tuning: Tuning,
    /// The backend's SSH key, for nodes reached over SSH; `None` where none was loaded.
    pub ssh: Option<SshIdentity>,
    /// The pinned host key of each SSH node, shared with its transport, so a re-confirmed key
    /// takes effect on the next connection.
    pub host_keys: Arc<RwLock<HashMap<NodeId, HostKeyPin>>>,
    /// One-time console tickets.
    pub tickets: Tickets,
    /// Who types on each serial console.
    pub serial_writers: SerialWriters,
    /// Failed-login limits.
    pub login_guard: crate::login_guard::LoginGuard,
    /// Serializes quota admission per tenant.
    pub admission: crate::app::quotas::AdmissionLocks,
    /// Requests refused for want of a login, counted for the log.
    pub refused: crate::audit::Refused,
    /// Whose access changed, for open consoles and event sockets to check again.
    pub access: crate::access::AccessChanges,
    /// Reverse proxies whose forwarding header names the client (`--trusted-proxy`).
    pub proxies: crate::client_addr::Proxies,
    /// Consoles and event streams open per person.
    pub sockets: crate::sockets::OpenSockets,
    /// When each node last had a rule break recorded.
    pub rule_breaks: crate::nodes::reconciler::RuleBreaks,
    /// Metrics ingest: rollups in progress and each node's wake-up.
    pub metrics: crate::metrics::MetricsHub,
}

impl AppState {
    pub fn new(db: Db, public_origin: Option<String>, tuning: Tuning) -> Self {
        let (events, _) = broadcast::channel(4096);
        let metrics = crate::metrics::MetricsHub::new(tuning.metrics_sum_wait);
        Self {
            db,
            nodes: NodeClients::default(),
            events,
            public_origin,
            tuning,
            ssh: None,
            host_keys: Arc::default(),
            tickets: Tickets::default(),
            serial_writers: SerialWriters::default(),
            login_guard: Default::default(),
            admission: Default::default(),
            refused: Default::default(),
            access: Default::default(),
            proxies: Default::default(),
            sockets: Default::default(),
            rule_breaks: Default::default(),
            metrics,
        }
    }

    /// Announces a change to browsers. Nobody listening is fine.
    pub fn publish(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

/// The client of each known node.
#[derive(Clone, Default)]
pub struct NodeClients(Arc<RwLock<HashMap<NodeId, BridgeClient>>>);

impl NodeClients {
    pub fn get(&self, id: NodeId) -> Option<BridgeClient> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }

    pub fn insert(&self, id: NodeId, client: BridgeClient) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).insert(id, client);
    }
}
