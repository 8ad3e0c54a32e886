//! The task list: long operations on the nodes, newest first, live, with the machine each
//! works on, who asked, how long it took, and filters by state, kind and text.

use corral_api::task::{StepState, Task, TaskState};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::{Ago, Took};
use crate::live::use_live;

#[component]
pub fn Tasks() -> impl IntoView {
    crate::components::page_title(|| "Tasks".to_string());
    let live = use_live();
    let state = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let machine_name = move |t: &Task| {
        let id = t.task.machine_id?;
        live.machines.with(|ms| ms.as_ref()?.iter().find(|m| m.id == id).map(|m| m.name.clone()))
    };
    let kinds = move || {
        let mut all: Vec<String> = live.tasks.with(|ts| {
            ts.as_ref().map(|ts| ts.iter().map(|t| t.task.kind.clone()).collect()).unwrap_or_default()
        });
        all.sort();
        all.dedup();
        all
    };
    let shown = move || {
        let (state, kind, text) = (state.get(), kind.get(), text.get().to_lowercase());
        live.tasks.get().map(|ts| {
            ts.into_iter()
                .filter(|t| state.is_empty() || t.task.state.as_str() == state)
                .filter(|t| kind.is_empty() || t.task.kind == kind)
                .filter(|t| {
                    text.is_empty()
                        || t.task.target.to_lowercase().contains(&text)
                        || t.node_name.to_lowercase().contains(&text)
                        || t.started_by.as_ref().is_some_and(|u| u.to_lowercase().contains(&text))
                        || machine_name(t).is_some_and(|n| n.contains(&text))
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <h1>"Tasks"</h1>
        <div class="filters">
            <input type="search" placeholder="Filter by target, machine, node or user" data-test="task-filter-text"
                aria-label="Filter by target, machine, node or user"
                prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
            <select data-test="task-filter-state" aria-label="Filter by state" on:change=move |ev| state.set(event_target_value(&ev))>
                <option value="">"Any state"</option>
                {[TaskState::Running, TaskState::Succeeded, TaskState::Failed].into_iter()
                    .map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
            </select>
            <select data-test="task-filter-kind" aria-label="Filter by kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                <option value="">"Any kind"</option>
                {move || kinds().into_iter().map(|k| view! { <option value=k.clone()>{k.replace('_', " ")}</option> }).collect_view()}
            </select>
        </div>
        {move || match shown() {
            None => view! { <p class="muted">"Loading tasks…"</p> }.into_any(),
            Some(list) if list.is_empty() => view! { <p class="muted" data-test="no-tasks">"No tasks match. Imports, snapshots, clones and deletes show up here."</p> }.into_any(),
            Some(list) => view! {
                <table class="table" data-test="task-table">
                    <caption class="visually-hidden">"Tasks"</caption>
                    <TaskHead machine=true/>
                    <tbody>{list.into_iter().map(|t| {
                        let machine = t.task.machine_id.map(|id| (id, machine_name(&t)));
                        view! { <TaskRow t=t machine=machine/> }
                    }).collect_view()}</tbody>
                </table>
            }.into_any(),
        }}
    }
}

/// The head of a task table, with a machine column or without (a machine's own tasks).
#[component]
pub fn TaskHead(machine: bool) -> impl IntoView {
    view! {
        <thead><tr>
            <th>"What"</th>
            {machine.then(|| view! { <th>"Machine"</th> })}
            <th>"Node"</th><th>"By"</th><th>"State"</th><th>"Progress"</th><th>"Started"</th><th>"Took"</th>
        </tr></thead>
    }
}

/// One task: what it does, who asked, its bar and steps, when it started and how long it took, and its
/// log and error on demand: a click on the row, or its first cell's button (the keyboard's
/// way, which says whether the log is open).
#[component]
pub fn TaskRow(
    t: Task,
    /// For a list with a machine column: the machine it works on (`None`: none), its id and
    /// name (`None` once gone). Absent: no such column.
    #[prop(optional)]
    machine: Option<Option<(corral_api::MachineId, Option<String>)>>,
) -> impl IntoView {
    let columns = if machine.is_some() { 8 } else { 7 };
    let open = RwSignal::new(false);
    let task = t.task;
    let state = task.state.as_str();
    let bar = match task.state {
        TaskState::Failed => "fill full",
        TaskState::Succeeded => "fill",
        TaskState::Running => "fill high",
    };
    let steps = task
        .steps
        .iter()
        .map(|s| {
            let mark = match s.state {
                StepState::Done => "✓",
                StepState::Running => "…",
                StepState::Failed => "✗",
                StepState::Pending => "·",
            };
            format!("{mark} {}", s.name)
        })
        .collect::<Vec<_>>()
        .join("  ");
    let log = task.log.join("\n");
    let outcome = match (&task.result, &task.error) {
        (_, Some(e)) => Some(format!("Failed: {}", e.message)),
        (Some(r), None) => Some(r.clone()),
        _ => None,
    };
    let started = task.started_at.clone();
    let finished = task.finished_at.clone();
    let toggle = move || open.update(|o| *o = !*o);
    view! {
        <tr data-test="task-row" data-target=task.target.clone() data-state=state class="clickable"
            on:click=move |_| toggle()>
            <td>
                <button type="button" class="disclose" data-test="task-open" aria-expanded=move || open.get().to_string()
                    // Toggles here, and not again in the row's own click.
                    on:click=move |ev| {
                        ev.stop_propagation();
                        toggle();
                    }>
                    {task.kind.replace('_', " ")} " " <strong>{task.target.clone()}</strong>
                </button>
            </td>
            {machine.map(|m| view! {
                <td>{match m {
                    Some((id, Some(n))) => view! { <A href=format!("/machines/{id}")>{n}</A> }.into_any(),
                    Some((_, None)) => view! { <span class="muted">"(deleted)"</span> }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}</td>
            })}
            <td>{t.node_name}</td>
            <td data-test="task-by">{match t.started_by {
                Some(user) => view! { <span>{user}</span> }.into_any(),
                None => view! { <span class="muted" title="Started by the node itself, or before Corral recorded who asked">"—"</span> }.into_any(),
            }}</td>
            <td><span class=format!("badge task-{state}") data-test="task-state">{state}</span></td>
            <td>
                <div class="bar" role="progressbar" aria-label="Progress" aria-valuemin="0" aria-valuemax="100" aria-valuenow=task.progress>
                    <div class=bar style=format!("width: {}%", task.progress)></div>
                </div>
                <span class="small muted">{steps}</span>
            </td>
            <td class="small muted"><Ago at=started.clone()/></td>
            <td class="small muted"><Took from=started to=finished/></td>
        </tr>
        <Show when=move || open.get()>
            <tr class="task-detail"><td colspan=columns>
                {outcome.clone().map(|o| view! { <p data-test="task-outcome">{o}</p> })}
                <pre class="log">{log.clone()}</pre>
            </td></tr>
        </Show>
    }
}
