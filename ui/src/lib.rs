//! The browser app's logic that needs no browser, kept apart so that `cargo test` on the
//! workspace runs its tests natively (the frontend itself builds only for WASM).

pub mod audit;
pub mod charts;
pub mod forwards;
pub mod headroom;
pub mod keys;
pub mod links;
pub mod lists;
pub mod nav;
pub mod palette;
pub mod time;
