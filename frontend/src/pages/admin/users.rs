//! Every user (admins): create one (the generated password is shown once), disable or enable,
//! grant or take the admin role, delete. Disabling, changes of the admin role and deleting
//! ask first (a delete for the username); an admin's own row offers none (the server refuses
//! them).

use corral_api::people::{UserCreate, UserUpdate};
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::AdminNav;
use crate::api;
use crate::components::{Confirm, ConfirmDialog, ErrorBanner, Field};
use crate::live::use_live;

/// What an admin asked to do to a user, waiting for their yes.
#[derive(Clone, Debug, PartialEq)]
enum UserAct {
    Update(UserUpdate),
    Delete,
}

/// Admins only: others (a tenant's owners reach the panel too) are told so, not shown a
/// form the server would refuse.
#[component]
pub fn UsersPage() -> impl IntoView {
    crate::components::page_title(|| "Users".to_string());
    let me = use_live().me;
    let is_admin = move || me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    let refused = || {
        view! {
            <h1>"Admin"</h1>
            <AdminNav/>
            <p class="banner info" data-test="users-refused">
                "Only administrators manage users. Owners add and remove people on their tenant's page."
            </p>
        }
    };
    view! {
        <Show when=is_admin fallback=refused>
            <Users/>
        </Show>
    }
}

#[component]
fn Users() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let users = LocalResource::new(move || {
        version.track();
        api::user_list()
    });
    let error = RwSignal::new(None::<String>);
    let shown = RwSignal::new(None::<String>);
    let name = RwSignal::new(String::new());
    let admin = RwSignal::new(false);
    // The username's complaint, under it: the shared check once a create was tried, or
    // what the server said (a name taken).
    let tried = RwSignal::new(false);
    let taken = RwSignal::new(None::<String>);
    let name_error = Signal::derive(move || {
        taken.get().or_else(|| {
            tried.get().then(|| validate::username(&name.get()).err().map(|e| e.message)).flatten()
        })
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        taken.set(None);
        let req = UserCreate {
            username: name.get_untracked(),
            password: None,
            is_admin: admin.get_untracked(),
            tenant_id: None,
            role: None,
        };
        if validate::username(&req.username).is_err() {
            return;
        }
        spawn_local(async move {
            match api::user_create(&req).await {
                Ok(made) => {
                    error.set(None);
                    tried.set(false);
                    shown.set(made.password.map(|p| format!("{}: {p}", made.user.username)));
                    name.set(String::new());
                    version.update(|v| *v += 1);
                }
                // A taken name (409) or a refused one (422) is the name's: said under it.
                Err(api::ClientError::Api { status: 409 | 422, body }) => taken.set(Some(body.message)),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let update = move |id, req: UserUpdate| {
        spawn_local(async move {
            match api::user_update(id, &req).await {
                Ok(_) => {
                    error.set(None);
                    version.update(|v| *v += 1);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let remove = move |id| {
        spawn_local(async move {
            match api::user_delete(id).await {
                Ok(()) => {
                    error.set(None);
                    version.update(|v| *v += 1);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let pending = RwSignal::new(None::<Confirm<(corral_api::UserId, UserAct)>>);
    let me = use_live().me;
    view! {
        <h1>"Admin"</h1>
        <AdminNav/>
        <ConfirmDialog pending=pending on_confirm=move |(id, act)| match act {
            UserAct::Update(req) => update(id, req),
            UserAct::Delete => remove(id),
        }/>
        <form class="card inline-form" novalidate on:submit=create on:input=move |_| taken.set(None)>
            <Field label="New user" test="user-name" value=name error=name_error placeholder="jdoe"/>
            <label class="check"><input type="checkbox" prop:checked=move || admin.get() on:change=move |ev| admin.set(event_target_checked(&ev))/>"administrator"</label>
            <button class="btn primary" type="submit" data-test="user-create">"Create user"</button>
        </form>
        <ErrorBanner error=error/>
        {move || shown.get().map(|p| view! {
            <p class="banner warn" data-test="new-user-password">"Password (shown once): " <code>{p}</code></p>
        })}
        <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Err(e) => view! { <p class="banner error">{e.to_string()}</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table" data-test="user-table">
                            <thead><tr><th>"User"</th><th>"Tenants"</th><th>"Admin"</th><th>"State"</th><th></th></tr></thead>
                            <tbody>{list.into_iter().map(|u| {
                                let id = u.id;
                                let (disabled, is_admin) = (u.disabled, u.is_admin);
                                let tenants = u.memberships.iter().map(|m| format!("{} ({})", m.tenant_name, m.role.as_str())).collect::<Vec<_>>().join(", ");
                                view! {
                                    <tr data-test="user-row" data-name=u.username.clone()>
                                        <td>{u.username.clone()}</td>
                                        <td class="small">{tenants}</td>
                                        <td>{if is_admin { "yes" } else { "" }}</td>
                                        <td data-test="user-state">{if disabled { "disabled" } else { "active" }}</td>
                                        <td>{if me.with(|me| me.as_ref().is_some_and(|me| me.id == id)) {
                                            view! { <span class="muted small">"you"</span> }.into_any()
                                        } else {
                                            let name = u.username.clone();
                                            let toggle = {
                                                let name = name.clone();
                                                move |_: leptos::ev::MouseEvent| {
                                                    let req = UserUpdate { disabled: Some(!disabled), ..Default::default() };
                                                    if disabled {
                                                        return update(id, req);
                                                    }
                                                    pending.set(Some(Confirm::new(
                                                        format!("Disable {name}?"),
                                                        "They are logged out everywhere, and their API tokens and open consoles stop working until they are enabled again.",
                                                        "Disable",
                                                        (id, UserAct::Update(req)),
                                                    )));
                                                }
                                            };
                                            let admin_change = {
                                                let name = name.clone();
                                                move |_: leptos::ev::MouseEvent| {
                                                    let req = UserAct::Update(UserUpdate { is_admin: Some(!is_admin), ..Default::default() });
                                                    pending.set(Some(if is_admin {
                                                        Confirm::new(format!("Revoke {name}'s admin role?"), "They keep their tenants' roles and lose the admin panel, nodes and every other tenant.", "Revoke admin", (id, req))
                                                    } else {
                                                        Confirm::new(format!("Make {name} an administrator?"), "They can then see and change every tenant, user and node.", "Make admin", (id, req))
                                                    }));
                                                }
                                            };
                                            let delete = move |_: leptos::ev::MouseEvent| {
                                                pending.set(Some(Confirm::new(
                                                    format!("Delete {name}?"),
                                                    "Their account, memberships and API tokens go, and their open consoles close at once. The audit log keeps what they did, under their name.",
                                                    "Delete user",
                                                    (id, UserAct::Delete),
                                                ).typing(name.clone())));
                                            };
                                            view! {
                                                <button class="btn ghost" data-test="user-toggle" on:click=toggle>
                                                    {if disabled { "Enable" } else { "Disable…" }}
                                                </button>
                                                <button class="btn ghost" data-test="user-admin" on:click=admin_change>
                                                    {if is_admin { "Revoke admin…" } else { "Make admin…" }}
                                                </button>
                                                <button class="btn ghost danger" data-test="user-delete" on:click=delete>"Delete…"</button>
                                            }.into_any()
                                        }}</td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
