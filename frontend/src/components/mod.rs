//! Small pieces shared by pages.

mod confirm;
mod error_banner;
mod state_badge;
mod title;
mod usage_bar;

pub use confirm::{Confirm, ConfirmDialog};
pub use error_banner::ErrorBanner;
pub use state_badge::StateBadge;
pub use title::page_title;
pub use usage_bar::UsageBar;
