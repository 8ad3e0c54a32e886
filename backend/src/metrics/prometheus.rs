//! `GET /metrics`: the newest sample of every machine and node the caller may see, and (for
//! admins) the backend's own process figures, in the OpenMetrics text format, encoded by
//! `prometheus-client` (the Prometheus project's Rust client).
//!
//! Names follow the libvirt exporter and node_exporter (docs/metrics.md lists them):
//! counters are totals since their start, in base units. Machines carry `machine` (the id,
//! which never changes), `name`, `node` and `tenant` labels; nodes a `node` label. A target
//! not sampled for a minute (stopped, or its node unreachable) is left out, so its series go
//! stale in Prometheus rather than stand still.

use std::collections::HashMap;

use corral_api::metrics::{Metric, MetricPoint};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::auth::Actor;
use crate::state::AppState;
use crate::store::metrics::TargetKind;

/// The content type of the answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A target not sampled for this long is left out.
const STALE_MS: i64 = 60_000;

type Labels = Vec<(String, String)>;

/// One metric family: its name (without `_total`, which the encoder adds to counters), help,
/// type and samples.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    counter: bool,
    samples: Vec<(Labels, f64)>,
}

#[derive(Debug, Default)]
struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    fn add(&mut self, name: &'static str, help: &'static str, counter: bool, labels: Labels, value: f64) {
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((labels, value)),
            None => self.families.push(Family { name, help, counter, samples: vec![(labels, value)] }),
        }
    }
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.families {
            let kind = if f.counter { MetricType::Counter } else { MetricType::Gauge };
            let mut family = encoder.encode_descriptor(f.name, f.help, None, kind)?;
            for (labels, value) in &f.samples {
                let sample = family.encode_family(labels)?;
                if f.counter {
                    ConstCounter::new(*value).encode(sample)?;
                } else {
                    ConstGauge::new(*value).encode(sample)?;
                }
            }
        }
        Ok(())
    }
}

/// The exposition name and help of a machine's point, and whether it is a counter; the
/// device's label name where it has one.
fn machine_family(p: &MetricPoint) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    Some(match (p.metric, p.device.is_some()) {
        (Metric::CpuSeconds, false) => {
            ("corral_machine_cpu_seconds", "CPU time of the machine's host process or cgroup", None)
        }
        (Metric::CpuSeconds, true) => {
            ("corral_machine_vcpu_seconds", "CPU time of one vCPU thread", Some("vcpu"))
        }
        (Metric::MemoryBytes, _) => {
            ("corral_machine_memory_usage_bytes", "Host memory the machine holds", None)
        }
        (Metric::Pids, _) => ("corral_machine_processes", "Processes in a zone", None),
        (Metric::DiskReadBytes, _) => {
            ("corral_machine_block_read_bytes", "Bytes read from a disk", Some("device"))
        }
        (Metric::DiskWriteBytes, _) => {
            ("corral_machine_block_write_bytes", "Bytes written to a disk", Some("device"))
        }
        (Metric::DiskReadOps, _) => {
            ("corral_machine_block_read_requests", "Reads from a disk", Some("device"))
        }
        (Metric::DiskWriteOps, _) => {
            ("corral_machine_block_write_requests", "Writes to a disk", Some("device"))
        }
        (Metric::NetRxBytes, _) => {
            ("corral_machine_network_receive_bytes", "Bytes a NIC received", Some("device"))
        }
        (Metric::NetTxBytes, _) => {
            ("corral_machine_network_transmit_bytes", "Bytes a NIC sent", Some("device"))
        }
        (Metric::NetRxPackets, _) => {
            ("corral_machine_network_receive_packets", "Packets a NIC received", Some("device"))
        }
        (Metric::NetTxPackets, _) => {
            ("corral_machine_network_transmit_packets", "Packets a NIC sent", Some("device"))
        }
        _ => return None,
    })
}

fn node_family(p: &MetricPoint) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    Some(match p.metric {
        Metric::CpuSeconds => ("corral_node_cpu_seconds", "CPU time of the node by mode", Some("mode")),
        Metric::MemoryTotalBytes => ("corral_node_memory_MemTotal_bytes", "The node's memory", None),
        Metric::MemoryAvailableBytes => {
            ("corral_node_memory_MemAvailable_bytes", "Memory the node can give without swapping", None)
        }
        Metric::Load1 => ("corral_node_load1", "The node's one-minute load average", None),
        Metric::CpuPressure => (
            "corral_node_pressure_cpu_some_avg10_percent",
            "Share of the last 10 s some task waited for CPU",
            None,
        ),
        Metric::IoPressure => (
            "corral_node_pressure_io_some_avg10_percent",
            "Share of the last 10 s some task waited for I/O",
            None,
        ),
        Metric::MemoryPressure => (
            "corral_node_pressure_memory_some_avg10_percent",
            "Share of the last 10 s some task waited for memory",
            None,
        ),
        Metric::DiskReadBytes => ("corral_node_disk_read_bytes", "Bytes read from a disk", Some("device")),
        Metric::DiskWriteBytes => {
            ("corral_node_disk_written_bytes", "Bytes written to a disk", Some("device"))
        }
        Metric::DiskReadOps => {
            ("corral_node_disk_reads_completed", "Reads completed by a disk", Some("device"))
        }
        Metric::DiskWriteOps => {
            ("corral_node_disk_writes_completed", "Writes completed by a disk", Some("device"))
        }
        Metric::NetRxBytes => {
            ("corral_node_network_receive_bytes", "Bytes an interface received", Some("device"))
        }
        Metric::NetTxBytes => {
            ("corral_node_network_transmit_bytes", "Bytes an interface sent", Some("device"))
        }
        Metric::NetRxPackets => {
            ("corral_node_network_receive_packets", "Packets an interface received", Some("device"))
        }
        Metric::NetTxPackets => {
            ("corral_node_network_transmit_packets", "Packets an interface sent", Some("device"))
        }
        _ => return None,
    })
}

/// The backend's own figures, from `/proc/self`.
fn process(out: &mut Exposition) {
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..])
    {
        let w: Vec<&str> = rest.split_ascii_whitespace().collect();
        let n = |field: usize| w.get(field - 3).and_then(|v| v.parse::<f64>().ok());
        if let (Some(user), Some(system)) = (n(14), n(15)) {
            out.add("process_cpu_seconds", "CPU time of the backend", true, vec![], (user + system) / ticks);
        }
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok()));
        if let (Some(start), Some(boot)) = (n(22), boot) {
            out.add(
                "process_start_time_seconds",
                "When the backend started",
                false,
                vec![],
                boot + start / ticks,
            );
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:")?.split_ascii_whitespace().next()?.parse::<f64>().ok())
    {
        out.add(
            "process_resident_memory_bytes",
            "Resident memory of the backend",
            false,
            vec![],
            kib * 1024.0,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.add(
            "process_open_fds",
            "Open file descriptors of the backend",
            false,
            vec![],
            fds.count() as f64,
        );
    }
}

/// The exposition for `actor`: machines of their tenants (every machine for admins); nodes
/// and the backend's process figures for admins only.
pub async fn render(state: &AppState, actor: &Actor) -> Result<String, crate::error::ApiError> {
    let machines = crate::store::machines::machine_list(&state.db, &actor.visibility()).await?;
    let machines: HashMap<String, _> = machines.into_iter().map(|m| (m.id.to_string(), m)).collect();
    let tenants: HashMap<_, _> = crate::store::users::tenant_list(&state.db, None)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let nodes: HashMap<String, String> = crate::store::nodes::node_list(&state.db)
        .await?
        .into_iter()
        .map(|n| (n.id.to_string(), n.name))
        .collect();
    let mut out = Exposition::default();
    if actor.is_admin {
        process(&mut out);
    }
    let mut latest = state.metrics.latest(crate::db::now_ms() - STALE_MS);
    latest.sort_by(|a, b| (a.0 == TargetKind::Node, &a.1).cmp(&(b.0 == TargetKind::Node, &b.1)));
    for (kind, key, points) in latest {
        let (base, namer): (Labels, fn(&MetricPoint) -> _) = match kind {
            TargetKind::Machine => {
                let Some(m) = machines.get(&key) else { continue };
                let tenant = m.tenant_id.and_then(|t| tenants.get(&t).cloned()).unwrap_or_default();
                let labels = vec![
                    ("machine".into(), key.clone()),
                    ("name".into(), m.name.clone()),
                    ("node".into(), m.node_name.clone()),
                    ("tenant".into(), tenant),
                ];
                (labels, machine_family)
            }
            TargetKind::Node if actor.is_admin => {
                let name = nodes.get(&key).cloned().unwrap_or_else(|| key.clone());
                (vec![("node".into(), name)], node_family)
            }
            TargetKind::Node | TargetKind::Tenant | TargetKind::Fleet => continue,
        };
        for p in &points {
            let Some((name, help, device_label)) = namer(p) else { continue };
            let mut labels = base.clone();
            if let (Some(label), Some(device)) = (device_label, &p.device) {
                labels.push((label.into(), device.clone()));
            }
            out.add(name, help, p.start_ms.is_some(), labels, p.value);
        }
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(out));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(crate::error::ApiError::internal)?;
    Ok(text)
}
