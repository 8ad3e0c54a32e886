//! What a running zone has used, from its cgroups (v1) and its processes: CPU time
//! (`cpuacct.usage`), memory in use (`memory.usage_in_bytes` less the inactive file cache the
//! kernel drops first, as `docker stats` counts it), processes (`pids.current`), disk bytes,
//! and its veth's counters when it has a NIC.
//!
//! Disk bytes are the sum of `/proc/<pid>/io` `read_bytes`/`write_bytes` over the zone's
//! processes: cgroup v1's `blkio` counters miss buffered writes (they stay 0 without a
//! throttle rule, and count only direct I/O with one), while a process's `io` counts what it
//! sent to storage, buffered or not, and a reaped child's is added to its parent's. A process
//! that leaves the zone takes its share with it, so the sum can fall: the backend takes a fall
//! as a new count rather than a negative rate.
//!
//! Counters start when the zone's cgroup was made, that is when the zone started.

use std::path::Path;
use std::time::UNIX_EPOCH;

use corral_api::MachineId;
use corral_api::metrics::{Metric, MetricPoint};

use crate::metrics::procfs::{self, counter, gauge};

/// The zone's cgroup directory under `controller` (v1 mounts one directory per controller;
/// CPU accounting may share one with `cpu`).
fn cgroup(root: &Path, controller: &str, id: MachineId) -> Option<std::path::PathBuf> {
    let names: &[&str] = match controller {
        "cpuacct" => &["cpuacct", "cpu,cpuacct", "cpuacct,cpu"],
        other => &[other],
    };
    names.iter().map(|c| root.join(c).join(format!("lxc.payload.{id}"))).find(|d| d.is_dir())
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `total_inactive_file` of `memory.stat`.
fn inactive_file(stat: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix("total_inactive_file "))?.trim().parse().ok()
}

/// The zone's points, or `None` if it has no cgroup (it stopped meanwhile).
pub fn zone_usage(
    cgroup_root: &Path,
    proc: &Path,
    sys: &Path,
    id: MachineId,
    veth: Option<&str>,
) -> Option<Vec<MetricPoint>> {
    let cpu_dir = cgroup(cgroup_root, "cpuacct", id)?;
    let made = std::fs::metadata(&cpu_dir).ok()?.modified().ok()?;
    let start_ms = made.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64;
    let mut points = Vec::new();
    let ns = read_u64(&cpu_dir.join("cpuacct.usage"))?;
    points.push(counter(Metric::CpuSeconds, None, ns as f64 / 1e9, start_ms));
    if let Some(mem) = cgroup(cgroup_root, "memory", id)
        && let Some(used) = read_u64(&mem.join("memory.usage_in_bytes"))
    {
        let cache = std::fs::read_to_string(mem.join("memory.stat")).ok().and_then(|s| inactive_file(&s));
        points.push(gauge(Metric::MemoryBytes, None, used.saturating_sub(cache.unwrap_or(0)) as f64));
    }
    if let Some(pids) = cgroup(cgroup_root, "pids", id) {
        if let Some(n) = read_u64(&pids.join("pids.current")) {
            points.push(gauge(Metric::Pids, None, n as f64));
        }
        if let Ok(procs) = std::fs::read_to_string(pids.join("cgroup.procs")) {
            let (mut read, mut written) = (0u64, 0u64);
            for pid in procs.lines().filter(|l| !l.is_empty()) {
                if let Some((r, w)) = std::fs::read_to_string(proc.join(pid).join("io"))
                    .ok()
                    .and_then(|t| procfs::parse_pid_io(&t))
                {
                    read += r;
                    written += w;
                }
            }
            let dev = Some("rootfs");
            points.push(counter(Metric::DiskReadBytes, dev, read as f64, start_ms));
            points.push(counter(Metric::DiskWriteBytes, dev, written as f64, start_ms));
        }
    }
    if let Some(n) = veth.and_then(|v| procfs::read_net_sys(sys, v)) {
        // The host end's transmit is what the zone receives. Named as the zone knows it.
        let n = procfs::NetCounters { name: "eth0".into(), ..n };
        procfs::net_points(&mut points, &n, true, start_ms);
    }
    Some(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_from_its_cgroup_files_and_processes() {
        let root = tempfile::tempdir().unwrap();
        let proc = tempfile::tempdir().unwrap();
        let id = MachineId::new_random();
        let dir = |c: &str| {
            let d = root.path().join(c).join(format!("lxc.payload.{id}"));
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        std::fs::write(dir("cpu,cpuacct").join("cpuacct.usage"), "2500000000\n").unwrap();
        let mem = dir("memory");
        std::fs::write(mem.join("memory.usage_in_bytes"), "10000\n").unwrap();
        std::fs::write(mem.join("memory.stat"), "cache 5000\ntotal_inactive_file 4000\n").unwrap();
        let pids = dir("pids");
        std::fs::write(pids.join("pids.current"), "2\n").unwrap();
        std::fs::write(pids.join("cgroup.procs"), "10\n11\n").unwrap();
        for (pid, r, w) in [("10", 100, 200), ("11", 1, 2)] {
            std::fs::create_dir_all(proc.path().join(pid)).unwrap();
            std::fs::write(proc.path().join(pid).join("io"), format!("read_bytes: {r}\nwrite_bytes: {w}\n"))
                .unwrap();
        }
        let points =
            zone_usage(root.path(), proc.path(), Path::new("/nonexistent"), id, Some("cveth0")).unwrap();
        let value = |m: Metric| points.iter().find(|p| p.metric == m).map(|p| p.value);
        assert_eq!(value(Metric::CpuSeconds), Some(2.5));
        assert_eq!(value(Metric::MemoryBytes), Some(6000.0), "inactive file cache left out");
        assert_eq!(value(Metric::Pids), Some(2.0));
        assert_eq!(value(Metric::DiskReadBytes), Some(101.0));
        assert_eq!(value(Metric::DiskWriteBytes), Some(202.0));
        assert_eq!(value(Metric::NetRxBytes), None, "a veth that cannot be read gives no points, not zeros");
        assert!(
            points
                .iter()
                .filter(|p| p.metric.kind() == corral_api::metrics::MetricKind::Counter)
                .all(|p| p.start_ms.is_some())
        );
        assert_eq!(zone_usage(root.path(), proc.path(), Path::new("/"), MachineId::new_random(), None), None);
    }
}
