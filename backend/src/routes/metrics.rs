//! `/api/v1/…/metrics`: the history of a machine (whoever sees the machine), a tenant's sums
//! (its members), a node or the fleet (admins), one metric over any range (who sees what:
//! `app::metrics`).

use axum::extract::State;
use corral_api::metrics::{MetricQuery, MetricSeries};
use corral_api::{ErrorBody, MachineId, NodeId, TenantId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path, Query};
use crate::app::metrics as app;
use crate::auth::Actor;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(machine_metrics))
        .routes(routes!(node_metrics))
        .routes(routes!(tenant_metrics))
        .routes(routes!(fleet_metrics))
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

/// The sum of a tenant's machines (its members and admins), as a machine's metric but one
/// series: each machine counts with its whole (all its disks, NICs or vCPUs). Buckets are
/// summed 30 s after they end; samples later than that (a node catching up after a cut)
/// are left out of the sum.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/metrics", tag = "metrics",
    params(("id" = TenantId, Path), MetricQuery),
    responses((status = 200, body = MetricSeries), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn tenant_metrics(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<TenantId>,
    Query(q): Query<MetricQuery>,
) -> ApiResult<Json<MetricSeries>> {
    Ok(Json(app::tenant_metrics(&state, &actor, id, q).await?))
}

/// The sum of every machine (admins), as a tenant's.
#[utoipa::path(get, path = "/api/v1/metrics/fleet", tag = "metrics",
    params(MetricQuery),
    responses((status = 200, body = MetricSeries), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn fleet_metrics(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<MetricQuery>,
) -> ApiResult<Json<MetricSeries>> {
    Ok(Json(app::fleet_metrics(&state, &actor, q).await?))
}
