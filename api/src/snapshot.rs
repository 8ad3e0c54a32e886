//! Snapshots of a machine as the backend serves them, and the inputs that make and use them.

use serde::{Deserialize, Serialize};

use crate::bridge::BridgeSnapshot;

/// A snapshot in a machine's tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    pub name: String,
    /// The snapshot the machine descended from when this one was taken.
    pub parent: Option<String>,
    /// The machine's present state descends from this snapshot.
    pub current: bool,
    /// Holds RAM and device state: a rollback resumes the running guest where it was.
    pub ram: bool,
    pub vm_state_bytes: u64,
    /// RFC 3339.
    pub created_at: String,
}

impl From<BridgeSnapshot> for Snapshot {
    fn from(s: BridgeSnapshot) -> Self {
        Self {
            name: s.name,
            parent: s.parent,
            current: s.current,
            ram: s.ram,
            vm_state_bytes: s.vm_state_bytes,
            created_at: s.created_at,
        }
    }
}

/// Input of `POST /api/v1/machines/{id}/snapshots`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SnapshotCreate {
    pub name: String,
    /// Also save RAM and device state (the machine must be running).
    #[serde(default)]
    pub ram: bool,
}

/// Input of `POST /api/v1/machines/{id}/snapshots/{name}/clone`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SnapshotClone {
    /// The new machine's name (in the same tenant, on the same node).
    pub name: String,
}
