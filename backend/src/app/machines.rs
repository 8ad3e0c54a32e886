//! Machine operations: list, get, create, delete and power, with their rules (updates are in
//! `machine_update.rs`).
//!
//! A create is checked here (the caller's tenant and role, the idempotency key, the nodes
//! that could hold it) and made by `provision`, the path clones take too. The machine id is
//! the node's idempotency key, so a retry after a cut link never makes a second machine.

use corral_api::bridge::BridgeMachineCreate;
use corral_api::event::Event;
use corral_api::machine::{Machine, MachineCreate, MachineState};
use corral_api::node::Node;
use corral_api::session::Role;
use corral_api::{ErrorCode, MachineId};

use super::on_node::{apply_bridge, client_for, client_of};
use super::placement;
use super::provision::{NodeCall, Place, Provision, node_make, provision};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::nodes::NodeError;
use crate::state::AppState;
use crate::store::guests::{self, Guest};
use crate::store::machines::{self, NewMachine};
use crate::store::nodes;

pub async fn machine_list(state: &AppState, actor: &Actor) -> Result<Vec<Machine>, ApiError> {
    Ok(machines::machine_list(&state.db, &actor.visibility()).await?)
}

/// The machine if the caller may see it; 404 otherwise, the same as if it did not exist.
pub async fn machine_get(state: &AppState, actor: &Actor, id: MachineId) -> Result<Machine, ApiError> {
    match machines::machine_get(&state.db, id).await? {
        Some(m) if actor.may_see(&m) => Ok(m),
        _ => Err(ApiError::NotFound(format!("machine {id}"))),
    }
}

/// What a create did.
#[derive(Debug)]
pub enum Created {
    /// Made now.
    New(Machine),
    /// Made by an earlier request with the same idempotency key; nothing was done again.
    Replayed(Machine),
}

/// The machine id a user's idempotency key stands for: the same key always names the same
/// machine, so a retried create can only ever find or make that one.
fn id_for_key(user: corral_api::UserId, key: &str) -> MachineId {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(b"corral idempotency key\0")
        .chain_update(user.0.as_bytes())
        .chain_update(key.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    MachineId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// What a create asked for, as a fingerprint kept with the machine: a replay must be the very
/// same request, every field of it, whatever has happened to the machine since.
fn request_fingerprint(req: &MachineCreate) -> String {
    use sha2::Digest;
    // Serialization follows the struct's field order, so equal requests give equal bytes.
    let bytes = serde_json::to_vec(req).unwrap_or_default();
    sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates a machine. With an idempotency key, a retry of the same request (after a timeout
/// or a cut link) answers with the machine the first one made instead of making another.
pub async fn machine_create(
    state: &AppState,
    actor: &Actor,
    req: MachineCreate,
    idempotency_key: Option<&str>,
) -> Result<Created, ApiError> {
    corral_api::validate::machine_create(&req)?;
    // A machine the node made after an earlier request with this key gave up: found by the
    // reconciler, unmanaged. The create takes it back, on its node.
    let mut take_back: Option<corral_api::NodeId> = None;
    let id = match idempotency_key {
        None => MachineId::new_random(),
        Some(key) => {
            corral_api::validate::idempotency_key(key)?;
            let id = id_for_key(actor.id, key);
            match machines::machine_get(&state.db, id).await? {
                Some(prior) if prior.managed => {
                    // The same rule as a create, before anything about the machine is told:
                    // someone who left its tenant learns nothing from their old key.
                    if actor.role_in(prior.tenant_id).is_none_or(|r| r < Role::Owner) {
                        return Err(ApiError::NotFound(format!("machine {id}")));
                    }
                    let asked = machines::machine_request_fingerprint(&state.db, id).await?;
                    if asked.as_deref() != Some(request_fingerprint(&req).as_str()) {
                        return Err(ApiError::Conflict(
                            "this Idempotency-Key was used for another request".into(),
                        ));
                    }
                    // Still `creating`: the first request may have died (the backend was
                    // killed) before its node heard of it. Asking again is safe: the node
                    // makes a machine once per id, and answers a repeat with it.
                    if prior.state == MachineState::Creating {
                        let node = nodes::node_get(&state.db, prior.node_id)
                            .await?
                            .ok_or_else(|| ApiError::NotFound(format!("node {}", prior.node_id)))?;
                        let guest = guests::guest_get(&state.db, id).await?;
                        let call = NodeCall::Create(bridge_create(id, req, guest.as_ref()));
                        return node_make(state, actor, &node, id, call).await.map(Created::Replayed);
                    }
                    return Ok(Created::Replayed(prior));
                }
                Some(unmanaged) => take_back = Some(unmanaged.node_id),
                None => {}
            }
            id
        }
    };
    let tenant_id = match req.tenant_id {
        Some(t) => t,
        None => actor
            .me
            .memberships
            .iter()
            .find(|m| m.role == Role::Owner)
            .or(actor.me.memberships.first())
            .map(|m| m.tenant_id)
            .ok_or_else(|| ApiError::Forbidden("you belong to no tenant".into()))?,
    };
    match actor.role_in(Some(tenant_id)) {
        None => return Err(ApiError::NotFound(format!("tenant {tenant_id}"))),
        Some(r) if r < Role::Owner => {
            return Err(ApiError::Forbidden("creating machines needs the owner role".into()));
        }
        Some(_) => {}
    }
    // Admins pass the role check for any id: one that names no tenant is 404, not a
    // database error at the insert.
    if !crate::store::users::tenant_exists(&state.db, tenant_id).await? {
        return Err(ApiError::NotFound(format!("tenant {tenant_id}")));
    }

    let machine = NewMachine {
        id,
        name: req.name.clone(),
        kind: req.kind,
        vcpus: req.vcpus,
        memory_mib: req.memory_mib,
        disk_gib: req.disk_gib,
        image: req.image.clone(),
        devices: machines::Devices {
            boot_order: req.boot_order.clone(),
            cdrom: req.cdrom.clone(),
            host_bridge: req.host_bridge.clone(),
            zone: None,
        },
        request_fingerprint: idempotency_key.map(|_| request_fingerprint(&req)),
    };
    let candidates = candidates(state, &req).await?;
    let place = match (take_back, req.node_id) {
        // Already on its node (and counted in its use): no room to find.
        (Some(node), _) => Place::Fixed(pick(candidates, node)?),
        (None, Some(node)) => Place::On(pick(candidates, node)?),
        (None, None) => Place::Best(candidates),
    };
    let guest = super::guests::guest_for_create(state, actor, &req).await?;
    let call = NodeCall::Create(bridge_create(id, req, guest.as_ref()));
    let p = Provision { tenant_id, machine, place, call, take_back: take_back.is_some(), guest };
    provision(state, actor, p).await.map(Created::New)
}

/// The nodes that could hold the machine: those that run its kind, hold its image and offer
/// its host bridge. Each filter that leaves none says so, on its field.
async fn candidates(state: &AppState, req: &MachineCreate) -> Result<Vec<Node>, ApiError> {
    let mut all = nodes::node_list(&state.db).await?;
    all.retain(|n| n.kinds.contains(&req.kind));
    if all.is_empty() {
        return Err(ApiError::Validation {
            field: "kind".into(),
            message: format!("no node runs {}s", req.kind.label()),
        });
    }
    if let Some(image) = &req.image {
        // Only nodes that hold the image can make an overlay of it.
        let holders = placement::nodes_holding(state, &all, image).await;
        all.retain(|n| holders.contains(&n.id));
        if all.is_empty() {
            return Err(ApiError::Validation {
                field: "image".into(),
                message: format!("no online node holds an image named {image}"),
            });
        }
    }
    if let Some(bridge) = &req.host_bridge {
        // Only nodes offering the host bridge can put the NIC on it.
        all.retain(|n| n.host_bridges.contains(bridge));
        if all.is_empty() {
            return Err(ApiError::Validation {
                field: "host_bridge".into(),
                message: format!("no node offers a host bridge named {bridge}"),
            });
        }
    }
    Ok(all)
}

/// The asked-for node among the candidates; one that is not (unknown, or without the kind,
/// image or bridge asked for) is not found.
fn pick(candidates: Vec<Node>, id: corral_api::NodeId) -> Result<Node, ApiError> {
    candidates.into_iter().find(|n| n.id == id).ok_or_else(|| ApiError::NotFound(format!("node {id}")))
}

/// What the node is asked to make for `req`, as machine `id`, its guest given `guest`.
fn bridge_create(id: MachineId, req: MachineCreate, guest: Option<&Guest>) -> BridgeMachineCreate {
    BridgeMachineCreate {
        id,
        name: req.name,
        kind: req.kind,
        vcpus: req.vcpus,
        memory_mib: req.memory_mib,
        disk_gib: req.disk_gib,
        image: req.image,
        port_forwards: req.port_forwards,
        boot_order: req.boot_order,
        cdrom: req.cdrom,
        host_bridge: req.host_bridge,
        init: guest.map(|g| super::guests::init_of(id, g)),
    }
}

pub async fn machine_delete(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    force: bool,
) -> Result<Machine, ApiError> {
    actor.require_machine(&m, Role::Owner)?;
    let id = m.id;
    if m.state == MachineState::Lost {
        // Its node no longer has it: there is nothing to ask, only the record to drop.
        machines::machine_delete(&state.db, id).await?;
        state.publish(Event::MachineRemoved { id });
        return Ok(Machine { state: MachineState::Deleting, ..m });
    }
    let client = client_for(state, actor, m.node_id, &m.node_name)?;
    match client.machine_delete(id, force).await {
        // The node's task removes it; its end arrives as a removal on the event stream.
        // Only the state is updated here: the node may already have announced the removal,
        // and the row must not come back as an unmanaged machine.
        Ok(_task) => match machines::machine_set_state(&state.db, id, MachineState::Deleting).await? {
            Some(changed) => {
                state.publish(Event::MachineUpdated { machine: changed.clone() });
                Ok(changed)
            }
            None => Ok(Machine { state: MachineState::Deleting, ..m }),
        },
        Err(NodeError::Api { body, .. }) if body.code == ErrorCode::NotFound => {
            machines::machine_delete(&state.db, id).await?;
            state.publish(Event::MachineRemoved { id });
            Ok(Machine { state: MachineState::Deleting, ..m })
        }
        Err(e) => Err(ApiError::from_node(&m.node_name, e)),
    }
}

pub async fn machine_power(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    action: corral_api::spec::PowerAction,
) -> Result<Machine, ApiError> {
    actor.require_machine(&m, Role::Operator)?;
    let client = client_of(state, m.node_id, &m.node_name)?;
    let b = client.machine_power(m.id, action).await.map_err(|e| ApiError::from_node(&m.node_name, e))?;
    apply_bridge(state, &m, &b).await
}
