//! The machine list: live states, a text filter (name, node, tenant), a kind filter and a
//! state filter, columns that sort on a click, the tenant of each machine for those who see
//! several, and start, shut down or delete of the machines ticked (the last two ask first).

use std::collections::BTreeSet;

use corral_api::MachineId;
use corral_api::machine::{Machine, MachineState};
use corral_api::spec::PowerAction;
use corral_ui::lists::{MachineSort, machines_sort};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use crate::api;
use crate::components::{Confirm, ConfirmDialog, ErrorBanner, StateBadge};
use crate::live::use_live;

/// What is done to every ticked machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bulk {
    Start,
    Stop,
    Delete,
}

impl Bulk {
    fn done(self) -> &'static str {
        match self {
            Bulk::Start => "started",
            Bulk::Stop => "asked to shut down",
            Bulk::Delete => "deleted",
        }
    }
}

#[component]
pub fn MachineList() -> impl IntoView {
    crate::components::page_title(|| "Machines".to_string());
    let live = use_live();
    let text = RwSignal::new(String::new());
    let state = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let sort = RwSignal::new((MachineSort::Name, false));
    let ticked = RwSignal::new(BTreeSet::<MachineId>::new());
    // Ticking is for those who may act on some machine (viewers may not).
    let may_act = move || {
        live.me.with(|m| {
            m.as_ref().is_some_and(|m| {
                m.is_admin || m.memberships.iter().any(|t| t.role >= corral_api::session::Role::Operator)
            })
        })
    };
    let outcome = RwSignal::new(None::<String>);
    let failed = RwSignal::new(None::<String>);
    let pending = RwSignal::new(None::<Confirm<(Bulk, Vec<(MachineId, String)>)>>);
    // The ticked machines still listed, by name.
    let chosen = move || -> Vec<(MachineId, String)> {
        let t = ticked.get();
        live.machines.with(|ms| {
            ms.iter().flatten().filter(|m| t.contains(&m.id)).map(|m| (m.id, m.name.clone())).collect()
        })
    };
    // One after another: each answer is the node's, refusals are collected and said.
    let run = move |(what, list): (Bulk, Vec<(MachineId, String)>)| {
        outcome.set(None);
        failed.set(None);
        spawn_local(async move {
            let (mut ok, mut refused) = (0, Vec::new());
            for (id, name) in list {
                let answer = match what {
                    Bulk::Start => {
                        api::machine_power(id, PowerAction::Start).await.map(|m| live.upsert_machine(m))
                    }
                    Bulk::Stop => {
                        api::machine_power(id, PowerAction::Stop).await.map(|m| live.upsert_machine(m))
                    }
                    Bulk::Delete => api::machine_delete(id, false).await.map(|m| live.upsert_machine(m)),
                };
                match answer {
                    Ok(()) => ok += 1,
                    Err(e) => refused.push(format!("{name}: {e}")),
                }
            }
            ticked.set(BTreeSet::new());
            outcome.set(Some(format!("{ok} {}.", what.done())));
            if !refused.is_empty() {
                failed.set(Some(format!("{} refused: {}", refused.len(), refused.join("; "))));
            }
        });
    };
    let ask = move |what: Bulk| {
        let list = chosen();
        if what == Bulk::Start {
            return run((what, list));
        }
        let names = list.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ");
        let (title, body, action) = match what {
            Bulk::Stop => (
                format!("Shut down {} machines?", list.len()),
                format!("Each is asked to shut down its guest: {names}."),
                "Shut down",
            ),
            _ => (
                format!("Delete {} machines?", list.len()),
                format!(
                    "Each is deleted with its disks and snapshots, for good: {names}. Running ones are refused."
                ),
                "Delete",
            ),
        };
        pending.set(Some(Confirm::new(title, body, action, (what, list))));
    };
    // A tenant column, for those who see machines of several tenants at once.
    let many_tenants = move || {
        live.tenant.get().is_none()
            && live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin || m.memberships.len() > 1))
    };
    let tenant_of = move |m: &Machine| m.tenant_id.map_or_else(|| "—".to_string(), |t| live.tenant_name(t));
    let shown = move || {
        let (text, state, kind) = (text.get().to_lowercase(), state.get(), kind.get());
        let (by, descending) = sort.get();
        live.machines.with(|ms| {
            ms.as_ref().map(|ms| {
                let tenant = live.tenant.get();
                let mut list = ms
                    .iter()
                    .filter(|m| tenant.is_none() || m.tenant_id == tenant)
                    .filter(|m| state.is_empty() || m.state.as_str() == state)
                    .filter(|m| kind.is_empty() || m.kind.as_str() == kind)
                    .filter(|m| {
                        text.is_empty()
                            || m.name.contains(&text)
                            || m.node_name.to_lowercase().contains(&text)
                            || tenant_of(m).to_lowercase().contains(&text)
                    })
                    .cloned()
                    .collect::<Vec<_>>();
                machines_sort(&mut list, by, descending, tenant_of);
                list
            })
        })
    };
    // A column's header: a button that sorts by it (again: the other way), saying so.
    let header = move |label: &'static str, by: MachineSort| {
        let aria = move || match sort.get() {
            (b, false) if b == by => "ascending",
            (b, true) if b == by => "descending",
            _ => "none",
        };
        let mark = move || match sort.get() {
            (b, false) if b == by => " ▲",
            (b, true) if b == by => " ▼",
            _ => "",
        };
        view! {
            <th aria-sort=aria>
                <button type="button" class="sort" data-test=format!("sort-{}", label.to_lowercase())
                    on:click=move |_| sort.update(|(b, d)| {
                        *d = if *b == by { !*d } else { by.largest_first() };
                        *b = by;
                    })>
                    {label}{mark}
                </button>
            </th>
        }
    };
    view! {
        <div class="page-head">
            <h1>"Machines"</h1>
            // Offered to those whose role lets them create here (owners, admins).
            <Show when=move || live.me.with(|m| m.as_ref().is_some_and(|m| m.may_create_in(live.tenant.get())))>
                <A href="/machines/new" attr:class="btn primary" attr:data-test="new-machine">"New machine"</A>
            </Show>
        </div>
        <div class="filters">
            <input type="search" placeholder="Filter by name, node or tenant" data-test="filter-text" aria-label="Filter by name, node or tenant"
                prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
            <select data-test="filter-kind" aria-label="Filter by kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                <option value="">"VMs and zones"</option>
                <option value="vm">"VMs"</option>
                <option value="zone">"Zones"</option>
            </select>
            <select data-test="filter-state" aria-label="Filter by state" on:change=move |ev| state.set(event_target_value(&ev))>
                <option value="">"Any state"</option>
                {MachineState::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
            </select>
        </div>
        <ConfirmDialog pending=pending on_confirm=run/>
        <Show when=move || !ticked.with(BTreeSet::is_empty)>
            <div class="bulk card" role="region" aria-label="Ticked machines" data-test="bulk">
                <span data-test="bulk-count">{move || format!("{} ticked", chosen().len())}</span>
                <button class="btn" data-test="bulk-start" on:click=move |_| ask(Bulk::Start)>"Start"</button>
                <button class="btn" data-test="bulk-stop" on:click=move |_| ask(Bulk::Stop)>"Shut down…"</button>
                <button class="btn danger" data-test="bulk-delete" on:click=move |_| ask(Bulk::Delete)>"Delete…"</button>
                <button class="btn ghost" on:click=move |_| ticked.set(BTreeSet::new())>"Clear"</button>
            </div>
        </Show>
        {move || outcome.get().map(|o| view! { <p class="banner ok" role="status" data-test="bulk-outcome">{o}</p> })}
        <ErrorBanner error=failed/>
        {move || match shown() {
            None => view! { <p class="muted">"Loading machines…"</p> }.into_any(),
            Some(list) if list.is_empty() => view! {
                <p class="muted" data-test="empty">"No machines match."</p>
            }.into_any(),
            Some(list) => {
                let ids: Vec<MachineId> = list.iter().map(|m| m.id).collect();
                let all_ticked = {
                    let ids = ids.clone();
                    move || ticked.with(|t| !ids.is_empty() && ids.iter().all(|id| t.contains(id)))
                };
                view! {
                <table class="table" data-test="machine-table">
                    <caption class="visually-hidden">"Machines"</caption>
                    <thead><tr>
                        {may_act().then(|| view! {
                            <th class="tick"><input type="checkbox" data-test="tick-all" aria-label="Tick every machine listed"
                                prop:checked=all_ticked.clone()
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    ticked.update(|t| for id in &ids {
                                        if on { t.insert(*id); } else { t.remove(id); }
                                    });
                                }/></th>
                        })}
                        {header("Name", MachineSort::Name)}
                        {header("Kind", MachineSort::Kind)}
                        {header("State", MachineSort::State)}
                        {many_tenants().then(|| header("Tenant", MachineSort::Tenant))}
                        {header("Node", MachineSort::Node)}
                        {header("vCPUs", MachineSort::Vcpus)}
                        {header("Memory", MachineSort::Memory)}
                        {header("Disk", MachineSort::Disk)}
                    </tr></thead>
                    <tbody>{list.into_iter().map(|m| {
                        let tenant = many_tenants().then(|| tenant_of(&m));
                        view! { <MachineRow m=m tenant=tenant ticked=may_act().then_some(ticked)/> }
                    }).collect_view()}</tbody>
                </table>
                }.into_any()
            }
        }}
    }
}

/// One machine; `tenant` is its tenant's name where the list shows that column.
#[component]
fn MachineRow(
    m: Machine,
    tenant: Option<String>,
    /// The ticked machines, where the list offers ticking.
    ticked: Option<RwSignal<BTreeSet<MachineId>>>,
) -> impl IntoView {
    let state = m.state;
    let (id, name, href) = (m.id, m.name.clone(), format!("/machines/{}", m.id));
    view! {
        <tr data-test="machine-row" data-name=m.name.clone()>
            {ticked.map(|ticked| view! {
                <td class="tick">
                    <input type="checkbox" data-test="tick" aria-label=format!("Tick {}", m.name)
                        prop:checked=move || ticked.with(|t| t.contains(&id))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            ticked.update(|t| if on { t.insert(id); } else { t.remove(&id); });
                        }/>
                </td>
            })}
            <td>
                <A href=href>{name}</A>
                {(!m.managed).then(|| view! { <span class="tag" title="Found on the node; owned by no tenant">"unmanaged"</span> })}
            </td>
            <td data-test="machine-kind">{m.kind.label()}</td>
            <td><StateBadge state=Signal::stored(state)/></td>
            {tenant.map(|t| view! { <td data-test="machine-tenant-cell">{t}</td> })}
            <td>{m.node_name.clone()}</td>
            <td>{m.vcpus}</td>
            <td>{format!("{} MiB", m.memory_mib)}</td>
            <td>{format!("{} GiB", m.disk_gib)}</td>
        </tr>
    }
}
