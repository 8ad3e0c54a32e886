//! The one way a machine comes to be, asked for whole (a VM or a zone) or cloned from a
//! snapshot: admitted against its tenant's quotas, placed on a node, written `creating`, made
//! by the node, then synced from the node's answer, or taken out again.
//!
//! The row (with what its guest is given) is written before the node is asked, so a crash
//! in between leaves a row the
//! reconciler can explain rather than a machine nobody knows. If the node refuses or cannot be
//! reached, the row goes again: a failed provision leaves nothing behind. The quota admission
//! is held until the row is written, so a racing request counts this one.

use corral_api::bridge::{BridgeMachine, BridgeMachineCreate, BridgeSnapshotClone};
use corral_api::machine::Machine;
use corral_api::node::Node;
use corral_api::{MachineId, TenantId};

use super::on_node::{answered_for, client_for, client_of};
use super::placement::{self, Demand};
use super::quotas;
use crate::auth::Actor;
use crate::db::is_unique_violation;
use crate::error::ApiError;
use crate::nodes::NodeError;
use crate::nodes::reconciler::take_machine_report;
use crate::state::AppState;
use crate::store::guests::{self, Guest};
use crate::store::machines::{self, IfUnknown, NewMachine};

/// How often a create is sent again when the link fails before the node answers.
const CREATE_ATTEMPTS: u32 = 3;

/// A machine to make.
pub struct Provision {
    pub tenant_id: TenantId,
    /// What the row says it is; its id is the one the node is asked to use.
    pub machine: NewMachine,
    pub place: Place,
    pub call: NodeCall,
    /// The row of an unmanaged machine with this id (made by the node after an earlier
    /// request with the same idempotency key gave up) is replaced by this one.
    pub take_back: bool,
    /// What its guest is given, kept beside its row (and going with it).
    pub guest: Option<Guest>,
}

/// Where a machine goes.
pub enum Place {
    /// The node with the most room among these candidates (already narrowed to the nodes that
    /// run the kind, hold the image and offer the host bridge).
    Best(Vec<Node>),
    /// This node, if it has room.
    On(Node),
    /// This node with no room check: the machine is already there (taken back), or the node
    /// decides for itself (a clone beside its source).
    Fixed(Node),
}

/// What the node is asked to do.
pub enum NodeCall {
    /// Make the machine; sent again with the same id while the link fails (the node makes a
    /// machine once per id).
    Create(BridgeMachineCreate),
    /// Copy a snapshot of `source` into the new machine, once, with the patient client.
    Clone { source: MachineId, snapshot: String, req: BridgeSnapshotClone },
}

/// Makes the machine and answers with its row as the node's report left it.
/// `actor` is who asked: the node's task is recorded as theirs, and an admin hears what each
/// node lacks when none has room (tenants learn only that no node has room for what they
/// asked).
pub async fn provision(state: &AppState, actor: &Actor, p: Provision) -> Result<Machine, ApiError> {
    let m = &p.machine;
    let admission = quotas::admit(
        state,
        p.tenant_id,
        quotas::Demand {
            vcpus: u64::from(m.vcpus),
            memory_mib: m.memory_mib,
            disk_gib: m.disk_gib,
            machines: 1,
            snapshots: 0,
        },
    )
    .await?;
    let demand = Demand { vcpus: m.vcpus, memory_mib: m.memory_mib, disk_gib: m.disk_gib };
    let refused = |why: String| {
        ApiError::InsufficientCapacity(if actor.is_admin {
            why
        } else {
            format!("no node has room for {}", demand.said())
        })
    };
    let node = match p.place {
        Place::Best(candidates) => placement::place(&candidates, demand).map_err(refused)?.clone(),
        Place::On(node) => match placement::shortfall(&node, demand) {
            Some(why) => return Err(refused(why)),
            None => node,
        },
        Place::Fixed(node) => node,
    };
    // A node without a link is refused before any row is written.
    client_of(state, node.id, &node.name)?;
    if p.take_back {
        machines::machine_delete(&state.db, m.id).await?;
    }
    // The row and what its guest is given, together: a crash between two inserts would leave
    // a machine that a replayed create makes without its keys and user data.
    let inserted = async {
        let mut tx = state.db.begin().await?;
        machines::machine_insert(&mut *tx, node.id, p.tenant_id, m).await?;
        if let Some(g) = &p.guest {
            guests::guest_put(&mut *tx, m.id, g).await?;
        }
        tx.commit().await
    }
    .await;
    drop(admission);
    if let Err(e) = inserted {
        if !is_unique_violation(&e) {
            return Err(e.into());
        }
        // Either the name is taken, or the same idempotency key is being served right now.
        return Err(match machines::machine_get(&state.db, m.id).await? {
            Some(_) => {
                ApiError::Conflict("a create with this Idempotency-Key is in progress; retry shortly".into())
            }
            None => ApiError::AlreadyExists(format!("this tenant already has a machine named {:?}", m.name)),
        });
    }
    node_make(state, actor, &node, m.id, p.call).await
}

/// Asks the node to make machine `id`, whose `creating` row is written, and answers with the
/// row as the node's report left it. If the node refuses or never answers, the row goes.
pub async fn node_make(
    state: &AppState,
    actor: &Actor,
    node: &Node,
    id: MachineId,
    call: NodeCall,
) -> Result<Machine, ApiError> {
    let result = match call {
        NodeCall::Create(req) => create_with_retries(state, actor, node, &req).await,
        NodeCall::Clone { source, snapshot, req } => {
            let client = client_for(state, actor, node.id, &node.name)?.patient();
            client.snapshot_clone(source, &snapshot, &req).await
        }
    };
    match result {
        Ok(b) => {
            if let Err(e) = answered_for(&node.name, id, &b) {
                machines::machine_delete_if_creating(&state.db, id).await?;
                return Err(e);
            }
            take_machine_report(state, node.id, &b, IfUnknown::Adopt).await?;
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
            Err(ApiError::from_node(&node.name, e))
        }
    }
}

async fn create_with_retries(
    state: &AppState,
    actor: &Actor,
    node: &Node,
    req: &BridgeMachineCreate,
) -> Result<BridgeMachine, NodeError> {
    let client = match client_for(state, actor, node.id, &node.name) {
        Ok(c) => c,
        Err(_) => return Err(NodeError::Unreachable("no link configured".into())),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client.machine_create(req).await {
            Err(e) if e.is_link_failure() && attempt < CREATE_ATTEMPTS => {
                tracing::warn!(machine = %req.id, attempt, error = %e, "the link failed before the node answered the create; retrying with the same id");
                tokio::time::sleep(state.tuning.backoff_min * attempt).await;
            }
            other => return other,
        }
    }
}
