//! A machine's history: its tasks on the node (snapshots, clones, deletes), live, with how
//! long each took; and its audit entries (who did what to it, refusals too), for those who
//! may read the tenant's audit log.

use corral_api::MachineId;
use leptos::prelude::*;

use crate::api;
use crate::components::ErrorBanner;
use crate::live::use_live;
use crate::pages::admin::{AuditTable, KnownNames};
use crate::pages::tasks::{TaskHead, TaskRow};

/// The machine's tasks, newest first, as they run.
#[component]
pub fn MachineTasks(id: MachineId) -> impl IntoView {
    let live = use_live();
    let tasks = move || {
        live.tasks.with(|ts| {
            ts.as_ref()
                .map(|ts| ts.iter().filter(|t| t.task.machine_id == Some(id)).cloned().collect::<Vec<_>>())
        })
    };
    view! {
        <section class="card settings" data-test="machine-tasks">
            <h2>"Tasks"</h2>
            {move || match tasks() {
                None => view! { <p class="muted">"Loading tasks…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! {
                    <p class="muted" data-test="no-machine-tasks">"No tasks yet: snapshots, rollbacks, clones and deletes run as tasks on the node and show up here."</p>
                }.into_any(),
                Some(list) => view! {
                    <table class="table">
                        <caption class="visually-hidden">"This machine's tasks"</caption>
                        <TaskHead machine=false/>
                        <tbody>{list.into_iter().map(|t| view! { <TaskRow t=t/> }).collect_view()}</tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

/// The last 100 audit entries about the machine, newest first.
#[component]
pub fn MachineAudit(id: MachineId) -> impl IntoView {
    let entries =
        LocalResource::new(
            move || async move { api::audit_list(&format!("machine_id={id}&limit=100")).await },
        );
    let error = RwSignal::new(None::<String>);
    view! {
        <section class="card settings" data-test="machine-audit">
            <h2>"Audit"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Err(e) => {
                            error.set(Some(e.to_string()));
                            ().into_any()
                        }
                        Ok(list) if list.is_empty() => view! { <p class="muted">"Nothing recorded yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <AuditTable rows=corral_ui::audit::fold(list) names=KnownNames::for_page()/>
                        }.into_any(),
                    }
                })}
            </Transition>
            <ErrorBanner error=error/>
        </section>
    }
}
