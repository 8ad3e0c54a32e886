//! One tenant: its members (owners add people, change roles, remove them after a question), its quota
//! (admins set it), new users made straight into it, and (admins) its name and deletion.

use corral_api::TenantId;
use corral_api::people::{MemberSet, QuotaLimits, UserCreate};
use corral_api::session::Role;
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;

use super::AdminNav;
use crate::api;
use crate::components::{Confirm, ConfirmDialog, ErrorBanner};
use crate::live::use_live;

fn role_of(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::Viewer)
}

#[component]
pub fn TenantPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<TenantId>().ok()));
    move || match id() {
        Some(id) => view! { <Tenant id=id/> }.into_any(),
        None => view! { <p class="muted">"No such tenant."</p> }.into_any(),
    }
}

#[component]
fn Tenant(id: TenantId) -> impl IntoView {
    let live = use_live();
    let is_admin = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    let version = RwSignal::new(0u32);
    let members = LocalResource::new(move || {
        version.track();
        api::member_list(id)
    });
    let quota = LocalResource::new(move || {
        version.track();
        api::quota_get(id)
    });
    let error = RwSignal::new(None::<String>);
    let shown_password = RwSignal::new(None::<String>);
    let bump = move || version.update(|v| *v += 1);

    let new_user = RwSignal::new(String::new());
    let new_role = RwSignal::new("viewer".to_string());
    let add_user = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req = UserCreate {
            username: new_user.get_untracked(),
            password: None,
            is_admin: false,
            tenant_id: Some(id),
            role: Some(role_of(&new_role.get_untracked())),
        };
        if let Err(e) = validate::username(&req.username) {
            return error.set(Some(format!("Username: {}", e.message)));
        }
        spawn_local(async move {
            match api::user_create(&req).await {
                Ok(made) => {
                    error.set(None);
                    shown_password.set(made.password.map(|p| format!("{}: {p}", made.user.username)));
                    new_user.set(String::new());
                    bump();
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let set_role = move |user, role: Role| {
        spawn_local(async move {
            match api::member_set(id, user, &MemberSet { role }).await {
                Ok(_) => {
                    error.set(None);
                    bump();
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let remove = move |user| {
        spawn_local(async move {
            match api::member_remove(id, user).await {
                Ok(()) => {
                    error.set(None);
                    bump();
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };

    let limits = RwSignal::new([String::new(), String::new(), String::new(), String::new(), String::new()]);
    let save_quota = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let parse = |s: &str| -> Result<Option<u64>, String> {
            let s = s.trim();
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| format!("{s:?} is not a whole number"))
            }
        };
        let l = limits.get_untracked();
        let req = (|| -> Result<QuotaLimits, String> {
            Ok(QuotaLimits {
                vcpus: parse(&l[0])?,
                memory_mib: parse(&l[1])?,
                disk_gib: parse(&l[2])?,
                machines: parse(&l[3])?,
                snapshots: parse(&l[4])?,
            })
        })();
        let req = match req {
            Ok(r) => r,
            Err(e) => return error.set(Some(e)),
        };
        spawn_local(async move {
            match api::quota_set(id, &req).await {
                Ok(_) => {
                    error.set(None);
                    bump();
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let limit_input = move |i: usize, label: &'static str, test: &'static str| {
        view! {
            <label>{label}
                <input data-test=test inputmode="numeric" placeholder="no limit"
                    prop:value=move || limits.with(|l| l[i].clone())
                    on:input=move |ev| limits.update(|l| l[i] = event_target_value(&ev))/>
            </label>
        }
    };
    let tenants = LocalResource::new(api::tenant_list);
    let title = move || {
        tenants.get().and_then(Result::ok).and_then(|ts| ts.into_iter().find(|t| t.id == id)).map(|t| t.name)
    };
    crate::components::page_title(move || {
        title().map(|n| format!("Tenant {n}")).unwrap_or_else(|| "Tenant".into())
    });
    let pending = RwSignal::new(None::<Confirm<corral_api::UserId>>);
    view! {
        <ConfirmDialog pending=pending on_confirm=remove/>
        <h1 data-test="tenant-title">{move || title().map(|n| format!("Tenant {n}")).unwrap_or_else(|| "Tenant".into())}</h1>
        <AdminNav/>
        <ErrorBanner error=error/>
        {move || shown_password.get().map(|p| view! {
            <p class="banner warn" data-test="new-user-password">"New user's password (shown once): " <code>{p}</code></p>
        })}
        <section class="card settings">
            <h2>"Members"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match members.await {
                        Err(e) => view! { <p class="banner error">{e.to_string()}</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="table" data-test="member-table"><tbody>
                                {list.into_iter().map(|m| {
                                    let user = m.user_id;
                                    view! {
                                        <tr data-test="member-row" data-name=m.username.clone()>
                                            <td>{m.username.clone()}{m.disabled.then_some(" (disabled)")}</td>
                                            <td>
                                                <select data-test="member-role" prop:value=m.role.as_str()
                                                    aria-label=format!("Role of {}", m.username)
                                                    on:change=move |ev| set_role(user, role_of(&event_target_value(&ev)))>
                                                    <option value="viewer">"viewer"</option>
                                                    <option value="operator">"operator"</option>
                                                    <option value="owner">"owner"</option>
                                                </select>
                                            </td>
                                            <td><button class="btn ghost" data-test="member-remove" on:click={
                                                let name = m.username.clone();
                                                move |_: leptos::ev::MouseEvent| pending.set(Some(Confirm::new(
                                                    format!("Remove {name} from this tenant?"),
                                                    "They lose access to its machines at once; their open consoles close. Their account stays.",
                                                    "Remove",
                                                    user,
                                                )))
                                            }>"Remove…"</button></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody></table>
                        }.into_any(),
                    }
                })}
            </Transition>
            <form class="inline-form" on:submit=add_user>
                <label>"New user"
                    <input data-test="member-new-name" placeholder="jdoe" prop:value=move || new_user.get()
                        on:input=move |ev| new_user.set(event_target_value(&ev))/>
                </label>
                <select data-test="member-new-role" aria-label="The new user's role" on:change=move |ev| new_role.set(event_target_value(&ev))>
                    <option value="viewer">"viewer"</option>
                    <option value="operator">"operator"</option>
                    <option value="owner">"owner"</option>
                </select>
                <button class="btn" type="submit" data-test="member-add">"Create and add"</button>
            </form>
        </section>
        <section class="card settings">
            <h2>"Quota"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    quota.await.ok().map(|q| {
                        let row = |label: &'static str, used: u64, limit: Option<u64>| view! {
                            <tr><td>{label}</td><td>{used}</td><td>{limit.map(|l| l.to_string()).unwrap_or_else(|| "no limit".into())}</td></tr>
                        };
                        view! {
                            <table class="table" data-test="quota-table">
                                <thead><tr><th></th><th>"in use"</th><th>"limit"</th></tr></thead>
                                <tbody>
                                    {row("vCPUs", q.used.vcpus, q.limits.vcpus)}
                                    {row("Memory (MiB)", q.used.memory_mib, q.limits.memory_mib)}
                                    {row("Disk (GiB)", q.used.disk_gib, q.limits.disk_gib)}
                                    {row("Machines", q.used.machines, q.limits.machines)}
                                    {row("Snapshots", q.used.snapshots, q.limits.snapshots)}
                                </tbody>
                            </table>
                        }
                    })
                })}
            </Transition>
            <Show when=is_admin>
                <form class="inline-form" on:submit=save_quota>
                    {limit_input(0, "vCPUs", "quota-vcpus")}
                    {limit_input(1, "Memory (MiB)", "quota-memory")}
                    {limit_input(2, "Disk (GiB)", "quota-disk")}
                    {limit_input(3, "Machines", "quota-machines")}
                    {limit_input(4, "Snapshots", "quota-snapshots")}
                    <button class="btn" type="submit" data-test="quota-save">"Set quota"</button>
                </form>
            </Show>
        </section>
        <Show when=is_admin>
            {move || {
                let found = tenants.get().and_then(Result::ok).and_then(|ts| ts.into_iter().find(|t| t.id == id));
                found.map(|t| view! { <super::tenant_settings::TenantSettings tenant=t on_renamed=move || tenants.refetch()/> })
            }}
        </Show>
    }
}
