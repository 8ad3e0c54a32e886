//! The user's own account: change the password, and API tokens for scripts (created with the
//! secret shown once, listed, revoked).

use corral_api::people::PasswordChange;
use corral_api::token::ApiTokenCreate;
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::{Confirm, ConfirmDialog, ErrorBanner};

#[component]
pub fn AccountPage() -> impl IntoView {
    crate::components::page_title(|| "Account".to_string());
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let pw_error = RwSignal::new(None::<String>);
    let pw_done = RwSignal::new(false);
    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req = PasswordChange { current: current.get_untracked(), new: new.get_untracked() };
        if let Err(e) = validate::password(&req.new) {
            return pw_error.set(Some(format!("New password: {}", e.message)));
        }
        spawn_local(async move {
            match api::password_change(&req).await {
                Ok(()) => {
                    pw_error.set(None);
                    pw_done.set(true);
                    current.set(String::new());
                    new.set(String::new());
                }
                Err(e) => pw_error.set(Some(e.to_string())),
            }
        });
    };

    let version = RwSignal::new(0u32);
    let tokens = LocalResource::new(move || {
        version.track();
        api::token_list()
    });
    let name = RwSignal::new(String::new());
    let read_only = RwSignal::new(false);
    let days = RwSignal::new(String::new());
    // The new token's id and secret, until it is revoked or another is made.
    let shown = RwSignal::new(None::<(String, String)>);
    let tok_error = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let expires_in_days = match days.get_untracked().trim() {
            "" => None,
            d => match d.parse::<u32>() {
                Ok(d) => Some(d),
                Err(_) => return tok_error.set(Some("Expires: a whole number of days".into())),
            },
        };
        let req = ApiTokenCreate {
            name: name.get_untracked(),
            expires_in_days,
            read_only: read_only.get_untracked(),
        };
        if let Err(e) = validate::token_name(&req.name) {
            return tok_error.set(Some(format!("Name: {}", e.message)));
        }
        spawn_local(async move {
            match api::token_create(&req).await {
                Ok(made) => {
                    tok_error.set(None);
                    shown.set(Some((made.info.id, made.token)));
                    name.set(String::new());
                    version.update(|v| *v += 1);
                }
                Err(e) => tok_error.set(Some(e.to_string())),
            }
        });
    };
    let revoke = move |id: String| {
        spawn_local(async move {
            match api::token_revoke(&id).await {
                Ok(()) => {
                    // A revoked secret is worth nothing: it leaves the screen.
                    if shown.with_untracked(|s| s.as_ref().is_some_and(|(shown, _)| *shown == id)) {
                        shown.set(None);
                    }
                    version.update(|v| *v += 1)
                }
                Err(e) => tok_error.set(Some(e.to_string())),
            }
        });
    };
    let pending = RwSignal::new(None::<Confirm<String>>);
    view! {
        <ConfirmDialog pending=pending on_confirm=revoke/>
        <h1>"Account"</h1>
        <form class="card inline-form" on:submit=change>
            <label>"Current password"<input type="password" data-test="pw-current" prop:value=move || current.get() on:input=move |ev| current.set(event_target_value(&ev))/></label>
            <label>"New password"<input type="password" data-test="pw-new" prop:value=move || new.get() on:input=move |ev| new.set(event_target_value(&ev))/></label>
            <button class="btn primary" type="submit" data-test="pw-change">"Change password"</button>
            <Show when=move || pw_done.get()><span class="muted" data-test="pw-changed">"Changed."</span></Show>
            <ErrorBanner error=pw_error/>
        </form>
        <section class="card settings">
            <h2>"API tokens"</h2>
            <p class="help">"For scripts and the CLI: send " <code>"Authorization: Bearer <token>"</code> ". A token acts as you; a read-only one may only read."</p>
            <form class="inline-form" on:submit=create>
                <label>"Name"<input data-test="token-name" placeholder="backup-script" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/></label>
                <label>"Expires in (days)"<input data-test="token-days" inputmode="numeric" placeholder="never" prop:value=move || days.get() on:input=move |ev| days.set(event_target_value(&ev))/></label>
                <label class="check"><input type="checkbox" prop:checked=move || read_only.get() on:change=move |ev| read_only.set(event_target_checked(&ev))/>"read-only"</label>
                <button class="btn" type="submit" data-test="token-create">"Create token"</button>
            </form>
            {move || shown.get().map(|(_, t)| view! {
                <p class="banner warn">"Copy it now, it is not shown again: " <code data-test="token-secret">{t}</code></p>
            })}
            <ErrorBanner error=tok_error/>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    tokens.await.ok().map(|list| view! {
                        <table class="table" data-test="token-table"><tbody>
                            {list.into_iter().map(|t| {
                                let id = t.id.clone();
                                let name = t.name.clone();
                                let ask = move |_| pending.set(Some(Confirm::new(
                                    format!("Revoke the token {name}?"),
                                    "Scripts that send it are refused from now on. This cannot be undone.",
                                    "Revoke",
                                    id.clone(),
                                )));
                                view! {
                                    <tr data-test="token-row" data-name=t.name.clone()>
                                        <td>{t.name.clone()}</td>
                                        <td class="mono small">{format!("corral_{}_…", t.id)}</td>
                                        <td>{if t.read_only { "read-only" } else { "full" }}</td>
                                        <td class="small">{t.expires_at.clone().unwrap_or_else(|| "never expires".into())}</td>
                                        <td class="small">{t.last_used_at.clone().map(|u| format!("used {u}")).unwrap_or_else(|| "never used".into())}</td>
                                        <td><button class="btn ghost" data-test="token-revoke" on:click=ask>"Revoke…"</button></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody></table>
                    })
                })}
            </Transition>
        </section>
    }
}
