//! Pages, grouped by feature.

pub mod account;
pub mod admin;
pub mod dashboard;
pub mod images;
pub mod login;
pub mod machines;
pub mod node;
pub mod nodes;
pub mod ssh_keys;
pub mod tasks;
