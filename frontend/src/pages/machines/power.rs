//! A machine's power and delete controls: Start, a split "Shut down ▾" button (a clean
//! shutdown, or from its menu power off, reboot, reset), Pause or Resume, and Delete. Every
//! action that interrupts the guest asks first, naming the machine and what will happen; a
//! delete asks for the machine's name.

use corral_api::MachineId;
use corral_api::machine::{Machine, MachineState};
use corral_api::spec::{MachineKind, PowerAction};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::{Confirm, ConfirmDialog, ErrorBanner};
use crate::live::use_live;

/// What waits for a yes: the actions that interrupt the guest.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Asked {
    Shutdown,
    PowerOff,
    Reboot,
    Reset,
    /// `force`: it is not stopped, so it is powered off first.
    Delete {
        force: bool,
    },
}

/// The question for `asked` about `m`.
fn question(m: &Machine, asked: Asked) -> Confirm<Asked> {
    let name = &m.name;
    let guest = if m.kind == MachineKind::Zone { "zone's init" } else { "guest" };
    let (title, body, action) = match asked {
        Asked::Shutdown => (
            format!("Shut down {name}?"),
            format!(
                "The {guest} is asked to shut down; it is powered off if it has not within the node's \
                 timeout. Its consoles close."
            ),
            "Shut down",
        ),
        Asked::PowerOff => (
            format!("Power off {name} now?"),
            format!(
                "Like pulling the plug: the {guest} is not asked, and whatever it had not written \
                 to disk is lost."
            ),
            "Power off",
        ),
        Asked::Reboot => (
            format!("Reboot {name}?"),
            format!("The {guest} is asked to restart; what it serves is down until it is back."),
            "Reboot",
        ),
        Asked::Reset => (
            format!("Reset {name}?"),
            "A hard reset, like the reset button: it restarts at once without shutting down, and \
             whatever was not on disk is lost."
                .to_string(),
            "Reset",
        ),
        Asked::Delete { force } => {
            let body = format!(
                "Its disks and snapshots are removed. This cannot be undone.{}",
                if force { " It is not stopped, so it is powered off first." } else { "" }
            );
            return Confirm::new(format!("Delete {name}?"), body, "Delete", asked).typing(name.clone());
        }
    };
    Confirm::new(title, body, action, asked)
}

/// A guest is up, or on its way: a shutdown means something.
fn running(s: MachineState) -> bool {
    matches!(
        s,
        MachineState::Running | MachineState::Starting | MachineState::Rebooting | MachineState::Paused
    )
}

#[component]
pub fn PowerActions(
    id: MachineId,
    machine: Memo<Option<Machine>>,
    state: Signal<MachineState>,
    /// Set once the machine is deleted (the page then leaves).
    deleted: RwSignal<bool>,
    /// Deleting needs the owner role; powering, which this is shown for, the operator role.
    may_delete: Signal<bool>,
) -> impl IntoView {
    let live = use_live();
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let pending = RwSignal::new(None::<Confirm<Asked>>);
    let menu = NodeRef::<html::Details>::new();

    let run = move |action: PowerAction| {
        busy.set(true);
        spawn_local(async move {
            match api::machine_power(id, action).await {
                Ok(m) => {
                    error.set(None);
                    live.upsert_machine(m);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let delete = move |force: bool| {
        busy.set(true);
        spawn_local(async move {
            match api::machine_delete(id, force).await {
                // No upsert: the removal may have arrived already and must not be undone.
                Ok(_) => {
                    error.set(None);
                    deleted.set(true);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let ask = move |asked: Asked| {
        move |_: leptos::ev::MouseEvent| {
            if let Some(d) = menu.get_untracked() {
                d.set_open(false);
            }
            machine.with_untracked(|m| pending.set(m.as_ref().map(|m| question(m, asked))));
        }
    };
    let on_confirm = move |asked: Asked| match asked {
        Asked::Shutdown => run(PowerAction::Stop),
        Asked::PowerOff => run(PowerAction::ForceStop),
        Asked::Reboot => run(PowerAction::Reboot),
        Asked::Reset => run(PowerAction::Reset),
        Asked::Delete { force } => delete(force),
    };
    let can = move |ok: fn(MachineState) -> bool| move || busy.get() || !ok(state.get());
    let not_stopped =
        move || !matches!(state.get(), MachineState::Stopped | MachineState::Failed | MachineState::Lost);

    view! {
        <div class="actions" role="group" aria-label="Power">
            <button class="btn primary" data-test="action-start" on:click=move |_| run(PowerAction::Start)
                disabled=can(|s| matches!(s, MachineState::Stopped | MachineState::Failed))>"Start"</button>
            <div class="split">
                <button class="btn" data-test="action-stop" on:click=ask(Asked::Shutdown)
                    disabled=can(running)>"Shut down"</button>
                <details class="menu" node_ref=menu>
                    <summary class="btn" data-test="power-menu" aria-label="More power actions">"▾"</summary>
                    <div class="menu-items card">
                        <button class="btn ghost" data-test="action-force-stop" on:click=ask(Asked::PowerOff)
                            disabled=can(|s| running(s) || s == MachineState::Stopping)>"Power off now"</button>
                        <button class="btn ghost" data-test="action-reboot" on:click=ask(Asked::Reboot)
                            disabled=can(|s| s == MachineState::Running)>"Reboot"</button>
                        <button class="btn ghost" data-test="action-reset" on:click=ask(Asked::Reset)
                            disabled=can(|s| s == MachineState::Running)>"Reset"</button>
                    </div>
                </details>
            </div>
            {move || if state.get() == MachineState::Paused {
                view! {
                    <button class="btn" data-test="action-resume" on:click=move |_| run(PowerAction::Resume)
                        disabled=move || busy.get()>"Resume"</button>
                }.into_any()
            } else {
                view! {
                    <button class="btn" data-test="action-pause" on:click=move |_| run(PowerAction::Pause)
                        title="Halt its CPUs, keeping memory"
                        disabled=can(|s| s == MachineState::Running)>"Pause"</button>
                }.into_any()
            }}
            <Show when=move || may_delete.get()>
                <button class="btn danger" data-test="action-delete"
                    on:click=move |ev| ask(Asked::Delete { force: not_stopped() })(ev)
                    disabled=can(|s| !matches!(s, MachineState::Creating | MachineState::Deleting | MachineState::Unknown))>"Delete…"</button>
            </Show>
        </div>
        <ConfirmDialog pending=pending on_confirm=on_confirm/>
        <ErrorBanner error=error/>
    }
}
