//! First start: the default tenant and the first admin, whose password is shown once.

use corral_api::session::Role;

use crate::auth::{password_generate, password_hash};
use crate::db::Db;
use crate::store::users;

pub const ADMIN_USERNAME: &str = "admin";
pub const DEFAULT_TENANT: &str = "default";

/// Creates the admin and the default tenant if there are no users yet. Returns the new
/// admin's password — the only time it exists outside its hash.
pub async fn ensure_admin(db: &Db) -> anyhow::Result<Option<String>> {
    if users::user_count(db).await? > 0 {
        return Ok(None);
    }
    let password = password_generate();
    let admin = users::user_create(db, ADMIN_USERNAME, &password_hash(&password)?, true).await?;
    let tenant = users::tenant_create(db, DEFAULT_TENANT).await?;
    users::membership_set(db, admin, tenant, Role::Owner).await?;
    Ok(Some(password))
}

/// Sets a new random password for a user; returns it, or `None` if there is no such user.
pub async fn password_reset(db: &Db, username: &str) -> anyhow::Result<Option<String>> {
    let password = password_generate();
    let found = users::user_set_password(db, username, &password_hash(&password)?).await?;
    Ok(found.then_some(password))
}
