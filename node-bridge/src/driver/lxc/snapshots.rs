//! Snapshots of zones: copies of the root filesystem in `<zone>/snapshots/<name>/rootfs`,
//! made with `cp -a --reflink=auto` (every owner, mode, link and extended attribute kept;
//! copy-on-write and near instant where the filesystem shares extents, btrfs or XFS, and a
//! full copy elsewhere), and the tree in `snapshots.json`.
//!
//! LXC's own `lxc-snapshot` refuses a running directory-backed container, so the bridge
//! copies itself: a running zone is frozen while its files are copied, which makes the copy
//! what a power cut at that moment would leave (zones have no RAM to save). A rollback puts
//! the copy back in place of the root filesystem, with the zone stopped (a running one is
//! killed and started again on the snapshot's files). A clone is a new zone whose root
//! starts as a copy of the snapshot's.

use std::path::{Path, PathBuf};

use corral_api::MachineId;
use corral_api::bridge::{
    BridgeEvent, BridgeMachine, BridgeSnapshot, BridgeSnapshotClone, BridgeSnapshotCreate,
};
use corral_api::machine::MachineState;
use corral_api::spec::ZoneStorage;

use super::{LxcDriver, Zone, guest, storage};
use crate::driver::snapshot_tree::SnapshotMeta;
use crate::error::BridgeError;
use crate::host::HostExec;
use crate::time_fmt::now_rfc3339;

/// A rollback's copy of the snapshot, before it takes the root filesystem's place.
pub const NEW_ROOTFS: &str = "rootfs.new";
/// The root filesystem a rollback replaces, until the new one is in place.
pub const OLD_ROOTFS: &str = "rootfs.old";

/// Completes or undoes a rollback a crash cut short: a whole new copy (`rootfs` already moved
/// aside) takes its place; a half-made one goes; what was replaced goes once replaced.
pub async fn finish_swap(zone: &Path) {
    let (rootfs, new, old) = (zone.join("rootfs"), zone.join(NEW_ROOTFS), zone.join(OLD_ROOTFS));
    if !rootfs.exists()
        && new.exists()
        && let Err(e) = std::fs::rename(&new, &rootfs)
    {
        tracing::error!(zone = %zone.display(), error = %e, "finishing a rollback");
    }
    if !rootfs.exists() && old.exists() {
        let _ = std::fs::rename(&old, &rootfs);
    }
    remove_tree(&new).await;
    if rootfs.exists() {
        remove_tree(&old).await;
    }
}

/// Where a zone's snapshots live.
pub fn dir(zone: &Path) -> PathBuf {
    zone.join("snapshots")
}

/// The snapshots that exist on disk (the tree drops the others).
pub fn existing(zone: &Path) -> Vec<(String, u64)> {
    let Ok(entries) = std::fs::read_dir(dir(zone)) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.path().join("rootfs").is_dir())
        .filter_map(|e| e.file_name().into_string().ok().map(|n| (n, 0)))
        .collect()
}

/// Copies a root filesystem with `cp -a --reflink=auto`; what was half copied goes again.
pub async fn copy_tree(exec: &dyn HostExec, from: &Path, to: &Path) -> Result<(), BridgeError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let args =
        vec!["-a".into(), "--reflink=auto".into(), from.display().to_string(), to.display().to_string()];
    let out = exec.run("cp", &args).await?;
    if out.success {
        return Ok(());
    }
    remove_tree(to).await;
    Err(BridgeError::Host(format!("copying the zone's files failed: {}", out.stderr_tail())))
}

/// Removes a copied tree (never following its symlinks).
pub async fn remove_tree(path: &Path) {
    let path = path.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), error = %e, "removing a zone's copied files")
        }
        _ => {}
    })
    .await;
}

impl LxcDriver {
    pub(super) fn snapshot_meta_path(&self, id: MachineId) -> PathBuf {
        self.dir(id).join("snapshots.json")
    }

    /// The tree, cleaned of snapshots whose files are gone.
    pub(super) fn snapshot_meta(&self, id: MachineId) -> Result<SnapshotMeta, BridgeError> {
        let mut meta = SnapshotMeta::load(&self.snapshot_meta_path(id));
        let before = meta.clone();
        meta.retain_existing(&existing(&self.dir(id)));
        if meta != before {
            meta.save(&self.snapshot_meta_path(id))?;
        }
        Ok(meta)
    }

    pub(super) fn snapshot_view(&self, id: MachineId, name: &str) -> Result<BridgeSnapshot, BridgeError> {
        self.snapshot_meta(id)?
            .view(&[])
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| BridgeError::Host(format!("snapshot {name} vanished after it was taken")))
    }

    pub(super) async fn snap_list(&self, id: MachineId) -> Result<Vec<BridgeSnapshot>, BridgeError> {
        self.record(id)?;
        Ok(self.snapshot_meta(id)?.view(&[]))
    }

    /// A copy of the zone's files, frozen while it is taken if the zone runs.
    pub(super) async fn snap_create(
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
            self.freeze(id, "freezing the zone for its snapshot").await?;
        }
        let zone = self.dir(id);
        let target = dir(&zone).join(&req.name).join("rootfs");
        let copied = self.storage.copy(&*self.exec, &zone.join("rootfs"), &target, record.disk_gib).await;
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
    pub(super) async fn snap_rollback(
        &self,
        id: MachineId,
        name: &str,
    ) -> Result<BridgeMachine, BridgeError> {
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
        // (`finish_swap` completes or undoes a swap a crash cut short).
        let zone = self.dir(id);
        let from = dir(&zone).join(name).join("rootfs");
        let new = zone.join(NEW_ROOTFS);
        self.storage.remove(&*self.exec, &new).await;
        self.storage.copy(&*self.exec, &from, &new, record.disk_gib).await?;
        std::fs::rename(zone.join("rootfs"), zone.join(OLD_ROOTFS))?;
        std::fs::rename(zone.join(NEW_ROOTFS), zone.join("rootfs"))?;
        // The root from before may lack the guest data: written again at the next start.
        guest::forget_seeded(&zone);
        self.storage.remove(&*self.exec, &zone.join(OLD_ROOTFS)).await;
        meta.current = Some(name.to_string());
        meta.save(&self.snapshot_meta_path(id))?;
        if was_running { self.start(id).await } else { self.record(id) }
    }

    pub(super) async fn snap_delete(&self, id: MachineId, name: &str) -> Result<(), BridgeError> {
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let mut meta = self.snapshot_meta(id)?;
        if meta.get(name).is_none() {
            return Err(BridgeError::SnapshotNotFound(name.to_string()));
        }
        self.storage.remove(&*self.exec, &dir(&self.dir(id)).join(name)).await;
        meta.remove(name);
        meta.save(&self.snapshot_meta_path(id))?;
        Ok(())
    }

    /// A new, stopped zone whose files start as the snapshot's.
    pub(super) async fn snap_clone(
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
        let record = crate::driver::clone_record(&source, &req);
        self.store.save(&record)?;
        self.lock().insert(record.id, Zone::new(record.clone()));
        let _ = self.events.send(BridgeEvent::MachineChanged { machine: record.clone() });
        drop(admission);
        let from = dir(&self.dir(id)).join(name).join("rootfs");
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
}
