//! URL builders for the backend's REST API and the bridge API, so no caller formats a route
//! by hand.

use crate::ids::{MachineId, NodeId, SshKeyId, TenantId};

pub const SESSION: &str = "/api/v1/session";
pub const MACHINES: &str = "/api/v1/machines";
pub const NODES: &str = "/api/v1/nodes";
pub const EVENTS: &str = "/api/v1/events";
pub const OPENAPI: &str = "/api/v1/openapi.json";
pub const IMAGES: &str = "/api/v1/images";
pub const TASKS: &str = "/api/v1/tasks";
pub const SSH_KEY: &str = "/api/v1/ssh-key";
pub const NODE_HOST_KEY_PROBE: &str = "/api/v1/nodes/host-key";
pub const TENANTS: &str = "/api/v1/tenants";
pub const SSH_KEYS: &str = "/api/v1/ssh-keys";
/// The sum of every machine's metrics (admins).
pub const FLEET_METRICS: &str = "/api/v1/metrics/fleet";

pub fn machine(id: MachineId) -> String {
    format!("{MACHINES}/{id}")
}

/// `POST` here is the action (`…/force-stop`).
pub fn machine_action(id: MachineId, action: crate::spec::PowerAction) -> String {
    format!("{MACHINES}/{id}/{action}")
}

pub fn snapshots(id: MachineId) -> String {
    format!("{MACHINES}/{id}/snapshots")
}

pub fn snapshot(id: MachineId, name: &str) -> String {
    format!("{MACHINES}/{id}/snapshots/{name}")
}

/// `action` is `rollback` or `clone`.
pub fn snapshot_action(id: MachineId, name: &str, action: &str) -> String {
    format!("{MACHINES}/{id}/snapshots/{name}/{action}")
}

pub fn console_ticket(id: MachineId) -> String {
    format!("{MACHINES}/{id}/console")
}

/// The websocket of a machine's console; `kind` is `vnc` or `serial`.
pub fn console_socket(id: MachineId, kind: &str) -> String {
    format!("{MACHINES}/{id}/console/{kind}")
}

pub fn node(id: NodeId) -> String {
    format!("{NODES}/{id}")
}

pub fn ssh_key(id: SshKeyId) -> String {
    format!("{SSH_KEYS}/{id}")
}

/// What the machine's guest was given (`GET`).
pub fn machine_guest(id: MachineId) -> String {
    format!("{MACHINES}/{id}/guest")
}

/// The machine's user data (`GET`, `PUT`).
pub fn machine_user_data(id: MachineId) -> String {
    format!("{MACHINES}/{id}/user-data")
}

pub fn machine_metrics(id: MachineId) -> String {
    format!("{MACHINES}/{id}/metrics")
}

pub fn node_metrics(id: NodeId) -> String {
    format!("{NODES}/{id}/metrics")
}

pub fn tenant_metrics(id: TenantId) -> String {
    format!("{TENANTS}/{id}/metrics")
}

pub fn node_host_key(id: NodeId) -> String {
    format!("{NODES}/{id}/host-key")
}

/// Paths of the node bridge's API.
pub mod bridge {
    use crate::ids::MachineId;

    pub const VERSION: &str = "/v1/version";
    pub const MACHINES: &str = "/v1/machines";
    pub const EVENTS: &str = "/v1/events";
    pub const IMAGES: &str = "/v1/images";
    pub const TASKS: &str = "/v1/tasks";
    pub const METRICS: &str = "/v1/metrics";

    pub fn task(id: crate::ids::TaskId) -> String {
        format!("{TASKS}/{id}")
    }

    pub fn image(name: &str) -> String {
        format!("{IMAGES}/{name}")
    }

    pub fn machine(id: MachineId) -> String {
        format!("{MACHINES}/{id}")
    }

    pub fn machine_action(id: MachineId, action: crate::spec::PowerAction) -> String {
        format!("{MACHINES}/{id}/{action}")
    }

    pub fn snapshots(id: MachineId) -> String {
        format!("{MACHINES}/{id}/snapshots")
    }

    /// `action` is `rollback` or `clone`.
    pub fn snapshot_action(id: MachineId, name: &str, action: &str) -> String {
        format!("{MACHINES}/{id}/snapshots/{name}/{action}")
    }

    pub fn snapshot(id: MachineId, name: &str) -> String {
        format!("{MACHINES}/{id}/snapshots/{name}")
    }

    /// Sim driver only: finish the machine's pending transition now.
    pub fn sim_step(id: MachineId) -> String {
        format!("/v1/sim/machines/{id}/step")
    }
}
