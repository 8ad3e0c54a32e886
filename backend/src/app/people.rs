//! Tenants and the people in them. Admins manage everything; a tenant's owners manage its
//! members (and may create new users straight into it); everyone may change their own
//! password. A tenant a caller does not belong to answers 404, as if it did not exist.

use corral_api::people::{
    Member, MemberSet, PasswordChange, Tenant, TenantCreate, TenantUpdate, User, UserCreate, UserCreated,
    UserUpdate,
};
use corral_api::session::Role;
use corral_api::{TenantId, UserId, validate};

use crate::auth::{self, Actor};
use crate::db::is_unique_violation;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{sessions, users};

fn require_admin(actor: &Actor, what: &str) -> Result<(), ApiError> {
    if actor.is_admin { Ok(()) } else { Err(ApiError::Forbidden(format!("{what} is for administrators"))) }
}

/// The caller's role in the tenant: 404 for a tenant they are not in (admins own all).
fn role_in_tenant(actor: &Actor, tenant: TenantId) -> Result<Role, ApiError> {
    actor.role_in(Some(tenant)).ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))
}

fn require_owner(actor: &Actor, tenant: TenantId) -> Result<(), ApiError> {
    match role_in_tenant(actor, tenant)? {
        Role::Owner => Ok(()),
        r => Err(ApiError::Forbidden(format!(
            "managing members needs the owner role; yours is {}",
            r.as_str()
        ))),
    }
}

/// Argon2 takes tens of milliseconds of CPU: off the async workers.
async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || auth::password_hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

pub async fn tenant_list(state: &AppState, actor: &Actor) -> Result<Vec<Tenant>, ApiError> {
    let mine: Vec<TenantId> = actor.roles.keys().copied().collect();
    let only = if actor.is_admin { None } else { Some(mine.as_slice()) };
    Ok(users::tenant_list(&state.db, only).await?)
}

pub async fn tenant_create(state: &AppState, actor: &Actor, req: TenantCreate) -> Result<Tenant, ApiError> {
    require_admin(actor, "creating tenants")?;
    validate::tenant_name(&req.name)?;
    let id = users::tenant_create(&state.db, &req.name).await.map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::AlreadyExists(format!("a tenant named {:?} exists", req.name))
        } else {
            e.into()
        }
    })?;
    tracing::info!(tenant = %req.name, by = %actor.username, "tenant created");
    let all = users::tenant_list(&state.db, Some(&[id])).await?;
    all.into_iter().next().ok_or_else(|| ApiError::internal(anyhow::anyhow!("tenant {id} vanished")))
}

/// The tenant `id` as listed; 404 when there is none.
async fn tenant_get(state: &AppState, id: TenantId) -> Result<Tenant, ApiError> {
    users::tenant_list(&state.db, Some(&[id]))
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("tenant {id}")))
}

/// Renames a tenant (admins). Its machines, members and audit entries follow: they hold its
/// id, not its name.
pub async fn tenant_update(
    state: &AppState,
    actor: &Actor,
    id: TenantId,
    req: TenantUpdate,
) -> Result<Tenant, ApiError> {
    require_admin(actor, "renaming tenants")?;
    validate::tenant_name(&req.name)?;
    let renamed = users::tenant_rename(&state.db, id, &req.name).await.map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::AlreadyExists(format!("a tenant named {:?} exists", req.name))
        } else {
            e.into()
        }
    })?;
    if !renamed {
        return Err(ApiError::NotFound(format!("tenant {id}")));
    }
    tracing::info!(tenant = %id, name = %req.name, by = %actor.username, "tenant renamed");
    tenant_get(state, id).await
}

/// Deletes an empty tenant (admins): refused while it holds machines, which would otherwise
/// be left without owners. Its memberships and quota go with it; its members' consoles and
/// event sockets are closed and reopened under what access remains; the audit log keeps its
/// entries.
pub async fn tenant_delete(state: &AppState, actor: &Actor, id: TenantId) -> Result<(), ApiError> {
    require_admin(actor, "deleting tenants")?;
    let members = users::members_of(&state.db, id).await?;
    match users::tenant_delete_if_empty(&state.db, id).await? {
        None => Err(ApiError::NotFound(format!("tenant {id}"))),
        Some(0) => {
            tracing::info!(tenant = %id, by = %actor.username, "tenant deleted");
            for m in members {
                state.access.changed(m.user_id);
            }
            Ok(())
        }
        Some(n) => Err(ApiError::Conflict(format!(
            "the tenant still holds {n} machine{}: delete them first",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

pub async fn member_list(state: &AppState, actor: &Actor, tenant: TenantId) -> Result<Vec<Member>, ApiError> {
    role_in_tenant(actor, tenant)?;
    Ok(users::members_of(&state.db, tenant).await?)
}

pub async fn member_set(
    state: &AppState,
    actor: &Actor,
    tenant: TenantId,
    user: UserId,
    req: MemberSet,
) -> Result<Vec<Member>, ApiError> {
    require_owner(actor, tenant)?;
    if users::user_by_id(&state.db, user).await?.is_none() {
        return Err(ApiError::NotFound(format!("user {user}")));
    }
    let members = users::members_of(&state.db, tenant).await?;
    if req.role != Role::Owner && is_last_owner(&members, user) {
        return Err(ApiError::Conflict(
            "a tenant keeps at least one owner: make someone else owner first".into(),
        ));
    }
    users::membership_set(&state.db, user, tenant, req.role).await?;
    state.access.changed(user);
    Ok(users::members_of(&state.db, tenant).await?)
}

pub async fn member_remove(
    state: &AppState,
    actor: &Actor,
    tenant: TenantId,
    user: UserId,
) -> Result<(), ApiError> {
    require_owner(actor, tenant)?;
    let members = users::members_of(&state.db, tenant).await?;
    if is_last_owner(&members, user) {
        return Err(ApiError::Conflict(
            "a tenant keeps at least one owner: make someone else owner first".into(),
        ));
    }
    if !users::membership_remove(&state.db, user, tenant).await? {
        return Err(ApiError::NotFound(format!("member {user}")));
    }
    state.access.changed(user);
    Ok(())
}

fn is_last_owner(members: &[Member], user: UserId) -> bool {
    let owners: Vec<&Member> = members.iter().filter(|m| m.role == Role::Owner).collect();
    owners.len() == 1 && owners[0].user_id == user
}

pub async fn user_list(state: &AppState, actor: &Actor) -> Result<Vec<User>, ApiError> {
    require_admin(actor, "listing every user")?;
    Ok(users::user_list(&state.db).await?)
}

/// An admin creates anyone; an owner creates a member of their tenant.
pub async fn user_create(state: &AppState, actor: &Actor, req: UserCreate) -> Result<UserCreated, ApiError> {
    validate::username(&req.username)?;
    if let Some(p) = &req.password {
        validate::password(p)?;
    }
    match (req.tenant_id, req.role) {
        (Some(t), Some(_)) => {
            require_owner(actor, t)?;
            // Checked before the user is made: an admin passes any id, and a user without
            // the membership asked for must not be left behind.
            if !users::tenant_exists(&state.db, t).await? {
                return Err(ApiError::NotFound(format!("tenant {t}")));
            }
        }
        (None, None) => require_admin(actor, "creating users outside a tenant")?,
        _ => {
            return Err(ApiError::Validation {
                field: "role".into(),
                message: "give both tenant_id and role, or neither".into(),
            });
        }
    }
    if req.is_admin {
        require_admin(actor, "creating administrators")?;
    }
    let generated = req.password.is_none().then(auth::password_generate);
    let password = req.password.clone().or_else(|| generated.clone()).unwrap_or_default();
    let id = users::user_create(&state.db, &req.username, &hash(password).await?, req.is_admin)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                ApiError::AlreadyExists(format!("a user named {:?} exists", req.username))
            } else {
                e.into()
            }
        })?;
    if let (Some(t), Some(role)) = (req.tenant_id, req.role) {
        users::membership_set(&state.db, id, t, role).await?;
    }
    tracing::info!(user = %req.username, by = %actor.username, "user created");
    let user = users::user_get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("user {id} vanished")))?;
    Ok(UserCreated { user, password: generated })
}

/// Admins disable or enable users, and grant or take the admin role. A disabled user's
/// sessions stop at their next request (every request loads the user afresh), and their open
/// consoles and event sockets close.
pub async fn user_update(
    state: &AppState,
    actor: &Actor,
    id: UserId,
    req: UserUpdate,
) -> Result<User, ApiError> {
    require_admin(actor, "changing users")?;
    if id == actor.id && (req.disabled == Some(true) || req.is_admin == Some(false)) {
        return Err(ApiError::Conflict("you cannot disable yourself or drop your own admin role".into()));
    }
    if !users::user_set_flags(&state.db, id, req.disabled, req.is_admin).await? {
        return Err(ApiError::NotFound(format!("user {id}")));
    }
    tracing::info!(user = %id, by = %actor.username, disabled = ?req.disabled, is_admin = ?req.is_admin, "user changed");
    // A disabled user's sessions end for good: enabling them again must not bring back a
    // session someone else may hold.
    if req.disabled == Some(true) {
        sessions::sessions_end_of_user(&state.db, id, None).await?;
    }
    state.access.changed(id);
    users::user_get(&state.db, id).await?.ok_or_else(|| ApiError::NotFound(format!("user {id}")))
}

/// Deletes a user (admins; not oneself): their memberships and API tokens go, their sessions
/// end, and their open consoles and event sockets close, as any revocation closes them. The
/// audit log keeps their entries, under their name.
pub async fn user_delete(state: &AppState, actor: &Actor, id: UserId) -> Result<(), ApiError> {
    require_admin(actor, "deleting users")?;
    if id == actor.id {
        return Err(ApiError::Conflict("you cannot delete yourself".into()));
    }
    sessions::sessions_end_of_user(&state.db, id, None).await?;
    if !users::user_delete(&state.db, id).await? {
        return Err(ApiError::NotFound(format!("user {id}")));
    }
    tracing::info!(user = %id, by = %actor.username, "user deleted");
    state.access.changed(id);
    Ok(())
}

/// Changes the caller's own password, after checking the current one. Every other session of
/// theirs ends (whoever else held one is out); the one making the change stays.
pub async fn password_change(state: &AppState, actor: &Actor, req: PasswordChange) -> Result<(), ApiError> {
    validate::password(&req.new)?;
    let row = users::user_by_id(&state.db, actor.id).await?.ok_or(ApiError::Unauthenticated)?;
    let (current, stored) = (req.current, row.password_hash);
    let ok = tokio::task::spawn_blocking(move || auth::password_verify(&current, &stored))
        .await
        .map_err(ApiError::internal)?;
    if !ok {
        return Err(ApiError::Validation {
            field: "current".into(),
            message: "that is not your current password".into(),
        });
    }
    users::user_set_password_hash(&state.db, actor.id, &hash(req.new).await?).await?;
    let ended = sessions::sessions_end_of_user(&state.db, actor.id, actor.session.as_deref()).await?;
    state.access.changed(actor.id);
    tracing::info!(user = %actor.username, other_sessions_ended = ended, "password changed");
    Ok(())
}
