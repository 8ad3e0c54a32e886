//! The create form (what the guest gets at first boot is in `guest_form`). Fields are checked
//! with the same validators the server uses, as you type,
//! against the room the tenant's quota leaves (and, for admins, the chosen node's), and the
//! server's answer (a taken name, no room on any node) is shown beside the form. Admins and
//! owners of several tenants say which tenant the machine belongs to.

use corral_api::error::ErrorBody;
use corral_api::machine::MachineCreate;
use corral_api::node::NodeStatus;
use corral_api::session::Role;
use corral_api::spec::MachineKind;
use corral_api::validate;
use corral_api::{NodeId, TenantId};
use corral_ui::headroom::Sizes;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api;
use crate::components::{ErrorBanner, Headroom};
use crate::live::use_live;

/// The idempotency key of a submission: this form's nonce and a hash of the request, so
/// sending the same request again (after a timeout, or a double click) cannot make a second
/// machine, while a changed request is a new one.
fn idempotency_key(nonce: u64, req: &MachineCreate) -> String {
    // FNV-1a: any stable hash will do; it only has to tell requests apart.
    let body = serde_json::to_string(req).unwrap_or_default();
    let hash =
        body.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("form-{nonce:016x}-{hash:016x}")
}

/// The image select's value for a blank disk.
const BLANK: &str = "-blank-";

/// A numeric field: what was typed, and what it parses to.
fn parse_num<T: std::str::FromStr>(s: &str, field: &str) -> Result<T, String> {
    s.trim().parse::<T>().map_err(|_| format!("{field}: a whole number, please"))
}

/// The form, for those whose role lets them create here (owners, admins); the others learn
/// why instead of filling in a form the server would refuse.
#[component]
pub fn MachineCreatePage() -> impl IntoView {
    crate::components::page_title(|| "New machine".to_string());
    let live = use_live();
    let allowed = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.may_create_in(live.tenant.get())));
    let refused = || {
        view! {
            <h1>"New machine"</h1>
            <p class="banner info" data-test="create-refused">
                "Creating machines needs the owner role in a tenant, and yours does not have it here. \
                 An owner of the tenant can create one for you, or give you the role."
            </p>
            <A href="/machines">"All machines"</A>
        }
    };
    view! {
        <Show when=allowed fallback=refused>
            <CreateForm/>
        </Show>
    }
}

#[component]
fn CreateForm() -> impl IntoView {
    let live = use_live();
    let navigate = use_navigate();
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(MachineKind::Vm);
    let is_vm = move || kind.get() == MachineKind::Vm;
    let vcpus = RwSignal::new("1".to_string());
    let memory = RwSignal::new("512".to_string());
    let disk = RwSignal::new("10".to_string());
    let node = RwSignal::new(String::new());
    let forwards = RwSignal::new(String::new());
    let boot = RwSignal::new(String::new());
    // Empty: user-mode networking; otherwise a host bridge some online node offers.
    let host_bridge = RwSignal::new(String::new());
    let host_bridges = move || {
        let mut all: Vec<String> = live
            .nodes
            .get()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.status == NodeStatus::Online)
            .flat_map(|n| n.host_bridges)
            .collect();
        all.sort();
        all.dedup();
        all
    };
    // The tenant it goes to: asked of admins and of owners of several tenants, preset to the
    // tenant they work in; the others' one tenant goes without asking.
    let is_admin = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    let tenant_choices = move || -> Vec<(TenantId, String)> {
        if is_admin() {
            live.tenants
                .with(|ts| ts.as_ref().map(|ts| ts.iter().map(|t| (t.id, t.name.clone())).collect()))
                .unwrap_or_default()
        } else {
            live.me.with(|m| {
                m.as_ref()
                    .map(|m| {
                        m.memberships
                            .iter()
                            .filter(|t| t.role == Role::Owner)
                            .map(|t| (t.tenant_id, t.tenant_name.clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            })
        }
    };
    let asks_tenant = move || is_admin() || tenant_choices().len() > 1;
    let tenant = RwSignal::new(live.tenant.get_untracked().map(|t| t.to_string()).unwrap_or_default());
    // One choice is no choice: it is taken (a fresh install's admin and its one tenant).
    let tenant_id = move || {
        tenant.get().parse::<TenantId>().ok().or_else(|| {
            let owned = tenant_choices();
            (owned.len() == 1).then(|| owned[0].0)
        })
    };
    let tenant_err = move || {
        (asks_tenant() && tenant_id().is_none()).then(|| "choose the tenant it belongs to".to_string())
    };
    // What the tenant's quota leaves, and for admins what the chosen node has free.
    let room = Headroom::new(
        Signal::derive(tenant_id),
        Signal::derive(move || node.get().parse::<NodeId>().ok()),
        Signal::stored(Sizes::default()),
    );
    let refused = move |field: &str, value: u64| room.refuses(field, value);
    let room_said = move || room.said();
    let forwards_err = move || match corral_ui::forwards::parse(&forwards.get()) {
        Ok(list) => validate::port_forwards(&list).err().map(|e| e.message),
        Err(e) => Some(e),
    };
    // The images of the chosen kind nodes hold, by name; the first is preselected once they
    // arrive, and again when the kind changes.
    let image = RwSignal::new(String::new());
    let images = LocalResource::new(api::image_list);
    let image_names = move || {
        let kind = kind.get();
        let mut names: Vec<String> = images
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(|i| i.image.kind == kind)
            .map(|i| i.image.name)
            .collect();
        names.dedup();
        names
    };
    Effect::new(move |_| {
        let names = image_names();
        if !names.contains(&image.get_untracked()) {
            image.set(names.first().cloned().unwrap_or_else(|| BLANK.to_string()));
        }
    });
    // Random per visit to the form: two people filling it alike still make two machines.
    let nonce = (js_sys::Math::random() * 2f64.powi(53)) as u64 ^ (js_sys::Date::now() as u64);
    let touched = RwSignal::new(false);
    // An error no field of the form holds (the node, the image, the quota, the network).
    let error = RwSignal::new(None::<String>);
    // What the server (or the shared check of the whole request) said of one field: shown
    // under that field until the form is edited.
    let server_err = RwSignal::new(None::<(String, String)>);
    let busy = RwSignal::new(false);
    let guest = super::guest_form::GuestForm::new();
    let tenant_ref = NodeRef::<html::Select>::new();
    let (name_ref, vcpus_ref, memory_ref, disk_ref, forwards_ref) = (
        NodeRef::<html::Input>::new(),
        NodeRef::<html::Input>::new(),
        NodeRef::<html::Input>::new(),
        NodeRef::<html::Input>::new(),
        NodeRef::<html::Input>::new(),
    );
    // The input of a request field, for the errors the server names it in.
    let input_of = move |field: &str| match field {
        "name" => Some(name_ref),
        "vcpus" => Some(vcpus_ref),
        "memory_mib" => Some(memory_ref),
        "disk_gib" => Some(disk_ref),
        "port_forwards" => Some(forwards_ref),
        _ => None,
    };
    let focus = crate::components::focus_field;
    // An error about `field`: under its input, focused; or in the banner, in words.
    let route = move |field: &str, message: String| match input_of(field) {
        None if super::guest_form::FIELDS.contains(&field) => guest.say(field, message),
        None if field == "tenant_id" && asks_tenant() => {
            server_err.set(Some((field.to_string(), message)));
            if let Some(el) = tenant_ref.get_untracked() {
                let _ = el.focus();
            }
        }
        Some(r) => {
            server_err.set(Some((field.to_string(), message)));
            focus(r);
        }
        None => error.set(Some(format!("{}: {message}", field_label(field)))),
    };

    let name_err = move || validate::machine_name(&name.get()).err().map(|e| e.message);
    let vcpus_err = move || match parse_num::<u32>(&vcpus.get(), "vCPUs") {
        Ok(n) => validate::vcpus(n).err().map(|e| e.message).or_else(|| refused("vcpus", u64::from(n))),
        Err(e) => Some(e),
    };
    let memory_err = move || match parse_num::<u64>(&memory.get(), "memory") {
        Ok(n) => validate::memory_mib(n).err().map(|e| e.message).or_else(|| refused("memory_mib", n)),
        Err(e) => Some(e),
    };
    let disk_err = move || match parse_num::<u64>(&disk.get(), "disk") {
        Ok(n) => validate::disk_gib(n).err().map(|e| e.message).or_else(|| refused("disk_gib", n)),
        Err(e) => Some(e),
    };

    // The error a field shows: its own check once the form was touched, else what the server
    // said of it.
    let shown = move |field: &'static str, local: Option<String>| -> Option<String> {
        if !touched.get() {
            return None;
        }
        local.or_else(|| server_err.with(|s| s.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.clone())))
    };
    let name_shown = move || shown("name", name_err());
    let vcpus_shown = move || shown("vcpus", vcpus_err());
    let memory_shown = move || shown("memory_mib", memory_err());
    let disk_shown = move || shown("disk_gib", disk_err());
    let forwards_shown = move || shown("port_forwards", forwards_err());
    let tenant_shown = move || shown("tenant_id", tenant_err());

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        server_err.set(None);
        error.set(None);
        // The first field in error takes the focus; its message is already under it.
        if tenant_err().is_some() {
            if let Some(el) = tenant_ref.get_untracked() {
                let _ = el.focus();
            }
            return;
        }
        let checks = [
            (name_err(), name_ref),
            (vcpus_err(), vcpus_ref),
            (memory_err(), memory_ref),
            (disk_err(), disk_ref),
            (forwards_err(), forwards_ref),
        ];
        if let Some((_, r)) = checks.into_iter().find(|(e, _)| e.is_some()) {
            return focus(r);
        }
        let on_bridge = kind.get_untracked() == MachineKind::Vm && !host_bridge.get_untracked().is_empty();
        if guest.check(on_bridge).is_err() {
            return guest.touch();
        }
        let vm = kind.get_untracked() == MachineKind::Vm;
        let req = (|| -> Result<MachineCreate, String> {
            let mut req = MachineCreate {
                name: name.get_untracked(),
                kind: kind.get_untracked(),
                tenant_id: tenant_id().or(live.tenant.get_untracked()),
                node_id: node.get_untracked().parse::<NodeId>().ok(),
                vcpus: parse_num(&vcpus.get_untracked(), "vCPUs")?,
                memory_mib: parse_num(&memory.get_untracked(), "memory")?,
                disk_gib: parse_num(&disk.get_untracked(), "disk")?,
                image: Some(image.get_untracked()).filter(|i| !i.is_empty() && i != BLANK),
                // What the form hides for zones is not sent for them.
                port_forwards: corral_ui::forwards::parse(&forwards.get_untracked())?,
                boot_order: if vm { super::devices::boot_order(&boot.get_untracked()) } else { Vec::new() },
                cdrom: None,
                host_bridge: Some(host_bridge.get_untracked()).filter(|b| vm && !b.is_empty()),
                ..Default::default()
            };
            guest.fill(&mut req);
            Ok(req)
        })();
        let req = match req {
            Ok(r) => r,
            Err(e) => return error.set(Some(e)),
        };
        if let Err(e) = validate::machine_create(&req) {
            return route(e.field, e.message);
        }
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::machine_create(&req, &idempotency_key(nonce, &req)).await {
                Ok(m) => {
                    error.set(None);
                    let id = m.id;
                    live.upsert_machine(m);
                    navigate(&format!("/machines/{id}"), Default::default());
                }
                Err(api::ClientError::Api {
                    body: ErrorBody { field: Some(field), message, .. }, ..
                }) => route(&field, message),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };

    // A field's error, announced politely, named by `aria-describedby` of its input.
    let hint = move |id: &'static str, err: Box<dyn Fn() -> Option<String> + Send + Sync>| {
        view! { <span class="field-error" id=id aria-live="polite">{err}</span> }
    };

    view! {
        <h1>"New machine"</h1>
        <form class="card form" on:submit=submit.clone() novalidate
            on:input=move |_| {
                touched.set(true);
                server_err.set(None);
            }>
            <Show when=asks_tenant>
                <label>"Tenant"
                    <select data-test="create-tenant" node_ref=tenant_ref
                        aria-invalid=move || tenant_shown().is_some().to_string() aria-describedby="create-tenant-error create-tenant-help"
                        prop:value=move || tenant_id().map(|t| t.to_string()).unwrap_or_default()
                        on:change=move |ev| tenant.set(event_target_value(&ev))>
                        <option value="">"Choose a tenant"</option>
                        {move || tenant_choices().into_iter().map(|(id, name)| view! {
                            <option value=id.to_string()>{name}</option>
                        }).collect_view()}
                    </select>
                    {hint("create-tenant-error", Box::new(tenant_shown))}
                    <span class="help" id="create-tenant-help">"The tenant the machine belongs to: its quota counts it, its members see it."</span>
                </label>
            </Show>
            <fieldset class="segmented" data-test="create-kind">
                <legend>"Kind"</legend>
                <label>
                    <input type="radio" name="kind" data-test="create-kind-vm" prop:checked=is_vm
                        on:change=move |_| kind.set(MachineKind::Vm)/>
                    "Virtual machine"
                </label>
                <label>
                    <input type="radio" name="kind" data-test="create-kind-zone" prop:checked=move || !is_vm()
                        on:change=move |_| kind.set(MachineKind::Zone)/>
                    "Zone"
                </label>
                <span class="help">{move || if is_vm() {
                    "Its own kernel and virtual hardware: any OS, a graphical console, RAM snapshots."
                } else {
                    "An OS container sharing the node's kernel: starts in a fraction of a second, held by its CPU, memory and process limits."
                }}</span>
            </fieldset>
            <label>"Name"
                <input data-test="create-name" placeholder="web-1" maxlength="80" autofocus=true node_ref=name_ref
                    aria-invalid=move || name_shown().is_some().to_string() aria-describedby="create-name-error create-name-help"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                {hint("create-name-error", Box::new(name_shown))}
                <span class="help" id="create-name-help">"Lowercase letters, digits and '-', starting with a letter; at most 63."</span>
            </label>
            <div class="row">
                <label>"vCPUs"
                    <input data-test="create-vcpus" inputmode="numeric" prop:value=move || vcpus.get() node_ref=vcpus_ref
                        aria-invalid=move || vcpus_shown().is_some().to_string() aria-describedby="create-vcpus-error"
                        on:input=move |ev| vcpus.set(event_target_value(&ev))/>
                    {hint("create-vcpus-error", Box::new(vcpus_shown))}
                </label>
                <label>"Memory (MiB)"
                    <input data-test="create-memory" inputmode="numeric" prop:value=move || memory.get() node_ref=memory_ref
                        aria-invalid=move || memory_shown().is_some().to_string() aria-describedby="create-memory-error"
                        on:input=move |ev| memory.set(event_target_value(&ev))/>
                    {hint("create-memory-error", Box::new(memory_shown))}
                </label>
                <label>"Disk (GiB)"
                    <input data-test="create-disk" inputmode="numeric" prop:value=move || disk.get() node_ref=disk_ref
                        aria-invalid=move || disk_shown().is_some().to_string() aria-describedby="create-disk-error"
                        on:input=move |ev| disk.set(event_target_value(&ev))/>
                    {hint("create-disk-error", Box::new(disk_shown))}
                </label>
            </div>
            <p class="help headroom" data-test="headroom">{room_said}</p>
            <label>"Image"
                <select data-test="create-image" on:change=move |ev| image.set(event_target_value(&ev))
                    prop:value=move || image.get()>
                    {move || image_names().into_iter()
                        .map(|n| view! { <option value=n.clone()>{n.clone()}</option> })
                        .collect_view()}
                    <Show when=is_vm>
                        <option value=BLANK>"Blank disk"</option>
                    </Show>
                </select>
                <span class="help">{move || if is_vm() {
                    "A disk image becomes a copy-on-write overlay (instant, no full copy); an ISO boots as an installer CD in front of a blank disk."
                } else if image_names().is_empty() {
                    "No node holds a zone image yet: an admin imports one (a .tar.gz of metadata.yaml and rootfs/) on the Images page."
                } else {
                    "The zone's root filesystem is unpacked from this image."
                }}</span>
            </label>
            <label>"Port forwards"
                <input data-test="create-forwards" placeholder="2222:22, 8080:80" prop:value=move || forwards.get() node_ref=forwards_ref
                    aria-invalid=move || forwards_shown().is_some().to_string() aria-describedby="create-forwards-error create-forwards-help"
                    on:input=move |ev| forwards.set(event_target_value(&ev))/>
                {hint("create-forwards-error", Box::new(forwards_shown))}
                <span class="help" id="create-forwards-help">{move || if is_vm() {
                    "Ports of the node's 127.0.0.1 forwarded to the guest, as host:guest (add /udp for UDP)."
                } else {
                    "Ports of the node's 127.0.0.1 forwarded to the zone's own 127.0.0.1, as host:guest (TCP)."
                }}</span>
            </label>
            <Show when=is_vm>
            <div class="row">
                <label>"Boot order"
                    <select data-test="create-boot" on:change=move |ev| boot.set(event_target_value(&ev))>
                        {super::devices::BOOT_ORDERS.iter()
                            .map(|(v, label, _)| view! { <option value=*v>{*label}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>"Network"
                    <select data-test="create-network" on:change=move |ev| host_bridge.set(event_target_value(&ev))>
                        <option value="">"User-mode (NAT, port forwards)"</option>
                        {move || host_bridges().into_iter()
                            .map(|b| view! { <option value=b.clone()>{format!("Host bridge {b}")}</option> })
                            .collect_view()}
                    </select>
                    <span class="help">"A NIC on a host bridge gets an address on that network; only nodes offering it are considered."</span>
                </label>
            </div>
            </Show>
            <super::guest_form::GuestFields form=guest
                on_bridge=Signal::derive(move || is_vm() && !host_bridge.get().is_empty())/>
            <label>"Node"
                <select data-test="create-node" on:change=move |ev| node.set(event_target_value(&ev))>
                    <option value="">"Any node with room"</option>
                    {move || live.nodes.get().unwrap_or_default().into_iter()
                        .filter(|n| n.status == NodeStatus::Online && n.kinds.contains(&kind.get()))
                        .map(|n| view! { <option value=n.id.to_string()>{n.name}</option> })
                        .collect_view()}
                </select>
            </label>
            <ErrorBanner error=error/>
            <div class="actions">
                <button class="btn primary" type="submit" data-test="create-submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Creating…" } else { "Create" }}
                </button>
            </div>
        </form>
    }
}

/// A request field as the form calls it, for an error no input of the form holds.
fn field_label(field: &str) -> &str {
    match field {
        "image" => "Image",
        "node_id" => "Node",
        "host_bridge" => "Network",
        "boot_order" => "Boot order",
        "cdrom" => "CD",
        "tenant_id" => "Tenant",
        "kind" => "Kind",
        _ => "This machine",
    }
}
