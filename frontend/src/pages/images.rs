//! Images on the nodes, and (for admins) bringing a new one in from a URL or a path on the
//! node, followed live as a task.

use corral_api::NodeId;
use corral_api::machine::ImageImport;
use corral_api::task::TaskState;
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::tasks::TaskRow;
use crate::api;
use crate::components::ErrorBanner;
use crate::live::use_live;

#[component]
pub fn Images() -> impl IntoView {
    crate::components::page_title(|| "Images".to_string());
    let live = use_live();
    let version = RwSignal::new(0u32);
    let images = LocalResource::new(move || {
        version.track();
        api::image_list()
    });
    // An import that ends changes the list: fetch it again then.
    let finished = Memo::new(move |_| {
        live.tasks.with(|ts| {
            ts.as_ref().map_or(0, |ts| {
                ts.iter()
                    .filter(|t| t.task.kind == "image_import" && t.task.state != TaskState::Running)
                    .count()
            })
        })
    });
    Effect::new(move |prev: Option<usize>| {
        let now = finished.get();
        if prev.is_some_and(|p| p != now) {
            version.update(|v| *v += 1);
        }
        now
    });
    let is_admin = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));

    view! {
        <h1>"Images"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading images…"</p> }>
            {move || Suspend::new(async move {
                match images.await {
                    Err(e) => view! { <p class="banner error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted" data-test="no-images">"No images on any online node."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table" data-test="image-table">
                            <thead><tr><th>"Name"</th><th>"Node"</th><th>"For"</th><th>"Format"</th><th>"Size"</th><th>"Guest sees"</th><th>"sha256"</th></tr></thead>
                            <tbody>{list.into_iter().map(|i| view! {
                                <tr data-test="image-row" data-name=i.image.name.clone()>
                                    <td>{i.image.name.clone()}</td>
                                    <td>{i.node_name.clone()}</td>
                                    <td data-test="image-kind">{match &i.image.zone {
                                        Some(z) => format!("zone: {} {} ({})", z.os, z.release, z.init.as_str()),
                                        None => i.image.kind.label().to_string(),
                                    }}</td>
                                    <td>{i.image.format.clone()}</td>
                                    <td>{format!("{:.1} MiB", i.image.size_bytes as f64 / 1048576.0)}</td>
                                    <td>{if i.image.virtual_size_bytes < 1 << 30 {
                                        format!("{:.1} MiB", i.image.virtual_size_bytes as f64 / 1048576.0)
                                    } else {
                                        format!("{:.1} GiB", i.image.virtual_size_bytes as f64 / 1073741824.0)
                                    }}</td>
                                    <td class="mono" title=i.image.sha256.clone()>{i.image.sha256.chars().take(12).collect::<String>()}"…"</td>
                                </tr>
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Transition>
        <Show when=is_admin>
            <ImportForm/>
        </Show>
    }
}

#[component]
fn ImportForm() -> impl IntoView {
    let live = use_live();
    let node = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let source = RwSignal::new(String::new());
    let sha = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let started = RwSignal::new(None::<corral_api::TaskId>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let node_id = node
            .get_untracked()
            .parse::<NodeId>()
            .ok()
            .or_else(|| live.nodes.get_untracked().and_then(|ns| ns.first().map(|n| n.id)));
        let Some(node_id) = node_id else {
            error.set(Some("There is no node to import to.".into()));
            return;
        };
        if let Err(e) = validate::image_name(&name.get_untracked()) {
            error.set(Some(format!("Name: {}", e.message)));
            return;
        }
        let sha256 = Some(sha.get_untracked().trim().to_string()).filter(|s| !s.is_empty());
        let req = ImageImport { node_id, name: name.get_untracked(), source: source.get_untracked(), sha256 };
        spawn_local(async move {
            match api::image_import(&req).await {
                Ok(task) => {
                    error.set(None);
                    started.set(Some(task.task.id));
                    live.apply(corral_api::event::Event::TaskUpdated { task });
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let current = move || {
        let id = started.get()?;
        live.tasks.with(|ts| ts.as_ref()?.iter().find(|t| t.task.id == id).cloned())
    };
    view! {
        <section class="card form" data-test="image-import">
            <h2>"Import an image"</h2>
            <form class="form" on:submit=submit>
                <label>"Node"
                    <select data-test="import-node" on:change=move |ev| node.set(event_target_value(&ev))>
                        {move || live.nodes.get().unwrap_or_default().into_iter()
                            .map(|n| view! { <option value=n.id.to_string()>{n.name}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>"Name"
                    <input data-test="import-name" placeholder="debian-12.qcow2" prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))/>
                    <span class="help">"The ending says what it is: .qcow2, .raw, .img or .iso for a VM's disk; .tar, .tar.gz or .tar.xz for a zone's root filesystem (metadata.yaml and rootfs/, as Incus images)."</span>
                </label>
                <label>"Source"
                    <input data-test="import-source" placeholder="https://… or /path/on/the/node" prop:value=move || source.get()
                        on:input=move |ev| source.set(event_target_value(&ev))/>
                </label>
                <label>"sha256 (optional, checked before the image is kept)"
                    <input data-test="import-sha256" class="mono" prop:value=move || sha.get()
                        on:input=move |ev| sha.set(event_target_value(&ev))/>
                </label>
                <ErrorBanner error=error/>
                <div class="actions"><button class="btn primary" type="submit" data-test="import-submit">"Import"</button></div>
            </form>
            {move || current().map(|t| view! {
                <table class="table" data-test="import-task"><tbody><TaskRow t=t/></tbody></table>
            })}
        </section>
    }
}
