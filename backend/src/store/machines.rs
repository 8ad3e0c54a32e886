//! Machines: the backend's record of who owns what where, kept in step with the bridges.

use corral_api::bridge::{BootDevice, BridgeMachine};
use corral_api::machine::{Machine, MachineKind, MachineState};
use corral_api::{MachineId, NodeId, TenantId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{bool_col, opt_parse_col, parse_col, to_i64, u32_col, u64_col};
use crate::db::{Db, now};

const SELECT: &str = "SELECT m.id, m.name, m.kind, m.tenant_id, m.node_id, n.name AS node_name, \
    m.vcpus, m.memory_mib, m.disk_gib, m.image, m.port_forwards, m.devices, m.state, m.managed, m.created_at, m.updated_at, m.state_since \
    FROM machines m JOIN nodes n ON n.id = m.node_id";

fn from_row(r: &AnyRow) -> Result<Machine, sqlx::Error> {
    let state: String = r.try_get("state")?;
    let kind: String = r.try_get("kind")?;
    let devices: String = r.try_get("devices")?;
    let devices: Devices = serde_json::from_str(&devices).unwrap_or_default();
    Ok(Machine {
        id: parse_col(r, "id")?,
        name: r.try_get("name")?,
        // Written only from `MachineKind::as_str`; an unknown word is a row from a newer
        // backend, shown as a VM rather than failing the whole list.
        kind: MachineKind::parse(&kind).unwrap_or_default(),
        tenant_id: opt_parse_col(r, "tenant_id")?,
        node_id: parse_col(r, "node_id")?,
        node_name: r.try_get("node_name")?,
        vcpus: u32_col(r, "vcpus")?,
        memory_mib: u64_col(r, "memory_mib")?,
        disk_gib: u64_col(r, "disk_gib")?,
        image: r.try_get("image")?,
        port_forwards: {
            let json: String = r.try_get("port_forwards")?;
            serde_json::from_str(&json).unwrap_or_default()
        },
        boot_order: devices.boot_order,
        cdrom: devices.cdrom,
        host_bridge: devices.host_bridge,
        zone: devices.zone,
        state: MachineState::parse(&state).unwrap_or(MachineState::Unknown),
        managed: bool_col(r, "managed")?,
        created_at: r.try_get("created_at")?,
        state_since: match r.try_get::<Option<String>, _>("state_since")? {
            Some(since) => since,
            None => r.try_get("updated_at")?,
        },
        updated_at: r.try_get("updated_at")?,
    })
}

/// The `devices` column (JSON): what its node reports of a machine beyond its sizes: what it
/// boots from, how its NIC is attached, and for a zone its OS, init and storage.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Devices {
    #[serde(default)]
    pub boot_order: Vec<BootDevice>,
    #[serde(default)]
    pub cdrom: Option<String>,
    #[serde(default)]
    pub host_bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<corral_api::spec::ZoneFacts>,
}

impl Devices {
    fn of(b: &BridgeMachine) -> Self {
        Self {
            boot_order: b.boot_order.clone(),
            cdrom: b.cdrom.clone(),
            host_bridge: b.host_bridge.clone(),
            zone: b.zone.clone(),
        }
    }

    fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

fn forwards_json(f: &[corral_api::bridge::PortForward]) -> String {
    serde_json::to_string(f).unwrap_or_else(|_| "[]".into())
}

/// Which machines a caller may see.
#[derive(Clone, Debug)]
pub enum Visibility {
    All,
    Tenants(Vec<TenantId>),
}

pub async fn machine_list(db: &Db, vis: &Visibility) -> Result<Vec<Machine>, sqlx::Error> {
    let rows = match vis {
        Visibility::All => sqlx::query(&format!("{SELECT} ORDER BY m.name, m.id")).fetch_all(db).await?,
        Visibility::Tenants(ids) if ids.is_empty() => Vec::new(),
        Visibility::Tenants(ids) => {
            let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!("{SELECT} WHERE m.tenant_id IN ({}) ORDER BY m.name, m.id", marks.join(", "));
            let mut q = sqlx::query(&sql);
            for id in ids {
                q = q.bind(id.to_string());
            }
            q.fetch_all(db).await?
        }
    };
    rows.iter().map(from_row).collect()
}

pub async fn machine_get(db: &Db, id: MachineId) -> Result<Option<Machine>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE m.id = $1"))
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn machines_of_node(db: &Db, node: NodeId) -> Result<Vec<Machine>, sqlx::Error> {
    let rows =
        sqlx::query(&format!("{SELECT} WHERE m.node_id = $1")).bind(node.to_string()).fetch_all(db).await?;
    rows.iter().map(from_row).collect()
}

/// A new managed machine, before its node has been asked to make it.
/// A machine to record, before it has a node and a tenant.
#[derive(Clone, Debug)]
pub struct NewMachine {
    pub id: MachineId,
    pub name: String,
    pub kind: MachineKind,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub image: Option<String>,
    pub devices: Devices,
    /// What an idempotent create asked for (`app::machines`), so a replay can be checked.
    pub request_fingerprint: Option<String>,
}

/// Fails with a unique violation when the tenant already has a machine of this name.
pub async fn machine_insert<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    node: NodeId,
    tenant: TenantId,
    m: &NewMachine,
) -> Result<(), sqlx::Error> {
    let t = now();
    sqlx::query(
        "INSERT INTO machines (id, name, tenant_id, node_id, vcpus, memory_mib, disk_gib, image, \
         devices, state, managed, created_at, updated_at, request_fingerprint, kind, state_since) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $9, $10, 'creating', 1, $8, $8, $11, $12, $8)",
    )
    .bind(m.id.to_string())
    .bind(&m.name)
    .bind(tenant.to_string())
    .bind(node.to_string())
    .bind(i64::from(m.vcpus))
    .bind(to_i64(m.memory_mib))
    .bind(to_i64(m.disk_gib))
    .bind(t)
    .bind(m.image.as_deref())
    .bind(m.devices.json())
    .bind(m.request_fingerprint.as_deref())
    .bind(m.kind.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// The fingerprint of the request that made the machine, if an idempotent create did.
pub async fn machine_request_fingerprint(db: &Db, id: MachineId) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT request_fingerprint FROM machines WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(|r| r.try_get::<Option<String>, _>("request_fingerprint").ok().flatten()))
}

/// Fails with a unique violation when the tenant has another machine of this name.
pub async fn machine_rename(db: &Db, id: MachineId, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE machines SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now())
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn machine_delete(db: &Db, id: MachineId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM machines WHERE id = $1").bind(id.to_string()).execute(db).await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the row of a create that failed, only while it is still `creating`.
pub async fn machine_delete_if_creating(db: &Db, id: MachineId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM machines WHERE id = $1 AND state = 'creating'")
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The machines on `node` with their tenants (none for an unmanaged machine).
pub async fn tenants_on(db: &Db, node: NodeId) -> Result<Vec<(MachineId, Option<TenantId>)>, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT id, tenant_id FROM machines WHERE node_id = $1")
            .bind(node.to_string())
            .fetch_all(db)
            .await?;
    Ok(rows
        .iter()
        .filter_map(|(id, tenant)| Some((id.parse().ok()?, tenant.as_deref().and_then(|t| t.parse().ok()))))
        .collect())
}

/// Deletes the machine only if it is on `node`: what a node says can only remove its own.
pub async fn machine_delete_on(db: &Db, node: NodeId, id: MachineId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM machines WHERE id = $1 AND node_id = $2")
        .bind(id.to_string())
        .bind(node.to_string())
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Sets the state; returns the machine if it changed.
pub async fn machine_set_state(
    db: &Db,
    id: MachineId,
    state: MachineState,
) -> Result<Option<Machine>, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE machines SET state = $1, updated_at = $2, state_since = $2 WHERE id = $3 AND state <> $1",
    )
    .bind(state.as_str())
    .bind(now())
    .bind(id.to_string())
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    machine_get(db, id).await
}

/// What taking a node's word for a machine did.
#[derive(Clone, Debug)]
pub enum Synced {
    /// The row changed or was added (as *unmanaged*).
    Changed(Box<Machine>),
    Unchanged,
    /// The id is another node's machine: nothing was changed.
    Foreign,
}

/// What a report of a machine the database has no row for means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfUnknown {
    /// The node's listing or event stream: a machine the backend did not make (or lost
    /// track of), shown as *unmanaged* so nothing on a node goes unseen.
    Adopt,
    /// The node's answer to a request about a row the backend had: the row has gone since
    /// (the machine was deleted), and the answer, taken before, must not bring it back. If
    /// the node still has the machine, its next listing says so.
    Skip,
}

/// Takes the node's word for a machine: updates the row, or, as `unknown` says, adds an
/// *unmanaged* one if the backend has never heard of it. Only rows on `node` are touched: a
/// node that names another node's machine moves nothing. A row being deleted stays so: a
/// listing taken before the delete must not bring the machine back to life (if the backend
/// then died before the removal arrived, the machine would look lost instead of deleted); a
/// delete that fails says so through its task (`machine_delete_failed`).
pub async fn machine_sync(
    db: &Db,
    node: NodeId,
    b: &BridgeMachine,
    unknown: IfUnknown,
) -> Result<Synced, sqlx::Error> {
    let t = now();
    let updated = sqlx::query(
        "UPDATE machines SET vcpus = $2, memory_mib = $3, disk_gib = $4, \
         state_since = CASE WHEN state <> $5 THEN $6 ELSE state_since END, \
         state = $5, updated_at = $6, port_forwards = $8, devices = $9 WHERE id = $7 AND node_id = $1 \
         AND (state <> 'deleting' OR $5 = 'deleting') AND ( \
         vcpus <> $2 OR memory_mib <> $3 OR disk_gib <> $4 OR state <> $5 OR port_forwards <> $8 \
         OR devices <> $9)",
    )
    .bind(node.to_string())
    .bind(i64::from(b.vcpus))
    .bind(to_i64(b.memory_mib))
    .bind(to_i64(b.disk_gib))
    .bind(b.state.as_str())
    .bind(&t)
    .bind(b.id.to_string())
    .bind(forwards_json(&b.port_forwards))
    .bind(Devices::of(b).json())
    .execute(db)
    .await?;
    if updated.rows_affected() > 0 {
        return Ok(machine_get(db, b.id).await?.map_or(Synced::Unchanged, |m| Synced::Changed(Box::new(m))));
    }
    if unknown == IfUnknown::Skip {
        return Ok(match machine_get(db, b.id).await? {
            Some(m) if m.node_id != node => Synced::Foreign,
            _ => Synced::Unchanged,
        });
    }
    let inserted = sqlx::query(
        "INSERT INTO machines (id, name, tenant_id, node_id, vcpus, memory_mib, disk_gib, state, \
         managed, created_at, updated_at, image, port_forwards, devices, kind, state_since) \
         VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, $12, $13, $9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(b.id.to_string())
    .bind(&b.name)
    .bind(node.to_string())
    .bind(i64::from(b.vcpus))
    .bind(to_i64(b.memory_mib))
    .bind(to_i64(b.disk_gib))
    .bind(b.state.as_str())
    .bind(&b.created_at)
    .bind(&t)
    .bind(b.image.as_deref())
    .bind(forwards_json(&b.port_forwards))
    .bind(Devices::of(b).json())
    .bind(b.kind.as_str())
    .execute(db)
    .await?;
    if inserted.rows_affected() > 0 {
        return Ok(machine_get(db, b.id).await?.map_or(Synced::Unchanged, |m| Synced::Changed(Box::new(m))));
    }
    // The row exists: unchanged if it is this node's, another node's otherwise.
    Ok(match machine_get(db, b.id).await? {
        Some(m) if m.node_id != node => Synced::Foreign,
        _ => Synced::Unchanged,
    })
}

/// A delete the node gave up on: the row leaves `deleting` for `unknown`, and the next
/// report from the node says what the machine is. Returns the machine if it changed.
pub async fn machine_delete_failed(
    db: &Db,
    node: NodeId,
    id: MachineId,
) -> Result<Option<Machine>, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE machines SET state = 'unknown', updated_at = $1, state_since = $1 \
         WHERE id = $2 AND node_id = $3 AND state = 'deleting'",
    )
    .bind(now())
    .bind(id.to_string())
    .bind(node.to_string())
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    machine_get(db, id).await
}

/// Marks every machine of a node `unknown` (its node stopped answering); returns those that
/// changed.
pub async fn machines_mark_unknown(db: &Db, node: NodeId) -> Result<Vec<Machine>, sqlx::Error> {
    let mut changed = Vec::new();
    for m in machines_of_node(db, node).await? {
        // A lost machine is already accounted for; a create or delete in flight keeps its
        // state so that, when the node returns, the reconciler can finish the story.
        if matches!(m.state, MachineState::Lost | MachineState::Creating | MachineState::Deleting) {
            continue;
        }
        if let Some(m) = machine_set_state(db, m.id, MachineState::Unknown).await? {
            changed.push(m);
        }
    }
    Ok(changed)
}
