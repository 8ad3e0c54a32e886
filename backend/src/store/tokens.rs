//! API tokens: rows keyed by a public id, with only the SHA-256 of the secret.

use corral_api::UserId;
use corral_api::token::ApiToken;
use sqlx::Row;

use super::{bool_col, parse_col};
use crate::db::{Db, now};

fn from_row(r: &sqlx::any::AnyRow) -> Result<ApiToken, sqlx::Error> {
    Ok(ApiToken {
        id: r.try_get("id")?,
        user_id: parse_col(r, "user_id")?,
        name: r.try_get("name")?,
        read_only: bool_col(r, "read_only")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

const COLS: &str = "id, user_id, name, read_only, expires_at, created_at, last_used_at";

pub async fn token_insert(
    db: &Db,
    id: &str,
    user: UserId,
    name: &str,
    secret_sha256: &str,
    read_only: bool,
    expires_at: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, secret_sha256, read_only, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(user.to_string())
    .bind(name)
    .bind(secret_sha256)
    .bind(i64::from(read_only))
    .bind(expires_at)
    .bind(now())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn tokens_of(db: &Db, user: UserId) -> Result<Vec<ApiToken>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {COLS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at"))
        .bind(user.to_string())
        .fetch_all(db)
        .await?;
    rows.iter().map(from_row).collect()
}

/// The token and the SHA-256 its secret must have.
pub async fn token_by_id(db: &Db, id: &str) -> Result<Option<(ApiToken, String)>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLS}, secret_sha256 FROM api_tokens WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(|r| Ok((from_row(&r)?, r.try_get("secret_sha256")?))).transpose()
}

pub async fn token_touch(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes (deletes) one of the user's tokens; returns whether there was one.
pub async fn token_delete(db: &Db, user: UserId, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user.to_string())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
