//! Users' SSH keys, and what each machine's guest is given (migration 0019).

use corral_api::guest::{GivenKey, SshKey, StaticNetwork, UserDataText};
use corral_api::{MachineId, SshKeyId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::parse_col;
use crate::db::{Db, now};

fn key_from_row(r: &sqlx::any::AnyRow) -> Result<SshKey, sqlx::Error> {
    Ok(SshKey {
        id: parse_col(r, "id")?,
        name: r.try_get("name")?,
        public_key: r.try_get("public_key")?,
        fingerprint: r.try_get("fingerprint")?,
        created_at: r.try_get("created_at")?,
    })
}

const KEY_COLS: &str = "id, name, public_key, fingerprint, created_at";

/// The user's keys, oldest first.
pub async fn keys_of(db: &Db, user: UserId) -> Result<Vec<SshKey>, sqlx::Error> {
    let rows =
        sqlx::query(&format!("SELECT {KEY_COLS} FROM ssh_keys WHERE user_id = $1 ORDER BY created_at, id"))
            .bind(user.to_string())
            .fetch_all(db)
            .await?;
    rows.iter().map(key_from_row).collect()
}

/// Stores a key; a unique violation when the user has this key (by fingerprint) already.
pub async fn key_insert(
    db: &Db,
    user: UserId,
    id: SshKeyId,
    name: &str,
    public_key: &str,
    fingerprint: &str,
) -> Result<SshKey, sqlx::Error> {
    let created_at = now();
    sqlx::query(
        "INSERT INTO ssh_keys (id, user_id, name, public_key, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(user.to_string())
    .bind(name)
    .bind(public_key)
    .bind(fingerprint)
    .bind(&created_at)
    .execute(db)
    .await?;
    Ok(SshKey {
        id,
        name: name.into(),
        public_key: public_key.into(),
        fingerprint: fingerprint.into(),
        created_at,
    })
}

/// Deletes one of the user's keys; false when the user has no such key.
pub async fn key_delete(db: &Db, user: UserId, id: SshKeyId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2")
        .bind(id.to_string())
        .bind(user.to_string())
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A key as a guest was given it: a copy, so the account's key may go later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCopy {
    pub name: String,
    pub fingerprint: String,
    pub public_key: String,
}

impl KeyCopy {
    pub fn given(&self) -> GivenKey {
        GivenKey { name: self.name.clone(), fingerprint: self.fingerprint.clone() }
    }
}

/// What a machine's guest is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guest {
    pub hostname: String,
    pub ssh_keys: Vec<KeyCopy>,
    pub user_data: Option<UserDataText>,
    pub network: Option<StaticNetwork>,
    pub revision: u32,
}

/// Writes a machine's guest data (a new row or a new revision of it).
pub async fn guest_put<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    machine: MachineId,
    g: &Guest,
) -> Result<(), sqlx::Error> {
    let keys = serde_json::to_string(&g.ssh_keys).unwrap_or_else(|_| "[]".into());
    let network = g.network.as_ref().and_then(|n| serde_json::to_string(n).ok());
    sqlx::query(
        "INSERT INTO machine_guests (machine_id, hostname, ssh_keys, user_data, network, revision) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (machine_id) DO UPDATE SET hostname = excluded.hostname, \
         ssh_keys = excluded.ssh_keys, user_data = excluded.user_data, network = excluded.network, \
         revision = excluded.revision",
    )
    .bind(machine.to_string())
    .bind(&g.hostname)
    .bind(keys)
    .bind(g.user_data.as_ref().map(|u| u.0.clone()))
    .bind(network)
    .bind(i64::from(g.revision))
    .execute(db)
    .await?;
    Ok(())
}

/// Changes a machine's user data from revision `was` to `was + 1`; false when another
/// change came first (the revision is no longer `was`), so no instance id is ever given to
/// two different sets of data.
pub async fn user_data_bump(
    db: &Db,
    machine: MachineId,
    was: u32,
    user_data: Option<&UserDataText>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE machine_guests SET user_data = $3, revision = revision + 1 WHERE machine_id = $1 AND revision = $2",
    )
    .bind(machine.to_string())
    .bind(i64::from(was))
    .bind(user_data.map(|u| u.0.clone()))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts back the user data of revision `at` (after the node refused it): the revision stays,
/// so its instance id is never reused for other data.
pub async fn user_data_restore(
    db: &Db,
    machine: MachineId,
    at: u32,
    user_data: Option<&UserDataText>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE machine_guests SET user_data = $3 WHERE machine_id = $1 AND revision = $2")
        .bind(machine.to_string())
        .bind(i64::from(at))
        .bind(user_data.map(|u| u.0.clone()))
        .execute(db)
        .await?;
    Ok(())
}

pub async fn guest_get(db: &Db, machine: MachineId) -> Result<Option<Guest>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT hostname, ssh_keys, user_data, network, revision FROM machine_guests WHERE machine_id = $1",
    )
    .bind(machine.to_string())
    .fetch_optional(db)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let keys: String = r.try_get("ssh_keys")?;
    let network: Option<String> = r.try_get("network")?;
    let revision: i64 = r.try_get("revision")?;
    Ok(Some(Guest {
        hostname: r.try_get("hostname")?,
        ssh_keys: serde_json::from_str(&keys).unwrap_or_default(),
        user_data: r.try_get::<Option<String>, _>("user_data")?.map(UserDataText),
        network: network.and_then(|n| serde_json::from_str(&n).ok()),
        revision: u32::try_from(revision).unwrap_or(0),
    }))
}
