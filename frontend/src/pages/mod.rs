//! Pages, grouped by feature.

pub mod dashboard;
pub mod login;
pub mod machines;
