//! A machine's boot order, CD drive and network: change the boot order (from the next boot),
//! insert an ISO or eject it (also while the machine runs).

use corral_api::MachineId;
use corral_api::bridge::BootDevice;
use corral_api::machine::{Machine, MachineUpdate};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::ErrorBanner;
use crate::live::use_live;

/// The boot orders offered, as (value, label, devices). The empty order is the default.
pub const BOOT_ORDERS: &[(&str, &str, &[BootDevice])] = &[
    ("", "CD (when inserted), then disk", &[]),
    ("disk", "Disk only", &[BootDevice::Disk]),
    ("cdrom", "CD only", &[BootDevice::Cdrom]),
    ("disk,cdrom", "Disk, then CD", &[BootDevice::Disk, BootDevice::Cdrom]),
    ("network,disk", "Network (PXE), then disk", &[BootDevice::Network, BootDevice::Disk]),
];

/// The select value of a boot order.
pub fn boot_value(order: &[BootDevice]) -> String {
    order.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(",")
}

/// The boot order of a select value.
pub fn boot_order(value: &str) -> Vec<BootDevice> {
    BOOT_ORDERS.iter().find(|(v, _, _)| *v == value).map(|(_, _, d)| d.to_vec()).unwrap_or_default()
}

/// Describes an order that may not be one of the presets (set through the API).
fn boot_label(order: &[BootDevice]) -> String {
    match BOOT_ORDERS.iter().find(|(_, _, d)| *d == order) {
        Some((_, label, _)) => label.to_string(),
        None => order.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", then "),
    }
}

#[component]
pub fn DevicesPanel(id: MachineId, machine: Memo<Option<Machine>>) -> impl IntoView {
    let live = use_live();
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let isos = LocalResource::new(api::image_list);
    let node_isos = move || {
        let node = machine.with(|m| m.as_ref().map(|m| m.node_id));
        isos.get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(|i| Some(i.node_id) == node && i.image.format == "iso")
            .map(|i| i.image.name)
            .collect::<Vec<_>>()
    };
    let insert_choice = RwSignal::new(String::new());
    let update = move |req: MachineUpdate| {
        busy.set(true);
        spawn_local(async move {
            match api::machine_update(id, &req).await {
                Ok(m) => {
                    error.set(None);
                    live.upsert_machine(m);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let field =
        move |f: fn(&Machine) -> String| move || machine.with(|m| m.as_ref().map(f).unwrap_or_default());
    view! {
        <section class="card settings" data-test="devices">
            <h2>"Boot and media"</h2>
            <dl class="summary">
                <dt>"Boot order"</dt>
                <dd data-test="boot-order">{field(|m| boot_label(&m.boot_order))}</dd>
                <dt>"CD drive"</dt>
                <dd data-test="cdrom">{field(|m| m.cdrom.clone().unwrap_or_else(|| "empty".into()))}</dd>
                <dt>"Network"</dt>
                <dd data-test="network">{field(|m| match &m.host_bridge {
                    Some(b) => format!("host bridge {b}"),
                    None => "user-mode (NAT), with the port forwards above".into(),
                })}</dd>
            </dl>
            <div class="inline-form">
                <label>"Boot order"
                    <select data-test="boot-order-select" disabled=move || busy.get()
                        prop:value=move || machine.with(|m| m.as_ref().map(|m| boot_value(&m.boot_order)).unwrap_or_default())
                        on:change=move |ev| update(MachineUpdate {
                            boot_order: Some(boot_order(&event_target_value(&ev))),
                            ..Default::default()
                        })>
                        {BOOT_ORDERS.iter().map(|(v, label, _)| view! { <option value=*v>{*label}</option> }).collect_view()}
                    </select>
                </label>
                {move || match machine.with(|m| m.as_ref().and_then(|m| m.cdrom.clone())) {
                    Some(_) => view! {
                        <button class="btn" data-test="cdrom-eject" disabled=move || busy.get()
                            title="Also while it runs: the disc is pulled out even if the guest holds it"
                            on:click=move |_| update(MachineUpdate { cdrom: Some(None), ..Default::default() })>
                            "Eject CD"
                        </button>
                    }.into_any(),
                    None => view! {
                        <label>"Insert ISO"
                            <select data-test="cdrom-choice" on:change=move |ev| insert_choice.set(event_target_value(&ev))>
                                <option value="">"choose an ISO on this node"</option>
                                {move || node_isos().into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                            </select>
                        </label>
                        <button class="btn" data-test="cdrom-insert"
                            disabled=move || busy.get() || insert_choice.get().is_empty()
                            on:click=move |_| update(MachineUpdate {
                                cdrom: Some(Some(insert_choice.get_untracked())),
                                ..Default::default()
                            })>
                            "Insert"
                        </button>
                    }.into_any(),
                }}
            </div>
            <ErrorBanner error=error/>
        </section>
    }
}
