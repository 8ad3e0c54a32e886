//! `GET /metrics`: the Prometheus exposition of what the caller may see (an admin's token:
//! every machine and node; a tenant member's: that tenant's machines). A scrape config sends
//! an API token as its bearer credentials (`docs/metrics.md`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use corral_api::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Actor;
use crate::error::ApiResult;
use crate::metrics::prometheus;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics_scrape))
}

/// The newest sample of every machine the caller may see (for admins also every node and the
/// backend's process figures), in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text"),
        (status = 401, body = ErrorBody)))]
async fn metrics_scrape(State(state): State<AppState>, actor: Actor) -> ApiResult<Response> {
    let text = prometheus::render(&state, &actor).await?;
    Ok(([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response())
}
