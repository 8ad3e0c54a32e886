//! A zone's guest data: kept in its folder (`guest.json`, root's alone: it holds the user
//! data) when it is made or changed, and written into its root at the next start, once per
//! instance id (`guest.seeded` says which was written last; a rollback forgets it), so what
//! the zone's own people change afterwards (a key they removed) stays changed until the
//! data change again.

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
///
/// A failure does not keep the zone from starting (its root is its tenant's, and a link or
/// a FIFO where a key goes must not lock them out of it): it is logged, and tried again at
/// the next start.
pub fn seed_before_start(dir: &Path, rootfs: &Path, lower: Option<&Path>) {
    let Some(init) = kept(dir) else { return };
    let seeded = std::fs::read_to_string(dir.join(SEEDED)).unwrap_or_default();
    if seeded.trim() == init.instance_id {
        return;
    }
    match crate::guest::zone::seed(rootfs, lower, &init) {
        Ok(()) => {
            if let Err(e) = std::fs::write(dir.join(SEEDED), &init.instance_id) {
                tracing::warn!(dir = %dir.display(), error = %e, "recording the zone's seeded guest data");
            }
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), instance = %init.instance_id, error = %e, "the zone starts without its new guest data");
        }
    }
}

/// Forgets which data were written: a rollback brings back a root from before them.
pub fn forget_seeded(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(SEEDED));
}
