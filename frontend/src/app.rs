//! The app shell: routes, the login gate, and the page frame (header, navigation, link state).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;

use crate::api;
use crate::live::{LinkState, Live, use_live};
use crate::pages::dashboard::Dashboard;
use crate::pages::login::Login;
use crate::pages::machines::{MachineCreatePage, MachineDetail, MachineList};
use crate::theme::ThemeToggle;

#[component]
pub fn App() -> impl IntoView {
    let live = Live::new();
    provide_context(live);
    crate::components::Clock::provide();
    crate::theme::provide();
    // Whether we know yet if a session exists; pages wait for it instead of flashing login.
    let checked = RwSignal::new(false);
    spawn_local(async move {
        if let Ok(me) = api::session_get().await {
            live.logged_in(me);
        }
        checked.set(true);
    });

    view! {
        <Router>
            <Routes fallback=|| view! { <main class="page"><h1>"Not found"</h1><A href="/">"Back to the dashboard"</A></main> }>
                <Route path=path!("/login") view=Login/>
                // A pop-out console: behind the login, outside the app's frame.
                <Route path=path!("/machines/:id/console/:kind") view=move || view! {
                    <Gate checked><main class="popout" id="main"><crate::pages::machines::ConsolePage/></main></Gate>
                }/>
                <ParentRoute path=path!("") view=move || view! { <Shell checked/> }>
                    <Route path=path!("") view=Dashboard/>
                    <Route path=path!("machines") view=MachineList/>
                    <Route path=path!("machines/new") view=MachineCreatePage/>
                    // One route for every tab, so changing tabs keeps the page (and its header).
                    <Route path=path!("machines/:id/:tab?") view=MachineDetail/>
                    <Route path=path!("images") view=crate::pages::images::Images/>
                    <Route path=path!("tasks") view=crate::pages::tasks::Tasks/>
                    <Route path=path!("nodes/new") view=crate::pages::nodes::NodeEnrollPage/>
                    <Route path=path!("nodes/:id") view=crate::pages::node::NodePage/>
                    <Route path=path!("admin/tenants") view=crate::pages::admin::TenantsPage/>
                    <Route path=path!("admin/tenants/:id") view=crate::pages::admin::TenantPage/>
                    <Route path=path!("admin/users") view=crate::pages::admin::UsersPage/>
                    <Route path=path!("admin/audit") view=crate::pages::admin::AuditPage/>
                    <Route path=path!("account") view=crate::pages::account::AccountPage/>
                    // Behind the login and in the app's frame, so a wrong link still leaves
                    // the navigation at hand.
                    <Route path=path!("*any") view=NotFound/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// What only a logged-in user sees: `children` once the session is known to exist; the login
/// page (which returns here) once it is known not to.
#[component]
fn Gate(checked: RwSignal<bool>, children: ChildrenFn) -> impl IntoView {
    let live = use_live();
    // Where the login page sends the user back to once in.
    let location = leptos_router::hooks::use_location();
    let to_login = move || {
        let here = format!("{}{}", location.pathname.get_untracked(), location.search.get_untracked());
        let path = if here == "/" {
            "/login".to_string()
        } else {
            format!("/login?next={}", js_sys::encode_uri_component(&here))
        };
        view! { <Redirect path=path/> }
    };
    // A memo: the page below is rebuilt when the answer changes, not when `me` does.
    let gate = Memo::new(move |_| (checked.get(), live.me.with(Option::is_some)));
    move || match gate.get() {
        (false, _) => view! { <p class="page muted">"Loading…"</p> }.into_any(),
        (true, false) => to_login().into_any(),
        (true, true) => children().into_any(),
    }
}

/// Focuses the page's heading (else the page), as a page load would.
fn focus_heading() {
    use wasm_bindgen::JsCast;
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    // A page that put the focus in a field of its own (the login form, the create form)
    // keeps it there.
    let in_field = doc
        .active_element()
        .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
    if in_field {
        return;
    }
    let target = doc.query_selector("main h1").ok().flatten().or_else(|| doc.get_element_by_id("main"));
    if let Some(el) = target.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        if !el.has_attribute("tabindex") {
            let _ = el.set_attribute("tabindex", "-1");
        }
        let _ = el.focus();
    }
}

/// The frame of every page behind the login.
#[component]
fn Shell(checked: RwSignal<bool>) -> impl IntoView {
    let live = use_live();
    // A new page takes the focus to its heading, so keyboard and screen reader users start
    // at its top rather than on a link of the page they left. A machine's tabs are one page:
    // a tab click keeps the focus on the tabs.
    let path = leptos_router::hooks::use_location().pathname;
    Effect::new(move |before: Option<String>| {
        let page = corral_ui::nav::page_of(&path.get()).to_string();
        if before.is_some_and(|b| b != page) {
            // Once the new page has drawn its heading.
            set_timeout(focus_heading, std::time::Duration::from_millis(60));
        }
        page
    });
    // Admins, and owners of a tenant (they manage its members and read its audit log).
    let may_admin = move || {
        live.me.with(|m| {
            m.as_ref().is_some_and(|m| {
                m.is_admin || m.memberships.iter().any(|t| t.role == corral_api::session::Role::Owner)
            })
        })
    };
    // Forgetting the user is enough: the gate below then redirects to the login page.
    let logout = move |_| {
        spawn_local(async move {
            // Even if the server cannot be told, forget the user here.
            let _ = api::session_delete().await;
            live.logged_out();
        });
    };
    // The folded menu of a narrow screen closes once it has taken the user somewhere.
    let menu_open = RwSignal::new(false);
    let fold = move |_| menu_open.set(false);
    view! {
        <Gate checked>
                <a class="skip-link" href="#main">"Skip to content"</a>
                <header class="topbar">
                    <A href="/" attr:class="brand">"Corral"</A>
                    // Under ~700 px the rest folds behind this button (style/corral.css).
                    <button type="button" class="btn ghost menu-toggle" data-test="menu-toggle"
                        aria-controls="topnav" aria-expanded=move || menu_open.get().to_string()
                        on:click=move |_| menu_open.update(|o| *o = !*o)>"☰ Menu"</button>
                    <div id="topnav" class="topnav" class:open=move || menu_open.get()>
                        <nav aria-label="Main" on:click=fold>
                            <A href="/" exact=true>"Dashboard"</A>
                            <A href="/machines">"Machines"</A>
                            <A href="/images">"Images"</A>
                            <A href="/tasks">"Tasks"</A>
                            <Show when=may_admin>
                                <A href="/admin/tenants" attr:data-test="nav-admin">"Admin"</A>
                            </Show>
                        </nav>
                        <span class="spacer"></span>
                        <crate::components::CommandPalette/>
                        <TenantSwitch/>
                        <LinkIndicator/>
                        <ThemeToggle/>
                        <A href="/account" attr:class="user" attr:data-test="current-user" on:click=fold>
                            {move || live.me.with(|m| m.as_ref().map(|m| m.username.clone()).unwrap_or_default())}
                        </A>
                        <button class="btn ghost" data-test="logout" on:click=logout>"Log out"</button>
                    </div>
                </header>
                <Show when=move || live.refresh_error.with(Option::is_some)>
                    <div class="banner warn" role="status">
                        "Could not refresh: " {move || live.refresh_error.get().unwrap_or_default()}
                        " — showing the last data received."
                    </div>
                </Show>
                <main class="page" id="main" tabindex="-1"><Outlet/></main>
        </Gate>
    }
}

/// A path the app has no page for.
#[component]
fn NotFound() -> impl IntoView {
    crate::components::page_title(|| "Not found".to_string());
    view! {
        <h1>"Not found"</h1>
        <p class="muted" data-test="not-found">"There is no page at this address. It may have moved, or the link may be wrong."</p>
        <A href="/">"Back to the dashboard"</A>
    }
}

/// What the switch shows when the user works in every tenant they may see.
const ALL_TENANTS: &str = "All tenants";

/// Which tenant the user works in, for people in several (and admins): every tenant they may
/// see (all of them, for admins), found by typing part of its name. Focusing the field
/// empties it, so the whole list shows; leaving it without a choice puts back the current one.
#[component]
fn TenantSwitch() -> impl IntoView {
    let live = use_live();
    let choices = move || -> Vec<(corral_api::TenantId, String)> {
        let listed =
            live.tenants.with(|ts| ts.as_ref().map(|ts| ts.iter().map(|t| (t.id, t.name.clone())).collect()));
        listed.unwrap_or_else(|| {
            live.me.with(|m| {
                m.as_ref()
                    .map(|m| m.memberships.iter().map(|t| (t.tenant_id, t.tenant_name.clone())).collect())
                    .unwrap_or_default()
            })
        })
    };
    let wanted = move || live.me.with(|m| m.as_ref().is_some_and(|m| m.is_admin || m.memberships.len() > 1));
    let current = move || live.tenant.get().map_or_else(|| ALL_TENANTS.to_string(), |t| live.tenant_name(t));
    let text = RwSignal::new(String::new());
    Effect::new(move |_| text.set(current()));
    let choose = move |typed: String| {
        let typed = typed.trim();
        if typed.is_empty() || typed == ALL_TENANTS {
            live.switch_tenant(None);
        } else if let Some((id, _)) = choices().into_iter().find(|(_, name)| name == typed) {
            live.switch_tenant(Some(id));
        }
        text.set(current());
    };
    view! {
        <Show when=wanted>
            <input type="search" class="tenant-switch" data-test="tenant-switch" aria-label="Tenant"
                list="tenant-choices" placeholder="Find a tenant" autocomplete="off"
                prop:value=move || text.get()
                on:focus=move |_| text.set(String::new())
                on:input=move |ev| {
                    // A name picked from the list (or typed whole) takes effect at once.
                    let typed = event_target_value(&ev);
                    let whole = typed == ALL_TENANTS || choices().iter().any(|(_, n)| *n == typed);
                    if whole { choose(typed) } else { text.set(typed) }
                }
                on:change=move |ev| choose(event_target_value(&ev))
                on:blur=move |_| text.set(current())/>
            <datalist id="tenant-choices">
                <option value=ALL_TENANTS></option>
                {move || choices().into_iter().map(|(_, name)| view! { <option value=name></option> }).collect_view()}
            </datalist>
        </Show>
    }
}

/// Says honestly whether what is on screen is live.
#[component]
fn LinkIndicator() -> impl IntoView {
    let live = use_live();
    let (class, text, title) = (
        move || match live.link.get() {
            LinkState::Live => "link live",
            LinkState::Connecting => "link connecting",
            LinkState::Reconnecting => "link down",
        },
        move || match live.link.get() {
            LinkState::Live => "live",
            LinkState::Connecting => "connecting…",
            LinkState::Reconnecting => "reconnecting…",
        },
        move || match live.link.get() {
            LinkState::Live => "Updates arrive as they happen",
            _ => "Not receiving updates; what you see may be stale",
        },
    );
    view! { <span class=class title=title data-test="link-state">{text}</span> }
}
