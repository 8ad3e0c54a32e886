//! The create form's part for what the guest is given at first boot: SSH keys chosen from the
//! user's own, a hostname, and user data (with a template), each checked by the shared rules
//! as it is typed; the server's word on these fields stands under them too.

use corral_api::SshKeyId;
use corral_api::guest::{StaticNetwork, UserDataText};
use corral_api::machine::MachineCreate;
use corral_api::validate;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::components::TextBox;

/// A start for user data: what people most often ask of a first boot.
const TEMPLATE: &str = "#cloud-config\n\
# Runs once, at the guest's first boot (cloud-init).\n\
package_update: true\n\
packages:\n  - htop\n\
write_files:\n  - path: /etc/motd\n    content: |\n      Made by Corral.\n\
runcmd:\n  - [systemctl, enable, --now, ssh]\n";

/// The request fields this part holds.
pub const FIELDS: &[&str] = &["ssh_key_ids", "hostname", "user_data", "network"];

#[derive(Clone, Copy)]
pub struct GuestForm {
    keys: RwSignal<Vec<SshKeyId>>,
    hostname: RwSignal<String>,
    user_data: RwSignal<String>,
    /// A static address (with prefix), its gateway and name servers, for a NIC on a host
    /// bridge; empty: DHCP.
    address: RwSignal<String>,
    gateway: RwSignal<String>,
    nameservers: RwSignal<String>,
    /// What the server said of one of these fields.
    server: RwSignal<Option<(String, String)>>,
    touched: RwSignal<bool>,
}

impl GuestForm {
    pub fn new() -> Self {
        Self {
            keys: RwSignal::new(Vec::new()),
            hostname: RwSignal::new(String::new()),
            user_data: RwSignal::new(String::new()),
            address: RwSignal::new(String::new()),
            gateway: RwSignal::new(String::new()),
            nameservers: RwSignal::new(String::new()),
            server: RwSignal::new(None),
            touched: RwSignal::new(false),
        }
    }

    /// The static address as typed, if one was (tracked).
    fn network(&self) -> Option<StaticNetwork> {
        let address = self.address.get().trim().to_string();
        if address.is_empty() {
            return None;
        }
        let gateway = Some(self.gateway.get().trim().to_string()).filter(|g| !g.is_empty());
        let nameservers = self
            .nameservers
            .get()
            .split([',', ' '])
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect();
        Some(StaticNetwork { address, gateway, nameservers })
    }

    /// The first of its fields in error, as the shared rules see it (tracked). The address is
    /// checked only where the form shows it (a NIC on a host bridge).
    pub fn check(&self, on_bridge: bool) -> Result<(), (&'static str, String)> {
        if on_bridge && let Some(n) = self.network() {
            validate::static_network(&n).map_err(|e| (e.field, e.message))?;
        }
        let host = self.hostname.get();
        if !host.trim().is_empty() {
            validate::hostname(host.trim()).map_err(|e| (e.field, e.message))?;
        }
        let data = self.user_data.get();
        if !data.trim().is_empty() {
            validate::user_data(&data).map_err(|e| (e.field, e.message))?;
        }
        validate::ssh_key_ids(&self.keys.get()).map_err(|e| (e.field, e.message))
    }

    /// Puts its fields in the request (the address only for a NIC on a host bridge).
    pub fn fill(&self, req: &mut MachineCreate) {
        req.network = req.host_bridge.as_ref().and_then(|_| self.network());
        req.ssh_key_ids = self.keys.get_untracked();
        let host = self.hostname.get_untracked();
        req.hostname = Some(host.trim().to_string()).filter(|h| !h.is_empty());
        let data = self.user_data.get_untracked();
        req.user_data = (!data.trim().is_empty()).then_some(UserDataText(data));
    }

    /// Shows the server's error on one of its fields (see [`FIELDS`]).
    pub fn say(&self, field: &str, message: String) {
        self.touched.set(true);
        self.server.set(Some((field.to_string(), message)));
    }

    /// After a submit that found something wrong: its own checks show from now on.
    pub fn touch(&self) {
        self.touched.set(true);
    }

    fn error(self, field: &'static str, on_bridge: Signal<bool>) -> Signal<Option<String>> {
        Signal::derive(move || {
            if !self.touched.get() {
                return None;
            }
            let local = self.check(on_bridge.get()).err().filter(|(f, _)| *f == field).map(|(_, m)| m);
            local.or_else(|| {
                self.server.with(|s| s.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.clone()))
            })
        })
    }
}

#[component]
pub fn GuestFields(
    form: GuestForm,
    /// Whether the NIC goes on a host bridge (then a static address may be given).
    #[prop(into)]
    on_bridge: Signal<bool>,
) -> impl IntoView {
    let keys = LocalResource::new(api::ssh_key_list);
    let toggle = move |id: SshKeyId, on: bool| {
        form.keys.update(|k| {
            k.retain(|x| *x != id);
            if on {
                k.push(id);
            }
        });
        form.server.set(None);
    };
    let host_error = form.error("hostname", on_bridge);
    let keys_error = form.error("ssh_key_ids", on_bridge);
    let net_error = form.error("network", on_bridge);
    view! {
        <fieldset class="guest" data-test="create-guest" on:input=move |_| {
            // Like the rest of the form: its checks show from the first keystroke.
            form.touched.set(true);
            form.server.set(None);
        }>
            <legend>"First boot (cloud-init)"</legend>
            <div class="keys" role="group" aria-label="SSH keys">
                <span class="label">"SSH keys"</span>
                <Transition fallback=|| view! { <span class="muted small">"Loading your keys…"</span> }>
                    {move || Suspend::new(async move {
                        match keys.await {
                            Ok(list) if list.is_empty() => view! {
                                <span class="muted small" data-test="create-no-keys">
                                    "You keep no SSH keys yet: " <A href="/account">"add one on your account page"</A> "."
                                </span>
                            }.into_any(),
                            Ok(list) => list.into_iter().map(|k| {
                                let id = k.id;
                                view! {
                                    <label class="check" data-test="create-key" data-name=k.name.clone()>
                                        <input type="checkbox" prop:checked=move || form.keys.with(|s| s.contains(&id))
                                            on:change=move |ev| toggle(id, event_target_checked(&ev))/>
                                        {k.name.clone()} " " <span class="mono small muted">{k.fingerprint.clone()}</span>
                                    </label>
                                }
                            }).collect_view().into_any(),
                            Err(e) => view! { <span class="error small">{e.to_string()}</span> }.into_any(),
                        }
                    })}
                </Transition>
                <span class="field-error" aria-live="polite">{move || keys_error.get()}</span>
                <span class="help">"Let in as root on a zone, as the default user on a cloud image (debian on Debian's)."</span>
            </div>
            <label>"Hostname"
                <input data-test="create-hostname" placeholder="the machine's name" aria-describedby="create-hostname-error"
                    aria-invalid=move || host_error.with(Option::is_some).to_string()
                    prop:value=move || form.hostname.get() on:input=move |ev| form.hostname.set(event_target_value(&ev))/>
                <span class="field-error" id="create-hostname-error" aria-live="polite">{move || host_error.get()}</span>
            </label>
            <Show when=move || on_bridge.get()>
                <div class="row">
                    <label>"Static address"
                        <input data-test="create-address" placeholder="192.0.2.10/24 (empty: DHCP)"
                            aria-invalid=move || net_error.with(Option::is_some).to_string() aria-describedby="create-network-error"
                            prop:value=move || form.address.get() on:input=move |ev| form.address.set(event_target_value(&ev))/>
                    </label>
                    <label>"Gateway"
                        <input data-test="create-gateway" placeholder="192.0.2.1"
                            prop:value=move || form.gateway.get() on:input=move |ev| form.gateway.set(event_target_value(&ev))/>
                    </label>
                    <label>"Name servers"
                        <input data-test="create-nameservers" placeholder="192.0.2.53"
                            prop:value=move || form.nameservers.get() on:input=move |ev| form.nameservers.set(event_target_value(&ev))/>
                    </label>
                </div>
                <span class="field-error" id="create-network-error" aria-live="polite">{move || net_error.get()}</span>
            </Show>
            <TextBox label="User data" test="create-user-data" value=form.user_data error=form.error("user_data", on_bridge) rows=8
                placeholder="#cloud-config"
                help="A #cloud-config document (YAML) or a script (#!/bin/sh …), at most 64 KiB, run once at first boot. It may hold secrets: viewers of the machine never see it."/>
            <button type="button" class="btn small" data-test="create-user-data-template"
                on:click=move |_| form.user_data.set(TEMPLATE.to_string())>"Use a template"</button>
        </fieldset>
    }
}
