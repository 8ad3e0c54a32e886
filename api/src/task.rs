//! Tasks: long operations on a node, with steps, progress and log lines, followed live.

use serde::{Deserialize, Serialize};

use crate::ErrorBody;
use crate::ids::{MachineId, NodeId, TaskId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Running,
    Succeeded,
    Failed,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Succeeded, Self::Failed].into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskStep {
    pub name: String,
    pub state: StepState,
}

/// A task as its node reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeTask {
    pub id: TaskId,
    /// `image_import`, …
    pub kind: String,
    /// The machine it works on, if any.
    pub machine_id: Option<MachineId>,
    /// What it works on, in words (an image name, a snapshot name).
    pub target: String,
    pub state: TaskState,
    pub steps: Vec<TaskStep>,
    /// 0–100.
    pub progress: u8,
    pub log: Vec<String>,
    /// What a successful task made, in words.
    pub result: Option<String>,
    pub error: Option<ErrorBody>,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// A task as the backend serves it: the node's report, which node, and the tenant of the
/// machine it works on (none for node-wide work such as an image import).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    pub node_id: NodeId,
    pub node_name: String,
    pub tenant_id: Option<crate::ids::TenantId>,
    /// The user who asked for it; none for work a node started by itself, or a task from
    /// before Corral recorded who asked.
    pub started_by: Option<String>,
    #[serde(flatten)]
    pub task: BridgeTask,
}
