//! Metrics history: targets with their series lists, the tiers' ring rows, and each node's
//! cursor (the last sample taken). The layout is in migration 0018.

use std::collections::HashSet;

use corral_api::NodeId;
use corral_api::metrics::Metric;
use sqlx::Row;

use crate::db::Db;
use crate::metrics::rollup::{self, Row as TierRow, TIERS};

/// What a target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    Node,
    Machine,
    /// The sum of a tenant's machines (`metrics::sums`).
    Tenant,
    /// The sum of every machine; its one target is keyed `fleet`.
    Fleet,
}

impl TargetKind {
    fn as_str(self) -> &'static str {
        match self {
            TargetKind::Node => "node",
            TargetKind::Machine => "machine",
            TargetKind::Tenant => "tenant",
            TargetKind::Fleet => "fleet",
        }
    }
}

/// One series of a target: its metric and device ("" for none).
pub type SeriesKey = (Metric, String);

/// A target's row id and its series, in index order.
#[derive(Clone, Debug)]
pub struct Target {
    pub id: i64,
    pub series: Vec<SeriesKey>,
}

fn series_from(json: &str) -> Vec<SeriesKey> {
    serde_json::from_str::<Vec<(String, String)>>(json)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(m, d)| Some((Metric::parse(&m)?, d)))
        .collect()
}

fn series_to(series: &[SeriesKey]) -> String {
    let plain: Vec<(&str, &str)> = series.iter().map(|(m, d)| (m.as_str(), d.as_str())).collect();
    serde_json::to_string(&plain).unwrap_or_else(|_| "[]".into())
}

/// The target, if it was ever sampled.
pub async fn target_get(db: &Db, kind: TargetKind, target: &str) -> Result<Option<Target>, sqlx::Error> {
    let row = sqlx::query("SELECT id, series FROM metric_targets WHERE kind = $1 AND target = $2")
        .bind(kind.as_str())
        .bind(target)
        .fetch_optional(db)
        .await?;
    row.map(|r| Ok(Target { id: r.try_get("id")?, series: series_from(&r.try_get::<String, _>("series")?) }))
        .transpose()
}

/// The target, made on its first sample.
pub async fn target_ensure(db: &Db, kind: TargetKind, target: &str) -> Result<Target, sqlx::Error> {
    if let Some(t) = target_get(db, kind, target).await? {
        return Ok(t);
    }
    sqlx::query(
        "INSERT INTO metric_targets (kind, target) VALUES ($1, $2) ON CONFLICT (kind, target) DO NOTHING",
    )
    .bind(kind.as_str())
    .bind(target)
    .execute(db)
    .await?;
    target_get(db, kind, target).await?.ok_or(sqlx::Error::RowNotFound)
}

/// Stores a target's longer list of series (series are only ever added, at the end).
pub async fn series_set(db: &Db, id: i64, series: &[SeriesKey]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE metric_targets SET series = $2 WHERE id = $1")
        .bind(id)
        .bind(series_to(series))
        .execute(db)
        .await?;
    Ok(())
}

/// Rows to write per statement.
const ROWS_PER_INSERT: usize = 100;

/// Writes one tick's rows (of many targets) and the node's cursor in one transaction. A page
/// of several samples gives the same open bucket's row once per sample, each fuller than the
/// last; only the last of each is written, since PostgreSQL refuses a statement that updates
/// one row twice.
pub async fn rows_put(
    db: &Db,
    rows: &[(i64, TierRow)],
    cursor: Option<(NodeId, u64)>,
) -> Result<(), sqlx::Error> {
    let mut seen = HashSet::new();
    let mut last: Vec<&(i64, TierRow)> = rows
        .iter()
        .rev()
        .filter(|(target, row)| seen.insert((*target, row.tier, TIERS[row.tier].slot(row.at))))
        .collect();
    last.reverse();
    let mut tx = db.begin().await?;
    for chunk in last.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 5;
                format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5)
            })
            .collect();
        let sql = format!(
            "INSERT INTO metric_rows (target_id, tier, slot, at, body) VALUES {} \
             ON CONFLICT (target_id, tier, slot) DO UPDATE SET at = excluded.at, body = excluded.body",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (target, row) in chunk {
            let tier = TIERS[row.tier];
            q = q
                .bind(*target)
                .bind(row.tier as i64)
                .bind(tier.slot(row.at))
                .bind(row.at)
                .bind(rollup::encode(&row.entries));
        }
        q.execute(&mut *tx).await?;
    }
    if let Some((node, seq)) = cursor {
        sqlx::query(
            "INSERT INTO metric_cursors (node_id, seq) VALUES ($1, $2) \
             ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq",
        )
        .bind(node.to_string())
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// The rows of `tier` for a target whose buckets start within `from..=to`, oldest first.
/// Only the slots the range can fall in are read (the ring is indexed by slot).
pub async fn rows_get(
    db: &Db,
    target: i64,
    tier: usize,
    from: i64,
    to: i64,
) -> Result<Vec<TierRow>, sqlx::Error> {
    let t = TIERS[tier];
    let (lo, hi) = (t.slot(from), t.slot(to));
    let slots = if to - from >= t.span() {
        ""
    } else if lo <= hi {
        "AND slot >= $5 AND slot <= $6"
    } else {
        "AND (slot >= $5 OR slot <= $6)"
    };
    let sql = format!(
        "SELECT at, body FROM metric_rows WHERE target_id = $1 AND tier = $2 AND at >= $3 AND at <= $4 {slots} \
         ORDER BY at"
    );
    let mut q = sqlx::query(&sql).bind(target).bind(tier as i64).bind(from).bind(to);
    if !slots.is_empty() {
        q = q.bind(lo).bind(hi);
    }
    let rows = q.fetch_all(db).await?;
    rows.iter()
        .map(|r| {
            let body: Vec<u8> = r.try_get("body")?;
            Ok(TierRow { tier, at: r.try_get("at")?, entries: rollup::decode(&body) })
        })
        .collect()
}

/// The last sample taken from a node.
pub async fn cursor_get(db: &Db, node: NodeId) -> Result<u64, sqlx::Error> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM metric_cursors WHERE node_id = $1")
        .bind(node.to_string())
        .fetch_optional(db)
        .await?;
    Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
}

/// Forgets the history of machines and tenants that no longer exist; returns the targets
/// that went.
pub async fn prune_gone(db: &Db) -> Result<Vec<i64>, sqlx::Error> {
    let gone: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM metric_targets t WHERE (t.kind = 'machine' \
         AND NOT EXISTS (SELECT 1 FROM machines m WHERE m.id = t.target)) \
         OR (t.kind = 'tenant' AND NOT EXISTS (SELECT 1 FROM tenants n WHERE n.id = t.target))",
    )
    .fetch_all(db)
    .await?;
    for id in &gone {
        let mut tx = db.begin().await?;
        sqlx::query("DELETE FROM metric_rows WHERE target_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM metric_targets WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(gone)
}
