//! The user's SSH public keys, on the account page: added with a name (checked by the shared
//! rules as they are typed, then by the server, whose word stands under its field), listed
//! with their fingerprints, deleted after a question. Guests get the keys chosen at create.

use corral_api::SshKeyId;
use corral_api::guest::SshKeyCreate;
use corral_api::validate;
use leptos::prelude::*;

use crate::api;
use crate::components::{Confirm, ConfirmDialog, ErrorBanner, Field, ServerSaid, TextBox};

const FIELDS: &[&str] = &["name", "public_key"];

#[component]
pub fn SshKeys() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let keys = LocalResource::new(move || {
        version.track();
        api::ssh_key_list()
    });
    let name = RwSignal::new(String::new());
    let key = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let server = ServerSaid::new(error);
    let tried = RwSignal::new(false);
    let request = move || -> Result<SshKeyCreate, (&'static str, String)> {
        let req = SshKeyCreate { name: name.get().trim().to_string(), public_key: key.get() };
        validate::ssh_key_name(&req.name).map_err(|e| (e.field, e.message))?;
        validate::ssh_public_key(&req.public_key).map_err(|e| (e.field, e.message))?;
        Ok(req)
    };
    let error_of = move |field: &'static str| server.field_error(field, tried, request);
    let add = Action::new_local(move |req: &SshKeyCreate| {
        let req = req.clone();
        async move { api::ssh_key_create(&req).await }
    });
    Effect::new(move || match add.value().get() {
        Some(Ok(_)) => {
            server.clear();
            tried.set(false);
            name.set(String::new());
            key.set(String::new());
            version.update(|v| *v += 1);
        }
        Some(Err(e)) => server.take(e, FIELDS),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        server.clear();
        if let Ok(req) = request() {
            add.dispatch(req);
        }
    };
    let remove = move |id: SshKeyId| {
        leptos::task::spawn_local(async move {
            match api::ssh_key_delete(id).await {
                Ok(()) => version.update(|v| *v += 1),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let pending = RwSignal::new(None::<Confirm<SshKeyId>>);
    view! {
        <ConfirmDialog pending=pending on_confirm=remove/>
        <section class="card settings" data-test="ssh-keys">
            <h2>"SSH keys"</h2>
            <p class="help">"Public keys you can give a new machine: it lets them in as root on a zone, as its default user on a cloud image (" <code>"debian"</code> " on Debian's)."</p>
            <form class="form" novalidate on:submit=submit on:input=move |_| server.edited()>
                <Field label="Name" test="ssh-key-name" value=name error=error_of("name") placeholder="laptop"/>
                <TextBox label="Public key" test="ssh-key-text" value=key error=error_of("public_key") rows=3
                    placeholder="ssh-ed25519 AAAA… you@laptop"
                    help="The contents of your .pub file, such as ~/.ssh/id_ed25519.pub."/>
                <ErrorBanner error=error/>
                <button class="btn" type="submit" data-test="ssh-key-add" disabled=move || add.pending().get()>"Add key"</button>
            </form>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    keys.await.ok().map(|list| {
                        if list.is_empty() {
                            return view! { <p class="muted" data-test="ssh-keys-none">"No keys yet."</p> }.into_any();
                        }
                        view! {
                            <table class="table" data-test="ssh-key-table"><tbody>
                                {list.into_iter().map(|k| {
                                    let (id, label) = (k.id, k.name.clone());
                                    let ask = move |_| pending.set(Some(Confirm::new(
                                        format!("Delete the key {label}?"),
                                        "New machines can no longer be given it. Machines given it already keep it.",
                                        "Delete",
                                        id,
                                    )));
                                    view! {
                                        <tr data-test="ssh-key-row" data-name=k.name.clone()>
                                            <td>{k.name.clone()}</td>
                                            <td class="mono small" data-test="ssh-key-fingerprint">{k.fingerprint.clone()}</td>
                                            <td class="small">{k.created_at.clone()}</td>
                                            <td><button class="btn ghost" data-test="ssh-key-delete" on:click=ask>"Delete…"</button></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody></table>
                        }.into_any()
                    })
                })}
            </Transition>
        </section>
    }
}
