//! A zone's making and its hardware: a new zone's checks and root filesystem, its config as
//! written for each start, and changes to its size, CPU and memory limits and forwards.

use std::path::PathBuf;

use corral_api::MachineId;
use corral_api::bridge::{BridgeEvent, BridgeMachine, BridgeMachineCreate, BridgeMachineUpdate};
use corral_api::machine::MachineState;
use corral_api::spec::{MachineKind, ZoneFacts, ZoneStorage};

use super::{LxcDriver, Zone, config, guest, storage};
use crate::driver::Created;
use crate::error::BridgeError;
use crate::time_fmt::now_rfc3339;

impl LxcDriver {
    /// Whether the kernel accounts memory with swap (`memory.memsw.*`), so zones are limited
    /// in both.
    pub(super) fn swap_accounting(&self) -> bool {
        self.config.cgroup_root.join("memory/memory.memsw.limit_in_bytes").exists()
    }

    /// Refuses a forward that is not TCP, or a host port another zone forwards already.
    pub(super) fn forwards_free(
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
        let zones = self.lock();
        crate::driver::forwards_free(forwards, zones.values().map(|z| &z.record), except)
    }

    /// Writes the zone's config from its record, as it must be for the next start.
    pub(super) fn write_config(&self, record: &BridgeMachine) -> Result<(), BridgeError> {
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

    /// A new zone's root filesystem, from its image; then the zone is `stopped`, or gone.
    pub(super) async fn make_rootfs(
        &self,
        id: MachineId,
        image: PathBuf,
    ) -> Result<BridgeMachine, BridgeError> {
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

    pub(super) async fn create(
        &self,
        req: BridgeMachineCreate,
    ) -> Result<(BridgeMachine, Created), BridgeError> {
        let admission = self.admission.clone().lock_owned().await;
        if let Ok(existing) = self.record(req.id) {
            return crate::driver::create_again(&req, existing);
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

    pub(super) async fn update(
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
            crate::driver::check_growth(&record, disk)?;
        }
        if let Some(forwards) = &req.port_forwards
            && *forwards != record.port_forwards
        {
            // Listeners are opened at start, for the zone's life.
            crate::driver::check_stopped(&record, "change its port forwards")?;
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
