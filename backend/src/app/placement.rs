//! Placement: which node gets a new machine. The node with the most free memory among those
//! online with room for all of it, room being the node's size times its allocation ratios
//! less what its machines (stopped ones too) hold. A refusal says what each node lacks, for
//! admins; tenants learn only that no node has room for what they asked.

use std::collections::HashSet;

use corral_api::NodeId;
use corral_api::node::{Node, NodeStatus};
use futures::future::join_all;

use crate::state::AppState;

/// What a machine needs.
#[derive(Clone, Copy, Debug)]
pub struct Demand {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

impl Demand {
    /// What was asked, as a person reads it.
    pub fn said(&self) -> String {
        format!("{} vCPUs, {} MiB memory, {} GiB disk", self.vcpus, self.memory_mib, self.disk_gib)
    }
}

/// A ratio other than 1, as a note on what is free: ` (at 4 per CPU)`.
fn at_ratio(ratio: f64, of: &str) -> String {
    if ratio == 1.0 { String::new() } else { format!(" (at {ratio} {of})") }
}

/// Why a node cannot take the demand, or `None` if it can.
pub fn shortfall(node: &Node, d: Demand) -> Option<String> {
    if node.status != NodeStatus::Online {
        return Some(format!("{} is {}", node.name, node.status.as_str()));
    }
    let Some(host) = &node.host else { return Some(format!("{} has not reported its size", node.name)) };
    let (cpus, memory, disk) = node.ratios.capacity(host);
    let free_cpus = cpus.saturating_sub(node.usage.vcpus);
    let free_mem = memory.saturating_sub(node.usage.memory_mib);
    let free_disk = disk.saturating_sub(node.usage.disk_gib);
    let r = node.ratios;
    let mut lacks = Vec::new();
    if d.vcpus > free_cpus {
        lacks.push(format!("{free_cpus} vCPUs free{}", at_ratio(r.cpu, "per CPU")));
    }
    if d.memory_mib > free_mem {
        lacks.push(format!("{free_mem} MiB memory free{}", at_ratio(r.memory, "times its memory")));
    }
    if d.disk_gib > free_disk {
        lacks.push(format!("{free_disk} GiB disk free{}", at_ratio(r.disk, "times its disk")));
    }
    (!lacks.is_empty()).then(|| format!("{} has only {}", node.name, lacks.join(", ")))
}

/// Picks a node, or explains why none fits.
pub fn place(nodes: &[Node], d: Demand) -> Result<&Node, String> {
    let mut reasons = Vec::new();
    let mut best: Option<&Node> = None;
    for n in nodes {
        match shortfall(n, d) {
            Some(why) => reasons.push(why),
            None => {
                let free =
                    |n: &Node| n.host.as_ref().map_or(0, |h| h.memory_mib.saturating_sub(n.usage.memory_mib));
                if best.is_none_or(|b| free(n) > free(b)) {
                    best = Some(n);
                }
            }
        }
    }
    best.ok_or_else(|| {
        let need = d.said();
        if reasons.is_empty() {
            format!("no node has room for {need}: there are no nodes")
        } else {
            format!("no node has room for {need}: {}", reasons.join("; "))
        }
    })
}

/// The online nodes among `candidates` that hold `image`.
pub async fn nodes_holding(state: &AppState, candidates: &[Node], image: &str) -> HashSet<NodeId> {
    let checks = candidates.iter().filter(|n| n.status == NodeStatus::Online).map(|n| async move {
        let client = state.nodes.get(n.id)?;
        let images = client.image_list().await.ok()?;
        images.iter().any(|i| i.name == image).then_some(n.id)
    });
    join_all(checks).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::NodeId;
    use corral_api::bridge::HostFacts;
    use corral_api::node::NodeUsage;

    fn node(name: &str, status: NodeStatus, mem: u64, used_mem: u64) -> Node {
        Node {
            id: NodeId::new_random(),
            name: name.into(),
            address: Some("unix:/x".into()),
            status,
            driver: Some("sim".into()),
            capabilities: vec![],
            kinds: vec![corral_api::spec::MachineKind::Vm],
            // Ratios of 1 unless a test says otherwise: the arithmetic below is plain.
            ratios: corral_api::node::AllocationRatios { cpu: 1.0, memory: 1.0, disk: 1.0 },
            host: Some(HostFacts { hostname: name.into(), cpus: 8, memory_mib: mem, disk_gib: 100 }),
            accelerator: None,
            usage: NodeUsage { machines: 1, vcpus: 1, memory_mib: used_mem, disk_gib: 1 },
            last_error: None,
            last_seen_at: None,
            host_bridges: vec![],
            host_key: None,
            presented_host_key: None,
            rule_breaks: 0,
            last_rule_break: None,
        }
    }

    const SMALL: Demand = Demand { vcpus: 1, memory_mib: 512, disk_gib: 1 };

    #[test]
    fn picks_the_online_node_with_most_free_memory() {
        let nodes = [
            node("a", NodeStatus::Online, 4096, 3000),
            node("b", NodeStatus::Online, 4096, 1000),
            node("c", NodeStatus::Unreachable, 65536, 0),
        ];
        assert_eq!(place(&nodes, SMALL).unwrap().name, "b");
    }

    #[test]
    fn refusal_names_each_node_and_what_it_lacks() {
        let nodes = [node("a", NodeStatus::Online, 1024, 900), node("c", NodeStatus::Unreachable, 1, 0)];
        let why = place(&nodes, SMALL).unwrap_err();
        assert!(why.contains("a has only 124 MiB memory free"), "{why}");
        assert!(why.contains("c is unreachable"), "{why}");
        assert!(place(&[], SMALL).unwrap_err().contains("no nodes"));
    }

    /// Each resource is checked on its own, and a demand of exactly what is free fits.
    #[test]
    fn every_resource_counts_and_an_exact_fit_fits() {
        // 8 CPUs with 1 used, 4096 MiB with 1000 used, 100 GiB with 1 used.
        let n = node("a", NodeStatus::Online, 4096, 1000);
        let exact = Demand { vcpus: 7, memory_mib: 3096, disk_gib: 99 };
        assert_eq!(shortfall(&n, exact), None);
        let cases = [
            (Demand { vcpus: 8, ..exact }, "a has only 7 vCPUs free"),
            (Demand { memory_mib: 3097, ..exact }, "a has only 3096 MiB memory free"),
            (Demand { disk_gib: 100, ..exact }, "a has only 99 GiB disk free"),
            (
                Demand { vcpus: 9, memory_mib: 5000, disk_gib: 1 },
                "a has only 7 vCPUs free, 3096 MiB memory free",
            ),
        ];
        for (demand, why) in cases {
            assert_eq!(shortfall(&n, demand).as_deref(), Some(why), "{demand:?}");
        }
        let mut unknown_size = node("b", NodeStatus::Online, 4096, 0);
        unknown_size.host = None;
        assert_eq!(shortfall(&unknown_size, SMALL).as_deref(), Some("b has not reported its size"));
    }

    /// Of nodes with equal room the first listed wins, and a node without room never does,
    /// however much memory it has free.
    #[test]
    fn ties_go_to_the_first_and_room_comes_before_free_memory() {
        let nodes = [node("a", NodeStatus::Online, 4096, 0), node("b", NodeStatus::Online, 4096, 0)];
        assert_eq!(place(&nodes, SMALL).unwrap().name, "a");
        let mut big_but_full = node("big", NodeStatus::Online, 65536, 0);
        big_but_full.usage.vcpus = 8;
        let nodes = [big_but_full, node("small", NodeStatus::Online, 1024, 0)];
        assert_eq!(place(&nodes, SMALL).unwrap().name, "small");
    }

    /// A node of 2 CPUs at the default ratios takes eight 1-vCPU machines, stopped or not;
    /// the ninth is refused with the ratio named.
    #[test]
    fn ratios_scale_a_nodes_room() {
        let mut n = node("a", NodeStatus::Online, 4096, 0);
        n.host.as_mut().unwrap().cpus = 2;
        n.ratios = Default::default();
        n.usage.vcpus = 7;
        assert_eq!(shortfall(&n, SMALL), None);
        n.usage.vcpus = 8;
        assert_eq!(shortfall(&n, SMALL).as_deref(), Some("a has only 0 vCPUs free (at 4 per CPU)"));
        n.ratios.memory = 1.5;
        let big = Demand { vcpus: 0, memory_mib: 6144, disk_gib: 1 };
        assert_eq!(shortfall(&n, big), None, "6 GiB fit 1.5 times 4 GiB");
        let bigger = Demand { memory_mib: 6145, ..big };
        assert_eq!(
            shortfall(&n, bigger).as_deref(),
            Some("a has only 6144 MiB memory free (at 1.5 times its memory)")
        );
    }
}
