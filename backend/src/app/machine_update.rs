//! Changing a machine: its name, its hardware (vCPUs, memory, disk, port forwards), its boot
//! order and CD. What grows is admitted twice before the node is asked: against the tenant's
//! quota (the admission guard held until the node's answer is recorded, as for a create) and
//! against the node's room at its allocation ratios. Whether the change is possible in the
//! machine's state (a VM's hardware only while stopped; a zone's limits live) is the node's
//! call: it alone knows the state at that moment, and it refuses with 409.

use corral_api::bridge::BridgeMachineUpdate;
use corral_api::event::Event;
use corral_api::machine::{Machine, MachineUpdate};
use corral_api::session::Role;

use super::machines::machine_get;
use super::on_node::{answered_for, client_of, with_report};
use super::{placement, quotas};
use crate::auth::Actor;
use crate::db::is_unique_violation;
use crate::error::ApiError;
use crate::nodes::reconciler::take_machine_report;
use crate::state::AppState;
use crate::store::machines::IfUnknown;
use crate::store::{machines, nodes};

/// What an update adds to the machine's allocation: only increases count.
fn growth(m: &Machine, req: &MachineUpdate) -> placement::Demand {
    placement::Demand {
        vcpus: req.vcpus.map_or(0, |n| n.saturating_sub(m.vcpus)),
        memory_mib: req.memory_mib.map_or(0, |n| n.saturating_sub(m.memory_mib)),
        disk_gib: req.disk_gib.map_or(0, |n| n.saturating_sub(m.disk_gib)),
    }
}

/// What grows, as a person says it: "2 vCPUs and 512 MiB of memory".
fn said(d: placement::Demand) -> String {
    let parts: Vec<String> =
        [(u64::from(d.vcpus), "vCPUs"), (d.memory_mib, "MiB of memory"), (d.disk_gib, "GiB of disk")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, unit)| format!("{n} {unit}"))
            .collect();
    parts.join(" and ")
}

/// Changes a machine (owners only) and answers with it as its node now reports it. The name
/// is checked against the tenant's other machines before the node is asked, so a taken name
/// changes nothing; so is every limit.
pub async fn machine_update(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    req: MachineUpdate,
) -> Result<Machine, ApiError> {
    actor.require_machine(&m, Role::Owner)?;
    let id = m.id;
    let update = BridgeMachineUpdate {
        name: req.name.clone(),
        vcpus: req.vcpus,
        memory_mib: req.memory_mib,
        disk_gib: req.disk_gib,
        port_forwards: req.port_forwards.clone(),
        boot_order: req.boot_order.clone(),
        cdrom: req.cdrom.clone(),
        init: None,
    };
    corral_api::validate::machine_update(&update)?;
    if let Some(name) = &req.name {
        let taken = machines::machine_list(&state.db, &machines::Visibility::All)
            .await?
            .into_iter()
            .any(|o| o.id != id && o.tenant_id == m.tenant_id && &o.name == name);
        if taken {
            return Err(ApiError::AlreadyExists(format!("this tenant already has a machine named {name:?}")));
        }
    }
    let grows = growth(&m, &req);
    let grows_any = grows.vcpus > 0 || grows.memory_mib > 0 || grows.disk_gib > 0;
    let _admission = match m.tenant_id {
        Some(tenant) if grows_any => Some(
            quotas::admit(
                state,
                tenant,
                quotas::Demand {
                    vcpus: u64::from(grows.vcpus),
                    memory_mib: grows.memory_mib,
                    disk_gib: grows.disk_gib,
                    ..Default::default()
                },
            )
            .await?,
        ),
        _ => None,
    };
    if grows_any {
        let node = nodes::node_get(&state.db, m.node_id).await?.ok_or_else(|| ApiError::NodeUnreachable {
            node: m.node_name.clone(),
            reason: "it is no longer enrolled".into(),
        })?;
        if let Some(why) = placement::shortfall(&node, grows) {
            // Tenants learn that the node is full, not what else it holds.
            let more = said(grows);
            return Err(ApiError::InsufficientCapacity(if actor.is_admin {
                format!("{more} more does not fit: {why}")
            } else {
                format!("its node has no room for {more} more")
            }));
        }
    }
    let client = client_of(state, m.node_id, &m.node_name)?;
    let b = client.machine_update(id, &update).await.map_err(|e| ApiError::from_node(&m.node_name, e))?;
    answered_for(&m.node_name, id, &b)?;
    if let Some(name) = &req.name {
        machines::machine_rename(&state.db, id, name).await.map_err(|e| {
            if is_unique_violation(&e) {
                ApiError::AlreadyExists(format!("this tenant already has a machine named {name:?}"))
            } else {
                e.into()
            }
        })?;
    }
    take_machine_report(state, m.node_id, &b, IfUnknown::Skip).await?;
    // The answer is the node's, not a read of the row: an older report of the node (sent
    // before this change, applied by the reconciler just after it) may briefly be there.
    let mut updated = with_report(machine_get(state, actor, id).await?, &b);
    if let Some(name) = req.name {
        updated.name = name;
    }
    state.publish(Event::MachineUpdated { machine: updated.clone() });
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_increases_count_as_growth() {
        let m: Machine = serde_json::from_value(serde_json::json!({
            "id": "00000000-0000-4000-8000-000000000001", "name": "a", "kind": "vm",
            "tenant_id": null, "node_id": "00000000-0000-4000-8000-000000000002", "node_name": "n",
            "vcpus": 4, "memory_mib": 1024, "disk_gib": 10, "image": null, "port_forwards": [],
            "boot_order": [], "cdrom": null, "state": "stopped", "managed": true,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        let req = MachineUpdate {
            vcpus: Some(2),
            memory_mib: Some(1536),
            disk_gib: Some(10),
            ..Default::default()
        };
        let g = growth(&m, &req);
        assert_eq!((g.vcpus, g.memory_mib, g.disk_gib), (0, 512, 0));
        assert_eq!(said(g), "512 MiB of memory");
        let g = growth(&m, &MachineUpdate { vcpus: Some(6), disk_gib: Some(12), ..req });
        assert_eq!(said(g), "2 vCPUs and 512 MiB of memory and 2 GiB of disk");
        let g = growth(&m, &MachineUpdate::default());
        assert_eq!((g.vcpus, g.memory_mib, g.disk_gib), (0, 0, 0));
    }
}
