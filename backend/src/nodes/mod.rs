//! Links to node bridges: how bytes get there (`transport`, `ssh`), the typed client
//! (`client`), the per-node task that keeps the database in step with the node
//! (`reconciler`), and how a stored node becomes a running link (`links`).

pub mod client;
pub mod links;
pub mod reconciler;
pub mod ssh;
pub mod transport;

pub use client::{BridgeClient, NodeError};
