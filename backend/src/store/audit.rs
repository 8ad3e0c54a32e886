//! The audit log table: appended to, read back filtered, never changed; entries past the
//! retention period are pruned.

use corral_api::audit::{AuditEntry, AuditQuery};
use corral_api::{MachineId, TenantId, UserId};
use sqlx::Row;

use super::opt_parse_col;
use crate::db::{Db, now};

/// An entry to append (`seq` and `at` are the database's and the clock's).
#[derive(Clone, Debug, Default)]
pub struct NewEntry {
    pub user_id: Option<UserId>,
    pub username: Option<String>,
    pub token_id: Option<String>,
    pub tenant_id: Option<TenantId>,
    pub action: String,
    pub target: Option<String>,
    pub machine_id: Option<MachineId>,
    pub result: String,
    pub source: Option<String>,
}

/// The most characters a text field of an entry keeps: a stranger's 2 MB username costs the
/// log its first 64 characters. Targets hold a collection and a name (`snapshot:<name>`).
pub const FIELD_MAX_CHARS: usize = 64;
pub const TARGET_MAX_CHARS: usize = 128;

/// The first `max` characters of `s`, marked with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}

pub async fn append(db: &Db, e: &NewEntry) -> Result<(), sqlx::Error> {
    let field = |v: Option<&str>| v.map(|v| clip(v, FIELD_MAX_CHARS));
    sqlx::query(
        "INSERT INTO audit_log (at, user_id, username, token_id, tenant_id, action, target, machine_id, result, source) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(now())
    .bind(e.user_id.map(|u| u.to_string()))
    .bind(field(e.username.as_deref()))
    .bind(field(e.token_id.as_deref()))
    .bind(e.tenant_id.map(|t| t.to_string()))
    .bind(clip(&e.action, FIELD_MAX_CHARS))
    .bind(e.target.as_deref().map(|t| clip(t, TARGET_MAX_CHARS)))
    .bind(e.machine_id.map(|m| m.to_string()))
    .bind(clip(&e.result, FIELD_MAX_CHARS))
    .bind(field(e.source.as_deref()))
    .execute(db)
    .await?;
    Ok(())
}

/// Removes entries recorded before `cutoff` (RFC 3339), a batch at a time so no pass holds
/// the database for long; returns how many went.
pub async fn prune(db: &Db, cutoff: &str) -> Result<u64, sqlx::Error> {
    const BATCH: i64 = 5000;
    let mut removed = 0;
    loop {
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE seq IN \
             (SELECT seq FROM audit_log WHERE at < $1 ORDER BY seq LIMIT $2)",
        )
        .bind(cutoff)
        .bind(BATCH)
        .execute(db)
        .await?;
        removed += done.rows_affected();
        if done.rows_affected() < BATCH as u64 {
            return Ok(removed);
        }
    }
}

/// Newest first. `tenants` limits the entries to those tenants (`None`: all).
pub async fn list(
    db: &Db,
    q: &AuditQuery,
    tenants: Option<&[TenantId]>,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let mut bind = |clause: &str, value: String, clauses: &mut Vec<String>| {
        binds.push(value);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(t) = q.tenant_id {
        bind("tenant_id = ?", t.to_string(), &mut clauses);
    }
    if let Some(u) = q.user_id {
        bind("user_id = ?", u.to_string(), &mut clauses);
    }
    if let Some(m) = q.machine_id {
        bind("machine_id = ?", m.to_string(), &mut clauses);
    }
    if let Some(a) = &q.action {
        match a.strip_suffix('.') {
            // Every action of a kind: the length is the validated prefix's own.
            Some(_) => bind(&format!("substr(action, 1, {}) = ?", a.len()), a.clone(), &mut clauses),
            None => bind("action = ?", a.clone(), &mut clauses),
        }
    }
    // Times arrive as whole seconds in UTC (`app::audit` made them so): a string compare with
    // the stored RFC 3339 times is a time compare.
    if let Some(t) = &q.since {
        bind("at >= ?", t.clone(), &mut clauses);
    }
    if let Some(t) = &q.until {
        bind("at < ?", t.clone(), &mut clauses);
    }
    if let Some(ids) = tenants {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut marks = Vec::new();
        for id in ids {
            binds.push(id.to_string());
            marks.push(format!("${}", binds.len()));
        }
        clauses.push(format!("tenant_id IN ({})", marks.join(", ")));
    }
    let mut sql = String::from(
        "SELECT seq, at, user_id, username, token_id, tenant_id, action, target, machine_id, result, source FROM audit_log",
    );
    let mut conds = clauses;
    if let Some(before) = q.before {
        conds.push(format!("seq < {before}"));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    // The caller checked it (`validate::audit_query`); the clamp only guards this query.
    let limit = q.limit.unwrap_or(200).clamp(1, corral_api::validate::AUDIT_PAGE_MAX);
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT {limit}"));
    let mut query = sqlx::query(&sql);
    for b in &binds {
        query = query.bind(b.clone());
    }
    let rows = query.fetch_all(db).await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                user_id: opt_parse_col(r, "user_id")?,
                username: r.try_get("username")?,
                token_id: r.try_get("token_id")?,
                tenant_id: opt_parse_col(r, "tenant_id")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                machine_id: opt_parse_col(r, "machine_id")?,
                result: r.try_get("result")?,
                source: r.try_get("source")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_clipped_on_character_boundaries() {
        assert_eq!(clip("short", 64), "short");
        assert_eq!(clip(&"x".repeat(2_000_000), 64).chars().count(), 65);
        assert_eq!(clip("ééééé", 2), "éé…");
    }
}
