//! Snapshots of zones: copies of the root filesystem in `<zone>/snapshots/<name>/rootfs`,
//! made with `cp -a --reflink=auto` (every owner, mode, link and extended attribute kept;
//! copy-on-write and near instant where the filesystem shares extents, btrfs or XFS, and a
//! full copy elsewhere), and the tree in `snapshots.json`.
//!
//! LXC's own `lxc-snapshot` refuses a running directory-backed container, so the bridge
//! copies itself: a running zone is frozen while its files are copied, which makes the copy
//! what a power cut at that moment would leave (zones have no RAM to save). A rollback puts
//! the copy back in place of the root filesystem, with the zone stopped (a running one is
//! killed and started again on the snapshot's files).

use std::path::{Path, PathBuf};

use crate::error::BridgeError;
use crate::host::HostExec;

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
