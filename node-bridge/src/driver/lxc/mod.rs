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

pub mod cgroups;
pub mod config;
pub mod console;
pub mod forwards;
mod guest;
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
use corral_api::spec::{MachineKind, ZoneFacts, ZoneStorage};
use tokio::sync::broadcast;

use super::snapshot_tree::SnapshotMeta;
use super::{Created, Driver, PowerAction};
use crate::error::BridgeError;
use crate::host::{CmdOutput, HostExec};
use crate::images::ImageStore;
use crate::store::MachineStore;
use crate::time_fmt::now_rfc3339;

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

/// What LXC says a container is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LxcState {
    Running,
    Frozen,
    Stopped,
    /// Starting, stopping, freezing, …: in between; the poller waits for a resting state.
    Moving,
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

    /// What LXC says each zone is doing, from one `lxc-ls`.
    async fn lxc_states(&self) -> Result<HashMap<MachineId, LxcState>, BridgeError> {
        let args: Vec<String> = vec![
            "-P".into(),
            self.lxc_path(),
            "--fancy".into(),
            "--fancy-format".into(),
            "NAME,STATE".into(),
        ];
        let out = self.exec.run("lxc-ls", &args).await?;
        if !out.success {
            return Err(BridgeError::Host(format!("lxc-ls failed: {}", out.stderr_tail())));
        }
        Ok(parse_lxc_ls(&out.stdout))
    }

    /// One poll: zones whose LXC state moved behind the driver's back (an init that halted
    /// itself, a zone started or frozen by hand) are recorded as LXC says. Zones with an
    /// operation under way are left to it.
    pub async fn watch_once(&self) {
        let states = match self.lxc_states().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "asking LXC what runs");
                return;
            }
        };
        let idle: Vec<(MachineId, MachineState, Arc<tokio::sync::Mutex<()>>)> =
            self.lock().iter().map(|(id, z)| (*id, z.record.state, z.op.clone())).collect();
        for (id, recorded, op) in idle {
            let Ok(_guard) = op.try_lock() else { continue };
            let now = match states.get(&id).copied().unwrap_or(LxcState::Stopped) {
                LxcState::Moving => continue,
                LxcState::Running => MachineState::Running,
                LxcState::Frozen => MachineState::Paused,
                LxcState::Stopped => MachineState::Stopped,
            };
            let resting =
                matches!(recorded, MachineState::Running | MachineState::Paused | MachineState::Stopped);
            if now != recorded && resting {
                if now == MachineState::Stopped {
                    tracing::info!(zone = %id, "the zone stopped by itself");
                    cgroups::sweep(&self.config.cgroup_root, id);
                }
                let _ = self.set_state(id, now);
                if now != MachineState::Stopped {
                    self.follow(id);
                }
            }
        }
    }

    /// Whether the kernel accounts memory with swap (`memory.memsw.*`), so zones are limited
    /// in both.
    fn swap_accounting(&self) -> bool {
        self.config.cgroup_root.join("memory/memory.memsw.limit_in_bytes").exists()
    }

    /// Host ports of `forwards` that another zone of this node forwards already, running or
    /// not: two would fight over it at start.
    fn forwards_free(
        &self,
        forwards: &[corral_api::spec::PortForward],
        except: MachineId,
    ) -> Result<(), BridgeError> {
        if forwards.iter().any(|f| f.protocol != "tcp") {
            return Err(BridgeError::Validation {
                field: "port_forwards",
                message: "a zone's forwards are TCP".into(),
            });
        }
        let taken: Vec<u16> = self
            .lock()
            .values()
            .filter(|z| z.record.id != except)
            .flat_map(|z| z.record.port_forwards.iter().map(|f| f.host_port))
            .collect();
        match forwards.iter().find(|f| taken.contains(&f.host_port)) {
            Some(f) => Err(BridgeError::Conflict(format!(
                "port {} of the node is forwarded to another machine",
                f.host_port
            ))),
            None => Ok(()),
        }
    }

    /// Writes the zone's config from its record, as it must be for the next start.
    fn write_config(&self, record: &BridgeMachine) -> Result<(), BridgeError> {
        let dir = self.dir(record.id);
        let init = record.zone.as_ref().map(|z| z.init).unwrap_or_default();
        let guest = guest::kept(&dir);
        let setup = config::ZoneSetup {
            dir: &dir,
            hostname: guest.as_ref().map(|g| g.hostname.as_str()),
            init,
            layered: record.zone.as_ref().is_some_and(|z| z.storage == ZoneStorage::Overlay),
            pids_max: self.config.pids_max,
            common_conf: self.config.common_conf.as_deref(),
            bridge_netns: self.config.bridge_netns.as_deref(),
            swap_accounting: self.swap_accounting(),
        };
        if let (Some(bridge), Some(netns)) = (&record.host_bridge, &self.config.bridge_netns) {
            use std::os::unix::fs::PermissionsExt;
            let hook =
                config::net_up_hook(&self.config.ip_binary, &config::veth_name(record.id), bridge, netns);
            let tmp = dir.join("net-up.tmp");
            std::fs::write(&tmp, hook)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))?;
            std::fs::rename(&tmp, dir.join(config::NET_UP_HOOK))?;
        }
        let text = config::render(record, &setup);
        let tmp = dir.join("config.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join("config"))?;
        Ok(())
    }

    /// Binds the zone's port forwards (a port in use refuses the start before anything runs).
    async fn open_forwards(&self, record: &BridgeMachine) -> Result<Option<forwards::Forwards>, BridgeError> {
        if record.port_forwards.is_empty() {
            return Ok(None);
        }
        let f =
            forwards::Forwards::open(&record.port_forwards, self.exec.clone(), self.lxc_path(), record.id)
                .await?;
        Ok(Some(f))
    }

    async fn start(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        let forwards = self.open_forwards(&self.record(id)?).await?;
        let record = self.set_state(id, MachineState::Starting)?;
        let started = async {
            self.write_config(&record)?;
            let dir = self.dir(id);
            let layered = record.zone.as_ref().is_some_and(|z| z.storage == ZoneStorage::Overlay);
            let lower = dir.join("base");
            guest::seed_before_start(&dir, &dir.join("rootfs"), layered.then_some(lower.as_path()));
            // A disk size changed since the last start takes effect now.
            self.storage.limit(&*self.exec, &self.dir(id).join("rootfs"), record.disk_gib).await?;
            let secs = self.config.stop_timeout.as_secs().max(1).to_string();
            self.lxc_ok("lxc-start", id, &[], "starting the zone").await?;
            self.lxc_ok("lxc-wait", id, &["-s", "RUNNING", "-t", &secs], "waiting for the zone to run").await
        };
        if let Err(e) = started.await {
            // Whatever half-started is taken down again.
            let _ = self.lxc("lxc-stop", id, &["-k"]).await;
            cgroups::sweep(&self.config.cgroup_root, id);
            self.set_state(id, MachineState::Stopped)?;
            return Err(e);
        }
        self.follow(id);
        if let Some(zone) = self.lock().get_mut(&id) {
            zone.forwards = forwards;
        }
        self.set_state(id, MachineState::Running)
    }

    /// Kills the zone at once and clears up after it.
    async fn kill(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        self.lxc_ok("lxc-stop", id, &["-k"], "stopping the zone").await?;
        cgroups::sweep(&self.config.cgroup_root, id);
        self.set_state(id, MachineState::Stopped)
    }

    /// Asks the zone's init to halt; LXC kills it if it has not after the timeout. Runs on
    /// in the background: the answer is `stopping`. Other operations may run meanwhile (a
    /// force-stop does not wait for the clean one), so the end is recorded only if the zone
    /// is still `stopping` by then.
    fn stop_gently(
        &self,
        id: MachineId,
        op: Arc<tokio::sync::Mutex<()>>,
    ) -> Result<BridgeMachine, BridgeError> {
        let record = self.set_state(id, MachineState::Stopping)?;
        let this = self.clone();
        tokio::spawn(async move {
            let secs = this.config.stop_timeout.as_secs().max(1).to_string();
            let stopped = this.lxc_ok("lxc-stop", id, &["-t", &secs], "stopping the zone").await;
            let _guard = op.lock().await;
            if !this.record(id).is_ok_and(|r| r.state == MachineState::Stopping) {
                return;
            }
            if let Err(e) = stopped {
                tracing::warn!(zone = %id, error = %e, "a clean stop failed; killing");
                if let Err(e) = this.lxc_ok("lxc-stop", id, &["-k"], "killing the zone").await {
                    tracing::error!(zone = %id, error = %e, "the zone would not stop");
                    let _ = this.set_state(id, MachineState::Running);
                    return;
                }
            }
            cgroups::sweep(&this.config.cgroup_root, id);
            let _ = this.set_state(id, MachineState::Stopped);
        });
        Ok(record)
    }

    /// Asks the zone's init to reboot, in the background: the answer is `rebooting`, and the
    /// zone is `running` again once LXC says so (or, if it never does, the poller says what
    /// became of it).
    fn reboot(&self, id: MachineId, op: Arc<tokio::sync::Mutex<()>>) -> Result<BridgeMachine, BridgeError> {
        let record = self.set_state(id, MachineState::Rebooting)?;
        let this = self.clone();
        tokio::spawn(async move {
            let secs = this.config.stop_timeout.as_secs().max(1).to_string();
            let rebooted = async {
                this.lxc_ok("lxc-stop", id, &["-r", "-t", &secs], "rebooting the zone").await?;
                this.lxc_ok("lxc-wait", id, &["-s", "RUNNING", "-t", &secs], "waiting for the zone to run")
                    .await
            };
            if let Err(e) = rebooted.await {
                tracing::warn!(zone = %id, error = %e, "reboot");
            }
            let _guard = op.lock().await;
            if this.record(id).is_ok_and(|r| r.state == MachineState::Rebooting) {
                let _ = this.set_state(id, MachineState::Running);
            }
        });
        Ok(record)
    }

    /// Undoes or finishes a zone: stopped or not, its container, files and cgroups go.
    async fn destroy(&self, id: MachineId) {
        if self.dir(id).join("config").exists() {
            // lxc-destroy knows the rootfs' storage; a failure still leaves the removal below.
            if let Ok(out) = self.lxc("lxc-destroy", id, &[]).await
                && !out.success
            {
                tracing::warn!(zone = %id, stderr = %out.stderr_tail(), "lxc-destroy failed");
            }
        }
        if let Err(e) = self.store.remove(id) {
            tracing::error!(zone = %id, error = %e, "removing the zone's directory");
        }
        self.storage.clear_stale(&*self.exec).await;
        cgroups::sweep(&self.config.cgroup_root, id);
    }

    /// A new zone's root filesystem, from its image; then the zone is `stopped`, or gone.
    async fn make_rootfs(&self, id: MachineId, image: PathBuf) -> Result<BridgeMachine, BridgeError> {
        let dir = self.dir(id);
        let result = async {
            // Held to its size from the first byte: an image larger than the disk fails here.
            let disk_gib = self.record(id)?.disk_gib;
            self.storage.create(&*self.exec, &dir.join("rootfs"), disk_gib).await?;
            let layered = *self.storage == storage::Storage::Overlay;
            let unpacked = tokio::task::spawn_blocking(move || {
                crate::images::rootfs::unpack(&image, &dir)?;
                if layered { storage::lay_over_base(&dir) } else { Ok(()) }
            })
            .await;
            match unpacked {
                Ok(Ok(())) => self.record(id).and_then(|r| self.write_config(&r)),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(BridgeError::Host(format!("unpacking the zone image stopped: {e}"))),
            }
        }
        .await;
        if let Err(e) = result {
            self.lock().remove(&id);
            self.destroy(id).await;
            let _ = self.events.send(BridgeEvent::MachineRemoved { id });
            return Err(e);
        }
        self.set_state(id, MachineState::Stopped)
    }
}

impl LxcDriver {
    fn snapshot_meta_path(&self, id: MachineId) -> PathBuf {
        self.dir(id).join("snapshots.json")
    }

    /// The tree, cleaned of snapshots whose files are gone.
    fn snapshot_meta(&self, id: MachineId) -> Result<SnapshotMeta, BridgeError> {
        let mut meta = SnapshotMeta::load(&self.snapshot_meta_path(id));
        let before = meta.clone();
        meta.retain_existing(&snapshots::existing(&self.dir(id)));
        if meta != before {
            meta.save(&self.snapshot_meta_path(id))?;
        }
        Ok(meta)
    }

    fn snapshot_view(&self, id: MachineId, name: &str) -> Result<BridgeSnapshot, BridgeError> {
        self.snapshot_meta(id)?
            .view(&[])
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| BridgeError::Host(format!("snapshot {name} vanished after it was taken")))
    }
}

/// `lxc-ls --fancy --fancy-format NAME,STATE`: a header line, then `name state` per line.
/// Names that are not machine ids (another tool's containers on the same path) are ignored.
fn parse_lxc_ls(stdout: &str) -> HashMap<MachineId, LxcState> {
    stdout
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let id: MachineId = words.next()?.parse().ok()?;
            let state = match words.next()? {
                "RUNNING" => LxcState::Running,
                "FROZEN" => LxcState::Frozen,
                "STOPPED" => LxcState::Stopped,
                _ => LxcState::Moving,
            };
            Some((id, state))
        })
        .collect()
}

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
        let admission = self.admission.clone().lock_owned().await;
        if let Ok(existing) = self.record(req.id) {
            return super::create_again(&req, existing);
        }
        if req.kind != MachineKind::Zone {
            return Err(BridgeError::Validation {
                field: "kind",
                message: "the lxc driver runs zones".into(),
            });
        }
        corral_api::validate::image_for_kind(req.kind, req.image.as_deref())?;
        corral_api::validate::zone_devices(req.kind, &req.boot_order, req.cdrom.as_deref())?;
        self.forwards_free(&req.port_forwards, req.id)?;
        let name = req.image.clone().unwrap_or_default();
        let image = self.images.get(&name).map_err(|_| BridgeError::Validation {
            field: "image",
            message: format!("this node has no image named {name}"),
        })?;
        let facts = image.zone.clone().ok_or_else(|| BridgeError::Validation {
            field: "image",
            message: format!("{name} is not a zone image"),
        })?;
        let (free, _) = crate::host::disk_space(self.store.root())?;
        if image.virtual_size_bytes > free {
            return Err(BridgeError::InsufficientCapacity(format!(
                "the image unpacks to {} MiB; {} MiB are free on the node",
                image.virtual_size_bytes >> 20,
                free >> 20
            )));
        }
        let image_path = self.images.path(&name)?;
        let init = req.init.clone();
        let mut record = req.into_machine(now_rfc3339());
        record.zone = Some(ZoneFacts {
            os: facts.os,
            release: facts.release,
            init: facts.init,
            storage: self.storage.kind(),
        });
        self.store.save(&record)?;
        self.lock().insert(record.id, Zone::new(record.clone()));
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: record.clone() });
        drop(admission);
        if let Some(init) = &init
            && let Err(e) = guest::keep(&self.dir(record.id), init)
        {
            self.lock().remove(&record.id);
            self.destroy(record.id).await;
            let _ = self.events.send(BridgeEvent::MachineRemoved { id: record.id });
            return Err(e);
        }
        let made = self.make_rootfs(record.id, image_path).await?;
        Ok((made, Created::New))
    }

    async fn machine_delete(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError> {
        let op = self.op_lock(id)?;
        let _guard = op.lock().await;
        let record = self.record(id)?;
        let states = self.lxc_states().await?;
        let running = states.get(&id).is_some_and(|s| *s != LxcState::Stopped);
        if running && !force {
            return Err(BridgeError::Conflict(format!(
                "zone {id} is {}; stop it first or delete with force",
                record.state
            )));
        }
        let record = self.set_state(id, MachineState::Deleting)?;
        if running {
            self.lxc_ok("lxc-stop", id, &["-k"], "stopping the zone").await?;
        }
        self.destroy(id).await;
        self.lock().remove(&id);
        let _ = self.events.send(BridgeEvent::MachineRemoved { id });
        Ok(record)
    }

    async fn machine_power(&self, id: MachineId, action: PowerAction) -> Result<BridgeMachine, BridgeError> {
        use MachineState as S;
        let op = self.op_lock(id)?;
        let _guard = op.lock().await;
        let record = self.record(id)?;
        match (action, record.state) {
            (PowerAction::Start, S::Running | S::Starting | S::Rebooting | S::Paused) => Ok(record),
            (PowerAction::Start, S::Stopping) => {
                Err(BridgeError::Conflict(format!("zone {id} is stopping; start it once it has stopped")))
            }
            // Its root is still being unpacked, or removed.
            (PowerAction::Start, S::Creating | S::Deleting) => {
                Err(BridgeError::Conflict(format!("zone {id} is {}; start it once it is made", record.state)))
            }
            (PowerAction::Start, _) => self.start(id).await,
            (PowerAction::Stop | PowerAction::ForceStop, S::Stopped) => Ok(record),
            (PowerAction::Stop, S::Stopping) => Ok(record),
            // A frozen zone cannot hear the halt signal: it is killed.
            (PowerAction::Stop, S::Paused) | (PowerAction::ForceStop, _) => self.kill(id).await,
            (PowerAction::Stop, _) => self.stop_gently(id, op.clone()),
            (PowerAction::Pause, S::Paused) | (PowerAction::Resume, S::Running) => Ok(record),
            (PowerAction::Pause, S::Running) => {
                self.lxc_ok("lxc-freeze", id, &[], "freezing the zone").await?;
                self.set_state(id, S::Paused)
            }
            (PowerAction::Resume, S::Paused) => {
                self.lxc_ok("lxc-unfreeze", id, &[], "thawing the zone").await?;
                self.set_state(id, S::Running)
            }
            (PowerAction::Reboot, S::Running) => self.reboot(id, op.clone()),
            (PowerAction::Reset, S::Running) => {
                self.kill(id).await?;
                self.start(id).await
            }
            (action, state) => Err(BridgeError::Conflict(format!(
                "cannot {} zone {id} while it is {state}",
                action.as_str()
            ))),
        }
    }

    async fn snapshot_list(&self, id: MachineId) -> Result<Vec<BridgeSnapshot>, BridgeError> {
        self.record(id)?;
        Ok(self.snapshot_meta(id)?.view(&[]))
    }

    /// A copy of the zone's files, frozen while it is taken if the zone runs.
    async fn snapshot_create(
        &self,
        id: MachineId,
        req: BridgeSnapshotCreate,
    ) -> Result<BridgeSnapshot, BridgeError> {
        corral_api::validate::snapshot_name(&req.name)?;
        if req.ram {
            return Err(BridgeError::Validation {
                field: "ram",
                message: "zones have no RAM to save".into(),
            });
        }
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let record = self.record(id)?;
        let mut meta = self.snapshot_meta(id)?;
        if meta.get(&req.name).is_some() {
            return Err(BridgeError::Conflict(format!(
                "zone {id} has a snapshot named {} already",
                req.name
            )));
        }
        let frozen = record.state == MachineState::Running;
        if frozen {
            self.lxc_ok("lxc-freeze", id, &[], "freezing the zone for its snapshot").await?;
        }
        let dir = self.dir(id);
        let target = snapshots::dir(&dir).join(&req.name).join("rootfs");
        let copied = self.storage.copy(&*self.exec, &dir.join("rootfs"), &target, record.disk_gib).await;
        if frozen && let Err(e) = self.lxc_ok("lxc-unfreeze", id, &[], "thawing the zone").await {
            tracing::error!(zone = %id, error = %e, "the zone stays frozen after its snapshot");
            let _ = self.set_state(id, MachineState::Paused);
        }
        copied?;
        meta.add(&req.name, false, now_rfc3339());
        meta.save(&self.snapshot_meta_path(id))?;
        self.snapshot_view(id, &req.name)
    }

    /// Puts the snapshot's files back; a running zone is killed first and started again.
    async fn snapshot_rollback(&self, id: MachineId, name: &str) -> Result<BridgeMachine, BridgeError> {
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let record = self.record(id)?;
        let mut meta = self.snapshot_meta(id)?;
        if meta.get(name).is_none() {
            return Err(BridgeError::SnapshotNotFound(name.to_string()));
        }
        let was_running = !matches!(record.state, MachineState::Stopped);
        if was_running {
            self.kill(id).await?;
        }
        // The copy is made beside the files it replaces, then swapped in by two renames
        // (`snapshots::finish_swap` completes or undoes a swap a crash cut short).
        let dir = self.dir(id);
        let from = snapshots::dir(&dir).join(name).join("rootfs");
        let new = dir.join(snapshots::NEW_ROOTFS);
        self.storage.remove(&*self.exec, &new).await;
        self.storage.copy(&*self.exec, &from, &new, record.disk_gib).await?;
        std::fs::rename(dir.join("rootfs"), dir.join(snapshots::OLD_ROOTFS))?;
        std::fs::rename(dir.join(snapshots::NEW_ROOTFS), dir.join("rootfs"))?;
        // The root from before may lack the guest data: written again at the next start.
        guest::forget_seeded(&dir);
        self.storage.remove(&*self.exec, &dir.join(snapshots::OLD_ROOTFS)).await;
        meta.current = Some(name.to_string());
        meta.save(&self.snapshot_meta_path(id))?;
        if was_running { self.start(id).await } else { self.record(id) }
    }

    async fn snapshot_delete(&self, id: MachineId, name: &str) -> Result<(), BridgeError> {
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let mut meta = self.snapshot_meta(id)?;
        if meta.get(name).is_none() {
            return Err(BridgeError::SnapshotNotFound(name.to_string()));
        }
        self.storage.remove(&*self.exec, &snapshots::dir(&self.dir(id)).join(name)).await;
        meta.remove(name);
        meta.save(&self.snapshot_meta_path(id))?;
        Ok(())
    }

    /// A new, stopped zone whose files start as the snapshot's.
    async fn snapshot_clone(
        &self,
        id: MachineId,
        name: &str,
        req: BridgeSnapshotClone,
    ) -> Result<BridgeMachine, BridgeError> {
        let admission = self.admission.clone().lock_owned().await;
        let source = self.record(id)?;
        if let Ok(existing) = self.record(req.id) {
            return if existing.name == req.name && existing.state != MachineState::Creating {
                Ok(existing)
            } else {
                Err(BridgeError::Conflict(format!("machine {} already exists", req.id)))
            };
        }
        if self.snapshot_meta(id)?.get(name).is_none() {
            return Err(BridgeError::SnapshotNotFound(name.to_string()));
        }
        let record = BridgeMachine {
            id: req.id,
            name: req.name.clone(),
            port_forwards: Vec::new(),
            init_id: req.init.as_ref().map(|i| i.instance_id.clone()),
            state: MachineState::Creating,
            created_at: now_rfc3339(),
            ..source
        };
        self.store.save(&record)?;
        self.lock().insert(record.id, Zone::new(record.clone()));
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: record.clone() });
        drop(admission);
        let from = snapshots::dir(&self.dir(id)).join(name).join("rootfs");
        let made = async {
            if let Some(init) = &req.init {
                guest::keep(&self.dir(record.id), init)?;
            }
            if record.zone.as_ref().is_some_and(|z| z.storage == ZoneStorage::Overlay) {
                storage::link_base(&*self.exec, &self.dir(id), &self.dir(record.id)).await?;
            }
            let rootfs = self.dir(record.id).join("rootfs");
            self.storage.copy(&*self.exec, &from, &rootfs, record.disk_gib).await?;
            self.write_config(&record)
        };
        if let Err(e) = made.await {
            self.lock().remove(&record.id);
            self.destroy(record.id).await;
            let _ = self.events.send(BridgeEvent::MachineRemoved { id: record.id });
            return Err(e);
        }
        self.set_state(record.id, MachineState::Stopped)
    }

    async fn machine_update(
        &self,
        id: MachineId,
        req: BridgeMachineUpdate,
    ) -> Result<BridgeMachine, BridgeError> {
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let record = self.record(id)?;
        if req.boot_order.as_ref().is_some_and(|b| !b.is_empty()) || matches!(req.cdrom, Some(Some(_))) {
            corral_api::validate::zone_devices(
                MachineKind::Zone,
                req.boot_order.as_deref().unwrap_or_default(),
                req.cdrom.clone().flatten().as_deref(),
            )?;
        }
        if let Some(disk) = req.disk_gib
            && disk != record.disk_gib
        {
            super::check_growth(&record, disk)?;
        }
        if let Some(forwards) = &req.port_forwards
            && *forwards != record.port_forwards
        {
            // Listeners are opened at start, for the zone's life.
            super::check_stopped(&record, "change its port forwards")?;
            if record.host_bridge.is_some() && !forwards.is_empty() {
                corral_api::validate::network(record.host_bridge.as_deref(), forwards)?;
            }
            self.forwards_free(forwards, id)?;
        }
        let mut next = record.clone();
        next.vcpus = req.vcpus.unwrap_or(record.vcpus);
        next.memory_mib = req.memory_mib.unwrap_or(record.memory_mib);
        // CPU and memory are the zone's cgroup limits: a running zone gets them at once, in
        // the order the kernel takes (a memory limit below what the zone uses is refused by
        // the kernel, and said so). A stopped one gets them at its next start, from the
        // config written then.
        let limits = config::live_limits(&record, &next, self.swap_accounting());
        match record.state {
            MachineState::Stopped | MachineState::Failed => {}
            MachineState::Running | MachineState::Paused => {
                for (key, value) in &limits {
                    let value = value.to_string();
                    let out = self.lxc("lxc-cgroup", id, &[key, &value]).await?;
                    if !out.success {
                        return Err(BridgeError::Conflict(format!(
                            "the kernel refused {key} = {value} for zone {id}: {}",
                            out.stderr_tail()
                        )));
                    }
                }
            }
            state if !limits.is_empty() => {
                return Err(BridgeError::Conflict(format!(
                    "zone {id} is {state}; change its limits once it is running or stopped"
                )));
            }
            _ => {}
        }
        // New guest data reaches the zone's root at its next start.
        if let Some(init) = &req.init {
            guest::keep(&self.dir(id), init)?;
        }
        let init_id = req.init.map(|i| i.instance_id);
        let updated = self.commit(id, |r| {
            if let Some(name) = req.name {
                r.name = name;
            }
            if let Some(init_id) = init_id {
                r.init_id = Some(init_id);
            }
            if let Some(disk) = req.disk_gib {
                r.disk_gib = disk;
            }
            if let Some(forwards) = req.port_forwards {
                r.port_forwards = forwards;
            }
            r.vcpus = next.vcpus;
            r.memory_mib = next.memory_mib;
        })?;
        // So that LXC's own tools see the zone as it now is. Only a courtesy: every start
        // writes the config again from the record.
        if updated != record
            && updated.state != MachineState::Creating
            && let Err(e) = self.write_config(&updated)
        {
            tracing::warn!(zone = %id, error = %e, "rewriting the zone's config after a change");
        }
        Ok(updated)
    }
}

#[cfg(test)]
mod tests;
