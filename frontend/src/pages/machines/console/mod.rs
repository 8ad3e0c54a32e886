//! A machine's consoles in the page: the graphical screen (noVNC) and the serial line
//! (xterm.js), each opened with a one-time ticket and reconnected with backoff when its link
//! drops (a guest reboot, a node that comes back). The connection state shown is the
//! websocket's own, with the server's close reason (`corral_ui::links` words it).

mod js;
mod serial;
mod vnc;

use corral_api::MachineId;
use corral_api::console::ConsoleKind;
use corral_api::machine::MachineState;
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

/// A refused ticket as `corral_ui::links::Dropped` reads it: the HTTP status (0 for no
/// answer) and the server's words.
fn refusal(e: &crate::api::ClientError) -> (u16, String) {
    match e {
        crate::api::ClientError::Api { status, body } => (*status, body.message.clone()),
        other => (0, other.to_string()),
    }
}

/// Runs `reconnect` whenever machine `id` is seen running while `link` waits for it to start.
fn reconnect_when_running(id: MachineId, link: RwSignal<Link>, reconnect: impl Fn() + 'static) {
    let live = crate::live::use_live();
    let running = Memo::new(move |_| live.machine(id).is_some_and(|m| m.state == MachineState::Running));
    Effect::new(move |_| {
        if running.get() && link.with_untracked(Link::waits_for_start) {
            reconnect();
        }
    });
}

/// The badge's look for a link.
fn link_class(link: &Link) -> &'static str {
    match link {
        Link::Connecting => "badge",
        Link::Connected => "badge node-online",
        Link::Closed { .. } => "badge node-unreachable",
        Link::WaitingForStart { .. } => "badge",
    }
}

#[component]
fn LinkBadge(link: RwSignal<Link>) -> impl IntoView {
    view! { <span class=move || link.with(link_class) data-test="console-link">{move || link.with(Link::label)}</span> }
}

/// The console tab: a VM's screen and serial line, a zone's console and shell, one at a time.
/// The screen (a zone's console) opens by itself when the tab is shown on a running machine;
/// on a stopped one nothing is tried until the user asks.
#[component]
pub fn ConsolePanel(
    id: MachineId,
    /// A VM has a screen and a serial line; a zone has its console, served as a serial line.
    #[prop(default = true)]
    screen: bool,
    #[prop(into)] state: Signal<MachineState>,
) -> impl IntoView {
    let first = if screen { ConsoleKind::Vnc } else { ConsoleKind::Serial };
    let kind = RwSignal::new((state.get_untracked() == MachineState::Running).then_some(first));
    let tab = move |k: ConsoleKind, label: &'static str| {
        view! {
            <button class=move || if kind.get() == Some(k) { "btn primary" } else { "btn" }
                aria-pressed=move || (kind.get() == Some(k)).to_string()
                data-test=format!("console-open-{}", k.as_str())
                on:click=move |_| kind.set(Some(k))>
                {label}
            </button>
        }
    };
    view! {
        <section class="card settings console-tab" data-test="consoles">
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

/// `/machines/:id/console/:kind`: one console filling a pop-out window, under its machine's
/// name and state, without the app's header.
#[component]
pub fn ConsolePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<MachineId>().ok()));
    let kind = move || params.with(|p| p.get("kind").unwrap_or_default());
    // The pop-out window is told apart from the others by the machine it shows.
    let live = crate::live::use_live();
    let name =
        move || id().and_then(|id| live.machine(id)).map(|m| m.name).unwrap_or_else(|| "Machine".into());
    let what = move || match kind().as_str() {
        "vnc" => "screen",
        "shell" => "shell",
        _ => "console",
    };
    crate::components::page_title(move || format!("{} {}", name(), what()));
    let state = Signal::derive(move || {
        id().and_then(|id| live.machine(id)).map_or(MachineState::Unknown, |m| m.state)
    });
    let console = move || match (id(), kind().as_str()) {
        (Some(id), "vnc") => view! { <VncConsole id=id/> }.into_any(),
        (Some(id), "serial") => view! { <SerialConsole id=id/> }.into_any(),
        (Some(id), "shell") => view! { <SerialConsole id=id kind=ConsoleKind::Shell/> }.into_any(),
        _ => view! { <p class="muted">"No such console."</p> }.into_any(),
    };
    view! {
        <div class="page-head">
            <h1 data-test="popout-title">{name} " · " {what}</h1>
            <crate::components::StateBadge state=state/>
        </div>
        {console}
    }
}
