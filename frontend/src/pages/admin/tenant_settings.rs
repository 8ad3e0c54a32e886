//! A tenant's name and its end (admins): rename it, or delete it once it holds no machine,
//! after typing its name. Its members lose the membership, its quota goes, the audit log keeps
//! what was done in it.

use corral_api::TenantId;
use corral_api::people::{Tenant, TenantUpdate};
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use crate::api;
use crate::components::{Confirm, ConfirmDialog, ErrorBanner, Field};
use crate::live::use_live;

#[component]
pub fn TenantSettings(
    tenant: Tenant,
    on_renamed: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let live = use_live();
    let id: TenantId = tenant.id;
    let name = RwSignal::new(tenant.name.clone());
    let error = RwSignal::new(None::<String>);
    let field_error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let name_error = Signal::derive(move || {
        field_error.get().or_else(|| validate::tenant_name(&name.get()).err().map(|e| e.message))
    });
    let original = tenant.name.clone();
    let rename = {
        let on_renamed = on_renamed.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let req = TenantUpdate { name: name.get_untracked() };
            if req.name == original || name_error.get_untracked().is_some() {
                return;
            }
            let on_renamed = on_renamed.clone();
            spawn_local(async move {
                match api::tenant_update(id, &req).await {
                    Ok(_) => {
                        error.set(None);
                        saved.set(true);
                        live.refresh();
                        on_renamed();
                    }
                    Err(api::ClientError::Api { body, .. }) if body.field.is_some() => {
                        field_error.set(Some(body.message))
                    }
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        }
    };
    let navigate = use_navigate();
    let delete = move |()| {
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::tenant_delete(id).await {
                Ok(()) => {
                    if live.tenant.get_untracked() == Some(id) {
                        live.switch_tenant(None);
                    }
                    live.refresh();
                    navigate("/admin/tenants", Default::default());
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let pending = RwSignal::new(None::<Confirm<()>>);
    let machines = tenant.machines;
    let holds_machines = machines > 0;
    let ask = {
        let name = tenant.name.clone();
        move |_: leptos::ev::MouseEvent| {
            pending.set(Some(
                Confirm::new(
                    format!("Delete tenant {name}?"),
                    "Its members lose their membership and its quota goes. The audit log keeps what was done in it.",
                    "Delete tenant",
                    (),
                )
                .typing(name.clone()),
            ))
        }
    };
    view! {
        <ConfirmDialog pending=pending on_confirm=delete/>
        <section class="card settings" data-test="tenant-settings">
            <h2>"Tenant"</h2>
            <form class="inline-form" novalidate on:submit=rename
                on:input=move |_| {
                    saved.set(false);
                    field_error.set(None);
                }>
                <Field label="Name" test="tenant-rename" value=name error=name_error/>
                <button class="btn" type="submit" data-test="tenant-rename-save">"Rename"</button>
                <Show when=move || saved.get()><span class="muted" role="status">"Saved."</span></Show>
            </form>
            <p class="help">{if machines == 0 {
                "It holds no machines: it can be deleted.".to_string()
            } else {
                format!("It holds {machines} machine{}: delete them before the tenant.", if machines == 1 { "" } else { "s" })
            }}</p>
            <button class="btn danger" data-test="tenant-delete" disabled=holds_machines on:click=ask>"Delete tenant…"</button>
            <ErrorBanner error=error/>
        </section>
    }
}
