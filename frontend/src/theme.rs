//! Light and dark themes: follows the system unless the user picks one, which is remembered.

use leptos::prelude::*;

const KEY: &str = "corral-theme";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn root() -> Option<web_sys::HtmlElement> {
    web_sys::window()?.document()?.document_element()?.dyn_into_html()
}

trait DynIntoHtml {
    fn dyn_into_html(self) -> Option<web_sys::HtmlElement>;
}

impl DynIntoHtml for web_sys::Element {
    fn dyn_into_html(self) -> Option<web_sys::HtmlElement> {
        use wasm_bindgen::JsCast;
        self.dyn_into().ok()
    }
}

/// The theme now in force: the saved choice, else the system's.
fn current() -> String {
    if let Some(t) = storage().and_then(|s| s.get_item(KEY).ok().flatten()) {
        return t;
    }
    let dark = web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches());
    if dark { "dark".into() } else { "light".into() }
}

/// The theme in force (`light` or `dark`), shared by the toggles and the charts.
#[derive(Clone, Copy)]
pub struct Theme(pub RwSignal<String>);

/// Made once, at the app's root.
pub fn provide() {
    provide_context(Theme(RwSignal::new(current())));
}

/// Whether the dark theme is in force (tracked).
pub fn is_dark() -> bool {
    use_context::<Theme>().is_some_and(|t| t.0.get() == "dark")
}

#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = use_context::<Theme>().map(|t| t.0).unwrap_or_else(|| RwSignal::new(current()));
    let toggle = move |_| {
        let next = if theme.get_untracked() == "dark" { "light" } else { "dark" };
        if let Some(s) = storage() {
            let _ = s.set_item(KEY, next);
        }
        if let Some(r) = root() {
            let _ = r.dataset().set("theme", next);
        }
        theme.set(next.to_string());
    };
    view! {
        // A plain button: inside a form (the login page's), a submit button would be what
        // Enter presses.
        <button type="button" class="btn ghost" data-test="theme-toggle" on:click=toggle
            title=move || format!("Switch to the {} theme", if theme.get() == "dark" { "light" } else { "dark" })>
            {move || if theme.get() == "dark" { "☀ Light" } else { "☾ Dark" }}
        </button>
    }
}
