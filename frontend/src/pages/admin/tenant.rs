//! One tenant: its members (owners add people, change roles, remove them after a question), its quota
//! (admins set it), its machines' usage over time beside that quota, new users made straight
//! into it, and (admins) its name and deletion.

use corral_api::TenantId;
use corral_api::people::{MemberSet, QuotaLimits, UserCreate};
use corral_api::session::Role;
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;

use super::AdminNav;
use crate::api::{self, ChartTarget};
use crate::charts::SumCharts;
use crate::components::{Confirm, ConfirmDialog, ErrorBanner, Field};
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
    // The new name's complaint, under it: the shared check once tried, or the server's.
    let tried = RwSignal::new(false);
    let taken = RwSignal::new(None::<String>);
    let new_user_error = Signal::derive(move || {
        taken.get().or_else(|| {
            tried.get().then(|| validate::username(&new_user.get()).err().map(|e| e.message)).flatten()
        })
    });
    let add_user = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        taken.set(None);
        let req = UserCreate {
            username: new_user.get_untracked(),
            password: None,
            is_admin: false,
            tenant_id: Some(id),
            role: Some(role_of(&new_role.get_untracked())),
        };
        if validate::username(&req.username).is_err() {
            return;
        }
        spawn_local(async move {
            match api::user_create(&req).await {
                Ok(made) => {
                    error.set(None);
                    tried.set(false);
                    shown_password.set(made.password.map(|p| format!("{}: {p}", made.user.username)));
                    new_user.set(String::new());
                    bump();
                }
                Err(api::ClientError::Api { status: 409 | 422, body }) => taken.set(Some(body.message)),
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

    // The five limits as typed; empty is no limit. Each says under itself what is wrong.
    let limits: [RwSignal<String>; 5] = std::array::from_fn(|_| RwSignal::new(String::new()));
    const LIMIT_FIELDS: [&str; 5] = ["vcpus", "memory_mib", "disk_gib", "machines", "snapshots"];
    let parse = |s: &str| -> Result<Option<u64>, String> {
        match s.trim() {
            "" => Ok(None),
            s => s.parse().map(Some).map_err(|_| "a whole number, or nothing for no limit".to_string()),
        }
    };
    let request = move || -> Result<QuotaLimits, (usize, String)> {
        let v = |i: usize| parse(&limits[i].get()).map_err(|e| (i, e));
        let req = QuotaLimits {
            vcpus: v(0)?,
            memory_mib: v(1)?,
            disk_gib: v(2)?,
            machines: v(3)?,
            snapshots: v(4)?,
        };
        validate::quota_limits(&req)
            .map_err(|e| (LIMIT_FIELDS.iter().position(|f| *f == e.field).unwrap_or(0), e.message))?;
        Ok(req)
    };
    let limit_error =
        move |i: usize| Signal::derive(move || request().err().filter(|(at, _)| *at == i).map(|(_, m)| m));
    let save_quota = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(req) = request() else { return };
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
        view! { <Field label=label test=test value=limits[i] error=limit_error(i) numeric=true placeholder="no limit"/> }
    };
    let tenants = LocalResource::new(api::tenant_list);
    let title = move || {
        tenants.get().and_then(Result::ok).and_then(|ts| ts.into_iter().find(|t| t.id == id)).map(|t| t.name)
    };
    crate::components::page_title(move || {
        title().map(|n| format!("Tenant {n}")).unwrap_or_else(|| "Tenant".into())
    });
    let pending = RwSignal::new(None::<Confirm<corral_api::UserId>>);
    let quota_limits = Signal::derive(move || quota.get().and_then(Result::ok).map(|q| q.limits));
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
            <form class="inline-form" novalidate on:submit=add_user on:input=move |_| taken.set(None)>
                <Field label="New user" test="member-new-name" value=new_user error=new_user_error placeholder="jdoe"/>
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
                <form class="inline-form" novalidate on:submit=save_quota>
                    {limit_input(0, "vCPUs", "quota-vcpus")}
                    {limit_input(1, "Memory (MiB)", "quota-memory")}
                    {limit_input(2, "Disk (GiB)", "quota-disk")}
                    {limit_input(3, "Machines", "quota-machines")}
                    {limit_input(4, "Snapshots", "quota-snapshots")}
                    <button class="btn" type="submit" data-test="quota-save">"Set quota"</button>
                </form>
            </Show>
        </section>
        <SumCharts target=ChartTarget::Tenant(id) quota=quota_limits/>
        <Show when=is_admin>
            {move || {
                let found = tenants.get().and_then(Result::ok).and_then(|ts| ts.into_iter().find(|t| t.id == id));
                found.map(|t| view! { <super::tenant_settings::TenantSettings tenant=t on_renamed=move || tenants.refetch()/> })
            }}
        </Show>
    }
}
