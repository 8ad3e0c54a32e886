//! Machine spec files: `<data>/machines/<id>/spec.json`, one per machine, written atomically
//! (temp file, fsync, rename, fsync of the directory) so a crash leaves either the old or the
//! new spec, never half of one.
//!
//! The files are small and written rarely, so plain blocking I/O is used; callers hold the
//! driver's lock while writing, which keeps the file in step with memory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use corral_api::MachineId;
use corral_api::bridge::BridgeMachine;

const SPEC_FILE: &str = "spec.json";

#[derive(Debug, Clone)]
pub struct MachineStore {
    dir: PathBuf,
}

impl MachineStore {
    /// Opens (creating if needed) `<data_dir>/machines`, where VMs live.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        Self::open_dir(data_dir.join("machines"))
    }

    /// Opens (creating if needed) `dir` as a store of its own (`<data_dir>/zones`).
    pub fn open_dir(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The directory holding every machine's directory.
    pub fn root(&self) -> &Path {
        &self.dir
    }

    pub fn machine_dir(&self, id: MachineId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Every readable spec. A file that does not parse is logged and skipped, not fatal: one
    /// bad file must not take the node's other machines down with it.
    pub fn load_all(&self) -> io::Result<Vec<BridgeMachine>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path().join(SPEC_FILE);
            match fs::read(&path) {
                Ok(bytes) => match serde_json::from_slice::<BridgeMachine>(&bytes) {
                    Ok(m) => out.push(m),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "skipping unreadable machine spec")
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn save(&self, machine: &BridgeMachine) -> io::Result<()> {
        let dir = self.machine_dir(machine.id);
        fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!("{SPEC_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(machine).map_err(io::Error::other)?;
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, dir.join(SPEC_FILE))?;
        File::open(&dir)?.sync_all()
    }

    /// Removes the machine's directory and all in it. Removing what is gone is not an error.
    pub fn remove(&self, id: MachineId) -> io::Result<()> {
        match fs::remove_dir_all(self.machine_dir(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::machine::MachineState;

    fn machine(name: &str) -> BridgeMachine {
        BridgeMachine {
            id: MachineId::new_random(),
            name: name.into(),
            kind: Default::default(),
            vcpus: 1,
            memory_mib: 128,
            disk_gib: 1,
            image: None,
            port_forwards: vec![],
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
            zone: None,
            init_id: None,
            state: MachineState::Stopped,
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn saved_specs_are_found_again_and_corrupt_ones_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let store = MachineStore::open(tmp.path()).unwrap();
        let a = machine("a");
        store.save(&a).unwrap();
        let bad = store.machine_dir(MachineId::new_random());
        fs::create_dir_all(&bad).unwrap();
        fs::write(bad.join(SPEC_FILE), b"{not json").unwrap();

        let again = MachineStore::open(tmp.path()).unwrap().load_all().unwrap();
        assert_eq!(again, vec![a.clone()]);

        store.remove(a.id).unwrap();
        store.remove(a.id).unwrap();
        assert!(store.load_all().unwrap().is_empty());
    }

    #[test]
    fn save_leaves_no_temp_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = MachineStore::open(tmp.path()).unwrap();
        let a = machine("a");
        store.save(&a).unwrap();
        let names: Vec<_> = fs::read_dir(store.machine_dir(a.id))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![SPEC_FILE.to_string()]);
    }
}
