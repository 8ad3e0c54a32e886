//! Machine operations: list, get, create, delete and power, with their rules.
//!
//! Create writes the row first (`creating`) and then asks the node, so a crash in between
//! leaves a row the reconciler can explain rather than a VM nobody knows. If the node refuses
//! or cannot be reached, the row is removed again: a failed create leaves nothing behind.
//! The node request is retried with the same machine id, which the bridge treats as the
//! idempotency key, so a retry after a cut link never makes a second machine.

use corral_api::bridge::{BridgeMachineCreate, BridgeMachineUpdate};
use corral_api::event::Event;
use corral_api::machine::{Machine, MachineCreate, MachineState, MachineUpdate};
use corral_api::session::Role;
use corral_api::{ErrorCode, MachineId};
use hyper::StatusCode;

use super::placement::{self, Demand};
use crate::auth::Actor;
use crate::db::is_unique_violation;
use crate::error::ApiError;
use crate::nodes::reconciler::take_machine_report;
use crate::nodes::{BridgeClient, NodeError};
use crate::state::AppState;
use crate::store::{machines, nodes};

/// How often a create is sent again when the link fails before the node answers.
const CREATE_ATTEMPTS: u32 = 3;

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
                        let (node, node_name) = (prior.node_id, prior.node_name.clone());
                        return send_create(state, node, &node_name, bridge_create(id, req))
                            .await
                            .map(Created::Replayed);
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

    // Held until the row is written, so a racing create counts this one.
    let admission = super::quotas::admit(
        state,
        tenant_id,
        super::quotas::Demand {
            vcpus: u64::from(req.vcpus),
            memory_mib: req.memory_mib,
            disk_gib: req.disk_gib,
            machines: 1,
            snapshots: 0,
        },
    )
    .await?;
    let demand = Demand { vcpus: req.vcpus, memory_mib: req.memory_mib, disk_gib: req.disk_gib };
    let mut all_nodes = nodes::node_list(&state.db).await?;
    if let Some(image) = &req.image {
        // Only nodes that hold the image can make an overlay of it.
        let holders = super::images::nodes_holding(state, &all_nodes, image).await;
        all_nodes.retain(|n| holders.contains(&n.id));
        if all_nodes.is_empty() {
            return Err(ApiError::Validation {
                field: "image".into(),
                message: format!("no online node holds an image named {image}"),
            });
        }
    }
    if let Some(bridge) = &req.host_bridge {
        // Only nodes offering the host bridge can put the NIC on it.
        all_nodes.retain(|n| n.host_bridges.contains(bridge));
        if all_nodes.is_empty() {
            return Err(ApiError::Validation {
                field: "host_bridge".into(),
                message: format!("no node offers a host bridge named {bridge}"),
            });
        }
    }
    let node = match (take_back, req.node_id) {
        // Already on its node (and counted in its use): no room to find.
        (Some(id), _) => {
            all_nodes.iter().find(|n| n.id == id).ok_or_else(|| ApiError::NotFound(format!("node {id}")))?
        }
        (None, Some(id)) => {
            let n = all_nodes
                .iter()
                .find(|n| n.id == id)
                .ok_or_else(|| ApiError::NotFound(format!("node {id}")))?;
            if let Some(why) = placement::shortfall(n, demand) {
                return Err(ApiError::InsufficientCapacity(why));
            }
            n
        }
        (None, None) => placement::place(&all_nodes, demand).map_err(ApiError::InsufficientCapacity)?,
    };
    // A node without a link is refused before any row is written.
    client_of(state, node.id, &node.name)?;

    let new = machines::NewMachine {
        id,
        name: req.name.clone(),
        tenant_id,
        node_id: node.id,
        vcpus: req.vcpus,
        memory_mib: req.memory_mib,
        disk_gib: req.disk_gib,
        image: req.image.clone(),
        devices: machines::Devices {
            boot_order: req.boot_order.clone(),
            cdrom: req.cdrom.clone(),
            host_bridge: req.host_bridge.clone(),
        },
        request_fingerprint: idempotency_key.map(|_| request_fingerprint(&req)),
    };
    if take_back.is_some() {
        machines::machine_delete(&state.db, id).await?;
    }
    let inserted = machines::machine_insert(&state.db, &new).await;
    drop(admission);
    if let Err(e) = inserted {
        if !is_unique_violation(&e) {
            return Err(e.into());
        }
        // Either the name is taken, or the same idempotency key is being served right now.
        return Err(match machines::machine_get(&state.db, id).await? {
            Some(_) => {
                ApiError::Conflict("a create with this Idempotency-Key is in progress; retry shortly".into())
            }
            None => {
                ApiError::AlreadyExists(format!("this tenant already has a machine named {:?}", req.name))
            }
        });
    }

    send_create(state, node.id, &node.name, bridge_create(id, req)).await.map(Created::New)
}

/// What the node is asked to make for `req`, as machine `id`.
fn bridge_create(id: MachineId, req: MachineCreate) -> BridgeMachineCreate {
    BridgeMachineCreate {
        id,
        name: req.name,
        vcpus: req.vcpus,
        memory_mib: req.memory_mib,
        disk_gib: req.disk_gib,
        image: req.image,
        port_forwards: req.port_forwards,
        boot_order: req.boot_order,
        cdrom: req.cdrom,
        host_bridge: req.host_bridge,
    }
}

/// Asks the node to make the machine whose `creating` row is written, retrying with the same
/// id while the link fails, and answers with the row as the node's report left it. If the
/// node refuses or never answers, the row goes: a failed create leaves nothing behind.
async fn send_create(
    state: &AppState,
    node: corral_api::NodeId,
    node_name: &str,
    bridge_req: BridgeMachineCreate,
) -> Result<Machine, ApiError> {
    let id = bridge_req.id;
    let client = client_of(state, node, node_name)?;
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        match client.machine_create(&bridge_req).await {
            Err(e) if e.is_link_failure() && attempt < CREATE_ATTEMPTS => {
                tracing::warn!(machine = %id, attempt, error = %e, "the link failed before the node answered the create; retrying with the same id");
                tokio::time::sleep(state.tuning.backoff_min * attempt).await;
            }
            other => break other,
        }
    };
    match result {
        Ok(b) => {
            if let Err(e) = answered_for(node_name, id, &b) {
                machines::machine_delete_if_creating(&state.db, id).await?;
                return Err(e);
            }
            take_machine_report(state, node, &b).await?;
            machines::machine_get(&state.db, id)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("machine {id} vanished")))
        }
        Err(e) => {
            // The node refused, or never answered after retries: take the row back out so
            // nothing half-made is left, if it is still `creating` (a replay running beside
            // this request may have made it meanwhile). If the node did make it after all,
            // the reconciler shows it as unmanaged rather than lose it, and a retry with the
            // same idempotency key takes it back.
            machines::machine_delete_if_creating(&state.db, id).await?;
            Err(node_error(node_name, e))
        }
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
    let client = client_of(state, m.node_id, &m.node_name)?;
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
        Err(e) => Err(node_error(&m.node_name, e)),
    }
}

/// Renames a machine or grows its disk (owners only). The name is checked against the
/// tenant's other machines before the node is asked, so a taken name changes nothing.
pub async fn machine_update(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    req: MachineUpdate,
) -> Result<Machine, ApiError> {
    actor.require_machine(&m, Role::Owner)?;
    let id = m.id;
    if let Some(name) = &req.name {
        corral_api::validate::machine_name(name)?;
        let taken = machines::machine_list(&state.db, &crate::store::machines::Visibility::All)
            .await?
            .into_iter()
            .any(|o| o.id != id && o.tenant_id == m.tenant_id && &o.name == name);
        if taken {
            return Err(ApiError::AlreadyExists(format!("this tenant already has a machine named {name:?}")));
        }
    }
    if let Some(disk) = req.disk_gib {
        corral_api::validate::disk_gib(disk)?;
    }
    // Growing a disk counts against the tenant's disk quota.
    let _admission = match (req.disk_gib, m.tenant_id) {
        (Some(disk), Some(tenant)) if disk > m.disk_gib => Some(
            super::quotas::admit(
                state,
                tenant,
                super::quotas::Demand { disk_gib: disk - m.disk_gib, ..Default::default() },
            )
            .await?,
        ),
        _ => None,
    };
    if let Some(order) = &req.boot_order {
        corral_api::validate::boot_order(order)?;
    }
    if let Some(Some(iso)) = &req.cdrom {
        corral_api::validate::cdrom(iso)?;
    }
    let client = client_of(state, m.node_id, &m.node_name)?;
    let update = BridgeMachineUpdate {
        name: req.name.clone(),
        disk_gib: req.disk_gib,
        boot_order: req.boot_order,
        cdrom: req.cdrom,
    };
    let b = client.machine_update(id, &update).await.map_err(|e| node_error(&m.node_name, e))?;
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
    take_machine_report(state, m.node_id, &b).await?;
    let updated = machine_get(state, actor, id).await?;
    state.publish(Event::MachineUpdated { machine: updated.clone() });
    Ok(updated)
}

/// `action` is `start`, `stop`, `force-stop`, `reboot`, `reset`, `pause` or `resume`.
pub async fn machine_power(
    state: &AppState,
    actor: &Actor,
    m: Machine,
    action: &str,
) -> Result<Machine, ApiError> {
    actor.require_machine(&m, Role::Operator)?;
    let client = client_of(state, m.node_id, &m.node_name)?;
    let b = client.machine_power(m.id, action).await.map_err(|e| node_error(&m.node_name, e))?;
    apply_bridge(state, &m, &b).await
}

pub(crate) async fn apply_bridge(
    state: &AppState,
    m: &Machine,
    b: &corral_api::bridge::BridgeMachine,
) -> Result<Machine, ApiError> {
    answered_for(&m.node_name, m.id, b)?;
    match take_machine_report(state, m.node_id, b).await? {
        Some(changed) => Ok(changed),
        None => Ok(Machine { state: b.state, ..m.clone() }),
    }
}

/// A node's answer about a machine must be about that machine.
pub(crate) fn answered_for(
    node: &str,
    want: MachineId,
    b: &corral_api::bridge::BridgeMachine,
) -> Result<(), ApiError> {
    if b.id == want {
        return Ok(());
    }
    Err(ApiError::NodeFailed {
        node: node.to_string(),
        message: format!("answered with machine {} instead of {want}", b.id),
    })
}

pub fn client_of(state: &AppState, node: corral_api::NodeId, name: &str) -> Result<BridgeClient, ApiError> {
    state.nodes.get(node).ok_or_else(|| ApiError::NodeUnreachable {
        node: name.to_string(),
        reason: "no link configured".into(),
    })
}

/// Maps a node's answer to ours: its refusals keep their meaning, link failures become 503.
pub(crate) fn node_error(node: &str, e: NodeError) -> ApiError {
    match e {
        NodeError::Api { status, body } => match body.code {
            ErrorCode::Conflict => ApiError::Conflict(body.message),
            ErrorCode::Busy => ApiError::Busy(body.message),
            ErrorCode::InsufficientCapacity => {
                ApiError::InsufficientCapacity(format!("{node}: {}", body.message))
            }
            // The bridge's messages are whole sentences; strip what our own variants add.
            ErrorCode::NotFound => {
                ApiError::NotFound(body.message.trim_end_matches(" not found").to_string())
            }
            ErrorCode::ValidationFailed => {
                let field = body.field.unwrap_or_default();
                let message =
                    body.message.strip_prefix(&format!("{field}: ")).unwrap_or(&body.message).to_string();
                ApiError::Validation { field, message }
            }
            // The node's own failure with a detail an operator can act on (a QEMU that would
            // not start, a full disk): shown, marked as the node's.
            ErrorCode::Internal if body.message != "internal error" => {
                ApiError::NodeFailed { node: node.to_string(), message: body.message }
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                ApiError::NodeUnreachable { node: node.to_string(), reason: body.message }
            }
            _ => ApiError::internal(anyhow::anyhow!("node {node} answered {status}: {}", body.message)),
        },
        NodeError::Protocol(msg) => ApiError::internal(anyhow::anyhow!("node {node}: {msg}")),
        e @ (NodeError::Unreachable(_) | NodeError::Timeout(_)) => {
            ApiError::NodeUnreachable { node: node.to_string(), reason: e.to_string() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::ErrorBody;

    #[test]
    fn a_nodes_own_failure_keeps_its_words_and_link_failures_become_503() {
        let failed = NodeError::Api {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: ErrorBody::new(ErrorCode::Internal, "QEMU did not start: cannot allocate memory"),
        };
        let e = node_error("n1", failed);
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(e.to_string(), "node n1: QEMU did not start: cannot allocate memory");
        let hidden = NodeError::Api {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: ErrorBody::new(ErrorCode::Internal, "internal error"),
        };
        assert_eq!(node_error("n1", hidden).status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cut = node_error("n1", NodeError::Unreachable("connection reset".into()));
        assert_eq!((cut.status(), cut.code()), (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NodeUnreachable));
        let busy = NodeError::Api {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: ErrorBody::new(ErrorCode::Busy, "snapshot in progress"),
        };
        assert_eq!(node_error("n1", busy).code(), ErrorCode::Busy);
    }
}
