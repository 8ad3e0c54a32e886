//! Where zones' root filesystems live, the fastest the node can use: btrfs subvolumes when
//! the zones directory is on btrfs with quotas (`up.sh` makes one on a loop file), else an
//! overlayfs layer over each zone's image, else plain directories.
//!
//! On btrfs a root filesystem is a subvolume held to the zone's disk size by its qgroup's
//! limit on referenced bytes (a write past it fails with EDQUOT inside the zone); a snapshot,
//! a rollback's copy and a clone are writable subvolume snapshots, made in milliseconds
//! whatever the size.
//!
//! On overlayfs a zone's `base/` holds its image's files, never written again, and `rootfs/`
//! is the overlay's upper layer: only what the zone changed (a deleted file is a whiteout
//! there). LXC mounts the two as one (`overlay:<base>:<rootfs>`, its work directory beside
//! them in `olwork/`). So a snapshot, a rollback's copy and a clone copy the changes alone,
//! not the image; a clone's `base/` is hard links to its source's (the files are never
//! written, so sharing them is safe, and either zone can go first).
//!
//! In a directory, copies are `cp -a --reflink=auto` of the whole tree. On overlayfs and in
//! directories the disk size is not enforced: the zone's facts say which storage it has
//! (`ZoneStorage`), and the machine page shows it.
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

/// A zone's image files under overlayfs (its `rootfs/` holds only its changes).
pub const BASE: &str = "base";
/// The directory a probe of overlayfs mounts in, under the zones directory.
const OVERLAY_PROBE: &str = ".overlay-probe";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    Dir,
    /// The image below, the zone's changes above.
    Overlay,
    /// Subvolumes on the btrfs filesystem holding the zones directory, quotas on.
    Btrfs {
        root: PathBuf,
    },
}

impl Storage {
    /// The storage `wanted`, or when unset the fastest `root` (the zones directory) allows:
    /// btrfs with quotas, else overlayfs, else directories. Said in the log, since sizes hold
    /// on btrfs alone. A storage asked for that cannot be used is an error saying why.
    pub async fn detect(
        exec: &dyn HostExec,
        root: &Path,
        wanted: Option<ZoneStorage>,
    ) -> Result<Storage, BridgeError> {
        let zones = root.display();
        if matches!(wanted, None | Some(ZoneStorage::Btrfs)) {
            match btrfs_usable(exec, root).await {
                Ok(()) => {
                    tracing::info!(%zones, "zones are btrfs subvolumes, held to their disk sizes");
                    return Ok(Storage::Btrfs { root: root.to_path_buf() });
                }
                Err(why) if wanted.is_some() => return Err(BridgeError::Host(why)),
                Err(why) => tracing::info!(%zones, "not btrfs: {why}"),
            }
        }
        if matches!(wanted, None | Some(ZoneStorage::Overlay)) {
            match overlay_usable(exec, root).await {
                Ok(()) => {
                    tracing::info!(%zones, "zones are overlayfs layers over their images: disk sizes are not enforced");
                    return Ok(Storage::Overlay);
                }
                Err(why) if wanted.is_some() => return Err(BridgeError::Host(why)),
                Err(why) => tracing::info!(%zones, "not overlayfs: {why}"),
            }
        }
        tracing::info!(%zones, "zones are directories: their disk sizes are not enforced");
        Ok(Storage::Dir)
    }

    pub fn kind(&self) -> ZoneStorage {
        match self {
            Storage::Dir => ZoneStorage::Dir,
            Storage::Overlay => ZoneStorage::Overlay,
            Storage::Btrfs { .. } => ZoneStorage::Btrfs,
        }
    }

    /// An empty root filesystem at `path`, held to `disk_gib`.
    pub async fn create(&self, exec: &dyn HostExec, path: &Path, disk_gib: u64) -> Result<(), BridgeError> {
        match self {
            Storage::Dir | Storage::Overlay => Ok(std::fs::create_dir_all(path)?),
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
            // On overlayfs `from` is the changes alone: copying them is the whole point.
            Storage::Dir | Storage::Overlay => super::snapshots::copy_tree(exec, from, to).await,
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
            Storage::Dir | Storage::Overlay => Ok(()),
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

/// Turns the zones filesystem's quotas on, or says why btrfs cannot hold zones to sizes.
async fn btrfs_usable(exec: &dyn HostExec, root: &Path) -> Result<(), String> {
    if !rustix::fs::statfs(root).is_ok_and(|s| s.f_type as u64 == BTRFS_MAGIC) {
        return Err(format!("{} is not on a btrfs filesystem", root.display()));
    }
    run(exec, &["quota", "enable", &root.display().to_string()])
        .await
        .map_err(|e| format!("btrfs quotas cannot be enabled on {}: {e}", root.display()))
}

/// Mounts a throwaway overlay in the zones directory and takes it down again: the kernel may
/// lack overlayfs, or refuse this filesystem as an upper layer (an overlay root, NFS) or
/// the mount itself (no privilege), and each shows only when tried.
async fn overlay_usable(exec: &dyn HostExec, root: &Path) -> Result<(), String> {
    let known = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !known.lines().any(|l| l.split_whitespace().last() == Some("overlay")) {
        return Err("the kernel has no overlay filesystem".into());
    }
    let probe = root.join(OVERLAY_PROBE);
    let _ = std::fs::remove_dir_all(&probe);
    let dirs = ["lower", "upper", "work", "merged"].map(|d| probe.join(d));
    let tried = async {
        for d in &dirs {
            std::fs::create_dir_all(d).map_err(|e| format!("making {}: {e}", d.display()))?;
        }
        let [lower, upper, work, merged] = dirs.each_ref().map(|d| d.display().to_string());
        let options = format!("lowerdir={lower},upperdir={upper},workdir={work}");
        let args = ["-t", "overlay", "overlay", "-o", &options, &merged].map(String::from);
        let out = exec.run("mount", &args).await.map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.success {
            return Err(format!("an overlay mount in {} fails: {}", root.display(), out.stderr_tail()));
        }
        let out = exec.run("umount", &[merged]).await.map_err(|e| format!("cannot run umount: {e}"))?;
        if out.success {
            Ok(())
        } else {
            Err(format!("the probe overlay stays mounted: {}", out.stderr_tail()))
        }
    }
    .await;
    let _ = std::fs::remove_dir_all(&probe);
    tried
}

/// Turns a freshly unpacked `<zone>/rootfs` into the overlay's lower layer `<zone>/base`,
/// with an empty upper layer in its place (owned and moded as the image's root, which the
/// overlay's root directory takes from the upper layer).
pub fn lay_over_base(zone: &Path) -> Result<(), BridgeError> {
    use std::os::unix::fs::MetadataExt;
    let (rootfs, base) = (zone.join("rootfs"), zone.join(BASE));
    std::fs::rename(&rootfs, &base)?;
    let meta = std::fs::metadata(&base)?;
    std::fs::create_dir(&rootfs)?;
    std::os::unix::fs::chown(&rootfs, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(&rootfs, meta.permissions())?;
    Ok(())
}

/// Gives the zone `to` the image files of `from` as hard links: a copy of the tree's
/// directories, no file copied (overlayfs never writes its lower layer).
pub async fn link_base(exec: &dyn HostExec, from: &Path, to: &Path) -> Result<(), BridgeError> {
    let (from, to) = (from.join(BASE), to.join(BASE));
    let args = ["-a", "-l"].into_iter().map(String::from);
    let args: Vec<String> = args.chain([from.display().to_string(), to.display().to_string()]).collect();
    let out = exec.run("cp", &args).await?;
    if out.success {
        return Ok(());
    }
    super::snapshots::remove_tree(&to).await;
    Err(BridgeError::Host(format!("linking the image's files into the clone failed: {}", out.stderr_tail())))
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
        let asked = Storage::detect(&exec, dir.path(), Some(ZoneStorage::Dir)).await.unwrap();
        assert_eq!(asked, Storage::Dir);
        let root = dir.path().join("z/rootfs");
        Storage::Dir.create(&exec, &root, 1).await.unwrap();
        Storage::Dir.limit(&exec, &root, 1).await.unwrap();
        assert!(root.is_dir());
        assert!(exec.log.lock().unwrap().is_empty(), "nothing probed or run on directories");
    }

    #[tokio::test]
    async fn unasked_the_fastest_storage_that_works_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // tmp is not btrfs here; the fake mount works, so overlayfs it is, once probed.
        let exec = FakeExec::default();
        assert_eq!(Storage::detect(&exec, root, None).await.unwrap(), Storage::Overlay);
        let ran: Vec<String> = exec.commands().into_iter().map(|c| c.join(" ")).collect();
        let p = root.join(OVERLAY_PROBE).display().to_string();
        assert_eq!(
            ran,
            [
                format!(
                    "mount -t overlay overlay -o lowerdir={p}/lower,upperdir={p}/upper,workdir={p}/work {p}/merged"
                ),
                format!("umount {p}/merged"),
            ]
        );
        assert!(!root.join(OVERLAY_PROBE).exists(), "the probe's directories go");

        // A filesystem refused as an upper layer: directories.
        let exec = FakeExec::default();
        exec.answer("mount", CmdOutput::failed("mount: wrong fs type, bad option, bad superblock"));
        assert_eq!(Storage::detect(&exec, root, None).await.unwrap(), Storage::Dir);
        assert!(!root.join(OVERLAY_PROBE).exists());
    }

    #[tokio::test]
    async fn a_storage_asked_for_that_cannot_work_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let exec = FakeExec::default();
        exec.answer("mount", CmdOutput::failed("mount: permission denied"));
        let e = Storage::detect(&exec, dir.path(), Some(ZoneStorage::Overlay)).await.unwrap_err();
        assert!(
            e.to_string().contains("overlay mount") && e.to_string().contains("permission denied"),
            "{e}"
        );
        let e = Storage::detect(&exec, dir.path(), Some(ZoneStorage::Btrfs)).await.unwrap_err();
        assert!(e.to_string().contains("not on a btrfs filesystem"), "{e}");
    }

    #[tokio::test]
    async fn an_overlay_zone_keeps_its_image_below_and_a_clone_links_it() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("a");
        std::fs::create_dir_all(zone.join("rootfs/bin")).unwrap();
        std::fs::write(zone.join("rootfs/bin/sh"), "#!").unwrap();
        std::fs::set_permissions(zone.join("rootfs"), std::fs::Permissions::from_mode(0o711)).unwrap();
        lay_over_base(&zone).unwrap();
        assert!(zone.join("base/bin/sh").is_file(), "the image is the lower layer");
        assert_eq!(std::fs::read_dir(zone.join("rootfs")).unwrap().count(), 0, "no changes yet");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&zone.join("rootfs")), 0o711, "the merged root looks as the image's");

        let exec = FakeExec::default();
        let clone = dir.path().join("b");
        link_base(&exec, &zone, &clone).await.unwrap();
        let (from, to) = (zone.join("base").display().to_string(), clone.join("base").display().to_string());
        assert_eq!(exec.commands(), [vec!["cp".to_string(), "-a".into(), "-l".into(), from, to]]);

        exec.answer("cp", CmdOutput::failed("cp: cannot create hard link: Invalid cross-device link"));
        std::fs::create_dir_all(clone.join("base/half")).unwrap();
        let e = link_base(&exec, &zone, &clone).await.unwrap_err();
        assert!(e.to_string().contains("cross-device"), "{e}");
        assert!(!clone.join("base").exists(), "a half-linked base goes");
    }
}
