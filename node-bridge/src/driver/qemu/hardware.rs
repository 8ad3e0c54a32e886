//! A VM's hardware: the disk made at create (blank, over an image, or beside an installer
//! ISO) with the guest's seed, the CD drive, and changes of vCPUs, memory, forwards, disk
//! size, boot order and guest data.

use corral_api::MachineId;
use corral_api::bridge::{BridgeMachine, BridgeMachineCreate, BridgeMachineUpdate};
use serde_json::json;

use super::launch::{CDROM_DEVICE, disk_create_args};
use super::{Created, QemuDriver};
use crate::error::BridgeError;
use crate::time_fmt::now_rfc3339;

impl QemuDriver {
    /// An ISO image of the node's store, for the CD drive.
    pub(super) fn iso(&self, name: &str) -> Result<std::path::PathBuf, BridgeError> {
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
    pub(super) async fn change_cdrom(&self, id: MachineId, iso: Option<&str>) -> Result<(), BridgeError> {
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

    pub(super) async fn create(
        &self,
        req: BridgeMachineCreate,
    ) -> Result<(BridgeMachine, Created), BridgeError> {
        let admission = self.admission.clone().lock_owned().await;
        if let Ok(existing) = self.record(req.id) {
            return crate::driver::create_again(&req, existing);
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
        crate::driver::thin_disk_room(self.store.root(), req.disk_gib)?;
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

        let init = req.init.clone();
        let mut record = req.into_machine(now_rfc3339());
        // A machine made from an ISO starts with it in the CD drive.
        if record.cdrom.is_none() && image.as_ref().is_some_and(|(_, f)| f == "iso") {
            record.cdrom = record.image.clone();
        }
        let record = self.register_creating(record)?;
        // Counted from here on: the next create may check.
        drop(admission);
        self.seed_new(record.id, init.as_ref()).await?;
        // An installer ISO is attached at start, not used as the disk's backing.
        let backing = image.as_ref().filter(|(_, f)| f != "iso").map(|(p, f)| (p.as_path(), f.as_str()));
        let args = disk_create_args(&paths.disk(), record.disk_gib, backing);
        let record = self.make_disk(record.id, args, "creating the disk").await?;
        Ok((record, Created::New))
    }

    pub(super) async fn update(
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
            crate::driver::check_stopped(&record, "change its vCPUs, memory or port forwards")?;
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
        // New guest data: a new seed for the next start (a running QEMU keeps the one it
        // opened, through a reboot too). Written before the disk or the CD change, so a seed
        // that fails leaves the machine as it was.
        if let Some(init) = req.init {
            self.write_seed(id, &init).await?;
            record.init_id = Some(init.instance_id);
        }
        if let Some(disk) = req.disk_gib
            && disk != record.disk_gib
        {
            crate::driver::check_growth(&record, disk)?;
            crate::driver::thin_disk_room(self.store.root(), disk)?;
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
            current.init_id = record.init_id;
            Ok(())
        })
    }
}
