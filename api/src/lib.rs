//! Corral's wire types, shared by the backend, the node bridge and the WASM frontend.

pub mod audit;
pub mod bridge;
pub mod console;
pub mod error;
pub mod event;
pub mod guest;
pub mod ids;
pub mod machine;
pub mod metrics;
pub mod node;
pub mod patch;
pub mod paths;
pub mod people;
pub mod session;
pub mod snapshot;
pub mod spec;
pub mod task;
pub mod time;
pub mod token;
pub mod validate;

pub use error::{ErrorBody, ErrorCode};
pub use ids::{MachineId, NodeId, SshKeyId, TaskId, TenantId, UserId};

/// Version of the backend's REST API (`/api/v1`).
pub const API_VERSION: &str = "v1";
