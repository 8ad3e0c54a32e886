//! The `Driver` trait: what a kind of host (qemu, lxc, smartos, sim) must do for the bridge.
//!
//! Drivers own their machines' state and announce every change on a broadcast channel; the
//! `/v1/events` stream is nothing but that channel.

mod admit;
pub mod lxc;
pub mod multi;
pub mod qemu;
pub mod sim;
mod sim_usage;
pub mod snapshot_tree;

pub use admit::{
    DISK_RESERVE_BYTES, check_growth, check_stopped, clone_record, create_again, forwards_free,
    thin_disk_room,
};

use async_trait::async_trait;
use corral_api::MachineId;
use corral_api::bridge::{
    BridgeEvent, BridgeMachine, BridgeMachineCreate, BridgeMachineUpdate, BridgeSnapshot,
    BridgeSnapshotClone, BridgeSnapshotCreate, HostFacts,
};
pub use corral_api::spec::PowerAction;
use tokio::sync::broadcast;

use crate::error::BridgeError;

/// Whether a create made something new or found the same machine already there (a retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// `sim`, `qemu`, …
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> Vec<String>;
    /// The kinds of machine it runs.
    fn kinds(&self) -> Vec<corral_api::spec::MachineKind>;
    fn host_facts(&self) -> HostFacts;
    /// Whether this driver holds the machine (a bridge with several drivers asks).
    fn knows(&self, id: MachineId) -> bool;
    /// The serial console hub of a running machine.
    fn serial(&self, id: MachineId) -> Result<std::sync::Arc<crate::serial::SerialHub>, BridgeError> {
        Err(BridgeError::Conflict(format!("machine {id} has no serial console on this driver")))
    }

    /// A shell of its own in a running machine, on a terminal of `size` (zones: `lxc-attach`).
    fn shell(
        &self,
        id: MachineId,
        size: corral_api::console::TermSize,
    ) -> Result<(tokio::process::Child, crate::pty::Pty), BridgeError> {
        let _ = size;
        Err(BridgeError::Conflict(format!("machine {id} has no shell on this driver")))
    }

    /// The VNC socket of a running machine.
    fn vnc_socket(&self, id: MachineId) -> Result<std::path::PathBuf, BridgeError> {
        Err(BridgeError::Conflict(format!("machine {id} has no graphical console on this driver")))
    }

    /// How guests are accelerated; `None` where there are no real guests.
    fn accelerator(&self) -> Option<corral_api::bridge::Accelerator> {
        None
    }
    /// What each running machine has used so far: CPU, memory, disk and network counters as
    /// the host keeps them (read now, not cached). A machine whose figures cannot be read at
    /// this moment is left out rather than reported as zeros.
    async fn machine_usage(&self) -> Vec<(MachineId, Vec<corral_api::metrics::MetricPoint>)> {
        Vec::new()
    }

    /// Changes to machines, in order. A receiver that lags has missed events and must list.
    fn subscribe(&self) -> broadcast::Receiver<BridgeEvent>;

    async fn machine_list(&self) -> Vec<BridgeMachine>;
    async fn machine_get(&self, id: MachineId) -> Result<BridgeMachine, BridgeError>;
    /// Idempotent on `req.id`: the same id and spec again answers `Created::Existing`; the same
    /// id with another spec is a conflict.
    async fn machine_create(&self, req: BridgeMachineCreate)
    -> Result<(BridgeMachine, Created), BridgeError>;
    /// Starts removal; refused while the machine runs unless `force`.
    async fn machine_delete(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError>;
    /// Starts a power action. Asking for the state a machine is in (or going to) is a no-op.
    async fn machine_power(&self, id: MachineId, action: PowerAction) -> Result<BridgeMachine, BridgeError>;

    /// Renames a machine, or grows its disk while it is stopped.
    async fn machine_update(
        &self,
        id: MachineId,
        req: BridgeMachineUpdate,
    ) -> Result<BridgeMachine, BridgeError>;

    /// The machine's snapshots as a tree (parent links, which is current).
    async fn snapshot_list(&self, id: MachineId) -> Result<Vec<BridgeSnapshot>, BridgeError> {
        Err(no_snapshots(id))
    }

    /// Takes a snapshot (with RAM state when asked, on a running machine). At most one
    /// snapshot operation runs per machine; others get `Busy`.
    async fn snapshot_create(
        &self,
        id: MachineId,
        req: BridgeSnapshotCreate,
    ) -> Result<BridgeSnapshot, BridgeError> {
        let _ = req;
        Err(no_snapshots(id))
    }

    /// Returns the machine to a snapshot; a running machine resumes from its RAM state.
    async fn snapshot_rollback(&self, id: MachineId, name: &str) -> Result<BridgeMachine, BridgeError> {
        let _ = name;
        Err(no_snapshots(id))
    }

    async fn snapshot_delete(&self, id: MachineId, name: &str) -> Result<(), BridgeError> {
        let _ = name;
        Err(no_snapshots(id))
    }

    /// A new, stopped machine whose disk starts as the snapshot's.
    async fn snapshot_clone(
        &self,
        id: MachineId,
        name: &str,
        req: BridgeSnapshotClone,
    ) -> Result<BridgeMachine, BridgeError> {
        let _ = (name, req);
        Err(no_snapshots(id))
    }
}

/// Machines in the order every listing has: oldest first, then by id.
pub fn in_listing_order(mut list: Vec<BridgeMachine>) -> Vec<BridgeMachine> {
    list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    list
}

fn no_snapshots(id: MachineId) -> BridgeError {
    BridgeError::Conflict(format!("machine {id} is on a driver without snapshots"))
}
