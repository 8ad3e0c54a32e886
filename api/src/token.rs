//! API tokens: how scripts and the CLI authenticate (`Authorization: Bearer …`).

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// A token as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    /// Also the token's visible prefix: `corral_<id>_…`.
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    /// Only reads (`GET`) are allowed with it.
    pub read_only: bool,
    /// RFC 3339; `None` never expires.
    pub expires_at: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// Input of `POST /api/v1/tokens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiTokenCreate {
    /// What it is for, e.g. `backup-script`.
    pub name: String,
    /// Days until it expires (1–3650); never when absent.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    #[serde(default)]
    pub read_only: bool,
}

/// Answer of `POST /api/v1/tokens`: the secret, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenCreated {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub info: ApiToken,
}
