//! Tenants and the people in them: what admins and tenant owners manage.

use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, UserId};
use crate::session::{Membership, Role};

/// A tenant as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub members: u32,
    pub machines: u32,
    /// RFC 3339.
    pub created_at: String,
}

/// Input of `POST /api/v1/tenants` (admins).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    pub name: String,
}

/// Input of `PATCH /api/v1/tenants/{id}` (admins): rename it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    pub name: String,
}

/// A person as admins (all) and tenant owners (their tenants' members) see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub is_admin: bool,
    /// A disabled user cannot log in, and their sessions stop working at once.
    pub disabled: bool,
    pub memberships: Vec<Membership>,
    /// RFC 3339.
    pub created_at: String,
}

/// Input of `POST /api/v1/users`: an admin creates anyone; a tenant owner creates a member of
/// their tenant (`tenant_id` and `role` required, never an admin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub username: String,
    /// Generated (and shown once) when absent.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
    /// Make the new user a member of this tenant with `role`.
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    #[serde(default)]
    pub role: Option<Role>,
}

/// Answer of `POST /api/v1/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserCreated {
    pub user: User,
    /// The generated password, shown this once; `None` when one was given.
    pub password: Option<String>,
}

/// Input of `PATCH /api/v1/users/{id}` (admins). Absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub is_admin: Option<bool>,
}

/// A member of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
}

/// Input of `PUT /api/v1/tenants/{id}/members/{user_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberSet {
    pub role: Role,
}

/// Input of `POST /api/v1/session/password`: a user changes their own password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

/// A tenant's limits; `None` is no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QuotaLimits {
    #[serde(default)]
    pub vcpus: Option<u64>,
    #[serde(default)]
    pub memory_mib: Option<u64>,
    #[serde(default)]
    pub disk_gib: Option<u64>,
    #[serde(default)]
    pub machines: Option<u64>,
    /// Snapshots across all the tenant's machines.
    #[serde(default)]
    pub snapshots: Option<u64>,
}

/// What a tenant's machines hold now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaUsage {
    pub vcpus: u64,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub machines: u64,
    /// Counted on the nodes; machines on unreachable nodes are not counted.
    pub snapshots: u64,
}

/// `GET /api/v1/tenants/{id}/quota`: limits beside use, for owners and admins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quota {
    pub limits: QuotaLimits,
    pub used: QuotaUsage,
}
