//! The HTTP surface: `/api/v1/…` (with its OpenAPI document), `/healthz`, and the built
//! frontend for every other path.

mod audit;
mod consoles;
pub mod document;
mod events;
pub mod extract;
mod guests;
mod images;
mod machines;
mod metrics;
mod nodes;
mod people;
mod prometheus;
mod session;
mod snapshots;
mod tasks;
mod tokens;

use std::path::Path;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::origin_check;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::sessions::DbSessionStore;

#[derive(OpenApi)]
#[openapi(
    info(title = "Corral", description = "Web console for hypervisor nodes", version = "1"),
    tags(
        (name = "session", description = "Logging in and out"),
        (name = "machines", description = "Virtual machines and zones"),
        (name = "nodes", description = "Hypervisor nodes"),
        (name = "events", description = "Live updates"),
        (name = "images", description = "Disk images on nodes"),
        (name = "snapshots", description = "Snapshots of machines on their node's storage"),
        (name = "tasks", description = "Long operations on nodes, followed live"),
        (name = "consoles", description = "VNC and serial consoles through one-time tickets"),
        (name = "people", description = "Tenants, their members, and users"),
        (name = "tokens", description = "API tokens for scripts"),
        (name = "guests", description = "What guests are given at boot: SSH keys, user data, hostname, address"),
        (name = "audit", description = "Who did what, when, from where"),
        (name = "metrics", description = "Usage history of machines and nodes, and the Prometheus exposition")
    )
)]
struct ApiDoc;

/// The largest request body any API route reads. Every body is a small JSON document but a
/// create or change with user data: 64 KiB of it, escaped as JSON strings are (a newline is
/// two bytes), still fits. A larger body is refused with 413 before it is read whole,
/// whoever sends it.
pub const BODY_MAX_BYTES: usize = 256 * 1024;

/// The API routes and their OpenAPI document, built together so neither can drift.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(session::router())
        .merge(machines::router())
        .merge(nodes::router())
        .merge(events::router())
        .merge(images::router())
        .merge(snapshots::router())
        .merge(tasks::router())
        .merge(metrics::router())
        .merge(prometheus::router())
        .merge(consoles::router())
        .merge(people::router())
        .merge(tokens::router())
        .merge(guests::router())
        .merge(audit::router())
        .split_for_parts()
}

/// The OpenAPI document, completed with every rule the server enforces (`document`).
pub fn openapi_document() -> serde_json::Value {
    let mut doc = serde_json::to_value(api().1).unwrap_or_default();
    if let Err(e) = document::complete(&mut doc) {
        // A test builds the document too, so this is caught before it ships.
        tracing::error!(error = %e, "completing the OpenAPI document");
    }
    doc
}

/// The OpenAPI document as checked in at `docs/openapi.json`.
pub fn openapi_json() -> String {
    let mut s = serde_json::to_string_pretty(&openapi_document()).unwrap_or_default();
    s.push('\n');
    s
}

/// Options of the router that are not app state.
#[derive(Clone, Debug, Default)]
pub struct RouterOptions {
    /// Mark the session cookie `Secure` (behind a TLS-terminating proxy).
    pub secure_cookie: bool,
    /// Served over TLS by this process: cookies are `Secure` and HSTS is sent.
    pub tls: bool,
    /// Where the built frontend is; `None` serves the API only.
    pub frontend_dir: Option<std::path::PathBuf>,
}

pub fn build_router(state: AppState, opts: &RouterOptions) -> Router {
    let (api, _) = api();
    let doc = openapi_json();
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name("corral_session")
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(opts.secure_cookie || opts.tls)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(12)))
        // Without this the expiry is written only at login, and "12 h idle" would become
        // "12 h after login".
        .with_always_save(true);
    let api = api
        .route(
            corral_api::paths::OPENAPI,
            get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], doc) }),
        )
        .route("/api/{*rest}", axum::routing::any(|| async { ApiError::NotFound("route".into()) }))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::policy::enforce))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_MAX_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), origin_check))
        .layer(sessions);
    let router = Router::new().merge(api).route("/healthz", get(healthz));
    let router = match &opts.frontend_dir {
        Some(dir) => router.fallback_service(frontend(dir)),
        None => router,
    };
    let router =
        router.method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed }).with_state(state);
    security_headers(router, opts.tls)
}

/// What pages may load and run: only this origin's files (the app's wasm needs
/// `wasm-unsafe-eval` to be compiled), websockets to this origin, no inline script, no
/// framing. Styles may be inline: the terminal and the VNC view set them from script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers on every response, API and pages alike.
fn security_headers(router: Router, tls: bool) -> Router {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    let set =
        |name, value: &'static str| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    let router = router
        .layer(set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"));
    if tls {
        // Browsers that saw the console over TLS refuse plain HTTP to it for a year.
        router.layer(set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
    } else {
        router
    }
}

/// The SPA: files as they are, and `index.html` for every client-side route.
fn frontend(dir: &Path) -> ServeDir<ServeFile> {
    ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")))
}

async fn healthz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.db).await {
        Ok(_) => "ok\n".into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}
