//! Machines as the backend serves them, and the inputs that change them.

use serde::{Deserialize, Serialize};

use crate::ids::{MachineId, NodeId, TenantId};
pub use crate::spec::{BootDevice, MachineKind, MachineState, PortForward, PowerAction};

/// A machine as the backend shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Machine {
    pub id: MachineId,
    pub name: String,
    pub kind: MachineKind,
    /// `None` for an *unmanaged* machine: found on a node, owned by no tenant.
    pub tenant_id: Option<TenantId>,
    pub node_id: NodeId,
    pub node_name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// The image its disk was made from; `None` for a blank disk.
    pub image: Option<String>,
    /// Ports of the node's loopback forwarded to the guest.
    pub port_forwards: Vec<PortForward>,
    /// Boot devices in order; empty means the CD (when inserted), then the disk.
    pub boot_order: Vec<BootDevice>,
    /// The ISO image in its CD drive.
    pub cdrom: Option<String>,
    /// The host bridge its NIC is on; `None` for user-mode networking.
    pub host_bridge: Option<String>,
    /// A zone's OS, init and storage, as its node reports them; `None` for a VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<crate::spec::ZoneFacts>,
    pub state: MachineState,
    /// Created through Corral (true) or found on a node behind its back (false).
    pub managed: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; the last time its state or spec changed.
    pub updated_at: String,
    /// RFC 3339; when it entered its current state, as the backend saw it (for a running
    /// machine, how long it has been up).
    #[serde(default)]
    pub state_since: String,
}

/// Input of `POST /api/v1/machines`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MachineCreate {
    pub name: String,
    /// A hardware VM (the default) or a zone; the image, when given, must be of that kind.
    #[serde(default)]
    pub kind: MachineKind,
    /// Defaults to the first tenant the caller owns (else the first they belong to).
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    /// Defaults to the node with the most room.
    #[serde(default)]
    pub node_id: Option<NodeId>,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// Make the disk a copy-on-write overlay of this image (see `GET /api/v1/images`); a
    /// blank disk when absent. Only nodes holding the image are considered.
    #[serde(default)]
    pub image: Option<String>,
    /// Ports of the node's loopback forwarded to the guest (e.g. 2222 → 22 for SSH).
    #[serde(default)]
    pub port_forwards: Vec<PortForward>,
    /// Boot devices in order; when given, only these boot. Default: the CD, then the disk.
    #[serde(default)]
    pub boot_order: Vec<BootDevice>,
    /// An ISO image to insert in the CD drive (a machine made from an ISO has it already).
    #[serde(default)]
    pub cdrom: Option<String>,
    /// Put the NIC on this host bridge of the node instead of user-mode networking; only
    /// nodes offering it are considered. Excludes port forwards.
    #[serde(default)]
    pub host_bridge: Option<String>,
    /// SSH keys of the caller's (`GET /api/v1/ssh-keys`) the guest lets in: root's on a
    /// zone; on a cloud image, its default user's (`debian` on Debian's).
    #[serde(default)]
    pub ssh_key_ids: Vec<crate::SshKeyId>,
    /// cloud-init user data: a line `#cloud-config` then YAML, or a script (`#!…`); at most
    /// 64 KiB. Shown back only to the machine's operators and owners.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub user_data: Option<crate::guest::UserDataText>,
    /// The guest's hostname; the machine's name when absent.
    #[serde(default)]
    pub hostname: Option<String>,
    /// A static address for a NIC on a host bridge; without one the guest asks DHCP.
    #[serde(default)]
    pub network: Option<crate::guest::StaticNetwork>,
}

/// Input of `PATCH /api/v1/machines/{id}`: rename it; change a VM's vCPUs, memory and port
/// forwards or grow its disk while it is stopped (a zone's vCPUs and memory are limits,
/// changed live); change its boot order (from the next boot); insert or eject a CD (also
/// while it runs). Growth counts against the tenant's quota and the node's room. Absent
/// fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MachineUpdate {
    #[serde(default)]
    pub name: Option<String>,
    /// A VM's vCPUs (while stopped); a zone's CPU limit (live).
    #[serde(default)]
    pub vcpus: Option<u32>,
    /// A VM's memory (while stopped); a zone's memory limit (live).
    #[serde(default)]
    pub memory_mib: Option<u64>,
    /// The new disk size; disks only grow.
    #[serde(default)]
    pub disk_gib: Option<u64>,
    /// The whole new list of port forwards (while stopped); `[]` removes them all.
    #[serde(default)]
    pub port_forwards: Option<Vec<PortForward>>,
    #[serde(default)]
    pub boot_order: Option<Vec<BootDevice>>,
    /// An ISO image name inserts it; `null` ejects the CD.
    #[serde(default, deserialize_with = "crate::patch::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub cdrom: Option<Option<String>>,
}

/// Input of `POST /api/v1/images` (admins): bring an image into a node's store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImageImport {
    pub node_id: NodeId,
    /// The file name in the node's store, e.g. `debian-12.qcow2`.
    pub name: String,
    /// An absolute path on the node, or an `http://` / `https://` URL.
    pub source: String,
    /// The expected sha256 (hex), checked before the image is kept.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// An image held by a node, as `GET /api/v1/images` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeImage {
    pub node_id: NodeId,
    pub node_name: String,
    pub image: crate::bridge::BridgeImage,
}

/// Query of `DELETE /api/v1/machines/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct MachineDeleteQuery {
    /// Delete even when running (the machine is powered off first).
    #[serde(default)]
    pub force: bool,
}
