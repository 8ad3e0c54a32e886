//! A VM's seed: the NoCloud files on an ISO 9660 volume labelled `cidata`, made by `xorriso`
//! (Debian's package of that name) and attached as a read-only disk of its own, apart from
//! the user's CD drive (`qemu::launch`).
//!
//! The files are written to a private folder beside the VM's disk and packed into another,
//! and both are removed again; the ISO replaces the old one in one rename, so a VM never
//! boots from a half written seed. It holds the user data, so only root may read it, from
//! its first byte on.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use corral_api::guest::GuestInit;

use crate::error::BridgeError;
use crate::host::HostExec;

/// The seed's file name in a VM's folder.
pub const SEED_ISO: &str = "seed.iso";
/// The volume label cloud-init's NoCloud datasource looks for.
pub const LABEL: &str = "cidata";

/// The arguments that pack `files_dir` into the ISO at `out`.
pub fn xorriso_args(files_dir: &Path, out: &Path) -> Vec<String> {
    [
        "-as",
        "mkisofs",
        "-quiet",
        "-output",
        &out.display().to_string(),
        "-volid",
        LABEL,
        "-joliet",
        "-rock",
        &files_dir.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// A name no other writer in this process uses at the same moment.
fn unique(stem: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{stem}.{}.{n}", std::process::id())
}

/// A folder only root may enter, made fresh.
fn private_dir(path: &Path) -> Result<(), BridgeError> {
    let _ = std::fs::remove_dir_all(path);
    std::fs::create_dir(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Writes `init`'s seed into `dir` (a VM's folder) as [`SEED_ISO`]; `mac` is its NIC's.
/// The files and xorriso's output are in folders only root may enter (the ISO holds the
/// user data) until the finished ISO is renamed into place.
pub async fn write_seed(
    exec: &dyn HostExec,
    xorriso: &str,
    dir: &Path,
    init: &GuestInit,
    mac: &str,
) -> Result<PathBuf, BridgeError> {
    let files = super::nocloud_files(init, Some(mac))?;
    let staging = dir.join(unique("seed.d"));
    let out_dir = dir.join(unique("seed.out"));
    let result = async {
        private_dir(&staging)?;
        private_dir(&out_dir)?;
        for (name, text) in &files {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(staging.join(name))?;
            f.write_all(text.as_bytes())?;
        }
        let tmp = out_dir.join(SEED_ISO);
        let out = exec
            .run(xorriso, &xorriso_args(&staging, &tmp))
            .await
            .map_err(|e| BridgeError::Host(format!("cannot run {xorriso}: {e}")))?;
        if !out.success {
            return Err(BridgeError::Host(format!("making the guest's seed failed: {}", out.stderr_tail())));
        }
        if !tmp.exists() {
            return Err(BridgeError::Host(format!(
                "{xorriso} said it made the guest's seed, but there is none"
            )));
        }
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        let seed = dir.join(SEED_ISO);
        std::fs::rename(&tmp, &seed)?;
        Ok(seed)
    }
    .await;
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_dir_all(&out_dir);
    result
}
