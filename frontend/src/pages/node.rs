//! One node's page: its card (health, capacity at its ratios, the admin's ratio form), what
//! it is (host, accelerator, what it runs and offers; where it is and its key, for admins),
//! the machines on it and its tasks, all live.

use corral_api::NodeId;
use corral_api::node::Node;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api::ChartTarget;
use crate::charts::{ChartControls, ChartSettings, MetricChart};
use crate::components::{Ago, StateBadge};
use crate::live::use_live;
use crate::pages::tasks::{TaskHead, TaskRow};

#[component]
pub fn NodePage() -> impl IntoView {
    let live = use_live();
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|s| s.parse::<NodeId>().ok())));
    let node = Memo::new(move |_| {
        let id = id.get()?;
        live.nodes.with(|ns| ns.as_ref()?.iter().find(|n| n.id == id).cloned())
    });
    crate::components::page_title(move || {
        node.with(|n| n.as_ref().map_or("Node".into(), |n| format!("Node {}", n.name)))
    });
    let loaded = Memo::new(move |_| live.nodes.with(Option::is_some));
    view! {
        {move || match (loaded.get(), node.get()) {
            (false, _) => view! { <p class="muted">"Loading…"</p> }.into_any(),
            (true, None) => view! {
                <h1>"Node not found"</h1>
                <p class="muted" data-test="node-gone">"There is no such node, or it was removed."</p>
                <A href="/">"Back to the dashboard"</A>
            }.into_any(),
            (true, Some(n)) => view! { <NodeView node=n/> }.into_any(),
        }}
    }
}

#[component]
fn NodeView(node: Node) -> impl IntoView {
    let live = use_live();
    let id = node.id;
    let machines = move || {
        live.machines.with(|ms| {
            ms.as_ref().map(|ms| ms.iter().filter(|m| m.node_id == id).cloned().collect::<Vec<_>>())
        })
    };
    let tasks = move || {
        live.tasks.with(|ts| {
            ts.as_ref().map(|ts| ts.iter().filter(|t| t.node_id == id).take(50).cloned().collect::<Vec<_>>())
        })
    };
    let machine_name = move |mid: corral_api::MachineId| {
        live.machines.with(|ms| ms.as_ref()?.iter().find(|m| m.id == mid).map(|m| m.name.clone()))
    };
    let facts = node.host.clone();
    let row = |label: &'static str, value: String| view! { <dt>{label}</dt><dd>{value}</dd> };
    view! {
        <h1 data-test="node-name">{node.name.clone()}</h1>
        <section class="nodes single"><super::dashboard::NodeCard node=node.clone()/></section>
        <section class="card settings" data-test="node-facts">
            <h2>"What it is"</h2>
            <dl class="summary">
                {facts.map(|h| view! {
                    {row("Host", h.hostname.clone())}
                    {row("Size", format!("{} CPUs, {} MiB memory, {} GiB for disks", h.cpus, h.memory_mib, h.disk_gib))}
                })}
                {row("Driver", node.driver.clone().unwrap_or_else(|| "not reported yet".into()))}
                {node.accelerator.clone().map(|a| row("Acceleration", format!("{}: {}", a.name, a.reason)))}
                {row("Runs", node.kinds.iter().map(|k| format!("{}s", k.label())).collect::<Vec<_>>().join(" and "))}
                {row("Offers", if node.capabilities.is_empty() { "nothing reported".into() } else { node.capabilities.join(", ") })}
                {row("Host bridges", if node.host_bridges.is_empty() { "none".into() } else { node.host_bridges.join(", ") })}
                {node.address.clone().map(|a| row("Address", a))}
                {node.host_key.clone().map(|k| row("Host key", k))}
                <dt>"Last answered"</dt>
                <dd>{match node.last_seen_at.clone() {
                    Some(at) => view! { <Ago at=at/> }.into_any(),
                    None => view! { <span>"never"</span> }.into_any(),
                }}</dd>
                {(node.rule_breaks > 0).then(|| row(
                    "Broken rules",
                    format!("{} reports not applied; the last: {}", node.rule_breaks, node.last_rule_break.clone().unwrap_or_default()),
                ))}
            </dl>
        </section>
        <Show when=move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin))>
            <NodeUsage id=id/>
        </Show>
        <section class="card settings" data-test="node-machines">
            <h2>"Machines"</h2>
            {move || match machines() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! { <p class="muted">"None you can see."</p> }.into_any(),
                Some(list) => view! {
                    <table class="table">
                        <caption class="visually-hidden">"Machines on this node"</caption>
                        <thead><tr><th>"Name"</th><th>"Kind"</th><th>"State"</th><th>"Tenant"</th><th>"Size"</th></tr></thead>
                        <tbody>{list.into_iter().map(|m| {
                            let (state, name, href) = (m.state, m.name.clone(), format!("/machines/{}", m.id));
                            view! {
                                <tr data-test="node-machine-row" data-name=m.name.clone()>
                                    <td><A href=href>{name}</A></td>
                                    <td>{m.kind.label()}</td>
                                    <td><StateBadge state=Signal::stored(state)/></td>
                                    <td>{m.tenant_id.map_or_else(|| "—".to_string(), |t| live.tenant_name(t))}</td>
                                    <td class="small">{format!("{} vCPUs, {} MiB, {} GiB", m.vcpus, m.memory_mib, m.disk_gib)}</td>
                                </tr>
                            }
                        }).collect_view()}</tbody>
                    </table>
                }.into_any(),
            }}
        </section>
        <section class="card settings" data-test="node-tasks">
            <h2>"Tasks"</h2>
            {move || match tasks() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! { <p class="muted">"No tasks on this node yet."</p> }.into_any(),
                Some(list) => view! {
                    <table class="table">
                        <caption class="visually-hidden">"This node's tasks"</caption>
                        <TaskHead machine=true/>
                        <tbody>{list.into_iter().map(|t| {
                            let machine = t.task.machine_id.map(|mid| (mid, machine_name(mid)));
                            view! { <TaskRow t=t machine=machine/> }
                        }).collect_view()}</tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

/// The node's CPU by mode, memory, load, pressure, disks and interfaces over time (admins).
#[component]
fn NodeUsage(id: NodeId) -> impl IntoView {
    use corral_api::metrics::Metric;
    let settings = ChartSettings::new(Signal::stored(Some(id)));
    let target = ChartTarget::Node(id);
    view! {
        <section class="card charts" data-test="node-usage">
            <h2>"Usage"</h2>
            <ChartControls settings=settings/>
            <div class="chart-grid">
                <MetricChart title="CPU by mode (cores)" name="cpu" target=target settings=settings
                    metrics=vec![(Metric::CpuSeconds, "")]/>
                <MetricChart title="Memory" name="memory" target=target settings=settings
                    metrics=vec![(Metric::MemoryTotalBytes, "total"), (Metric::MemoryAvailableBytes, "available")]/>
                <MetricChart title="Load (1 min)" name="load" target=target settings=settings
                    metrics=vec![(Metric::Load1, "load")]/>
                <MetricChart title="Pressure (some, 10 s)" name="pressure" target=target settings=settings
                    empty="Not available: this kernel reports no pressure stall information."
                    metrics=vec![(Metric::CpuPressure, "cpu"), (Metric::IoPressure, "io"), (Metric::MemoryPressure, "memory")]/>
                <MetricChart title="Disks" name="disk" target=target settings=settings
                    metrics=vec![(Metric::DiskReadBytes, "read"), (Metric::DiskWriteBytes, "write")]/>
                <MetricChart title="Network" name="network" target=target settings=settings
                    metrics=vec![(Metric::NetRxBytes, "in"), (Metric::NetTxBytes, "out")]/>
            </div>
        </section>
    }
}
