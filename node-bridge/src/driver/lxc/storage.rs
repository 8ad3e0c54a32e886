//! Where zones' root filesystems live: plain directories, or btrfs subvolumes when the zones
//! directory is on btrfs with quotas (`up.sh` makes one on a loop file).
//!
//! On btrfs a root filesystem is a subvolume held to the zone's disk size by its qgroup's
//! limit on referenced bytes (a write past it fails with EDQUOT inside the zone); a snapshot,
//! a rollback's copy and a clone are writable subvolume snapshots, made in milliseconds
//! whatever the size. In a directory, copies are `cp -a --reflink=auto` and the size is not
//! enforced: the zone's facts say which (`ZoneStorage`), and the machine page shows it.
//!
//! Everything goes through `btrfs` from btrfs-progs on the `HostExec` seam. A subvolume is
//! removed like a directory (root may `rmdir` an empty subvolume), so clean-up after a crash
//! needs no btrfs call; the qgroups deleted subvolumes leave are cleared as they go.

use std::path::{Path, PathBuf};

use corral_api::spec::ZoneStorage;

use crate::error::BridgeError;
use crate::host::HostExec;

/// `statfs`'s `f_type` of btrfs.
const BTRFS_MAGIC: u64 = 0x9123_683E;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    Dir,
    /// Subvolumes on the btrfs filesystem holding the zones directory, quotas on.
    Btrfs {
        root: PathBuf,
    },
}

impl Storage {
    /// Btrfs subvolumes when `root` (the zones directory) is on btrfs and its quotas can be
    /// turned on; directories otherwise (said in the log, since sizes then do not hold).
    pub async fn detect(exec: &dyn HostExec, root: &Path) -> Storage {
        let on_btrfs = rustix::fs::statfs(root).is_ok_and(|s| s.f_type as u64 == BTRFS_MAGIC);
        if !on_btrfs {
            tracing::info!(zones = %root.display(), "zones are directories: their disk sizes are not enforced");
            return Storage::Dir;
        }
        match run(exec, &["quota", "enable", &root.display().to_string()]).await {
            Ok(()) => {
                tracing::info!(zones = %root.display(), "zones are btrfs subvolumes, held to their disk sizes");
                Storage::Btrfs { root: root.to_path_buf() }
            }
            Err(e) => {
                tracing::warn!(zones = %root.display(), error = %e, "btrfs quotas cannot be enabled: zones are directories, sizes not enforced");
                Storage::Dir
            }
        }
    }

    pub fn kind(&self) -> ZoneStorage {
        match self {
            Storage::Dir => ZoneStorage::Dir,
            Storage::Btrfs { .. } => ZoneStorage::Btrfs,
        }
    }

    /// An empty root filesystem at `path`, held to `disk_gib`.
    pub async fn create(&self, exec: &dyn HostExec, path: &Path, disk_gib: u64) -> Result<(), BridgeError> {
        match self {
            Storage::Dir => Ok(std::fs::create_dir_all(path)?),
            Storage::Btrfs { .. } => {
                run(exec, &["subvolume", "create", &path.display().to_string()]).await?;
                self.limit(exec, path, disk_gib).await
            }
        }
    }

    /// A copy of the root filesystem `from` at `to`, held to `disk_gib`; what was half made
    /// goes again.
    pub async fn copy(
        &self,
        exec: &dyn HostExec,
        from: &Path,
        to: &Path,
        disk_gib: u64,
    ) -> Result<(), BridgeError> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let made = match self {
            Storage::Dir => super::snapshots::copy_tree(exec, from, to).await,
            Storage::Btrfs { .. } => {
                let args = ["subvolume", "snapshot", &from.display().to_string(), &to.display().to_string()];
                match run(exec, &args).await {
                    Ok(()) => self.limit(exec, to, disk_gib).await,
                    Err(e) => Err(e),
                }
            }
        };
        if made.is_err() {
            self.remove(exec, to).await;
        }
        made
    }

    /// Sets the size `path` is held to (nothing on directories).
    pub async fn limit(&self, exec: &dyn HostExec, path: &Path, disk_gib: u64) -> Result<(), BridgeError> {
        match self {
            Storage::Dir => Ok(()),
            Storage::Btrfs { .. } => {
                run(exec, &["qgroup", "limit", &format!("{disk_gib}G"), &path.display().to_string()]).await
            }
        }
    }

    /// Removes a root filesystem or a directory holding some (subvolumes go like
    /// directories), then the qgroups of deleted subvolumes.
    pub async fn remove(&self, exec: &dyn HostExec, path: &Path) {
        super::snapshots::remove_tree(path).await;
        self.clear_stale(exec).await;
    }

    /// Drops the qgroups of subvolumes that are gone (btrfs keeps them until asked; one
    /// whose blocks are still being freed goes at a later call).
    pub async fn clear_stale(&self, exec: &dyn HostExec) {
        if let Storage::Btrfs { root } = self
            && let Err(e) = run(exec, &["qgroup", "clear-stale", &root.display().to_string()]).await
        {
            tracing::debug!(error = %e, "clearing the qgroups of deleted subvolumes");
        }
    }
}

/// Runs `btrfs args…`, which must succeed.
async fn run(exec: &dyn HostExec, args: &[&str]) -> Result<(), BridgeError> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out =
        exec.run("btrfs", &args).await.map_err(|e| BridgeError::Host(format!("cannot run btrfs: {e}")))?;
    if out.success {
        Ok(())
    } else {
        Err(BridgeError::Host(format!("btrfs {} failed: {}", args[..2].join(" "), out.stderr_tail())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{CmdOutput, FakeExec};

    #[tokio::test]
    async fn btrfs_storage_makes_subvolumes_held_to_the_disk_size() {
        let exec = FakeExec::default();
        let s = Storage::Btrfs { root: "/z".into() };
        s.create(&exec, Path::new("/z/a/rootfs"), 4).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("snapshots/s1/rootfs");
        s.copy(&exec, Path::new("/z/a/rootfs"), &to, 4).await.unwrap();
        let to = to.display().to_string();
        let ran: Vec<String> = exec.log.lock().unwrap().drain(..).map(|c| c.join(" ")).collect();
        assert_eq!(
            ran,
            [
                "btrfs subvolume create /z/a/rootfs".to_string(),
                "btrfs qgroup limit 4G /z/a/rootfs".into(),
                format!("btrfs subvolume snapshot /z/a/rootfs {to}"),
                format!("btrfs qgroup limit 4G {to}"),
            ]
        );
        assert!(dir.path().join("snapshots/s1").is_dir(), "the snapshot's directory is made first");
    }

    #[tokio::test]
    async fn a_failed_btrfs_copy_leaves_nothing_and_says_why() {
        let exec = FakeExec::default();
        exec.answer("btrfs", CmdOutput::failed("ERROR: Could not create subvolume: No space left on device"));
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("clone/rootfs");
        std::fs::create_dir_all(&to).unwrap();
        let s = Storage::Btrfs { root: dir.path().into() };
        let e = s.copy(&exec, Path::new("/z/a/rootfs"), &to, 1).await.unwrap_err();
        assert!(e.to_string().contains("No space left"), "{e}");
        assert!(!to.exists());
    }

    #[tokio::test]
    async fn directories_are_plain_and_hold_no_size() {
        let exec = FakeExec::default();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Storage::detect(&exec, dir.path()).await, Storage::Dir, "tmp is not btrfs here");
        let root = dir.path().join("z/rootfs");
        Storage::Dir.create(&exec, &root, 1).await.unwrap();
        Storage::Dir.limit(&exec, &root, 1).await.unwrap();
        assert!(root.is_dir());
        assert!(exec.log.lock().unwrap().is_empty(), "no btrfs call on directories");
    }
}
