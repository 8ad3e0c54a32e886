//! Placement: which node gets a new machine. The node with the most free memory among those
//! online with room for all of it; a refusal says what each node lacks.

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

/// Why a node cannot take the demand, or `None` if it can.
pub fn shortfall(node: &Node, d: Demand) -> Option<String> {
    if node.status != NodeStatus::Online {
        return Some(format!("{} is {}", node.name, node.status.as_str()));
    }
    let Some(host) = &node.host else { return Some(format!("{} has not reported its size", node.name)) };
    let free_cpus = host.cpus.saturating_sub(node.usage.vcpus);
    let free_mem = host.memory_mib.saturating_sub(node.usage.memory_mib);
    let free_disk = host.disk_gib.saturating_sub(node.usage.disk_gib);
    let mut lacks = Vec::new();
    if d.vcpus > free_cpus {
        lacks.push(format!("{free_cpus} vCPUs free"));
    }
    if d.memory_mib > free_mem {
        lacks.push(format!("{free_mem} MiB memory free"));
    }
    if d.disk_gib > free_disk {
        lacks.push(format!("{free_disk} GiB disk free"));
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
        let need = format!("{} vCPUs, {} MiB memory, {} GiB disk", d.vcpus, d.memory_mib, d.disk_gib);
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
}
