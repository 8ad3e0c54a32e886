//! Starting the qemu driver: every VM on the node's storage loaded, those whose QEMU still
//! runs re-adopted through their pid file and QMP socket, and what a crash cut short undone.

use std::sync::Arc;

use corral_api::bridge::BridgeEvent;
use corral_api::machine::MachineState;
use tokio::sync::broadcast;

use super::launch::VmPaths;
use super::{QMP_TIMEOUT, QemuConfig, QemuDriver, Vm, net};
use crate::host::HostExec;
use crate::images::ImageStore;
use crate::qmp::Qmp;
use crate::serial::SerialHub;
use crate::store::MachineStore;

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
}
