//! Users, tenants and memberships.

use corral_api::people::{Member, Tenant, User};
use corral_api::session::{Membership, Role};
use corral_api::{TenantId, UserId};
use sqlx::Row;

use super::{bool_col, parse_col};
use crate::db::{Db, now};

#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: UserId,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
}

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: parse_col(row, "id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: bool_col(row, "is_admin")?,
        disabled: bool_col(row, "disabled")?,
    })
}

const USER_COLS: &str = "id, username, password_hash, is_admin, disabled";

pub async fn user_count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(db).await?.try_get("n")
}

pub async fn user_by_username(db: &Db, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE username = $1"))
        .bind(username)
        .fetch_optional(db)
        .await?
        .map(|r| user_from_row(&r))
        .transpose()
}

pub async fn user_by_id(db: &Db, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .map(|r| user_from_row(&r))
        .transpose()
}

pub async fn user_create(
    db: &Db,
    username: &str,
    password_hash: &str,
    is_admin: bool,
) -> Result<UserId, sqlx::Error> {
    let id = UserId::new_random();
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, is_admin, disabled, created_at) \
         VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(id.to_string())
    .bind(username)
    .bind(password_hash)
    .bind(i64::from(is_admin))
    .bind(now())
    .execute(db)
    .await?;
    Ok(id)
}

/// Returns whether the user exists.
pub async fn user_set_password(db: &Db, username: &str, password_hash: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
        .bind(password_hash)
        .bind(username)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn tenant_create(db: &Db, name: &str) -> Result<TenantId, sqlx::Error> {
    let id = TenantId::new_random();
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id.to_string())
        .bind(name)
        .bind(now())
        .execute(db)
        .await?;
    Ok(id)
}

/// Returns whether there was such a tenant.
pub async fn tenant_rename(db: &Db, id: TenantId, name: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE tenants SET name = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(name)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a tenant that holds no machine (lost ones count: their rows still name it), with
/// its memberships and quota; `None` when there is no such tenant, `Some(n)` with the
/// machines that keep it otherwise (`Some(0)`: deleted). One statement decides, so a machine
/// made meanwhile keeps the tenant.
pub async fn tenant_delete_if_empty(db: &Db, id: TenantId) -> Result<Option<u64>, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM tenants WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM machines WHERE tenant_id = $1)",
    )
    .bind(id.to_string())
    .execute(db)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Some(0));
    }
    if !tenant_exists(db, id).await? {
        return Ok(None);
    }
    let row = sqlx::query("SELECT COUNT(*) AS n FROM machines WHERE tenant_id = $1")
        .bind(id.to_string())
        .fetch_one(db)
        .await?;
    Ok(Some(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0)))
}

/// Deletes a user with their memberships and tokens (the audit log keeps their name);
/// returns whether there was one.
pub async fn user_delete(db: &Db, id: UserId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id.to_string()).execute(db).await?;
    Ok(done.rows_affected() == 1)
}

pub async fn tenant_exists(db: &Db, id: TenantId) -> Result<bool, sqlx::Error> {
    let row =
        sqlx::query("SELECT 1 FROM tenants WHERE id = $1").bind(id.to_string()).fetch_optional(db).await?;
    Ok(row.is_some())
}

pub async fn membership_set(db: &Db, user: UserId, tenant: TenantId, role: Role) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (user_id, tenant_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = excluded.role",
    )
    .bind(user.to_string())
    .bind(tenant.to_string())
    .bind(role.as_str())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn memberships_of(db: &Db, user: UserId) -> Result<Vec<Membership>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT m.tenant_id, t.name, m.role FROM memberships m \
         JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 ORDER BY t.name",
    )
    .bind(user.to_string())
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(Membership {
                tenant_id: parse_col(r, "tenant_id")?,
                tenant_name: r.try_get("name")?,
                role: Role::parse(&role).unwrap_or(Role::Viewer),
            })
        })
        .collect()
}

/// Tenants with their member and machine counts; `only` limits the list to those ids.
pub async fn tenant_list(db: &Db, only: Option<&[TenantId]>) -> Result<Vec<Tenant>, sqlx::Error> {
    // Subqueries rather than joins, so the counts do not multiply; cast for PostgreSQL's COUNT.
    let base = "SELECT t.id, t.name, t.created_at, \
        (SELECT CAST(COUNT(*) AS BIGINT) FROM memberships m WHERE m.tenant_id = t.id) AS members, \
        (SELECT CAST(COUNT(*) AS BIGINT) FROM machines x WHERE x.tenant_id = t.id) AS machines \
        FROM tenants t";
    let rows = match only {
        None => sqlx::query(&format!("{base} ORDER BY t.name")).fetch_all(db).await?,
        Some([]) => Vec::new(),
        Some(ids) => {
            let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!("{base} WHERE t.id IN ({}) ORDER BY t.name", marks.join(", "));
            let mut q = sqlx::query(&sql);
            for id in ids {
                q = q.bind(id.to_string());
            }
            q.fetch_all(db).await?
        }
    };
    rows.iter()
        .map(|r| {
            Ok(Tenant {
                id: parse_col(r, "id")?,
                name: r.try_get("name")?,
                members: super::u32_col(r, "members")?,
                machines: super::u32_col(r, "machines")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Users with their memberships: one by id, or everyone (by name).
async fn users_where(db: &Db, only: Option<UserId>) -> Result<Vec<User>, sqlx::Error> {
    let cols = "SELECT id, username, is_admin, disabled, created_at FROM users";
    let rows = match only {
        Some(id) => sqlx::query(&format!("{cols} WHERE id = $1")).bind(id.to_string()).fetch_all(db).await?,
        None => sqlx::query(&format!("{cols} ORDER BY username")).fetch_all(db).await?,
    };
    let mut users = Vec::new();
    for r in &rows {
        let id: UserId = parse_col(r, "id")?;
        users.push(User {
            id,
            username: r.try_get("username")?,
            is_admin: bool_col(r, "is_admin")?,
            disabled: bool_col(r, "disabled")?,
            memberships: memberships_of(db, id).await?,
            created_at: r.try_get("created_at")?,
        });
    }
    Ok(users)
}

/// Everyone, for admins.
pub async fn user_list(db: &Db) -> Result<Vec<User>, sqlx::Error> {
    users_where(db, None).await
}

pub async fn user_get(db: &Db, id: UserId) -> Result<Option<User>, sqlx::Error> {
    Ok(users_where(db, Some(id)).await?.pop())
}

/// Returns whether the user exists.
pub async fn user_set_flags(
    db: &Db,
    id: UserId,
    disabled: Option<bool>,
    is_admin: Option<bool>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET disabled = COALESCE($1, disabled), is_admin = COALESCE($2, is_admin) WHERE id = $3",
    )
    .bind(disabled.map(i64::from))
    .bind(is_admin.map(i64::from))
    .bind(id.to_string())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn user_set_password_hash(db: &Db, id: UserId, password_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn members_of(db: &Db, tenant: TenantId) -> Result<Vec<Member>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT u.id, u.username, u.disabled, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 ORDER BY u.username",
    )
    .bind(tenant.to_string())
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(Member {
                user_id: parse_col(r, "id")?,
                username: r.try_get("username")?,
                role: Role::parse(&role).unwrap_or(Role::Viewer),
                disabled: bool_col(r, "disabled")?,
            })
        })
        .collect()
}

/// Returns whether there was such a membership.
pub async fn membership_remove(db: &Db, user: UserId, tenant: TenantId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND tenant_id = $2")
        .bind(user.to_string())
        .bind(tenant.to_string())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
