//! Machines: the list, one machine, and the create form.

mod create;
mod detail;
mod devices;
mod list;
mod snapshots;

pub use create::MachineCreatePage;
pub use detail::MachineDetail;
pub use list::MachineList;
