//! `/api/v1/…/metrics`: the history of a machine (whoever sees the machine) or a node
//! (admins), one metric over any range (who sees what: `app::metrics`).

use axum::extract::State;
use corral_api::metrics::{MetricQuery, MetricSeries};
use corral_api::{ErrorBody, MachineId, NodeId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path, Query};
use crate::app::metrics as app;
use crate::auth::Actor;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(machine_metrics)).routes(routes!(node_metrics))
}

/// A machine's metric from `from` to `to` (Unix seconds; default the last hour), about
/// `points` points (default 600): one series per device, each point the average and maximum
/// over `step_s` seconds. Counters are served as rates per second, CPU as cores in use.
#[utoipa::path(get, path = "/api/v1/machines/{id}/metrics", tag = "metrics",
    params(("id" = MachineId, Path), MetricQuery),
    responses((status = 200, body = MetricSeries), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn machine_metrics(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<MachineId>,
    Query(q): Query<MetricQuery>,
) -> ApiResult<Json<MetricSeries>> {
    Ok(Json(app::machine_metrics(&state, &actor, id, q).await?))
}

/// A node's metric (admins), as a machine's: CPU by mode (device), memory, load, pressure,
/// each disk and interface.
#[utoipa::path(get, path = "/api/v1/nodes/{id}/metrics", tag = "metrics",
    params(("id" = NodeId, Path), MetricQuery),
    responses((status = 200, body = MetricSeries), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn node_metrics(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<NodeId>,
    Query(q): Query<MetricQuery>,
) -> ApiResult<Json<MetricSeries>> {
    Ok(Json(app::node_metrics(&state, &actor, id, q).await?))
}
