//! Links to node bridges: how bytes get there (`transport`), the typed client (`client`), and
//! the per-node task that keeps the database in step with the node (`reconciler`).

pub mod client;
pub mod reconciler;
pub mod transport;

pub use client::{BridgeClient, NodeError};
