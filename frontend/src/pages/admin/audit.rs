//! The audit log, newest first: filtered by machine, user and tenant picked by name, by kind
//! of action and by time; paged back 200 at a time; targets named and linked; runs of
//! identical refusals folded into one row. The JSON-lines export takes the same filter.

use corral_api::audit::AuditEntry;
use corral_ui::audit::{Names, Row, fold, target};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use super::AdminNav;
use crate::api;
use crate::components::{Ago, ErrorBanner};
use crate::live::use_live;

/// Entries asked for at a time.
const PAGE: usize = 200;

/// The kinds of action offered in the action filter (each is a prefix: every action of it).
const KINDS: &[(&str, &str)] = &[
    ("", "Any action"),
    ("machine.", "Machines"),
    ("snapshot.", "Snapshots"),
    ("console.", "Consoles"),
    ("session.", "Logins and logouts"),
    ("user.", "Users"),
    ("member.", "Members"),
    ("tenant.", "Tenants"),
    ("quota.", "Quotas"),
    ("token.", "API tokens"),
    ("node.", "Nodes"),
    ("image.", "Images"),
];

/// A `datetime-local` value (the browser's time zone) as RFC 3339 in UTC; `None` when empty.
fn local_to_utc(value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return None;
    }
    let d = js_sys::Date::new(&value.into());
    (!d.get_time().is_nan()).then(|| String::from(d.to_iso_string()))
}

/// Names of what the page knows: the machines, tenants and nodes in view, and (for admins)
/// the users, so targets read as names.
#[derive(Clone)]
pub struct KnownNames {
    users: Vec<(String, String)>,
}

impl KnownNames {
    /// What the page knows without a list of users (user targets then show by id).
    pub fn for_page() -> Self {
        KnownNames { users: Vec::new() }
    }
}

impl Names for KnownNames {
    fn name(&self, kind: &str, id: &str) -> Option<String> {
        let live = use_live();
        match kind {
            "machine" => live.machines.with_untracked(|ms| {
                ms.as_ref()?.iter().find(|m| m.id.to_string() == id).map(|m| m.name.clone())
            }),
            "tenant" => id.parse().ok().and_then(|t| live.tenant_name_known(t)),
            "node" => live.nodes.with_untracked(|ns| {
                ns.as_ref()?.iter().find(|n| n.id.to_string() == id).map(|n| n.name.clone())
            }),
            "user" => self.users.iter().find(|(uid, _)| uid == id).map(|(_, n)| n.clone()),
            _ => None,
        }
    }
}

/// The log's rows, as a table (also the machine page's audit tab).
#[component]
pub fn AuditTable(rows: Vec<Row>, names: KnownNames, #[prop(optional)] show_source: bool) -> impl IntoView {
    view! {
        // Focusable: on a phone the wide table scrolls in its box, by keyboard too.
        <table class="table" data-test="audit-table" tabindex="0" aria-label="Audit log">
            <thead><tr>
                <th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Result"</th>
                {show_source.then(|| view! { <th>"From"</th> })}
            </tr></thead>
            <tbody>{rows.into_iter().map(|r| {
                let e: AuditEntry = r.entry.clone();
                let shown = target(&e, &names);
                let repeats = (r.repeats > 1).then(|| view! {
                    <span class="tag" data-test="audit-repeats" title=format!("{} identical refusals in a row, the first at {}", r.repeats, corral_ui::time::exact(&r.first_at))>
                        {format!("×{}", r.repeats)}
                    </span>
                });
                view! {
                    <tr data-test="audit-row" data-action=e.action.clone()>
                        <td class="small"><Ago at=e.at.clone()/></td>
                        <td>{e.username.clone().unwrap_or_else(|| "—".into())}{e.token_id.clone().map(|t| format!(" (token {t})"))}</td>
                        <td class="mono">{e.action.clone()} " " {repeats}</td>
                        <td class="small" data-test="audit-target">{shown.map(|t| match t.href {
                            Some(href) => view! { <A href=href>{t.label}</A> }.into_any(),
                            None => view! { <span>{t.label}</span> }.into_any(),
                        })}</td>
                        <td>{e.result.clone()}</td>
                        {show_source.then(|| view! { <td class="small">{e.source.clone().unwrap_or_default()}</td> })}
                    </tr>
                }
            }).collect_view()}</tbody>
        </table>
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    crate::components::page_title(|| "Audit log".to_string());
    let live = use_live();
    let is_admin = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin));
    // Users by name, for admins (others cannot list users): the user filter and the names.
    let users = LocalResource::new(move || async move {
        if is_admin() { api::user_list().await.unwrap_or_default() } else { Vec::new() }
    });
    let user_pairs = move || {
        users
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|u| (u.id.to_string(), u.username))
            .collect::<Vec<_>>()
    };

    let machine = RwSignal::new(String::new());
    let user = RwSignal::new(String::new());
    let tenant = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);

    // Names typed in a filter, as the ids the server takes; a name nobody has is said.
    let machine_id = move || -> Result<Option<String>, String> {
        let name = machine.get();
        if name.trim().is_empty() {
            return Ok(None);
        }
        live.machines
            .with(|ms| {
                ms.as_ref().and_then(|ms| ms.iter().find(|m| m.name == name.trim()).map(|m| m.id.to_string()))
            })
            .map(Some)
            .ok_or(format!("no machine you can see is named {:?}", name.trim()))
    };
    let user_id = move || -> Result<Option<String>, String> {
        let name = user.get();
        if name.trim().is_empty() {
            return Ok(None);
        }
        user_pairs()
            .into_iter()
            .find(|(_, n)| n == name.trim())
            .map(|(id, _)| Some(id))
            .ok_or(format!("no user is named {:?}", name.trim()))
    };
    let query = move || -> Result<String, String> {
        let mut q = Vec::new();
        if let Some(m) = machine_id()? {
            q.push(format!("machine_id={m}"));
        }
        if let Some(u) = user_id()? {
            q.push(format!("user_id={u}"));
        }
        if !tenant.get().is_empty() {
            q.push(format!("tenant_id={}", tenant.get()));
        }
        if !kind.get().is_empty() {
            q.push(format!("action={}", kind.get()));
        }
        for (key, value) in [("since", since.get()), ("until", until.get())] {
            if let Some(t) = local_to_utc(&value) {
                q.push(format!("{key}={}", js_sys::encode_uri_component(&t)));
            }
        }
        Ok(q.join("&"))
    };
    // A memo: a machine's report that changes no name's meaning fetches nothing again.
    let query = Memo::new(move |_| query());
    // The entries of the filter, paged back: each "Show older" appends the next page.
    let entries = RwSignal::new(None::<Vec<AuditEntry>>);
    let more = RwSignal::new(false);
    let fetch = move |before: Option<i64>| {
        let q = match query.get_untracked() {
            Ok(q) => q,
            Err(e) => return error.set(Some(e)),
        };
        error.set(None);
        let page = match before {
            Some(seq) => format!("{q}&before={seq}&limit={PAGE}"),
            None => format!("{q}&limit={PAGE}"),
        };
        spawn_local(async move {
            match api::audit_list(&page).await {
                Ok(list) => {
                    more.set(list.len() == PAGE);
                    entries.update(|e| match (before, e) {
                        (Some(_), Some(e)) => e.extend(list),
                        (_, e) => *e = Some(list),
                    });
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    Effect::new(move |_| {
        query.track();
        fetch(None);
    });
    let older = move |_| {
        let last = entries.with(|e| e.as_ref().and_then(|e| e.last().map(|e| e.seq)));
        fetch(last);
    };

    let names = move || KnownNames { users: user_pairs() };
    // Changes when a machine is made, renamed or deleted, not on every report of one.
    let machine_names = Memo::new(move |_| {
        live.machines
            .with(|ms| ms.as_ref().map(|ms| ms.iter().map(|m| (m.id, m.name.clone())).collect::<Vec<_>>()))
    });
    let text = |label: &'static str, test: &'static str, list: &'static str, sig: RwSignal<String>| {
        view! {
            <label>{label}
                <input type="search" data-test=test placeholder="any" list=list autocomplete="off"
                    prop:value=move || sig.get() on:change=move |ev| sig.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <h1>"Admin"</h1>
        <AdminNav/>
        <div class="card filters audit-filters">
            {text("Machine", "audit-machine", "audit-machines", machine)}
            <datalist id="audit-machines">
                {move || live.machines.get().unwrap_or_default().into_iter().map(|m| view! { <option value=m.name></option> }).collect_view()}
            </datalist>
            <Show when=is_admin>
                {text("User", "audit-user", "audit-users", user)}
                <datalist id="audit-users">
                    {move || user_pairs().into_iter().map(|(_, n)| view! { <option value=n></option> }).collect_view()}
                </datalist>
            </Show>
            <label>"Tenant"
                <select data-test="audit-tenant" on:change=move |ev| tenant.set(event_target_value(&ev))>
                    <option value="">"any"</option>
                    {move || live.tenants.get().unwrap_or_default().into_iter().map(|t| view! {
                        <option value=t.id.to_string()>{t.name}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Action"
                <select data-test="audit-action" on:change=move |ev| kind.set(event_target_value(&ev))>
                    {KINDS.iter().map(|(v, label)| view! { <option value=*v>{*label}</option> }).collect_view()}
                </select>
            </label>
            <label>"From"
                <input type="datetime-local" data-test="audit-since" step="1"
                    prop:value=move || since.get() on:change=move |ev| since.set(event_target_value(&ev))/>
            </label>
            <label>"Until"
                <input type="datetime-local" data-test="audit-until" step="1"
                    prop:value=move || until.get() on:change=move |ev| until.set(event_target_value(&ev))/>
            </label>
            <a class="btn" data-test="audit-export" download="audit.jsonl"
                href=move || format!("/api/v1/audit/export?{}", query.get().unwrap_or_default())>"Export JSON lines"</a>
        </div>
        <ErrorBanner error=error/>
        {move || {
            // Drawn again when names arrive or change (a list loads after the log, a rename).
            live.tenants.track();
            live.nodes.track();
            machine_names.track();
            match entries.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(list) if list.is_empty() => view! { <p class="muted" data-test="audit-empty">"Nothing matches."</p> }.into_any(),
            Some(list) => view! { <AuditTable rows=fold(list) names=names() show_source=true/> }.into_any(),
            }
        }}
        <Show when=move || more.get()>
            <button class="btn" data-test="audit-older" on:click=older>"Show older entries"</button>
        </Show>
    }
}
