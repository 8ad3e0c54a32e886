//! Metrics ingest: each node's samples pulled from its bridge, checked as input, turned into
//! rates and rolled up into the tiers as they arrive, summed per tenant and for the fleet
//! (`sums`), and written one transaction per page (a tick of a node is one page).
//!
//! Pulls are woken by the bridge's `sampled` event and by the link coming up, and ask for
//! what follows the node's cursor (kept in the database), so a cut link or a restarted
//! backend catches up with no gap as far back as the bridge's ring reaches. After a restart
//! of the backend the open buckets are refilled from the stored 10 s rows; the first sample
//! of each counter gives no rate (there is nothing to take it from).

pub mod prometheus;
pub mod rollup;
pub mod sums;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use corral_api::metrics::{
    MetricKind, MetricPage, MetricPoint, MetricSample, MetricTarget, SAMPLE_POINTS_MAX, device_ok,
};
use corral_api::{MachineId, NodeId, TenantId};
use tokio::sync::watch;

use self::rollup::{Rollup, Row, TIERS, Value};
use self::sums::{PageSums, SumOf, Sums};
use crate::nodes::BridgeClient;
use crate::state::AppState;
use crate::store::metrics::{self as store, SeriesKey, Target, TargetKind};

/// Most series a target may have (a node naming ever new devices is cut off here).
pub const SERIES_MAX: usize = 256;

/// A sample's time may be this far ahead of the backend's clock (clocks differ a little).
const FUTURE_SLACK_MS: i64 = 60_000;

/// The ingest's shared state: each target's rollup, the targets' series lists, and each
/// node's wake-up.
#[derive(Clone, Default)]
pub struct MetricsHub {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    rollups: HashMap<i64, Rollup>,
    targets: HashMap<(TargetKind, String), Target>,
    wakes: HashMap<NodeId, watch::Sender<u64>>,
    /// Each target's newest checked sample (for `/metrics`): when, and its points.
    latest: HashMap<(TargetKind, String), (i64, Vec<MetricPoint>)>,
    /// The tenants' and the fleet's buckets not yet summed.
    sums: Sums,
}

impl MetricsHub {
    /// A hub whose sums wait `sum_wait` after each bucket for its late samples.
    pub fn new(sum_wait: std::time::Duration) -> Self {
        let late_ms = i64::try_from(sum_wait.as_millis()).unwrap_or(i64::MAX);
        let inner = Inner { sums: Sums::new(late_ms), ..Inner::default() };
        Self { inner: Arc::new(Mutex::new(inner)) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the node's puller that samples up to `seq` are ready (0: the link came up).
    pub fn wake(&self, node: NodeId, seq: u64) {
        let mut inner = self.lock();
        let tx = inner.wakes.entry(node).or_insert_with(|| watch::channel(0).0);
        tx.send_modify(|s| *s = seq);
    }

    fn waker(&self, node: NodeId) -> watch::Receiver<u64> {
        self.lock().wakes.entry(node).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    /// Drops what the ingest keeps of targets whose history is gone (deleted machines).
    pub fn forget(&self, gone: &[i64]) {
        let mut inner = self.lock();
        let gone_keys: Vec<(TargetKind, String)> =
            inner.targets.iter().filter(|(_, t)| gone.contains(&t.id)).map(|(k, _)| k.clone()).collect();
        for key in gone_keys {
            inner.targets.remove(&key);
            inner.latest.remove(&key);
        }
        inner.rollups.retain(|id, _| !gone.contains(id));
    }

    /// The newest checked points of every target sampled since `since_ms`.
    pub fn latest(&self, since_ms: i64) -> Vec<(TargetKind, String, Vec<MetricPoint>)> {
        self.lock()
            .latest
            .iter()
            .filter(|(_, (at, _))| *at >= since_ms)
            .map(|((kind, key), (_, points))| (*kind, key.clone(), points.clone()))
            .collect()
    }
}

/// Pulls the node's samples whenever it is woken, for as long as the backend runs.
pub fn spawn_puller(state: AppState, node: NodeId, client: BridgeClient) {
    tokio::spawn(async move {
        let mut wake = state.metrics.waker(node);
        let mut after = match store::cursor_get(&state.db, node).await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(%node, error = %e, "reading the metrics cursor failed; pulling from the start");
                0
            }
        };
        while wake.changed().await.is_ok() {
            loop {
                let page = match client.metrics_after(after).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::debug!(%node, error = %e, "pulling samples failed; waiting for the link");
                        break;
                    }
                };
                let more = page.more;
                match ingest(&state, node, page).await {
                    Ok(Some(last)) => after = last,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(%node, error = %e, "storing samples failed");
                        break;
                    }
                }
                if !more {
                    break;
                }
            }
        }
    });
}

/// Takes one page of a node's samples: checks each, rolls it up, counts each machine's in the
/// sums, and writes the rows (with those of every sum now due) and the cursor together.
/// Answers the last sample's number, or `None` for an empty page.
///
/// If anything fails, the page's rows and cursor are not written, so the page comes again;
/// the rollups it already took are dropped (they refill from the stored rows) and its
/// samples are taken back out of the tenant and fleet sums, so they are counted once then.
/// Sums that came due in the failed page are written by the next page that succeeds (unless
/// another node's page wrote a later bucket of the same sum in between: then that older
/// bucket is taken for a repeat, a gap as for a late sample).
pub async fn ingest(state: &AppState, node: NodeId, page: MetricPage) -> Result<Option<u64>, sqlx::Error> {
    let mut undo = Undo::default();
    let result = ingest_page(state, node, page, &mut undo).await;
    if result.is_err() {
        let mut inner = state.metrics.lock();
        inner.rollups.retain(|target, _| !undo.touched.contains(target));
        inner.sums.take_back(undo.sums);
    }
    result
}

/// What a page did to the hub, to be undone if its write fails.
#[derive(Default)]
struct Undo {
    /// The targets whose rollups took samples.
    touched: HashSet<i64>,
    sums: PageSums,
}

/// [`ingest`]'s work; notes in `undo` what it did to the hub.
async fn ingest_page(
    state: &AppState,
    node: NodeId,
    page: MetricPage,
    undo: &mut Undo,
) -> Result<Option<u64>, sqlx::Error> {
    let Some(last) = page.samples.last().map(|s| s.seq) else { return Ok(None) };
    let own: HashMap<MachineId, Option<TenantId>> =
        crate::store::machines::tenants_on(&state.db, node).await?.into_iter().collect();
    let now_ms = crate::db::now_ms();
    let mut rows: Vec<(i64, Row)> = Vec::new();
    let mut strangers = 0usize;
    for sample in page.samples {
        if sample.at_ms > now_ms + FUTURE_SLACK_MS || sample.at_ms < 0 {
            continue;
        }
        let (kind, key, tenant) = match sample.target {
            MetricTarget::Node => (TargetKind::Node, node.to_string(), None),
            MetricTarget::Machine { id } => match own.get(&id) {
                Some(tenant) => (TargetKind::Machine, id.to_string(), Some((id, *tenant))),
                None => {
                    strangers += 1;
                    continue;
                }
            },
        };
        let target = target_of(state, kind, &key).await?;
        let points = checked(&sample);
        let (values, series) = values_of(state, &target, &points).await?;
        state.metrics.lock().latest.insert((kind, key), (sample.at_ms, points));
        undo.touched.insert(target.id);
        let (taken, stored) = roll(state, target.id, sample.at_ms, &values).await?;
        if let (Some((machine, tenant)), Some(stored)) = (tenant, stored) {
            let totals = sums::totals(&series, &stored);
            state.metrics.lock().sums.add(&mut undo.sums, machine, tenant, sample.at_ms, now_ms, &totals);
        }
        rows.extend(taken.into_iter().map(|r| (target.id, r)));
    }
    if strangers > 0 {
        crate::nodes::reconciler::note_rule_break(
            state,
            node,
            &format!("{strangers} samples of machines that are not this node's"),
        )
        .await?;
    }
    let due = state.metrics.lock().sums.close(&mut undo.sums, now_ms);
    for sums::Summed { bucket, of, values: totals } in due {
        let (kind, key) = match of {
            SumOf::Tenant(t) => (TargetKind::Tenant, t.to_string()),
            SumOf::Fleet => (TargetKind::Fleet, FLEET.to_string()),
        };
        let target = target_of(state, kind, &key).await?;
        let points: Vec<MetricPoint> = totals
            .into_iter()
            .map(|(metric, value)| MetricPoint { metric, device: None, value, start_ms: None })
            .collect();
        let (values, _) = values_of(state, &target, &points).await?;
        undo.touched.insert(target.id);
        let (taken, _) = roll(state, target.id, bucket * 1000, &values).await?;
        rows.extend(taken.into_iter().map(|r| (target.id, r)));
    }
    store::rows_put(&state.db, &rows, Some((node, last))).await?;
    if !rows.is_empty() {
        state.publish(corral_api::event::Event::Sampled { node_id: node });
    }
    Ok(Some(last))
}

/// The key of the fleet's one target.
pub const FLEET: &str = "fleet";

/// Rolls a sample of the target up (its rollup refilled from the stored rows first, after a
/// restart): the rows to write, and the values as stored (`None` for a repeat).
async fn roll(
    state: &AppState,
    target: i64,
    at_ms: i64,
    values: &[Value],
) -> Result<(Vec<Row>, Option<Vec<(u16, f64)>>), sqlx::Error> {
    if !state.metrics.lock().rollups.contains_key(&target) {
        let seeded = seed(state, target, at_ms).await?;
        state.metrics.lock().rollups.entry(target).or_insert(seeded);
    }
    let mut inner = state.metrics.lock();
    let rollup = inner.rollups.entry(target).or_default();
    let Some(now) = rollup.rates(at_ms, values) else { return Ok((Vec::new(), None)) };
    let rows = rollup.roll(at_ms, &now);
    Ok((rows, Some(now)))
}

/// The target's id and series list, made on first sight (cached).
async fn target_of(state: &AppState, kind: TargetKind, key: &str) -> Result<Target, sqlx::Error> {
    let cache_key = (kind, key.to_string());
    if let Some(t) = state.metrics.lock().targets.get(&cache_key) {
        return Ok(t.clone());
    }
    let t = store::target_ensure(&state.db, kind, key).await?;
    state.metrics.lock().targets.insert(cache_key, t.clone());
    Ok(t)
}

/// The sample's points that keep the rules; the others are left out: a value that is not a
/// finite number of at least 0, a device name that is not plain, a counter without its
/// start. A gauge's start is dropped.
fn checked(sample: &MetricSample) -> Vec<MetricPoint> {
    sample
        .points
        .iter()
        .take(SAMPLE_POINTS_MAX)
        .filter(|p| p.value.is_finite() && p.value >= 0.0 && p.device.as_deref().is_none_or(device_ok))
        .filter(|p| p.metric.kind() == MetricKind::Gauge || p.start_ms.is_some())
        .map(|p| MetricPoint {
            start_ms: (p.metric.kind() == MetricKind::Counter).then_some(p.start_ms).flatten(),
            ..p.clone()
        })
        .collect()
}

/// Checked points as values of the target's series; a series seen for the first time is
/// added to the list (up to [`SERIES_MAX`]). Answers the values and the list they index.
async fn values_of(
    state: &AppState,
    target: &Target,
    points: &[MetricPoint],
) -> Result<(Vec<Value>, Vec<SeriesKey>), sqlx::Error> {
    let mut series = target.series.clone();
    let mut values = Vec::with_capacity(points.len());
    for p in points {
        let start_ms = p.start_ms;
        let key: SeriesKey = (p.metric, p.device.clone().unwrap_or_default());
        let index = match series.iter().position(|s| *s == key) {
            Some(i) => i,
            None if series.len() < SERIES_MAX => {
                series.push(key);
                series.len() - 1
            }
            None => continue,
        };
        values.push(Value { series: index as u16, start_ms, value: p.value });
    }
    if series.len() != target.series.len() {
        store::series_set(&state.db, target.id, &series).await?;
        let mut inner = state.metrics.lock();
        for t in inner.targets.values_mut().filter(|t| t.id == target.id) {
            t.series = series.clone();
        }
    }
    Ok((values, series))
}

/// A target's rollup after a restart: its open buckets refilled from the stored 10 s rows of
/// the hour `at_ms` falls in.
async fn seed(state: &AppState, target: i64, at_ms: i64) -> Result<Rollup, sqlx::Error> {
    let at = at_ms.div_euclid(1000);
    let hour = TIERS[3].bucket(at);
    let rows = store::rows_get(&state.db, target, 0, hour, at).await?;
    let mut rollup = Rollup::default();
    rollup.seed(&rows);
    Ok(rollup)
}
