//! Small pieces shared by pages.

mod error_banner;
mod state_badge;
mod usage_bar;

pub use error_banner::ErrorBanner;
pub use state_badge::StateBadge;
pub use usage_bar::UsageBar;
