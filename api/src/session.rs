//! Logging in and knowing who you are.

use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, UserId};

/// Input of `POST /api/v1/session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A role in a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees, never changes.
    Viewer,
    /// Powers machines, opens consoles, takes snapshots.
    Operator,
    /// Also creates and deletes machines and manages members.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Viewer, Self::Operator, Self::Owner].into_iter().find(|r| r.as_str() == s)
    }
}

/// One tenant a user belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub role: Role,
}

/// `GET /api/v1/session`: the logged-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: UserId,
    pub username: String,
    /// A global admin sees and manages every tenant and node.
    pub is_admin: bool,
    pub memberships: Vec<Membership>,
}

impl Me {
    /// The user's role over a tenant's resources, as the server's policy reads it: admins act
    /// as owners everywhere; `None` where the user may not even look (a machine of no tenant
    /// is for admins alone). The UI asks this to offer only what the server will allow.
    pub fn role_in(&self, tenant: Option<TenantId>) -> Option<Role> {
        if self.is_admin {
            return Some(Role::Owner);
        }
        let tenant = tenant?;
        self.memberships.iter().find(|m| m.tenant_id == tenant).map(|m| m.role)
    }

    /// Whether the user's role in `tenant` is at least `need`.
    pub fn may(&self, tenant: Option<TenantId>, need: Role) -> bool {
        self.role_in(tenant).is_some_and(|r| r >= need)
    }

    /// Whether the user may create machines in `tenant`, or with `None` in some tenant
    /// (creating needs the owner role).
    pub fn may_create_in(&self, tenant: Option<TenantId>) -> bool {
        match tenant {
            Some(t) => self.may(Some(t), Role::Owner),
            None => self.is_admin || self.memberships.iter().any(|m| m.role == Role::Owner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(is_admin: bool, roles: &[(TenantId, Role)]) -> Me {
        let memberships = roles
            .iter()
            .map(|&(tenant_id, role)| Membership { tenant_id, tenant_name: "t".into(), role })
            .collect();
        Me { id: UserId(uuid::Uuid::from_u128(7)), username: "u".into(), is_admin, memberships }
    }

    #[test]
    fn roles_are_read_as_the_server_reads_them() {
        let tenant = |n: u128| TenantId(uuid::Uuid::from_u128(n));
        let (a, b) = (tenant(1), tenant(2));
        let viewer = me(false, &[(a, Role::Viewer), (b, Role::Operator)]);
        assert_eq!(viewer.role_in(Some(a)), Some(Role::Viewer));
        assert_eq!(viewer.role_in(None), None, "a machine of no tenant is for admins");
        assert!(!viewer.may(Some(a), Role::Operator) && viewer.may(Some(b), Role::Operator));
        assert!(!viewer.may(Some(tenant(3)), Role::Viewer), "a stranger's tenant");
        assert!(!viewer.may_create_in(None) && !viewer.may_create_in(Some(b)));

        let owner = me(false, &[(a, Role::Viewer), (b, Role::Owner)]);
        assert!(owner.may_create_in(None) && owner.may_create_in(Some(b)) && !owner.may_create_in(Some(a)));

        let admin = me(true, &[]);
        assert_eq!(admin.role_in(None), Some(Role::Owner));
        assert!(admin.may_create_in(None) && admin.may_create_in(Some(a)));
    }
}
