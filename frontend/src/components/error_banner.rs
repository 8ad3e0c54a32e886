//! An error message from the server, shown where the action was taken.

use leptos::prelude::*;

#[component]
pub fn ErrorBanner(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    view! {
        <Show when=move || error.with(Option::is_some)>
            <div class="banner error" role="alert" data-test="error">{move || error.get().unwrap_or_default()}</div>
        </Show>
    }
}
