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

use corral_api::bridge::BridgeSnapshot;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::BridgeError;
use crate::host::HostExec;
use crate::qmp::Qmp;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub current: Option<String>,
    pub snapshots: Vec<SnapshotEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    pub name: String,
    pub parent: Option<String>,
    pub ram: bool,
    pub created_at: String,
}

impl SnapshotMeta {
    pub fn load(path: &Path) -> SnapshotMeta {
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Written atomically: a temp file renamed over the old one.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }

    pub fn get(&self, name: &str) -> Option<&SnapshotEntry> {
        self.snapshots.iter().find(|s| s.name == name)
    }

    /// Records a new snapshot as a child of the current one, and makes it current.
    pub fn add(&mut self, name: &str, ram: bool, created_at: String) {
        self.snapshots.push(SnapshotEntry {
            name: name.into(),
            parent: self.current.clone(),
            ram,
            created_at,
        });
        self.current = Some(name.into());
    }

    /// Removes a snapshot; its children hang from its parent from now on.
    pub fn remove(&mut self, name: &str) {
        let Some(gone) = self.get(name).cloned() else { return };
        self.snapshots.retain(|s| s.name != name);
        for s in &mut self.snapshots {
            if s.parent.as_deref() == Some(name) {
                s.parent = gone.parent.clone();
            }
        }
        if self.current.as_deref() == Some(name) {
            self.current = gone.parent;
        }
    }

    /// Drops entries whose qcow2 snapshot does not exist (a step that failed half-way).
    pub fn retain_existing(&mut self, existing: &[(String, u64)]) {
        let gone: Vec<String> = self
            .snapshots
            .iter()
            .filter(|s| !existing.iter().any(|(n, _)| n == &s.name))
            .map(|s| s.name.clone())
            .collect();
        for name in gone {
            self.remove(&name);
        }
    }

    pub fn view(&self, sizes: &[(String, u64)]) -> Vec<BridgeSnapshot> {
        self.snapshots
            .iter()
            .map(|s| BridgeSnapshot {
                name: s.name.clone(),
                parent: s.parent.clone(),
                current: self.current.as_deref() == Some(s.name.as_str()),
                ram: s.ram,
                vm_state_bytes: sizes.iter().find(|(n, _)| n == &s.name).map_or(0, |(_, b)| *b),
                created_at: s.created_at.clone(),
            })
            .collect()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_follows_creates_and_deletes() {
        let mut m = SnapshotMeta::default();
        m.add("a", false, "t1".into());
        m.add("b", true, "t2".into());
        m.current = Some("a".into()); // rolled back to a
        m.add("c", false, "t3".into());
        assert_eq!(m.get("b").unwrap().parent.as_deref(), Some("a"));
        assert_eq!(m.get("c").unwrap().parent.as_deref(), Some("a"));
        m.remove("a");
        assert_eq!(m.get("b").unwrap().parent, None);
        assert_eq!(m.get("c").unwrap().parent, None);
        assert_eq!(m.current.as_deref(), Some("c"));
        m.remove("c");
        assert_eq!(m.current, None, "deleting the current one makes its parent current");
        let view = m.view(&[("b".into(), 42)]);
        assert_eq!((view[0].name.as_str(), view[0].vm_state_bytes, view[0].ram), ("b", 42, true));
    }

    #[test]
    fn entries_qcow2_lost_are_dropped() {
        let mut m = SnapshotMeta::default();
        m.add("a", false, "t".into());
        m.add("b", false, "t".into());
        m.retain_existing(&[("a".into(), 0)]);
        assert_eq!(m.snapshots.len(), 1);
        assert_eq!(m.current.as_deref(), Some("a"));
    }
}
