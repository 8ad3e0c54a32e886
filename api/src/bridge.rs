//! The node bridge's contract: HTTP/JSON under `/v1` on a unix socket.
//!
//! Every driver (qemu, lxc, smartos, sim) serves exactly these types. The backend is the only
//! client. [`BridgeVersion::api_version`] names the contract a bridge speaks; the backend
//! refuses a bridge whose version it does not know.

use serde::{Deserialize, Serialize};

use crate::ids::MachineId;
pub use crate::spec::{BootDevice, MachineKind, MachineState, PortForward, PowerAction};

/// The bridge API version this crate describes.
/// 2: image import answers with a task; tasks and snapshots exist.
/// 3: machine create and delete answer with a task; boot order, CD-ROM and host bridges.
/// 4: machines have a kind (`vm`, `zone`); a bridge says which kinds it runs.
/// 5: guest data (`init`) on create, update and clone; `init_id` on machines.
pub const BRIDGE_API_VERSION: u32 = 5;

/// Hardware facts of a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostFacts {
    pub hostname: String,
    pub cpus: u32,
    pub memory_mib: u64,
    /// Space for machine disks on the node's local storage.
    pub disk_gib: u64,
}

/// `GET /v1/version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeVersion {
    pub api_version: u32,
    /// The bridge build, e.g. `0.1.0`.
    pub bridge_version: String,
    /// `qemu`, `lxc`, `smartos` or `sim`.
    pub driver: String,
    /// What this driver can do, e.g. `machines`, `step` (sim only).
    pub capabilities: Vec<String>,
    /// The kinds of machine it runs.
    pub kinds: Vec<MachineKind>,
    pub host: HostFacts,
    /// How guests are accelerated (`kvm`, `tcg`) and why; `None` for drivers without guests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerator: Option<Accelerator>,
    /// Host bridges this node lets guests' NICs join (`host_bridge` of a machine).
    #[serde(default)]
    pub host_bridges: Vec<String>,
}

/// The hardware acceleration a node's hypervisor uses, and why it was chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accelerator {
    pub name: String,
    pub reason: String,
}

/// A disk image on a node, ready to create machines from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeImage {
    /// The file name in the node's image store, e.g. `tiny.qcow2`.
    pub name: String,
    /// What it makes: a VM's disk, or a zone's root filesystem. Images kept before zones
    /// existed are VMs'.
    #[serde(default)]
    pub kind: MachineKind,
    /// `qcow2`, `raw` or `iso` for VMs; `tar` for zones.
    pub format: String,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// The size a guest sees: the disk's, or the zone's files unpacked.
    pub virtual_size_bytes: u64,
    pub sha256: String,
    /// What a zone image says it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<ZoneImage>,
}

/// What a zone image says of itself (its `metadata.yaml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ZoneImage {
    pub os: String,
    pub release: String,
    pub init: crate::spec::ZoneInit,
}

/// `POST /v1/images`: bring an image into the node's store, from a file on the node or an
/// http(s) URL. Answered `202` with the task that does it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BridgeImageImport {
    pub name: String,
    /// An absolute path on the node, or an `http://` / `https://` URL.
    pub source: String,
    /// The expected sha256 (hex); the import fails if the image does not match.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// A machine as its node knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeMachine {
    pub id: MachineId,
    pub name: String,
    /// Specs written before zones existed are VMs.
    #[serde(default)]
    pub kind: MachineKind,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// The image its disk was made from; `None` for a blank disk.
    #[serde(default)]
    pub image: Option<String>,
    /// Host ports (on the node's loopback) forwarded to the guest.
    #[serde(default)]
    pub port_forwards: Vec<PortForward>,
    /// Boot devices in order; empty means the CD (when one is inserted) and then the disk.
    /// When given, only the listed devices boot.
    #[serde(default)]
    pub boot_order: Vec<BootDevice>,
    /// The ISO image in the machine's CD drive. A machine made from an ISO has it inserted.
    #[serde(default)]
    pub cdrom: Option<String>,
    /// Attach the NIC to this host bridge instead of user-mode networking (no port forwards).
    #[serde(default)]
    pub host_bridge: Option<String>,
    /// Set for zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<crate::spec::ZoneFacts>,
    /// The instance id of the guest data the node wrote for it (`GuestInit`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_id: Option<String>,
    pub state: MachineState,
    /// RFC 3339.
    pub created_at: String,
}

/// `POST /v1/machines`. The backend picks the id, which makes the request idempotent: a
/// retry with the same id and spec answers with the machine already made, never a second one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeMachineCreate {
    pub id: MachineId,
    pub name: String,
    #[serde(default)]
    pub kind: MachineKind,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// Make the disk a copy-on-write overlay of this image (else a blank disk).
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub port_forwards: Vec<PortForward>,
    /// Boot devices in order; empty means the CD (when one is inserted) and then the disk.
    /// When given, only the listed devices boot.
    #[serde(default)]
    pub boot_order: Vec<BootDevice>,
    /// The ISO image in the machine's CD drive. A machine made from an ISO has it inserted.
    #[serde(default)]
    pub cdrom: Option<String>,
    /// Attach the NIC to this host bridge instead of user-mode networking (no port forwards).
    #[serde(default)]
    pub host_bridge: Option<String>,
    /// What the guest is given at first boot (cloud-init's NoCloud data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<crate::guest::GuestInit>,
}

/// `PATCH /v1/machines/{id}`: rename; change a stopped VM's vCPUs, memory or port forwards,
/// or a zone's (live) CPU and memory limits; grow the disk of a stopped machine; change the
/// boot order (from the next boot on), insert an ISO into the CD drive or eject it (also
/// while running). Absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeMachineUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    #[serde(default)]
    pub disk_gib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_forwards: Option<Vec<PortForward>>,
    #[serde(default)]
    pub boot_order: Option<Vec<BootDevice>>,
    /// `"name.iso"` inserts that image, `null` ejects; absent leaves the drive alone.
    #[serde(default, deserialize_with = "crate::patch::present", skip_serializing_if = "Option::is_none")]
    pub cdrom: Option<Option<String>>,
    /// New guest data, written for the next boot (a new instance id makes cloud-init take it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<crate::guest::GuestInit>,
}

impl BridgeMachineCreate {
    /// Whether `m` is what this request asks for: a retry of the same create.
    pub fn matches(&self, m: &BridgeMachine) -> bool {
        m.name == self.name
            && m.kind == self.kind
            && m.vcpus == self.vcpus
            && m.memory_mib == self.memory_mib
            && m.disk_gib == self.disk_gib
            && m.image == self.image
            && m.port_forwards == self.port_forwards
            && m.boot_order == self.boot_order
            && m.host_bridge == self.host_bridge
            && m.init_id.as_deref() == self.init.as_ref().map(|i| i.instance_id.as_str())
    }

    /// The machine this request makes, `creating` from `created_at` on.
    pub fn into_machine(self, created_at: String) -> BridgeMachine {
        BridgeMachine {
            id: self.id,
            name: self.name,
            kind: self.kind,
            vcpus: self.vcpus,
            memory_mib: self.memory_mib,
            disk_gib: self.disk_gib,
            image: self.image,
            port_forwards: self.port_forwards,
            boot_order: self.boot_order,
            cdrom: self.cdrom,
            host_bridge: self.host_bridge,
            zone: None,
            init_id: self.init.as_ref().map(|i| i.instance_id.clone()),
            state: MachineState::Creating,
            created_at,
        }
    }
}

/// A snapshot of a machine's disk (and RAM, when taken running with `ram`), stored beside the
/// disk. Snapshots form a tree: each one's parent is the snapshot the machine descended from
/// when it was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeSnapshot {
    pub name: String,
    pub parent: Option<String>,
    /// The machine's present state descends from this snapshot.
    pub current: bool,
    /// Holds the RAM and device state, so a rollback resumes the running guest.
    pub ram: bool,
    /// Bytes of saved RAM and device state.
    pub vm_state_bytes: u64,
    /// RFC 3339.
    pub created_at: String,
}

/// `POST /v1/machines/{id}/snapshots`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BridgeSnapshotCreate {
    pub name: String,
    /// Also save RAM and device state (the machine must be running).
    #[serde(default)]
    pub ram: bool,
}

/// `POST /v1/machines/{id}/snapshots/{name}/clone`: a new machine whose disk starts as the
/// snapshot's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeSnapshotClone {
    pub id: MachineId,
    pub name: String,
    /// The clone's guest data (a new instance id: cloud-init runs again in the clone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<crate::guest::GuestInit>,
}

/// One line of `GET /v1/events` (newline-delimited JSON, one object per line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BridgeEvent {
    /// First line on every stream, so the reader knows the link works.
    Hello { driver: String },
    /// A machine was created or changed state.
    MachineChanged { machine: BridgeMachine },
    /// A machine was deleted.
    MachineRemoved { id: MachineId },
    /// A task started, moved on, or ended.
    TaskChanged { task: crate::task::BridgeTask },
    /// Sent on a fixed timer; a stream silent for several periods is a dead one.
    Heartbeat,
    /// New samples are ready, up to `seq`: fetch them from `GET /v1/metrics?after=` (they
    /// are many; the stream only says when).
    Sampled { seq: u64 },
}
