//! The summary tab of a machine: what it is, where it runs, how it is reached, when it was
//! made and changed (as ages, exact on hover), and its name, which owners change here.

use corral_api::machine::{Machine, MachineUpdate};
use corral_api::spec::{MachineKind, ZoneStorage};
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use super::detail::MachineCtx;
use crate::api::{self, ChartTarget};
use crate::charts::{ChartControls, ChartSettings, MetricChart};
use crate::components::{Ago, ErrorBanner};
use crate::live::use_live;

/// How the machine's NIC is reached, in words.
fn network(m: &Machine) -> String {
    match (&m.host_bridge, m.port_forwards.is_empty()) {
        (Some(b), _) => format!("on host bridge {b}: its address comes from that network"),
        (None, true) => {
            "user-mode (NAT): it reaches out, nothing reaches in (add port forwards on Hardware)".into()
        }
        (None, false) => "user-mode (NAT): reached through its port forwards".into(),
    }
}

/// A port forward as the user reaches it.
fn ports(m: &Machine) -> String {
    if m.port_forwards.is_empty() {
        return "none".into();
    }
    let list: Vec<String> = m
        .port_forwards
        .iter()
        .map(|f| format!("127.0.0.1:{} → {}/{}", f.host_port, f.guest_port, f.protocol))
        .collect();
    list.join(", ")
}

#[component]
pub fn SummaryTab(ctx: MachineCtx) -> impl IntoView {
    let live = use_live();
    let machine = ctx.machine;
    let field = move |f: fn(&Machine) -> String| ctx.field(f);
    let is_zone = move || !ctx.is_vm();
    let tenant = move || {
        machine.with(|m| match m.as_ref().and_then(|m| m.tenant_id) {
            Some(t) => live.tenant_name(t),
            None => "none: found on its node, owned by no tenant".into(),
        })
    };
    let created = Signal::derive(move || {
        machine.with(|m| m.as_ref().map(|m| m.created_at.clone()).unwrap_or_default())
    });
    let changed = Signal::derive(move || {
        machine.with(|m| m.as_ref().map(|m| m.updated_at.clone()).unwrap_or_default())
    });
    // "Running since 3 hours ago": a running machine's uptime, else how long it has been as
    // it is.
    let since = Signal::derive(move || {
        machine.with(|m| m.as_ref().map(|m| m.state_since.clone()).unwrap_or_default())
    });
    let since_label = move || {
        machine.with(|m| {
            let state = m.as_ref().map_or("", |m| m.state.as_str());
            let mut word = state.replace('_', " ");
            if let Some(first) = word.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            format!("{word} since")
        })
    };
    view! {
        <section class="card" data-test="summary">
            <dl class="summary">
                <dt>"Kind"</dt><dd data-test="kind">{field(|m| match m.kind {
                    MachineKind::Vm => "virtual machine".to_string(),
                    MachineKind::Zone => "zone (an OS container on the node's kernel)".to_string(),
                })}</dd>
                <dt>"Tenant"</dt><dd data-test="machine-tenant">{tenant}</dd>
                <dt>"Node"</dt><dd data-test="machine-node">
                    <A href=move || machine.with(|m| m.as_ref().map(|m| format!("/nodes/{}", m.node_id)).unwrap_or_default())>
                        {field(|m| m.node_name.clone())}
                    </A>
                </dd>
                <Show when=is_zone>
                    <dt>"System"</dt><dd data-test="zone-os">{field(|m| m.zone.as_ref().map_or("not reported yet".into(), |z| {
                        let os = [z.os.as_str(), z.release.as_str()].join(" ");
                        format!("{}, {} init", if os.trim().is_empty() { "unnamed" } else { os.trim() }, z.init.as_str())
                    }))}</dd>
                    <dt>"Storage"</dt><dd data-test="zone-storage">{field(|m| match m.zone.as_ref().map(|z| z.storage) {
                        Some(ZoneStorage::Btrfs) => "btrfs subvolume: the disk size holds, snapshots are instant".into(),
                        Some(ZoneStorage::Overlay) => "overlayfs over its image: snapshots copy only the zone's changes; the disk size is not enforced on this node".into(),
                        Some(ZoneStorage::Dir) => "a directory: the disk size is not enforced on this node, snapshots are copies".into(),
                        None => "not reported yet".into(),
                    })}</dd>
                </Show>
                <dt>"Size"</dt><dd data-test="machine-size">{field(|m| format!(
                    "{} vCPU{}, {} MiB memory, {} GiB disk", m.vcpus, if m.vcpus == 1 { "" } else { "s" }, m.memory_mib, m.disk_gib
                ))}</dd>
                <dt>"Network"</dt><dd data-test="network">{field(network)}</dd>
                <dt>"Ports"</dt><dd data-test="ports">{field(ports)}</dd>
                <dt>"Image"</dt><dd>{field(|m| m.image.clone().unwrap_or_else(|| "none (blank disk)".into()))}</dd>
                <dt>"Created"</dt><dd data-test="created"><Ago at=created/></dd>
                <dt data-test="state-since-label">{since_label}</dt><dd data-test="state-since"><Ago at=since/></dd>
                <dt>"Last change"</dt><dd data-test="changed"><Ago at=changed/></dd>
                <dt>"Id"</dt><dd class="mono">{ctx.id.to_string()}</dd>
            </dl>
        </section>
        <super::guest::GuestCard ctx=ctx/>
        <Usage ctx=ctx/>
        <Show when=move || ctx.may_own.get()>
            <Rename ctx=ctx/>
        </Show>
    }
}

/// The machine's CPU, memory, disks and network over time.
#[component]
fn Usage(ctx: MachineCtx) -> impl IntoView {
    use corral_api::metrics::Metric;
    let node = Signal::derive(move || ctx.machine.with(|m| m.as_ref().map(|m| m.node_id)));
    let settings = ChartSettings::new(node);
    let target = ChartTarget::Machine(ctx.id);
    // Why a machine may have no network counters.
    let no_network = Signal::derive(move || {
        ctx.machine.with(|m| match m.as_ref() {
            Some(m) if m.host_bridge.is_some() => "No samples in this range yet.".to_string(),
            Some(m) if m.kind == MachineKind::Vm => {
                "Not available: QEMU keeps no network counters for user-mode networking. \
                Put the NIC on a host bridge (Hardware) to see its traffic here."
                    .to_string()
            }
            _ => "Not available: this zone has no network interface of its own.".to_string(),
        })
    });
    view! {
        <section class="card charts" data-test="usage">
            <h2>"Usage"</h2>
            <ChartControls settings=settings/>
            <div class="chart-grid">
                <MetricChart title="CPU (cores in use)" name="cpu" target=target settings=settings
                    metrics=vec![(Metric::CpuSeconds, "")]/>
                <MetricChart title="Memory" name="memory" target=target settings=settings
                    metrics=vec![(Metric::MemoryBytes, "used")]/>
                <MetricChart title="Disk" name="disk" target=target settings=settings
                    metrics=vec![(Metric::DiskReadBytes, "read"), (Metric::DiskWriteBytes, "write")]/>
                <MetricChart title="Network" name="network" target=target settings=settings empty=no_network
                    metrics=vec![(Metric::NetRxBytes, "in"), (Metric::NetTxBytes, "out")]/>
            </div>
        </section>
    }
}

/// The machine's name, changed by its owners.
#[component]
fn Rename(ctx: MachineCtx) -> impl IntoView {
    let live = use_live();
    let name =
        RwSignal::new(ctx.machine.with_untracked(|m| m.as_ref().map(|m| m.name.clone()).unwrap_or_default()));
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let new_name = name.get_untracked();
        if ctx.machine.with_untracked(|m| m.as_ref().is_some_and(|m| m.name == new_name)) {
            return;
        }
        if let Err(e) = validate::machine_name(&new_name) {
            error.set(Some(format!("Name: {}", e.message)));
            return;
        }
        busy.set(true);
        let req = MachineUpdate { name: Some(new_name), ..Default::default() };
        spawn_local(async move {
            match api::machine_update(ctx.id, &req).await {
                Ok(m) => {
                    error.set(None);
                    saved.set(true);
                    live.upsert_machine(m);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card settings" data-test="settings">
            <h2>"Name"</h2>
            <form class="inline-form" on:submit=save on:input=move |_| saved.set(false)>
                <label>"Name"
                    <input data-test="settings-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <button class="btn" type="submit" data-test="settings-save" disabled=move || busy.get()>"Rename"</button>
                <Show when=move || saved.get()><span class="muted" data-test="settings-saved" role="status">"Saved."</span></Show>
            </form>
            <ErrorBanner error=error/>
        </section>
    }
}
