//! Adding a node reached over SSH (admins): the backend's public key to install on the node,
//! the node's address, its host key fetched and shown for the admin to check, and only then
//! the enrolment. Fields use the validators the server uses.

use corral_api::node::{HostKey, HostKeyProbe, Node, NodeEnroll};
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use crate::api;
use crate::components::ErrorBanner;
use crate::live::use_live;

#[component]
pub fn NodeEnrollPage() -> impl IntoView {
    crate::components::page_title(|| "Add node".to_string());
    let navigate = use_navigate();
    let key = LocalResource::new(api::ssh_key_get);
    let name = RwSignal::new(String::new());
    let host = RwSignal::new(String::new());
    let port = RwSignal::new("22".to_string());
    let user = RwSignal::new("corral".to_string());
    let socket = RwSignal::new("/run/corral/bridge.sock".to_string());
    // The fingerprint to trust: fetched from the node, or pasted by the admin.
    let host_key = RwSignal::new(String::new());
    let fetched = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let request = move || -> Result<NodeEnroll, String> {
        let req = NodeEnroll {
            name: name.get_untracked(),
            host: host.get_untracked().trim().to_string(),
            port: port.get_untracked().trim().parse().map_err(|_| "port: 1–65535".to_string())?,
            user: user.get_untracked().trim().to_string(),
            socket: socket.get_untracked().trim().to_string(),
            host_key: host_key.get_untracked().trim().to_string(),
        };
        validate::node_enroll(&req).map_err(|e| format!("{}: {}", e.field, e.message))?;
        Ok(req)
    };
    let fetch = move |_| {
        let req = HostKeyProbe {
            host: host.get_untracked().trim().to_string(),
            port: port.get_untracked().trim().parse().unwrap_or(22),
        };
        if let Err(e) = validate::host(&req.host) {
            error.set(Some(format!("host: {}", e.message)));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match api::host_key_probe(&req).await {
                Ok(k) => {
                    host_key.set(k.host_key);
                    fetched.set(true);
                    error.set(None);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req = match request() {
            Ok(r) => r,
            Err(e) => return error.set(Some(e)),
        };
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::node_enroll(&req).await {
                Ok(_) => navigate("/", Default::default()),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let input = |label: &'static str, test: &'static str, sig: RwSignal<String>| {
        view! {
            <label>{label}
                <input data-test=test prop:value=move || sig.get() on:input=move |ev| sig.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <h1>"Add a node"</h1>
        <section class="card">
            <h2>"1. Let the backend in"</h2>
            <p>"Put this line in the node user's " <code>"~/.ssh/authorized_keys"</code> ". The backend never uses a password."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading the key…"</p> }>
                {move || Suspend::new(async move {
                    match key.await {
                        Ok(k) => view! {
                            <pre class="mono wrap" data-test="ssh-public-key">{k.public_key}</pre>
                            <p class="muted small">{format!("Fingerprint {}", k.fingerprint)}</p>
                        }.into_any(),
                        Err(e) => view! { <p class="banner error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <form class="card form" on:submit=submit novalidate>
            <h2>"2. Where it is"</h2>
            {input("Name", "node-name", name)}
            <div class="row">
                {input("Host", "node-host", host)}
                {input("SSH port", "node-port", port)}
                {input("User", "node-user", user)}
            </div>
            {input("Bridge socket on the node", "node-socket", socket)}
            <h2>"3. Check its host key"</h2>
            <p class="help">"Fetch the key the node presents and compare it with "
                <code>"ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"</code>" run on the node, or paste the fingerprint you expect."</p>
            <div class="inline-form">
                <button class="btn" type="button" data-test="node-fetch-key" on:click=fetch disabled=move || busy.get()>"Fetch host key"</button>
                <input class="mono grow" data-test="node-host-key" placeholder="SHA256:…" prop:value=move || host_key.get()
                    on:input=move |ev| { fetched.set(false); host_key.set(event_target_value(&ev)) }/>
            </div>
            <Show when=move || fetched.get()>
                <p class="banner warn" data-test="node-key-shown">"The node presents " <code>{move || host_key.get()}</code>
                    ". Add it only if this is the key you see on the node."</p>
            </Show>
            <ErrorBanner error=error/>
            <div class="actions">
                <button class="btn primary" type="submit" data-test="node-enroll" disabled=move || busy.get() || host_key.get().is_empty()>
                    "Trust this key and add the node"
                </button>
            </div>
        </form>
    }
}

/// On a node whose host key changed: the key it presents now, and (for admins) trusting it.
#[component]
pub fn KeyMismatch(node: Node) -> impl IntoView {
    let live = use_live();
    let is_admin = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    let error = RwSignal::new(None::<String>);
    let presented = node.presented_host_key.clone().unwrap_or_default();
    let trust = {
        let presented = presented.clone();
        move |_| {
            let req = HostKey { host_key: presented.clone() };
            spawn_local(async move {
                match api::host_key_confirm(node.id, &req).await {
                    Ok(_) => error.set(None),
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        }
    };
    view! {
        <div class="banner error small" data-test="node-key-mismatch">
            <p>"Its SSH host key changed: it presents " <code>{presented.clone()}</code> ", not the pinned "
                <code>{node.host_key.clone().unwrap_or_default()}</code>". Nothing is sent to it. If the node was reinstalled, check the new key on it, then trust it."</p>
            <Show when=is_admin>
                <button class="btn" data-test="node-trust-key" on:click=trust.clone()>"Trust the new key"</button>
            </Show>
            <ErrorBanner error=error/>
        </div>
    }
}
