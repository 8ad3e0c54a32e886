//! The machine list: live states, a text filter (name, node, tenant), a kind filter and a
//! state filter, columns that sort on a click, and the tenant of each machine for those who
//! see several.

use corral_api::machine::{Machine, MachineState};
use corral_ui::lists::{MachineSort, machines_sort};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::StateBadge;
use crate::live::use_live;

#[component]
pub fn MachineList() -> impl IntoView {
    crate::components::page_title(|| "Machines".to_string());
    let live = use_live();
    let text = RwSignal::new(String::new());
    let state = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let sort = RwSignal::new((MachineSort::Name, false));
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
        {move || match shown() {
            None => view! { <p class="muted">"Loading machines…"</p> }.into_any(),
            Some(list) if list.is_empty() => view! {
                <p class="muted" data-test="empty">"No machines match."</p>
            }.into_any(),
            Some(list) => view! {
                <table class="table" data-test="machine-table">
                    <caption class="visually-hidden">"Machines"</caption>
                    <thead><tr>
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
                        view! { <MachineRow m=m tenant=tenant/> }
                    }).collect_view()}</tbody>
                </table>
            }.into_any(),
        }}
    }
}

/// One machine; `tenant` is its tenant's name where the list shows that column.
#[component]
fn MachineRow(m: Machine, tenant: Option<String>) -> impl IntoView {
    let state = m.state;
    let (name, href) = (m.name.clone(), format!("/machines/{}", m.id));
    view! {
        <tr data-test="machine-row" data-name=m.name.clone()>
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
