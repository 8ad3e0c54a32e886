//! The admin panel: tenants (with quota use), their members and quotas, users, and the audit
//! log. Admins see everything; a tenant's owners manage their tenant's members and read its
//! audit log. Forms check fields with the validators the server uses.

mod audit;
mod tenant;
mod tenant_settings;
mod tenants;
mod users;

pub use audit::{AuditPage, AuditTable, KnownNames};
pub use tenant::TenantPage;
pub use tenants::TenantsPage;
pub use users::UsersPage;

use leptos::prelude::*;
use leptos_router::components::A;

/// The admin panel's own navigation.
#[component]
pub fn AdminNav() -> impl IntoView {
    let live = crate::live::use_live();
    let is_admin = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    view! {
        <nav class="subnav">
            <A href="/admin/tenants">"Tenants"</A>
            <Show when=is_admin><A href="/admin/users">"Users"</A></Show>
            <A href="/admin/audit">"Audit log"</A>
        </nav>
    }
}
