//! Snapshot operations: the node does the work; the backend checks who may, and for a clone
//! records the new machine in the same tenant (writing the row first and removing it again
//! if the node refuses, as a create does).

use corral_api::bridge::{BridgeSnapshotClone, BridgeSnapshotCreate};
use corral_api::machine::Machine;
use corral_api::session::Role;
use corral_api::snapshot::{Snapshot, SnapshotClone, SnapshotCreate};
use corral_api::{MachineId, validate};

use super::machines::{apply_bridge, client_of, node_error};
use crate::auth::Actor;
use crate::db::is_unique_violation;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::machines;

fn snapshot_name(name: &str) -> Result<(), ApiError> {
    validate::snapshot_name(name).map_err(ApiError::from)
}

/// The machine's snapshots (the caller was admitted as its viewer by the route's rule).
pub async fn snapshot_list(state: &AppState, m: Machine) -> Result<Vec<Snapshot>, ApiError> {
    let id = m.id;
    let client = client_of(state, m.node_id, &m.node_name)?.patient();
    let list = client.snapshot_list(id).await.map_err(|e| node_error(&m.node_name, e))?;
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
    let client = client_of(state, m.node_id, &m.node_name)?.patient();
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
        .map_err(|e| node_error(&m.node_name, e))?;
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
    let client = client_of(state, m.node_id, &m.node_name)?.patient();
    let b = client.snapshot_rollback(id, name).await.map_err(|e| node_error(&m.node_name, e))?;
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
    let client = client_of(state, m.node_id, &m.node_name)?.patient();
    client.snapshot_delete(id, name).await.map_err(|e| node_error(&m.node_name, e))
}

/// A new machine from a snapshot, owned by the source's tenant; needs the owner role there.
pub async fn snapshot_clone(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    name: &str,
    req: SnapshotClone,
) -> Result<Machine, ApiError> {
    let id = m.id;
    actor.require_machine(&m, Role::Owner)?;
    snapshot_name(name)?;
    validate::machine_name(&req.name)?;
    let tenant_id =
        m.tenant_id.ok_or_else(|| ApiError::Conflict("an unmanaged machine cannot be cloned".into()))?;
    let client = client_of(state, m.node_id, &m.node_name)?.patient();
    let admission = super::quotas::admit(
        state,
        tenant_id,
        super::quotas::Demand {
            vcpus: u64::from(m.vcpus),
            memory_mib: m.memory_mib,
            disk_gib: m.disk_gib,
            machines: 1,
            snapshots: 0,
        },
    )
    .await?;
    let new_id = MachineId::new_random();
    let row = machines::NewMachine {
        id: new_id,
        name: req.name.clone(),
        tenant_id,
        node_id: m.node_id,
        vcpus: m.vcpus,
        memory_mib: m.memory_mib,
        disk_gib: m.disk_gib,
        image: m.image.clone(),
        devices: machines::Devices {
            boot_order: m.boot_order.clone(),
            cdrom: m.cdrom.clone(),
            host_bridge: m.host_bridge.clone(),
        },
        request_fingerprint: None,
    };
    let inserted = machines::machine_insert(&state.db, &row).await;
    drop(admission);
    inserted.map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::AlreadyExists(format!("this tenant already has a machine named {:?}", req.name))
        } else {
            e.into()
        }
    })?;
    match client.snapshot_clone(id, name, &BridgeSnapshotClone { id: new_id, name: req.name }).await {
        Ok(b) => {
            if let Err(e) = super::machines::answered_for(&m.node_name, new_id, &b) {
                machines::machine_delete_if_creating(&state.db, new_id).await?;
                return Err(e);
            }
            crate::nodes::reconciler::take_machine_report(state, m.node_id, &b).await?;
            let created = machines::machine_get(&state.db, new_id)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("clone {new_id} vanished")))?;
            Ok(created)
        }
        Err(e) => {
            machines::machine_delete_if_creating(&state.db, new_id).await?;
            Err(node_error(&m.node_name, e))
        }
    }
}
