//! A zone's guest data, written into its root while it is stopped (just before it starts):
//! where cloud-init is installed, its NoCloud seed (`/var/lib/cloud/seed/nocloud/`);
//! where it is not, the SSH keys added to root's `authorized_keys` and the hostname put in
//! `/etc/hostname` (LXC sets the running hostname from the zone's config).
//!
//! A zone's root is the tenant's to shape, links included: nothing here follows a symbolic
//! link, so a link planted inside (`/root/.ssh` → the node's `/etc`) is refused rather than
//! written through. The zone is stopped, so no process of its own can swap a path meanwhile.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use corral_api::guest::GuestInit;

use crate::error::BridgeError;

/// Where cloud-init's NoCloud datasource reads its seed, inside the root.
pub const NOCLOUD_DIR: &str = "var/lib/cloud/seed/nocloud";

/// Whether the root (or the image beneath it) has cloud-init installed.
pub fn has_cloud_init(rootfs: &Path, lower: Option<&Path>) -> bool {
    [Some(rootfs), lower].into_iter().flatten().any(|root| {
        ["usr/bin/cloud-init", "bin/cloud-init"]
            .iter()
            .any(|p| std::fs::symlink_metadata(root.join(p)).is_ok_and(|m| m.is_file()))
    })
}

/// The folder `rel` under `root`, made (with `mode`) where missing; refused if any part of it
/// is a link or not a folder.
fn dir_under(root: &Path, rel: &str, mode: u32) -> Result<PathBuf, BridgeError> {
    let mut at = root.to_path_buf();
    for part in Path::new(rel).components() {
        let Component::Normal(part) = part else {
            return Err(BridgeError::Host(format!("{rel} is not a plain path")));
        };
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(BridgeError::Conflict(format!(
                    "/{} in the zone is a link or a file, not a folder: not followed",
                    at.strip_prefix(root).unwrap_or(&at).display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&at)?;
                std::fs::set_permissions(&at, std::fs::Permissions::from_mode(mode))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(at)
}

/// Opens `name` in `dir` without following a link there (a link is refused by the kernel).
fn open_no_follow(path: &Path, write: bool, mode: u32) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    if write {
        o.write(true).create(true).truncate(true).mode(mode);
    } else {
        o.read(true);
    }
    o.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(path)
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), BridgeError> {
    let mut f = open_no_follow(path, true, mode).map_err(|e| {
        BridgeError::Conflict(format!(
            "cannot write {} in the zone ({e}): a link there is not followed",
            path.display()
        ))
    })?;
    f.write_all(text.as_bytes())?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Writes `init` into the zone's root: into `rootfs`, where writes go; `lower` is the image
/// beneath it on layered storage, read for what the zone already has.
pub fn seed(rootfs: &Path, lower: Option<&Path>, init: &GuestInit) -> Result<(), BridgeError> {
    if has_cloud_init(rootfs, lower) {
        let dir = dir_under(rootfs, NOCLOUD_DIR, 0o755)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        for (name, text) in super::nocloud_files(init, None)? {
            write_file(&dir.join(name), &text, 0o600)?;
        }
        return Ok(());
    }
    let etc = dir_under(rootfs, "etc", 0o755)?;
    write_file(&etc.join("hostname"), &format!("{}\n", init.hostname), 0o644)?;
    if init.ssh_keys.is_empty() {
        return Ok(());
    }
    let ssh = dir_under(rootfs, "root/.ssh", 0o700)?;
    let path = ssh.join("authorized_keys");
    // Keys already there (the zone's own) stay; those given are added once.
    let mut had = String::new();
    let beneath = lower.map(|l| l.join("root/.ssh/authorized_keys"));
    for candidate in [Some(path.clone()), beneath].into_iter().flatten() {
        match open_no_follow(&candidate, false, 0) {
            Ok(mut f) => {
                f.read_to_string(&mut had)?;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(BridgeError::Conflict(format!(
                    "cannot read /root/.ssh/authorized_keys in the zone: {e}"
                )));
            }
        }
    }
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
    write_file(&path, &text, 0o600)
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
        assert!(meta.contains("instance-id: m-r1"), "{meta}");
        assert!(!root.path().join("root/.ssh").exists(), "cloud-init puts the keys in place itself");
    }

    #[test]
    fn a_link_planted_in_the_zone_is_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("root")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("root/.ssh")).unwrap();
        assert!(seed(root.path(), None, &init()).is_err());
        assert!(!outside.path().join("authorized_keys").exists(), "nothing written outside the zone");
        // A link in place of the file itself is refused by the kernel.
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("passwd"), root.path().join("etc/hostname")).unwrap();
        assert!(seed(root.path(), None, &init()).is_err());
        assert!(!outside.path().join("passwd").exists());
    }
}
