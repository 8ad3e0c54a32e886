//! Snapshots of a VM: qcow2 internal snapshots beside its disk, and `snapshots.json` for
//! what qcow2 does not keep — the tree (each snapshot's parent), which one is current, and
//! whether it holds RAM.
//!
//! Stopped VMs go through `qemu-img snapshot`; running ones through QEMU's monitor: `savevm`
//! / `loadvm` / `delvm` (RAM and disk together), and `blockdev-snapshot-internal-sync` for a
//! disk-only snapshot of a running disk. The metadata is written only after QEMU says yes,
//! and entries qcow2 no longer has are dropped when listing, so a failed step (a full disk,
//! say) leaves the tree as it was and the machine usable.

use std::path::Path;

use corral_api::MachineId;
use corral_api::bridge::{BridgeMachine, BridgeSnapshot, BridgeSnapshotClone, BridgeSnapshotCreate};
use serde_json::{Value, json};

use crate::error::BridgeError;
use crate::host::HostExec;
use crate::qmp::Qmp;
use crate::time_fmt::now_rfc3339;

/// The snapshots qcow2 holds, with their saved-state sizes. `-U` reads a disk that a running
/// QEMU has open.
pub async fn qcow2_snapshots(
    exec: &dyn HostExec,
    qemu_img: &str,
    disk: &Path,
) -> Result<Vec<(String, u64)>, BridgeError> {
    let args = vec!["info".into(), "-U".into(), "--output=json".into(), disk.display().to_string()];
    let out = exec.run(qemu_img, &args).await?;
    if !out.success {
        return Err(BridgeError::Host(format!("reading snapshots failed: {}", out.stderr_tail())));
    }
    let info: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| BridgeError::Host(format!("qemu-img info answered no JSON: {e}")))?;
    Ok(info["snapshots"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    Some((s["name"].as_str()?.to_string(), s["vm-state-size"].as_u64().unwrap_or(0)))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The snapshots of a running VM's disk, asked of QEMU itself (no process to spawn).
pub async fn running_snapshots(qmp: &Qmp) -> Result<Vec<(String, u64)>, BridgeError> {
    let nodes = qmp
        .execute("query-named-block-nodes", json!({ "flat": true }))
        .await
        .map_err(|e| BridgeError::Host(format!("reading snapshots failed: {e}")))?;
    let disk = nodes
        .as_array()
        .and_then(|list| list.iter().find(|n| n["node-name"] == "disk0"))
        .ok_or_else(|| BridgeError::Host("QEMU does not report the disk".into()))?;
    Ok(disk["image"]["snapshots"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    Some((s["name"].as_str()?.to_string(), s["vm-state-size"].as_u64().unwrap_or(0)))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// `qemu-img snapshot <flag> <name> <disk>` on a stopped VM: `-c` create, `-a` apply, `-d`
/// delete.
pub async fn offline(
    exec: &dyn HostExec,
    qemu_img: &str,
    flag: &str,
    name: &str,
    disk: &Path,
) -> Result<(), BridgeError> {
    let args = vec!["snapshot".into(), flag.into(), name.into(), disk.display().to_string()];
    let out = exec.run(qemu_img, &args).await?;
    if out.success {
        Ok(())
    } else {
        Err(BridgeError::Host(format!("qemu-img snapshot {flag} {name} failed: {}", out.stderr_tail())))
    }
}

const HMP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// A human monitor command through QMP. HMP reports failure as text, not as a QMP error.
pub async fn hmp(qmp: &Qmp, command: &str) -> Result<(), BridgeError> {
    // savevm/loadvm copy all of RAM; on a big guest on slow storage that takes minutes, and
    // giving up early would release the busy lock while QEMU still works.
    let out = qmp
        .execute_within("human-monitor-command", json!({ "command-line": command }), HMP_TIMEOUT)
        .await
        .map_err(|e| BridgeError::Host(format!("{command}: {e}")))?;
    let text = out.as_str().unwrap_or("").trim();
    if text.to_ascii_lowercase().contains("error") {
        Err(BridgeError::Host(format!("{command}: {text}")))
    } else {
        Ok(())
    }
}

/// A disk-only snapshot of a running VM's disk.
pub async fn disk_only_running(qmp: &Qmp, node: &str, name: &str) -> Result<(), BridgeError> {
    qmp.execute("blockdev-snapshot-internal-sync", json!({ "device": node, "name": name }))
        .await
        .map(|_| ())
        .map_err(|e| BridgeError::Host(format!("snapshot {name}: {e}")))
}

/// The driver's snapshot operations, each under the VM's snapshot lock (one at a time).
impl super::QemuDriver {
    pub(super) async fn snap_list(&self, id: MachineId) -> Result<Vec<BridgeSnapshot>, BridgeError> {
        self.record(id)?;
        let (meta, sizes) = self.snapshot_state(id).await?;
        Ok(meta.view(&sizes))
    }

    pub(super) async fn snap_create(
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
            (Some(qmp), true) => hmp(&qmp, &format!("savevm {}", req.name)).await?,
            (Some(qmp), false) => disk_only_running(&qmp, "disk0", &req.name).await?,
            (None, true) => {
                return Err(BridgeError::Validation {
                    field: "ram",
                    message: "RAM state can only be saved from a running machine".into(),
                });
            }
            (None, false) => offline(&*self.exec, &self.config.qemu_img, "-c", &req.name, &disk).await?,
        }
        meta.add(&req.name, req.ram, now_rfc3339());
        meta.save(&self.snapshot_meta_path(id))?;
        let (meta, sizes) = self.snapshot_state(id).await?;
        meta.view(&sizes)
            .into_iter()
            .find(|s| s.name == req.name)
            .ok_or_else(|| BridgeError::Host(format!("snapshot {} vanished after it was taken", req.name)))
    }

    pub(super) async fn snap_rollback(
        &self,
        id: MachineId,
        name: &str,
    ) -> Result<BridgeMachine, BridgeError> {
        let _snap = self.snap_guard(id)?;
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let (mut meta, _) = self.snapshot_state(id).await?;
        let entry = meta.get(name).cloned().ok_or_else(|| BridgeError::SnapshotNotFound(name.to_string()))?;
        match self.qmp(id) {
            Some(qmp) if entry.ram => hmp(&qmp, &format!("loadvm {name}")).await?,
            Some(_) => {
                return Err(BridgeError::Conflict(format!(
                    "snapshot {name} holds no RAM state: stop the machine to roll its disk back"
                )));
            }
            None => {
                let disk = self.paths(id).disk();
                offline(&*self.exec, &self.config.qemu_img, "-a", name, &disk).await?;
            }
        }
        meta.current = Some(name.to_string());
        meta.save(&self.snapshot_meta_path(id))?;
        self.record(id)
    }

    pub(super) async fn snap_delete(&self, id: MachineId, name: &str) -> Result<(), BridgeError> {
        let _snap = self.snap_guard(id)?;
        let op = self.op_lock(id)?;
        let _op = op.lock().await;
        let (mut meta, _) = self.snapshot_state(id).await?;
        if meta.get(name).is_none() {
            return Err(BridgeError::SnapshotNotFound(name.to_string()));
        }
        match self.qmp(id) {
            Some(qmp) => hmp(&qmp, &format!("delvm {name}")).await?,
            None => {
                let disk = self.paths(id).disk();
                offline(&*self.exec, &self.config.qemu_img, "-d", name, &disk).await?;
            }
        }
        meta.remove(name);
        meta.save(&self.snapshot_meta_path(id))?;
        Ok(())
    }

    pub(super) async fn snap_clone(
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
        let record = self.register_creating(crate::driver::clone_record(&source, &req))?;
        drop(admission);
        self.seed_new(record.id, req.init.as_ref()).await?;

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
