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

pub mod launch;
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
use serde_json::{Value, json};
use tokio::sync::broadcast;

use self::launch::{CDROM_DEVICE, Nic, VmPaths, disk_create_args, qemu_args};
use super::snapshot_tree::SnapshotMeta;
use super::{Created, Driver, PowerAction};
use crate::error::BridgeError;
use crate::host::{Accel, HostExec};
use crate::images::ImageStore;
use crate::qmp::{Qmp, QmpError};
use crate::serial::SerialHub;
use crate::store::MachineStore;
use crate::time_fmt::now_rfc3339;

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
    /// Loads every VM and re-adopts those whose QEMU still runs.
    pub async fn open(
        config: QemuConfig,
        store: MachineStore,
        images: ImageStore,
        exec: Arc<dyn HostExec>,
        events: broadcast::Sender<BridgeEvent>,
    ) -> std::io::Result<Self> {
        let driver = QemuDriver {
            config,
            store,
            images,
            exec,
            vms: Arc::default(),
            events,
            admission: Arc::default(),
        };
        for mut record in driver.store.load_all()? {
            let paths = VmPaths::new(driver.store.machine_dir(record.id));
            // A create or delete cut short by a crash: finish the delete, undo the create.
            if matches!(record.state, MachineState::Creating | MachineState::Deleting) {
                tracing::warn!(machine = %record.id, state = %record.state, "removing a half-made or half-deleted machine");
                driver.kill_if_running(&paths);
                driver.store.remove(record.id)?;
                continue;
            }
            let adopted = match paths.pid() {
                Some(pid) if crate::host::process_matches(pid, &paths.qmp().display().to_string()) => {
                    match Qmp::connect(&paths.qmp(), QMP_TIMEOUT).await {
                        Ok(qmp) => Some(qmp),
                        Err(e) => {
                            tracing::error!(machine = %record.id, pid, error = %e, "QEMU runs but QMP does not answer");
                            None
                        }
                    }
                }
                _ => None,
            };
            let was = record.state;
            record.state = match &adopted {
                Some(qmp) => match qmp.query_status().await {
                    Ok((status, _)) if status == "paused" => MachineState::Paused,
                    _ => MachineState::Running,
                },
                None => MachineState::Stopped,
            };
            if adopted.is_none() {
                if matches!(was, MachineState::Running | MachineState::Starting | MachineState::Rebooting) {
                    tracing::warn!(machine = %record.id, "its QEMU exited while the bridge was away");
                }
                paths.clean_runtime();
                if record.host_bridge.is_some() {
                    net::tap_down(&*driver.exec, &driver.config.ip_binary, record.id).await;
                }
            } else {
                tracing::info!(machine = %record.id, "re-adopted a running VM");
            }
            driver.store.save(&record)?;
            let id = record.id;
            // Output while the bridge was away is lost; from here on it is kept again.
            let serial = match adopted {
                Some(_) => SerialHub::connect(&paths.serial()).await.ok(),
                None => None,
            };
            driver.lock().insert(
                id,
                Vm { record, qmp: adopted.clone(), serial, op: Arc::default(), snap: Arc::default() },
            );
            if let Some(qmp) = adopted {
                driver.spawn_monitor(id, qmp);
            }
        }
        Ok(driver)
    }

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

    /// Follows a running QEMU: resets finish a reboot; the connection closing means QEMU
    /// exited, so the VM is stopped and its runtime files are cleaned.
    fn spawn_monitor(&self, id: MachineId, qmp: Qmp) {
        let this = self.clone();
        let mut events = qmp.events();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(ev) if ev.event == "RESET" => {
                        if this.record(id).is_ok_and(|r| r.state == MachineState::Rebooting) {
                            let _ = this.set_state(id, MachineState::Running);
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            let deleting = {
                let mut vms = this.lock();
                match vms.get_mut(&id) {
                    Some(vm) => {
                        vm.qmp = None;
                        vm.serial = None;
                        vm.record.state == MachineState::Deleting
                    }
                    None => true,
                }
            };
            // A delete removes the tap itself.
            if !deleting && this.record(id).is_ok_and(|r| r.host_bridge.is_some()) {
                net::tap_down(&*this.exec, &this.config.ip_binary, id).await;
            }
            if !deleting {
                this.paths(id).clean_runtime();
                if let Err(e) = this.set_state(id, MachineState::Stopped) {
                    tracing::error!(machine = %id, error = %e, "recording a stopped VM");
                }
                tracing::info!(machine = %id, "QEMU exited");
            }
        });
    }

    /// Refuses a host port another machine forwards already: a port can be forwarded to one
    /// guest only, running or not, or the two would fight over it at start.
    fn forwards_free(
        &self,
        forwards: &[corral_api::spec::PortForward],
        except: MachineId,
    ) -> Result<(), BridgeError> {
        for f in forwards {
            let taken = self.lock().values().filter(|v| v.record.id != except).find_map(|v| {
                v.record
                    .port_forwards
                    .iter()
                    .any(|o| o.protocol == f.protocol && o.host_port == f.host_port)
                    .then(|| v.record.name.clone())
            });
            if let Some(other) = taken {
                return Err(BridgeError::Conflict(format!(
                    "host port {}/{} is already forwarded to {other}",
                    f.host_port, f.protocol
                )));
            }
        }
        Ok(())
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
            self.lock().remove(&id);
            let _ = self.store.remove(id);
            let _ = self.events.send(BridgeEvent::MachineRemoved { id });
            return Err(BridgeError::Host(why));
        }
        self.set_state(id, MachineState::Stopped)
    }

    /// An ISO image of the node's store, for the CD drive.
    fn iso(&self, name: &str) -> Result<std::path::PathBuf, BridgeError> {
        match self.images.get(name) {
            Ok(i) if i.format == "iso" => self.images.path(name),
            Ok(i) => Err(BridgeError::Validation {
                field: "cdrom",
                message: format!("{name} is a {} disk image, not an ISO", i.format),
            }),
            Err(_) => Err(BridgeError::Validation {
                field: "cdrom",
                message: format!("this node has no image named {name}"),
            }),
        }
    }

    /// Inserts an ISO into a running VM's CD drive, or ejects it; a stopped VM only needs its
    /// spec changed, which the caller does. The guest may hold the tray locked (a mounted
    /// CD): the eject is forced, as pulling a disc out by hand would be.
    async fn change_cdrom(&self, id: MachineId, iso: Option<&str>) -> Result<(), BridgeError> {
        let path = iso.map(|name| self.iso(name)).transpose()?;
        let Some(qmp) = self.qmp(id) else { return Ok(()) };
        let result = match &path {
            Some(path) => {
                qmp.execute(
                    "blockdev-change-medium",
                    json!({"id": CDROM_DEVICE, "filename": path, "format": "raw", "read-only-mode": "read-only"}),
                )
                .await
            }
            None => qmp.execute("eject", json!({"id": CDROM_DEVICE, "force": true})).await,
        };
        result.map(|_| ()).map_err(|e| BridgeError::Host(format!("changing the CD failed: {e}")))
    }

    /// SIGKILL to a QEMU that is ours, for cleanup paths that cannot wait.
    fn kill_if_running(&self, paths: &VmPaths) {
        if let Some(pid) = paths.pid()
            && crate::host::process_matches(pid, &paths.qmp().display().to_string())
        {
            let _ = crate::host::kill_hard(pid);
        }
    }

    async fn start(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        let record = self.record(id)?;
        let paths = self.paths(id);
        paths.clean_runtime();
        self.set_state(id, MachineState::Starting)?;
        let cdrom = match &record.cdrom {
            Some(name) => match self.images.get(name) {
                Ok(_) => Some(self.images.path(name)?),
                Err(_) => {
                    self.set_state(id, MachineState::Stopped)?;
                    return Err(BridgeError::Conflict(format!(
                        "the ISO in its CD drive, {name}, is no longer on this node: eject it"
                    )));
                }
            },
            None => None,
        };
        let tap = match &record.host_bridge {
            Some(bridge) => match net::tap_up(&*self.exec, &self.config.ip_binary, id, bridge).await {
                Ok(tap) => Some(tap),
                Err(e) => {
                    self.set_state(id, MachineState::Stopped)?;
                    return Err(e);
                }
            },
            None => None,
        };
        let nic = match &tap {
            Some(tap) => Nic::Tap(tap),
            None => Nic::User,
        };
        let args = qemu_args(&record, &paths, self.config.accel.name, cdrom.as_deref(), nic);
        let failure = match self.exec.run(&self.config.qemu_binary, &args).await {
            Ok(out) if out.success => None,
            Ok(out) => Some(format!("QEMU did not start: {}", out.stderr_tail())),
            Err(e) => Some(format!("cannot run {}: {e}", self.config.qemu_binary)),
        };
        if let Some(why) = failure {
            self.kill_if_running(&paths);
            paths.clean_runtime();
            if tap.is_some() {
                net::tap_down(&*self.exec, &self.config.ip_binary, id).await;
            }
            self.set_state(id, MachineState::Stopped)?;
            return Err(BridgeError::Host(why));
        }
        // Serial first: the guest is already running and its first words should be kept.
        let serial = match SerialHub::connect(&paths.serial()).await {
            Ok(hub) => Some(hub),
            Err(e) => {
                tracing::warn!(machine = %id, error = %e, "serial console not connected");
                None
            }
        };
        let qmp = match Qmp::connect(&paths.qmp(), QMP_TIMEOUT).await {
            Ok(q) => q,
            Err(e) => {
                self.kill_if_running(&paths);
                paths.clean_runtime();
                self.set_state(id, MachineState::Stopped)?;
                return Err(BridgeError::Host(format!("QEMU started but QMP did not answer: {e}")));
            }
        };
        if let Some(vm) = self.lock().get_mut(&id) {
            vm.qmp = Some(qmp.clone());
            vm.serial = serial;
        }
        self.spawn_monitor(id, qmp);
        self.set_state(id, MachineState::Running)
    }

    async fn stop(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError> {
        let Some(qmp) = self.qmp(id) else { return self.set_state(id, MachineState::Stopped) };
        let record = self.set_state(id, MachineState::Stopping)?;
        if force {
            quit(&qmp).await;
            return Ok(record);
        }
        if let Err(e) = qmp.execute("system_powerdown", Value::Null).await {
            tracing::warn!(machine = %id, error = %e, "powerdown failed; forcing");
            quit(&qmp).await;
            return Ok(record);
        }
        // The guest may ignore the button; after the timeout it is forced off.
        let timeout = self.config.stop_timeout;
        let paths = self.paths(id);
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if !qmp.is_closed() {
                tracing::warn!(machine = %id, ?timeout, "guest ignored the power button; forcing it off");
                quit(&qmp).await;
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Some(pid) = paths.pid()
                    && crate::host::process_matches(pid, &paths.qmp().display().to_string())
                {
                    let _ = crate::host::kill_hard(pid);
                }
            }
        });
        Ok(record)
    }

    /// Waits until the VM's QEMU has exited (its monitor saw QMP close).
    async fn wait_stopped(&self, id: MachineId, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.qmp(id).is_none() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// Asks QEMU to exit now; its closing connection is the answer.
async fn quit(qmp: &Qmp) {
    match qmp.execute("quit", Value::Null).await {
        Ok(_) | Err(QmpError::Closed) => {}
        Err(e) => tracing::warn!(error = %e, "QMP quit failed"),
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
        let admission = self.admission.clone().lock_owned().await;
        if let Ok(existing) = self.record(req.id) {
            return super::create_again(&req, existing);
        }
        self.forwards_free(&req.port_forwards, req.id)?;
        self.memory_room(req.memory_mib)?;
        let paths = self.paths(req.id);
        if !paths.sockets_fit() {
            return Err(BridgeError::Host(format!(
                "the data directory's path is too long for unix sockets ({}): use a shorter one",
                paths.qmp().display()
            )));
        }
        let (free, _) = crate::host::disk_space(self.store.root())?;
        // The overlay is thin, but it may grow to its full size: refuse what cannot fit.
        if req.disk_gib << 30 > free {
            return Err(BridgeError::InsufficientCapacity(format!(
                "a {} GiB disk does not fit the {} GiB free on the node",
                req.disk_gib,
                free >> 30
            )));
        }
        if let Some(iso) = &req.cdrom {
            self.iso(iso)?;
        }
        let image = match &req.image {
            Some(name) => {
                let image = self.images.get(name).map_err(|_| BridgeError::Validation {
                    field: "image",
                    message: format!("this node has no image named {name}"),
                })?;
                // An ISO is an installer medium, not the disk: the disk starts blank.
                if image.format != "iso" && image.virtual_size_bytes > req.disk_gib << 30 {
                    return Err(BridgeError::Validation {
                        field: "disk_gib",
                        message: format!(
                            "image {name} is {} MiB; the disk must be at least that big",
                            image.virtual_size_bytes >> 20
                        ),
                    });
                }
                Some((self.images.path(name)?, image.format))
            }
            None => None,
        };

        let mut record = req.into_machine(now_rfc3339());
        // A machine made from an ISO starts with it in the CD drive.
        if record.cdrom.is_none() && image.as_ref().is_some_and(|(_, f)| f == "iso") {
            record.cdrom = record.image.clone();
        }
        let record = self.register_creating(record)?;
        // Counted from here on: the next create may check.
        drop(admission);
        // An installer ISO is attached at start, not used as the disk's backing.
        let backing = image.as_ref().filter(|(_, f)| f != "iso").map(|(p, f)| (p.as_path(), f.as_str()));
        let args = disk_create_args(&paths.disk(), record.disk_gib, backing);
        let record = self.make_disk(record.id, args, "creating the disk").await?;
        Ok((record, Created::New))
    }

    async fn machine_delete(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError> {
        let op = self.op_lock(id)?;
        let _guard = op.lock().await;
        let record = self.record(id)?;
        let running = self.qmp(id);
        if running.is_some() && !force {
            return Err(BridgeError::Conflict(format!(
                "machine {id} is {}; stop it first or delete with force",
                record.state
            )));
        }
        // `deleting` before QEMU goes, so its monitor does not record it `stopped` (and write
        // its spec again) while the files are being removed.
        let record = self.set_state(id, MachineState::Deleting)?;
        if let Some(qmp) = running {
            quit(&qmp).await;
            if !self.wait_stopped(id, Duration::from_secs(10)).await {
                self.kill_if_running(&self.paths(id));
            }
        }
        if record.host_bridge.is_some() {
            net::tap_down(&*self.exec, &self.config.ip_binary, id).await;
        }
        self.store.remove(id)?;
        self.lock().remove(&id);
        let _ = self.events.send(BridgeEvent::MachineRemoved { id });
        Ok(record)
    }

    async fn machine_power(&self, id: MachineId, action: PowerAction) -> Result<BridgeMachine, BridgeError> {
        let op = self.op_lock(id)?;
        let _guard = op.lock().await;
        let record = self.record(id)?;
        let running = self.qmp(id).is_some();
        match (action, running) {
            (PowerAction::Start, true) if record.state == MachineState::Stopping => {
                Err(BridgeError::Conflict(format!("machine {id} is stopping; start it once it has stopped")))
            }
            (PowerAction::Start, true) => Ok(record),
            (PowerAction::Start, false) => self.start(id).await,
            (PowerAction::Stop | PowerAction::ForceStop, false) => Ok(record),
            (PowerAction::Stop, true) if record.state == MachineState::Stopping => Ok(record),
            // A paused guest cannot see the power button: it is forced off.
            (PowerAction::Stop, true) if record.state == MachineState::Paused => self.stop(id, true).await,
            (PowerAction::Stop, true) => self.stop(id, false).await,
            (PowerAction::ForceStop, true) => self.stop(id, true).await,
            (PowerAction::Reboot | PowerAction::Reset | PowerAction::Pause | PowerAction::Resume, false) => {
                Err(BridgeError::Conflict(format!(
                    "cannot {} machine {id} while it is {}",
                    action.as_str(),
                    record.state
                )))
            }
            (PowerAction::Pause, true) => {
                if record.state == MachineState::Paused {
                    return Ok(record);
                }
                let qmp = self.qmp(id).ok_or(BridgeError::MachineNotFound(id))?;
                qmp.execute("stop", json!({}))
                    .await
                    .map_err(|e| BridgeError::Host(format!("pause failed: {e}")))?;
                self.set_state(id, MachineState::Paused)
            }
            (PowerAction::Resume, true) => {
                if record.state != MachineState::Paused {
                    return Ok(record);
                }
                let qmp = self.qmp(id).ok_or(BridgeError::MachineNotFound(id))?;
                qmp.execute("cont", json!({}))
                    .await
                    .map_err(|e| BridgeError::Host(format!("resume failed: {e}")))?;
                self.set_state(id, MachineState::Running)
            }
            (PowerAction::Reboot | PowerAction::Reset, true) if record.state != MachineState::Running => {
                Err(BridgeError::Conflict(format!(
                    "cannot {} machine {id} while it is {}",
                    action.as_str(),
                    record.state
                )))
            }
            (PowerAction::Reboot | PowerAction::Reset, true) => {
                let qmp = self.qmp(id).ok_or(BridgeError::MachineNotFound(id))?;
                let record = self.set_state(id, MachineState::Rebooting)?;
                qmp.execute("system_reset", json!({}))
                    .await
                    .map_err(|e| BridgeError::Host(format!("reset failed: {e}")))?;
                Ok(record)
            }
        }
    }

    async fn machine_update(
        &self,
        id: MachineId,
        req: BridgeMachineUpdate,
    ) -> Result<BridgeMachine, BridgeError> {
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        // More memory is admitted as a create's is, so the two cannot both take the last of it.
        let _admission = match req.memory_mib {
            Some(_) => Some(self.admission.clone().lock_owned().await),
            None => None,
        };
        let mut record = self.record(id)?;
        // Everything is checked before the disk is touched: a refusal changes nothing.
        let vcpus = req.vcpus.unwrap_or(record.vcpus);
        let memory_mib = req.memory_mib.unwrap_or(record.memory_mib);
        let forwards = req.port_forwards.unwrap_or_else(|| record.port_forwards.clone());
        if vcpus != record.vcpus || memory_mib != record.memory_mib || forwards != record.port_forwards {
            // QEMU takes its CPUs, memory and forwards on its command line, at start.
            super::check_stopped(&record, "change its vCPUs, memory or port forwards")?;
        }
        if forwards != record.port_forwards {
            corral_api::validate::network(record.host_bridge.as_deref(), &forwards)?;
            self.forwards_free(&forwards, id)?;
        }
        if memory_mib > record.memory_mib {
            self.memory_room(memory_mib - record.memory_mib)?;
        }
        record.vcpus = vcpus;
        record.memory_mib = memory_mib;
        record.port_forwards = forwards;
        if let Some(disk) = req.disk_gib
            && disk != record.disk_gib
        {
            super::check_growth(&record, disk)?;
            let (free, _) = crate::host::disk_space(self.store.root())?;
            if (disk - record.disk_gib) << 30 > free {
                return Err(BridgeError::InsufficientCapacity(format!(
                    "growing by {} GiB does not fit the {} GiB free on the node",
                    disk - record.disk_gib,
                    free >> 30
                )));
            }
            let args = vec![
                "resize".into(),
                "-q".into(),
                self.paths(id).disk().display().to_string(),
                format!("{disk}G"),
            ];
            let out = self.exec.run(&self.config.qemu_img, &args).await?;
            if !out.success {
                return Err(BridgeError::Host(format!("resizing the disk failed: {}", out.stderr_tail())));
            }
            record.disk_gib = disk;
        }
        if let Some(name) = req.name {
            record.name = name;
        }
        if let Some(order) = req.boot_order {
            record.boot_order = order;
        }
        if let Some(cdrom) = req.cdrom
            && cdrom != record.cdrom
        {
            self.change_cdrom(id, cdrom.as_deref()).await?;
            record.cdrom = cdrom;
        }
        // Only the fields asked for: the state may have moved meanwhile (QEMU exiting).
        self.commit(id, |current| {
            current.vcpus = record.vcpus;
            current.memory_mib = record.memory_mib;
            current.port_forwards = record.port_forwards;
            current.disk_gib = record.disk_gib;
            current.name = record.name;
            current.boot_order = record.boot_order;
            current.cdrom = record.cdrom;
            Ok(())
        })
    }

    async fn snapshot_list(&self, id: MachineId) -> Result<Vec<BridgeSnapshot>, BridgeError> {
        self.record(id)?;
        let (meta, sizes) = self.snapshot_state(id).await?;
        Ok(meta.view(&sizes))
    }

    async fn snapshot_create(
        &self,
        id: MachineId,
        req: BridgeSnapshotCreate,
    ) -> Result<BridgeSnapshot, BridgeError> {
        corral_api::validate::snapshot_name(&req.name)?;
        let _snap = self.snap_guard(id)?;
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let (mut meta, _) = self.snapshot_state(id).await?;
        if meta.get(&req.name).is_some() {
            return Err(BridgeError::Conflict(format!(
                "machine {id} has a snapshot named {} already",
                req.name
            )));
        }
        let disk = self.paths(id).disk();
        match (self.qmp(id), req.ram) {
            (Some(qmp), true) => snapshots::hmp(&qmp, &format!("savevm {}", req.name)).await?,
            (Some(qmp), false) => snapshots::disk_only_running(&qmp, "disk0", &req.name).await?,
            (None, true) => {
                return Err(BridgeError::Validation {
                    field: "ram",
                    message: "RAM state can only be saved from a running machine".into(),
                });
            }
            (None, false) => {
                snapshots::offline(&*self.exec, &self.config.qemu_img, "-c", &req.name, &disk).await?
            }
        }
        meta.add(&req.name, req.ram, now_rfc3339());
        meta.save(&self.snapshot_meta_path(id))?;
        let (meta, sizes) = self.snapshot_state(id).await?;
        meta.view(&sizes)
            .into_iter()
            .find(|s| s.name == req.name)
            .ok_or_else(|| BridgeError::Host(format!("snapshot {} vanished after it was taken", req.name)))
    }

    async fn snapshot_rollback(&self, id: MachineId, name: &str) -> Result<BridgeMachine, BridgeError> {
        let _snap = self.snap_guard(id)?;
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let (mut meta, _) = self.snapshot_state(id).await?;
        let entry = meta.get(name).cloned().ok_or_else(|| BridgeError::SnapshotNotFound(name.to_string()))?;
        match self.qmp(id) {
            Some(qmp) if entry.ram => snapshots::hmp(&qmp, &format!("loadvm {name}")).await?,
            Some(_) => {
                return Err(BridgeError::Conflict(format!(
                    "snapshot {name} holds no RAM state: stop the machine to roll its disk back"
                )));
            }
            None => {
                let disk = self.paths(id).disk();
                snapshots::offline(&*self.exec, &self.config.qemu_img, "-a", name, &disk).await?;
            }
        }
        meta.current = Some(name.to_string());
        meta.save(&self.snapshot_meta_path(id))?;
        self.record(id)
    }

    async fn snapshot_delete(&self, id: MachineId, name: &str) -> Result<(), BridgeError> {
        let _snap = self.snap_guard(id)?;
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let (mut meta, _) = self.snapshot_state(id).await?;
        if meta.get(name).is_none() {
            return Err(BridgeError::SnapshotNotFound(name.to_string()));
        }
        match self.qmp(id) {
            Some(qmp) => snapshots::hmp(&qmp, &format!("delvm {name}")).await?,
            None => {
                let disk = self.paths(id).disk();
                snapshots::offline(&*self.exec, &self.config.qemu_img, "-d", name, &disk).await?;
            }
        }
        meta.remove(name);
        meta.save(&self.snapshot_meta_path(id))?;
        Ok(())
    }

    async fn snapshot_clone(
        &self,
        id: MachineId,
        name: &str,
        req: BridgeSnapshotClone,
    ) -> Result<BridgeMachine, BridgeError> {
        corral_api::validate::machine_name(&req.name)?;
        let _snap = self.snap_guard(id)?;
        let source = self.record(id)?;
        let (meta, _) = self.snapshot_state(id).await?;
        if meta.get(name).is_none() {
            return Err(BridgeError::SnapshotNotFound(name.to_string()));
        }
        if self.record(req.id).is_ok() {
            return Err(BridgeError::Conflict(format!("machine {} exists already", req.id)));
        }
        let admission = self.admission.clone().lock_owned().await;
        self.memory_room(source.memory_mib)?;
        let record = BridgeMachine {
            id: req.id,
            name: req.name,
            // A host port belongs to one guest: the clone gets none of the source's.
            port_forwards: Vec::new(),
            state: MachineState::Creating,
            created_at: now_rfc3339(),
            ..source.clone()
        };
        let record = self.register_creating(record)?;
        drop(admission);

        // The clone's disk: the snapshot's contents, as an overlay of the same image when
        // there is one (only what differs from the image is copied).
        let target = self.paths(record.id).disk();
        let mut args: Vec<String> =
            vec!["convert".into(), "-U".into(), "-f".into(), "qcow2".into(), "-O".into(), "qcow2".into()];
        args.extend(["-l".into(), format!("snapshot.name={name}")]);
        if let Some(image) = &source.image {
            let info = self.images.get(image)?;
            // Only a disk image backs the clone; an installer ISO never did.
            if info.format != "iso" {
                args.extend([
                    "-B".into(),
                    self.images.path(image)?.display().to_string(),
                    "-F".into(),
                    info.format,
                ]);
            }
        }
        args.extend([self.paths(id).disk().display().to_string(), target.display().to_string()]);
        self.make_disk(record.id, args, &format!("copying snapshot {name}")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{CmdOutput, FakeExec};

    async fn driver(dir: &std::path::Path, exec: Arc<FakeExec>) -> QemuDriver {
        let store = MachineStore::open(dir).unwrap();
        let images = ImageStore::open(dir, exec.clone(), "qemu-img").unwrap();
        let config = QemuConfig {
            accel: Accel { name: "tcg", reason: "test".into() },
            qemu_binary: "qemu-system-x86_64".into(),
            qemu_img: "qemu-img".into(),
            stop_timeout: Duration::from_secs(1),
            host: HostFacts { hostname: "h".into(), cpus: 2, memory_mib: 1024, disk_gib: 10 },
            ip_binary: "ip".into(),
        };
        QemuDriver::open(config, store, images, exec, broadcast::channel(1024).0).await.unwrap()
    }

    fn req() -> BridgeMachineCreate {
        BridgeMachineCreate {
            id: MachineId::new_random(),
            name: "a".into(),
            kind: Default::default(),
            vcpus: 1,
            memory_mib: 128,
            disk_gib: 1,
            image: None,
            port_forwards: vec![],
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
        }
    }

    fn commands_of(exec: &FakeExec, program: &str) -> Vec<String> {
        exec.commands().into_iter().filter(|c| c[0] == program).map(|c| c[1..].join(" ")).collect()
    }

    #[tokio::test]
    async fn a_nic_on_a_host_bridge_gets_a_tap_that_goes_when_qemu_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let exec = Arc::new(FakeExec::default());
        let d = driver(tmp.path(), exec.clone()).await;
        let r = BridgeMachineCreate { host_bridge: Some("br0".into()), ..req() };
        d.machine_create(r.clone()).await.unwrap();
        exec.answer("qemu-system-x86_64", CmdOutput::failed("qemu-system-x86_64: could not open tap"));
        assert!(d.machine_power(r.id, PowerAction::Start).await.is_err());
        let tap = net::tap_name(r.id);
        assert_eq!(
            commands_of(&exec, "ip"),
            [
                format!("link del dev {tap}"),
                format!("tuntap add dev {tap} mode tap"),
                format!("link set dev {tap} master br0 up"),
                format!("link del dev {tap}"),
            ]
        );
        let qemu = commands_of(&exec, "qemu-system-x86_64").join(" ");
        assert!(qemu.contains(&format!("-netdev tap,id=net0,ifname={tap},script=no")), "{qemu}");
        assert_eq!(d.machine_get(r.id).await.unwrap().state, MachineState::Stopped);
    }

    #[tokio::test]
    async fn a_late_state_change_cannot_bring_a_deleted_machine_back() {
        let tmp = tempfile::tempdir().unwrap();
        let d = driver(tmp.path(), Arc::new(FakeExec::default())).await;
        let r = req();
        d.machine_create(r.clone()).await.unwrap();
        // What `machine_delete` does before its files go, then what QEMU's monitor would do
        // had it seen the exit just before the delete began.
        d.set_state(r.id, MachineState::Deleting).unwrap();
        d.store.remove(r.id).unwrap();
        let late = d.set_state(r.id, MachineState::Stopped);
        assert!(matches!(late, Err(BridgeError::Conflict(_))), "{late:?}");
        assert!(!d.store.machine_dir(r.id).exists(), "the late write made the directory again");
        assert_eq!(d.machine_get(r.id).await.unwrap().state, MachineState::Deleting);
    }

    #[tokio::test]
    async fn a_missing_host_bridge_is_said_and_qemu_never_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let exec = Arc::new(FakeExec::default());
        let d = driver(tmp.path(), exec.clone()).await;
        let r = BridgeMachineCreate { host_bridge: Some("br9".into()), ..req() };
        d.machine_create(r.clone()).await.unwrap();
        exec.answer("ip", CmdOutput::ok(""));
        exec.answer("ip", CmdOutput::ok(""));
        exec.answer("ip", CmdOutput::failed("Cannot find device \"br9\""));
        match d.machine_power(r.id, PowerAction::Start).await {
            Err(BridgeError::Host(why)) => {
                assert!(why.contains("host bridge br9") && why.contains("Cannot find device"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert!(commands_of(&exec, "qemu-system-x86_64").is_empty());
        assert_eq!(
            commands_of(&exec, "ip").last().unwrap(),
            &format!("link del dev {}", net::tap_name(r.id))
        );
        assert_eq!(d.machine_get(r.id).await.unwrap().state, MachineState::Stopped);
    }

    #[tokio::test]
    async fn only_isos_go_in_the_cd_drive_and_a_stopped_eject_is_a_spec_change() {
        let tmp = tempfile::tempdir().unwrap();
        let exec = Arc::new(FakeExec::default());
        let d = driver(tmp.path(), exec.clone()).await;
        let missing = BridgeMachineCreate { cdrom: Some("nope.iso".into()), ..req() };
        assert!(matches!(
            d.machine_create(missing).await,
            Err(BridgeError::Validation { field: "cdrom", .. })
        ));
        let r = req();
        d.machine_create(r.clone()).await.unwrap();
        let insert = BridgeMachineUpdate { cdrom: Some(Some("nope.iso".into())), ..Default::default() };
        assert!(matches!(d.machine_update(r.id, insert).await, Err(BridgeError::Validation { .. })));
        let order = BridgeMachineUpdate {
            boot_order: Some(vec![corral_api::bridge::BootDevice::Disk]),
            cdrom: Some(None),
            ..Default::default()
        };
        let m = d.machine_update(r.id, order).await.unwrap();
        assert_eq!(m.boot_order, vec![corral_api::bridge::BootDevice::Disk]);
        assert_eq!(m.cdrom, None);
    }

    /// A VM's CPUs, memory and forwards are on QEMU's command line: they change while it is
    /// stopped, within the node's memory, on ports no other guest has; a refusal changes
    /// nothing, not even a disk growth asked with it.
    #[tokio::test]
    async fn hardware_changes_while_stopped_within_the_node() {
        let tmp = tempfile::tempdir().unwrap();
        let exec = Arc::new(FakeExec::default());
        let d = driver(tmp.path(), exec.clone()).await;
        let (a, b) = (req(), req());
        d.machine_create(a.clone()).await.unwrap();
        d.machine_create(b.clone()).await.unwrap();
        let ssh = corral_api::spec::PortForward { protocol: "tcp".into(), host_port: 2222, guest_port: 22 };
        let change = BridgeMachineUpdate {
            vcpus: Some(2),
            memory_mib: Some(512),
            port_forwards: Some(vec![ssh.clone()]),
            ..Default::default()
        };
        let m = d.machine_update(a.id, change).await.unwrap();
        assert_eq!((m.vcpus, m.memory_mib, m.port_forwards.clone()), (2, 512, vec![ssh.clone()]));
        let spec = d.store.load_all().unwrap().into_iter().find(|r| r.id == a.id).unwrap();
        assert_eq!((spec.vcpus, spec.memory_mib), (2, 512), "the spec on disk has it too");

        let taken = BridgeMachineUpdate { port_forwards: Some(vec![ssh]), ..Default::default() };
        assert!(matches!(d.machine_update(b.id, taken).await, Err(BridgeError::Conflict(_))));
        // 512 + 128 of 1024 MiB are allocated: 385 more do not fit.
        let before = exec.commands().len();
        let big =
            BridgeMachineUpdate { memory_mib: Some(128 + 385), disk_gib: Some(2), ..Default::default() };
        match d.machine_update(b.id, big).await {
            Err(BridgeError::InsufficientCapacity(why)) => assert!(why.contains("384 of 1024"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(exec.commands().len(), before, "the disk was not grown");
        assert_eq!(d.machine_get(b.id).await.unwrap().disk_gib, 1);

        d.set_state(b.id, MachineState::Running).unwrap();
        let more = BridgeMachineUpdate { vcpus: Some(2), ..Default::default() };
        match d.machine_update(b.id, more).await {
            Err(BridgeError::Conflict(why)) => assert!(why.contains("stop it"), "{why}"),
            other => panic!("{other:?}"),
        }
        let same = BridgeMachineUpdate { vcpus: Some(1), name: Some("renamed".into()), ..Default::default() };
        assert_eq!(
            d.machine_update(b.id, same).await.unwrap().name,
            "renamed",
            "asking for what it has is fine"
        );
    }

    #[tokio::test]
    async fn create_makes_a_disk_and_a_failed_disk_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let exec = Arc::new(FakeExec::default());
        let d = driver(tmp.path(), exec.clone()).await;
        let ok = req();
        let (m, _) = d.machine_create(ok.clone()).await.unwrap();
        assert_eq!(m.state, MachineState::Stopped);
        let cmd = exec.commands().pop().unwrap().join(" ");
        assert!(cmd.starts_with("qemu-img create -q -f qcow2 ") && cmd.ends_with("/disk.qcow2 1G"), "{cmd}");

        exec.answer("qemu-img", CmdOutput::failed("qemu-img: No space left on device"));
        let bad = req();
        match d.machine_create(bad.clone()).await {
            Err(BridgeError::Host(why)) => assert!(why.contains("No space left"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(d.machine_get(bad.id).await.is_err());
        assert!(!d.store.machine_dir(bad.id).exists(), "no directory left behind");
        assert_eq!(d.machine_list().await.len(), 1);
    }

    #[tokio::test]
    async fn a_qemu_that_exits_at_start_reports_its_stderr_and_stays_stopped() {
        let tmp = tempfile::tempdir().unwrap();
        let exec = Arc::new(FakeExec::default());
        let d = driver(tmp.path(), exec.clone()).await;
        let r = req();
        d.machine_create(r.clone()).await.unwrap();
        exec.answer(
            "qemu-system-x86_64",
            CmdOutput::failed(
                "warning: x\nqemu-system-x86_64: cannot set up guest memory 'pc.ram': Cannot allocate memory",
            ),
        );
        match d.machine_power(r.id, PowerAction::Start).await {
            Err(BridgeError::Host(why)) => assert!(why.contains("Cannot allocate memory"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.machine_get(r.id).await.unwrap().state, MachineState::Stopped);
        assert!(!d.paths(r.id).pidfile().exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creates_never_overcommit_memory() {
        let tmp = tempfile::tempdir().unwrap();
        let d = driver(tmp.path(), Arc::new(FakeExec::default())).await;
        // The node has 1024 MiB: of four creates of 512 MiB at once, exactly two fit.
        let creates = (0..4).map(|i| {
            let d = d.clone();
            let r = BridgeMachineCreate { memory_mib: 512, name: format!("m{i}"), ..req() };
            tokio::spawn(async move { d.machine_create(r).await })
        });
        let results = futures::future::join_all(creates).await;
        let made = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
        let refused =
            results.iter().filter(|r| matches!(r, Ok(Err(BridgeError::InsufficientCapacity(_))))).count();
        assert_eq!((made, refused), (2, 2));
    }

    #[tokio::test]
    async fn memory_beyond_the_node_is_refused_with_numbers() {
        let tmp = tempfile::tempdir().unwrap();
        let d = driver(tmp.path(), Arc::new(FakeExec::default())).await;
        let big = BridgeMachineCreate { memory_mib: 2048, ..req() };
        match d.machine_create(big).await {
            Err(BridgeError::InsufficientCapacity(why)) => assert!(why.contains("1024 of 1024"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_restart_undoes_a_half_made_create() {
        let tmp = tempfile::tempdir().unwrap();
        let store = MachineStore::open(tmp.path()).unwrap();
        let half = BridgeMachine {
            id: MachineId::new_random(),
            name: "half".into(),
            kind: Default::default(),
            vcpus: 1,
            memory_mib: 128,
            disk_gib: 1,
            image: None,
            port_forwards: vec![],
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
            zone: None,
            state: MachineState::Creating,
            created_at: now_rfc3339(),
        };
        store.save(&half).unwrap();
        let d = driver(tmp.path(), Arc::new(FakeExec::default())).await;
        assert!(d.machine_list().await.is_empty());
        assert!(!store.machine_dir(half.id).exists());
    }
}
