//! Times on the page: an age ("3 minutes ago") that moves on with the clock, with the exact
//! time on hover and in `datetime` for assistive technology.

use std::time::Duration;

use corral_ui::time;
use leptos::prelude::*;

/// The clock ages are read from: milliseconds since the epoch, ticking every 15 s.
#[derive(Clone, Copy)]
pub struct Clock(ReadSignal<f64>);

impl Clock {
    /// Starts the app's one clock and gives it to every page.
    pub fn provide() {
        let (now, set_now) = signal(js_sys::Date::now());
        // For the app's life: the handle is never cleared.
        let _ = set_interval_with_handle(move || set_now.set(js_sys::Date::now()), Duration::from_secs(15));
        provide_context(Clock(now));
    }

    /// Now, tracked: a view that reads it is redrawn as the clock ticks.
    pub fn now() -> f64 {
        use_context::<Clock>().map_or_else(js_sys::Date::now, |c| c.0.get())
    }
}

/// `at` (RFC 3339) as its age, exact on hover.
#[component]
pub fn Ago(#[prop(into)] at: Signal<String>) -> impl IntoView {
    let age = move || match time::parse_ms(&at.get()) {
        Some(then) => time::ago(then, Clock::now()),
        None => at.get(),
    };
    view! { <time datetime=move || at.get() title=move || time::exact(&at.get())>{age}</time> }
}

/// How long from `from` to `to` (RFC 3339), or to now while `to` is `None` (a task still
/// running): "1 min 4 s".
#[component]
pub fn Took(#[prop(into)] from: Signal<String>, #[prop(into)] to: Signal<Option<String>>) -> impl IntoView {
    let took = move || {
        let start = time::parse_ms(&from.get());
        let end = match to.get() {
            Some(t) => time::parse_ms(&t),
            None => Some(Clock::now()),
        };
        match (start, end) {
            (Some(a), Some(b)) => time::span(b - a),
            _ => "—".into(),
        }
    };
    view! { <span class="took">{took}</span> }
}
