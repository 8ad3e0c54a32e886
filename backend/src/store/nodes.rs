//! Nodes: where they are, how the link is, what they report, and what is allocated on them.

use std::collections::HashMap;

use corral_api::NodeId;
use corral_api::bridge::{BridgeVersion, HostFacts};
use corral_api::node::{AllocationRatios, Node, NodeStatus, NodeUsage};
use sqlx::Row;

use super::{parse_col, u32_col, u64_col};
use crate::db::{Db, now};

/// Adds the node if no node has this name, else updates its address. Returns its id.
pub async fn node_upsert(db: &Db, name: &str, address: &str) -> Result<NodeId, sqlx::Error> {
    if let Some(row) =
        sqlx::query("SELECT id FROM nodes WHERE name = $1").bind(name).fetch_optional(db).await?
    {
        let id: NodeId = parse_col(&row, "id")?;
        sqlx::query("UPDATE nodes SET address = $1 WHERE id = $2")
            .bind(address)
            .bind(id.to_string())
            .execute(db)
            .await?;
        return Ok(id);
    }
    let id = NodeId::new_random();
    sqlx::query(
        "INSERT INTO nodes (id, name, address, status, capabilities, created_at) \
         VALUES ($1, $2, $3, 'connecting', '[]', $4)",
    )
    .bind(id.to_string())
    .bind(name)
    .bind(address)
    .bind(now())
    .execute(db)
    .await?;
    Ok(id)
}

pub async fn node_set_online(db: &Db, id: NodeId, v: &BridgeVersion) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE nodes SET status = 'online', driver = $1, capabilities = $2, host = $3, \
         last_error = NULL, last_seen_at = $4, accelerator = $5, host_bridges = $7, \
         presented_host_key = NULL, kinds = $8 WHERE id = $6",
    )
    .bind(&v.driver)
    .bind(serde_json::to_string(&v.capabilities).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&v.host).ok())
    .bind(now())
    .bind(v.accelerator.as_ref().and_then(|a| serde_json::to_string(a).ok()))
    .bind(id.to_string())
    .bind(serde_json::to_string(&v.host_bridges).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&v.kinds).unwrap_or_else(|_| "[]".into()))
    .execute(db)
    .await?;
    Ok(())
}

/// Records that the node answered (after each full listing).
pub async fn node_touch(db: &Db, id: NodeId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE nodes SET last_seen_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(())
}

/// Counts a report of the node's that broke the rules (and was not applied), keeping the
/// last one's description for admins.
pub async fn node_note_rule_break(db: &Db, id: NodeId, what: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE nodes SET rule_breaks = rule_breaks + 1, last_rule_break = $1 WHERE id = $2")
        .bind(what)
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn node_set_unreachable(db: &Db, id: NodeId, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE nodes SET status = 'unreachable', last_error = $1 WHERE id = $2")
        .bind(error)
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(())
}

/// The node presented another host key than the pinned one: nothing more is sent to it.
pub async fn node_set_key_mismatch(
    db: &Db,
    id: NodeId,
    presented: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE nodes SET status = 'key_mismatch', presented_host_key = $1, last_error = $2 WHERE id = $3",
    )
    .bind(presented)
    .bind(error)
    .bind(id.to_string())
    .execute(db)
    .await?;
    Ok(())
}

/// An admin confirmed `host_key` for the node: it is pinned, and the node is tried again.
pub async fn node_pin_host_key(db: &Db, id: NodeId, host_key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE nodes SET host_key = $1, presented_host_key = NULL, status = 'connecting', \
         last_error = NULL WHERE id = $2",
    )
    .bind(host_key)
    .bind(id.to_string())
    .execute(db)
    .await?;
    Ok(())
}

/// Adds a node reached over SSH with its pinned host key. Fails with a unique violation when
/// the name is taken.
pub async fn node_insert_ssh(
    db: &Db,
    name: &str,
    address: &str,
    host_key: &str,
) -> Result<NodeId, sqlx::Error> {
    let id = NodeId::new_random();
    sqlx::query(
        "INSERT INTO nodes (id, name, address, status, capabilities, created_at, host_key) \
         VALUES ($1, $2, $3, 'connecting', '[]', $4, $5)",
    )
    .bind(id.to_string())
    .bind(name)
    .bind(address)
    .bind(now())
    .bind(host_key)
    .execute(db)
    .await?;
    Ok(id)
}

/// A node's address and pinned host key, for building its client.
#[derive(Clone, Debug)]
pub struct NodeAddress {
    pub id: NodeId,
    pub name: String,
    pub address: String,
    pub host_key: Option<String>,
}

pub async fn node_addresses(db: &Db) -> Result<Vec<NodeAddress>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT id, name, address, host_key FROM nodes ORDER BY name").fetch_all(db).await?;
    rows.iter()
        .map(|r| {
            Ok(NodeAddress {
                id: parse_col(r, "id")?,
                name: r.try_get("name")?,
                address: r.try_get("address")?,
                host_key: r.try_get("host_key")?,
            })
        })
        .collect()
}

/// Every node with its usage (machines that still hold resources: not `lost`).
pub async fn node_list(db: &Db) -> Result<Vec<Node>, sqlx::Error> {
    node_query(db, None).await
}

/// Sets a node's allocation ratios; false if there is no such node.
pub async fn node_set_ratios(db: &Db, id: NodeId, r: AllocationRatios) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE nodes SET cpu_ratio = $1, memory_ratio = $2, disk_ratio = $3 WHERE id = $4")
            .bind(r.cpu)
            .bind(r.memory)
            .bind(r.disk)
            .bind(id.to_string())
            .execute(db)
            .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn node_get(db: &Db, id: NodeId) -> Result<Option<Node>, sqlx::Error> {
    Ok(node_query(db, Some(id)).await?.pop())
}

async fn node_query(db: &Db, only: Option<NodeId>) -> Result<Vec<Node>, sqlx::Error> {
    let usage_rows = sqlx::query(
        // PostgreSQL sums BIGINTs into NUMERIC, which the Any driver cannot read: cast back.
        "SELECT node_id, CAST(COUNT(*) AS BIGINT) AS machines, \
         CAST(COALESCE(SUM(vcpus), 0) AS BIGINT) AS vcpus, \
         CAST(COALESCE(SUM(memory_mib), 0) AS BIGINT) AS memory_mib, \
         CAST(COALESCE(SUM(disk_gib), 0) AS BIGINT) AS disk_gib \
         FROM machines WHERE state <> 'lost' GROUP BY node_id",
    )
    .fetch_all(db)
    .await?;
    let mut usage: HashMap<NodeId, NodeUsage> = HashMap::new();
    for r in &usage_rows {
        usage.insert(
            parse_col(r, "node_id")?,
            NodeUsage {
                machines: u32_col(r, "machines")?,
                vcpus: u32_col(r, "vcpus")?,
                memory_mib: u64_col(r, "memory_mib")?,
                disk_gib: u64_col(r, "disk_gib")?,
            },
        );
    }
    let cols = "id, name, address, status, driver, capabilities, kinds, cpu_ratio, memory_ratio, disk_ratio, host, accelerator, host_bridges, last_error, last_seen_at, \
        host_key, presented_host_key, rule_breaks, last_rule_break";
    let rows = match only {
        Some(id) => {
            sqlx::query(&format!("SELECT {cols} FROM nodes WHERE id = $1"))
                .bind(id.to_string())
                .fetch_all(db)
                .await?
        }
        None => sqlx::query(&format!("SELECT {cols} FROM nodes ORDER BY name")).fetch_all(db).await?,
    };
    rows.iter()
        .map(|r| {
            let id: NodeId = parse_col(r, "id")?;
            let status: String = r.try_get("status")?;
            let caps: String = r.try_get("capabilities")?;
            let kinds: String = r.try_get("kinds")?;
            let host: Option<String> = r.try_get("host")?;
            let accelerator: Option<String> = r.try_get("accelerator")?;
            let host_bridges: String = r.try_get("host_bridges")?;
            Ok(Node {
                id,
                name: r.try_get("name")?,
                address: Some(r.try_get("address")?),
                host_key: r.try_get("host_key")?,
                presented_host_key: r.try_get("presented_host_key")?,
                status: NodeStatus::parse(&status).unwrap_or(NodeStatus::Unreachable),
                driver: r.try_get("driver")?,
                capabilities: serde_json::from_str(&caps).unwrap_or_default(),
                kinds: serde_json::from_str(&kinds).unwrap_or_default(),
                ratios: AllocationRatios {
                    cpu: r.try_get("cpu_ratio")?,
                    memory: r.try_get("memory_ratio")?,
                    disk: r.try_get("disk_ratio")?,
                },
                host: host.and_then(|h| serde_json::from_str::<HostFacts>(&h).ok()),
                accelerator: accelerator.and_then(|a| serde_json::from_str(&a).ok()),
                host_bridges: serde_json::from_str(&host_bridges).unwrap_or_default(),
                usage: usage.remove(&id).unwrap_or_default(),
                last_error: r.try_get("last_error")?,
                last_seen_at: r.try_get("last_seen_at")?,
                rule_breaks: u64_col(r, "rule_breaks")?,
                last_rule_break: r.try_get("last_rule_break")?,
            })
        })
        .collect()
}
