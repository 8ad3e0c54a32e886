//! Nodes as the backend serves them.

use serde::{Deserialize, Serialize};

use crate::bridge::HostFacts;
use crate::ids::NodeId;

/// How the backend's link to a node is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Not reached yet since the backend started.
    Connecting,
    Online,
    /// The last attempt failed; `last_error` says how.
    Unreachable,
    /// The node presented another SSH host key than the pinned one (`presented_host_key`).
    /// Nothing is sent to it until an admin confirms the new key.
    KeyMismatch,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Online => "online",
            Self::Unreachable => "unreachable",
            Self::KeyMismatch => "key_mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Connecting, Self::Online, Self::Unreachable, Self::KeyMismatch]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// What is allocated on a node, summed over its machines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeUsage {
    pub machines: u32,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

/// How far a node's resources may be promised beyond what it has, as OpenStack's allocation
/// ratios: a node of 2 CPUs at a CPU ratio of 4 takes machines of 8 vCPUs in all. Stopped
/// machines keep their share, so a start never fails for room.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AllocationRatios {
    pub cpu: f64,
    pub memory: f64,
    pub disk: f64,
}

impl Default for AllocationRatios {
    /// OpenStack's defaults: CPUs are shared four ways, memory and disk are not overcommitted.
    fn default() -> Self {
        Self { cpu: 4.0, memory: 1.0, disk: 1.0 }
    }
}

impl AllocationRatios {
    /// What `host` may hold at these ratios: vCPUs, MiB of memory, GiB of disk.
    pub fn capacity(&self, host: &HostFacts) -> (u32, u64, u64) {
        let scale = |n: u64, r: f64| (n as f64 * r).floor() as u64;
        let cpus = scale(u64::from(host.cpus), self.cpu).min(u64::from(u32::MAX)) as u32;
        (cpus, scale(host.memory_mib, self.memory), scale(host.disk_gib, self.disk))
    }
}

/// Input of `PATCH /api/v1/nodes/{id}` (admins): the node's allocation ratios; absent ones
/// stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeUpdate {
    #[serde(default)]
    pub cpu_ratio: Option<f64>,
    #[serde(default)]
    pub memory_ratio: Option<f64>,
    #[serde(default)]
    pub disk_ratio: Option<f64>,
}

/// A node as the backend shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    /// Where the backend reaches its bridge: `unix:/run/corral/bridge.sock` on this machine,
    /// `ssh://corral@node1:22/run/corral/bridge.sock` over SSH. Admins only.
    pub address: Option<String>,
    /// The pinned SSH host key (`SHA256:…`); `None` for a local node.
    pub host_key: Option<String>,
    /// The host key the node presented instead, while it is `key_mismatch`.
    pub presented_host_key: Option<String>,
    pub status: NodeStatus,
    /// The bridge's driver (`qemu`, `sim`, …), once known.
    pub driver: Option<String>,
    pub capabilities: Vec<String>,
    /// The kinds of machine it runs (VMs until its bridge has said).
    pub kinds: Vec<crate::spec::MachineKind>,
    /// Hardware facts, once known.
    pub host: Option<HostFacts>,
    /// How its guests are accelerated (`kvm`, `tcg`) and why, once known.
    pub accelerator: Option<crate::bridge::Accelerator>,
    /// Host bridges machines' NICs may join on this node.
    pub host_bridges: Vec<String>,
    /// How far its CPUs, memory and disk may be promised (its capacity is its host facts
    /// times these).
    pub ratios: AllocationRatios,
    pub usage: NodeUsage,
    pub last_error: Option<String>,
    /// RFC 3339; the last time the bridge answered.
    pub last_seen_at: Option<String>,
    /// Reports of this node's that broke the rules and were not applied (another node's
    /// machine, a malformed machine): a sign of a broken or compromised node.
    #[serde(default)]
    pub rule_breaks: u64,
    /// What the last such report was.
    #[serde(default)]
    pub last_rule_break: Option<String>,
}

impl Node {
    /// What people who are not admins see of a node: its name, state, what it runs and its
    /// capacity. Where it is, its host keys, its errors and its rule breaks are for admins.
    pub fn for_tenants(self) -> Node {
        Node {
            address: None,
            host_key: None,
            presented_host_key: None,
            last_error: None,
            rule_breaks: 0,
            last_rule_break: None,
            host: self.host.map(|h| HostFacts { hostname: String::new(), ..h }),
            ..self
        }
    }
}

/// Input of `POST /api/v1/nodes` (admins): a node reached over SSH.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeEnroll {
    /// Shown in the console; a DNS label like a machine name.
    pub name: String,
    /// Host name or IP address of the node's sshd.
    pub host: String,
    #[serde(default = "ssh_port")]
    pub port: u16,
    /// The node's user whose `authorized_keys` holds the backend's public key.
    pub user: String,
    /// The bridge's socket on the node.
    #[serde(default = "bridge_socket")]
    pub socket: String,
    /// The host key fingerprint (`SHA256:…`) the admin confirmed, from
    /// `POST /api/v1/nodes/host-key` or from the node itself (`ssh-keygen -lf`).
    pub host_key: String,
}

fn ssh_port() -> u16 {
    22
}

fn bridge_socket() -> String {
    "/run/corral/bridge.sock".into()
}

/// Input of `POST /api/v1/nodes/host-key`: which sshd to ask for its host key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostKeyProbe {
    pub host: String,
    #[serde(default = "ssh_port")]
    pub port: u16,
}

/// An SSH host key's fingerprint, `SHA256:` and 43 base64 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostKey {
    pub host_key: String,
}

/// `GET /api/v1/ssh-key`: the backend's public key, for nodes' `authorized_keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SshPublicKey {
    /// One `authorized_keys` line: `ssh-ed25519 AAAA… corral`.
    pub public_key: String,
    pub fingerprint: String,
}
