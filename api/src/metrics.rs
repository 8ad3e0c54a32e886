//! Metrics: what a bridge samples on its node every ten seconds (cumulative counters and
//! gauges, each named by a [`Metric`] and a device), and the series the backend keeps from
//! them and serves (rates and gauges, averaged and maximised over the step asked for).
//!
//! A counter carries the time its count began (`start_ms`): a restarted QEMU or zone starts a
//! new count, which the backend takes as a reset, never as a negative rate.

use serde::{Deserialize, Serialize};

use crate::MachineId;

/// What a series measures. Counters are sampled as totals and served as rates per second;
/// gauges are served as they were sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// CPU time, in seconds (a machine: all its threads; a vCPU: its thread, device `vcpu0`…;
    /// the node: per mode, device `user`, `system`, `iowait`, …). Served as cores in use.
    CpuSeconds,
    /// Host memory held, in bytes (a VM: its QEMU's resident set; a zone: its cgroup's use).
    MemoryBytes,
    /// Memory the node can still give without swapping, in bytes.
    MemoryAvailableBytes,
    /// The node's memory, in bytes.
    MemoryTotalBytes,
    /// Processes in a zone.
    Pids,
    /// Per disk (device): bytes and operations read and written.
    DiskReadBytes,
    DiskWriteBytes,
    DiskReadOps,
    DiskWriteOps,
    /// Per NIC (device), as the machine sees it: bytes and packets received and sent.
    NetRxBytes,
    NetTxBytes,
    NetRxPackets,
    NetTxPackets,
    /// The node's load average over a minute.
    Load1,
    /// Share of the last ten seconds in which some task waited for CPU, I/O or memory (PSI
    /// `some avg10`), in percent.
    CpuPressure,
    IoPressure,
    MemoryPressure,
}

/// How a metric is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A total that only grows while its start stays the same.
    Counter,
    Gauge,
}

/// The unit of a served series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MetricUnit {
    /// CPUs kept busy: 1.5 is one and a half cores.
    Cores,
    Bytes,
    BytesPerSecond,
    OpsPerSecond,
    PacketsPerSecond,
    Count,
    Percent,
    /// A load average: runnable and waiting tasks.
    Load,
}

impl Metric {
    pub const ALL: [Metric; 17] = [
        Metric::CpuSeconds,
        Metric::MemoryBytes,
        Metric::MemoryAvailableBytes,
        Metric::MemoryTotalBytes,
        Metric::Pids,
        Metric::DiskReadBytes,
        Metric::DiskWriteBytes,
        Metric::DiskReadOps,
        Metric::DiskWriteOps,
        Metric::NetRxBytes,
        Metric::NetTxBytes,
        Metric::NetRxPackets,
        Metric::NetTxPackets,
        Metric::Load1,
        Metric::CpuPressure,
        Metric::IoPressure,
        Metric::MemoryPressure,
    ];

    pub fn kind(self) -> MetricKind {
        use Metric::*;
        match self {
            CpuSeconds | DiskReadBytes | DiskWriteBytes | DiskReadOps | DiskWriteOps | NetRxBytes
            | NetTxBytes | NetRxPackets | NetTxPackets => MetricKind::Counter,
            MemoryBytes | MemoryAvailableBytes | MemoryTotalBytes | Pids | Load1 | CpuPressure
            | IoPressure | MemoryPressure => MetricKind::Gauge,
        }
    }

    /// The unit of its served series (a counter's rate per second).
    pub fn unit(self) -> MetricUnit {
        use Metric::*;
        match self {
            CpuSeconds => MetricUnit::Cores,
            MemoryBytes | MemoryAvailableBytes | MemoryTotalBytes => MetricUnit::Bytes,
            Pids => MetricUnit::Count,
            DiskReadBytes | DiskWriteBytes | NetRxBytes | NetTxBytes => MetricUnit::BytesPerSecond,
            DiskReadOps | DiskWriteOps => MetricUnit::OpsPerSecond,
            NetRxPackets | NetTxPackets => MetricUnit::PacketsPerSecond,
            Load1 => MetricUnit::Load,
            CpuPressure | IoPressure | MemoryPressure => MetricUnit::Percent,
        }
    }

    pub fn as_str(self) -> &'static str {
        use Metric::*;
        match self {
            CpuSeconds => "cpu_seconds",
            MemoryBytes => "memory_bytes",
            MemoryAvailableBytes => "memory_available_bytes",
            MemoryTotalBytes => "memory_total_bytes",
            Pids => "pids",
            DiskReadBytes => "disk_read_bytes",
            DiskWriteBytes => "disk_write_bytes",
            DiskReadOps => "disk_read_ops",
            DiskWriteOps => "disk_write_ops",
            NetRxBytes => "net_rx_bytes",
            NetTxBytes => "net_tx_bytes",
            NetRxPackets => "net_rx_packets",
            NetTxPackets => "net_tx_packets",
            Load1 => "load1",
            CpuPressure => "cpu_pressure",
            IoPressure => "io_pressure",
            MemoryPressure => "memory_pressure",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One value of a sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricPoint {
    pub metric: Metric,
    /// The disk, NIC, vCPU or CPU mode it is about; none for the whole machine or node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    pub value: f64,
    /// Counters: when the count began (Unix milliseconds). Another start is a new count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
}

/// What a sample is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricTarget {
    /// The node the bridge runs on.
    Node,
    Machine {
        id: MachineId,
    },
}

/// One target's values at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSample {
    /// Grows by one per sample, across restarts of the bridge too (it starts from the
    /// bridge's start time in microseconds): the backend asks for what follows the last it
    /// took.
    pub seq: u64,
    /// When it was read (Unix milliseconds).
    pub at_ms: i64,
    pub target: MetricTarget,
    pub points: Vec<MetricPoint>,
}

/// `GET /v1/metrics?after=`: the samples that follow `after`, oldest first, as far back as
/// the bridge's ring reaches. An `after` beyond the newest sample comes from an earlier run
/// of the bridge (its clock went back): the answer then starts from the oldest kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricPage {
    pub samples: Vec<MetricSample>,
    /// More samples follow the last of this page: ask again after it.
    pub more: bool,
}

/// Most samples in one page.
pub const METRIC_PAGE_MAX: usize = 2000;
/// Most points in one sample a backend takes (more is a broken node).
pub const SAMPLE_POINTS_MAX: usize = 512;
/// Longest device name a backend takes.
pub const DEVICE_MAX_LEN: usize = 64;

/// A device name a backend stores: short, printable ASCII with no spaces or quotes (it
/// becomes a Prometheus label value and a CSV cell).
pub fn device_ok(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= DEVICE_MAX_LEN
        && d.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:/@+".contains(&b))
}

/// `GET /api/v1/…/metrics`: the query. `from` and `to` are Unix seconds (defaults: the last
/// hour); `points` is about how many points the chart has room for (its width in pixels).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct MetricQuery {
    /// Which metric (`cpu_seconds`, `memory_bytes`, `disk_read_bytes`, …).
    pub metric: Metric,
    /// Start, Unix seconds (default: an hour before `to`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub from: Option<i64>,
    /// End, Unix seconds (default: now).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1))]
    pub to: Option<i64>,
    /// About how many points to answer (default 600).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 4000))]
    pub points: Option<u32>,
}

/// The longest range a query may ask for: ten years, in seconds.
pub const QUERY_RANGE_MAX: i64 = 10 * 365 * 86_400;

/// Most points a query may ask for.
pub const QUERY_POINTS_MAX: u32 = 4000;
/// Points when a query names none.
pub const QUERY_POINTS_DEFAULT: u32 = 600;

/// A served metric: one series per device, each a run of points `step_s` apart (a missing
/// point is a gap: nothing was sampled then).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricSeries {
    pub metric: Metric,
    pub unit: MetricUnit,
    pub from: i64,
    pub to: i64,
    /// Seconds each point covers.
    pub step_s: i64,
    /// Resolution of the stored tier the points came from, in seconds (10, 60, 600, 3600).
    pub tier_s: i64,
    pub series: Vec<DeviceSeries>,
}

/// One device's points: `at[i]` (Unix seconds, the start of the point's step) has average
/// `avg[i]` and maximum `max[i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceSeries {
    pub device: Option<String>,
    pub at: Vec<i64>,
    pub avg: Vec<f64>,
    pub max: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_a_name_that_parses_back() {
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 17, "each metric once");
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.as_str()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }

    #[test]
    fn device_names_are_plain() {
        assert!(device_ok("vda") && device_ok("vcpu0") && device_ok("cveth0123456789"));
        for bad in ["", "a b", "x\"y", "é", &"d".repeat(65)] {
            assert!(!device_ok(bad), "{bad:?}");
        }
    }
}
