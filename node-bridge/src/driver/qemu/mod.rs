//! The qemu driver: one `qemu-system-x86_64` per VM on the node's local storage, controlled
//! over QMP.
//!
//! State comes from the processes, not from memory: a VM runs while its QEMU does. Each
//! running VM has a monitor task holding its QMP connection; when QEMU exits (guest powered
//! off, forced stop, crash) the connection closes and the monitor records the VM `stopped`.
//! A restarted bridge re-adopts running VMs through their pid file and QMP socket, and
//! notices those whose QEMU died while it was away.
//!
//! Operations on one VM are serialized by its own lock, so a slow stop of one VM never holds
//! up another.
//!
//! Here: the driver's state and the one way a record changes (`commit`). Beside it: `adopt`
//! (the bridge starting), `lifecycle` (start, stop, power actions, delete), `hardware`
//! (create, the CD drive, changes), `snapshots`, `launch` (QEMU's command line), `net`
//! (taps), `usage` (metrics).

mod adopt;
mod hardware;
pub mod launch;
mod lifecycle;
pub mod net;
pub mod snapshots;
mod usage;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use corral_api::MachineId;
use corral_api::bridge::{
    Accelerator, BridgeEvent, BridgeMachine, BridgeMachineCreate, BridgeMachineUpdate, BridgeSnapshot,
    BridgeSnapshotClone, BridgeSnapshotCreate, HostFacts,
};
use corral_api::machine::MachineState;
use tokio::sync::broadcast;

use self::launch::VmPaths;
use super::snapshot_tree::SnapshotMeta;
use super::{Created, Driver, PowerAction};
use crate::error::BridgeError;
use crate::host::{Accel, HostExec};
use crate::images::ImageStore;
use crate::qmp::Qmp;
use crate::serial::SerialHub;
use crate::store::MachineStore;

#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub accel: Accel,
    pub qemu_binary: String,
    pub qemu_img: String,
    /// How long a guest may take to honour the ACPI power button before it is forced off.
    pub stop_timeout: Duration,
    pub host: HostFacts,
    /// iproute2, for the tap devices of NICs on host bridges.
    pub ip_binary: String,
    /// Makes the guests' seed volumes (cloud-init's NoCloud data).
    pub xorriso: String,
}

struct Vm {
    record: BridgeMachine,
    /// The QMP connection of a running QEMU.
    qmp: Option<Qmp>,
    /// Its serial console, connected from the start so boot output is kept.
    serial: Option<Arc<SerialHub>>,
    /// Serializes operations on this VM.
    op: Arc<tokio::sync::Mutex<()>>,
    /// Held by the one snapshot operation allowed at a time.
    snap: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone)]
pub struct QemuDriver {
    config: QemuConfig,
    store: MachineStore,
    images: ImageStore,
    exec: Arc<dyn HostExec>,
    vms: Arc<Mutex<HashMap<MachineId, Vm>>>,
    events: broadcast::Sender<BridgeEvent>,
    /// Held from a new machine's checks (memory, ports, space) until it is registered, so
    /// two creates at once cannot both pass a check only one of them fits.
    admission: Arc<tokio::sync::Mutex<()>>,
}

const QMP_TIMEOUT: Duration = Duration::from_secs(10);

impl QemuDriver {
    fn lock(&self) -> MutexGuard<'_, HashMap<MachineId, Vm>> {
        self.vms.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn paths(&self, id: MachineId) -> VmPaths {
        VmPaths::new(self.store.machine_dir(id))
    }

    fn op_lock(&self, id: MachineId) -> Result<Arc<tokio::sync::Mutex<()>>, BridgeError> {
        self.lock().get(&id).map(|v| v.op.clone()).ok_or(BridgeError::MachineNotFound(id))
    }

    /// The snapshot lock of a VM, or `Busy` if another snapshot operation holds it.
    fn snap_guard(&self, id: MachineId) -> Result<tokio::sync::OwnedMutexGuard<()>, BridgeError> {
        let lock = self.lock().get(&id).map(|v| v.snap.clone()).ok_or(BridgeError::MachineNotFound(id))?;
        lock.try_lock_owned().map_err(|_| {
            BridgeError::Busy(format!(
                "machine {id} has a snapshot operation in progress; try again when it ends"
            ))
        })
    }

    fn snapshot_meta_path(&self, id: MachineId) -> std::path::PathBuf {
        self.paths(id).dir.join("snapshots.json")
    }

    /// The metadata, cleaned of snapshots qcow2 no longer has, and the sizes qcow2 reports.
    async fn snapshot_state(&self, id: MachineId) -> Result<(SnapshotMeta, Vec<(String, u64)>), BridgeError> {
        // A running QEMU answers from memory; otherwise qemu-img reads the disk.
        let sizes = match self.qmp(id) {
            Some(qmp) => snapshots::running_snapshots(&qmp).await?,
            None => {
                snapshots::qcow2_snapshots(&*self.exec, &self.config.qemu_img, &self.paths(id).disk()).await?
            }
        };
        let mut meta = SnapshotMeta::load(&self.snapshot_meta_path(id));
        let before = meta.clone();
        meta.retain_existing(&sizes);
        if meta != before {
            meta.save(&self.snapshot_meta_path(id))?;
        }
        Ok((meta, sizes))
    }

    fn record(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        self.lock().get(&id).map(|v| v.record.clone()).ok_or(BridgeError::MachineNotFound(id))
    }

    fn qmp(&self, id: MachineId) -> Option<Qmp> {
        self.lock().get(&id).and_then(|v| v.qmp.clone())
    }

    /// Sets a VM's state, persists it and announces it.
    fn set_state(&self, id: MachineId, state: MachineState) -> Result<BridgeMachine, BridgeError> {
        self.commit(id, |r| {
            r.state = state;
            Ok(())
        })
    }

    /// Changes a VM's record, persists it and announces it: the one way a record changes.
    ///
    /// The spec is written under the machines' lock, so the file always holds the last change
    /// made in memory: QEMU's monitor changes a record without the operation lock, and two
    /// writers racing to rename their `spec.json.tmp` would otherwise fail one of them, or
    /// leave an older state on disk. `deleting` is final: a VM whose files are being removed
    /// is never written again, so a late monitor cannot bring its directory back.
    fn commit(
        &self,
        id: MachineId,
        change: impl FnOnce(&mut BridgeMachine) -> Result<(), BridgeError>,
    ) -> Result<BridgeMachine, BridgeError> {
        let record = {
            let mut vms = self.lock();
            let vm = vms.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?;
            let mut record = vm.record.clone();
            change(&mut record)?;
            if record == vm.record {
                return Ok(record);
            }
            if vm.record.state == MachineState::Deleting {
                return Err(BridgeError::Conflict(format!("machine {id} is being deleted")));
            }
            self.store.save(&record)?;
            vm.record = record.clone();
            record
        };
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: record.clone() });
        Ok(record)
    }

    /// Refuses a host port another VM of this driver forwards already.
    fn forwards_free(
        &self,
        forwards: &[corral_api::spec::PortForward],
        except: MachineId,
    ) -> Result<(), BridgeError> {
        let vms = self.lock();
        crate::driver::forwards_free(forwards, vms.values().map(|v| &v.record), except)
    }

    /// Refuses memory that, added to every machine's on the node, would exceed the node's.
    fn memory_room(&self, need_mib: u64) -> Result<(), BridgeError> {
        let total = self.config.host.memory_mib;
        let used: u64 = self.lock().values().map(|v| v.record.memory_mib).sum();
        if used + need_mib > total {
            return Err(BridgeError::InsufficientCapacity(format!(
                "needs {need_mib} MiB of memory, {} of {total} MiB unallocated",
                total.saturating_sub(used)
            )));
        }
        Ok(())
    }

    /// Records a new machine, `creating`, before its disk exists. The spec is written first:
    /// a crash from here on is undone at the next start (see `open`).
    fn register_creating(&self, record: BridgeMachine) -> Result<BridgeMachine, BridgeError> {
        self.store.save(&record)?;
        let vm =
            Vm { record: record.clone(), qmp: None, serial: None, op: Arc::default(), snap: Arc::default() };
        self.lock().insert(record.id, vm);
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: record.clone() });
        Ok(record)
    }

    /// Runs the `qemu-img` that makes a new machine's disk; the machine is then `stopped`,
    /// or, if it failed, gone again with every file.
    async fn make_disk(
        &self,
        id: MachineId,
        args: Vec<String>,
        what: &str,
    ) -> Result<BridgeMachine, BridgeError> {
        let failure = match self.exec.run(&self.config.qemu_img, &args).await {
            Ok(out) if out.success => None,
            Ok(out) => Some(format!("{what} failed: {}", out.stderr_tail())),
            Err(e) => Some(format!("cannot run {}: {e}", self.config.qemu_img)),
        };
        if let Some(why) = failure {
            self.undo_create(id);
            return Err(BridgeError::Host(why));
        }
        self.set_state(id, MachineState::Stopped)
    }

    /// Takes a machine whose making failed out again, with every file.
    fn undo_create(&self, id: MachineId) {
        self.lock().remove(&id);
        let _ = self.store.remove(id);
        let _ = self.events.send(BridgeEvent::MachineRemoved { id });
    }

    /// Writes the guest's seed (cloud-init's data) beside the VM's disk, for its next start.
    async fn write_seed(
        &self,
        id: MachineId,
        init: &corral_api::guest::GuestInit,
    ) -> Result<(), BridgeError> {
        let dir = self.paths(id).dir;
        crate::guest::iso::write_seed(&*self.exec, &self.config.xorriso, &dir, init, &net::mac_address(id))
            .await
            .map(|_| ())
    }

    /// A new machine's seed, if it was given data; if that fails, the machine goes again.
    async fn seed_new(
        &self,
        id: MachineId,
        init: Option<&corral_api::guest::GuestInit>,
    ) -> Result<(), BridgeError> {
        let Some(init) = init else { return Ok(()) };
        self.write_seed(id, init).await.inspect_err(|_| self.undo_create(id))
    }
}

#[async_trait]
impl Driver for QemuDriver {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn kinds(&self) -> Vec<corral_api::spec::MachineKind> {
        vec![corral_api::spec::MachineKind::Vm]
    }

    fn knows(&self, id: MachineId) -> bool {
        self.lock().contains_key(&id)
    }

    fn capabilities(&self) -> Vec<String> {
        ["machines", "images", "snapshots", "consoles", "force-stop", "pause", "port-forwards"]
            .map(String::from)
            .to_vec()
    }

    fn host_facts(&self) -> HostFacts {
        self.config.host.clone()
    }

    fn serial(&self, id: MachineId) -> Result<Arc<SerialHub>, BridgeError> {
        let vms = self.lock();
        let vm = vms.get(&id).ok_or(BridgeError::MachineNotFound(id))?;
        vm.serial.clone().filter(|h| h.is_live()).ok_or_else(|| {
            BridgeError::Conflict(format!(
                "machine {id} is {}; its console needs it running",
                vm.record.state
            ))
        })
    }

    fn vnc_socket(&self, id: MachineId) -> Result<std::path::PathBuf, BridgeError> {
        let record = self.record(id)?;
        if self.qmp(id).is_none() {
            return Err(BridgeError::Conflict(format!(
                "machine {id} is {}; its console needs it running",
                record.state
            )));
        }
        Ok(self.paths(id).vnc())
    }

    fn accelerator(&self) -> Option<Accelerator> {
        Some(Accelerator { name: self.config.accel.name.into(), reason: self.config.accel.reason.clone() })
    }

    fn subscribe(&self) -> broadcast::Receiver<BridgeEvent> {
        self.events.subscribe()
    }

    async fn machine_usage(&self) -> Vec<(MachineId, Vec<corral_api::metrics::MetricPoint>)> {
        let running: Vec<(MachineId, Qmp, Option<String>)> = self
            .lock()
            .values()
            .filter_map(|vm| {
                let tap = vm.record.host_bridge.as_ref().map(|_| net::tap_name(vm.record.id));
                Some((vm.record.id, vm.qmp.clone()?, tap))
            })
            .collect();
        let host = usage::Host {
            proc: std::path::Path::new("/proc"),
            sys: std::path::Path::new("/sys"),
            ticks: crate::metrics::procfs::ticks_per_second(),
        };
        let mut all = Vec::new();
        for (id, qmp, tap) in running {
            let Some(pid) = self.paths(id).pid() else { continue };
            if let Some(points) = usage::vm_usage(&host, pid, &qmp, tap.as_deref()).await {
                all.push((id, points));
            }
        }
        all
    }

    async fn machine_list(&self) -> Vec<BridgeMachine> {
        super::in_listing_order(self.lock().values().map(|v| v.record.clone()).collect())
    }

    async fn machine_get(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        self.record(id)
    }

    async fn machine_create(
        &self,
        req: BridgeMachineCreate,
    ) -> Result<(BridgeMachine, Created), BridgeError> {
        self.create(req).await
    }

    async fn machine_delete(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError> {
        self.delete(id, force).await
    }

    async fn machine_power(&self, id: MachineId, action: PowerAction) -> Result<BridgeMachine, BridgeError> {
        self.power(id, action).await
    }

    async fn machine_update(
        &self,
        id: MachineId,
        req: BridgeMachineUpdate,
    ) -> Result<BridgeMachine, BridgeError> {
        self.update(id, req).await
    }

    async fn snapshot_list(&self, id: MachineId) -> Result<Vec<BridgeSnapshot>, BridgeError> {
        self.snap_list(id).await
    }

    async fn snapshot_create(
        &self,
        id: MachineId,
        req: BridgeSnapshotCreate,
    ) -> Result<BridgeSnapshot, BridgeError> {
        self.snap_create(id, req).await
    }

    async fn snapshot_rollback(&self, id: MachineId, name: &str) -> Result<BridgeMachine, BridgeError> {
        self.snap_rollback(id, name).await
    }

    async fn snapshot_delete(&self, id: MachineId, name: &str) -> Result<(), BridgeError> {
        self.snap_delete(id, name).await
    }

    async fn snapshot_clone(
        &self,
        id: MachineId,
        name: &str,
        req: BridgeSnapshotClone,
    ) -> Result<BridgeMachine, BridgeError> {
        self.snap_clone(id, name, req).await
    }
}

#[cfg(test)]
mod tests;
