//! Calling a node from app logic: its client, and its answers checked before they are
//! believed (a node's report is input like any other).

use corral_api::MachineId;
use corral_api::bridge::BridgeMachine;
use corral_api::machine::Machine;

use crate::error::ApiError;
use crate::nodes::BridgeClient;
use crate::nodes::reconciler::take_machine_report;
use crate::state::AppState;

/// The link to a node, or 503 if there is none.
pub fn client_of(state: &AppState, node: corral_api::NodeId, name: &str) -> Result<BridgeClient, ApiError> {
    state.nodes.get(node).ok_or_else(|| ApiError::NodeUnreachable {
        node: name.to_string(),
        reason: "no link configured".into(),
    })
}

/// Takes a node's answer about `m` as its report: the row is updated and announced.
pub async fn apply_bridge(state: &AppState, m: &Machine, b: &BridgeMachine) -> Result<Machine, ApiError> {
    answered_for(&m.node_name, m.id, b)?;
    match take_machine_report(state, m.node_id, b).await? {
        Some(changed) => Ok(changed),
        None => Ok(Machine { state: b.state, ..m.clone() }),
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
