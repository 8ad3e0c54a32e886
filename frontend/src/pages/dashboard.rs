//! The dashboard: the fleet's nodes with their health and capacity, and machines by state.

use corral_api::machine::MachineState;
use corral_api::node::{Node, NodeStatus};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::UsageBar;
use crate::live::use_live;

#[component]
pub fn Dashboard() -> impl IntoView {
    let live = use_live();
    let is_admin = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    let counts = move || {
        live.machines.with(|ms| {
            let ms = ms.as_deref().unwrap_or_default();
            let count = |f: &dyn Fn(MachineState) -> bool| ms.iter().filter(|m| f(m.state)).count();
            (
                ms.len(),
                count(&|s| s == MachineState::Running),
                count(&|s| s == MachineState::Stopped),
                count(&|s| matches!(s, MachineState::Failed | MachineState::Unknown | MachineState::Lost)),
            )
        })
    };
    view! {
        <h1>"Dashboard"</h1>
        <section class="stats">
            <A href="/machines" attr:class="stat card"><span class="num" data-test="count-total">{move || counts().0}</span>" machines"</A>
            <div class="stat card"><span class="num ok">{move || counts().1}</span>" running"</div>
            <div class="stat card"><span class="num">{move || counts().2}</span>" stopped"</div>
            <div class="stat card"><span class="num bad">{move || counts().3}</span>" need attention"</div>
        </section>
        <div class="page-head">
            <h2>"Nodes"</h2>
            <Show when=is_admin>
                <A href="/nodes/new" attr:class="btn" attr:data-test="add-node">"Add node"</A>
            </Show>
        </div>
        {move || match live.nodes.get() {
            None => view! { <p class="muted">"Loading nodes…"</p> }.into_any(),
            Some(nodes) if nodes.is_empty() => view! {
                <p class="muted">"No nodes yet. Add one over SSH, or pass a local bridge to the backend with --node."</p>
            }.into_any(),
            Some(nodes) => view! {
                <section class="nodes">{nodes.into_iter().map(|n| view! { <NodeCard node=n/> }).collect_view()}</section>
            }.into_any(),
        }}
    }
}

#[component]
fn NodeCard(node: Node) -> impl IntoView {
    let status = node.status.as_str().replace('_', "-");
    let facts = node.host.clone();
    view! {
        <article class="card node" data-test="node-card">
            <header>
                <h3>{node.name.clone()}</h3>
                <span class=format!("badge node-{status}") data-test="node-status">{status.replace('-', " ")}</span>
            </header>
            <p class="muted small">
                {node.driver.clone().unwrap_or_else(|| "driver unknown".into())}
                {node.accelerator.clone().map(|a| view! { " · " <span title=a.reason>{a.name}</span> })}
                " · " {node.usage.machines} " machines" {node.address.clone().map(|a| format!(" · {a}"))}
            </p>
            {match facts {
                Some(h) => view! {
                    <UsageBar label="vCPUs" used=u64::from(node.usage.vcpus) total=u64::from(h.cpus) unit=""/>
                    <UsageBar label="Memory" used=node.usage.memory_mib total=h.memory_mib unit="MiB"/>
                    <UsageBar label="Disk" used=node.usage.disk_gib total=h.disk_gib unit="GiB"/>
                }.into_any(),
                None => view! { <p class="muted">"Not reached yet."</p> }.into_any(),
            }}
            {match node.status {
                NodeStatus::Online => None,
                NodeStatus::KeyMismatch => Some(view! { <super::nodes::KeyMismatch node=node.clone()/> }.into_any()),
                _ => node.last_error.clone().map(|e| view! { <p class="banner error small">{e}</p> }.into_any()),
            }}
        </article>
    }
}
