//! A zone's guest data, written into its root while it is stopped (just before it starts):
//! where cloud-init is installed, its NoCloud seed (`/var/lib/cloud/seed/nocloud/`);
//! where it is not, the SSH keys added to root's `authorized_keys` and the hostname put in
//! `/etc/hostname` (LXC sets the running hostname from the zone's config).
//!
//! A zone's root is its tenant's to shape: links, device nodes, FIFOs, huge sparse files.
//! The bridge runs as root on the node, so every step here goes through directory file
//! descriptors opened one component at a time with `O_NOFOLLOW | O_DIRECTORY` (a link in
//! the path is refused, never followed); an existing entry is never opened for writing (a
//! new file is made beside it, `O_EXCL`, and renamed over it, so a device node or FIFO in
//! its place is replaced, not written into); a file is read only if it is a regular one of
//! at most [`READ_MAX`] bytes, opened without blocking. On overlay storage a whiteout (a
//! character device 0:0) in the zone's layer means the file was deleted: the image beneath
//! is not read for it.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use corral_api::guest::GuestInit;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::error::BridgeError;

/// Where cloud-init's NoCloud datasource reads its seed, inside the root.
pub const NOCLOUD_DIR: &str = "var/lib/cloud/seed/nocloud";

/// The largest file of the zone's that is read (an `authorized_keys`).
pub const READ_MAX: u64 = 1 << 20;

fn refused(what: &str, e: impl std::fmt::Display) -> BridgeError {
    BridgeError::Conflict(format!("{what} in the zone: {e}; links, devices and such are not followed"))
}

fn open_root(root: &Path) -> Result<OwnedFd, BridgeError> {
    rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| BridgeError::Host(format!("opening the zone's root {}: {e}", root.display())))
}

/// The folder `rel` under the directory `dir`, each part opened without following links;
/// with `make`, missing parts are made (mode 0755).
fn dir_at(dir: &OwnedFd, rel: &str, make: bool) -> Result<Option<OwnedFd>, BridgeError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut at = rustix::io::dup(dir).map_err(|e| BridgeError::Host(e.to_string()))?;
    for part in Path::new(rel).components() {
        let Component::Normal(part) = part else {
            return Err(BridgeError::Host(format!("{rel} is not a plain path")));
        };
        let next = match rustix::fs::openat(&at, part, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if make => {
                rustix::fs::mkdirat(&at, part, Mode::from_bits_truncate(0o755))
                    .map_err(|e| refused(&format!("/{rel}"), e))?;
                rustix::fs::openat(&at, part, flags, Mode::empty())
                    .map_err(|e| refused(&format!("/{rel}"), e))?
            }
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(refused(&format!("/{rel}"), e)),
        };
        at = next;
    }
    Ok(Some(at))
}

/// What the entry `name` in `dir` is, without following it: `None` when there is none or it
/// is a whiteout.
fn kind_of(dir: &OwnedFd, name: &str) -> Option<FileType> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    let kind = FileType::from_raw_mode(st.st_mode);
    let whiteout = kind == FileType::CharacterDevice && st.st_rdev == 0;
    (!whiteout).then_some(kind)
}

/// Reads the regular file `name` in `dir`: `Ok(None)` when there is none.
fn read_file(dir: &OwnedFd, name: &str) -> Result<Option<String>, BridgeError> {
    match kind_of(dir, name) {
        None => return Ok(None),
        Some(FileType::RegularFile) => {}
        Some(_) => return Err(refused(name, "not a regular file")),
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty()).map_err(|e| refused(name, e))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| refused(name, e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(refused(name, "not a regular file"));
    }
    if st.st_size as u64 > READ_MAX {
        return Err(refused(name, format!("larger than {READ_MAX} bytes")));
    }
    let mut text = String::new();
    std::fs::File::from(fd).take(READ_MAX).read_to_string(&mut text).map_err(|e| refused(name, e))?;
    Ok(Some(text))
}

/// Writes `name` in `dir` as a new file renamed over whatever was there.
fn write_file(dir: &OwnedFd, name: &str, text: &str, mode: u32) -> Result<(), BridgeError> {
    let tmp = format!(".{name}.corral-{}", std::process::id());
    let _ = rustix::fs::unlinkat(dir, &tmp, AtFlags::empty());
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd =
        rustix::fs::openat(dir, &tmp, flags, Mode::from_bits_truncate(mode)).map_err(|e| refused(name, e))?;
    let mut f = std::fs::File::from(fd);
    let written = f.write_all(text.as_bytes()).and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
    });
    if let Err(e) = written {
        let _ = rustix::fs::unlinkat(dir, &tmp, AtFlags::empty());
        return Err(refused(name, e));
    }
    rustix::fs::renameat(dir, &tmp, dir, name).map_err(|e| {
        let _ = rustix::fs::unlinkat(dir, &tmp, AtFlags::empty());
        refused(name, e)
    })
}

/// Whether the root (or, where the zone's layer does not say otherwise, the image beneath it)
/// has cloud-init installed.
pub fn has_cloud_init(rootfs: &Path, lower: Option<&Path>) -> bool {
    let found = |root: &Path| -> Option<Option<FileType>> {
        let root = open_root(root).ok()?;
        let bin = dir_at(&root, "usr/bin", false).ok()??;
        Some(kind_of(&bin, "cloud-init"))
    };
    match found(rootfs) {
        Some(Some(kind)) => kind == FileType::RegularFile,
        // Deleted in the zone's layer (a whiteout), or never there: the image decides only
        // when the zone's layer has no word on it.
        _ => {
            lower.and_then(found).flatten() == Some(FileType::RegularFile)
                && !whited_out(rootfs, "usr/bin", "cloud-init")
        }
    }
}

/// Whether the zone's layer holds a whiteout for `dir/name`.
fn whited_out(rootfs: &Path, dir: &str, name: &str) -> bool {
    let Ok(root) = open_root(rootfs) else { return false };
    let Ok(Some(d)) = dir_at(&root, dir, false) else { return false };
    rustix::fs::statat(&d, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0)
}

/// Writes `init` into the zone's root: into `rootfs`, where writes go; `lower` is the image
/// beneath it on layered storage, read for what the zone already has.
pub fn seed(rootfs: &Path, lower: Option<&Path>, init: &GuestInit) -> Result<(), BridgeError> {
    let root = open_root(rootfs)?;
    if has_cloud_init(rootfs, lower) {
        let dir = dir_at(&root, NOCLOUD_DIR, true)?.ok_or_else(|| refused(NOCLOUD_DIR, "missing"))?;
        rustix::fs::fchmod(&dir, Mode::from_bits_truncate(0o700)).map_err(|e| refused(NOCLOUD_DIR, e))?;
        for (name, text) in super::nocloud_files(init, None)? {
            write_file(&dir, name, &text, 0o600)?;
        }
        return Ok(());
    }
    let etc = dir_at(&root, "etc", true)?.ok_or_else(|| refused("/etc", "missing"))?;
    write_file(&etc, "hostname", &format!("{}\n", init.hostname), 0o644)?;
    if init.ssh_keys.is_empty() {
        return Ok(());
    }
    let ssh = dir_at(&root, "root/.ssh", true)?.ok_or_else(|| refused("/root/.ssh", "missing"))?;
    // sshd refuses keys in a folder others may write to.
    rustix::fs::fchmod(&ssh, Mode::from_bits_truncate(0o700)).map_err(|e| refused("/root/.ssh", e))?;
    // Keys already there (the zone's own) stay; those given are added once. On layered
    // storage a file the zone never changed is the image's, beneath.
    let had = match (read_file(&ssh, "authorized_keys")?, kind_of(&ssh, "authorized_keys"), lower) {
        (Some(text), _, _) => text,
        (None, None, Some(lower)) if !whited_out(rootfs, "root/.ssh", "authorized_keys") => {
            let below = open_root(lower).ok().and_then(|l| dir_at(&l, "root/.ssh", false).ok().flatten());
            match below {
                Some(d) => read_file(&d, "authorized_keys")?.unwrap_or_default(),
                None => String::new(),
            }
        }
        _ => String::new(),
    };
    let mut text = had.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for key in &init.ssh_keys {
        if !had.lines().any(|l| l.trim() == key) {
            text.push_str(key);
            text.push('\n');
        }
    }
    write_file(&ssh, "authorized_keys", &text, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> GuestInit {
        GuestInit {
            instance_id: "m-r1".into(),
            hostname: "web".into(),
            ssh_keys: vec!["ssh-ed25519 AAAA me".into()],
            user_data: None,
            network: None,
        }
    }

    #[test]
    fn without_cloud_init_the_keys_and_hostname_go_in_place() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("root/.ssh")).unwrap();
        std::fs::write(root.path().join("root/.ssh/authorized_keys"), "ssh-rsa AAAA theirs").unwrap();
        seed(root.path(), None, &init()).unwrap();
        seed(root.path(), None, &init()).unwrap();
        let keys = std::fs::read_to_string(root.path().join("root/.ssh/authorized_keys")).unwrap();
        assert_eq!(keys, "ssh-rsa AAAA theirs\nssh-ed25519 AAAA me\n", "theirs kept, ours once");
        assert_eq!(std::fs::read_to_string(root.path().join("etc/hostname")).unwrap(), "web\n");
        let mode =
            std::fs::metadata(root.path().join("root/.ssh/authorized_keys")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn with_cloud_init_the_seed_goes_where_nocloud_reads_it() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/bin")).unwrap();
        std::fs::write(root.path().join("usr/bin/cloud-init"), "#!/usr/bin/python3").unwrap();
        seed(root.path(), None, &init()).unwrap();
        let meta = std::fs::read_to_string(root.path().join(NOCLOUD_DIR).join("meta-data")).unwrap();
        assert!(meta.contains("\"instance-id\": \"m-r1\""), "{meta}");
        assert!(!root.path().join("root/.ssh").exists(), "cloud-init puts the keys in place itself");
    }

    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_link_planted_in_the_zone_is_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("root")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("root/.ssh")).unwrap();
        assert!(seed(root.path(), None, &init()).is_err());
        assert!(!outside.path().join("authorized_keys").exists(), "nothing written outside the zone");
        // A link in place of the file itself is replaced by the file.
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("passwd"), root.path().join("etc/hostname")).unwrap();
        seed(root.path(), None, &init()).unwrap();
        assert!(!outside.path().join("passwd").exists(), "the link is replaced, not written through");
        assert_eq!(std::fs::read_to_string(root.path().join("etc/hostname")).unwrap(), "web\n");
    }

    #[test]
    fn a_fifo_or_a_device_node_in_place_is_replaced_never_opened() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::create_dir_all(root.path().join("root/.ssh")).unwrap();
        // A FIFO would block an open for writing (or reading) forever.
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.path().join("etc/hostname"),
            FileType::Fifo,
            Mode::from_bits_truncate(0o644),
            0,
        )
        .unwrap();
        seed(root.path(), None, &init()).unwrap();
        assert_eq!(std::fs::read_to_string(root.path().join("etc/hostname")).unwrap(), "web\n");
        // As authorized_keys, something not a regular file is refused, said, and left alone.
        std::fs::remove_file(root.path().join("root/.ssh/authorized_keys")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.path().join("root/.ssh/authorized_keys"),
            FileType::Fifo,
            Mode::from_bits_truncate(0o600),
            0,
        )
        .unwrap();
        let e = seed(root.path(), None, &init()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn a_huge_authorized_keys_is_not_read() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("root/.ssh")).unwrap();
        let f = std::fs::File::create(root.path().join("root/.ssh/authorized_keys")).unwrap();
        f.set_len(200 << 30).unwrap(); // sparse: 200 GiB of nothing
        let e = seed(root.path(), None, &init()).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }
}
