//! The room a form's sizes are checked against as they are typed: what the tenant's quota
//! leaves and, for admins, what the node has free at its ratios (tenants do not see a node's
//! room). Both count what the machine holds now (nothing, for one being made); the arithmetic
//! is `corral_ui::headroom`'s.

use corral_api::people::Quota;
use corral_api::{NodeId, TenantId};
use corral_ui::headroom::{self, Room, Sizes};
use leptos::prelude::*;

use crate::api;
use crate::live::use_live;

#[derive(Clone, Copy)]
pub struct Headroom {
    quota: LocalResource<Option<Quota>>,
    node: Signal<Option<NodeId>>,
    own: Signal<Sizes>,
}

impl Headroom {
    /// For a machine of `tenant` on `node` (either unknown yet) that holds `own`.
    pub fn new(tenant: Signal<Option<TenantId>>, node: Signal<Option<NodeId>>, own: Signal<Sizes>) -> Self {
        let quota = LocalResource::new(move || {
            let t = tenant.get();
            async move {
                match t {
                    Some(t) => api::quota_get(t).await.ok(),
                    None => None,
                }
            }
        });
        Headroom { quota, node, own }
    }

    fn quota_room(self) -> Option<Room> {
        self.quota.get().flatten().map(|q| headroom::quota_room(&q, self.own.get()))
    }

    /// The node's room, and its name, for admins.
    fn node_room(self) -> Option<(String, Room)> {
        let live = use_live();
        if !live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin)) {
            return None;
        }
        let id = self.node.get()?;
        live.nodes.with(|ns| {
            let n = ns.as_ref()?.iter().find(|n| n.id == id)?;
            headroom::node_room(n, self.own.get()).map(|r| (n.name.clone(), r))
        })
    }

    /// Why `value` of the size `field` (`vcpus`, `memory_mib`, `disk_gib`) does not fit.
    pub fn refuses(self, field: &str, value: u64) -> Option<String> {
        self.quota_room()
            .and_then(|r| r.refuses(field, value, "the tenant's quota"))
            .or_else(|| self.node_room().and_then(|(_, r)| r.refuses(field, value, "the node")))
    }

    /// The room, in a sentence or two; empty when nothing limits it.
    pub fn said(self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.quota_room().filter(Room::is_limited) {
            parts.push(format!("The tenant's quota leaves room for {}.", r.said()));
        }
        if let Some((name, r)) = self.node_room() {
            parts.push(format!("Node {name} has room for {} (admins see this).", r.said()));
        }
        parts.join(" ")
    }
}
