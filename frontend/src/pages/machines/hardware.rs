//! The hardware tab: a machine's vCPUs, memory, disk and port forwards, with the room it has
//! beside them (what the tenant's quota leaves; for admins also the node's free room), and a
//! VM's boot order and CD. What the machine's state allows is said before anyone tries: a
//! VM's hardware changes while it is stopped; a zone's CPU and memory are limits that change
//! live, its disk and forwards while stopped. Too much is refused as it is typed.

use corral_api::error::ErrorBody;
use corral_api::machine::{Machine, MachineState, MachineUpdate};
use corral_api::validate;
use corral_ui::headroom::Sizes;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::detail::MachineCtx;
use crate::api;
use crate::components::{ErrorBanner, Field, Headroom};
use crate::live::use_live;

#[component]
pub fn HardwareTab(ctx: MachineCtx) -> impl IntoView {
    let is_vm = ctx.is_vm();
    view! {
        <SizesForm ctx=ctx/>
        {(is_vm).then(|| view! {
            <Show when=move || ctx.may_own.get()>
                <super::devices::DevicesPanel id=ctx.id machine=ctx.machine/>
            </Show>
        })}
    }
}

fn sizes_of(m: &Machine) -> Sizes {
    Sizes { vcpus: u64::from(m.vcpus), memory_mib: m.memory_mib, disk_gib: m.disk_gib }
}

/// A whole number typed in a field, or what is wrong with it.
fn whole<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim().parse::<T>().map_err(|_| "a whole number, please".to_string())
}

#[component]
fn SizesForm(ctx: MachineCtx) -> impl IntoView {
    let live = use_live();
    let machine = ctx.machine;
    let current =
        move |f: fn(&Machine) -> String| machine.with_untracked(|m| m.as_ref().map(f).unwrap_or_default());
    let vcpus = RwSignal::new(current(|m| m.vcpus.to_string()));
    let memory = RwSignal::new(current(|m| m.memory_mib.to_string()));
    let disk = RwSignal::new(current(|m| m.disk_gib.to_string()));
    let forwards = RwSignal::new(current(|m| corral_ui::forwards::write(&m.port_forwards)));
    // An untouched form follows the machine (a change made elsewhere, the node's report); one
    // being edited keeps what the user typed.
    let edited = RwSignal::new(false);
    Effect::new(move |_| {
        let Some(m) = machine.get() else { return };
        if !edited.get_untracked() {
            vcpus.set(m.vcpus.to_string());
            memory.set(m.memory_mib.to_string());
            disk.set(m.disk_gib.to_string());
            forwards.set(corral_ui::forwards::write(&m.port_forwards));
        }
    });

    // What this machine may grow to: the tenant's quota (for owners, who may read it) and,
    // for admins, the node's free room at its ratios. Both count the machine's own share.
    let own = Memo::new(move |_| machine.with(|m| m.as_ref().map(sizes_of).unwrap_or_default()));
    let tenant = ctx.tenant;
    let room = Headroom::new(
        Signal::stored(tenant),
        Signal::derive(move || machine.with(|m| m.as_ref().map(|m| m.node_id))),
        own.into(),
    );
    let refused = move |field: &str, value: u64| room.refuses(field, value);
    let room_said = move || room.said();

    let vcpus_err = move || match whole::<u32>(&vcpus.get()) {
        Ok(n) => validate::vcpus(n).err().map(|e| e.message).or_else(|| refused("vcpus", u64::from(n))),
        Err(e) => Some(e),
    };
    let memory_err = move || match whole::<u64>(&memory.get()) {
        Ok(n) => validate::memory_mib(n).err().map(|e| e.message).or_else(|| refused("memory_mib", n)),
        Err(e) => Some(e),
    };
    let disk_err = move || match whole::<u64>(&disk.get()) {
        Ok(n) if n < own.get().disk_gib => {
            Some(format!("disks only grow: this one is {} GiB", own.get().disk_gib))
        }
        Ok(n) => validate::disk_gib(n).err().map(|e| e.message).or_else(|| refused("disk_gib", n)),
        Err(e) => Some(e),
    };
    let forwards_err = move || match corral_ui::forwards::parse(&forwards.get()) {
        Ok(list) => validate::port_forwards(&list).err().map(|e| e.message),
        Err(e) => Some(e),
    };
    // What the server said of a field, until the form is edited again.
    let server_err = RwSignal::new(None::<(String, String)>);
    let said_of = move |field: &'static str| {
        server_err.with(|s| s.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.clone()))
    };
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);

    // What the machine's state allows, said beside the fields and enforced by disabling them.
    let stopped = move || matches!(ctx.state.get(), MachineState::Stopped | MachineState::Failed);
    let is_vm = ctx.is_vm();
    let sizes_open = move || ctx.may_own.get() && (stopped() || !is_vm);
    let rest_open = move || ctx.may_own.get() && stopped();
    let rule = move || {
        if !ctx.may_own.get() {
            "Only the tenant's owners change a machine's hardware."
        } else if is_vm && !stopped() {
            "Stop the machine to change its vCPUs, memory, disk or port forwards: QEMU takes them at start."
        } else if is_vm {
            "Changes take effect at the next start. Disks only grow."
        } else if !stopped() {
            "vCPUs and memory are the zone's limits: they change at once, while it runs. Stop it to grow its disk or change its forwards."
        } else {
            "vCPUs and memory are the zone's limits. Disks only grow."
        }
    };

    let refs = [NodeRef::<html::Input>::new(), NodeRef::new(), NodeRef::new(), NodeRef::new()];
    const FIELDS: [&str; 4] = ["vcpus", "memory_mib", "disk_gib", "port_forwards"];
    let focus = move |field: &str| {
        if let Some(el) = FIELDS.iter().position(|f| *f == field).and_then(|i| refs[i].get_untracked()) {
            let _ = el.focus();
        }
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        server_err.set(None);
        error.set(None);
        let errors = [vcpus_err(), memory_err(), disk_err(), forwards_err()];
        if let Some(i) = errors.iter().position(Option::is_some) {
            return focus(FIELDS[i]);
        }
        let Some(m) = machine.get_untracked() else { return };
        let (Ok(v), Ok(mem), Ok(d), Ok(fw)) = (
            whole::<u32>(&vcpus.get_untracked()),
            whole::<u64>(&memory.get_untracked()),
            whole::<u64>(&disk.get_untracked()),
            corral_ui::forwards::parse(&forwards.get_untracked()),
        ) else {
            return;
        };
        // Only what changed: an unchanged field is no request (and no state rule) at all.
        let req = MachineUpdate {
            vcpus: (v != m.vcpus).then_some(v),
            memory_mib: (mem != m.memory_mib).then_some(mem),
            disk_gib: (d != m.disk_gib).then_some(d),
            port_forwards: (fw != m.port_forwards).then_some(fw),
            ..Default::default()
        };
        if req == MachineUpdate::default() {
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match api::machine_update(ctx.id, &req).await {
                Ok(m) => {
                    saved.set(true);
                    edited.set(false);
                    live.upsert_machine(m);
                }
                Err(api::ClientError::Api {
                    body: ErrorBody { field: Some(field), message, .. }, ..
                }) if FIELDS.contains(&field.as_str()) => {
                    focus(&field);
                    server_err.set(Some((field, message)));
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let shown = move |field: &'static str, local: Option<String>| local.or_else(|| said_of(field));

    view! {
        <section class="card settings" data-test="hardware">
            <h2>"Hardware"</h2>
            <p class="help" data-test="hardware-rule">{rule}</p>
            <form class="form" novalidate on:submit=save
                on:input=move |_| {
                    edited.set(true);
                    saved.set(false);
                    server_err.set(None);
                }>
                <div class="row">
                    <Field label="vCPUs" test="hw-vcpus" value=vcpus numeric=true node_ref=refs[0]
                        disabled=Signal::derive(move || !sizes_open())
                        error=Signal::derive(move || shown("vcpus", vcpus_err()))/>
                    <Field label="Memory (MiB)" test="hw-memory" value=memory numeric=true node_ref=refs[1]
                        disabled=Signal::derive(move || !sizes_open())
                        error=Signal::derive(move || shown("memory_mib", memory_err()))/>
                    <Field label="Disk (GiB)" test="hw-disk" value=disk numeric=true node_ref=refs[2]
                        disabled=Signal::derive(move || !rest_open())
                        error=Signal::derive(move || shown("disk_gib", disk_err()))/>
                </div>
                <p class="help headroom" data-test="headroom">{room_said}</p>
                <Field label="Port forwards" test="hw-forwards" value=forwards node_ref=refs[3] placeholder="2222:22, 8080:80"
                    disabled=Signal::derive(move || !rest_open())
                    error=Signal::derive(move || shown("port_forwards", forwards_err()))
                    help=if is_vm {
                        "Ports of the node's 127.0.0.1 forwarded to the guest, as host:guest (add /udp for UDP)."
                    } else {
                        "Ports of the node's 127.0.0.1 forwarded to the zone's own 127.0.0.1, as host:guest (TCP)."
                    }.to_string()/>
                <ErrorBanner error=error/>
                <div class="actions">
                    <button class="btn primary" type="submit" data-test="hw-save"
                        disabled=move || busy.get() || !(sizes_open() || rest_open())>
                        {move || if busy.get() { "Saving…" } else { "Save" }}
                    </button>
                    <Show when=move || saved.get()><span class="muted" data-test="hw-saved" role="status">"Saved."</span></Show>
                </div>
            </form>
        </section>
    }
}
