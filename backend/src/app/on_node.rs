//! Calling a node from app logic: its client, and its answers checked before they are
//! believed (a node's report is input like any other).

use std::sync::Arc;

use corral_api::bridge::BridgeMachine;
use corral_api::machine::Machine;
use corral_api::task::BridgeTask;
use corral_api::{MachineId, UserId};

use crate::auth::Actor;
use crate::db::Db;
use crate::error::ApiError;
use crate::nodes::BridgeClient;
use crate::nodes::client::TaskStarted;
use crate::nodes::reconciler::take_machine_report;
use crate::state::AppState;
use crate::store::machines::IfUnknown;
use crate::store::tasks;

/// The link to a node, or 503 if there is none.
pub fn client_of(state: &AppState, node: corral_api::NodeId, name: &str) -> Result<BridgeClient, ApiError> {
    state.nodes.get(node).ok_or_else(|| ApiError::NodeUnreachable {
        node: name.to_string(),
        reason: "no link configured".into(),
    })
}

/// The link to a node for work `actor` asks for: each task the node starts is recorded as
/// theirs, for the task log.
pub fn client_for(
    state: &AppState,
    actor: &Actor,
    node: corral_api::NodeId,
    name: &str,
) -> Result<BridgeClient, ApiError> {
    let hook = RecordStarter { db: state.db.clone(), user: actor.id, username: actor.username.clone() };
    Ok(client_of(state, node, name)?.on_task_start(Arc::new(hook)))
}

/// Writes who asked for each task as the node answers with it.
#[derive(Debug)]
struct RecordStarter {
    db: Db,
    user: UserId,
    username: String,
}

#[async_trait::async_trait]
impl TaskStarted for RecordStarter {
    async fn task_started(&self, task: &BridgeTask) {
        // The node has the work in hand; losing the name is better than failing the request.
        if let Err(e) = tasks::task_started_by(&self.db, task.id, self.user, &self.username).await {
            tracing::warn!(task = %task.id, error = %e, "could not record who started the task");
        }
    }
}

/// Takes a node's answer about `m` as its report: the row is updated and announced.
pub async fn apply_bridge(state: &AppState, m: &Machine, b: &BridgeMachine) -> Result<Machine, ApiError> {
    answered_for(&m.node_name, m.id, b)?;
    match take_machine_report(state, m.node_id, b, IfUnknown::Skip).await? {
        Some(changed) => Ok(changed),
        None => Ok(with_report(m.clone(), b)),
    }
}

/// The machine as the node's report `b` has it: what the node owns (sizes, devices, state)
/// from the report, the rest (owner, names, times) from `m`.
pub fn with_report(m: Machine, b: &BridgeMachine) -> Machine {
    Machine {
        vcpus: b.vcpus,
        memory_mib: b.memory_mib,
        disk_gib: b.disk_gib,
        port_forwards: b.port_forwards.clone(),
        boot_order: b.boot_order.clone(),
        cdrom: b.cdrom.clone(),
        host_bridge: b.host_bridge.clone(),
        zone: b.zone.clone(),
        state: b.state,
        ..m
    }
}

/// A node's answer about a machine must be about that machine.
pub fn answered_for(node: &str, want: MachineId, b: &BridgeMachine) -> Result<(), ApiError> {
    if b.id == want {
        return Ok(());
    }
    Err(ApiError::NodeFailed {
        node: node.to_string(),
        message: format!("answered with machine {} instead of {want}", b.id),
    })
}
