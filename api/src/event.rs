//! Messages the backend pushes to browsers on `GET /api/v1/events` (a websocket, JSON text
//! frames). Each is checked against the receiving user's permissions before it is sent.

use serde::{Deserialize, Serialize};

use crate::ids::MachineId;
use crate::machine::Machine;
use crate::node::Node;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A machine appeared or changed (state, spec, name).
    MachineUpdated { machine: Machine },
    /// A machine is gone.
    MachineRemoved { id: MachineId },
    /// A node's status, facts or usage changed. Sent to every logged-in user.
    NodeUpdated { node: Node },
    /// A task started, moved on, or ended.
    TaskUpdated { task: crate::task::Task },
    /// New samples of a node and its machines are stored: live charts fetch again. Sent to
    /// every logged-in user (it says only which node).
    Sampled { node_id: crate::NodeId },
}
