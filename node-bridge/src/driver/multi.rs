//! Several drivers behind one bridge (qemu for VMs and lxc for zones on a Linux node): one
//! `Driver` that hands a create to the driver of its kind, and every other call to the
//! driver that holds the machine.
//!
//! The drivers share one event channel (given to each when it is opened), so the event
//! stream keeps each driver's order and a lagging reader is told so once, as with one
//! driver.

use std::sync::Arc;

use async_trait::async_trait;
use corral_api::MachineId;
use corral_api::bridge::{
    BridgeEvent, BridgeMachine, BridgeMachineCreate, BridgeMachineUpdate, BridgeSnapshot,
    BridgeSnapshotClone, BridgeSnapshotCreate, HostFacts,
};
use corral_api::spec::MachineKind;
use tokio::sync::broadcast;

use super::{Created, Driver, PowerAction};
use crate::error::BridgeError;

pub struct Drivers {
    all: Vec<Arc<dyn Driver>>,
    name: &'static str,
    events: broadcast::Sender<BridgeEvent>,
}

impl Drivers {
    /// `events` must be the channel every driver in `all` announces on.
    pub fn new(all: Vec<Arc<dyn Driver>>, events: broadcast::Sender<BridgeEvent>) -> Self {
        assert!(!all.is_empty(), "a bridge runs at least one driver");
        let joined = all.iter().map(|d| d.name()).collect::<Vec<_>>().join("+");
        // Made once per process: the name of this set of drivers, e.g. `qemu+lxc`.
        let name: &'static str = Box::leak(joined.into_boxed_str());
        Self { all, name, events }
    }

    fn holder(&self, id: MachineId) -> Result<&Arc<dyn Driver>, BridgeError> {
        self.all.iter().find(|d| d.knows(id)).ok_or(BridgeError::MachineNotFound(id))
    }

    /// A host port belongs to one machine on the node, whichever driver runs it; `except` is
    /// the machine asking. (Two requests at once on two drivers could both pass; the second
    /// to start then finds the port bound and says so.)
    async fn forwards_free(
        &self,
        forwards: &[corral_api::spec::PortForward],
        except: MachineId,
    ) -> Result<(), BridgeError> {
        let mut all = Vec::new();
        for d in &self.all {
            all.extend(d.machine_list().await);
        }
        crate::driver::forwards_free(forwards, &all, except)
    }
}

#[async_trait]
impl Driver for Drivers {
    fn name(&self) -> &'static str {
        self.name
    }

    fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = Vec::new();
        for c in self.all.iter().flat_map(|d| d.capabilities()) {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
        caps
    }

    fn kinds(&self) -> Vec<MachineKind> {
        let mut kinds: Vec<MachineKind> = self.all.iter().flat_map(|d| d.kinds()).collect();
        kinds.dedup();
        kinds
    }

    /// The drivers run on one host: the first one's facts.
    fn host_facts(&self) -> HostFacts {
        self.all[0].host_facts()
    }

    fn knows(&self, id: MachineId) -> bool {
        self.all.iter().any(|d| d.knows(id))
    }

    fn serial(&self, id: MachineId) -> Result<Arc<crate::serial::SerialHub>, BridgeError> {
        self.holder(id)?.serial(id)
    }

    fn shell(
        &self,
        id: MachineId,
        size: corral_api::console::TermSize,
    ) -> Result<(tokio::process::Child, crate::pty::Pty), BridgeError> {
        self.holder(id)?.shell(id, size)
    }

    fn vnc_socket(&self, id: MachineId) -> Result<std::path::PathBuf, BridgeError> {
        self.holder(id)?.vnc_socket(id)
    }

    fn accelerator(&self) -> Option<corral_api::bridge::Accelerator> {
        self.all.iter().find_map(|d| d.accelerator())
    }

    fn subscribe(&self) -> broadcast::Receiver<BridgeEvent> {
        self.events.subscribe()
    }

    async fn machine_usage(&self) -> Vec<(MachineId, Vec<corral_api::metrics::MetricPoint>)> {
        let mut all = Vec::new();
        for d in &self.all {
            all.extend(d.machine_usage().await);
        }
        all
    }

    async fn machine_list(&self) -> Vec<BridgeMachine> {
        let mut list = Vec::new();
        for d in &self.all {
            list.extend(d.machine_list().await);
        }
        super::in_listing_order(list)
    }

    async fn machine_get(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        self.holder(id)?.machine_get(id).await
    }

    async fn machine_create(
        &self,
        req: BridgeMachineCreate,
    ) -> Result<(BridgeMachine, Created), BridgeError> {
        // A retry goes to whoever made the first attempt, which compares the two.
        if let Ok(d) = self.holder(req.id) {
            return d.machine_create(req).await;
        }
        self.forwards_free(&req.port_forwards, req.id).await?;
        let d = self.all.iter().find(|d| d.kinds().contains(&req.kind)).ok_or(BridgeError::Validation {
            field: "kind",
            message: format!("this node runs no {}s", req.kind.label()),
        })?;
        d.machine_create(req).await
    }

    async fn machine_delete(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError> {
        self.holder(id)?.machine_delete(id, force).await
    }

    async fn machine_power(&self, id: MachineId, action: PowerAction) -> Result<BridgeMachine, BridgeError> {
        self.holder(id)?.machine_power(id, action).await
    }

    async fn machine_update(
        &self,
        id: MachineId,
        req: BridgeMachineUpdate,
    ) -> Result<BridgeMachine, BridgeError> {
        let holder = self.holder(id)?;
        if let Some(forwards) = &req.port_forwards {
            self.forwards_free(forwards, id).await?;
        }
        holder.machine_update(id, req).await
    }

    async fn snapshot_list(&self, id: MachineId) -> Result<Vec<BridgeSnapshot>, BridgeError> {
        self.holder(id)?.snapshot_list(id).await
    }

    async fn snapshot_create(
        &self,
        id: MachineId,
        req: BridgeSnapshotCreate,
    ) -> Result<BridgeSnapshot, BridgeError> {
        self.holder(id)?.snapshot_create(id, req).await
    }

    async fn snapshot_rollback(&self, id: MachineId, name: &str) -> Result<BridgeMachine, BridgeError> {
        self.holder(id)?.snapshot_rollback(id, name).await
    }

    async fn snapshot_delete(&self, id: MachineId, name: &str) -> Result<(), BridgeError> {
        self.holder(id)?.snapshot_delete(id, name).await
    }

    async fn snapshot_clone(
        &self,
        id: MachineId,
        name: &str,
        req: BridgeSnapshotClone,
    ) -> Result<BridgeMachine, BridgeError> {
        self.holder(id)?.snapshot_clone(id, name, req).await
    }
}
