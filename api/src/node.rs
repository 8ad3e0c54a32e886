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
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Online => "online",
            Self::Unreachable => "unreachable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Connecting, Self::Online, Self::Unreachable].into_iter().find(|st| st.as_str() == s)
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

/// A node as the backend shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    /// Where the backend reaches its bridge, e.g. `unix:/run/corral/bridge.sock`.
    pub address: String,
    pub status: NodeStatus,
    /// The bridge's driver (`qemu`, `sim`, …), once known.
    pub driver: Option<String>,
    pub capabilities: Vec<String>,
    /// Hardware facts, once known.
    pub host: Option<HostFacts>,
    /// How its guests are accelerated (`kvm`, `tcg`) and why, once known.
    pub accelerator: Option<crate::bridge::Accelerator>,
    /// Host bridges machines' NICs may join on this node.
    pub host_bridges: Vec<String>,
    pub usage: NodeUsage,
    pub last_error: Option<String>,
    /// RFC 3339; the last time the bridge answered.
    pub last_seen_at: Option<String>,
}
