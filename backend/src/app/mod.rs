//! App logic: what the routes ask for, without HTTP types. Each function takes the caller
//! (`Actor`), checks what it may do, and keeps the database, the nodes and the browsers'
//! event stream in step.

pub mod audit;
pub mod bootstrap;
pub mod guests;
pub mod images;
pub mod machine_update;
pub mod machines;
pub mod metrics;
pub mod nodes;
pub mod on_node;
pub mod people;
pub mod placement;
pub mod provision;
pub mod quotas;
pub mod snapshots;
pub mod tokens;
