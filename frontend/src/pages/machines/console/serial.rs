//! The serial console and a zone's shell: xterm.js fitted to its box, fed from the websocket.
//!
//! Serial: the page keeps the offset of the next byte it expects, so a reconnect replays
//! exactly what it missed from the node's history. One person types at a time; another may
//! take the line over. Shell: each viewer has a shell of their own, sized by the terminal,
//! which sends its new size (`{"resize": …}`) when the window changes; a reconnect is a new
//! shell.

use std::time::Duration;

use corral_api::MachineId;
use corral_api::console::{ConsoleControl, ConsoleKind, SerialHello, TermSize, close};
use corral_ui::links::{Dropped, Link, after};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use super::{LinkBadge, js, socket_url};
use crate::api;

#[derive(Default)]
struct Session {
    term: Option<js::Terminal>,
    fit: Option<js::FitAddon>,
    ws: Option<WebSocket>,
    /// The offset of the next byte; `None` before the first connection.
    next: Option<u64>,
    attempts: u32,
    leaving: bool,
    /// Kept alive for the terminal's and the window's lifetime.
    on_data: Option<Closure<dyn FnMut(String)>>,
    on_resize: Option<Closure<dyn FnMut()>>,
}

type Shared = StoredValue<Session, LocalStorage>;

/// Whether the console has been left: its component is gone (its stored values disposed,
/// which a late websocket or timer callback must not touch) or is going.
fn leaving(session: Shared) -> bool {
    session.try_with_value(|s| s.leaving).unwrap_or(true)
}

#[derive(Clone, Copy)]
struct Ctx {
    id: MachineId,
    /// `Serial` or `Shell`.
    kind: ConsoleKind,
    session: Shared,
    link: RwSignal<Link>,
    /// Someone else has the line (or took it): offer to take it.
    blocked: RwSignal<bool>,
}

fn connect(ctx: Ctx, takeover: bool) {
    let Ctx { id, kind, session, link, blocked } = ctx;
    if leaving(session) {
        return;
    }
    link.set(Link::Connecting);
    blocked.set(false);
    spawn_local(async move {
        let ticket = match api::console_ticket(id, kind).await {
            Ok(t) => t,
            Err(e) => {
                let (status, message) = super::refusal(&e);
                return retry(ctx, Dropped::TicketRefused { status, message: &message });
            }
        };
        // Left while the ticket was on its way: open nothing.
        if leaving(session) {
            return;
        }
        let mut query = format!("ticket={}", ticket.ticket);
        if kind == ConsoleKind::Shell {
            let size = session.with_value(term_size).unwrap_or(TermSize { cols: 80, rows: 24 });
            query.push_str(&format!("&cols={}&rows={}", size.cols, size.rows));
        } else if let Some(next) = session.with_value(|s| s.next) {
            query.push_str(&format!("&offset={next}"));
        }
        if takeover {
            query.push_str("&takeover=true");
        }
        let ws = match WebSocket::new(&socket_url(&ticket.path, &query)) {
            Ok(ws) => ws,
            Err(_) => {
                return retry(ctx, Dropped::TicketRefused { status: 0, message: "cannot open a websocket" });
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        // The terminal is written outside the session's borrow: xterm.js may answer what it
        // is given (a cursor position query) at once, through `on_data`, which borrows it too.
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // A message already queued when the console was left still arrives.
            if leaving(session) {
                return;
            }
            let data = e.data();
            let term = session.with_value(|s| s.term.clone());
            if let Some(text) = data.as_string() {
                // The hello: where this stream starts.
                let Ok(hello) = serde_json::from_str::<SerialHello>(&text) else { return };
                let lost = session.with_value(|s| s.next).filter(|next| hello.offset > *next);
                if let (Some(next), Some(term)) = (lost, &term) {
                    term.write_str(&format!(
                        "\r\n\x1b[2m[{} bytes of output scrolled out of the node's history]\x1b[0m\r\n",
                        hello.offset - next
                    ));
                }
                session.update_value(|s| {
                    s.next = Some(hello.offset);
                    s.attempts = 0;
                });
                link.set(Link::Connected);
            } else if let Ok(buf) = data.dyn_into::<js_sys::ArrayBuffer>() {
                let bytes = js_sys::Uint8Array::new(&buf);
                session.update_value(|s| s.next = Some(s.next.unwrap_or(0) + u64::from(bytes.length())));
                if let Some(term) = &term {
                    term.write(&bytes);
                }
            }
        });
        let _ = ws.add_event_listener_with_callback("message", on_message.into_js_value().unchecked_ref());
        if kind == ConsoleKind::Shell {
            // A shell has no hello: open is connected.
            let on_open = Closure::<dyn FnMut()>::new(move || {
                if leaving(session) {
                    return;
                }
                session.update_value(|s| s.attempts = 0);
                link.set(Link::Connected);
            });
            let _ = ws.add_event_listener_with_callback("open", on_open.into_js_value().unchecked_ref());
        }
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            if leaving(session) {
                return;
            }
            session.update_value(|s| s.ws = None);
            // Another person has the line: offer to take it over.
            if matches!(e.code(), close::IN_USE | close::TAKEN_OVER) {
                blocked.set(true);
            }
            retry(ctx, Dropped::Closed { code: e.code(), reason: &e.reason() });
        });
        let _ = ws.add_event_listener_with_callback("close", on_close.into_js_value().unchecked_ref());
        session.update_value(|s| s.ws = Some(ws));
    });
}

/// After a refusal or a close: retry later, wait for the machine to run (the component's
/// effect reconnects then), or stop, as `corral_ui::links::after` decides.
fn retry(ctx: Ctx, dropped: Dropped<'_>) {
    if leaving(ctx.session) {
        return;
    }
    let attempts = ctx.session.with_value(|s| s.attempts) + 1;
    ctx.session.update_value(|s| s.attempts = attempts);
    let next = after(dropped, attempts);
    if let Link::Closed { retry_in: Some(secs), .. } = next {
        set_timeout(move || connect(ctx, false), Duration::from_secs(u64::from(secs)));
    }
    ctx.link.set(next);
}

/// The terminal's size, once it has one.
fn term_size(s: &Session) -> Option<TermSize> {
    let t = s.term.as_ref()?;
    let (cols, rows) = (u16::try_from(t.cols()).ok()?, u16::try_from(t.rows()).ok()?);
    Some(TermSize { cols, rows }).filter(|s| s.is_sane())
}

/// Makes the terminal in `el`, sends what is typed to the open socket, keeps it fitted (and,
/// for a shell, tells the node its new size).
fn start_terminal(el: &web_sys::HtmlElement, session: Shared, kind: ConsoleKind) {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"cursorBlink".into(), &JsValue::TRUE);
    let _ = js_sys::Reflect::set(&options, &"scrollback".into(), &JsValue::from(5000));
    let _ = js_sys::Reflect::set(&options, &"convertEol".into(), &JsValue::FALSE);
    let term = js::Terminal::new(&options);
    let fit = js::FitAddon::new();
    term.load_addon(&fit);
    term.open(el);
    fit.fit();
    let on_data = Closure::<dyn FnMut(String)>::new(move |data: String| {
        session.with_value(|s| {
            if let Some(ws) = &s.ws
                && ws.ready_state() == WebSocket::OPEN
            {
                let _ = ws.send_with_u8_array(data.as_bytes());
            }
        });
    });
    term.on_data(&on_data);
    let on_resize = Closure::<dyn FnMut()>::new(move || {
        session.with_value(|s| {
            if let Some(fit) = &s.fit {
                fit.fit();
            }
            if kind == ConsoleKind::Shell
                && let (Some(ws), Some(size)) = (&s.ws, term_size(s))
                && ws.ready_state() == WebSocket::OPEN
                && let Ok(text) = serde_json::to_string(&ConsoleControl { resize: size })
            {
                let _ = ws.send_with_str(&text);
            }
        })
    });
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("resize", on_resize.as_ref().unchecked_ref());
    }
    term.focus();
    session.update_value(|s| {
        s.term = Some(term);
        s.fit = Some(fit);
        s.on_data = Some(on_data);
        s.on_resize = Some(on_resize);
    });
}

/// `kind`: `Serial` (the default) or `Shell`.
#[component]
pub fn SerialConsole(
    id: MachineId,
    #[prop(default = ConsoleKind::Serial)] kind: ConsoleKind,
) -> impl IntoView {
    let host = NodeRef::<html::Div>::new();
    let link = RwSignal::new(Link::Connecting);
    let blocked = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);
    let session: Shared = StoredValue::new_local(Session::default());
    let ctx = Ctx { id, kind, session, link, blocked };
    // A console waiting for its machine connects once the machine runs.
    super::reconnect_when_running(id, link, move || {
        session.update_value(|s| s.attempts = 0);
        connect(ctx, false);
    });
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        let Some(el) = host.get() else { return false };
        start_terminal(&el, session, kind);
        connect(ctx, false);
        true
    });
    on_cleanup(move || {
        session.update_value(|s| {
            s.leaving = true;
            if let Some(ws) = s.ws.take() {
                let _ = ws.close();
            }
            if let (Some(w), Some(cb)) = (web_sys::window(), &s.on_resize) {
                let _ = w.remove_event_listener_with_callback("resize", cb.as_ref().unchecked_ref());
            }
            if let Some(term) = s.term.take() {
                term.dispose();
            }
        });
    });
    let clipboard = || web_sys::window().map(|w| w.navigator().clipboard());
    let copy = move |_| {
        let text = session.with_value(|s| s.term.as_ref().map(|t| t.get_selection())).unwrap_or_default();
        if text.is_empty() {
            note.set(Some("Select text in the terminal first".into()));
            return;
        }
        if let Some(cb) = clipboard() {
            let _ = cb.write_text(&text);
            note.set(Some(format!("Copied {} characters", text.chars().count())));
        }
    };
    let paste = move |_| {
        let Some(cb) = clipboard() else { return };
        let promise = cb.read_text();
        spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(v) => {
                    let text = v.as_string().unwrap_or_default();
                    // Pasting types through `on_data` at once: outside the session's borrow.
                    if let Some(t) = session.with_value(|s| s.term.clone()) {
                        t.paste(&text);
                        t.focus();
                    }
                }
                Err(_) => note.set(Some("The browser did not allow reading the clipboard".into())),
            }
        });
    };
    let pop_out = move |_| {
        if let Some(w) = web_sys::window() {
            let url = format!("/machines/{id}/console/{}", kind.as_str());
            let _ = w.open_with_url_and_target_and_features(&url, "_blank", "popup,width=900,height=600");
        }
    };
    view! {
        <div class="console" data-test=format!("{}-console", kind.as_str())>
            <div class="console-bar">
                <LinkBadge link=link/>
                <Show when=move || blocked.get()>
                    <button class="btn primary" data-test="serial-takeover" on:click=move |_| connect(ctx, true)>"Take over"</button>
                </Show>
                <button class="btn" on:click=copy>"Copy"</button>
                <button class="btn" on:click=paste>"Paste"</button>
                <button class="btn" on:click=pop_out>"Pop out"</button>
                {move || note.get().map(|n| view! { <span class="muted small">{n}</span> })}
            </div>
            <div class="serial-screen" node_ref=host data-test=format!("{}-screen", kind.as_str())></div>
        </div>
    }
}
