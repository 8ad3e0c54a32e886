//! What a sim machine pretends to use: counters that grow at a rate which swells and ebbs over
//! minutes (so charts have a shape), from when it started running, and a steady memory use;
//! per-vCPU time for a VM and network counters only for a NIC on a host bridge, as QEMU has
//! them.
//! The same machine at the same moment always gives the same figures.

use corral_api::bridge::BridgeMachine;
use corral_api::machine::MachineKind;
use corral_api::metrics::{Metric, MetricPoint};

use crate::metrics::procfs::{counter, gauge};

/// Seconds of "work" after `t` seconds: the integral of a rate of 1 ± 0.5 over a ten-minute
/// wave (never negative, so totals only grow).
fn work(t: f64, phase: f64) -> f64 {
    const PERIOD: f64 = 600.0;
    let w = std::f64::consts::TAU / PERIOD;
    t + 0.5 * ((phase).cos() - (w * t + phase).cos()) / w
}

pub fn usage(m: &BridgeMachine, since_ms: i64, now_ms: i64) -> Vec<MetricPoint> {
    let t = (now_ms - since_ms).max(0) as f64 / 1000.0;
    // Each machine its own phase, from its id.
    let phase = f64::from(m.id.0.as_bytes()[0]) / 255.0 * std::f64::consts::TAU;
    let w = work(t, phase);
    let vcpus = f64::from(m.vcpus);
    let disk = Some("disk0");
    let nic = Some("net0");
    let mut points = vec![
        counter(Metric::CpuSeconds, None, w * 0.2 * vcpus, since_ms),
        gauge(Metric::MemoryBytes, None, (m.memory_mib as f64) * 1_048_576.0 * 0.6),
        counter(Metric::DiskReadBytes, disk, w * 65_536.0, since_ms),
        counter(Metric::DiskWriteBytes, disk, w * 32_768.0, since_ms),
        counter(Metric::DiskReadOps, disk, w * 16.0, since_ms),
        counter(Metric::DiskWriteOps, disk, w * 8.0, since_ms),
    ];
    // As with QEMU: a VM's time per vCPU thread beside its whole (the vCPUs share it here).
    if m.kind == MachineKind::Vm {
        for i in 0..m.vcpus {
            points.push(counter(Metric::CpuSeconds, Some(&format!("vcpu{i}")), w * 0.2, since_ms));
        }
    }
    // As with QEMU: only a NIC on a host bridge has counters to read.
    if m.host_bridge.is_some() {
        points.extend([
            counter(Metric::NetRxBytes, nic, w * 12_000.0, since_ms),
            counter(Metric::NetTxBytes, nic, w * 4_000.0, since_ms),
            counter(Metric::NetRxPackets, nic, w * 20.0, since_ms),
            counter(Metric::NetTxPackets, nic, w * 10.0, since_ms),
        ]);
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretend_totals_only_grow_and_start_at_zero() {
        for phase in [0.0, 1.0, 3.0, 6.0] {
            assert!(work(0.0, phase).abs() < 1e-9);
            let mut last = 0.0;
            for s in 1..2000 {
                let w = work(f64::from(s), phase);
                assert!(w > last, "at {s} s");
                last = w;
            }
        }
    }
}
