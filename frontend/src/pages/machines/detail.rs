//! One machine: its summary and live state, its controls (`power.rs`), consoles, snapshots,
//! settings and recent tasks.

use corral_api::MachineId;
use corral_api::machine::{Machine, MachineState, MachineUpdate};
use corral_api::session::Role;
use corral_api::spec::{MachineKind, ZoneStorage};
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api;
use crate::components::{ErrorBanner, StateBadge};
use crate::live::use_live;

#[component]
pub fn MachineDetail() -> impl IntoView {
    let live = use_live();
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<MachineId>().ok()));
    let machine = Memo::new(move |_| id().and_then(|id| live.machine(id)));
    let name = Memo::new(move |_| machine.with(|m| m.as_ref().map(|m| m.name.clone())));
    crate::components::page_title(move || name.get().unwrap_or_else(|| "Machine".into()));
    // Set by a successful delete. The navigation lives here, not in the machine's view, which
    // unmounts as soon as the machine's removal arrives on the events socket.
    let deleted = RwSignal::new(false);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if deleted.get() {
            navigate("/machines", Default::default());
        }
    });

    // Memos, so the page is rebuilt only when the machine appears or goes, not on every
    // change to any machine (which would throw away what the user is typing).
    let loaded = Memo::new(move |_| live.machines.with(Option::is_some));
    let found = Memo::new(move |_| machine.with(|m| m.as_ref().map(|m| m.id)));
    view! {
        {move || match (loaded.get(), found.get()) {
            (false, _) => view! { <p class="muted">"Loading…"</p> }.into_any(),
            (true, None) => view! {
                <h1>"Machine not found"</h1>
                <p class="muted" data-test="machine-gone">"It does not exist, was deleted, or you may not see it."</p>
                <A href="/machines">"All machines"</A>
            }.into_any(),
            (true, Some(mid)) => view! { <MachineView id=mid machine=machine deleted=deleted/> }.into_any(),
        }}
    }
}

#[component]
fn MachineView(id: MachineId, machine: Memo<Option<Machine>>, deleted: RwSignal<bool>) -> impl IntoView {
    let live = use_live();
    let state =
        Signal::derive(move || machine.with(|m| m.as_ref().map_or(MachineState::Unknown, |m| m.state)));
    let field =
        move |f: fn(&Machine) -> String| move || machine.with(|m| m.as_ref().map(f).unwrap_or_default());

    // What the user's role in the machine's tenant allows: the page offers nothing else.
    let tenant = machine.with_untracked(|m| m.as_ref().and_then(|m| m.tenant_id));
    let may_operate = Signal::derive(move || live.may(tenant, Role::Operator));
    let may_own = Signal::derive(move || live.may(tenant, Role::Owner));
    let role_note = move || {
        live.me.with(|me| {
            let role = me.as_ref().and_then(|me| me.role_in(tenant));
            format!(
                "You may look at this machine; your role in its tenant ({}) does not let you power it, open its consoles or change it.",
                role.map_or("none", |r| r.as_str())
            )
        })
    };
    // Zones have no virtual hardware (boot devices, CD) and no screen: those panels are for
    // VMs; their snapshots hold files only.
    let is_vm = move || machine.with(|m| m.as_ref().is_none_or(|m| m.kind == MachineKind::Vm));
    // What the machine's node can do, from the capabilities its bridge reports.
    let node_can = move |capability: &'static str| {
        let node_id = machine.with(|m| m.as_ref().map(|m| m.node_id));
        live.nodes.with(|ns| {
            ns.as_ref().is_some_and(|ns| {
                ns.iter().any(|n| Some(n.id) == node_id && n.capabilities.iter().any(|c| c == capability))
            })
        })
    };

    view! {
        <div class="page-head">
            <h1 data-test="machine-name">{field(|m| m.name.clone())}</h1>
            <StateBadge state=state/>
        </div>
        <Show when=move || may_operate.get()
            fallback=move || view! { <p class="banner info" data-test="read-only-note">{role_note}</p> }>
            <super::power::PowerActions id=id machine=machine state=state deleted=deleted may_delete=may_own/>
        </Show>
        <dl class="card summary">
            <dt>"Kind"</dt><dd data-test="kind">{field(|m| match m.kind {
                MachineKind::Vm => "virtual machine".to_string(),
                MachineKind::Zone => "zone (an OS container on the node's kernel)".to_string(),
            })}</dd>
            <Show when=move || !is_vm()>
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
            <dt>"Node"</dt><dd>{field(|m| m.node_name.clone())}</dd>
            <dt>"vCPUs"</dt><dd>{field(|m| m.vcpus.to_string())}</dd>
            <dt>"Memory"</dt><dd>{field(|m| format!("{} MiB", m.memory_mib))}</dd>
            <dt>"Disk"</dt><dd>{field(|m| format!("{} GiB", m.disk_gib))}</dd>
            <dt>"Ports"</dt><dd data-test="ports">{field(|m| if m.port_forwards.is_empty() { "none".into() } else {
                m.port_forwards.iter().map(|f| format!("127.0.0.1:{} → {}/{}", f.host_port, f.guest_port, f.protocol)).collect::<Vec<_>>().join(", ")
            })}</dd>
            <dt>"Image"</dt><dd>{field(|m| m.image.clone().unwrap_or_else(|| "none (blank disk)".into()))}</dd>
            <dt>"Managed"</dt><dd>{field(|m| if m.managed { "yes".into() } else { "no — found on the node, owned by no tenant".into() })}</dd>
            <dt>"Created"</dt><dd>{field(|m| m.created_at.clone())}</dd>
            <dt>"Last change"</dt><dd>{field(|m| m.updated_at.clone())}</dd>
            <dt>"Id"</dt><dd class="mono">{id.to_string()}</dd>
        </dl>
        <Show when=move || node_can("consoles") && is_vm() && may_operate.get()>
            <super::console::ConsolePanel id=id/>
        </Show>
        <Show when=move || node_can("serial") && !is_vm() && may_operate.get()>
            <super::console::ConsolePanel id=id screen=false/>
        </Show>
        <Show when=move || node_can("snapshots") && is_vm()>
            <super::snapshots::SnapshotPanel id=id state=state tenant=tenant/>
        </Show>
        <Show when=move || node_can("snapshots") && !is_vm()>
            <super::snapshots::SnapshotPanel id=id state=state ram_possible=false tenant=tenant/>
        </Show>
        <Show when=move || may_own.get()>
            <Settings id=id machine=machine state=state/>
        </Show>
        <Show when=move || is_vm() && may_own.get()>
            <super::devices::DevicesPanel id=id machine=machine/>
        </Show>
        <MachineTasks id=id/>
        {move || match state.get() {
            MachineState::Unknown => Some(view! { <p class="banner warn">"Its node is not answering, so its state is unknown."</p> }),
            MachineState::Lost => Some(view! { <p class="banner warn">"Its node no longer lists it. Delete it to drop the record."</p> }),
            _ => None,
        }}
    }
}

/// Rename, or grow the disk while stopped. Fields start from the machine's present values.
#[component]
fn Settings(id: MachineId, machine: Memo<Option<Machine>>, state: Signal<MachineState>) -> impl IntoView {
    let live = use_live();
    let current = machine.get_untracked();
    let name = RwSignal::new(current.as_ref().map(|m| m.name.clone()).unwrap_or_default());
    let disk = RwSignal::new(current.as_ref().map(|m| m.disk_gib.to_string()).unwrap_or_default());
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(m) = machine.get_untracked() else { return };
        let new_name = name.get_untracked();
        let new_disk = match disk.get_untracked().trim().parse::<u64>() {
            Ok(d) => d,
            Err(_) => {
                error.set(Some("Disk: a whole number of GiB, please".into()));
                return;
            }
        };
        let req = MachineUpdate {
            name: (new_name != m.name).then_some(new_name),
            disk_gib: (new_disk != m.disk_gib).then_some(new_disk),
            ..Default::default()
        };
        if req.name.is_none() && req.disk_gib.is_none() {
            return;
        }
        if let Some(Err(e)) = req.name.as_deref().map(validate::machine_name) {
            error.set(Some(format!("Name: {}", e.message)));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match api::machine_update(id, &req).await {
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
            <h2>"Settings"</h2>
            <form class="inline-form" on:submit=save on:input=move |_| saved.set(false)>
                <label>"Name"
                    <input data-test="settings-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <label>"Disk (GiB)"
                    <input data-test="settings-disk" inputmode="numeric" prop:value=move || disk.get()
                        on:input=move |ev| disk.set(event_target_value(&ev))
                        title=move || if state.get() == MachineState::Stopped { "Disks only grow".to_string() } else { "Stop the machine to grow its disk".to_string() }/>
                </label>
                <button class="btn" type="submit" data-test="settings-save" disabled=move || busy.get()>"Save"</button>
                <Show when=move || saved.get()><span class="muted" data-test="settings-saved">"Saved."</span></Show>
            </form>
            <ErrorBanner error=error/>
        </section>
    }
}

/// The latest tasks on this machine (snapshots, clones, …), live.
#[component]
fn MachineTasks(id: MachineId) -> impl IntoView {
    let live = use_live();
    let tasks = move || {
        live.tasks.with(|ts| {
            ts.as_ref()
                .map(|ts| {
                    ts.iter().filter(|t| t.task.machine_id == Some(id)).take(5).cloned().collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    view! {
        <Show when=move || !tasks().is_empty()>
            <section class="card settings" data-test="machine-tasks">
                <h2>"Recent tasks"</h2>
                <table class="table"><tbody>
                    {move || tasks().into_iter().map(|t| view! { <crate::pages::tasks::TaskRow t=t/> }).collect_view()}
                </tbody></table>
            </section>
        </Show>
    }
}
