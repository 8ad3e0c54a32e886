//! A VM's seed: the NoCloud files on an ISO 9660 volume labelled `cidata`, made by `xorriso`
//! (Debian's package of that name) and attached as a read-only disk of its own, apart from
//! the user's CD drive (`qemu::launch`).
//!
//! The files are written to a private folder beside the VM's disk, packed, and the folder
//! removed again; the ISO replaces the old one in one rename, so a VM never boots from a half
//! written seed. It holds the user data, so only root may read it.

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

/// Writes `init`'s seed into `dir` (a VM's folder) as [`SEED_ISO`]; `mac` is its NIC's.
pub async fn write_seed(
    exec: &dyn HostExec,
    xorriso: &str,
    dir: &Path,
    init: &GuestInit,
    mac: &str,
) -> Result<PathBuf, BridgeError> {
    let files = super::nocloud_files(init, Some(mac))?;
    let staging = dir.join("seed.d");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging)?;
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o700))?;
    let result = async {
        for (name, text) in &files {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(staging.join(name))?;
            f.write_all(text.as_bytes())?;
        }
        let tmp = dir.join("seed.iso.tmp");
        let _ = std::fs::remove_file(&tmp);
        let out = exec
            .run(xorriso, &xorriso_args(&staging, &tmp))
            .await
            .map_err(|e| BridgeError::Host(format!("cannot run {xorriso}: {e}")))?;
        if !out.success {
            let _ = std::fs::remove_file(&tmp);
            return Err(BridgeError::Host(format!("making the guest's seed failed: {}", out.stderr_tail())));
        }
        let seed = dir.join(SEED_ISO);
        if tmp.exists() {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            std::fs::rename(&tmp, &seed)?;
        }
        Ok(seed)
    }
    .await;
    let _ = std::fs::remove_dir_all(&staging);
    result
}
