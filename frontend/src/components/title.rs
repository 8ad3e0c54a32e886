//! The browser tab's title: each page names itself ("Machines · Corral", a machine's name on
//! its page), so tabs, history and screen readers tell pages apart.

use leptos::prelude::*;

/// Keeps the document's title at `part` · Corral while the calling page is shown.
pub fn page_title(part: impl Fn() -> String + 'static) {
    Effect::new(move |_| {
        let title = match part() {
            p if p.is_empty() => "Corral".to_string(),
            p => format!("{p} · Corral"),
        };
        if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
            doc.set_title(&title);
        }
    });
}
