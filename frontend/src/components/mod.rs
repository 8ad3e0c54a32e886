//! Small pieces shared by pages.

mod confirm;
mod error_banner;
mod field;
mod headroom;
mod palette;
mod state_badge;
mod time;
mod title;
mod usage_bar;

pub use confirm::{Confirm, ConfirmDialog};
pub use error_banner::ErrorBanner;
pub use field::{Field, ServerSaid, TextBox, focus_field};
pub use headroom::Headroom;
pub use palette::CommandPalette;
pub use state_badge::StateBadge;
pub use time::{Ago, Clock, Took};
pub use title::page_title;
pub use usage_bar::UsageBar;
