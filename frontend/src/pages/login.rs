//! The login page: Enter logs in, the username has the focus, and a login that a deep link
//! asked for returns to it (`?next=`, a path of this app only).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::Redirect;

use crate::api;
use crate::components::ErrorBanner;
use crate::live::use_live;
use crate::theme::ThemeToggle;

#[component]
pub fn Login() -> impl IntoView {
    crate::components::page_title(|| "Log in".to_string());
    let live = use_live();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let query = leptos_router::hooks::use_query_map();
    let next =
        move || query.with_untracked(|q| corral_ui::nav::login_return(q.get("next").as_deref()).to_string());

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (u, p) = (username.get_untracked(), password.get_untracked());
        if u.is_empty() || p.is_empty() {
            error.set(Some("Enter your username and password.".into()));
            return;
        }
        busy.set(true);
        // On success the gate above sees the user and redirects to where they were going.
        spawn_local(async move {
            match api::session_create(u, p).await {
                Ok(me) => {
                    error.set(None);
                    live.logged_in(me);
                }
                Err(e) => {
                    password.set(String::new());
                    error.set(Some(e.to_string()));
                }
            }
            busy.set(false);
        });
    };

    view! {
        <Show when=move || live.me.with(Option::is_none) fallback=move || view! { <Redirect path=next()/> }>
            <main class="login">
                <form class="card login-card" on:submit=submit>
                    <div class="login-head"><h1>"Corral"</h1><ThemeToggle/></div>
                    <p class="muted">"Log in to manage your machines."</p>
                    <label>"Username"
                        <input name="username" autocomplete="username" data-test="login-username" required autofocus=true
                            prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev))/>
                    </label>
                    <label>"Password"
                        <input name="password" type="password" autocomplete="current-password" data-test="login-password" required
                            prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                    </label>
                    <ErrorBanner error=error/>
                    <button class="btn primary" type="submit" data-test="login-submit" disabled=move || busy.get()>
                        {move || if busy.get() { "Logging in…" } else { "Log in" }}
                    </button>
                </form>
            </main>
        </Show>
    }
}
