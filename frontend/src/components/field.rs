//! A form field: its label, its input, its error under it (`aria-invalid` while it has one,
//! named by the input's `aria-describedby`, announced politely) and its help.

use leptos::html;
use leptos::prelude::*;

#[component]
pub fn Field(
    label: &'static str,
    /// The input's `data-test`, and the stem of its error's and help's ids (unique per page).
    test: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    /// For focusing it when a submit finds it wrong.
    #[prop(optional)]
    node_ref: NodeRef<html::Input>,
    #[prop(optional, into)] help: MaybeProp<String>,
    #[prop(optional, into)] disabled: MaybeProp<bool>,
    /// Whole numbers: phones offer their number pad.
    #[prop(optional)]
    numeric: bool,
    #[prop(optional)] placeholder: &'static str,
    /// Typed unseen.
    #[prop(optional)]
    password: bool,
) -> impl IntoView {
    let error_id = format!("{test}-error");
    let help_id = format!("{test}-help");
    let described = format!("{error_id} {help_id}");
    view! {
        <label>{label}
            <input data-test=test node_ref=node_ref placeholder=placeholder type=if password { "password" } else { "text" }
                inputmode=if numeric { "numeric" } else { "text" }
                disabled=move || disabled.get().unwrap_or(false)
                aria-invalid=move || error.with(Option::is_some).to_string() aria-describedby=described
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            <span class="field-error" id=error_id aria-live="polite">{move || error.get()}</span>
            <span class="help" id=help_id>{move || help.get()}</span>
        </label>
    }
}
