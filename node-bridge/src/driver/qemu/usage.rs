//! What a running VM has used, read without a guest agent: its QEMU process's CPU time and
//! resident memory from `/proc`, each vCPU thread's CPU time (thread ids from QMP
//! `query-cpus-fast`), each drive's bytes and operations from QMP `query-blockstats`, and
//! its NIC's counters from the host end of its tap.
//!
//! With user-mode networking QEMU exposes no counters at all (QMP has no command for them):
//! such a VM reports no network points, and the console says so rather than drawing zeros.
//! Every counter starts when the QEMU process did, so a restarted VM is a new count.

use std::path::Path;

use corral_api::metrics::{Metric, MetricPoint, device_ok};
use serde_json::Value;

use crate::metrics::procfs::{self, counter, gauge};
use crate::qmp::Qmp;

/// Where to read: `/proc` and `/sys` of the node, and its clock's ticks per second.
pub struct Host<'a> {
    pub proc: &'a Path,
    pub sys: &'a Path,
    pub ticks: f64,
}

/// The VM's points, or `None` if its QEMU is gone (it stopped between listing and reading).
pub async fn vm_usage(host: &Host<'_>, pid: u32, qmp: &Qmp, tap: Option<&str>) -> Option<Vec<MetricPoint>> {
    let read = |p: String| std::fs::read_to_string(host.proc.join(p)).ok();
    let boot = procfs::parse_stat(&read("stat".into())?, host.ticks)?.boot_time;
    let main = procfs::parse_pid_stat(&read(format!("{pid}/stat"))?)?;
    let start_ms = boot * 1000 + (main.start_ticks as f64 / host.ticks * 1000.0) as i64;
    let mut points = vec![counter(Metric::CpuSeconds, None, main.cpu_ticks as f64 / host.ticks, start_ms)];
    if let Some(rss) = read(format!("{pid}/status")).and_then(|t| procfs::parse_vm_rss(&t)) {
        points.push(gauge(Metric::MemoryBytes, None, rss as f64));
    }
    if let Ok(cpus) = qmp.execute("query-cpus-fast", Value::Null).await {
        for (index, tid) in vcpu_threads(&cpus) {
            if let Some(t) = read(format!("{pid}/task/{tid}/stat")).and_then(|t| procfs::parse_pid_stat(&t)) {
                let dev = format!("vcpu{index}");
                points.push(counter(
                    Metric::CpuSeconds,
                    Some(&dev),
                    t.cpu_ticks as f64 / host.ticks,
                    start_ms,
                ));
            }
        }
    }
    if let Ok(stats) = qmp.execute("query-blockstats", Value::Null).await {
        for d in drives(&stats) {
            let dev = Some(d.name.as_str());
            points.push(counter(Metric::DiskReadBytes, dev, d.read_bytes as f64, start_ms));
            points.push(counter(Metric::DiskWriteBytes, dev, d.write_bytes as f64, start_ms));
            points.push(counter(Metric::DiskReadOps, dev, d.reads as f64, start_ms));
            points.push(counter(Metric::DiskWriteOps, dev, d.writes as f64, start_ms));
        }
    }
    if let Some(n) = tap.and_then(|t| procfs::read_net_sys(host.sys, t)) {
        // The tap's transmit is what the guest receives. Named as the guest knows it.
        let n = procfs::NetCounters { name: "net0".into(), ..n };
        procfs::net_points(&mut points, &n, true, start_ms);
    }
    Some(points)
}

/// `query-cpus-fast`: (vCPU index, host thread id).
fn vcpu_threads(answer: &Value) -> Vec<(u64, u64)> {
    answer
        .as_array()
        .map(|cpus| {
            cpus.iter()
                .filter_map(|c| Some((c.get("cpu-index")?.as_u64()?, c.get("thread-id")?.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

struct Drive {
    name: String,
    read_bytes: u64,
    write_bytes: u64,
    reads: u64,
    writes: u64,
}

/// `query-blockstats`: each drive by its node name (`-blockdev`) or drive id (`-drive`). A
/// drive without a medium (the empty CD) has no node name and no id worth charting: left out.
fn drives(answer: &Value) -> Vec<Drive> {
    let Some(list) = answer.as_array() else { return Vec::new() };
    list.iter()
        .filter_map(|d| {
            let name = [d.get("node-name"), d.get("device")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|n| !n.is_empty())?;
            // The guest's seed is Corral's, not one of the user's disks.
            if !device_ok(name) || name == super::launch::SEED_NODE {
                return None;
            }
            let s = d.get("stats")?;
            let n = |k: &str| s.get(k).and_then(Value::as_u64);
            Some(Drive {
                name: name.to_string(),
                read_bytes: n("rd_bytes")?,
                write_bytes: n("wr_bytes")?,
                reads: n("rd_operations")?,
                writes: n("wr_operations")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vcpu_threads_and_drives_from_qmp_answers() {
        let cpus = json!([{"cpu-index": 0, "thread-id": 101, "qom-path": "/machine/unattached/device[0]"},
                          {"cpu-index": 1, "thread-id": 102}]);
        assert_eq!(vcpu_threads(&cpus), vec![(0, 101), (1, 102)]);
        let stats = json!([
            {"device": "", "node-name": "disk0", "qdev": "/machine/peripheral-anon/device[1]/virtio-backend",
             "stats": {"rd_bytes": 4096, "wr_bytes": 512, "rd_operations": 2, "wr_operations": 1}},
            {"device": "cd0", "qdev": "cdrom0",
             "stats": {"rd_bytes": 0, "wr_bytes": 0, "rd_operations": 0, "wr_operations": 0}},
            {"device": "", "qdev": "x", "stats": {"rd_bytes": 1, "wr_bytes": 1, "rd_operations": 1, "wr_operations": 1}}
        ]);
        let d = drives(&stats);
        assert_eq!(d.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), vec!["disk0", "cd0"]);
        assert_eq!((d[0].read_bytes, d[0].write_bytes, d[0].reads, d[0].writes), (4096, 512, 2, 1));
    }
}
