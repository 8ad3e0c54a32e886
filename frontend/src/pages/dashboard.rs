//! The dashboard: machines by state, their usage over time (the fleet's for admins, the
//! tenant's for its members), and the nodes with their health and capacity.

use corral_api::machine::MachineState;
use corral_api::node::{Node, NodeStatus};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::ChartTarget;
use crate::charts::SumCharts;
use crate::components::{ErrorBanner, Field, ServerSaid, UsageBar, focus_field};
use crate::live::use_live;

#[component]
pub fn Dashboard() -> impl IntoView {
    crate::components::page_title(|| "Dashboard".to_string());
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
        <Usage/>
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

/// The usage of every machine (admins), or of the tenant the user works in beside its quota
/// (their only one, when they have not chosen).
#[component]
fn Usage() -> impl IntoView {
    let live = use_live();
    let target = Memo::new(move |_| {
        let me = live.me.get()?;
        if me.is_admin {
            return Some(ChartTarget::Fleet);
        }
        let only = match me.memberships.as_slice() {
            [one] => Some(one.tenant_id),
            _ => None,
        };
        live.tenant.get().or(only).map(ChartTarget::Tenant)
    });
    move || match target.get() {
        None => view! {
            <p class="muted" data-test="usage-choose">"Choose a tenant above to see its machines' usage."</p>
        }
        .into_any(),
        Some(ChartTarget::Tenant(id)) => {
            let quota = LocalResource::new(move || crate::api::quota_get(id));
            let limits = Signal::derive(move || quota.get().and_then(Result::ok).map(|q| q.limits));
            view! { <SumCharts target=ChartTarget::Tenant(id) quota=limits/> }.into_any()
        }
        Some(target) => view! { <SumCharts target=target/> }.into_any(),
    }
}

/// A node's health and capacity, its name a link to its page.
#[component]
pub fn NodeCard(node: Node) -> impl IntoView {
    let live = use_live();
    let is_admin = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    let status = node.status.as_str().replace('_', "-");
    let facts = node.host.clone();
    let ratios = node.ratios;
    let kinds = node.kinds.iter().map(|k| format!("{}s", k.label())).collect::<Vec<_>>().join(" and ");
    // Said by nodes that run zones (to admins, who see capabilities): whether sizes hold.
    let zone_storage = node.capabilities.iter().find_map(|c| match c.as_str() {
        "zone-storage-btrfs" => Some(" · zones on btrfs: their disk sizes hold"),
        "zone-storage-overlay" => {
            Some(" · zones on overlayfs: snapshots copy only their changes, disk sizes are not enforced")
        }
        "zone-storage-dir" => Some(" · zones on directories: their disk sizes are not enforced"),
        _ => None,
    });
    let (href, label) = (format!("/nodes/{}", node.id), node.name.clone());
    let per = |r: f64, what: &str| if r == 1.0 { String::new() } else { format!(" ({r}× {what})") };
    view! {
        <article class="card node" data-test="node-card">
            <header>
                <h3><A href=href>{label}</A></h3>
                <span class=format!("badge node-{status}") data-test="node-status">{status.replace('-', " ")}</span>
            </header>
            <p class="muted small">
                {node.driver.clone().unwrap_or_else(|| "driver unknown".into())}
                {node.accelerator.clone().map(|a| view! { " · " <span title=a.reason>{a.name}</span> })}
                " · " {node.usage.machines} " machines" {node.address.clone().map(|a| format!(" · {a}"))}
            </p>
            <p class="muted small" data-test="node-kinds">{format!("Runs {kinds}")}{zone_storage}</p>
            {match facts {
                Some(h) => {
                    let (cpus, memory, disk) = ratios.capacity(&h);
                    view! {
                        <UsageBar label=format!("vCPUs{}", per(ratios.cpu, "its CPUs")) used=u64::from(node.usage.vcpus) total=u64::from(cpus) unit=""/>
                        <UsageBar label=format!("Memory{}", per(ratios.memory, "its memory")) used=node.usage.memory_mib total=memory unit="MiB"/>
                        <UsageBar label=format!("Disk{}", per(ratios.disk, "its disk")) used=node.usage.disk_gib total=disk unit="GiB"/>
                    }.into_any()
                }
                None => view! { <p class="muted">"Not reached yet."</p> }.into_any(),
            }}
            <Show when=is_admin>
                <RatiosForm node=node.id ratios=ratios/>
            </Show>
            {match node.status {
                NodeStatus::Online => None,
                NodeStatus::KeyMismatch => Some(view! { <super::nodes::KeyMismatch node=node.clone()/> }.into_any()),
                _ => node.last_error.clone().map(|e| view! { <p class="banner error small">{e}</p> }.into_any()),
            }}
        </article>
    }
}

/// The ratio form's fields as the API names them, in the form's order.
const FIELDS: &[&str] = &["cpu_ratio", "memory_ratio", "disk_ratio"];

/// An admin's edit of a node's allocation ratios, checked with the server's validator; each
/// error stands under its ratio.
#[component]
fn RatiosForm(node: corral_api::NodeId, ratios: corral_api::node::AllocationRatios) -> impl IntoView {
    use corral_api::node::NodeUpdate;
    let cpu = RwSignal::new(ratios.cpu.to_string());
    let memory = RwSignal::new(ratios.memory.to_string());
    let disk = RwSignal::new(ratios.disk.to_string());
    let error = RwSignal::new(None::<String>);
    let server = ServerSaid::new(error);
    let tried = RwSignal::new(false);
    let refs: [NodeRef<leptos::html::Input>; 3] = Default::default();
    let save = Action::new_local(move |req: &NodeUpdate| {
        let req = req.clone();
        async move { crate::api::node_update(node, &req).await }
    });
    Effect::new(move || match save.value().get() {
        Some(Err(e)) => server.take(e, FIELDS),
        Some(Ok(_)) => server.clear(),
        None => {}
    });
    // The ratios as typed, or the first one that is wrong and why (tracked).
    let request = move || -> Result<NodeUpdate, (&'static str, String)> {
        let parse = |s: RwSignal<String>, field: &'static str| {
            s.get().trim().parse::<f64>().map_err(|_| (field, "a number such as 4 or 1.5".to_string()))
        };
        let req = NodeUpdate {
            cpu_ratio: Some(parse(cpu, "cpu_ratio")?),
            memory_ratio: Some(parse(memory, "memory_ratio")?),
            disk_ratio: Some(parse(disk, "disk_ratio")?),
        };
        corral_api::validate::node_update(&req).map_err(|e| (e.field, e.message))?;
        Ok(req)
    };
    let error_of = move |field: &'static str| server.field_error(field, tried, request);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        server.clear();
        match request() {
            Ok(req) => {
                save.dispatch(req);
            }
            Err((field, _)) => focus_field(refs[FIELDS.iter().position(|f| *f == field).unwrap_or(0)]),
        }
    };
    let field = move |label: &'static str, test: &'static str, sig: RwSignal<String>, i: usize| {
        view! {
            <Field label=label test=test value=sig error=error_of(FIELDS[i]) node_ref=refs[i] decimal=true
                id_stem=format!("{test}-{node}")/>
        }
    };
    view! {
        <details class="ratios">
            <summary>"Allocation ratios"</summary>
            <form class="form" on:submit=submit novalidate on:input=move |_| server.edited()>
                <p class="help small">"How far this node may be promised: 4 vCPUs per CPU share its CPUs four ways. Stopped machines keep their share."</p>
                <div class="row">
                    {field("vCPUs per CPU", "ratio-cpu", cpu, 0)}
                    {field("Memory", "ratio-memory", memory, 1)}
                    {field("Disk", "ratio-disk", disk, 2)}
                </div>
                <ErrorBanner error=error/>
                <button class="btn" type="submit" data-test="ratio-save" disabled=move || save.pending().get()>"Save ratios"</button>
            </form>
        </details>
    }
}
