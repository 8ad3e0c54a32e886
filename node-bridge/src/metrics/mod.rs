//! Sampling: every `every` (ten seconds in service) the bridge reads the node's counters and
//! asks its driver for each running machine's, keeps them in a bounded ring, and says on the
//! event stream that new samples are ready. The backend pulls them with `GET /v1/metrics`,
//! live and after a link cut alike.

pub mod procfs;
pub mod ring;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use corral_api::metrics::{MetricPage, MetricTarget, SAMPLE_POINTS_MAX};
use tokio::sync::watch;

use self::ring::SampleRing;
use crate::driver::Driver;

/// Samples kept: an hour of a node with 180 machines, ten minutes of one with a thousand.
pub const RING_SAMPLES: usize = 65_536;

/// How and how often to sample.
#[derive(Clone, Debug)]
pub struct Sampling {
    pub every: Duration,
    /// `/proc` and `/sys` of the node.
    pub proc: PathBuf,
    pub sys: PathBuf,
    pub ring: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Self { every: Duration::from_secs(10), proc: "/proc".into(), sys: "/sys".into(), ring: RING_SAMPLES }
    }
}

/// The samples of this bridge, shared by the sampler and the routes.
#[derive(Clone)]
pub struct Metrics {
    ring: Arc<Mutex<SampleRing>>,
    newest: watch::Sender<u64>,
}

impl Default for Metrics {
    /// An empty ring that nothing fills (a bridge that does not sample).
    fn default() -> Self {
        Self::new(RING_SAMPLES)
    }
}

impl Metrics {
    fn new(capacity: usize) -> Self {
        let first = u64::try_from(crate::time_fmt::now_ms()).unwrap_or(0).saturating_mul(1000);
        Self { ring: Arc::new(Mutex::new(SampleRing::new(capacity, first))), newest: watch::channel(0).0 }
    }

    fn ring(&self) -> MutexGuard<'_, SampleRing> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts sampling `driver`'s machines and the node; the task ends with the runtime.
    pub fn start(driver: Arc<dyn Driver>, sampling: Sampling) -> Self {
        let metrics = Self::new(sampling.ring);
        let this = metrics.clone();
        tokio::spawn(async move {
            let ticks = procfs::ticks_per_second();
            let mut tick = tokio::time::interval(sampling.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (proc, sys) = (sampling.proc.clone(), sampling.sys.clone());
                let node = tokio::task::spawn_blocking(move || procfs::node_points(&proc, &sys, ticks))
                    .await
                    .unwrap_or_default();
                let machines = driver.machine_usage().await;
                this.record(node, machines);
            }
        });
        metrics
    }

    /// Keeps one tick's samples and tells listeners.
    pub fn record(
        &self,
        node: Vec<corral_api::metrics::MetricPoint>,
        machines: Vec<(corral_api::MachineId, Vec<corral_api::metrics::MetricPoint>)>,
    ) {
        let at = crate::time_fmt::now_ms();
        let newest = {
            let mut ring = self.ring();
            let mut newest = None;
            if !node.is_empty() {
                newest = Some(ring.push(at, MetricTarget::Node, capped(node)));
            }
            for (id, points) in machines {
                if !points.is_empty() {
                    newest = Some(ring.push(at, MetricTarget::Machine { id }, capped(points)));
                }
            }
            newest
        };
        if let Some(seq) = newest {
            self.newest.send_replace(seq);
        }
    }

    /// Samples after `after`, at most `limit`.
    pub fn after(&self, after: u64, limit: usize) -> MetricPage {
        self.ring().after(after, limit)
    }

    /// The newest sample's number as it changes (0 before the first).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }
}

/// A sample never carries more points than a backend takes.
fn capped(mut points: Vec<corral_api::metrics::MetricPoint>) -> Vec<corral_api::metrics::MetricPoint> {
    points.truncate(SAMPLE_POINTS_MAX);
    points
}
