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
    /// Numbers with a fraction: phones offer a pad with a decimal point.
    #[prop(optional)]
    decimal: bool,
    /// The stem of the error's and help's ids where `test` is not unique on the page (a form
    /// repeated per card).
    #[prop(optional, into)]
    id_stem: Option<String>,
    #[prop(optional)] placeholder: &'static str,
    /// Typed unseen.
    #[prop(optional)]
    password: bool,
) -> impl IntoView {
    let stem = id_stem.unwrap_or_else(|| test.to_string());
    let error_id = format!("{stem}-error");
    let help_id = format!("{stem}-help");
    let described = format!("{error_id} {help_id}");
    view! {
        <label>{label}
            <input data-test=test node_ref=node_ref placeholder=placeholder type=if password { "password" } else { "text" }
                inputmode=match (numeric, decimal) {
                    (true, _) => "numeric",
                    (_, true) => "decimal",
                    _ => "text",
                }
                disabled=move || disabled.get().unwrap_or(false)
                aria-invalid=move || error.with(Option::is_some).to_string() aria-describedby=described
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            <span class="field-error" id=error_id aria-live="polite">{move || error.get()}</span>
            <span class="help" id=help_id>{move || help.get()}</span>
        </label>
    }
}

/// A labelled text box of several lines (a key, user data), with its error and help under it
/// as [`Field`] has them.
#[component]
pub fn TextBox(
    label: &'static str,
    /// The box's `data-test`, and the stem of its error's and help's ids.
    test: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(optional, into)] help: MaybeProp<String>,
    #[prop(optional)] placeholder: &'static str,
    /// Lines shown.
    #[prop(default = 4)]
    rows: u32,
) -> impl IntoView {
    let error_id = format!("{test}-error");
    let help_id = format!("{test}-help");
    let described = format!("{error_id} {help_id}");
    view! {
        <label class="textbox">{label}
            <textarea data-test=test placeholder=placeholder rows=rows spellcheck="false" class="mono"
                aria-invalid=move || error.with(Option::is_some).to_string() aria-describedby=described
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))></textarea>
            <span class="field-error" id=error_id aria-live="polite">{move || error.get()}</span>
            <span class="help" id=help_id>{move || help.get()}</span>
        </label>
    }
}

/// Moves the focus to a field a submit found wrong (if it is on the page).
pub fn focus_field(field: NodeRef<html::Input>) {
    if let Some(input) = field.get_untracked() {
        let _ = input.focus();
    }
}

/// What the server said of a form's fields: its error body names the field, and the message
/// stands under that field rather than in a banner; other failures go to the banner.
#[derive(Clone, Copy)]
pub struct ServerSaid {
    field: RwSignal<Option<(String, String)>>,
    banner: RwSignal<Option<String>>,
}

impl ServerSaid {
    pub fn new(banner: RwSignal<Option<String>>) -> Self {
        Self { field: RwSignal::new(None), banner }
    }

    /// `field`'s error: the form's own check (`local`) first, else what the server said.
    pub fn under(&self, field: &str, local: Option<String>) -> Option<String> {
        local.or_else(|| self.field.with(|s| s.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.clone())))
    }

    /// `field`'s error, live: once `tried`, the form's own `check` if the first field it finds
    /// wrong is this one (so the error follows the typing), else what the server said.
    pub fn field_error<T>(
        self,
        field: &'static str,
        tried: RwSignal<bool>,
        check: impl Fn() -> Result<T, (&'static str, String)> + Send + Sync + 'static,
    ) -> Signal<Option<String>> {
        Signal::derive(move || {
            let local =
                tried.get().then(|| check().err().filter(|(f, _)| *f == field).map(|(_, m)| m)).flatten();
            self.under(field, local)
        })
    }

    /// Takes a failed answer: under one of `fields` if it names one, else in the banner.
    pub fn take(&self, e: crate::api::ClientError, fields: &[&str]) {
        match e {
            crate::api::ClientError::Api { body, .. }
                if body.field.as_deref().is_some_and(|f| fields.contains(&f)) =>
            {
                self.field.set(Some((body.field.unwrap_or_default(), body.message)))
            }
            e => self.banner.set(Some(e.to_string())),
        }
    }

    /// The form was edited: what the server said of a field no longer holds.
    pub fn edited(&self) {
        self.field.set(None);
    }

    /// Forgets what was said, before a new try.
    pub fn clear(&self) {
        self.field.set(None);
        self.banner.set(None);
    }
}
