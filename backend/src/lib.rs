//! Corral's control plane: tenants, users, sessions and machines, kept in step with the
//! node bridges, served as a REST API, an events websocket and the built frontend.

pub mod access;
pub mod app;
pub mod audit;
pub mod auth;
pub mod client_addr;
pub mod config;
pub mod consoles;
pub mod db;
pub mod error;
pub mod login_guard;
pub mod metrics;
pub mod nodes;
pub mod policy;
pub mod routes;
pub mod server;
pub mod sockets;
pub mod state;
pub mod store;
