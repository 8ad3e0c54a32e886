//! Nodes as people see them (everything for admins, name, state and capacity for everyone
//! else), and enrolling nodes reached over SSH (admins only): show a node's host key, pin it
//! once the admin confirms it, re-confirm a changed one, and hand out the backend's public
//! key.
//!
//! An enrolment is checked end to end before anything is stored: the host key must be the
//! confirmed one, the node must accept our key, and its bridge must answer with an API
//! version we speak. A refusal says which of these failed, so the admin knows what to fix.

use std::sync::Arc;

use corral_api::NodeId;
use corral_api::bridge::BRIDGE_API_VERSION;
use corral_api::event::Event;
use corral_api::node::{AllocationRatios, HostKey, HostKeyProbe, Node, NodeEnroll, NodeUpdate, SshPublicKey};
use corral_api::validate;

use crate::auth::Actor;
use crate::db::is_unique_violation;
use crate::error::ApiError;
use crate::nodes::BridgeClient;
use crate::nodes::links;
use crate::nodes::ssh::{self, HostKeyPin, SshAddress, SshTransport};
use crate::state::AppState;
use crate::store::nodes;

fn require_admin(actor: &Actor) -> Result<(), ApiError> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("managing nodes is for administrators".into()))
    }
}

/// A node as `actor` may see it.
pub fn node_view(actor: &Actor, node: Node) -> Node {
    if actor.is_admin { node } else { node.for_tenants() }
}

/// Every node, as the caller may see it: anyone logged in sees the fleet's health and room.
pub async fn node_list(state: &AppState, actor: &Actor) -> Result<Vec<Node>, ApiError> {
    Ok(nodes::node_list(&state.db).await?.into_iter().map(|n| node_view(actor, n)).collect())
}

pub async fn node_get(state: &AppState, actor: &Actor, id: NodeId) -> Result<Node, ApiError> {
    let node =
        nodes::node_get(&state.db, id).await?.ok_or_else(|| ApiError::NotFound(format!("node {id}")))?;
    Ok(node_view(actor, node))
}

/// Sets a node's allocation ratios (admins); the change is announced, and the next
/// placement uses it.
pub async fn node_update(
    state: &AppState,
    actor: &Actor,
    id: NodeId,
    req: NodeUpdate,
) -> Result<Node, ApiError> {
    require_admin(actor)?;
    validate::node_update(&req)?;
    let node =
        nodes::node_get(&state.db, id).await?.ok_or_else(|| ApiError::NotFound(format!("node {id}")))?;
    let ratios = AllocationRatios {
        cpu: req.cpu_ratio.unwrap_or(node.ratios.cpu),
        memory: req.memory_ratio.unwrap_or(node.ratios.memory),
        disk: req.disk_ratio.unwrap_or(node.ratios.disk),
    };
    nodes::node_set_ratios(&state.db, id, ratios).await?;
    let node =
        nodes::node_get(&state.db, id).await?.ok_or_else(|| ApiError::NotFound(format!("node {id}")))?;
    state.publish(Event::NodeUpdated { node: node.clone() });
    Ok(node)
}

fn identity(state: &AppState) -> Result<ssh::SshIdentity, ApiError> {
    state.ssh.clone().ok_or_else(|| ApiError::Conflict("this backend has no SSH key loaded".into()))
}

pub fn ssh_public_key(state: &AppState, actor: &Actor) -> Result<SshPublicKey, ApiError> {
    require_admin(actor)?;
    let id = identity(state)?;
    Ok(SshPublicKey { public_key: id.public_key(), fingerprint: id.fingerprint() })
}

/// The fingerprint of the host key the node's sshd presents; nothing else is sent to it.
pub async fn host_key_probe(state: &AppState, actor: &Actor, req: HostKeyProbe) -> Result<HostKey, ApiError> {
    require_admin(actor)?;
    let _ = state;
    validate::host(&req.host)?;
    if req.port == 0 {
        return Err(
            validate::FieldError { field: "port", message: "a port number from 1 to 65535".into() }.into()
        );
    }
    let fp = ssh::host_key_of(&req.host, req.port)
        .await
        .map_err(|e| ApiError::NodeUnreachable { node: req.host.clone(), reason: e.to_string() })?;
    Ok(HostKey { host_key: fp })
}

/// Checks the node over SSH with the confirmed host key, then stores it and starts its link.
pub async fn node_enroll(state: &AppState, actor: &Actor, req: NodeEnroll) -> Result<Node, ApiError> {
    require_admin(actor)?;
    validate::node_enroll(&req)?;
    let address = SshAddress {
        user: req.user.clone(),
        host: req.host.clone(),
        port: req.port,
        socket: req.socket.clone(),
    };
    if nodes::node_list(&state.db).await?.iter().any(|n| n.name == req.name) {
        return Err(ApiError::AlreadyExists(format!("a node named {:?} exists", req.name)));
    }
    let pin = HostKeyPin::new(Some(req.host_key.clone()));
    let transport = SshTransport::new(address.clone(), pin.clone(), identity(state)?);
    let client = BridgeClient::new(Arc::new(transport), state.tuning.bridge_timeout);
    let version = match client.version().await {
        Ok(v) => v,
        Err(_) if pin.mismatch().is_some() => {
            return Err(ApiError::Conflict(format!(
                "the node presented host key {}, not the {} you confirmed: nothing was sent to it",
                pin.mismatch().unwrap_or_default(),
                req.host_key
            )));
        }
        Err(e) => return Err(ApiError::NodeUnreachable { node: req.name.clone(), reason: e.to_string() }),
    };
    if version.api_version != BRIDGE_API_VERSION {
        return Err(ApiError::Conflict(format!(
            "the node's bridge speaks API version {}, this backend speaks {BRIDGE_API_VERSION}: upgrade it",
            version.api_version
        )));
    }
    let id = nodes::node_insert_ssh(&state.db, &req.name, &address.to_string(), &req.host_key)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                ApiError::AlreadyExists(format!("a node named {:?} exists", req.name))
            } else {
                e.into()
            }
        })?;
    // What the node just said: shown at once, before its link settles in.
    nodes::node_set_online(&state.db, id, &version).await?;
    let stored = nodes::NodeAddress {
        id,
        name: req.name.clone(),
        address: address.to_string(),
        host_key: Some(req.host_key),
    };
    links::start(state, &stored).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    tracing::info!(node = %req.name, %address, "node enrolled");
    node_published(state, id).await
}

/// Pins the host key an admin confirmed for a node (after it changed); the link retries.
pub async fn host_key_confirm(
    state: &AppState,
    actor: &Actor,
    id: NodeId,
    req: HostKey,
) -> Result<Node, ApiError> {
    require_admin(actor)?;
    validate::host_key(&req.host_key)?;
    let node =
        nodes::node_get(&state.db, id).await?.ok_or_else(|| ApiError::NotFound(format!("node {id}")))?;
    if node.host_key.is_none() {
        return Err(ApiError::Conflict(format!("node {} is local: it has no host key", node.name)));
    }
    nodes::node_pin_host_key(&state.db, id, &req.host_key).await?;
    if let Some(pin) = state.host_keys.read().unwrap_or_else(|p| p.into_inner()).get(&id) {
        pin.set(req.host_key.clone());
    }
    tracing::warn!(node = %node.name, host_key = %req.host_key, "an admin pinned a new host key");
    node_published(state, id).await
}

async fn node_published(state: &AppState, id: NodeId) -> Result<Node, ApiError> {
    let node =
        nodes::node_get(&state.db, id).await?.ok_or_else(|| ApiError::NotFound(format!("node {id}")))?;
    state.publish(Event::NodeUpdated { node: node.clone() });
    Ok(node)
}
