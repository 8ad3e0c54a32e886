//! The task list: long operations on the nodes, newest first, live.

use corral_api::task::{StepState, Task, TaskState};
use leptos::prelude::*;

use crate::components::{Ago, Took};
use crate::live::use_live;

#[component]
pub fn Tasks() -> impl IntoView {
    crate::components::page_title(|| "Tasks".to_string());
    let live = use_live();
    view! {
        <h1>"Tasks"</h1>
        {move || match live.tasks.get() {
            None => view! { <p class="muted">"Loading tasks…"</p> }.into_any(),
            Some(list) if list.is_empty() => view! { <p class="muted" data-test="no-tasks">"No tasks yet. Image imports show up here."</p> }.into_any(),
            Some(list) => view! {
                <table class="table" data-test="task-table">
                    <thead><tr><th>"What"</th><th>"Node"</th><th>"State"</th><th>"Progress"</th><th>"Started"</th><th>"Took"</th></tr></thead>
                    <tbody>{list.into_iter().map(|t| view! { <TaskRow t=t/> }).collect_view()}</tbody>
                </table>
            }.into_any(),
        }}
    }
}

/// One task: what it does, its bar and steps, when it started and how long it took, and its
/// log and error on demand: a click on the row, or its first cell's button (the keyboard's
/// way, which says whether the log is open).
#[component]
pub fn TaskRow(t: Task) -> impl IntoView {
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
            <td>{t.node_name}</td>
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
            <tr class="task-detail"><td colspan="6">
                {outcome.clone().map(|o| view! { <p data-test="task-outcome">{o}</p> })}
                <pre class="log">{log.clone()}</pre>
            </td></tr>
        </Show>
    }
}
