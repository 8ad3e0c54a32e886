//! A VM's life: starting its QEMU (tap, serial and QMP first), following it until it exits,
//! stopping it by the power button or by force, the other power actions, and deleting it.

use std::time::Duration;

use corral_api::MachineId;
use corral_api::bridge::{BridgeEvent, BridgeMachine};
use corral_api::machine::MachineState;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::launch::{Nic, VmPaths, qemu_args};
use super::{PowerAction, QMP_TIMEOUT, QemuDriver, net};
use crate::error::BridgeError;
use crate::qmp::{Qmp, QmpError};
use crate::serial::SerialHub;

impl QemuDriver {
    /// Follows a running QEMU: resets finish a reboot; the connection closing means QEMU
    /// exited, so the VM is stopped and its runtime files are cleaned.
    pub(super) fn spawn_monitor(&self, id: MachineId, qmp: Qmp) {
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

    /// SIGKILL to a QEMU that is ours, for cleanup paths that cannot wait.
    pub(super) fn kill_if_running(&self, paths: &VmPaths) {
        if let Some(pid) = paths.pid()
            && crate::host::process_matches(pid, &paths.qmp().display().to_string())
        {
            let _ = crate::host::kill_hard(pid);
        }
    }

    pub(super) async fn start(&self, id: MachineId) -> Result<BridgeMachine, BridgeError> {
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
        let seed = record.init_id.as_ref().map(|_| paths.seed()).filter(|s| s.exists());
        let args = qemu_args(&record, &paths, self.config.accel.name, cdrom.as_deref(), seed.as_deref(), nic);
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

    pub(super) async fn stop(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError> {
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
    pub(super) async fn wait_stopped(&self, id: MachineId, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.qmp(id).is_none() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub(super) async fn delete(&self, id: MachineId, force: bool) -> Result<BridgeMachine, BridgeError> {
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

    pub(super) async fn power(
        &self,
        id: MachineId,
        action: PowerAction,
    ) -> Result<BridgeMachine, BridgeError> {
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
}

/// Asks QEMU to exit now; its closing connection is the answer.
async fn quit(qmp: &Qmp) {
    match qmp.execute("quit", Value::Null).await {
        Ok(_) | Err(QmpError::Closed) => {}
        Err(e) => tracing::warn!(error = %e, "QMP quit failed"),
    }
}
