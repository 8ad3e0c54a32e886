//! A zone's life: what LXC says runs (and the poll that follows it), starting with its
//! forwards and guest data, stopping it gently or by force, rebooting, pausing, and removing
//! it with everything it left.

use std::collections::HashMap;
use std::sync::Arc;

use corral_api::MachineId;
use corral_api::bridge::{BridgeEvent, BridgeMachine};
use corral_api::machine::MachineState;
use corral_api::spec::ZoneStorage;

use super::{LxcDriver, cgroups, forwards, guest};
use crate::driver::PowerAction;
use crate::error::BridgeError;

/// What LXC says a container is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LxcState {
    Running,
    Frozen,
    Stopped,
    /// Starting, stopping, freezing, …: in between; the poller waits for a resting state.
    Moving,
}

/// `lxc-ls --fancy --fancy-format NAME,STATE`: a header line, then `name state` per line.
/// Names that are not machine ids (another tool's containers on the same path) are ignored.
pub(super) fn parse_lxc_ls(stdout: &str) -> HashMap<MachineId, LxcState> {
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

impl LxcDriver {
    /// What LXC says each zone is doing, from one `lxc-ls`.
    pub(super) async fn lxc_states(&self) -> Result<HashMap<MachineId, LxcState>, BridgeError> {
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

    /// Binds the zone's port forwards (a port in use refuses the start before anything runs).
    pub(super) async fn open_forwards(
        &self,
        record: &BridgeMachine,
    ) -> Result<Option<forwards::Forwards>, BridgeError> {
        if record.port_forwards.is_empty() {
            return Ok(None);
        }
        let f =
            forwards::Forwards::open(&record.port_forwards, self.exec.clone(), self.lxc_path(), record.id)
                .await?;
        Ok(Some(f))
    }

    pub(super) async fn start(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
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
    pub(super) async fn kill(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
        self.lxc_ok("lxc-stop", id, &["-k"], "stopping the zone").await?;
        cgroups::sweep(&self.config.cgroup_root, id);
        self.set_state(id, MachineState::Stopped)
    }

    /// Asks the zone's init to halt; LXC kills it if it has not after the timeout. Runs on
    /// in the background: the answer is `stopping`. Other operations may run meanwhile (a
    /// force-stop does not wait for the clean one), so the end is recorded only if the zone
    /// is still `stopping` by then.
    pub(super) fn stop_gently(
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
    pub(super) fn reboot(
        &self,
        id: MachineId,
        op: Arc<tokio::sync::Mutex<()>>,
    ) -> Result<BridgeMachine, BridgeError> {
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
    pub(super) async fn destroy(&self, id: MachineId) {
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

    pub(super) async fn delete(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError> {
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

    pub(super) async fn power(
        &self,
        id: MachineId,
        action: PowerAction,
    ) -> Result<BridgeMachine, BridgeError> {
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
                self.freeze(id, "freezing the zone").await?;
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
}
