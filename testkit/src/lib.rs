//! Test helpers shared by the backend's tests, the end-to-end tests and the benchmark, so a
//! wait, a serial read or a new person means the same thing (and fails the same way)
//! everywhere: every wait has a deadline and, when it passes, says what it saw last.

pub mod images;
pub mod people;
pub mod serial;
pub mod socket;
pub mod wait;

pub use wait::{wait_for, wait_until};
