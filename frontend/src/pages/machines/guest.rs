//! What the machine's guest was given at boot, on its summary: hostname, SSH keys (by name
//! and fingerprint), the user data's kind and size, the revision (its instance id counts
//! it). Operators may read the user data; owners change it for the next boot. Viewers learn
//! only that there is some: it may hold secrets.

use corral_api::guest::{GuestInitView, StaticNetwork, UserData, UserDataText};
use corral_api::validate;
use leptos::prelude::*;

use super::detail::MachineCtx;
use crate::api;
use crate::components::{ErrorBanner, ServerSaid, TextBox};

fn keys_said(g: &GuestInitView) -> String {
    match g.ssh_keys.as_slice() {
        [] => "none".into(),
        keys => keys.iter().map(|k| format!("{} ({})", k.name, k.fingerprint)).collect::<Vec<_>>().join(", "),
    }
}

fn address_said(n: &StaticNetwork) -> String {
    let via = n.gateway.as_deref().map_or("no gateway".into(), |g| format!("via {g}"));
    match n.nameservers.as_slice() {
        [] => format!("{} {via}", n.address),
        dns => format!("{} {via}, name servers {}", n.address, dns.join(", ")),
    }
}

fn user_data_said(g: &GuestInitView) -> String {
    match &g.user_data {
        None => "none".into(),
        Some(u) => format!("{}, {} bytes", u.kind.label(), u.bytes),
    }
}

#[component]
pub fn GuestCard(ctx: MachineCtx) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let given = LocalResource::new(move || {
        version.track();
        api::guest_get(ctx.id)
    });
    let editing = RwSignal::new(false);
    view! {
        <section class="card" data-test="guest">
            <h2>"First boot"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match given.await {
                        Err(e) => view! { <p class="banner error">{e.to_string()}</p> }.into_any(),
                        Ok(None) => view! {
                            <p class="muted" data-test="guest-none">"Given nothing at boot (a blank disk or an installer): no cloud-init data."</p>
                        }.into_any(),
                        Ok(Some(g)) => view! {
                            <dl class="summary">
                                <dt>"Hostname"</dt><dd data-test="guest-hostname">{g.hostname.clone()}</dd>
                                <dt>"SSH keys"</dt><dd data-test="guest-keys">{keys_said(&g)}</dd>
                                <dt>"User data"</dt><dd data-test="guest-user-data">{user_data_said(&g)}</dd>
                                {g.network.clone().map(|n| view! {
                                    <dt>"Address"</dt><dd class="mono" data-test="guest-address">{address_said(&n)}</dd>
                                })}
                                <dt>"Revision"</dt><dd data-test="guest-revision">{g.revision}
                                    <span class="muted small">" (cloud-init applies a new one at the next start)"</span></dd>
                            </dl>
                        }.into_any(),
                    }
                })}
            </Transition>
            <Show when=move || ctx.may_operate.get() && !editing.get()>
                <button class="btn small" data-test="guest-user-data-open" on:click=move |_| editing.set(true)>
                    {move || if ctx.may_own.get() { "Edit user data" } else { "Show user data" }}
                </button>
            </Show>
            <Show when=move || editing.get()>
                <UserDataEditor ctx=ctx on_done=move || {
                    editing.set(false);
                    version.update(|v| *v += 1);
                }/>
            </Show>
        </section>
    }
}

/// The user data, read for operators, changed by owners for the next boot.
#[component]
fn UserDataEditor(ctx: MachineCtx, on_done: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let loaded = LocalResource::new(move || api::user_data_get(ctx.id));
    Effect::new(move || {
        if let Some(Ok(u)) = loaded.get() {
            text.set(u.user_data.map(|u| u.0).unwrap_or_default());
        }
    });
    let error = RwSignal::new(None::<String>);
    let server = ServerSaid::new(error);
    let tried = RwSignal::new(false);
    let request = move || -> Result<UserData, (&'static str, String)> {
        let t = text.get();
        if t.trim().is_empty() {
            return Ok(UserData { user_data: None });
        }
        validate::user_data(&t).map_err(|e| (e.field, e.message))?;
        Ok(UserData { user_data: Some(UserDataText(t)) })
    };
    let save = Action::new_local(move |req: &UserData| {
        let req = req.clone();
        async move { api::user_data_set(ctx.id, &req).await }
    });
    let done = on_done.clone();
    Effect::new(move || match save.value().get() {
        Some(Ok(_)) => done(),
        Some(Err(e)) => server.take(e, &["user_data"]),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        server.clear();
        if let Ok(req) = request() {
            save.dispatch(req);
        }
    };
    let close = on_done.clone();
    view! {
        <form class="form" novalidate on:submit=submit on:input=move |_| server.edited()>
            <TextBox label="User data" test="guest-user-data-text" value=text error=server.field_error("user_data", tried, request)
                rows=10 help="Given at the next start as a new instance, which cloud-init applies. Empty: none."/>
            <ErrorBanner error=error/>
            <div class="actions">
                <Show when=move || ctx.may_own.get()>
                    <button class="btn primary" type="submit" data-test="guest-user-data-save" disabled=move || save.pending().get()>"Save for the next boot"</button>
                </Show>
                <button class="btn ghost" type="button" on:click=move |_| close()>"Close"</button>
            </div>
        </form>
    }
}
