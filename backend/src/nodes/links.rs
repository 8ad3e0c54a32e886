//! A node's link: its transport built from the stored address (a local socket or SSH with the
//! pinned host key), its client registered in the app state, and its reconciler started.

use std::sync::Arc;

use super::ssh::{HostKeyPin, SshAddress, SshTransport};
use super::transport::{self, Transport};
use super::{BridgeClient, reconciler};
use crate::state::AppState;
use crate::store::nodes::NodeAddress;

/// The transport to a node, from its address. An SSH node's pin is shared through the app
/// state so that re-confirming its key reaches the transport.
pub fn transport_for(state: &AppState, n: &NodeAddress) -> Result<Arc<dyn Transport>, String> {
    if n.address.starts_with("unix:") {
        return transport::from_address(&n.address);
    }
    let address: SshAddress = n.address.parse()?;
    let identity = state.ssh.clone().ok_or("this backend has no SSH key loaded")?;
    let pin = HostKeyPin::new(n.host_key.clone());
    state.host_keys.write().unwrap_or_else(|p| p.into_inner()).insert(n.id, pin.clone());
    Ok(Arc::new(SshTransport::new(address, pin, identity)))
}

/// Registers the node's client and starts following it.
pub fn start(state: &AppState, n: &NodeAddress) -> Result<BridgeClient, String> {
    let client = BridgeClient::new(transport_for(state, n)?, state.tuning.bridge_timeout);
    state.nodes.insert(n.id, client.clone());
    reconciler::spawn(state.clone(), n.id, client.clone());
    crate::metrics::spawn_puller(state.clone(), n.id, client.clone());
    Ok(client)
}
