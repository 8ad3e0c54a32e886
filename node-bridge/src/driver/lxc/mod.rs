//! The lxc driver: zones as privileged LXC containers, driven through the `lxc-*` tools with
//! a config the bridge writes itself (facts: `research/zones.md`).
//!
//! Each zone lives in `<data>/zones/<id>/`, which is also its LXC container directory
//! (`lxc-* -P <data>/zones -n <id>`): `spec.json` (the record), `config`, `rootfs/` (the
//! whole root filesystem; on overlayfs only the zone's changes, over the image in `base/`,
//! see `storage.rs`) and `console.log`. A zone runs under LXC's own monitor process, so it
//! outlives the bridge; a restarted bridge asks `lxc-ls` what runs and takes the zones back.
//! State is polled from `lxc-ls` too (a zone whose init halts by itself is seen stopped at
//! the next poll), except around the driver's own operations, which record the state they
//! leave.
//!
//! Only exit codes are trusted: some `lxc-*` tools print `ERROR` and succeed. A create that
//! fails leaves no directory; a stop sweeps the cgroups an OOM kill can leave behind. Never
//! run this under `ip netns exec`: LXC would then silently start zones with no cgroup limits.
//!
//! This file holds the driver's state and the `Driver` contract; the work is in
//! `lifecycle.rs` (power and the poll), `hardware.rs` (making a zone and changing it) and
//! `snapshots.rs`.

pub mod cgroups;
pub mod config;
pub mod console;
pub mod forwards;
mod guest;
mod hardware;
mod lifecycle;
pub mod snapshots;
pub mod storage;
mod usage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use corral_api::MachineId;
use corral_api::bridge::{
    BridgeEvent, BridgeMachine, BridgeMachineCreate, BridgeMachineUpdate, BridgeSnapshot,
    BridgeSnapshotClone, BridgeSnapshotCreate, HostFacts,
};
use corral_api::machine::MachineState;
use corral_api::spec::{MachineKind, ZoneStorage};
use tokio::sync::broadcast;

use super::{Created, Driver, PowerAction};
use crate::error::BridgeError;
use crate::host::{CmdOutput, HostExec};
use crate::images::ImageStore;
use crate::store::MachineStore;
use lifecycle::LxcState;

#[derive(Clone, Debug)]
pub struct LxcConfig {
    pub host: HostFacts,
    /// How long a zone's init may take to halt before it is killed.
    pub stop_timeout: Duration,
    /// How often LXC is asked what runs; `None` leaves it to `watch_once` (tests).
    pub watch_every: Option<Duration>,
    /// The distribution's LXC defaults, included in every zone's config when present.
    pub common_conf: Option<PathBuf>,
    /// Processes one zone may run at once.
    pub pids_max: u32,
    /// Where the cgroup v1 controllers are mounted (`/sys/fs/cgroup`), for the sweep.
    pub cgroup_root: PathBuf,
    /// Follow running zones' consoles (`lxc-console` on a terminal, the log tailed); off in
    /// tests on fake commands, where there is no zone to attach to.
    pub follow_consoles: bool,
    /// The network namespace the host bridges are in, when it is not the bridge's own.
    pub bridge_netns: Option<String>,
    /// The iproute2 binary the `up` hook of a zone in `bridge_netns` runs.
    pub ip_binary: String,
    /// The storage zones must use; the fastest the node can when `None`.
    pub storage: Option<ZoneStorage>,
}

struct Zone {
    record: BridgeMachine,
    /// Followed while the zone runs.
    console: Option<console::ZoneConsole>,
    /// Its port forwards' listeners, while it runs.
    forwards: Option<forwards::Forwards>,
    /// Serializes operations on this zone; the poller leaves a zone alone while it is held.
    op: Arc<tokio::sync::Mutex<()>>,
}

impl Zone {
    /// A zone as loaded or just registered: not followed, no forwards open.
    fn new(record: BridgeMachine) -> Zone {
        Zone { record, console: None, forwards: None, op: Arc::default() }
    }
}

#[derive(Clone)]
pub struct LxcDriver {
    config: LxcConfig,
    /// `<data>/zones`: the LXC path holding every zone's directory.
    store: MachineStore,
    images: ImageStore,
    exec: Arc<dyn HostExec>,
    zones: Arc<Mutex<HashMap<MachineId, Zone>>>,
    events: broadcast::Sender<BridgeEvent>,
    /// Held from a new zone's checks until it is registered.
    admission: Arc<tokio::sync::Mutex<()>>,
    /// Btrfs subvolumes, overlayfs layers or directories, decided at start.
    storage: Arc<storage::Storage>,
}

impl LxcDriver {
    /// Loads every zone, finishes or undoes what a crash interrupted, and takes back those
    /// LXC still runs.
    pub async fn open(
        config: LxcConfig,
        store: MachineStore,
        images: ImageStore,
        exec: Arc<dyn HostExec>,
        events: broadcast::Sender<BridgeEvent>,
    ) -> std::io::Result<Self> {
        let storage = storage::Storage::detect(&*exec, store.root(), config.storage)
            .await
            .map_err(|e| std::io::Error::other(format!("zone storage: {e}")))?;
        let storage = Arc::new(storage);
        let driver = LxcDriver {
            config,
            store,
            images,
            exec,
            zones: Arc::default(),
            events,
            admission: Arc::default(),
            storage,
        };
        let states = driver.lxc_states().await.unwrap_or_default();
        for mut record in driver.store.load_all()? {
            let id = record.id;
            let lxc = states.get(&id).copied().unwrap_or(LxcState::Stopped);
            if matches!(record.state, MachineState::Creating | MachineState::Deleting) {
                tracing::warn!(zone = %id, state = %record.state, "removing a half-made or half-deleted zone");
                if lxc != LxcState::Stopped {
                    let _ = driver.lxc("lxc-stop", id, &["-k"]).await;
                }
                driver.destroy(id).await;
                continue;
            }
            snapshots::finish_swap(&driver.dir(id)).await;
            let was = record.state;
            record.state = match lxc {
                LxcState::Running | LxcState::Moving => MachineState::Running,
                LxcState::Frozen => MachineState::Paused,
                LxcState::Stopped => MachineState::Stopped,
            };
            if record.state == MachineState::Stopped {
                if matches!(was, MachineState::Running | MachineState::Starting | MachineState::Rebooting) {
                    tracing::warn!(zone = %id, "it stopped while the bridge was away");
                }
                cgroups::sweep(&driver.config.cgroup_root, id);
            } else {
                tracing::info!(zone = %id, "re-adopted a running zone");
            }
            driver.store.save(&record)?;
            let running = record.state != MachineState::Stopped;
            driver.lock().insert(id, Zone::new(record));
            if running {
                driver.follow(id);
                let record = driver.record(id).map_err(std::io::Error::other)?;
                match driver.open_forwards(&record).await {
                    Ok(f) => {
                        if let Some(zone) = driver.lock().get_mut(&id) {
                            zone.forwards = f;
                        }
                    }
                    Err(e) => tracing::error!(zone = %id, error = %e, "its port forwards are not served"),
                }
            }
        }
        if let Some(every) = driver.config.watch_every {
            let watcher = driver.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    watcher.watch_once().await;
                }
            });
        }
        Ok(driver)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<MachineId, Zone>> {
        self.zones.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The LXC path: the directory holding every zone's directory.
    fn lxc_path(&self) -> String {
        self.store.root().display().to_string()
    }

    fn dir(&self, id: MachineId) -> PathBuf {
        self.store.machine_dir(id)
    }

    fn record(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        self.lock().get(&id).map(|z| z.record.clone()).ok_or(BridgeError::MachineNotFound(id))
    }

    fn op_lock(&self, id: MachineId) -> Result<Arc<tokio::sync::Mutex<()>>, BridgeError> {
        self.lock().get(&id).map(|z| z.op.clone()).ok_or(BridgeError::MachineNotFound(id))
    }

    /// Changes a zone's record, persists it (under the lock, so the file holds the last
    /// change) and announces it. `deleting` is final.
    fn commit(
        &self,
        id: MachineId,
        change: impl FnOnce(&mut BridgeMachine),
    ) -> Result<BridgeMachine, BridgeError> {
        let record = {
            let mut zones = self.lock();
            let zone = zones.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?;
            let mut record = zone.record.clone();
            change(&mut record);
            if record == zone.record {
                return Ok(record);
            }
            if zone.record.state == MachineState::Deleting {
                return Err(BridgeError::Conflict(format!("zone {id} is being deleted")));
            }
            self.store.save(&record)?;
            zone.record = record.clone();
            record
        };
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: record.clone() });
        Ok(record)
    }

    /// Sets the state; a zone that stops is no longer followed on its console.
    fn set_state(&self, id: MachineId, state: MachineState) -> Result<BridgeMachine, BridgeError> {
        if state == MachineState::Stopped
            && let Some(zone) = self.lock().get_mut(&id)
        {
            zone.console = None;
            zone.forwards = None;
        }
        self.commit(id, |r| r.state = state)
    }

    /// Starts following a running zone's console (once).
    fn follow(&self, id: MachineId) {
        if !self.config.follow_consoles {
            return;
        }
        let log = self.dir(id).join("console.log");
        if let Some(zone) = self.lock().get_mut(&id)
            && zone.console.is_none()
        {
            zone.console = Some(console::ZoneConsole::open(self.lxc_path(), id, log));
        }
    }

    /// Runs `tool -P <path> -n <id> args…`.
    async fn lxc(&self, tool: &str, id: MachineId, args: &[&str]) -> Result<CmdOutput, BridgeError> {
        let mut all = vec!["-P".to_string(), self.lxc_path(), "-n".into(), id.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        self.exec.run(tool, &all).await.map_err(|e| BridgeError::Host(format!("cannot run {tool}: {e}")))
    }

    /// Runs an `lxc-*` tool that must succeed; its stderr says why when it does not.
    async fn lxc_ok(&self, tool: &str, id: MachineId, args: &[&str], what: &str) -> Result<(), BridgeError> {
        let out = self.lxc(tool, id, args).await?;
        if out.success {
            Ok(())
        } else {
            Err(BridgeError::Host(format!("{what} failed: {}", out.stderr_tail())))
        }
    }

    /// Freezes a running zone (`what` says why, for the error). `lxc-freeze` now and then
    /// fails on a busy host ("Failed to serve state clients", the freezer not settling),
    /// and may leave the cgroup frozen all the same: each failure is thawed, and the freeze
    /// tried again after a pause, [`FREEZE_TRIES`] times in all. A zone that cannot be frozen
    /// is left running, and the last failure said.
    async fn freeze(&self, id: MachineId, what: &str) -> Result<(), BridgeError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let failed = match self.lxc_ok("lxc-freeze", id, &[], what).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if let Err(e) = self.lxc_ok("lxc-unfreeze", id, &[], "thawing the zone").await {
                tracing::warn!(zone = %id, error = %e, "thawing after a failed freeze");
            }
            if tries == FREEZE_TRIES {
                return Err(failed);
            }
            tracing::warn!(zone = %id, error = %failed, tries, "freezing the zone failed; trying again");
            tokio::time::sleep(Duration::from_millis(100 * tries)).await;
        }
    }
}

/// How often [`LxcDriver::freeze`] tries.
const FREEZE_TRIES: u64 = 3;

#[async_trait]
impl Driver for LxcDriver {
    fn name(&self) -> &'static str {
        "lxc"
    }

    fn kinds(&self) -> Vec<MachineKind> {
        vec![MachineKind::Zone]
    }

    fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> =
            ["machines", "images", "zones", "serial", "shell", "snapshots", "force-stop", "pause"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        // Said so that admins see whether zones' disk sizes hold on this node.
        caps.push(format!("zone-storage-{}", self.storage.kind().as_str()));
        caps
    }

    fn host_facts(&self) -> HostFacts {
        self.config.host.clone()
    }

    fn knows(&self, id: MachineId) -> bool {
        self.lock().contains_key(&id)
    }

    /// A login shell of the zone's root (its shell from its own `/etc/passwd`), through
    /// `lxc-attach` on a terminal of the viewer's size, with a clean environment.
    fn shell(
        &self,
        id: MachineId,
        size: corral_api::console::TermSize,
    ) -> Result<(tokio::process::Child, crate::pty::Pty), BridgeError> {
        let record = self.record(id)?;
        if record.state != MachineState::Running {
            return Err(BridgeError::Conflict(format!(
                "zone {id} is {}: a shell needs it running",
                record.state
            )));
        }
        let args: Vec<String> = [
            "-P",
            &self.lxc_path(),
            "-n",
            &id.to_string(),
            "--clear-env",
            "-v",
            "TERM=xterm-256color",
            "-v",
            "HOME=/root",
            "-v",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        crate::pty::Pty::spawn("lxc-attach", &args, size)
            .map_err(|e| BridgeError::Host(format!("cannot run lxc-attach: {e}")))
    }

    /// The zone's console, while it runs.
    fn serial(&self, id: MachineId) -> Result<Arc<crate::serial::SerialHub>, BridgeError> {
        let zones = self.lock();
        let zone = zones.get(&id).ok_or(BridgeError::MachineNotFound(id))?;
        zone.console.as_ref().map(|c| c.hub.clone()).ok_or_else(|| {
            BridgeError::Conflict(format!(
                "zone {id} is {}: its console is there while it runs",
                zone.record.state
            ))
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<BridgeEvent> {
        self.events.subscribe()
    }

    async fn machine_usage(&self) -> Vec<(MachineId, Vec<corral_api::metrics::MetricPoint>)> {
        let running: Vec<(MachineId, Option<String>)> = self
            .lock()
            .values()
            .filter(|z| z.record.state == MachineState::Running)
            .map(|z| (z.record.id, z.record.host_bridge.as_ref().map(|_| config::veth_name(z.record.id))))
            .collect();
        let root = self.config.cgroup_root.clone();
        let read = move || {
            running
                .into_iter()
                .filter_map(|(id, veth)| {
                    let points =
                        usage::zone_usage(&root, Path::new("/proc"), Path::new("/sys"), id, veth.as_deref())?;
                    Some((id, points))
                })
                .collect()
        };
        tokio::task::spawn_blocking(read).await.unwrap_or_default()
    }

    async fn machine_list(&self) -> Vec<BridgeMachine> {
        super::in_listing_order(self.lock().values().map(|z| z.record.clone()).collect())
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

    async fn machine_update(
        &self,
        id: MachineId,
        req: BridgeMachineUpdate,
    ) -> Result<BridgeMachine, BridgeError> {
        self.update(id, req).await
    }
}

#[cfg(test)]
mod tests;
