//! The Corral node bridge: one per node, an HTTP API on a unix socket over a `Driver`.

pub mod config;
pub mod console;
pub mod driver;
pub mod error;
pub mod guest;
pub mod host;
pub mod images;
pub mod metrics;
pub mod pty;
pub mod qmp;
pub mod serial;
pub mod server;
pub mod store;
pub mod tasks;
mod time_fmt;

pub use config::{BridgeConfig, DriverKind};
pub use error::BridgeError;
