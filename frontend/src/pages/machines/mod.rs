//! Machines: the list, one machine, and the create form.

mod console;
mod create;
mod detail;
mod devices;
mod guest;
mod guest_form;
mod hardware;
mod history;
mod list;
mod power;
mod snapshots;
mod summary;

pub use console::ConsolePage;
pub use create::MachineCreatePage;
pub use detail::MachineDetail;
pub use list::MachineList;
