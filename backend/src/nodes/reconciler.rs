//! One task per node keeps the database in step with what the node says exists.
//!
//! The loop: ask the version, open the event stream, bring its tasks in, mark the node
//! `online`, list every machine and reconcile, then apply events as they come and list again
//! every `resync_interval` in case one was missed. When the link fails — a refused connection, an
//! event stream that ends or falls silent — the node turns `unreachable` and its machines
//! `unknown` (never a stale `running`), and the task reconnects with exponential backoff and
//! jitter.
//!
//! A node is not trusted beyond its own machines: everything it reports is checked as input
//! (the create rules for machines, bounds for tasks) and applied only to rows of that node. A
//! report that breaks the rules is not applied; it is logged and counted on the node
//! (`rule_breaks`), where admins see it.

use std::collections::HashSet;
use std::time::Duration;

use corral_api::bridge::{BRIDGE_API_VERSION, BridgeEvent, BridgeMachine};
use corral_api::event::Event;
use corral_api::machine::{Machine, MachineState};
use corral_api::task::{BridgeTask, Task, TaskState};
use corral_api::{ErrorBody, ErrorCode, NodeId};
use futures::StreamExt;
use rand::Rng;

use super::client::{BridgeClient, NodeError};
use crate::state::AppState;
use crate::store::machines::{IfUnknown, Synced};
use crate::store::{machines, nodes, tasks};

/// How long a `creating` row may wait for its node to list the machine.
const CREATE_GRACE: Duration = Duration::from_secs(120);

fn older_than(rfc3339: &str, age: Duration) -> bool {
    let fmt = &time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(rfc3339, fmt)
        .map(|t| time::OffsetDateTime::now_utc() - t > age)
        .unwrap_or(true)
}

pub fn spawn(state: AppState, node: NodeId, client: BridgeClient) {
    tokio::spawn(async move {
        let mut failures: u32 = 0;
        loop {
            let err = match link(&state, node, &client, &mut failures).await {
                Ok(()) => "event stream ended".to_string(),
                Err(e) => e,
            };
            failures = failures.saturating_add(1);
            let marked = match client.key_mismatch() {
                Some(presented) => mark_key_mismatch(&state, node, &presented, &err).await,
                None => mark_unreachable(&state, node, &err).await,
            };
            if let Err(e) = marked {
                tracing::error!(%node, error = %e, "recording unreachable node");
            }
            tokio::time::sleep(backoff(&state, failures)).await;
        }
    });
}

fn backoff(state: &AppState, failures: u32) -> Duration {
    let t = &state.tuning;
    let exp = t.backoff_min.saturating_mul(1u32 << failures.min(16).saturating_sub(1));
    let capped = exp.min(t.backoff_max);
    // Up to 25% jitter so a fleet of nodes does not reconnect in lockstep.
    let jitter = rand::thread_rng().gen_range(0.0..0.25);
    capped.mul_f64(1.0 + jitter)
}

/// Runs one connected session with the node until the link fails; the error says why.
async fn link(
    state: &AppState,
    node: NodeId,
    client: &BridgeClient,
    failures: &mut u32,
) -> Result<(), String> {
    let mut version = client.version().await.map_err(|e| e.to_string())?;
    corral_api::validate::bridge_version_bound(&mut version);
    if version.api_version != BRIDGE_API_VERSION {
        return Err(format!(
            "bridge speaks API version {}, this backend speaks {BRIDGE_API_VERSION}",
            version.api_version
        ));
    }
    let mut events = std::pin::pin!(client.events().await.map_err(|e| e.to_string())?);
    // Only after the stream is open: a listing taken before it could miss a change made in
    // between; one taken after cannot. Tasks first, so a node shown online has no task left
    // `running` that it no longer knows.
    tolerate_db(node, reconcile_tasks(state, node, client).await)?;
    nodes::node_set_online(&state.db, node, &version).await.map_err(|e| e.to_string())?;
    publish_node(state, node).await;
    tolerate_db(node, reconcile(state, node, client).await)?;
    *failures = 0;
    tracing::info!(%node, driver = %version.driver, "node online");

    let mut resync = tokio::time::interval(state.tuning.resync_interval);
    resync.reset();
    // The silence deadline moves only when the event stream speaks: listings answered in
    // between do not keep a dead stream alive.
    let silence = state.tuning.silence_timeout;
    let quiet_until = tokio::time::sleep(silence);
    tokio::pin!(quiet_until);
    loop {
        tokio::select! {
            next = events.next() => {
                quiet_until.as_mut().reset(tokio::time::Instant::now() + silence);
                match next {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(ev)) => {
                        if let Err(e) = apply(state, node, ev).await {
                            tracing::error!(%node, error = %e, "recording a node event failed");
                        }
                    }
                }
            }
            _ = &mut quiet_until => return Err(format!("no word from the node in {silence:?}")),
            _ = resync.tick() => {
                tolerate_db(node, reconcile(state, node, client).await)?;
                if let Err(e) = nodes::node_touch(&state.db, node).await {
                    tracing::error!(%node, error = %e, "recording that the node answered failed");
                }
            }
        }
    }
}

/// What can go wrong while reconciling: the node (the link is broken: reconnect) or our own
/// database (the link is fine: reconnecting would not help, and marking the node
/// unreachable would tell users a falsehood about their machines).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Passes node errors up (they end the link) and logs database errors.
fn tolerate_db(node: NodeId, r: Result<(), ReconcileError>) -> Result<(), String> {
    match r {
        Err(ReconcileError::Node(e)) => Err(e.to_string()),
        Err(ReconcileError::Db(e)) => {
            tracing::error!(%node, error = %e, "reconciling into the database failed");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

async fn apply(state: &AppState, node: NodeId, ev: BridgeEvent) -> Result<(), sqlx::Error> {
    match ev {
        BridgeEvent::Heartbeat => {}
        // The link is up: catch up with the samples taken while it was down.
        BridgeEvent::Hello { .. } => state.metrics.wake(node, 0),
        BridgeEvent::Sampled { seq } => state.metrics.wake(node, seq),
        BridgeEvent::MachineChanged { machine } => {
            take_machine_report(state, node, &machine, IfUnknown::Adopt).await?;
        }
        BridgeEvent::TaskChanged { task } => {
            sync_task(state, node, &task).await?;
        }
        BridgeEvent::MachineRemoved { id } => {
            if machines::machine_delete_on(&state.db, node, id).await? {
                state.publish(Event::MachineRemoved { id });
                publish_node(state, node).await;
            }
        }
    }
    Ok(())
}

/// Records a node's task (bounded, and only if it is the node's to report) and tells
/// browsers; returns it as the console shows it.
pub async fn sync_task(
    state: &AppState,
    node: NodeId,
    task: &BridgeTask,
) -> Result<Option<Task>, sqlx::Error> {
    let mut task = task.clone();
    corral_api::validate::bridge_task_bound(&mut task);
    if !tasks::task_upsert(&state.db, node, &task).await? {
        let what = format!("task {} names machine {:?}, which is not this node's", task.id, task.machine_id);
        rule_break(state, node, &what).await?;
        return Ok(None);
    }
    if task.kind == "machine_delete"
        && task.state == TaskState::Failed
        && let Some(id) = task.machine_id
        && let Some(m) = machines::machine_delete_failed(&state.db, node, id).await?
    {
        state.publish(Event::MachineUpdated { machine: m });
    }
    let mirrored = tasks::task_get(&state.db, task.id).await?;
    if let Some(t) = &mirrored {
        state.publish(Event::TaskUpdated { task: t.clone() });
    }
    Ok(mirrored)
}

/// Brings the node's recent tasks in, and ends those the database thinks run but the node no
/// longer knows (it restarted during them).
async fn reconcile_tasks(
    state: &AppState,
    node: NodeId,
    client: &BridgeClient,
) -> Result<(), ReconcileError> {
    // The candidates are taken before the listing: a task mirrored meanwhile (an import's
    // answer) is newer than the listing and must not be ended for missing from it.
    let running = tasks::running_on(&state.db, node).await?;
    let listed = client.task_list().await?;
    for t in &listed {
        sync_task(state, node, t).await?;
    }
    for stale in running {
        if listed.iter().any(|t| t.id == stale.task.id) {
            continue;
        }
        let mut t = stale.task;
        t.state = TaskState::Failed;
        t.error = Some(ErrorBody::new(ErrorCode::Internal, "the node restarted during this task"));
        t.finished_at = Some(crate::db::now());
        sync_task(state, node, &t).await?;
    }
    Ok(())
}

/// Takes a node's word for one of its machines, if the report passes the rules and the
/// machine is the node's; returns the machine if its row changed (browsers are told).
/// `unknown` says whether a machine without a row is adopted (a listing or an event) or
/// passed over (an answer about a row deleted since).
pub async fn take_machine_report(
    state: &AppState,
    node: NodeId,
    m: &BridgeMachine,
    unknown: IfUnknown,
) -> Result<Option<Machine>, sqlx::Error> {
    if let Err(e) = corral_api::validate::bridge_machine(m) {
        let what = format!("machine {}: {}: {}", m.id, e.field, e.message);
        rule_break(state, node, &what).await?;
        return Ok(None);
    }
    match machines::machine_sync(&state.db, node, m, unknown).await? {
        Synced::Changed(changed) => {
            state.publish(Event::MachineUpdated { machine: (*changed).clone() });
            publish_node(state, node).await;
            Ok(Some(*changed))
        }
        Synced::Unchanged => Ok(None),
        Synced::Foreign => {
            rule_break(state, node, &format!("reported machine {}, which is another node's", m.id)).await?;
            Ok(None)
        }
    }
}

/// Records that a node broke the rules (rate-limited per node), for other ingest paths.
pub async fn note_rule_break(state: &AppState, node: NodeId, what: &str) -> Result<(), sqlx::Error> {
    rule_break(state, node, what).await
}

/// A report that broke the rules: logged and counted on the node, never applied. A node
/// that breaks them in a stream is recorded at most once a second (the others are only
/// counted in the log), so it cannot turn the database and every browser's event socket
/// into its megaphone.
async fn rule_break(state: &AppState, node: NodeId, what: &str) -> Result<(), sqlx::Error> {
    let Some(suppressed) = state.rule_breaks.admit(node) else { return Ok(()) };
    tracing::warn!(%node, what, suppressed, "a node's report broke the rules and was not applied");
    nodes::node_note_rule_break(&state.db, node, what).await?;
    publish_node(state, node).await;
    Ok(())
}

/// Rule breaks recorded per node: at most one a second.
#[derive(Clone, Default)]
pub struct RuleBreaks(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<NodeId, (std::time::Instant, u64)>>>,
);

impl RuleBreaks {
    /// `Some(how many were passed over since the last one recorded)` when this one is to be
    /// recorded.
    fn admit(&self, node: NodeId) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get_mut(&node) {
            Some((last, skipped)) if now.duration_since(*last) < Duration::from_secs(1) => {
                *skipped += 1;
                None
            }
            Some((last, skipped)) => {
                *last = now;
                Some(std::mem::take(skipped))
            }
            None => {
                seen.insert(node, (now, 0));
                Some(0)
            }
        }
    }
}

/// Makes the database agree with a full listing of the node.
pub async fn reconcile(state: &AppState, node: NodeId, client: &BridgeClient) -> Result<(), ReconcileError> {
    let listed = client.machine_list().await?;
    let seen: HashSet<_> = listed.iter().map(|m| m.id).collect();
    for m in &listed {
        take_machine_report(state, node, m, IfUnknown::Adopt).await?;
    }
    for known in machines::machines_of_node(&state.db, node).await? {
        if seen.contains(&known.id) {
            continue;
        }
        match known.state {
            // Its create request may still be on the way to the node; the create path
            // cleans up after itself if it fails. A row older than the grace period is a
            // create whose backend died before asking the node: nothing exists to keep.
            MachineState::Creating if !older_than(&known.created_at, CREATE_GRACE) => {}
            MachineState::Creating => {
                tracing::warn!(machine = %known.id, %node, "dropping a create that never reached its node");
                machines::machine_delete_on(&state.db, node, known.id).await?;
                state.publish(Event::MachineRemoved { id: known.id });
            }
            // Gone as asked, or never ours: forget it.
            _ if known.state == MachineState::Deleting || !known.managed => {
                machines::machine_delete_on(&state.db, node, known.id).await?;
                state.publish(Event::MachineRemoved { id: known.id });
            }
            MachineState::Lost => {}
            _ => {
                if let Some(m) = machines::machine_set_state(&state.db, known.id, MachineState::Lost).await? {
                    tracing::warn!(machine = %m.id, %node, "machine vanished from its node");
                    state.publish(Event::MachineUpdated { machine: m });
                }
            }
        }
    }
    publish_node(state, node).await;
    Ok(())
}

async fn mark_unreachable(state: &AppState, node: NodeId, error: &str) -> Result<(), sqlx::Error> {
    tracing::warn!(%node, error, "node unreachable");
    nodes::node_set_unreachable(&state.db, node, error).await?;
    for m in machines::machines_mark_unknown(&state.db, node).await? {
        state.publish(Event::MachineUpdated { machine: m });
    }
    publish_node(state, node).await;
    Ok(())
}

/// The node answered with another host key: like unreachable, and said so.
async fn mark_key_mismatch(
    state: &AppState,
    node: NodeId,
    presented: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    tracing::error!(%node, presented, "node host key mismatch: nothing is sent until an admin confirms the new key");
    nodes::node_set_key_mismatch(&state.db, node, presented, error).await?;
    for m in machines::machines_mark_unknown(&state.db, node).await? {
        state.publish(Event::MachineUpdated { machine: m });
    }
    publish_node(state, node).await;
    Ok(())
}

async fn publish_node(state: &AppState, node: NodeId) {
    match nodes::node_get(&state.db, node).await {
        Ok(Some(node)) => state.publish(Event::NodeUpdated { node }),
        Ok(None) => {}
        Err(e) => tracing::error!(%node, error = %e, "reading node"),
    }
}
