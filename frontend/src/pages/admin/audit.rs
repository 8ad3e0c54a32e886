//! The audit log, newest first, filtered by tenant, user or machine, with a JSON-lines export
//! of the same filter.

use leptos::prelude::*;

use super::AdminNav;
use crate::api;

#[component]
pub fn AuditPage() -> impl IntoView {
    crate::components::page_title(|| "Audit log".to_string());
    let tenant = RwSignal::new(String::new());
    let user = RwSignal::new(String::new());
    let machine = RwSignal::new(String::new());
    let query = move || {
        let mut q = Vec::new();
        for (k, v) in [("tenant_id", tenant.get()), ("user_id", user.get()), ("machine_id", machine.get())] {
            if !v.trim().is_empty() {
                q.push(format!("{k}={}", v.trim()));
            }
        }
        q.join("&")
    };
    let entries = LocalResource::new(move || {
        let q = query();
        async move { api::audit_list(&q).await }
    });
    let field = |label: &'static str, test: &'static str, sig: RwSignal<String>| {
        view! {
            <label>{label}<input data-test=test placeholder="any" prop:value=move || sig.get() on:change=move |ev| sig.set(event_target_value(&ev))/></label>
        }
    };
    view! {
        <h1>"Admin"</h1>
        <AdminNav/>
        <div class="card inline-form">
            {field("Tenant id", "audit-tenant", tenant)}
            {field("User id", "audit-user", user)}
            {field("Machine id", "audit-machine", machine)}
            <a class="btn" data-test="audit-export" href=move || format!("/api/v1/audit/export?{}", query()) download="audit.jsonl">"Export JSON lines"</a>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match entries.await {
                    Err(e) => view! { <p class="banner error">{e.to_string()}</p> }.into_any(),
                    Ok(list) => view! {
                        // Focusable: on a phone the wide table scrolls in its box, by keyboard too.
                        <table class="table" data-test="audit-table" tabindex="0" aria-label="Audit log">
                            <thead><tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Result"</th><th>"From"</th></tr></thead>
                            <tbody>{list.into_iter().map(|e| {
                                let action = e.action.clone();
                                view! {
                                <tr data-test="audit-row" data-action=action>
                                    <td class="small">{e.at}</td>
                                    <td>{e.username.unwrap_or_default()}{e.token_id.map(|t| format!(" (token {t})"))}</td>
                                    <td class="mono">{e.action}</td>
                                    <td class="mono small">{e.target.unwrap_or_default()}</td>
                                    <td>{e.result}</td>
                                    <td class="small">{e.source.unwrap_or_default()}</td>
                                </tr>
                            }}).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
