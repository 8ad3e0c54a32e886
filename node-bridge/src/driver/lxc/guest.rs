//! A zone's guest data: kept in its folder (`guest.json`, root's alone: it holds the user
//! data) when it is made or changed, and written into its root at the next start, once per
//! instance id (`guest.seeded` says which was written last), so what the zone's own people
//! change afterwards (a key they removed) stays changed until the data change again.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use corral_api::guest::GuestInit;

use crate::error::BridgeError;

const KEPT: &str = "guest.json";
const SEEDED: &str = "guest.seeded";

/// Keeps `init` in the zone's folder `dir` for its next start.
pub fn keep(dir: &Path, init: &GuestInit) -> Result<(), BridgeError> {
    use std::io::Write;
    let text = serde_json::to_vec(init).map_err(|e| BridgeError::Host(format!("keeping guest data: {e}")))?;
    let tmp = dir.join("guest.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(&text)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, dir.join(KEPT))?;
    Ok(())
}

/// The zone's kept guest data, if it was given any.
pub fn kept(dir: &Path) -> Option<GuestInit> {
    let text = std::fs::read(dir.join(KEPT)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes the kept data into the stopped zone's root, unless this instance was written
/// already. `rootfs` is where writes go; `lower`, on layered storage, the image beneath it.
pub fn seed_before_start(dir: &Path, rootfs: &Path, lower: Option<&Path>) -> Result<(), BridgeError> {
    let Some(init) = kept(dir) else { return Ok(()) };
    let seeded = std::fs::read_to_string(dir.join(SEEDED)).unwrap_or_default();
    if seeded.trim() == init.instance_id {
        return Ok(());
    }
    crate::guest::zone::seed(rootfs, lower, &init)?;
    std::fs::write(dir.join(SEEDED), &init.instance_id)?;
    Ok(())
}
