//! Sweeping a stopped zone's cgroups. LXC removes them when a zone stops, except when an
//! OOM kill took the zone down (it then leaves `lxc.payload.<name>` behind, "Device or
//! resource busy" at the time); the next start of the same zone would fail on them.
//!
//! Cgroup directories go with `rmdir` only (their files are the kernel's, not removable),
//! deepest first.

use std::path::Path;

use corral_api::MachineId;

/// Removes what is left of the zone's cgroups under every controller of `root`
/// (`/sys/fs/cgroup`). What cannot go (a process still in it) is logged and left.
pub fn sweep(root: &Path, id: MachineId) {
    let Ok(controllers) = std::fs::read_dir(root) else { return };
    for controller in controllers.flatten() {
        for name in [format!("lxc.payload.{id}"), format!("lxc.monitor.{id}")] {
            let dir = controller.path().join(name);
            if dir.is_dir()
                && let Err(e) = rmdir_tree(&dir)
            {
                tracing::warn!(zone = %id, dir = %dir.display(), error = %e, "a cgroup of a stopped zone stays");
            }
        }
    }
}

fn rmdir_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            rmdir_tree(&entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_this_zone_go_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let id = MachineId::new_random();
        let other = MachineId::new_random();
        for c in ["memory", "pids"] {
            std::fs::create_dir_all(root.path().join(c).join(format!("lxc.payload.{id}/init.scope")))
                .unwrap();
            std::fs::create_dir_all(root.path().join(c).join(format!("lxc.payload.{other}"))).unwrap();
        }
        std::fs::create_dir_all(root.path().join(format!("cpu/lxc.monitor.{id}"))).unwrap();
        sweep(root.path(), id);
        for c in ["memory", "pids", "cpu"] {
            assert!(!root.path().join(c).join(format!("lxc.payload.{id}")).exists());
            assert!(!root.path().join(c).join(format!("lxc.monitor.{id}")).exists());
        }
        assert!(root.path().join(format!("memory/lxc.payload.{other}")).exists(), "another zone's stays");
    }
}
