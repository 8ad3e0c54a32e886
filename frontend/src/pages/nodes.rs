//! Adding a node reached over SSH (admins): the backend's public key to install on the node,
//! the node's address, its host key fetched and shown for the admin to check, and only then
//! the enrolment. Fields use the validators the server uses; each error stands under its
//! field, the server's too.

use corral_api::node::{HostKey, HostKeyProbe, Node, NodeEnroll};
use corral_api::validate;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use crate::api;
use crate::components::{ErrorBanner, Field, ServerSaid, focus_field};
use crate::live::use_live;

/// The enrolment's fields as the API names them, in the form's order.
const FIELDS: &[&str] = &["name", "host", "port", "user", "socket", "host_key"];
const PORT_WORDS: &str = "a port number from 1 to 65535";

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
    let server = ServerSaid::new(error);
    let busy = RwSignal::new(false);
    // Fields are checked once a submit was tried, then as they are typed.
    let tried = RwSignal::new(false);
    let refs: [NodeRef<html::Input>; 6] = Default::default();

    // The request as typed, or the first field that is wrong and why (tracked).
    let request = move || -> Result<NodeEnroll, (&'static str, String)> {
        let req = NodeEnroll {
            name: name.get(),
            host: host.get().trim().to_string(),
            port: port.get().trim().parse().map_err(|_| ("port", PORT_WORDS.to_string()))?,
            user: user.get().trim().to_string(),
            socket: socket.get().trim().to_string(),
            host_key: host_key.get().trim().to_string(),
        };
        validate::node_enroll(&req).map_err(|e| (e.field, e.message))?;
        Ok(req)
    };
    let error_of = move |field: &'static str| server.field_error(field, tried, request);
    let fetch = move |_| {
        server.clear();
        let Ok(port) = port.get_untracked().trim().parse::<u16>() else {
            tried.set(true);
            return;
        };
        let req = HostKeyProbe { host: host.get_untracked().trim().to_string(), port };
        if validate::host(&req.host).is_err() {
            tried.set(true);
            return focus_field(refs[1]);
        }
        busy.set(true);
        spawn_local(async move {
            match api::host_key_probe(&req).await {
                Ok(k) => {
                    host_key.set(k.host_key);
                    fetched.set(true);
                }
                Err(e) => server.take(e, FIELDS),
            }
            busy.set(false);
        });
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        server.clear();
        let req = match request() {
            Ok(r) => r,
            Err((field, _)) => {
                return focus_field(refs[FIELDS.iter().position(|f| *f == field).unwrap_or(0)]);
            }
        };
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::node_enroll(&req).await {
                Ok(_) => navigate("/", Default::default()),
                Err(e) => server.take(e, FIELDS),
            }
            busy.set(false);
        });
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
        <form class="card form" on:submit=submit novalidate on:input=move |_| server.edited()>
            <h2>"2. Where it is"</h2>
            <Field label="Name" test="node-name" value=name error=error_of("name") node_ref=refs[0]/>
            <div class="row">
                <Field label="Host" test="node-host" value=host error=error_of("host") node_ref=refs[1]/>
                <Field label="SSH port" test="node-port" value=port error=error_of("port") node_ref=refs[2] numeric=true/>
                <Field label="User" test="node-user" value=user error=error_of("user") node_ref=refs[3]/>
            </div>
            <Field label="Bridge socket on the node" test="node-socket" value=socket error=error_of("socket") node_ref=refs[4]/>
            <h2>"3. Check its host key"</h2>
            <p class="help">"Fetch the key the node presents and compare it with "
                <code>"ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"</code>" run on the node, or paste the fingerprint you expect."</p>
            <p><button class="btn" type="button" data-test="node-fetch-key" on:click=fetch disabled=move || busy.get()>"Fetch host key"</button></p>
            <div class="mono-field" on:input=move |_| fetched.set(false)>
                <Field label="Host key fingerprint" test="node-host-key" value=host_key error=error_of("host_key")
                    node_ref=refs[5] placeholder="SHA256:…"/>
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
