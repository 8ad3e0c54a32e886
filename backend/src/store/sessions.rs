//! A tower-sessions store in our own database, so sessions survive a restart and any replica
//! can serve any request (DESIGN §7).
//!
//! A session's id is the cookie's secret, so the table keeps only its SHA-256: whoever reads
//! the database (a backup, a stolen file) holds no usable session. Each row also says whose
//! session it is, so a password change can end that user's other sessions.

use async_trait::async_trait;
use corral_api::UserId;
use sha2::Digest;
use sqlx::Row;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::auth::SESSION_USER_KEY;
use crate::db::Db;

/// How a session id is kept: the hex SHA-256 of its cookie form.
pub fn id_hash(id: &Id) -> String {
    sha2::Sha256::digest(id.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Removes expired sessions; run now and then.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let done =
            sqlx::query("DELETE FROM sessions WHERE expiry_date < $1").bind(now).execute(&self.db).await?;
        Ok(done.rows_affected())
    }
}

/// The user a live session (by its hashed id) belongs to.
pub async fn session_user(db: &Db, hash: &str) -> Result<Option<UserId>, sqlx::Error> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let row = sqlx::query("SELECT user_id FROM sessions WHERE id = $1 AND expiry_date > $2")
        .bind(hash)
        .bind(now)
        .fetch_optional(db)
        .await?;
    Ok(row
        .and_then(|r| r.try_get::<Option<String>, _>("user_id").ok().flatten())
        .and_then(|u| u.parse().ok()))
}

/// Ends every session of `user` but the one whose hash is `keep`; returns how many ended.
pub async fn sessions_end_of_user(db: &Db, user: UserId, keep: Option<&str>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user.to_string())
        .bind(keep.unwrap_or(""))
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn encode(record: &Record) -> session_store::Result<(String, Option<String>)> {
    let data =
        serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let user = record.data.get(SESSION_USER_KEY).and_then(|v| v.as_str()).map(str::to_string);
    Ok((data, user))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Ids are 128 random bits; a collision is all but impossible, but never overwrite.
        loop {
            let (data, user) = encode(record)?;
            let done = sqlx::query(
                "INSERT INTO sessions (id, data, expiry_date, user_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id_hash(&record.id))
            .bind(data)
            .bind(record.expiry_date.unix_timestamp())
            .bind(user)
            .execute(&self.db)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates a session that still exists, and nothing else: a request that was in flight
    /// when its session ended (a logout, a password change elsewhere) must not write it back.
    /// New sessions come through `create`.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (data, user) = encode(record)?;
        sqlx::query("UPDATE sessions SET data = $2, expiry_date = $3, user_id = $4 WHERE id = $1")
            .bind(id_hash(&record.id))
            .bind(data)
            .bind(record.expiry_date.unix_timestamp())
            .bind(user)
            .execute(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let row = sqlx::query("SELECT data, expiry_date FROM sessions WHERE id = $1 AND expiry_date > $2")
            .bind(id_hash(id))
            .bind(now)
            .fetch_optional(&self.db)
            .await
            .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let data: String = row.try_get("data").map_err(backend)?;
        let expiry: i64 = row.try_get("expiry_date").map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: time::OffsetDateTime::from_unix_timestamp(expiry)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id_hash(id))
            .execute(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
