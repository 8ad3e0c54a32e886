//! One machine's page: its header (name, state, what it is, its power controls), its tabs,
//! and the tab shown. Tabs are paths (`/machines/{id}/hardware`, see `corral_ui::nav`), so
//! each can be linked, bookmarked and left with Back.

use corral_api::MachineId;
use corral_api::machine::{Machine, MachineState};
use corral_api::session::Role;
use corral_api::spec::MachineKind;
use corral_ui::nav::MachineTab;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::components::StateBadge;
use crate::live::use_live;

#[component]
pub fn MachineDetail() -> impl IntoView {
    let live = use_live();
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<MachineId>().ok()));
    let tab = Memo::new(move |_| params.with(|p| MachineTab::from_slug(p.get("tab").as_deref())));
    let machine = Memo::new(move |_| id().and_then(|id| live.machine(id)));
    let name = Memo::new(move |_| machine.with(|m| m.as_ref().map(|m| m.name.clone())));
    crate::components::page_title(move || {
        let name = name.get().unwrap_or_else(|| "Machine".into());
        match tab.get() {
            Some(MachineTab::Summary) | None => name,
            Some(t) => format!("{name} · {}", t.label()),
        }
    });
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
                <h1 tabindex="-1">"Machine not found"</h1>
                <p class="muted" data-test="machine-gone">"It does not exist, was deleted, or you may not see it."</p>
                <A href="/machines">"All machines"</A>
            }.into_any(),
            (true, Some(mid)) => view! { <MachineView id=mid machine=machine tab=tab deleted=deleted/> }.into_any(),
        }}
    }
}

/// What a page of one machine knows and may do, for its tabs.
#[derive(Clone, Copy)]
pub struct MachineCtx {
    pub id: MachineId,
    pub machine: Memo<Option<Machine>>,
    pub state: Signal<MachineState>,
    pub tenant: Option<corral_api::TenantId>,
    /// Power it, open its consoles, take snapshots.
    pub may_operate: Signal<bool>,
    /// Change it, delete it, clone it.
    pub may_own: Signal<bool>,
}

impl MachineCtx {
    pub fn is_vm(self) -> bool {
        self.machine.with(|m| m.as_ref().is_none_or(|m| m.kind == MachineKind::Vm))
    }

    /// A field of the machine, as text, tracked.
    pub fn field(self, f: fn(&Machine) -> String) -> impl Fn() -> String + Copy + Send + Sync + 'static {
        let machine = self.machine;
        move || machine.with(|m| m.as_ref().map(f).unwrap_or_default())
    }
}

/// Whether the machine's node offers `capability`, from what its bridge reports.
fn node_can(machine: Memo<Option<Machine>>, capability: &'static str) -> bool {
    let live = use_live();
    let node_id = machine.with(|m| m.as_ref().map(|m| m.node_id));
    live.nodes.with(|ns| {
        ns.as_ref().is_some_and(|ns| {
            ns.iter().any(|n| Some(n.id) == node_id && n.capabilities.iter().any(|c| c == capability))
        })
    })
}

#[component]
fn MachineView(
    id: MachineId,
    machine: Memo<Option<Machine>>,
    tab: Memo<Option<MachineTab>>,
    deleted: RwSignal<bool>,
) -> impl IntoView {
    let live = use_live();
    let state =
        Signal::derive(move || machine.with(|m| m.as_ref().map_or(MachineState::Unknown, |m| m.state)));
    // What the user's role in the machine's tenant allows: the page offers nothing else.
    let tenant = machine.with_untracked(|m| m.as_ref().and_then(|m| m.tenant_id));
    let ctx = MachineCtx {
        id,
        machine,
        state,
        tenant,
        may_operate: Signal::derive(move || live.may(tenant, Role::Operator)),
        may_own: Signal::derive(move || live.may(tenant, Role::Owner)),
    };
    let role_note = move || {
        live.me.with(|me| {
            let role = me.as_ref().and_then(|me| me.role_in(tenant));
            format!(
                "You may look at this machine; your role in its tenant ({}) does not let you power it, open its consoles or change it.",
                role.map_or("none", |r| r.as_str())
            )
        })
    };
    // The tabs this machine and this user have: consoles where the node serves them and the
    // role may open them; the audit log for those who may read it (owners, admins).
    // Memos: the tab shown is rebuilt when what it shows changes, not on every report of the
    // machine or its node (which would close a console or throw away what is typed).
    let is_vm = Memo::new(move |_| ctx.is_vm());
    let offered = move |t: MachineTab| match t {
        MachineTab::Console => {
            ctx.may_operate.get() && node_can(machine, if is_vm.get() { "consoles" } else { "serial" })
        }
        MachineTab::Snapshots => node_can(machine, "snapshots"),
        MachineTab::Audit => ctx.may_own.get(),
        _ => true,
    };
    let shown = Memo::new(move |_| tab.get().map(|t| (t, offered(t))));
    let subtitle = move || {
        machine.with(|m| {
            let Some(m) = m else { return String::new() };
            let kind = match m.kind {
                MachineKind::Vm => "Virtual machine",
                MachineKind::Zone => "Zone",
            };
            let tenant = m.tenant_id.map_or("no tenant (unmanaged)".into(), |t| live.tenant_name(t));
            format!("{kind} · {tenant} · on {}", m.node_name)
        })
    };

    view! {
        <div class="page-head machine-head">
            <div>
                // Focused when the page opens, so a screen reader starts at the machine.
                <h1 data-test="machine-name" tabindex="-1">{ctx.field(|m| m.name.clone())}</h1>
                <p class="muted subtitle" data-test="machine-subtitle">{subtitle}</p>
            </div>
            <StateBadge state=state/>
        </div>
        <Show when=move || ctx.may_operate.get()
            fallback=move || view! { <p class="banner info" data-test="read-only-note">{role_note}</p> }>
            <super::power::PowerActions id=id machine=machine state=state deleted=deleted may_delete=ctx.may_own/>
        </Show>
        {move || match state.get() {
            MachineState::Unknown => Some(view! { <p class="banner warn">"Its node is not answering, so its state is unknown."</p> }),
            MachineState::Lost => Some(view! { <p class="banner warn">"Its node no longer lists it. Delete it to drop the record."</p> }),
            _ => None,
        }}
        <nav class="tabs" aria-label="Machine" data-test="machine-tabs">
            {MachineTab::ALL.into_iter().map(|t| view! {
                <Show when=move || offered(t)>
                    <A href=t.path(id) exact=true attr:data-test=format!("tab-{}", t.label().to_lowercase())>
                        {t.label()}
                    </A>
                </Show>
            }).collect_view()}
        </nav>
        {move || match shown.get() {
            Some((t, false)) => view! {
                <p class="banner info" data-test="tab-unavailable">
                    {format!("{} is not available for this machine: its node does not offer it, or your role does not allow it.", t.label())}
                </p>
            }.into_any(),
            Some((MachineTab::Summary, _)) => view! { <super::summary::SummaryTab ctx=ctx/> }.into_any(),
            Some((MachineTab::Console, _)) => view! { <super::console::ConsolePanel id=id screen=is_vm.get_untracked() state=state/> }.into_any(),
            Some((MachineTab::Snapshots, _)) => view! {
                <super::snapshots::SnapshotPanel id=id state=state ram_possible=is_vm.get_untracked() tenant=tenant/>
            }.into_any(),
            Some((MachineTab::Hardware, _)) => view! { <super::hardware::HardwareTab ctx=ctx/> }.into_any(),
            Some((MachineTab::Tasks, _)) => view! { <super::history::MachineTasks id=id/> }.into_any(),
            Some((MachineTab::Audit, _)) => view! { <super::history::MachineAudit id=id/> }.into_any(),
            None => view! {
                <p class="banner info" data-test="tab-unavailable">"This machine's page has no such tab."</p>
            }.into_any(),
        }}
    }
}
