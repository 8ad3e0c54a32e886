//! The snapshot panel of a machine: the tree (indented under parents, the current one
//! marked), taking a snapshot (with RAM when running), and rollback, clone and delete, each
//! asking first.

use corral_api::MachineId;
use corral_api::machine::MachineState;
use corral_api::snapshot::{Snapshot, SnapshotClone, SnapshotCreate};
use corral_api::validate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use crate::api;
use crate::components::ErrorBanner;
use crate::live::use_live;

/// Snapshots in tree order (each after its parent), with their depth.
fn tree(list: &[Snapshot]) -> Vec<(usize, Snapshot)> {
    fn walk(list: &[Snapshot], parent: Option<&str>, depth: usize, out: &mut Vec<(usize, Snapshot)>) {
        for s in list.iter().filter(|s| s.parent.as_deref() == parent) {
            out.push((depth, s.clone()));
            walk(list, Some(&s.name), depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(list, None, 0, &mut out);
    // Anything whose parent is missing still shows, at the top level.
    for s in list {
        if !out.iter().any(|(_, o)| o.name == s.name) {
            out.push((0, s.clone()));
        }
    }
    out
}

/// What the user asked to do to a snapshot, waiting for their confirmation.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    Rollback(String),
    Delete(String),
    Clone(String),
}

#[component]
/// `ram`: whether the machine can save its memory (a VM can; a zone has none of its own).
pub fn SnapshotPanel(
    id: MachineId,
    #[prop(into)] state: Signal<MachineState>,
    #[prop(default = true)] ram_possible: bool,
    /// The machine's tenant: taking, rolling back and deleting need the operator role there,
    /// cloning (a new machine) the owner role.
    tenant: Option<corral_api::TenantId>,
) -> impl IntoView {
    let live = use_live();
    let may_operate = move || live.may(tenant, corral_api::session::Role::Operator);
    let may_own = move || live.may(tenant, corral_api::session::Role::Owner);
    let version = RwSignal::new(0u32);
    let list = LocalResource::new(move || {
        version.track();
        api::snapshot_list(id)
    });
    let name = RwSignal::new(String::new());
    let ram = RwSignal::new(true);
    let error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<(String, MachineId)>);
    let busy = RwSignal::new(false);
    let pending = RwSignal::new(None::<Pending>);
    let clone_name = RwSignal::new(String::new());
    let running = move || matches!(state.get(), MachineState::Running | MachineState::Paused);

    let finish = move |result: Result<(), String>| {
        match result {
            Ok(()) => {
                error.set(None);
                pending.set(None);
                version.update(|v| *v += 1);
            }
            Err(e) => error.set(Some(e)),
        }
        busy.set(false);
    };

    let take = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req = SnapshotCreate {
            name: name.get_untracked(),
            ram: ram_possible && ram.get_untracked() && running(),
        };
        if let Err(e) = validate::snapshot_name(&req.name) {
            error.set(Some(format!("Snapshot name: {}", e.message)));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            let r = api::snapshot_create(id, &req).await.map(|_| name.set(String::new()));
            finish(r.map_err(|e| e.to_string()));
        });
    };

    let confirm = move |_| {
        let Some(p) = pending.get_untracked() else { return };
        busy.set(true);
        notice.set(None);
        spawn_local(async move {
            let r = match p {
                Pending::Rollback(n) => api::snapshot_rollback(id, &n).await.map(|m| live.upsert_machine(m)),
                Pending::Delete(n) => api::snapshot_delete(id, &n).await,
                Pending::Clone(n) => {
                    let req = SnapshotClone { name: clone_name.get_untracked() };
                    api::snapshot_clone(id, &n, &req).await.map(|m| {
                        notice.set(Some((m.name.clone(), m.id)));
                        live.upsert_machine(m);
                    })
                }
            };
            finish(r.map_err(|e| e.to_string()));
        });
    };

    view! {
        <section class="card snapshots" data-test="snapshots">
            <h2>"Snapshots"</h2>
            <Show when=may_operate>
            <form class="inline-form" on:submit=take>
                <input data-test="snapshot-name" placeholder="before-upgrade" aria-label="Snapshot name"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                {if ram_possible {
                    view! {
                        <label class="check" title="Save memory too, so a rollback resumes the running guest">
                            <input type="checkbox" data-test="snapshot-ram" prop:checked=move || ram.get() && running()
                                disabled=move || !running() on:change=move |ev| ram.set(event_target_checked(&ev))/>
                            "with RAM"
                        </label>
                    }.into_any()
                } else {
                    view! {
                        <span class="help" data-test="snapshot-files-only">"Its files only: a zone has no memory of its own to save. A running zone is frozen for the moment of the copy, and a rollback restarts it on the snapshot's files."</span>
                    }.into_any()
                }}
                <button class="btn" type="submit" data-test="snapshot-take" disabled=move || busy.get()>
                    {move || if busy.get() { "Working…" } else { "Take snapshot" }}
                </button>
            </form>
            </Show>
            <ErrorBanner error=error/>
            {move || notice.get().map(|(n, new_id)| view! {
                <p class="banner ok">"Cloned into " <A href=format!("/machines/{new_id}")>{n}</A> "."</p>
            })}
            <Show when=move || pending.get().is_some()>
                <div class="confirm card" role="alertdialog" data-test="snapshot-confirm">
                    {move || match pending.get() {
                        Some(Pending::Rollback(n)) => view! {
                            <p>{format!("Roll back to {n}? Changes made since are lost.")}</p>
                        }.into_any(),
                        Some(Pending::Delete(n)) => view! { <p>{format!("Delete snapshot {n}?")}</p> }.into_any(),
                        Some(Pending::Clone(n)) => view! {
                            <p>{format!("Clone {n} into a new machine named:")}</p>
                            <input data-test="clone-name" prop:value=move || clone_name.get()
                                on:input=move |ev| clone_name.set(event_target_value(&ev))/>
                        }.into_any(),
                        None => ().into_any(),
                    }}
                    <button class="btn danger" data-test="snapshot-confirm-go" on:click=confirm disabled=move || busy.get()>"Go ahead"</button>
                    <button class="btn ghost" on:click=move |_| pending.set(None)>"Cancel"</button>
                </div>
            </Show>
            <Transition fallback=|| view! { <p class="muted">"Loading snapshots…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(e) => view! { <p class="muted">{e.to_string()}</p> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="muted" data-test="no-snapshots">"No snapshots yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="table">
                                <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Taken"</th><th></th></tr></thead>
                                <tbody>
                                    {tree(&list).into_iter().map(|(depth, s)| {
                                        let (n1, n2, n3) = (s.name.clone(), s.name.clone(), s.name.clone());
                                        view! {
                                            <tr data-test="snapshot-row" data-name=s.name.clone()>
                                                <td style=format!("padding-left: {}px", 12 + depth * 20)>
                                                    {if depth > 0 { "└ " } else { "" }}{s.name.clone()}
                                                    {s.current.then(|| view! { <span class="tag current" title="The machine descends from this snapshot">"current"</span> })}
                                                </td>
                                                <td>{if s.ram { format!("disk + RAM ({} MiB)", s.vm_state_bytes >> 20) } else { "disk".to_string() }}</td>
                                                <td class="small muted">{s.created_at.clone()}</td>
                                                <td class="row-actions">
                                                    <Show when=may_operate>
                                                        <button class="btn small" data-test="snapshot-rollback" on:click={
                                                            let n1 = n1.clone();
                                                            move |_| pending.set(Some(Pending::Rollback(n1.clone())))
                                                        }>"Roll back"</button>
                                                    </Show>
                                                    <Show when=may_own>
                                                        <button class="btn small" data-test="snapshot-clone" on:click={
                                                            let n2 = n2.clone();
                                                            move |_| {
                                                                clone_name.set(format!("{}-clone", n2));
                                                                pending.set(Some(Pending::Clone(n2.clone())));
                                                            }
                                                        }>"Clone"</button>
                                                    </Show>
                                                    <Show when=may_operate>
                                                        <button class="btn small danger" data-test="snapshot-delete" on:click={
                                                            let n3 = n3.clone();
                                                            move |_| pending.set(Some(Pending::Delete(n3.clone())))
                                                        }>"Delete"</button>
                                                    </Show>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
