//! Tasks mirrored from the nodes: the node's report as JSON, with the columns lists filter on.

use corral_api::task::{BridgeTask, Task, TaskState};
use corral_api::{NodeId, TaskId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::machines::Visibility;
use super::{opt_parse_col, parse_col};
use crate::db::{Db, now};

const SELECT: &str = "SELECT t.body, t.node_id, n.name AS node_name, m.tenant_id, s.username \
    FROM tasks t JOIN nodes n ON n.id = t.node_id LEFT JOIN machines m ON m.id = t.machine_id \
    LEFT JOIN task_starters s ON s.task_id = t.id";

fn from_row(r: &AnyRow) -> Result<Task, sqlx::Error> {
    let body: String = r.try_get("body")?;
    let task: BridgeTask = serde_json::from_str(&body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Task {
        node_id: parse_col(r, "node_id")?,
        node_name: r.try_get("node_name")?,
        tenant_id: opt_parse_col(r, "tenant_id")?,
        started_by: r.try_get("username")?,
        task,
    })
}

/// Records a node's task: a new one unless the machine it names is another node's (one no
/// longer known is fine: a delete's task outlives its machine), an update only from the node
/// that first reported it and for the same machine. Returns whether it was
/// recorded; `false` means the node named what is not its own.
pub async fn task_upsert(db: &Db, node: NodeId, t: &BridgeTask) -> Result<bool, sqlx::Error> {
    let body = serde_json::to_string(t).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let known = sqlx::query("SELECT node_id, machine_id FROM tasks WHERE id = $1")
        .bind(t.id.to_string())
        .fetch_optional(db)
        .await?;
    let machine = t.machine_id.map(|m| m.to_string());
    if let Some(row) = known {
        let (was_node, was_machine): (String, Option<String>) =
            (row.try_get("node_id")?, row.try_get("machine_id")?);
        if was_node != node.to_string() || was_machine != machine {
            return Ok(false);
        }
    } else if let Some(m) = &machine {
        let row =
            sqlx::query("SELECT node_id FROM machines WHERE id = $1").bind(m).fetch_optional(db).await?;
        if let Some(row) = row
            && row.try_get::<String, _>("node_id")? != node.to_string()
        {
            return Ok(false);
        }
    }
    // The conditions hold the scope against a racing report from another node too, and keep
    // an ended task ended: a report sent while it ran (the answer to the request that started
    // it) may arrive after the one that says how it ended.
    let done = sqlx::query(
        "INSERT INTO tasks (id, node_id, kind, machine_id, state, body, started_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET \
         state = excluded.state, body = excluded.body, updated_at = excluded.updated_at \
         WHERE tasks.node_id = excluded.node_id \
         AND (tasks.state = 'running' OR excluded.state <> 'running')",
    )
    .bind(t.id.to_string())
    .bind(node.to_string())
    .bind(&t.kind)
    .bind(t.machine_id.map(|m| m.to_string()))
    .bind(t.state.as_str())
    .bind(body)
    .bind(&t.started_at)
    .bind(now())
    .execute(db)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    // Nothing changed: a stale report of this node's own task is taken (and ignored); a
    // report of another node's task is not.
    let owner = sqlx::query("SELECT node_id FROM tasks WHERE id = $1")
        .bind(t.id.to_string())
        .fetch_optional(db)
        .await?;
    Ok(owner.map(|r| r.try_get::<String, _>("node_id")).transpose()?.is_some_and(|n| n == node.to_string()))
}

pub async fn task_get(db: &Db, id: TaskId) -> Result<Option<Task>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE t.id = $1"))
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

/// The newest tasks the caller may see: everything for admins; for others, tasks on
/// machines of their tenants.
pub async fn task_list(db: &Db, vis: &Visibility, limit: i64) -> Result<Vec<Task>, sqlx::Error> {
    let rows = match vis {
        Visibility::All => {
            sqlx::query(&format!("{SELECT} ORDER BY t.started_at DESC LIMIT $1"))
                .bind(limit)
                .fetch_all(db)
                .await?
        }
        Visibility::Tenants(ids) if ids.is_empty() => Vec::new(),
        Visibility::Tenants(ids) => {
            let marks: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "{SELECT} WHERE m.tenant_id IN ({}) ORDER BY t.started_at DESC LIMIT $1",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(limit);
            for id in ids {
                q = q.bind(id.to_string());
            }
            q.fetch_all(db).await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Tasks of a node that the database thinks still run.
pub async fn running_on(db: &Db, node: NodeId) -> Result<Vec<Task>, sqlx::Error> {
    let rows = sqlx::query(&format!("{SELECT} WHERE t.node_id = $1 AND t.state = $2"))
        .bind(node.to_string())
        .bind(TaskState::Running.as_str())
        .fetch_all(db)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Records who asked for a task, as its node answers with it. Written once: the first answer
/// is the request that started it (a retried create answers with the same task).
pub async fn task_started_by(db: &Db, task: TaskId, user: UserId, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO task_starters (task_id, user_id, username, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (task_id) DO NOTHING",
    )
    .bind(task.to_string())
    .bind(user.to_string())
    .bind(username)
    .bind(now())
    .execute(db)
    .await?;
    Ok(())
}

/// Removes ended tasks last changed before `cutoff` (RFC 3339); returns how many. Running
/// tasks stay whatever their age: their node may still finish them. Who asked goes with the
/// task, and so does a record of a task whose node never reported it.
pub async fn tasks_prune(db: &Db, cutoff: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM tasks WHERE state <> 'running' AND updated_at < $1")
        .bind(cutoff)
        .execute(db)
        .await?;
    sqlx::query(
        "DELETE FROM task_starters WHERE created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.id = task_starters.task_id)",
    )
    .bind(cutoff)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
