//! The audit log as the API serves it.

use serde::{Deserialize, Serialize};

use crate::ids::{MachineId, TenantId, UserId};

/// One thing someone did (or tried to do).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Increases with every entry: the order things happened in.
    pub seq: i64,
    /// RFC 3339.
    pub at: String,
    pub user_id: Option<UserId>,
    pub username: Option<String>,
    /// The API token used, when it was not a browser session.
    pub token_id: Option<String>,
    pub tenant_id: Option<TenantId>,
    /// e.g. `machine.create`, `machine.start`, `session.login`, `console.open`.
    pub action: String,
    /// What it was done to, e.g. `machine:<id>`, `snapshot:<name>`, `user:<name>`.
    pub target: Option<String>,
    pub machine_id: Option<MachineId>,
    /// `ok`, or the HTTP status and error code, e.g. `409 conflict`.
    pub result: String,
    /// The client's address.
    pub source: Option<String>,
}

/// Filters of `GET /api/v1/audit` (and its JSON-lines export).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    #[serde(default)]
    pub user_id: Option<UserId>,
    #[serde(default)]
    pub machine_id: Option<MachineId>,
    /// One action (`machine.start`), or every action of a kind when it ends in `.`
    /// (`machine.`).
    #[serde(default)]
    pub action: Option<String>,
    /// Entries at or after this time (RFC 3339; whole seconds count).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime))]
    pub since: Option<String>,
    /// Entries before this time (RFC 3339; whole seconds count).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime))]
    pub until: Option<String>,
    /// Only entries older than this `seq` (for paging back).
    #[serde(default)]
    pub before: Option<i64>,
    /// At most this many, newest first (default 200, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}
