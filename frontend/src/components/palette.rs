//! The command palette: Ctrl-K (⌘K on a Mac), or the top bar's Search button, opens it;
//! typing finds pages, machines, nodes and tenants, and starts a stopped machine or resumes
//! a paused one (a refusal is said in the palette); the arrows choose, Enter goes, Escape
//! closes. A modal `<dialog>` whose input is a combobox over a listbox. What matches, in
//! which order, and which actions are offered is `corral_ui::palette`'s.

use corral_api::session::Role;
use corral_ui::palette::{Act, Entry, power_actions, search, step};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use crate::api;
use crate::live::use_live;

/// Results shown at once.
const SHOWN: usize = 12;

/// Everything the user may reach: the pages their role offers, then the machines (and a
/// start of those stopped, for operators), nodes and tenants they may see.
fn entries() -> Vec<Entry> {
    let live = use_live();
    let (is_admin, may_create, owns_some) = live.me.with(|m| {
        m.as_ref().map_or((false, false, false), |m| {
            (
                m.is_admin,
                m.may_create_in(live.tenant.get()),
                m.memberships.iter().any(|t| t.role == Role::Owner),
            )
        })
    });
    let mut out = vec![
        Entry::new("Dashboard", "page", Act::Go("/".into())),
        Entry::new("Machines", "page", Act::Go("/machines".into())),
    ];
    if may_create {
        out.push(Entry::new("New machine", "page", Act::Go("/machines/new".into())));
    }
    out.push(Entry::new("Images", "page", Act::Go("/images".into())));
    out.push(Entry::new("Tasks", "page", Act::Go("/tasks".into())));
    if is_admin || owns_some {
        out.push(Entry::new("Tenants", "page", Act::Go("/admin/tenants".into())));
        out.push(Entry::new("Audit log", "page", Act::Go("/admin/audit".into())));
    }
    if is_admin {
        out.push(Entry::new("Users", "page", Act::Go("/admin/users".into())));
        out.push(Entry::new("Add a node", "page", Act::Go("/nodes/new".into())));
    }
    out.push(Entry::new("Account", "page", Act::Go("/account".into())));
    live.machines.with(|ms| {
        for m in ms.iter().flatten() {
            out.push(Entry::new(m.name.clone(), "machine", Act::Go(format!("/machines/{}", m.id))));
            if live.may(m.tenant_id, Role::Operator) {
                for (action, verb) in power_actions(m.state) {
                    let act = Act::Power(m.id.to_string(), *action);
                    out.push(Entry::new(format!("{verb} {}", m.name), "action", act));
                }
            }
        }
    });
    live.nodes.with(|ns| {
        for n in ns.iter().flatten() {
            out.push(Entry::new(n.name.clone(), "node", Act::Go(format!("/nodes/{}", n.id))));
        }
    });
    if is_admin {
        live.tenants.with(|ts| {
            for t in ts.iter().flatten() {
                out.push(Entry::new(t.name.clone(), "tenant", Act::Go(format!("/admin/tenants/{}", t.id))));
            }
        });
    }
    out
}

#[component]
pub fn CommandPalette() -> impl IntoView {
    let live = use_live();
    // Stored, so that `run` is `Copy` and every option can hold it.
    let navigate = StoredValue::new_local(use_navigate());
    let dialog = NodeRef::<html::Dialog>::new();
    let input = NodeRef::<html::Input>::new();
    let query = RwSignal::new(String::new());
    let active = RwSignal::new(0usize);
    let results = Memo::new(move |_| search(&entries(), &query.get(), SHOWN));
    let busy = RwSignal::new(false);
    let refused = RwSignal::new(None::<String>);
    // Counts openings, so an answer that comes after the palette was opened again does not
    // close what the user is now typing in.
    let openings = StoredValue::new(0u64);
    // `try_`: an answer may come after the palette is gone (a logout), with nothing to show.
    let show = move || {
        if let Some(d) = dialog.try_get_untracked().flatten()
            && !d.open()
        {
            let _ = d.show_modal();
        }
        if let Some(i) = input.try_get_untracked().flatten() {
            let _ = i.focus();
        }
    };
    let open = move || {
        query.set(String::new());
        active.set(0);
        refused.set(None);
        openings.update_value(|n| *n += 1);
        show();
    };
    let close = move || {
        if let Some(d) = dialog.try_get_untracked().flatten() {
            d.close();
        }
    };
    // Anywhere in the app, as in editors and Proxmox's own search.
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if (ev.ctrl_key() || ev.meta_key()) && ev.key().eq_ignore_ascii_case("k") {
            ev.prevent_default();
            open();
        }
    });
    on_cleanup(move || handle.remove());
    // An action keeps the palette open until the node answers. A refusal is said here, by
    // the entry the user chose; if the palette was closed meanwhile, it opens again to say it.
    let run = move |e: Entry| match e.act {
        Act::Go(path) => {
            close();
            navigate.with_value(|go| go(&path, Default::default()));
        }
        Act::Power(id, action) => {
            let Ok(id) = id.parse() else { return };
            if busy.get_untracked() {
                return;
            }
            busy.set(true);
            refused.set(None);
            let asked_in = openings.get_value();
            spawn_local(async move {
                match api::machine_power(id, action).await {
                    Ok(m) => {
                        live.upsert_machine(m);
                        if openings.try_get_value() == Some(asked_in) {
                            close();
                        }
                    }
                    Err(err) => {
                        refused.set(Some(format!("{}: {err}", e.label)));
                        show();
                    }
                }
                busy.set(false);
            });
        }
    };
    let run_active = move || {
        let chosen = results.with(|r| r.get(active.get_untracked()).cloned());
        if let Some(e) = chosen {
            run(e);
        }
    };
    let keys = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" | "ArrowUp" => {
            ev.prevent_default();
            let by = if ev.key() == "ArrowDown" { 1 } else { -1 };
            active.update(|a| *a = step(*a, by, results.with(Vec::len)));
        }
        "Enter" => {
            ev.prevent_default();
            run_active();
        }
        _ => {}
    };
    view! {
        <button type="button" class="btn ghost palette-open" data-test="palette-open" aria-keyshortcuts="Control+K Meta+K"
            title="Find a page, machine, node or tenant (Ctrl-K)" on:click=move |_| open()>
            "Search " <kbd>"Ctrl K"</kbd>
        </button>
        <dialog node_ref=dialog class="palette card" data-test="palette" aria-label="Go to">
            <input node_ref=input type="text" role="combobox" aria-expanded="true" aria-controls="palette-list"
                aria-autocomplete="list" aria-label="Find a page, machine, node or tenant" autocomplete="off"
                placeholder="Find a page, machine, node or tenant" data-test="palette-input"
                aria-activedescendant=move || format!("palette-{}", active.get())
                prop:value=move || query.get()
                on:input=move |ev| {
                    query.set(event_target_value(&ev));
                    active.set(0);
                    refused.set(None);
                }
                on:keydown=keys/>
            <ul id="palette-list" role="listbox" aria-label="Results">
                {move || results.get().into_iter().enumerate().map(|(i, e)| {
                    let kind = e.kind;
                    let label = e.label.clone();
                    view! {
                        <li id=format!("palette-{i}") role="option" data-test="palette-option" data-kind=kind
                            aria-selected=move || (active.get() == i).to_string()
                            class:active=move || active.get() == i
                            on:mousemove=move |_| active.set(i)
                            on:click=move |_| run(e.clone())>
                            <span>{label}</span><span class="muted small">{kind}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
            {move || refused.get().map(|why| view! {
                <p class="banner error small" role="alert" data-test="palette-error">{why}</p>
            })}
            <p class="help small" aria-live="polite">
                {move || if busy.get() { "Asking the node…" } else { "↑ ↓ to choose, Enter to go, Esc to close." }}
            </p>
        </dialog>
    }
}
