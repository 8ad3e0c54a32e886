//! The graphical console: noVNC on a websocket the page opens itself (so it can show the
//! server's close reason), scaled to fit or 1:1, full screen or popped out, with key
//! combinations and text typed as keystrokes.

use std::time::Duration;

use corral_api::MachineId;
use corral_api::console::ConsoleKind;
use corral_ui::keys;
use corral_ui::links::{Dropped, Link, after};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, WebSocket};

use super::{LinkBadge, js, socket_url};
use crate::api;

#[derive(Default)]
struct Session {
    rfb: Option<js::Rfb>,
    attempts: u32,
    /// The component is gone: no more reconnects.
    leaving: bool,
}

type Shared = StoredValue<Session, LocalStorage>;

/// Whether the console has been left: its component is gone (its stored values disposed,
/// which a late websocket or timer callback must not touch) or is going.
fn leaving(session: Shared) -> bool {
    session.try_with_value(|s| s.leaving).unwrap_or(true)
}

fn connect(
    id: MachineId,
    session: Shared,
    screen: NodeRef<html::Div>,
    link: RwSignal<Link>,
    scale: RwSignal<bool>,
) {
    if leaving(session) {
        return;
    }
    link.set(Link::Connecting);
    spawn_local(async move {
        let ticket = match api::console_ticket(id, ConsoleKind::Vnc).await {
            Ok(t) => t,
            Err(e) => {
                let (status, message) = super::refusal(&e);
                return retry(
                    id,
                    session,
                    screen,
                    link,
                    scale,
                    Dropped::TicketRefused { status, message: &message },
                );
            }
        };
        // Left while the ticket was on its way: open nothing.
        if leaving(session) {
            return;
        }
        let Some(target) = screen.get_untracked() else { return };
        let url = socket_url(&ticket.path, &format!("ticket={}", ticket.ticket));
        let ws = match WebSocket::new_with_str(&url, "binary") {
            Ok(ws) => ws,
            Err(_) => {
                let dropped = Dropped::TicketRefused { status: 0, message: "cannot open a websocket" };
                return retry(id, session, screen, link, scale, dropped);
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            if leaving(session) {
                return;
            }
            session.update_value(|s| s.rfb = None);
            retry(id, session, screen, link, scale, Dropped::Closed { code: e.code(), reason: &e.reason() });
        });
        let _ = ws.add_event_listener_with_callback("close", on_close.into_js_value().unchecked_ref());
        // A reconnect starts from an empty screen: the old canvas goes.
        target.set_inner_html("");
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"shared".into(), &JsValue::TRUE);
        let rfb = match js::Rfb::new(&target, &ws, &options) {
            Ok(r) => r,
            Err(e) => {
                link.set(Link::Closed { reason: format!("noVNC failed: {e:?}"), retry_in: None });
                return;
            }
        };
        rfb.set_scale_viewport(scale.get_untracked());
        let on_connect = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if leaving(session) {
                return;
            }
            session.update_value(|s| s.attempts = 0);
            link.set(Link::Connected);
        });
        let _ = rfb.add_event_listener_with_callback("connect", on_connect.into_js_value().unchecked_ref());
        session.update_value(|s| s.rfb = Some(rfb));
    });
}

/// After a refusal or a close: retry later, wait for the machine to run (the component's
/// effect reconnects then), or stop, as `corral_ui::links::after` decides.
fn retry(
    id: MachineId,
    session: Shared,
    screen: NodeRef<html::Div>,
    link: RwSignal<Link>,
    scale: RwSignal<bool>,
    dropped: Dropped<'_>,
) {
    if leaving(session) {
        return;
    }
    let attempts = session.with_value(|s| s.attempts) + 1;
    session.update_value(|s| s.attempts = attempts);
    let next = after(dropped, attempts);
    if let Link::Closed { retry_in: Some(secs), .. } = next {
        set_timeout(move || connect(id, session, screen, link, scale), Duration::from_secs(u64::from(secs)));
    }
    link.set(next);
}

#[component]
pub fn VncConsole(id: MachineId) -> impl IntoView {
    let screen = NodeRef::<html::Div>::new();
    let frame = NodeRef::<html::Div>::new();
    let link = RwSignal::new(Link::Connecting);
    let scale = RwSignal::new(true);
    let text = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let session: Shared = StoredValue::new_local(Session::default());
    // A screen waiting for its machine connects once the machine runs.
    super::reconnect_when_running(id, link, move || {
        session.update_value(|s| s.attempts = 0);
        connect(id, session, screen, link, scale);
    });
    Effect::new(move |started: Option<bool>| {
        if started != Some(true) && screen.get().is_some() {
            connect(id, session, screen, link, scale);
            return true;
        }
        started.unwrap_or(false)
    });
    on_cleanup(move || {
        session.update_value(|s| {
            s.leaving = true;
            if let Some(rfb) = s.rfb.take() {
                rfb.disconnect();
            }
        });
    });
    let with_rfb = move |f: &dyn Fn(&js::Rfb)| {
        session.with_value(|s| {
            if let Some(r) = &s.rfb {
                f(r);
                r.focus();
            }
        })
    };
    let press = move |keys: Vec<keys::Key>| {
        with_rfb(&|r| {
            for (sym, code) in &keys {
                r.send_key(*sym, code, true);
            }
            for (sym, code) in keys.iter().rev() {
                r.send_key(*sym, code, false);
            }
        })
    };
    let type_text = move |_| {
        let (events, skipped) = keys::keystrokes(&text.get_untracked());
        with_rfb(&|r| {
            for ((sym, code), down) in &events {
                r.send_key(*sym, code, *down);
            }
        });
        note.set(
            (skipped > 0)
                .then(|| format!("{skipped} characters have no key on a US keyboard and were skipped")),
        );
    };
    let full_screen = move |_| {
        if let Some(el) = frame.get_untracked() {
            let _ = el.request_fullscreen();
        }
    };
    let pop_out = move |_| {
        if let Some(w) = web_sys::window() {
            let url = format!("/machines/{id}/console/vnc");
            let _ = w.open_with_url_and_target_and_features(&url, "_blank", "popup,width=1060,height=840");
        }
    };
    view! {
        <div class="console" node_ref=frame data-test="vnc-console">
            <div class="console-bar">
                <LinkBadge link=link/>
                <label class="check">
                    <input type="checkbox" data-test="vnc-scale" prop:checked=move || scale.get()
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            scale.set(on);
                            with_rfb(&|r| r.set_scale_viewport(on));
                        }/>
                    "Scale to fit"
                </label>
                <button class="btn" data-test="vnc-ctrl-alt-del" on:click=move |_| with_rfb(&|r| r.send_ctrl_alt_del())>"Ctrl-Alt-Del"</button>
                <select data-test="vnc-keys" aria-label="Send keys" on:change=move |ev| {
                    let label = event_target_value(&ev);
                    if let Some((_, ks)) = keys::combos().into_iter().find(|(l, _)| *l == label) {
                        press(ks);
                    }
                    if let Some(sel) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok()) {
                        sel.set_value("");
                    }
                }>
                    <option value="">"Send keys…"</option>
                    {keys::combos().into_iter().map(|(l, _)| view! { <option value=l>{l}</option> }).collect_view()}
                </select>
                <button class="btn" on:click=full_screen>"Full screen"</button>
                <button class="btn" on:click=pop_out>"Pop out"</button>
            </div>
            <div class="vnc-screen" node_ref=screen data-test="vnc-screen"></div>
            <div class="console-bar">
                <input class="grow" data-test="vnc-text" placeholder="Text to type into the guest (US keyboard)"
                    prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
                <button class="btn" data-test="vnc-type" on:click=type_text>"Type it"</button>
                <button class="btn" data-test="vnc-type-enter" on:click=move |_| press(vec![keys::ENTER])>"Enter"</button>
                {move || note.get().map(|n| view! { <span class="muted small">{n}</span> })}
            </div>
        </div>
    }
}
