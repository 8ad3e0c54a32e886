//! Serving metrics history: a machine's series to whoever may see the machine (404 to
//! strangers, as the machine itself), a tenant's sums to its members (404 to strangers, as
//! the tenant itself), a node's and the fleet's to admins; over any range, at a step chosen
//! for about one point per pixel from the tier that holds the range (`metrics::rollup::pick`).

use corral_api::metrics::{DeviceSeries, MetricQuery, MetricSeries, QUERY_POINTS_DEFAULT};
use corral_api::{MachineId, NodeId, TenantId, validate};

use crate::auth::Actor;
use crate::error::ApiError;
use crate::metrics::FLEET;
use crate::metrics::rollup::{TIERS, pick};
use crate::state::AppState;
use crate::store::metrics::{self as store, TargetKind};

pub async fn machine_metrics(
    state: &AppState,
    actor: &Actor,
    id: MachineId,
    q: MetricQuery,
) -> Result<MetricSeries, ApiError> {
    let m = super::machines::machine_get(state, actor, id).await?;
    series(state, TargetKind::Machine, &m.id.to_string(), q).await
}

pub async fn node_metrics(
    state: &AppState,
    actor: &Actor,
    id: NodeId,
    q: MetricQuery,
) -> Result<MetricSeries, ApiError> {
    if !actor.is_admin {
        return Err(ApiError::Forbidden("a node's metrics are for administrators".into()));
    }
    crate::store::nodes::node_get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("node {id}")))?;
    series(state, TargetKind::Node, &id.to_string(), q).await
}

/// The sum of the tenant's machines (its members and admins).
pub async fn tenant_metrics(
    state: &AppState,
    actor: &Actor,
    id: TenantId,
    q: MetricQuery,
) -> Result<MetricSeries, ApiError> {
    let not_found = || ApiError::NotFound(format!("tenant {id}"));
    actor.role_in(Some(id)).ok_or_else(not_found)?;
    if crate::store::users::tenant_list(&state.db, Some(&[id])).await?.is_empty() {
        return Err(not_found());
    }
    series(state, TargetKind::Tenant, &id.to_string(), q).await
}

/// The sum of every machine (admins).
pub async fn fleet_metrics(
    state: &AppState,
    actor: &Actor,
    q: MetricQuery,
) -> Result<MetricSeries, ApiError> {
    if !actor.is_admin {
        return Err(ApiError::Forbidden("the fleet's metrics are for administrators".into()));
    }
    series(state, TargetKind::Fleet, FLEET, q).await
}

/// The metric's series of one target, one per device, each point the average and maximum of
/// the stored buckets in its step (averages weighted by how many samples each bucket holds).
async fn series(
    state: &AppState,
    kind: TargetKind,
    target: &str,
    q: MetricQuery,
) -> Result<MetricSeries, ApiError> {
    validate::metric_query(&q)?;
    let now = crate::db::now_ms().div_euclid(1000);
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - 3_600);
    if from >= to {
        return Err(
            validate::FieldError { field: "from", message: "before the end of the range".into() }.into()
        );
    }
    let (tier, step) = pick(from, to, now, q.points.unwrap_or(QUERY_POINTS_DEFAULT));
    let mut out = MetricSeries {
        metric: q.metric,
        unit: q.metric.unit(),
        from,
        to,
        step_s: step,
        tier_s: TIERS[tier].res,
        series: Vec::new(),
    };
    let Some(t) = store::target_get(&state.db, kind, target).await? else { return Ok(out) };
    let wanted: Vec<(u16, String)> = t
        .series
        .iter()
        .enumerate()
        .filter(|(_, (m, _))| *m == q.metric)
        .map(|(i, (_, d))| (i as u16, d.clone()))
        .collect();
    if wanted.is_empty() {
        return Ok(out);
    }
    let rows = store::rows_get(&state.db, t.id, tier, TIERS[tier].bucket(from), to).await?;
    for (index, device) in wanted {
        let mut s = DeviceSeries {
            device: (!device.is_empty()).then_some(device),
            at: vec![],
            avg: vec![],
            max: vec![],
        };
        // (step start, weighted sum, samples, max) of the step being filled.
        let mut open: Option<(i64, f64, f64, f64)> = None;
        for row in &rows {
            let Some(e) = row.entries.iter().find(|e| e.series == index) else { continue };
            let at = row.at.div_euclid(step) * step;
            if let Some((was, sum, n, max)) = open
                && was != at
            {
                push(&mut s, was, sum / n, max);
                open = None;
            }
            let (_, sum, n, max) = open.get_or_insert((at, 0.0, 0.0, f64::MIN));
            let weight = f64::from(e.n.max(1));
            *sum += f64::from(e.avg) * weight;
            *n += weight;
            *max = max.max(f64::from(e.max));
        }
        if let Some((at, sum, n, max)) = open {
            push(&mut s, at, sum / n, max);
        }
        if !s.at.is_empty() {
            out.series.push(s);
        }
    }
    Ok(out)
}

fn push(s: &mut DeviceSeries, at: i64, avg: f64, max: f64) {
    s.at.push(at);
    s.avg.push(avg);
    s.max.push(max);
}
