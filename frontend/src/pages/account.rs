//! The user's own account: change the password, SSH keys for new machines (`ssh_keys`), and
//! API tokens for scripts (created with the secret shown once, listed, revoked). Errors stand under the field they are about, the
//! server's too.

use corral_api::people::PasswordChange;
use corral_api::token::ApiTokenCreate;
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::{Confirm, ConfirmDialog, ErrorBanner, Field, ServerSaid};

#[component]
pub fn AccountPage() -> impl IntoView {
    crate::components::page_title(|| "Account".to_string());
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let pw_error = RwSignal::new(None::<String>);
    let pw_server = ServerSaid::new(pw_error);
    let pw_tried = RwSignal::new(false);
    let pw_done = RwSignal::new(false);
    let new_error = Signal::derive(move || {
        let local = pw_tried.get().then(|| validate::password(&new.get()).err().map(|e| e.message)).flatten();
        pw_server.under("new", local)
    });
    let current_error = Signal::derive(move || pw_server.under("current", None));
    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        pw_tried.set(true);
        pw_server.clear();
        let req = PasswordChange { current: current.get_untracked(), new: new.get_untracked() };
        if validate::password(&req.new).is_err() {
            return;
        }
        spawn_local(async move {
            match api::password_change(&req).await {
                Ok(()) => {
                    pw_done.set(true);
                    pw_tried.set(false);
                    current.set(String::new());
                    new.set(String::new());
                }
                Err(e) => pw_server.take(e, &["current", "new"]),
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
    let tok_server = ServerSaid::new(tok_error);
    let tok_tried = RwSignal::new(false);
    let days_value = move || -> Result<Option<u32>, String> {
        match days.get().trim() {
            "" => Ok(None),
            d => {
                let d = d
                    .parse::<u32>()
                    .map_err(|_| "a whole number of days, or nothing for never".to_string())?;
                validate::token_days(d).map_err(|e| e.message)?;
                Ok(Some(d))
            }
        }
    };
    let name_error = Signal::derive(move || {
        let local =
            tok_tried.get().then(|| validate::token_name(&name.get()).err().map(|e| e.message)).flatten();
        tok_server.under("name", local)
    });
    let days_error = Signal::derive(move || tok_server.under("expires_in_days", days_value().err()));
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tok_tried.set(true);
        tok_server.clear();
        let (Ok(expires_in_days), None) = (days_value(), name_error.get_untracked()) else { return };
        let req = ApiTokenCreate {
            name: name.get_untracked(),
            expires_in_days,
            read_only: read_only.get_untracked(),
        };
        spawn_local(async move {
            match api::token_create(&req).await {
                Ok(made) => {
                    shown.set(Some((made.info.id, made.token)));
                    name.set(String::new());
                    tok_tried.set(false);
                    version.update(|v| *v += 1);
                }
                Err(e) => tok_server.take(e, &["name", "expires_in_days"]),
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
        <form class="card inline-form" novalidate on:submit=change on:input=move |_| pw_server.edited()>
            <Field label="Current password" test="pw-current" value=current error=current_error password=true/>
            <Field label="New password" test="pw-new" value=new error=new_error password=true
                help=format!("At least {} characters.", validate::PASSWORD_MIN_LEN)/>
            <button class="btn primary" type="submit" data-test="pw-change">"Change password"</button>
            <Show when=move || pw_done.get()><span class="muted" data-test="pw-changed">"Changed."</span></Show>
            <ErrorBanner error=pw_error/>
        </form>
        <super::ssh_keys::SshKeys/>
        <section class="card settings">
            <h2>"API tokens"</h2>
            <p class="help">"For scripts and the CLI: send " <code>"Authorization: Bearer <token>"</code> ". A token acts as you; a read-only one may only read."</p>
            <form class="inline-form" novalidate on:submit=create on:input=move |_| tok_server.edited()>
                <Field label="Name" test="token-name" value=name error=name_error placeholder="backup-script"/>
                <Field label="Expires in (days)" test="token-days" value=days error=days_error numeric=true placeholder="never"/>
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
