//! App-wide live state, provided as context: who is logged in, the machines and nodes they
//! may see, and the events websocket that keeps them current without reloading.
//!
//! Lists are fetched once, then patched by events. When the socket drops, the lists are kept
//! (marked stale by the link indicator), and on reconnect they are fetched afresh, since
//! events sent while disconnected are lost. A failed refresh keeps the last good data.

use std::cell::{Cell, RefCell};

use corral_api::event::Event;
use corral_api::machine::Machine;
use corral_api::node::Node;
use corral_api::session::Me;
use corral_api::task::Task;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::api;

/// The events socket, as the header shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Live,
    Reconnecting,
}

#[derive(Clone, Copy)]
pub struct Live {
    pub me: RwSignal<Option<Me>>,
    pub machines: RwSignal<Option<Vec<Machine>>>,
    pub nodes: RwSignal<Option<Vec<Node>>>,
    /// Newest first.
    pub tasks: RwSignal<Option<Vec<Task>>>,
    pub link: RwSignal<LinkState>,
    /// The last refresh failed; the lists shown are the last good ones.
    pub refresh_error: RwSignal<Option<String>>,
    /// The tenant the user works in (lists show it, creates go to it); `None` is all of them.
    pub tenant: RwSignal<Option<corral_api::TenantId>>,
    /// The tenants the user may see (every tenant, for admins), by name.
    pub tenants: RwSignal<Option<Vec<corral_api::people::Tenant>>>,
    /// The node whose samples were stored last: live charts of it fetch again.
    pub sampled: RwSignal<Option<corral_api::NodeId>>,
}

thread_local! {
    static SOCKET: RefCell<Option<WebSocket>> = const { RefCell::new(None) };
    static ATTEMPTS: Cell<u32> = const { Cell::new(0) };
}

const TENANT_KEY: &str = "corral-tenant";

fn saved_tenant() -> Option<corral_api::TenantId> {
    let store = web_sys::window().and_then(|w| w.local_storage().ok().flatten())?;
    store.get_item(TENANT_KEY).ok().flatten()?.parse().ok()
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

impl Live {
    pub fn new() -> Self {
        Self {
            me: RwSignal::new(None),
            machines: RwSignal::new(None),
            nodes: RwSignal::new(None),
            tasks: RwSignal::new(None),
            link: RwSignal::new(LinkState::Connecting),
            refresh_error: RwSignal::new(None),
            tenant: RwSignal::new(saved_tenant()),
            tenants: RwSignal::new(None),
            sampled: RwSignal::new(None),
        }
    }

    /// Works in `tenant` from now on (remembered in this browser).
    pub fn switch_tenant(self, tenant: Option<corral_api::TenantId>) {
        if let Some(store) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = match tenant {
                Some(t) => store.set_item(TENANT_KEY, &t.to_string()),
                None => store.remove_item(TENANT_KEY),
            };
        }
        self.tenant.set(tenant);
    }

    /// Logged in: remember who, load the lists, open the socket.
    /// Whether the signed-in user's role in `tenant` is at least `need` (tracked), as the
    /// server's policy reads it: what this says no to, the UI does not offer.
    pub fn may(self, tenant: Option<corral_api::TenantId>, need: corral_api::session::Role) -> bool {
        self.me.with(|m| m.as_ref().is_some_and(|m| m.may(tenant, need)))
    }

    pub fn logged_in(self, me: Me) {
        self.me.set(Some(me));
        self.refresh();
        self.connect();
    }

    /// Logged out (or the session ended): forget everything the user could see.
    pub fn logged_out(self) {
        self.me.set(None);
        self.machines.set(None);
        self.nodes.set(None);
        self.tasks.set(None);
        self.tenants.set(None);
        SOCKET.with(|s| {
            if let Some(ws) = s.borrow_mut().take() {
                let _ = ws.close();
            }
        });
    }

    pub fn refresh(self) {
        spawn_local(async move {
            let (machines, nodes, tasks) =
                (api::machine_list().await, api::node_list().await, api::task_list().await);
            match (machines, nodes, tasks) {
                (Ok(m), Ok(n), Ok(t)) => {
                    self.machines.set(Some(m));
                    self.nodes.set(Some(n));
                    self.tasks.set(Some(t));
                    self.refresh_error.set(None);
                    // Names only: without them, tenants show by id.
                    if let Ok(t) = api::tenant_list().await {
                        self.tenants.set(Some(t));
                    }
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) if e.is_unauthenticated() => {
                    self.logged_out()
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    self.refresh_error.set(Some(e.to_string()))
                }
            }
        });
    }

    /// A tenant's name (tracked), if the user's memberships or the tenant list have it.
    pub fn tenant_name_known(self, id: corral_api::TenantId) -> Option<String> {
        let member = self.me.with(|m| {
            m.as_ref()
                .and_then(|m| m.memberships.iter().find(|t| t.tenant_id == id).map(|t| t.tenant_name.clone()))
        });
        member.or_else(|| {
            self.tenants.with(|ts| ts.as_ref()?.iter().find(|t| t.id == id).map(|t| t.name.clone()))
        })
    }

    /// A tenant's name (tracked), or the start of its id while names are not loaded.
    pub fn tenant_name(self, id: corral_api::TenantId) -> String {
        self.tenant_name_known(id).unwrap_or_else(|| format!("tenant {}", &id.to_string()[..8]))
    }

    pub fn machine(self, id: corral_api::MachineId) -> Option<Machine> {
        self.machines.with(|ms| ms.as_ref().and_then(|ms| ms.iter().find(|m| m.id == id).cloned()))
    }

    /// Puts a machine the server just returned into the list (before its event arrives).
    pub fn upsert_machine(self, m: Machine) {
        self.apply(Event::MachineUpdated { machine: m });
    }

    /// Patches the list the event touches (`corral_ui::lists` says how). A list not loaded
    /// yet stays unloaded: a one-row list made by an event would look complete.
    pub fn apply(self, ev: Event) {
        use corral_ui::lists;
        match ev {
            Event::MachineUpdated { machine } => self.machines.update(|ms| {
                if let Some(ms) = ms {
                    lists::machine_upsert(ms, machine)
                }
            }),
            Event::MachineRemoved { id } => self.machines.update(|ms| {
                if let Some(ms) = ms {
                    lists::machine_remove(ms, id)
                }
            }),
            Event::TaskUpdated { task } => self.tasks.update(|ts| {
                if let Some(ts) = ts {
                    lists::task_upsert(ts, task)
                }
            }),
            Event::NodeUpdated { node } => self.nodes.update(|ns| {
                if let Some(ns) = ns {
                    lists::node_upsert(ns, node)
                }
            }),
            // Set even when it is the same node again: each is news.
            Event::Sampled { node_id } => self.sampled.set(Some(node_id)),
        }
    }

    fn connect(self) {
        let Some(url) = events_url() else { return };
        let Ok(ws) = WebSocket::new(&url) else {
            self.schedule_reconnect();
            return;
        };
        // The closures live as long as the socket; a socket is made once per (re)connect, so
        // leaking them costs a few bytes per reconnect and saves tracking their lifetimes.
        let on_open = Closure::<dyn FnMut()>::new(move || {
            ATTEMPTS.with(|a| a.set(0));
            self.link.set(LinkState::Live);
            // Events sent before the socket opened are lost: fetch to be sure.
            self.refresh();
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(text) = e.data().as_string() {
                match serde_json::from_str::<Event>(&text) {
                    Ok(ev) => self.apply(ev),
                    Err(err) => leptos::logging::warn!("unreadable event: {err}"),
                }
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_e: CloseEvent| {
            SOCKET.with(|s| s.borrow_mut().take());
            if self.me.get_untracked().is_some() {
                self.link.set(LinkState::Reconnecting);
                self.schedule_reconnect();
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_open.forget();
        on_message.forget();
        on_close.forget();
        SOCKET.with(|s| *s.borrow_mut() = Some(ws));
    }

    /// Reconnects after 0.5 s, 1 s, 2 s … up to 15 s. A session that ended shows as a
    /// refresh that says so, which sends the user to the login page.
    fn schedule_reconnect(self) {
        let n = ATTEMPTS.with(|a| {
            let n = a.get();
            a.set(n.saturating_add(1));
            n
        });
        set_timeout(
            move || {
                if self.me.get_untracked().is_none() {
                    return;
                }
                spawn_local(async move {
                    match api::session_get().await {
                        Ok(_) => self.connect(),
                        Err(e) if e.is_unauthenticated() => self.logged_out(),
                        Err(_) => self.schedule_reconnect(),
                    }
                });
            },
            corral_ui::links::events_reconnect_delay(n),
        );
    }
}

fn events_url() -> Option<String> {
    let loc = web_sys::window()?.location();
    let scheme = if loc.protocol().ok()? == "https:" { "wss" } else { "ws" };
    Some(format!("{scheme}://{}{}", loc.host().ok()?, corral_api::paths::EVENTS))
}
