//! Tenants with their members, machines and quota use; admins create new ones.

use corral_api::people::TenantCreate;
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use super::AdminNav;
use crate::api;
use crate::components::{ErrorBanner, Field, UsageBar};
use crate::live::use_live;

#[component]
pub fn TenantsPage() -> impl IntoView {
    crate::components::page_title(|| "Tenants".to_string());
    let live = use_live();
    let is_admin = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    let version = RwSignal::new(0u32);
    let tenants = LocalResource::new(move || {
        version.track();
        api::tenant_list()
    });
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    // The name's complaint, under it: the shared check once tried, or the server's (taken).
    let tried = RwSignal::new(false);
    let taken = RwSignal::new(None::<String>);
    let name_error = Signal::derive(move || {
        taken.get().or_else(|| {
            tried.get().then(|| validate::tenant_name(&name.get()).err().map(|e| e.message)).flatten()
        })
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        taken.set(None);
        let req = TenantCreate { name: name.get_untracked() };
        if validate::tenant_name(&req.name).is_err() {
            return;
        }
        spawn_local(async move {
            match api::tenant_create(&req).await {
                Ok(_) => {
                    error.set(None);
                    tried.set(false);
                    name.set(String::new());
                    version.update(|v| *v += 1);
                    // The switch, the forms and the audit log name tenants from the list.
                    live.refresh();
                }
                Err(api::ClientError::Api { status: 409 | 422, body }) => taken.set(Some(body.message)),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <h1>"Admin"</h1>
        <AdminNav/>
        <Show when=is_admin>
            <form class="card inline-form" novalidate on:submit=create on:input=move |_| taken.set(None)>
                <Field label="New tenant" test="tenant-name" value=name error=name_error placeholder="acme"/>
                <button class="btn primary" type="submit" data-test="tenant-create">"Create tenant"</button>
                <ErrorBanner error=error/>
            </form>
        </Show>
        <Transition fallback=|| view! { <p class="muted">"Loading tenants…"</p> }>
            {move || Suspend::new(async move {
                match tenants.await {
                    Err(e) => view! { <p class="banner error">{e.to_string()}</p> }.into_any(),
                    Ok(list) => view! {
                        <section class="nodes">
                            {list.into_iter().map(|t| view! { <TenantCard id=t.id name=t.name members=t.members machines=t.machines/> }).collect_view()}
                        </section>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TenantCard(id: corral_api::TenantId, name: String, members: u32, machines: u32) -> impl IntoView {
    let quota = LocalResource::new(move || api::quota_get(id));
    let label = name.clone();
    view! {
        <article class="card node" data-test="tenant-card" data-name=name>
            <header><h3><A href=format!("/admin/tenants/{id}")>{label}</A></h3></header>
            <p class="muted small">{format!("{members} members · {machines} machines")}</p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    quota.await.ok().map(|q| {
                        let bar = |label: &'static str, used: u64, limit: Option<u64>, unit: &'static str| {
                            limit.map(|l| view! { <UsageBar label=label used=used total=l unit=unit/> })
                        };
                        view! {
                            {bar("vCPUs", q.used.vcpus, q.limits.vcpus, "")}
                            {bar("Memory", q.used.memory_mib, q.limits.memory_mib, "MiB")}
                            {bar("Disk", q.used.disk_gib, q.limits.disk_gib, "GiB")}
                            {bar("Machines", q.used.machines, q.limits.machines, "")}
                            {bar("Snapshots", q.used.snapshots, q.limits.snapshots, "")}
                        }
                    })
                })}
            </Transition>
        </article>
    }
}
