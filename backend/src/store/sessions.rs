//! A tower-sessions store in our own database, so sessions survive a restart and any replica
//! can serve any request (DESIGN §7).
//!
//! A session's id is the cookie's secret, so the table keeps only its SHA-256: whoever reads
//! the database (a backup, a stolen file) holds no usable session. Each row also says whose
//! session it is, so a password change can end that user's other sessions.
//!
//! Every request saves its session (its idle expiry moves), but a save that would change
//! nothing but an expiry moved by less than [`EXPIRY_SLACK_SECS`] is not written: otherwise
//! every read of every browser would be a database write, each waiting for SQLite's one
//! writer. Idle expiry is then exact to that slack.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

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

/// How far a session's stored expiry may fall behind before a request writes it again.
pub const EXPIRY_SLACK_SECS: i64 = 60;

/// Sessions remembered at most; past it the memory starts again (costing a write each).
const SEEN_MAX: usize = 10_000;

/// A session as this process last read or wrote it: its data (canonical JSON) and expiry.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    data: String,
    expiry: i64,
}

/// Whether saving `data` with `expiry` must write, given what the row was last seen to hold.
fn write_needed(seen: Option<&Seen>, data: &str, expiry: i64) -> bool {
    seen.is_none_or(|s| s.data != data || expiry < s.expiry || expiry - s.expiry >= EXPIRY_SLACK_SECS)
}

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
    /// By hashed id. Every load refreshes it, so another replica's write is seen.
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db, seen: Arc::default() }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, hash: String, data: String, expiry: i64) {
        let mut seen = self.seen();
        if seen.len() >= SEEN_MAX && !seen.contains_key(&hash) {
            seen.clear();
        }
        seen.insert(hash, Seen { data, expiry });
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

/// The record's data as JSON with its keys in order (equal data, equal text), and its user.
fn encode(record: &Record) -> session_store::Result<(String, Option<String>)> {
    let ordered: BTreeMap<_, _> = record.data.iter().collect();
    let data = serde_json::to_string(&ordered).map_err(|e| session_store::Error::Encode(e.to_string()))?;
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
            .bind(&data)
            .bind(record.expiry_date.unix_timestamp())
            .bind(user)
            .execute(&self.db)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 1 {
                self.remember(id_hash(&record.id), data, record.expiry_date.unix_timestamp());
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
        let hash = id_hash(&record.id);
        let expiry = record.expiry_date.unix_timestamp();
        if !write_needed(self.seen().get(&hash), &data, expiry) {
            return Ok(());
        }
        let done = sqlx::query("UPDATE sessions SET data = $2, expiry_date = $3, user_id = $4 WHERE id = $1")
            .bind(&hash)
            .bind(&data)
            .bind(expiry)
            .bind(user)
            .execute(&self.db)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 1 {
            self.remember(hash, data, expiry);
        }
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
        let hash = id_hash(id);
        let Some(row) = row else {
            self.seen().remove(&hash);
            return Ok(None);
        };
        let data: String = row.try_get("data").map_err(backend)?;
        let expiry: i64 = row.try_get("expiry_date").map_err(backend)?;
        let record = Record {
            id: *id,
            data: serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: time::OffsetDateTime::from_unix_timestamp(expiry)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
        };
        // As stored, in the form a save compares: a row written by another replica counts.
        // A save racing this load may have its newer entry replaced by this older one:
        // harmless, as the row keeps the newer save, and a later save compared against older
        // data writes at worst once more. Nothing here changes a session's data but login
        // (a new id, through `create`); logouts and password changes delete rows.
        self.remember(hash, encode(&record)?.0, expiry);
        Ok(Some(record))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.seen().remove(&id_hash(id));
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id_hash(id))
            .execute(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_writes_when_data_changes_or_the_expiry_moves_a_minute() {
        let seen = Seen { data: r#"{"user":"a"}"#.into(), expiry: 1_000 };
        assert!(write_needed(None, &seen.data, 1_000), "never seen: write");
        assert!(!write_needed(Some(&seen), &seen.data, 1_000 + EXPIRY_SLACK_SECS - 1));
        assert!(write_needed(Some(&seen), &seen.data, 1_000 + EXPIRY_SLACK_SECS));
        assert!(write_needed(Some(&seen), r#"{"user":"b"}"#, 1_000), "new data");
        assert!(write_needed(Some(&seen), &seen.data, 999), "an expiry brought forward");
    }

    #[test]
    fn data_encodes_with_its_keys_in_order() {
        // Each map has its own hasher, so their orders differ; the text must not.
        let mut record =
            Record { id: Id::default(), data: HashMap::new(), expiry_date: time::OffsetDateTime::now_utc() };
        for (k, v) in [("z", 1), ("a", 2), ("m", 3), ("q", 4)] {
            record.data.insert(k.into(), v.into());
        }
        assert_eq!(encode(&record).unwrap().0, r#"{"a":2,"m":3,"q":4,"z":1}"#);
    }
}
