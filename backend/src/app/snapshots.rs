//! Snapshot operations: the node does the work; the backend checks who may. A clone is a new
//! machine in the source's tenant, made as every new machine is (`provision`).

use corral_api::bridge::{BridgeSnapshotClone, BridgeSnapshotCreate};
use corral_api::machine::Machine;
use corral_api::session::Role;
use corral_api::snapshot::{Snapshot, SnapshotClone, SnapshotCreate};
use corral_api::{MachineId, validate};

use super::on_node::{apply_bridge, client_for, client_of};
use super::provision::{NodeCall, Place, Provision, provision};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::machines::{self, NewMachine};
use crate::store::nodes;

fn snapshot_name(name: &str) -> Result<(), ApiError> {
    validate::snapshot_name(name).map_err(ApiError::from)
}

/// The machine's snapshots (the caller was admitted as its viewer by the route's rule).
pub async fn snapshot_list(state: &AppState, m: Machine) -> Result<Vec<Snapshot>, ApiError> {
    let id = m.id;
    let client = client_of(state, m.node_id, &m.node_name)?.patient();
    let list = client.snapshot_list(id).await.map_err(|e| ApiError::from_node(&m.node_name, e))?;
    Ok(list.into_iter().map(Snapshot::from).collect())
}

pub async fn snapshot_create(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    req: SnapshotCreate,
) -> Result<Snapshot, ApiError> {
    let id = m.id;
    actor.require_machine(&m, Role::Operator)?;
    snapshot_name(&req.name)?;
    let client = client_for(state, actor, m.node_id, &m.node_name)?.patient();
    // Held until the snapshot exists, so racing snapshots cannot pass the limit together.
    let _admission = match m.tenant_id {
        Some(t) => Some(
            super::quotas::admit(state, t, super::quotas::Demand { snapshots: 1, ..Default::default() })
                .await?,
        ),
        None => None,
    };
    let s = client
        .snapshot_create(id, &BridgeSnapshotCreate { name: req.name, ram: req.ram })
        .await
        .map_err(|e| ApiError::from_node(&m.node_name, e))?;
    Ok(s.into())
}

pub async fn snapshot_rollback(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    name: &str,
) -> Result<Machine, ApiError> {
    let id = m.id;
    actor.require_machine(&m, Role::Operator)?;
    snapshot_name(name)?;
    let client = client_for(state, actor, m.node_id, &m.node_name)?.patient();
    let b = client.snapshot_rollback(id, name).await.map_err(|e| ApiError::from_node(&m.node_name, e))?;
    apply_bridge(state, &m, &b).await
}

pub async fn snapshot_delete(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    name: &str,
) -> Result<(), ApiError> {
    let id = m.id;
    actor.require_machine(&m, Role::Operator)?;
    snapshot_name(name)?;
    let client = client_for(state, actor, m.node_id, &m.node_name)?.patient();
    client.snapshot_delete(id, name).await.map_err(|e| ApiError::from_node(&m.node_name, e))
}

/// A new machine from a snapshot, owned by the source's tenant; needs the owner role there.
/// It is made beside its source, by the path every new machine takes.
pub async fn snapshot_clone(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    name: &str,
    req: SnapshotClone,
) -> Result<Machine, ApiError> {
    actor.require_machine(&m, Role::Owner)?;
    snapshot_name(name)?;
    validate::machine_name(&req.name)?;
    let tenant_id =
        m.tenant_id.ok_or_else(|| ApiError::Conflict("an unmanaged machine cannot be cloned".into()))?;
    let node = nodes::node_get(&state.db, m.node_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("node {}", m.node_id)))?;
    let id = MachineId::new_random();
    let machine = NewMachine {
        id,
        name: req.name.clone(),
        kind: m.kind,
        vcpus: m.vcpus,
        memory_mib: m.memory_mib,
        disk_gib: m.disk_gib,
        image: m.image.clone(),
        devices: machines::Devices {
            boot_order: m.boot_order.clone(),
            cdrom: m.cdrom.clone(),
            host_bridge: m.host_bridge.clone(),
            // The clone's own comes with its node's first report.
            zone: None,
        },
        request_fingerprint: None,
    };
    let guest = crate::store::guests::guest_get(&state.db, m.id)
        .await?
        .map(|g| super::guests::guest_for_clone(&m, &g, &req.name));
    let init = guest.as_ref().map(|g| super::guests::init_of(id, g));
    let call = NodeCall::Clone {
        source: m.id,
        snapshot: name.to_string(),
        req: BridgeSnapshotClone { id, name: req.name, init },
    };
    let p = Provision { tenant_id, machine, place: Place::Fixed(node), call, take_back: false, guest };
    provision(state, actor, p).await
}
