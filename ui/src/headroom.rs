//! Headroom: the most a machine may be given, from what its tenant has left of its quota and,
//! for admins, what its node has free at its allocation ratios. Forms show it beside the
//! sizes and refuse more as the user types, rather than after a round trip.

use corral_api::node::Node;
use corral_api::people::Quota;

/// A machine's sizes, or what one holds now (all zero for a machine still to be made).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    pub vcpus: u64,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

/// The most of each size one machine may have; `None` where nothing limits it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Room {
    pub vcpus: Option<u64>,
    pub memory_mib: Option<u64>,
    pub disk_gib: Option<u64>,
}

impl Room {
    /// The tighter of two rooms, size by size.
    pub fn and(self, other: Room) -> Room {
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Room {
            vcpus: min(self.vcpus, other.vcpus),
            memory_mib: min(self.memory_mib, other.memory_mib),
            disk_gib: min(self.disk_gib, other.disk_gib),
        }
    }

    /// Whether the room says anything at all.
    pub fn is_limited(&self) -> bool {
        self.vcpus.is_some() || self.memory_mib.is_some() || self.disk_gib.is_some()
    }

    /// "at most 4 vCPUs, 2048 MiB of memory and 40 GiB of disk"; what is unlimited is left out.
    pub fn said(&self) -> String {
        let parts: Vec<String> =
            [(self.vcpus, "vCPUs"), (self.memory_mib, "MiB of memory"), (self.disk_gib, "GiB of disk")]
                .into_iter()
                .filter_map(|(n, unit)| n.map(|n| format!("{n} {unit}")))
                .collect();
        match parts.as_slice() {
            [] => "no limit".into(),
            [one] => format!("at most {one}"),
            [rest @ .., last] => format!("at most {} and {last}", rest.join(", ")),
        }
    }

    /// Why `value` of the size named by `field` (`vcpus`, `memory_mib`, `disk_gib`) does not
    /// fit, in the words of `whose` room ("the tenant's quota"); `None` when it fits.
    pub fn refuses(&self, field: &str, value: u64, whose: &str) -> Option<String> {
        let (limit, unit) = match field {
            "vcpus" => (self.vcpus?, "vCPUs"),
            "memory_mib" => (self.memory_mib?, "MiB"),
            "disk_gib" => (self.disk_gib?, "GiB"),
            _ => return None,
        };
        (value > limit).then(|| format!("{whose} leaves room for at most {limit} {unit}"))
    }
}

/// What the quota leaves one machine that holds `own` now: its own share plus what the tenant
/// has not used.
pub fn quota_room(q: &Quota, own: Sizes) -> Room {
    let left = |limit: Option<u64>, used: u64, own: u64| limit.map(|l| l.saturating_sub(used) + own);
    Room {
        vcpus: left(q.limits.vcpus, q.used.vcpus, own.vcpus),
        memory_mib: left(q.limits.memory_mib, q.used.memory_mib, own.memory_mib),
        disk_gib: left(q.limits.disk_gib, q.used.disk_gib, own.disk_gib),
    }
}

/// What a node leaves one machine that holds `own` on it now, at its allocation ratios;
/// `None` for a node that has not reported its size (and for tenants, who see no usage).
pub fn node_room(n: &Node, own: Sizes) -> Option<Room> {
    let host = n.host.as_ref()?;
    let (cpus, memory, disk) = n.ratios.capacity(host);
    let free = |cap: u64, used: u64, own: u64| Some(cap.saturating_sub(used) + own);
    Some(Room {
        vcpus: free(u64::from(cpus), u64::from(n.usage.vcpus), own.vcpus),
        memory_mib: free(memory, n.usage.memory_mib, own.memory_mib),
        disk_gib: free(disk, n.usage.disk_gib, own.disk_gib),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::people::{QuotaLimits, QuotaUsage};

    fn quota(vcpus: Option<u64>, memory_mib: Option<u64>) -> Quota {
        Quota {
            limits: QuotaLimits { vcpus, memory_mib, ..Default::default() },
            used: QuotaUsage { vcpus: 3, memory_mib: 1024, disk_gib: 10, ..Default::default() },
        }
    }

    #[test]
    fn a_machine_may_keep_its_own_share_and_take_what_is_left() {
        let own = Sizes { vcpus: 1, memory_mib: 512, disk_gib: 5 };
        let room = quota_room(&quota(Some(4), Some(2048)), own);
        assert_eq!(room, Room { vcpus: Some(2), memory_mib: Some(1536), disk_gib: None });
        assert_eq!(room.said(), "at most 2 vCPUs and 1536 MiB of memory");
        assert_eq!(room.refuses("vcpus", 2, "the quota"), None);
        assert_eq!(
            room.refuses("vcpus", 3, "the tenant's quota").as_deref(),
            Some("the tenant's quota leaves room for at most 2 vCPUs")
        );
        assert_eq!(room.refuses("disk_gib", 1 << 30, "the quota"), None, "no disk limit");
        // A tenant over its quota (lowered under it) still keeps what it has.
        let over = quota_room(&quota(Some(2), None), own);
        assert_eq!(over.vcpus, Some(1));
        assert!(!quota_room(&quota(None, None), own).is_limited());
        assert_eq!(quota_room(&quota(None, None), own).said(), "no limit");
    }

    #[test]
    fn the_tighter_room_wins_size_by_size() {
        let a = Room { vcpus: Some(4), memory_mib: None, disk_gib: Some(10) };
        let b = Room { vcpus: Some(8), memory_mib: Some(512), disk_gib: Some(5) };
        assert_eq!(a.and(b), Room { vcpus: Some(4), memory_mib: Some(512), disk_gib: Some(5) });
        assert_eq!(a.and(b).said(), "at most 4 vCPUs, 512 MiB of memory and 5 GiB of disk");
    }

    #[test]
    fn a_nodes_room_is_at_its_ratios_less_its_machines() {
        let n: Node = serde_json::from_value(serde_json::json!({
            "id": "00000000-0000-4000-8000-000000000002", "name": "n1", "address": null,
            "host_key": null, "presented_host_key": null, "status": "online", "driver": "sim",
            "capabilities": [], "kinds": ["vm"], "host_bridges": [],
            "host": {"hostname": "n1", "cpus": 2, "memory_mib": 4096, "disk_gib": 100},
            "ratios": {"cpu": 4.0, "memory": 1.0, "disk": 1.0},
            "usage": {"machines": 2, "vcpus": 3, "memory_mib": 1024, "disk_gib": 20},
            "last_error": null, "last_seen_at": null, "rule_breaks": 0, "last_rule_break": null
        }))
        .unwrap();
        let own = Sizes { vcpus: 1, memory_mib: 512, disk_gib: 10 };
        assert_eq!(
            node_room(&n, own),
            Some(Room { vcpus: Some(6), memory_mib: Some(3584), disk_gib: Some(90) })
        );
        let unreported = Node { host: None, ..n };
        assert_eq!(node_room(&unreported, own), None);
    }
}
