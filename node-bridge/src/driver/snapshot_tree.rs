//! The snapshot tree a driver keeps beside a machine (`snapshots.json`): each snapshot's
//! parent, which one is current, whether it holds RAM. Storage keeps the snapshots
//! themselves (qcow2 for VMs, copies of the root filesystem for zones); this keeps what the
//! storage does not.

use std::path::Path;

use corral_api::bridge::BridgeSnapshot;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub current: Option<String>,
    pub snapshots: Vec<SnapshotEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    pub name: String,
    pub parent: Option<String>,
    pub ram: bool,
    pub created_at: String,
}

impl SnapshotMeta {
    pub fn load(path: &Path) -> SnapshotMeta {
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Written atomically: a temp file renamed over the old one.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }

    pub fn get(&self, name: &str) -> Option<&SnapshotEntry> {
        self.snapshots.iter().find(|s| s.name == name)
    }

    /// Records a new snapshot as a child of the current one, and makes it current.
    pub fn add(&mut self, name: &str, ram: bool, created_at: String) {
        self.snapshots.push(SnapshotEntry {
            name: name.into(),
            parent: self.current.clone(),
            ram,
            created_at,
        });
        self.current = Some(name.into());
    }

    /// Removes a snapshot; its children hang from its parent from now on.
    pub fn remove(&mut self, name: &str) {
        let Some(gone) = self.get(name).cloned() else { return };
        self.snapshots.retain(|s| s.name != name);
        for s in &mut self.snapshots {
            if s.parent.as_deref() == Some(name) {
                s.parent = gone.parent.clone();
            }
        }
        if self.current.as_deref() == Some(name) {
            self.current = gone.parent;
        }
    }

    /// Drops entries whose snapshot the storage does not have (a step that failed half-way).
    pub fn retain_existing(&mut self, existing: &[(String, u64)]) {
        let gone: Vec<String> = self
            .snapshots
            .iter()
            .filter(|s| !existing.iter().any(|(n, _)| n == &s.name))
            .map(|s| s.name.clone())
            .collect();
        for name in gone {
            self.remove(&name);
        }
    }

    pub fn view(&self, sizes: &[(String, u64)]) -> Vec<BridgeSnapshot> {
        self.snapshots
            .iter()
            .map(|s| BridgeSnapshot {
                name: s.name.clone(),
                parent: s.parent.clone(),
                current: self.current.as_deref() == Some(s.name.as_str()),
                ram: s.ram,
                vm_state_bytes: sizes.iter().find(|(n, _)| n == &s.name).map_or(0, |(_, b)| *b),
                created_at: s.created_at.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_follows_creates_and_deletes() {
        let mut m = SnapshotMeta::default();
        m.add("a", false, "t1".into());
        m.add("b", true, "t2".into());
        m.current = Some("a".into()); // rolled back to a
        m.add("c", false, "t3".into());
        assert_eq!(m.get("b").unwrap().parent.as_deref(), Some("a"));
        assert_eq!(m.get("c").unwrap().parent.as_deref(), Some("a"));
        m.remove("a");
        assert_eq!(m.get("b").unwrap().parent, None);
        assert_eq!(m.get("c").unwrap().parent, None);
        assert_eq!(m.current.as_deref(), Some("c"));
        m.remove("c");
        assert_eq!(m.current, None, "deleting the current one makes its parent current");
        let view = m.view(&[("b".into(), 42)]);
        assert_eq!((view[0].name.as_str(), view[0].vm_state_bytes, view[0].ram), ("b", 42, true));
    }

    #[test]
    fn entries_the_storage_lost_are_dropped() {
        let mut m = SnapshotMeta::default();
        m.add("a", false, "t".into());
        m.add("b", false, "t".into());
        m.retain_existing(&[("a".into(), 0)]);
        assert_eq!(m.snapshots.len(), 1);
        assert_eq!(m.current.as_deref(), Some("a"));
    }
}
