//! A machine's state as a coloured badge; transitional states pulse.

use corral_api::machine::MachineState;
use leptos::prelude::*;

#[component]
pub fn StateBadge(#[prop(into)] state: Signal<MachineState>) -> impl IntoView {
    let class = move || {
        let s = state.get();
        format!("badge state-{}{}", s.as_str(), if s.is_transitional() { " pulse" } else { "" })
    };
    view! { <span class=class data-test="state">{move || state.get().as_str()}</span> }
}
