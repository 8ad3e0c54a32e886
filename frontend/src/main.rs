//! Corral's browser app: mounts the Leptos app on the page.

mod api;
mod app;
mod charts;
mod components;
mod live;
mod pages;
mod theme;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
