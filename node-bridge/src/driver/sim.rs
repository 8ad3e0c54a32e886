//! The sim driver: an in-memory hypervisor with real state transitions, delays, capacity
//! limits and spec files on disk, for testing the control plane at scale.
//!
//! Each transition (create, start, stop, reboot, delete) puts the machine in a transitional
//! state and completes after `delay`, or, in step mode, when a test calls [`SimDriver::step`].
//! A generation number per machine makes a stale timer harmless when a newer transition has
//! started since.
//!
//! A running sim machine has a serial console: a scripted guest on the far end of a socket
//! pair that prints a banner and a prompt and echoes what it is sent, so consoles can be
//! tested against many machines without QEMU. It hangs up when the machine stops.
//!
//! Sim machines keep snapshots as the qemu driver does: a tree with the current one marked,
//! with RAM (running machines only) or of the disk alone, rolled back, deleted (children move
//! up to the parent) and cloned into new machines; kept in `sim-snapshots.json` beside the
//! machine's spec, so a restarted bridge finds them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use corral_api::MachineId;
use corral_api::bridge::{
    BridgeEvent, BridgeMachine, BridgeMachineCreate, BridgeMachineUpdate, BridgeSnapshot,
    BridgeSnapshotClone, BridgeSnapshotCreate, HostFacts,
};
use corral_api::machine::MachineState;
use tokio::sync::broadcast;

use super::{Created, Driver, PowerAction, check_growth, check_stopped};
use crate::error::BridgeError;
use crate::serial::SerialHub;
use crate::store::MachineStore;
use crate::time_fmt::now_rfc3339;

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub delay: Duration,
    /// Transitions wait for `step` instead of a timer.
    pub step_mode: bool,
    pub host: HostFacts,
    /// The kinds of machine it pretends to run: both, unless a test wants a node of one.
    pub kinds: Vec<corral_api::spec::MachineKind>,
}

struct SimMachine {
    record: BridgeMachine,
    generation: u64,
    /// The serial console while the machine runs; dropping it hangs the line up.
    console: Option<SimConsole>,
    /// Its snapshots, oldest first, and the one its present state descends from.
    snapshots: Vec<BridgeSnapshot>,
    /// When it last started running (Unix ms): its pretend counters count from then.
    running_since: Option<i64>,
}

impl SimMachine {
    fn new(record: BridgeMachine, snapshots: Vec<BridgeSnapshot>) -> Self {
        let running_since = has_console(record.state).then(crate::time_fmt::now_ms);
        Self { record, generation: 0, console: None, snapshots, running_since }
    }

    fn snapshot(&self, name: &str) -> Result<&BridgeSnapshot, BridgeError> {
        self.snapshots
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| BridgeError::SnapshotNotFound(name.to_string()))
    }

    fn current(&self) -> Option<String> {
        self.snapshots.iter().find(|s| s.current).map(|s| s.name.clone())
    }

    fn make_current(&mut self, name: Option<&str>) {
        for s in &mut self.snapshots {
            s.current = Some(s.name.as_str()) == name;
        }
    }
}

/// A running sim machine's serial line: its hub, and the scripted guest at the other end.
struct SimConsole {
    hub: Arc<SerialHub>,
    guest: tokio::task::JoinHandle<()>,
}

impl Drop for SimConsole {
    fn drop(&mut self) {
        self.guest.abort();
    }
}

impl SimConsole {
    fn open(name: &str) -> std::io::Result<Self> {
        let (ours, theirs) = tokio::net::UnixStream::pair()?;
        let hub = SerialHub::pump(ours);
        let guest = tokio::spawn(sim_guest(theirs, name.to_string()));
        Ok(Self { hub, guest })
    }
}

/// The sim's guest on a serial line: a banner, a prompt, and an echo of what is typed (a
/// carriage return gives a new prompt), until the line is hung up.
async fn sim_guest(mut line: tokio::net::UnixStream, name: String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let prompt = format!("\r\n{name}# ");
    if line.write_all(format!("\r\n{name} (corral sim) ttyS0{prompt}").as_bytes()).await.is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    while let Ok(n) = line.read(&mut buf).await {
        if n == 0 {
            return;
        }
        let mut echo = Vec::with_capacity(n + prompt.len());
        for &b in &buf[..n] {
            if b == b'\r' || b == b'\n' {
                echo.extend_from_slice(prompt.as_bytes());
            } else {
                echo.push(b);
            }
        }
        if line.write_all(&echo).await.is_err() {
            return;
        }
    }
}

/// Whether a machine in `state` has a live serial line.
fn has_console(state: MachineState) -> bool {
    matches!(state, MachineState::Running | MachineState::Paused | MachineState::Rebooting)
}

struct Inner {
    machines: HashMap<MachineId, SimMachine>,
    next_generation: u64,
}

#[derive(Clone)]
pub struct SimDriver {
    config: SimConfig,
    store: MachineStore,
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<BridgeEvent>,
}

impl SimDriver {
    /// Loads the machines of a previous run. One caught mid-transition (the bridge died
    /// during it) is finished at once: in the sim, the "guest" carried on without us.
    pub fn open(config: SimConfig, store: MachineStore) -> std::io::Result<Self> {
        let mut machines = HashMap::new();
        for mut record in store.load_all()? {
            if record.state == MachineState::Deleting {
                store.remove(record.id)?;
                continue;
            }
            if let Some(done) = settled_state(record.state) {
                record.state = done;
                store.save(&record)?;
            }
            let snapshots = load_snapshots(&store, record.id)?;
            machines.insert(record.id, SimMachine::new(record, snapshots));
        }
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            config,
            store,
            inner: Arc::new(Mutex::new(Inner { machines, next_generation: 1 })),
            events,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; carry on with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes a machine as someone at the node's console would, behind the bridge's back:
    /// its spec goes and no event says so (the backend must notice on its next listing).
    pub fn vanish(&self, id: MachineId) -> Result<(), BridgeError> {
        self.lock().machines.remove(&id).ok_or(BridgeError::MachineNotFound(id))?;
        self.store.remove(id)?;
        Ok(())
    }

    /// Finishes the machine's pending transition now (step mode, or a test in a hurry).
    pub fn step(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        let generation = {
            let inner = self.lock();
            let m = inner.machines.get(&id).ok_or(BridgeError::MachineNotFound(id))?;
            if settled_state(m.record.state).is_none() && m.record.state != MachineState::Deleting {
                return Err(BridgeError::Conflict(format!(
                    "machine {id} has no pending transition (it is {})",
                    m.record.state
                )));
            }
            m.generation
        };
        self.complete(id, generation)?;
        match self.lock().machines.get(&id) {
            Some(m) => Ok(m.record.clone()),
            // A finished delete: the machine is gone, report it as it went.
            None => Err(BridgeError::MachineNotFound(id)),
        }
    }

    /// Puts a machine into `state` under a new generation, persists it, announces it and arms
    /// the timer that completes the transition.
    fn begin(
        &self,
        inner: &mut Inner,
        id: MachineId,
        state: MachineState,
    ) -> Result<BridgeMachine, BridgeError> {
        let generation = inner.next_generation;
        inner.next_generation += 1;
        let m = inner.machines.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?;
        let before = m.record.state;
        m.record.state = state;
        if let Err(e) = self.store.save(&m.record) {
            m.record.state = before;
            return Err(e.into());
        }
        m.generation = generation;
        if !has_console(state) {
            m.console = None;
            m.running_since = None;
        }
        let record = m.record.clone();
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: record.clone() });
        if !self.config.step_mode {
            let this = self.clone();
            let delay = self.config.delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Err(e) = this.complete(id, generation) {
                    tracing::warn!(%id, error = %e, "sim transition did not complete");
                }
            });
        }
        Ok(record)
    }

    /// Completes the transition of `generation`, if it is still the machine's current one.
    fn complete(&self, id: MachineId, generation: u64) -> Result<(), BridgeError> {
        let mut inner = self.lock();
        let Some(m) = inner.machines.get_mut(&id) else { return Ok(()) };
        if m.generation != generation {
            return Ok(());
        }
        if m.record.state == MachineState::Deleting {
            self.store.remove(id)?;
            inner.machines.remove(&id);
            let _ = self.events.send(BridgeEvent::MachineRemoved { id });
            return Ok(());
        }
        let Some(done) = settled_state(m.record.state) else { return Ok(()) };
        m.record.state = done;
        if done == MachineState::Running && m.running_since.is_none() {
            m.running_since = Some(crate::time_fmt::now_ms());
        }
        self.store.save(&m.record)?;
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: m.record.clone() });
        Ok(())
    }

    fn allocated(inner: &Inner) -> (u32, u64, u64) {
        inner.machines.values().fold((0, 0, 0), |(c, m, d), x| {
            (c + x.record.vcpus, m + x.record.memory_mib, d + x.record.disk_gib)
        })
    }

    /// Whether the node has room for one more machine of this size, and if not, what lacks.
    fn fits(&self, inner: &Inner, vcpus: u32, memory_mib: u64, disk_gib: u64) -> Result<(), BridgeError> {
        let host = &self.config.host;
        // vCPUs share the host's CPUs, as on a real node: how far is the backend's call (its
        // allocation ratios). Memory and disk are the node's hard limits.
        let (_, mem, disk) = Self::allocated(inner);
        let _ = vcpus;
        if mem + memory_mib > host.memory_mib {
            return Err(BridgeError::InsufficientCapacity(format!(
                "needs {memory_mib} MiB of memory, {} of {} MiB free",
                host.memory_mib.saturating_sub(mem),
                host.memory_mib
            )));
        }
        if disk + disk_gib > host.disk_gib {
            return Err(BridgeError::InsufficientCapacity(format!(
                "needs {disk_gib} GiB of disk, {} of {} GiB free",
                host.disk_gib.saturating_sub(disk),
                host.disk_gib
            )));
        }
        Ok(())
    }

    /// Writes a machine's snapshots beside its spec (whole, then renamed into place).
    fn save_snapshots(&self, m: &SimMachine) -> Result<(), BridgeError> {
        let dir = self.store.machine_dir(m.record.id);
        let tmp = dir.join(".sim-snapshots.json.tmp");
        let json = serde_json::to_vec_pretty(&m.snapshots).map_err(|e| BridgeError::Internal(e.into()))?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, dir.join(SNAPSHOTS_FILE))?;
        Ok(())
    }
}

const SNAPSHOTS_FILE: &str = "sim-snapshots.json";

fn load_snapshots(store: &MachineStore, id: MachineId) -> std::io::Result<Vec<BridgeSnapshot>> {
    match std::fs::read(store.machine_dir(id).join(SNAPSHOTS_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Where a transitional state lands; `None` for resting states (and `Deleting`, which ends in
/// removal).
fn settled_state(state: MachineState) -> Option<MachineState> {
    match state {
        MachineState::Creating | MachineState::Stopping => Some(MachineState::Stopped),
        MachineState::Starting | MachineState::Rebooting => Some(MachineState::Running),
        _ => None,
    }
}

#[async_trait]
impl Driver for SimDriver {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn kinds(&self) -> Vec<corral_api::spec::MachineKind> {
        self.config.kinds.clone()
    }

    fn knows(&self, id: MachineId) -> bool {
        self.lock().machines.contains_key(&id)
    }

    fn capabilities(&self) -> Vec<String> {
        // The image store is the bridge's, whatever the driver; sim machines ignore images.
        let mut caps = vec!["machines".to_string(), "images".to_string(), "pause".to_string()];
        if self.config.step_mode {
            caps.push("step".to_string());
        }
        caps
    }

    fn host_facts(&self) -> HostFacts {
        self.config.host.clone()
    }

    fn serial(&self, id: MachineId) -> Result<Arc<SerialHub>, BridgeError> {
        let mut inner = self.lock();
        let m = inner.machines.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?;
        if !has_console(m.record.state) {
            return Err(BridgeError::Conflict(format!("machine {id} is {}: start it first", m.record.state)));
        }
        if m.console.is_none() {
            m.console = Some(SimConsole::open(&m.record.name)?);
        }
        Ok(m.console.as_ref().map(|c| c.hub.clone()).expect("set above"))
    }

    fn subscribe(&self) -> broadcast::Receiver<BridgeEvent> {
        self.events.subscribe()
    }

    async fn machine_usage(&self) -> Vec<(MachineId, Vec<corral_api::metrics::MetricPoint>)> {
        let now = crate::time_fmt::now_ms();
        let inner = self.lock();
        inner
            .machines
            .values()
            .filter_map(|m| Some((m.record.id, super::sim_usage::usage(&m.record, m.running_since?, now))))
            .collect()
    }

    async fn machine_list(&self) -> Vec<BridgeMachine> {
        super::in_listing_order(self.lock().machines.values().map(|m| m.record.clone()).collect())
    }

    async fn machine_get(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        self.lock().machines.get(&id).map(|m| m.record.clone()).ok_or(BridgeError::MachineNotFound(id))
    }

    async fn machine_create(
        &self,
        req: BridgeMachineCreate,
    ) -> Result<(BridgeMachine, Created), BridgeError> {
        let mut inner = self.lock();
        if let Some(existing) = inner.machines.get(&req.id) {
            return super::create_again(&req, existing.record.clone());
        }
        self.fits(&inner, req.vcpus, req.memory_mib, req.disk_gib)?;
        let id = req.id;
        let mut record = req.into_machine(now_rfc3339());
        // A pretend zone: no image is unpacked, so its system is the sim's own.
        if record.kind == corral_api::spec::MachineKind::Zone {
            record.zone = Some(corral_api::spec::ZoneFacts {
                os: "sim".into(),
                release: env!("CARGO_PKG_VERSION").into(),
                init: corral_api::spec::ZoneInit::Busybox,
                storage: corral_api::spec::ZoneStorage::Dir,
            });
        }
        inner.machines.insert(id, SimMachine::new(record, Vec::new()));
        match self.begin(&mut inner, id, MachineState::Creating) {
            Ok(m) => Ok((m, Created::New)),
            Err(e) => {
                // Nothing half-made stays behind: not in memory, not on disk.
                inner.machines.remove(&id);
                let _ = self.store.remove(id);
                Err(e)
            }
        }
    }

    async fn machine_delete(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError> {
        let mut inner = self.lock();
        let m = inner.machines.get(&id).ok_or(BridgeError::MachineNotFound(id))?;
        match m.record.state {
            MachineState::Deleting => Ok(m.record.clone()),
            MachineState::Stopped | MachineState::Failed => {
                self.begin(&mut inner, id, MachineState::Deleting)
            }
            MachineState::Creating => {
                Err(BridgeError::Conflict(format!("machine {id} is still being created")))
            }
            _ if force => self.begin(&mut inner, id, MachineState::Deleting),
            state => Err(BridgeError::Conflict(format!(
                "machine {id} is {state}; stop it first or delete with force"
            ))),
        }
    }

    async fn machine_update(
        &self,
        id: MachineId,
        req: BridgeMachineUpdate,
    ) -> Result<BridgeMachine, BridgeError> {
        let mut inner = self.lock();
        let (_, used_memory, used_disk) = Self::allocated(&inner);
        let m = inner.machines.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?;
        let mut record = m.record.clone();
        // As the real drivers: a VM's CPUs, memory and forwards are fixed while it runs, a
        // zone's CPU and memory are limits that change live; forwards open at start.
        let vcpus = req.vcpus.unwrap_or(record.vcpus);
        let memory_mib = req.memory_mib.unwrap_or(record.memory_mib);
        let forwards = req.port_forwards.unwrap_or_else(|| record.port_forwards.clone());
        let sizes_change = vcpus != record.vcpus || memory_mib != record.memory_mib;
        if sizes_change && record.kind == corral_api::spec::MachineKind::Vm {
            check_stopped(&record, "change its vCPUs, memory or port forwards")?;
        }
        if forwards != record.port_forwards {
            check_stopped(&record, "change its port forwards")?;
            corral_api::validate::network(record.host_bridge.as_deref(), &forwards)?;
        }
        if used_memory - record.memory_mib + memory_mib > self.config.host.memory_mib {
            return Err(BridgeError::InsufficientCapacity(format!(
                "{memory_mib} MiB of memory does not fit the node"
            )));
        }
        record.vcpus = vcpus;
        record.memory_mib = memory_mib;
        record.port_forwards = forwards;
        if let Some(disk) = req.disk_gib {
            check_growth(&record, disk)?;
            if used_disk - record.disk_gib + disk > self.config.host.disk_gib {
                return Err(BridgeError::InsufficientCapacity(format!("{disk} GiB does not fit the node")));
            }
            record.disk_gib = disk;
        }
        if let Some(name) = req.name {
            record.name = name;
        }
        if let Some(order) = req.boot_order {
            record.boot_order = order;
        }
        if let Some(init) = req.init {
            record.init_id = Some(init.instance_id);
        }
        if let Some(cdrom) = req.cdrom {
            record.cdrom = cdrom;
        }
        self.store.save(&record)?;
        m.record = record.clone();
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: record.clone() });
        Ok(record)
    }

    async fn machine_power(&self, id: MachineId, action: PowerAction) -> Result<BridgeMachine, BridgeError> {
        use MachineState as S;
        let mut inner = self.lock();
        let m = inner.machines.get(&id).ok_or(BridgeError::MachineNotFound(id))?;
        let state = m.record.state;
        let next = match (action, state) {
            (PowerAction::Start, S::Running | S::Starting | S::Rebooting) => None,
            (PowerAction::Start, S::Stopped | S::Failed) => Some(S::Starting),
            (PowerAction::Stop | PowerAction::ForceStop, S::Stopped | S::Stopping) => None,
            (
                PowerAction::Stop | PowerAction::ForceStop,
                S::Running | S::Starting | S::Rebooting | S::Paused,
            ) => Some(S::Stopping),
            (PowerAction::Reboot | PowerAction::Reset, S::Rebooting) => None,
            (PowerAction::Reboot | PowerAction::Reset, S::Running) => Some(S::Rebooting),
            (PowerAction::Pause, S::Paused) | (PowerAction::Resume, S::Running) => None,
            (PowerAction::Pause, S::Running) | (PowerAction::Resume, S::Paused) => {
                // Instant on a real hypervisor too: no transition to wait for.
                let target = if action == PowerAction::Pause { S::Paused } else { S::Running };
                let m = inner.machines.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?;
                m.record.state = target;
                self.store.save(&m.record)?;
                let _ = self.events.send(BridgeEvent::MachineChanged { machine: m.record.clone() });
                return Ok(m.record.clone());
            }
            _ => {
                return Err(BridgeError::Conflict(format!(
                    "cannot {} machine {id} while it is {state}",
                    action.as_str()
                )));
            }
        };
        match next {
            None => Ok(m.record.clone()),
            Some(next) => self.begin(&mut inner, id, next),
        }
    }

    async fn snapshot_list(&self, id: MachineId) -> Result<Vec<BridgeSnapshot>, BridgeError> {
        let inner = self.lock();
        let m = inner.machines.get(&id).ok_or(BridgeError::MachineNotFound(id))?;
        Ok(m.snapshots.clone())
    }

    async fn snapshot_create(
        &self,
        id: MachineId,
        req: BridgeSnapshotCreate,
    ) -> Result<BridgeSnapshot, BridgeError> {
        let mut inner = self.lock();
        let m = inner.machines.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?;
        if m.snapshots.iter().any(|s| s.name == req.name) {
            return Err(BridgeError::Conflict(format!(
                "machine {id} has a snapshot named {} already",
                req.name
            )));
        }
        let state = m.record.state;
        if req.ram && !matches!(state, MachineState::Running | MachineState::Paused) {
            return Err(BridgeError::Conflict(format!(
                "machine {id} is {state}: RAM is saved from a running machine"
            )));
        }
        if settled_state(state).is_some() || state == MachineState::Deleting {
            return Err(BridgeError::Busy(format!("machine {id} is {state}: try again when it settles")));
        }
        let snapshot = BridgeSnapshot {
            name: req.name,
            parent: m.current(),
            current: true,
            ram: req.ram,
            vm_state_bytes: if req.ram { m.record.memory_mib << 20 } else { 0 },
            created_at: now_rfc3339(),
        };
        let before = m.snapshots.clone();
        m.make_current(None);
        m.snapshots.push(snapshot.clone());
        let m = &*m;
        if let Err(e) = self.save_snapshots(m) {
            inner.machines.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?.snapshots = before;
            return Err(e);
        }
        Ok(snapshot)
    }

    async fn snapshot_rollback(&self, id: MachineId, name: &str) -> Result<BridgeMachine, BridgeError> {
        let mut inner = self.lock();
        let m = inner.machines.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?;
        let ram = m.snapshot(name)?.ram;
        let state = m.record.state;
        let running = matches!(state, MachineState::Running | MachineState::Paused);
        if (running && !ram) || settled_state(state).is_some() || state == MachineState::Deleting {
            return Err(BridgeError::Conflict(format!(
                "machine {id} is {state}: stop it to roll back to a snapshot without RAM"
            )));
        }
        let before = m.snapshots.clone();
        m.make_current(Some(name));
        if let Err(e) = self.save_snapshots(m) {
            m.snapshots = before;
            return Err(e);
        }
        Ok(m.record.clone())
    }

    async fn snapshot_delete(&self, id: MachineId, name: &str) -> Result<(), BridgeError> {
        let mut inner = self.lock();
        let m = inner.machines.get_mut(&id).ok_or(BridgeError::MachineNotFound(id))?;
        let gone = m.snapshot(name)?.clone();
        let before = m.snapshots.clone();
        m.snapshots.retain(|s| s.name != name);
        // What hung below it hangs from its parent; if it was current, its parent is.
        for s in &mut m.snapshots {
            if s.parent.as_deref() == Some(name) {
                s.parent = gone.parent.clone();
            }
        }
        if gone.current {
            m.make_current(gone.parent.as_deref());
        }
        if let Err(e) = self.save_snapshots(m) {
            m.snapshots = before;
            return Err(e);
        }
        Ok(())
    }

    async fn snapshot_clone(
        &self,
        id: MachineId,
        name: &str,
        req: BridgeSnapshotClone,
    ) -> Result<BridgeMachine, BridgeError> {
        let mut inner = self.lock();
        let source = inner.machines.get(&id).ok_or(BridgeError::MachineNotFound(id))?;
        source.snapshot(name)?;
        let spec = BridgeMachineCreate {
            id: req.id,
            name: req.name,
            kind: source.record.kind,
            vcpus: source.record.vcpus,
            memory_mib: source.record.memory_mib,
            disk_gib: source.record.disk_gib,
            image: source.record.image.clone(),
            port_forwards: Vec::new(),
            boot_order: source.record.boot_order.clone(),
            cdrom: source.record.cdrom.clone(),
            host_bridge: source.record.host_bridge.clone(),
            init: req.init,
        };
        // The clone's id makes a retry find what the first attempt made.
        if let Some(existing) = inner.machines.get(&req.id) {
            return if spec.matches(&existing.record) {
                Ok(existing.record.clone())
            } else {
                Err(BridgeError::Conflict(format!("machine {} already exists", req.id)))
            };
        }
        self.fits(&inner, spec.vcpus, spec.memory_mib, spec.disk_gib)?;
        let mut record = spec.into_machine(now_rfc3339());
        record.state = MachineState::Stopped;
        self.store.save(&record)?;
        inner.machines.insert(record.id, SimMachine::new(record.clone(), Vec::new()));
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: record.clone() });
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(dir: &std::path::Path, step_mode: bool) -> SimDriver {
        SimDriver::open(
            SimConfig {
                delay: Duration::from_millis(10),
                step_mode,
                host: HostFacts { hostname: "t".into(), cpus: 4, memory_mib: 1024, disk_gib: 10 },
                kinds: corral_api::spec::MachineKind::ALL.to_vec(),
            },
            MachineStore::open(dir).unwrap(),
        )
        .unwrap()
    }

    fn create_req(name: &str, vcpus: u32) -> BridgeMachineCreate {
        BridgeMachineCreate {
            id: MachineId::new_random(),
            name: name.into(),
            kind: Default::default(),
            vcpus,
            memory_mib: 128,
            disk_gib: 1,
            image: None,
            port_forwards: vec![],
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
            init: None,
        }
    }

    #[tokio::test]
    async fn step_mode_walks_the_life_cycle() {
        let tmp = tempfile::tempdir().unwrap();
        let d = driver(tmp.path(), true);
        let mut events = d.subscribe();
        let req = create_req("a", 1);
        let id = req.id;
        let (m, created) = d.machine_create(req).await.unwrap();
        assert_eq!((m.state, created), (MachineState::Creating, Created::New));
        assert_eq!(d.step(id).unwrap().state, MachineState::Stopped);
        assert_eq!(d.machine_power(id, PowerAction::Start).await.unwrap().state, MachineState::Starting);
        assert_eq!(d.step(id).unwrap().state, MachineState::Running);
        assert!(matches!(d.machine_delete(id, false).await, Err(BridgeError::Conflict(_))));
        assert_eq!(d.machine_power(id, PowerAction::Reboot).await.unwrap().state, MachineState::Rebooting);
        assert_eq!(d.step(id).unwrap().state, MachineState::Running);
        d.machine_power(id, PowerAction::Stop).await.unwrap();
        assert_eq!(d.step(id).unwrap().state, MachineState::Stopped);
        assert!(matches!(d.step(id), Err(BridgeError::Conflict(_))));
        assert_eq!(d.machine_delete(id, false).await.unwrap().state, MachineState::Deleting);
        assert!(matches!(d.step(id), Err(BridgeError::MachineNotFound(_))));
        assert!(d.machine_list().await.is_empty());
        assert!(!tmp.path().join("machines").join(id.to_string()).exists());

        let mut seen = Vec::new();
        while let Ok(ev) = events.try_recv() {
            seen.push(match ev {
                BridgeEvent::MachineChanged { machine } => machine.state.as_str().to_string(),
                BridgeEvent::MachineRemoved { .. } => "removed".into(),
                other => format!("{other:?}"),
            });
        }
        assert_eq!(
            seen,
            [
                "creating",
                "stopped",
                "starting",
                "running",
                "rebooting",
                "running",
                "stopping",
                "stopped",
                "deleting",
                "removed"
            ]
        );
    }

    #[tokio::test]
    async fn timers_complete_transitions() {
        let tmp = tempfile::tempdir().unwrap();
        let d = driver(tmp.path(), false);
        let req = create_req("a", 1);
        let id = req.id;
        d.machine_create(req).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(d.machine_get(id).await.unwrap().state, MachineState::Stopped);
    }

    #[tokio::test]
    async fn create_is_idempotent_on_id_and_refuses_another_spec() {
        let tmp = tempfile::tempdir().unwrap();
        let d = driver(tmp.path(), true);
        let req = create_req("a", 1);
        d.machine_create(req.clone()).await.unwrap();
        let (_, again) = d.machine_create(req.clone()).await.unwrap();
        assert_eq!(again, Created::Existing);
        let other = BridgeMachineCreate { vcpus: 2, ..req };
        assert!(matches!(d.machine_create(other).await, Err(BridgeError::Conflict(_))));
        assert_eq!(d.machine_list().await.len(), 1);
    }

    #[tokio::test]
    async fn memory_is_a_hard_limit_and_vcpus_are_shared() {
        let tmp = tempfile::tempdir().unwrap();
        let d = driver(tmp.path(), true);
        // vCPUs may outnumber the host's CPUs (the backend's ratios decide how far); memory
        // may not.
        d.machine_create(BridgeMachineCreate { memory_mib: 900, ..create_req("a", 3) }).await.unwrap();
        d.machine_create(BridgeMachineCreate { memory_mib: 64, ..create_req("b", 3) }).await.unwrap();
        let err = d
            .machine_create(BridgeMachineCreate { memory_mib: 128, ..create_req("c", 1) })
            .await
            .unwrap_err();
        let BridgeError::InsufficientCapacity(msg) = err else { panic!("{err:?}") };
        assert!(msg.contains("needs 128 MiB of memory, 60 of 1024 MiB free"), "{msg}");
        assert_eq!(d.machine_list().await.len(), 2);
    }

    #[tokio::test]
    async fn a_restart_finds_machines_and_finishes_interrupted_transitions() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (create_req("a", 1), create_req("b", 1));
        {
            let d = driver(tmp.path(), true);
            d.machine_create(a.clone()).await.unwrap();
            d.step(a.id).unwrap();
            d.machine_power(a.id, PowerAction::Start).await.unwrap();
            d.machine_create(b.clone()).await.unwrap();
            d.step(b.id).unwrap();
            d.machine_delete(b.id, false).await.unwrap();
        }
        let d = driver(tmp.path(), true);
        let list = d.machine_list().await;
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].id, list[0].state), (a.id, MachineState::Running));
    }

    #[tokio::test]
    async fn a_running_machine_has_a_serial_line_that_hangs_up_when_it_stops() {
        let tmp = tempfile::tempdir().unwrap();
        let d = driver(tmp.path(), true);
        let req = create_req("web", 1);
        let id = req.id;
        d.machine_create(req).await.unwrap();
        d.step(id).unwrap();
        assert!(matches!(d.serial(id), Err(BridgeError::Conflict(_))), "no console while stopped");
        d.machine_power(id, PowerAction::Start).await.unwrap();
        d.step(id).unwrap();
        let hub = d.serial(id).unwrap();
        let (_, mut live) = hub.attach(0);
        assert!(hub.send(bytes::Bytes::from_static(b"echo hi\r")).await);
        let mut seen = String::new();
        while !seen.contains("echo hi\r\nweb# ") {
            let chunk = tokio::time::timeout(Duration::from_secs(5), live.recv()).await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk.data));
        }
        let (replay, _) = hub.attach(0);
        assert!(String::from_utf8_lossy(&replay.data).starts_with("\r\nweb (corral sim) ttyS0\r\nweb# "));
        d.machine_power(id, PowerAction::Stop).await.unwrap();
        let ended =
            tokio::time::timeout(Duration::from_secs(5), async { while live.recv().await.is_ok() {} }).await;
        assert!(ended.is_ok(), "viewers' streams end when the machine stops");
        assert!(!hub.is_live());
    }

    #[tokio::test]
    async fn snapshots_form_a_tree_that_survives_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let d = driver(tmp.path(), true);
        let req = create_req("web", 1);
        let id = req.id;
        d.machine_create(req).await.unwrap();
        d.step(id).unwrap();
        let snap = |name: &str, ram| BridgeSnapshotCreate { name: name.into(), ram };
        assert!(
            matches!(d.snapshot_create(id, snap("r", true)).await, Err(BridgeError::Conflict(_))),
            "RAM needs a running machine"
        );
        d.snapshot_create(id, snap("a", false)).await.unwrap();
        d.snapshot_create(id, snap("b", false)).await.unwrap();
        assert!(matches!(d.snapshot_create(id, snap("b", false)).await, Err(BridgeError::Conflict(_))));
        d.snapshot_rollback(id, "a").await.unwrap();
        d.snapshot_create(id, snap("c", false)).await.unwrap();
        let tree = |list: Vec<BridgeSnapshot>| -> Vec<(String, Option<String>, bool)> {
            list.into_iter().map(|s| (s.name, s.parent, s.current)).collect()
        };
        let want = vec![
            ("a".to_string(), None, false),
            ("b".to_string(), Some("a".to_string()), false),
            ("c".to_string(), Some("a".to_string()), true),
        ];
        assert_eq!(tree(d.snapshot_list(id).await.unwrap()), want);
        // Deleting a moves its children up; deleting the current makes its parent current.
        d.snapshot_delete(id, "a").await.unwrap();
        d.snapshot_delete(id, "c").await.unwrap();
        assert_eq!(tree(d.snapshot_list(id).await.unwrap()), vec![("b".to_string(), None, false)]);
        let clone = d
            .snapshot_clone(
                id,
                "b",
                BridgeSnapshotClone { id: MachineId::new_random(), name: "web2".into(), init: None },
            )
            .await
            .unwrap();
        assert_eq!(clone.state, MachineState::Stopped);
        drop(d);
        let d = driver(tmp.path(), true);
        assert_eq!(tree(d.snapshot_list(id).await.unwrap()), vec![("b".to_string(), None, false)]);
        assert_eq!(d.machine_list().await.len(), 2);
    }
}
