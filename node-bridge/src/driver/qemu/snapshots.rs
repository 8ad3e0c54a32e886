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

use serde_json::{Value, json};

use crate::error::BridgeError;
use crate::host::HostExec;
use crate::qmp::Qmp;

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
