//! A machine's consoles in the page: the graphical screen (noVNC) and the serial line
//! (xterm.js), each opened with a one-time ticket and reconnected with backoff when its link
//! drops (a guest reboot, a node that comes back). The connection state shown is the
//! websocket's own, with the server's close reason (`corral_ui::links` words it).

mod js;
mod serial;
mod vnc;

use corral_api::MachineId;
use corral_api::console::ConsoleKind;
use corral_ui::links::Link;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

pub use serial::SerialConsole;
pub use vnc::VncConsole;

/// The websocket URL of a console path, on the page's own host.
fn socket_url(path: &str, query: &str) -> String {
    let location = web_sys::window().map(|w| w.location());
    let proto = location.as_ref().and_then(|l| l.protocol().ok()).unwrap_or_default();
    let host = location.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
    let scheme = if proto == "https:" { "wss" } else { "ws" };
    format!("{scheme}://{host}{path}?{query}")
}

/// The badge's look for a link.
fn link_class(link: &Link) -> &'static str {
    match link {
        Link::Connecting => "badge",
        Link::Connected => "badge node-online",
        Link::Closed { .. } => "badge node-unreachable",
    }
}

#[component]
fn LinkBadge(link: RwSignal<Link>) -> impl IntoView {
    view! { <span class=move || link.with(link_class) data-test="console-link">{move || link.with(Link::label)}</span> }
}

/// Both consoles on the machine page, one at a time.
#[component]
/// A VM has a screen and a serial line; a zone has its console, served as a serial line.
pub fn ConsolePanel(id: MachineId, #[prop(default = true)] screen: bool) -> impl IntoView {
    let kind = RwSignal::new(None::<ConsoleKind>);
    let tab = move |k: ConsoleKind, label: &'static str| {
        view! {
            <button class=move || if kind.get() == Some(k) { "btn primary" } else { "btn" }
                data-test=format!("console-open-{}", k.as_str())
                on:click=move |_| kind.set(if kind.get_untracked() == Some(k) { None } else { Some(k) })>
                {label}
            </button>
        }
    };
    view! {
        <section class="card settings" data-test="consoles">
            <div class="page-head">
                <h2>"Console"</h2>
                <div class="actions">
                    {screen.then(|| tab(ConsoleKind::Vnc, "Screen"))}
                    {tab(ConsoleKind::Serial, if screen { "Serial" } else { "Console" })}
                    {(!screen).then(|| tab(ConsoleKind::Shell, "Shell"))}
                </div>
            </div>
            {move || match kind.get() {
                Some(ConsoleKind::Vnc) => view! { <VncConsole id=id/> }.into_any(),
                Some(ConsoleKind::Serial) => view! { <SerialConsole id=id/> }.into_any(),
                Some(ConsoleKind::Shell) => view! { <SerialConsole id=id kind=ConsoleKind::Shell/> }.into_any(),
                None if screen => view! { <p class="muted">"Open the screen or the serial line of the running machine."</p> }.into_any(),
                None => view! { <p class="muted">"Open the running zone's console (its init's output, shared by everyone watching) or a shell of your own in it."</p> }.into_any(),
            }}
        </section>
    }
}

/// `/machines/:id/console/:kind`: one console filling the page, for a pop-out window.
#[component]
pub fn ConsolePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<MachineId>().ok()));
    let kind = move || params.with(|p| p.get("kind").unwrap_or_default());
    // The pop-out window is told apart from the others by the machine it shows.
    let live = crate::live::use_live();
    crate::components::page_title(move || {
        let name = id().and_then(|id| live.machine(id)).map(|m| m.name).unwrap_or_else(|| "Machine".into());
        let what = match kind().as_str() {
            "vnc" => "screen",
            "shell" => "shell",
            _ => "console",
        };
        format!("{name} {what}")
    });
    move || match (id(), kind().as_str()) {
        (Some(id), "vnc") => view! { <VncConsole id=id/> }.into_any(),
        (Some(id), "serial") => view! { <SerialConsole id=id/> }.into_any(),
        (Some(id), "shell") => view! { <SerialConsole id=id kind=ConsoleKind::Shell/> }.into_any(),
        _ => view! { <p class="muted">"No such console."</p> }.into_any(),
    }
}
