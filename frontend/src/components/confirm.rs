//! The question asked before anything destructive or disruptive: a modal `<dialog>` that
//! names what it acts on and says what will happen. Cancel has the focus and Escape
//! cancels, so a stray Enter does nothing; a delete can ask for the name to be typed first.

use leptos::html;
use leptos::prelude::*;

/// What a confirmation asks, and what the page does when the answer is yes.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirm<T> {
    /// The question, naming its target: "Stop web-1?".
    pub title: String,
    /// What will happen, in plain words.
    pub body: String,
    /// The confirming button's label: "Stop".
    pub action: &'static str,
    /// A text to be typed before the action is allowed (a machine's name before its delete).
    pub typed: Option<String>,
    /// Handed to `on_confirm` on a yes.
    pub then: T,
}

impl<T> Confirm<T> {
    pub fn new(title: String, body: impl Into<String>, action: &'static str, then: T) -> Self {
        Confirm { title, body: body.into(), action, typed: None, then }
    }

    /// Asks for `text` to be typed before the action is allowed.
    pub fn typing(self, text: String) -> Self {
        Confirm { typed: Some(text), ..self }
    }
}

/// Shows `pending` while it is set; a yes runs `on_confirm` with its `then`; either answer
/// clears it.
#[component]
pub fn ConfirmDialog<T, F>(pending: RwSignal<Option<Confirm<T>>>, on_confirm: F) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    F: Fn(T) + Clone + 'static,
{
    let dialog = NodeRef::<html::Dialog>::new();
    let typed = RwSignal::new(String::new());
    Effect::new(move |_| {
        let asked = pending.with(Option::is_some);
        let Some(d) = dialog.get() else { return };
        if asked && !d.open() {
            typed.set(String::new());
            // Fails only if the dialog is not in the document, which a mounted view is.
            let _ = d.show_modal();
        } else if !asked && d.open() {
            d.close();
        }
    });
    let allowed = move || {
        pending.with(|p| {
            p.as_ref().is_some_and(|p| {
                p.typed.as_ref().is_none_or(|want| typed.with(|t| t.trim() == want.as_str()))
            })
        })
    };
    let answer_yes = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !allowed() {
            return;
        }
        if let Some(p) = pending.get_untracked() {
            pending.set(None);
            on_confirm(p.then);
        }
    };
    let text =
        move |f: fn(&Confirm<T>) -> String| move || pending.with(|p| p.as_ref().map(f).unwrap_or_default());
    view! {
        // Escape closes it natively: `close` then clears what was asked.
        <dialog node_ref=dialog class="card dialog" data-test="confirm-dialog"
            aria-labelledby="confirm-title" aria-describedby="confirm-body"
            on:close=move |_| pending.set(None)>
            <form on:submit=answer_yes>
                <h2 id="confirm-title">{text(|p| p.title.clone())}</h2>
                <p id="confirm-body">{text(|p| p.body.clone())}</p>
                {move || pending.with(|p| p.as_ref().and_then(|p| p.typed.clone())).map(|want| view! {
                    <label class="field">
                        <span>"Type " <strong>{want.clone()}</strong> " to confirm"</span>
                        <input data-test="confirm-typed" autocomplete="off" spellcheck="false"
                            prop:value=move || typed.get() on:input=move |ev| typed.set(event_target_value(&ev))/>
                    </label>
                })}
                <div class="dialog-actions">
                    <button type="button" class="btn ghost" data-test="confirm-cancel" autofocus=true
                        on:click=move |_| pending.set(None)>"Cancel"</button>
                    <button type="submit" class="btn danger" data-test="confirm-go"
                        disabled=move || !allowed()>{text(|p| p.action.to_string())}</button>
                </div>
            </form>
        </dialog>
    }
}
